"""The native model's feasibility checks, on hand-built offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.flexoffer import (
    EnergyBounds,
    FlexOffer,
    LinearConstraint,
    Profile,
    Schedule,
    check_schedule,
    validate_offer,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def make_offer(**overrides: object) -> FlexOffer:
    fields: dict[str, object] = {
        "id": "o1",
        "earliest_start": T0,
        "latest_start": T0 + timedelta(hours=2),
        "profile": Profile(energy_lower=[0.0, 1.0, 0.5], energy_upper=[2.0, 3.0, 1.5]),
        "total_energy": EnergyBounds(lower=2.0, upper=5.0),
    }
    fields.update(overrides)
    return FlexOffer.model_validate(fields)


def test_feasible_schedule_has_no_violations() -> None:
    offer = make_offer()
    assert validate_offer(offer) == []
    assert check_schedule(offer, Schedule(start=T0 + timedelta(minutes=45), energy=[1.0, 1.0, 0.5])) == []


def test_schedule_aliases_accept_wire_names() -> None:
    schedule = Schedule.model_validate({"startTime": "2026-03-02T08:15:00Z", "energyAmounts": ["1", 1, 1]})
    assert schedule.start == T0 + timedelta(minutes=15)
    assert schedule.energy == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("start", "energy", "fragment"),
    [
        (T0 - timedelta(minutes=15), [1, 1, 1], "before startAfterTime"),
        (T0 + timedelta(hours=3), [1, 1, 1], "after startBeforeTime"),
        (T0 + timedelta(minutes=7), [1, 1, 1], "interval grid"),
        (T0, [2.5, 1, 1], "slice 0: energy 2.5 kWh outside [0, 2]"),
        (T0, [0, 1, 0.5], "total energy 1.5 kWh outside [2, 5]"),
        (T0, [1, 1], "2 slice energies, profile has 3"),
        (T0, [float("nan"), 1, 1], "not a finite number"),
    ],
)
def test_each_violation_is_named(start: datetime, energy: list[float], fragment: str) -> None:
    problems = check_schedule(make_offer(), Schedule(start=start, energy=energy))
    assert any(fragment in p for p in problems), problems


def test_start_before_duration_tightens_the_window() -> None:
    offer = make_offer(creation_time=T0, start_before_duration=timedelta(minutes=30))
    assert offer.effective_latest_start() == T0 + timedelta(minutes=30)
    late = Schedule(start=T0 + timedelta(minutes=45), energy=[1, 1, 1])
    assert any("after startBeforeTime" in p for p in check_schedule(offer, late))
    assert check_schedule(offer, Schedule(start=T0 + timedelta(minutes=30), energy=[1, 1, 1])) == []


def test_slice_durations_are_bounded() -> None:
    profile = Profile(energy_lower=[0, 0], energy_upper=[4, 4], min_duration=[1, 2], max_duration=[3, 2])
    offer = make_offer(profile=profile, total_energy=None)
    assert check_schedule(offer, Schedule(start=T0, energy=[1, 1], durations=[3, 2])) == []
    problems = check_schedule(offer, Schedule(start=T0, energy=[1, 1], durations=[4, 2]))
    assert problems == ["slice 0: duration 4 intervals outside [1, 3]"]


def test_polytope_rows_are_enforced() -> None:
    # x0 - x1 <= 0: the first slice may not take more than the second.
    offer = make_offer(polytope=[LinearConstraint(coefficients=[1, -1, 0], bound=0)])
    assert check_schedule(offer, Schedule(start=T0, energy=[1, 1.5, 0.5])) == []
    problems = check_schedule(offer, Schedule(start=T0, energy=[2, 1, 0.5]))
    assert len(problems) == 1 and "polytopic constraint 0" in problems[0]


def test_xor_profiles_need_one_match() -> None:
    off = Profile(energy_lower=[0, 0], energy_upper=[0, 0])
    on = Profile(energy_lower=[2, 2], energy_upper=[2, 2])
    offer = make_offer(profile=off, xor_profiles=[on], total_energy=None)
    assert check_schedule(offer, Schedule(start=T0, energy=[0, 0])) == []
    assert check_schedule(offer, Schedule(start=T0, energy=[2, 2])) == []
    halfway = check_schedule(offer, Schedule(start=T0, energy=[1, 1]))
    assert any(p.startswith("XOR profile 0") for p in halfway)
    assert any(p.startswith("XOR profile 1") for p in halfway)
    assert check_schedule(offer, Schedule(start=T0, energy=[2, 2], profile_index=0)) != []


def test_tariff_bounds_check_prices() -> None:
    profile = Profile(
        energy_lower=[0, 0], energy_upper=[1, 1], tariff_lower=[0.1, None], tariff_upper=[0.3, 0.2]
    )
    offer = make_offer(profile=profile, total_energy=None)
    assert check_schedule(offer, Schedule(start=T0, energy=[1, 1], prices=[0.2, 0.0])) == []
    problems = check_schedule(offer, Schedule(start=T0, energy=[1, 1], prices=[0.05, 0.25]))
    assert problems == ["slice 0: price 0.05 below minTariff 0.1", "slice 1: price 0.25 above maxTariff 0.2"]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"profile": Profile(energy_lower=[3], energy_upper=[1])}, "lower 3 > upper 1"),
        ({"latest_start": T0 - timedelta(hours=1)}, "time window ends before it starts"),
        ({"total_energy": EnergyBounds(lower=9, upper=10)}, "above the sum of slice upper bounds"),
        ({"total_energy": EnergyBounds(lower=0, upper=1)}, "below the sum of slice lower bounds"),
        ({"total_energy": EnergyBounds(lower=4, upper=3)}, "totalEnergyConstraint lower 4 > upper 3"),
        (
            {"polytope": [LinearConstraint(coefficients=[1, 1, 1], bound=1.0)]},
            "polytopic constraints admit no energy vector",
        ),
        (
            {"default_schedule": Schedule(start=T0, energy=[5, 1, 1])},
            "defaultSchedule: slice 0: energy 5 kWh outside",
        ),
    ],
)
def test_validate_offer_names_the_defect(overrides: dict[str, object], fragment: str) -> None:
    problems = validate_offer(make_offer(**overrides))
    assert any(fragment in p for p in problems), problems


def test_interval_must_divide_an_hour() -> None:
    with pytest.raises(ValueError, match="divisor of 3600"):
        make_offer(interval_seconds=700)
    assert make_offer(interval_seconds=300).interval == timedelta(minutes=5)


def test_naive_times_are_utc_and_states_any_case() -> None:
    offer = FlexOffer.model_validate(
        {
            "earliest_start": "2026-03-02T08:00:00",
            "state": "Offered",
            "profile": {"energy_lower": [0], "energy_upper": [1]},
        }
    )
    assert offer.earliest_start == T0
    assert offer.state == "offered"
