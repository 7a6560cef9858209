"""The flex-offer state machine and its deadlines (DESIGN §2).

Transitions return a new offer rather than mutating, so a caller can persist the
result and only then publish it (persist first, then act).
"""

from __future__ import annotations

from datetime import datetime

from core.flexoffer.checks import check_schedule
from core.flexoffer.model import FlexOffer, OfferState, Schedule, as_utc

S = OfferState

ALLOWED_TRANSITIONS: dict[OfferState, frozenset[OfferState]] = {
    S.INITIAL: frozenset({S.OFFERED, S.INVALID, S.CANCELED}),
    S.OFFERED: frozenset({S.ACCEPTED, S.REJECTED, S.ASSIGNED, S.INVALID, S.CANCELED}),
    S.ACCEPTED: frozenset({S.ASSIGNED, S.CANCELED}),
    # Re-assignment (a new updateId) stays in ASSIGNED.
    S.ASSIGNED: frozenset({S.ASSIGNED, S.EXECUTED, S.CANCELED}),
    S.REJECTED: frozenset(),
    S.EXECUTED: frozenset(),
    S.INVALID: frozenset(),
    S.CANCELED: frozenset(),
}

TERMINAL_STATES = frozenset(s for s, nxt in ALLOWED_TRANSITIONS.items() if not nxt)


class LifecycleError(ValueError):
    """A transition the state machine forbids; the message says which and why."""


class IllegalTransition(LifecycleError):
    pass


class DeadlinePassed(LifecycleError):
    pass


class InfeasibleAssignment(LifecycleError):
    def __init__(self, violations: list[str]) -> None:
        super().__init__("schedule violates the flex-offer: " + "; ".join(violations))
        self.violations = violations


def can_transition(current: OfferState, target: OfferState) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


def transition(offer: FlexOffer, target: OfferState, now: datetime) -> FlexOffer:
    """Move ``offer`` to ``target``, enforcing the graph and ``acceptBeforeTime``."""
    now = as_utc(now)
    target = OfferState.parse(target)
    if not can_transition(offer.state, target):
        raise IllegalTransition(f"illegal state transition {offer.state.value} -> {target.value}")
    if target is S.ACCEPTED and offer.accept_before is not None and now > offer.accept_before:
        raise DeadlinePassed(
            f"acceptance at {now.isoformat()} is after acceptBeforeTime {offer.accept_before.isoformat()}"
        )
    if target is S.ASSIGNED:
        raise IllegalTransition("use assign() to move an offer to assigned: it needs a schedule")
    return offer.model_copy(update={"state": target})


def assign(offer: FlexOffer, schedule: Schedule, now: datetime) -> FlexOffer:
    """Attach ``schedule`` as the offer's assignment, refusing late or infeasible ones."""
    now = as_utc(now)
    if not can_transition(offer.state, S.ASSIGNED):
        raise IllegalTransition(f"illegal state transition {offer.state.value} -> assigned")
    if offer.assignment_before is not None and now > offer.assignment_before:
        raise DeadlinePassed(
            f"assignment at {now.isoformat()} is after assignmentBeforeTime {offer.assignment_before.isoformat()}"
        )
    violations = check_schedule(offer, schedule)
    if violations:
        raise InfeasibleAssignment(violations)
    return offer.model_copy(update={"state": S.ASSIGNED, "schedule": schedule})
