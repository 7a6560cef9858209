"""Flexibility measures (Valsomatzis et al.) and the aggregation's flexibility loss."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.flexoffer import AggregationParams, Alignment, FlexOffer, FlexOfferBatch, Profile, aggregate
from core.flexoffer.flexibility import (
    aggregation_loss,
    batch_flexibility,
    energy_flexibility,
    flexibility,
    members_flexibility,
    product_flexibility,
    time_flexibility,
    total_flexibility,
    vector_flexibility,
)
from tests.core.strategies import T0, offer_lists

Q = timedelta(minutes=15)
H = timedelta(hours=1)


def make(offer_id: str, delay: int, flex: int, lower: list[float], upper: list[float]) -> FlexOffer:
    return FlexOffer(
        id=offer_id,
        earliest_start=T0 + Q * delay,
        latest_start=T0 + Q * (delay + flex),
        profile=Profile(energy_lower=lower, energy_upper=upper),
    )


def test_measures_of_one_offer() -> None:
    o = make("a", 0, 8, [0, 1, -1], [2, 1, 1])  # 2 h window, 2 + 0 + 2 kWh of range
    assert time_flexibility(o) == 2.0
    assert energy_flexibility(o) == 4.0
    assert product_flexibility(o) == 8.0
    assert vector_flexibility(o) == (2.0, 4.0)
    assert flexibility(o).vector_norm == pytest.approx(20**0.5)


def test_xor_offer_counts_its_most_flexible_alternative() -> None:
    alternative = Profile(energy_lower=[0, 0], energy_upper=[3, 3])
    o = make("a", 0, 0, [0], [1]).model_copy(update={"xor_profiles": [alternative]})
    assert energy_flexibility(o) == 6.0


def test_loss_of_a_hand_checked_aggregate() -> None:
    a = make("a", 0, 4, [0, 0], [1, 1])  # 1 h, 2 kWh
    b = make("b", 1, 8, [0], [3])  # 2 h, 3 kWh
    aggs = aggregate([a, b], AggregationParams(start_tolerance=H, time_flexibility_tolerance=4 * H))
    loss = aggregation_loss(aggs)
    assert loss.members.time_hours == 3.0
    assert loss.aggregates.time_hours == 1.0  # min of the members
    assert loss.members.energy_kwh == loss.aggregates.energy_kwh == 5.0
    assert loss.members.product_kwh_h == 1 * 2 + 2 * 3
    assert loss.aggregates.product_kwh_h == 1 * 5
    assert loss.time_percent == pytest.approx(100 * 2 / 3)
    assert loss.member_time_hours_kept == 2.0  # both members now move within 1 h
    assert loss.member_time_percent == pytest.approx(100 * 1 / 3)
    assert loss.energy_percent == 0.0
    assert loss.product_percent == pytest.approx(100 * 3 / 8)
    assert loss.as_dict()["product_kwh_h"] == pytest.approx(3.0)


def test_batch_measures_match_the_object_measures() -> None:
    offers = [make("a", 0, 4, [0, 0], [1, 1]), make("b", 1, 8, [0], [3])]
    batch, _ = FlexOfferBatch.from_offers(offers)
    hours, energy = batch_flexibility(batch)
    assert hours.tolist() == [time_flexibility(o) for o in offers]
    assert energy.tolist() == [energy_flexibility(o) for o in offers]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offers=offer_lists(max_size=14),
    start_tolerance=st.sampled_from([timedelta(0), H, 4 * H]),
    flex_tolerance=st.sampled_from([timedelta(0), H, 4 * H]),
    alignment=st.sampled_from(list(Alignment)),
    totals=st.sampled_from(["sum", "inner"]),
)
def test_an_aggregate_never_has_more_flexibility_than_its_members(
    offers: list[FlexOffer],
    start_tolerance: timedelta,
    flex_tolerance: timedelta,
    alignment: Alignment,
    totals: str,
) -> None:
    params = AggregationParams(
        start_tolerance=start_tolerance,
        time_flexibility_tolerance=flex_tolerance,
        alignment=alignment,
        totals=totals,  # type: ignore[arg-type,unused-ignore]
        group_by="none",
    )
    by_id = {o.id: o for o in offers}
    for agg in aggregate(offers, params):
        members = total_flexibility([by_id[m] for m in agg.members])
        fast = members_flexibility(agg)
        assert (fast.time_hours, fast.energy_kwh, fast.product_kwh_h) == pytest.approx(
            (members.time_hours, members.energy_kwh, members.product_kwh_h)
        )
        own = flexibility(agg.offer)
        assert own.time_hours <= members.time_hours + 1e-9
        assert own.energy_kwh <= members.energy_kwh + 1e-6
        assert own.product_kwh_h <= members.product_kwh_h + 1e-6
        assert own.vector_norm <= members.vector_norm + 1e-6
    loss = aggregation_loss(aggregate(offers, params))
    percents = (loss.time_percent, loss.member_time_percent, loss.energy_percent, loss.product_percent,
                loss.vector_percent)
    for value in percents:
        assert -1e-9 <= value <= 100 + 1e-9
