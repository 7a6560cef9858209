"""Contracts, baselines, settlement and the monthly bill, checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.flexoffer import FlexOffer, OfferState, Profile, Schedule
from core.market.baseline import characteristic_curve, schedule_series
from core.market.contracts import BaselineKind, FlexContract, energy_flexibility_kwh, time_flexibility_hours
from core.market.settlement import make_bill, month_bounds, settle_offer

T0 = datetime(2026, 3, 10, 18, tzinfo=UTC)  # a Tuesday
Q = timedelta(minutes=15)


def ev(
    oid: str = "ev-1", *, start: datetime = T0, shift: int = 2, state: OfferState = OfferState.ASSIGNED
) -> FlexOffer:
    """Default: 2 kWh in each of 2 slots at 18:00; scheduled: moved 2 slots later."""
    return FlexOffer(
        id=oid,
        state=state,
        earliest_start=start,
        latest_start=start + timedelta(hours=4),
        profile=Profile(energy_lower=[0.0, 0.0], energy_upper=[2.5, 2.5]),
        default_schedule=Schedule(start=start, energy=[2.0, 2.0]),
        schedule=Schedule(start=start + shift * Q, energy=[2.0, 2.0]) if state is OfferState.ASSIGNED else None,
    )


CONTRACT = FlexContract(
    party="alice",
    contract_id="c-1",
    fixed_reward_eur=5.0,
    reward_per_kwh_energy_flexibility=0.01,
    reward_per_hour_time_flexibility=0.1,
    scheduling_reward_per_offer=0.5,
    scheduling_reward_per_kwh=0.2,
    imbalance_tolerance=0.1,
)


def test_flexibility_measures_of_an_offer() -> None:
    assert energy_flexibility_kwh(ev()) == pytest.approx(5.0)
    assert time_flexibility_hours(ev()) == pytest.approx(4.0)


def test_perfect_delivery_earns_every_reward() -> None:
    offer = ev()
    metered = schedule_series(offer, offer.schedule)  # type: ignore[arg-type]
    line = settle_offer(CONTRACT, offer, metered)
    # requested: -2, -2 at 18:00/18:15 and +2, +2 at 18:30/18:45
    assert line.basis == "factual"
    assert line.requested_adaptation_kwh == pytest.approx(8.0)
    assert line.delivered_adaptation_kwh == pytest.approx(8.0)
    assert line.imbalance_kwh == pytest.approx(0.0)
    assert line.within_tolerance
    assert line.reward_energy_flexibility_eur == pytest.approx(0.05)
    assert line.reward_time_flexibility_eur == pytest.approx(0.4)
    assert line.reward_scheduling_eur == pytest.approx(0.5 + 0.2 * 8.0)


def test_partial_delivery_within_tolerance_is_paid_pro_rata() -> None:
    offer = ev()
    metered = {T0: 0.0, T0 + Q: 0.2, T0 + 2 * Q: 2.0, T0 + 3 * Q: 1.6}  # 0.6 kWh off
    line = settle_offer(CONTRACT, offer, metered)
    assert line.imbalance_kwh == pytest.approx(0.6)
    assert line.tolerance_kwh == pytest.approx(0.8)
    assert line.delivered_adaptation_kwh == pytest.approx(2.0 + 1.8 + 2.0 + 1.6)
    assert line.reward_scheduling_eur == pytest.approx(0.5 + 0.2 * 7.4)


def test_no_reward_beyond_the_tolerance() -> None:
    offer = ev()
    metered = {T0: 2.0, T0 + Q: 2.0, T0 + 2 * Q: 0.0, T0 + 3 * Q: 0.0}  # ignored the schedule
    line = settle_offer(CONTRACT, offer, metered)
    assert not line.within_tolerance
    assert line.reward_scheduling_eur == 0.0
    assert line.delivered_adaptation_kwh == pytest.approx(0.0)


def test_over_delivery_is_not_credited_beyond_the_request() -> None:
    offer = ev()
    metered = {T0: 0.0, T0 + Q: 0.0, T0 + 2 * Q: 2.0, T0 + 3 * Q: 2.0, T0 + 4 * Q: 0.0}
    metered[T0 + 2 * Q] = 2.05  # a little more than asked, within tolerance
    line = settle_offer(CONTRACT, offer, metered)
    assert line.delivered_adaptation_kwh == pytest.approx(8.0)


def test_missing_readings_make_the_line_predicted() -> None:
    offer = ev()
    line = settle_offer(CONTRACT, offer, {T0: 0.0})
    assert line.basis == "predicted"
    assert line.delivered_adaptation_kwh == pytest.approx(8.0)


def test_characteristic_curve_averages_same_weekday_and_slot() -> None:
    history = {T0 - 7 * timedelta(days=k): float(k) for k in range(1, 6)}
    history[T0 - timedelta(days=1)] = 100.0  # another weekday: ignored
    curve = characteristic_curve(history, [T0, T0 + Q], weeks=4)
    assert curve[T0] == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert curve[T0 + Q] == 0.0
    sparse = {T0 - 7 * timedelta(days=2): 6.0}
    assert characteristic_curve(sparse, [T0], weeks=4)[T0] == pytest.approx(6.0)


def test_characteristic_curve_baseline_in_settlement() -> None:
    contract = CONTRACT.model_copy(update={"baseline": BaselineKind.CHARACTERISTIC_CURVE, "baseline_weeks": 2})
    offer = ev()
    history = {}
    for k in (1, 2):
        for i in range(4):
            history[T0 + i * Q - 7 * k * timedelta(days=1)] = 1.0  # 1 kWh every slot usually
    metered = {T0: 1.0, T0 + Q: 1.0, T0 + 2 * Q: 2.0, T0 + 3 * Q: 2.0}
    line = settle_offer(contract, offer, metered, history)
    # baseline 1 everywhere; scheduled 0,0 outside-schedule→baseline; 2,2 at slots 2-3
    assert line.baseline_kwh == pytest.approx(4.0)
    assert line.requested_adaptation_kwh == pytest.approx(2.0)
    assert line.delivered_adaptation_kwh == pytest.approx(2.0)


def test_bill_separates_factual_and_predicted_and_filters_the_month() -> None:
    done = ev("done")
    pending = ev("pending", start=T0 + timedelta(days=10))
    accepted = ev("accepted", state=OfferState.ACCEPTED)
    rejected = ev("rejected", state=OfferState.REJECTED)
    april = ev("april", start=datetime(2026, 4, 2, tzinfo=UTC))
    metered = {"done": schedule_series(done, done.schedule)}  # type: ignore[arg-type]
    bill = make_bill(CONTRACT, "2026-03", [done, pending, accepted, rejected, april], metered,
                     now=T0 + timedelta(days=1))
    assert {line.offer_id for line in bill.lines} == {"done", "pending", "accepted"}
    assert bill.factual.offers == 1 and bill.predicted.offers == 2
    assert bill.fixed_reward_basis == "predicted"
    accepted_line = next(line for line in bill.lines if line.offer_id == "accepted")
    assert accepted_line.reward_scheduling_eur == 0.0 and accepted_line.reward_energy_flexibility_eur > 0
    expected = sum(line.total_eur for line in bill.lines) + 5.0
    assert bill.total_eur == pytest.approx(expected)


def test_month_parsing_and_contract_validation() -> None:
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    for bad in ("2026-13", "26-01", "2026/01", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad)
    with pytest.raises(ValidationError):
        FlexContract(party="a", fixed_reward_eur=-1)
    with pytest.raises(ValidationError):
        FlexContract(party="a", valid_from=T0, valid_to=T0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=4, max_size=4))
def test_credited_adaptation_never_exceeds_request_and_reward_needs_tolerance(readings: list[float]) -> None:
    offer = ev()
    metered = {T0 + i * Q: v for i, v in enumerate(readings)}
    line = settle_offer(CONTRACT, offer, metered)
    assert 0.0 <= line.delivered_adaptation_kwh <= line.requested_adaptation_kwh + 1e-9
    if line.imbalance_kwh > line.tolerance_kwh + 1e-9:
        assert line.reward_scheduling_eur == 0.0
    else:
        assert line.reward_scheduling_eur == pytest.approx(0.5 + 0.2 * line.delivered_adaptation_kwh)
