"""The state machine: every pair of states is either allowed or refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from core.flexoffer import (
    ALLOWED_TRANSITIONS,
    DeadlinePassed,
    FlexOffer,
    IllegalTransition,
    InfeasibleAssignment,
    OfferState,
    Schedule,
    assign,
    transition,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = T0 - timedelta(hours=1)


def offer_in(state: OfferState, **extra: object) -> FlexOffer:
    return FlexOffer.model_validate(
        {
            "id": "x",
            "state": state,
            "earliest_start": T0,
            "latest_start": T0 + timedelta(hours=1),
            "profile": {"energy_lower": [0, 0], "energy_upper": [1, 1]},
            **extra,
        }
    )


GOOD = Schedule(start=T0, energy=[0.5, 0.5])


@pytest.mark.parametrize(("source", "target"), list(product(OfferState, OfferState)))
def test_every_transition_follows_the_table(source: OfferState, target: OfferState) -> None:
    offer = offer_in(source)
    allowed = target in ALLOWED_TRANSITIONS[source]
    if target is OfferState.ASSIGNED:
        if allowed:
            assert assign(offer, GOOD, NOW).state is OfferState.ASSIGNED
        else:
            with pytest.raises(IllegalTransition):
                assign(offer, GOOD, NOW)
        return
    if allowed:
        assert transition(offer, target, NOW).state is target
    else:
        with pytest.raises(IllegalTransition, match=f"{source.value} -> {target.value}"):
            transition(offer, target, NOW)


def test_terminal_states_have_no_way_out() -> None:
    for state in (OfferState.REJECTED, OfferState.EXECUTED, OfferState.INVALID, OfferState.CANCELED):
        assert not ALLOWED_TRANSITIONS[state]


def test_acceptance_after_deadline_is_refused() -> None:
    offer = offer_in(OfferState.OFFERED, accept_before=NOW - timedelta(minutes=1))
    with pytest.raises(DeadlinePassed, match="acceptBeforeTime"):
        transition(offer, OfferState.ACCEPTED, NOW)


def test_assignment_after_deadline_is_refused() -> None:
    offer = offer_in(OfferState.ACCEPTED, assignment_before=NOW - timedelta(seconds=1))
    with pytest.raises(DeadlinePassed, match="assignmentBeforeTime"):
        assign(offer, GOOD, NOW)
    on_time = offer_in(OfferState.ACCEPTED, assignment_before=NOW)
    assert assign(on_time, GOOD, NOW).schedule == GOOD


def test_infeasible_assignment_is_refused_with_violations() -> None:
    with pytest.raises(InfeasibleAssignment) as info:
        assign(offer_in(OfferState.ACCEPTED), Schedule(start=T0, energy=[2, 0]), NOW)
    assert info.value.violations == ["slice 0: energy 2 kWh outside [0, 1]"]


def test_state_parse_is_case_insensitive() -> None:
    assert OfferState.parse("ASSIGNED") is OfferState.ASSIGNED
    assert OfferState.parse("Cancelled") is OfferState.CANCELED
    with pytest.raises(ValueError):
        OfferState.parse("bogus")
