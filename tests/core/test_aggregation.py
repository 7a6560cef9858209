"""Aggregation: hand-checked cases for each grouping rule, and hypothesis properties."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.flexoffer import (
    Aggregate,
    AggregationParams,
    Aggregator,
    Alignment,
    EnergyBounds,
    FlexOffer,
    FlexOfferBatch,
    LinearConstraint,
    Profile,
    Schedule,
    aggregate,
    validate_offer,
)
from tests.core.strategies import T0, flex_offers, offer_lists

Q = timedelta(minutes=15)
H = timedelta(hours=1)


def offer(offer_id: str, delay: int, flex: int, lower: list[float], upper: list[float], **extra: object) -> FlexOffer:
    fields: dict[str, object] = {
        "id": offer_id,
        "zone": "north",
        "earliest_start": T0 + Q * delay,
        "latest_start": T0 + Q * (delay + flex),
        "profile": Profile(energy_lower=lower, energy_upper=upper),
    }
    fields.update(extra)
    return FlexOffer.model_validate(fields)


def test_start_alignment_sums_profiles_at_their_offsets() -> None:
    a = offer("a", 0, 4, [0, 0], [2, 2], total_energy=EnergyBounds(lower=1, upper=1))
    b = offer("b", 1, 8, [1, 0, 0], [1, 3, 1])
    params = AggregationParams(start_tolerance=H, time_flexibility_tolerance=4 * H, totals="sum")
    [agg] = aggregate([a, b], params)
    assert agg.members == ["a", "b"]
    assert agg.offer.earliest_start == T0
    assert agg.offer.latest_start == T0 + 4 * Q  # min of the members' time flexibilities
    assert agg.offer.profile.energy_lower == [0, 1, 0, 0]
    assert agg.offer.profile.energy_upper == [2, 3, 3, 1]
    # b has no total constraint: its slice bounds give [1, 5]; a's is [1, 1].
    assert agg.offer.total_energy == EnergyBounds(lower=2, upper=6)
    assert validate_offer(agg.offer) == []
    # Default (inner) totals: a's exact total pins it to [0.5, 0.5]; b keeps its box.
    [inner] = aggregate([a, b], params.model_copy(update={"totals": "inner"}))
    assert inner.offer.profile.energy_lower == [0.5, 1.5, 0, 0]
    assert inner.offer.profile.energy_upper == [0.5, 1.5, 3, 1]
    assert inner.offer.total_energy == EnergyBounds(lower=2, upper=6)
    assert validate_offer(inner.offer) == []


def test_total_energy_wider_than_slices_is_clipped_before_summing() -> None:
    a = offer("a", 0, 0, [0, 0], [1, 1], total_energy=EnergyBounds(lower=-10, upper=10))
    [agg] = aggregate([a])
    assert agg.offer.total_energy == EnergyBounds(lower=0, upper=2)


def test_tariffs_are_carried_energy_weighted() -> None:
    a = offer("a", 0, 0, [0], [1], zone="z")
    a = a.model_copy(update={"profile": Profile(energy_lower=[0], energy_upper=[1], tariff_lower=[0.1],
                                                tariff_upper=[0.2])})
    b = offer("b", 0, 0, [0], [3], zone="z")
    b = b.model_copy(update={"profile": Profile(energy_lower=[0], energy_upper=[3], tariff_lower=[0.3],
                                                tariff_upper=[0.4])})
    c = offer("c", 0, 0, [0], [5], zone="z")  # no tariff: does not dilute the others
    [agg] = aggregate([a, b, c])
    assert agg.offer.profile.tariff_lower == pytest.approx([(0.1 * 1 + 0.3 * 3) / 4])
    assert agg.offer.profile.tariff_upper == pytest.approx([(0.2 * 1 + 0.4 * 3) / 4])
    assert validate_offer(agg.offer) == []


def test_groups_split_by_zone_start_bucket_and_flex_bucket() -> None:
    offers = [
        offer("a", 0, 4, [0], [1]),
        offer("b", 3, 4, [0], [1]),  # same hour bucket as a
        offer("c", 4, 4, [0], [1]),  # next hour
        offer("d", 0, 4, [0], [1], zone="south"),
        offer("e", 0, 12, [0], [1]),  # time flexibility 3 h: other 2-hour bucket
    ]
    params = AggregationParams(start_tolerance=H, time_flexibility_tolerance=2 * H)
    groups = sorted(sorted(a.members) for a in aggregate(offers, params))
    assert groups == [["a", "b"], ["c"], ["d"], ["e"]]
    everything = AggregationParams(start_tolerance=24 * H, time_flexibility_tolerance=24 * H, group_by="none")
    assert [sorted(a.members) for a in aggregate(offers, everything)] == [["a", "b", "c", "d", "e"]]


def test_zero_tolerance_groups_equal_values_only() -> None:
    offers = [offer("a", 0, 4, [0], [1]), offer("b", 0, 4, [0], [2]), offer("c", 1, 4, [0], [1])]
    assert sorted(sorted(a.members) for a in aggregate(offers)) == [["a", "b"], ["c"]]


def test_direction_grouping_only_when_asked() -> None:
    offers = [
        offer("load", 0, 0, [0, 1], [2, 2]),
        offer("pv", 0, 0, [-3, -3], [0, -1]),
        offer("battery", 0, 0, [-2, -2], [2, 2]),
    ]
    assert len(aggregate(offers)) == 1
    by_direction = aggregate(offers, AggregationParams(by_direction=True))
    assert {a.members[0]: str(a.offer.id).split("-")[3] for a in by_direction} == {
        "load": "consumption",
        "pv": "production",
        "battery": "mixed",
    }


def test_member_count_cap() -> None:
    offers = [offer(f"o{i}", 0, 0, [0], [1]) for i in range(7)]
    aggs = aggregate(offers, AggregationParams(max_members=3))
    assert [len(a.members) for a in aggs] == [3, 3, 1]


def test_total_energy_cap_is_next_fit_and_never_exceeded() -> None:
    sizes = [4.0, 3.0, 3.0, 5.0, 1.0, 12.0]
    offers = [offer(f"o{i}", 0, 0, [s], [s]) for i, s in enumerate(sizes)]
    aggs = aggregate(offers, AggregationParams(max_total_energy_kwh=10))
    for a in aggs:
        te = a.offer.total_energy
        assert te is not None
        assert te.upper <= 10 or len(a.members) == 1  # a single member larger than the cap stays alone
    # next-fit in id order: 4+3+3 | 5+1 | 12
    assert [a.members for a in aggs] == [["o0", "o1", "o2"], ["o3", "o4"], ["o5"]]


def test_baseline_alignment_sums_default_schedules() -> None:
    a = offer("a", 0, 8, [0, 0], [2, 2])
    a = a.model_copy(update={"default_schedule": Schedule(start=T0 + 2 * Q, energy=[1, 2])})
    b = offer("b", 1, 8, [0, 0], [1, 1])
    b = b.model_copy(update={"default_schedule": Schedule(start=T0 + 3 * Q, energy=[0.5, 0.5])})
    params = AggregationParams(alignment=Alignment.BASELINE, start_tolerance=2 * H, time_flexibility_tolerance=4 * H)
    [agg] = aggregate([a, b], params)
    assert agg.offer.default_schedule is not None
    assert agg.offer.default_schedule.start == T0 + 2 * Q
    assert agg.offer.default_schedule.energy == [1, 2.5, 0.5]
    # shift window: a may move [-2, +6], b [-2, +6] around their baselines.
    assert agg.offer.earliest_start == T0
    assert agg.offer.latest_start == T0 + 8 * Q
    assert validate_offer(agg.offer) == []


def test_offers_outside_the_columnar_form_stay_singletons() -> None:
    xor = offer("xor", 0, 2, [0], [1]).model_copy(
        update={"xor_profiles": [Profile(energy_lower=[1, 1], energy_upper=[1, 1])]}
    )
    poly = offer("poly", 0, 2, [0, 0], [1, 1]).model_copy(
        update={"polytope": [LinearConstraint(coefficients=[1, -1], bound=0)]}
    )
    long_slices = offer("long", 0, 2, [0], [4]).model_copy(
        update={"profile": Profile(energy_lower=[0], energy_upper=[4], min_duration=[2], max_duration=[4])}
    )
    plain = offer("plain", 0, 2, [0], [1])
    aggs = aggregate([xor, poly, long_slices, plain])
    assert [a.members for a in aggs] == [["plain"], ["long"], ["poly"], ["xor"]]
    for a in aggs:
        assert validate_offer(a.offer) == []
    assert aggs[3].offer.xor_profiles == xor.xor_profiles


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        aggregate([offer("a", 0, 0, [0], [1]), offer("a", 1, 0, [0], [1])])
    with pytest.raises(ValueError, match="id"):
        aggregate([offer("a", 0, 0, [0], [1]).model_copy(update={"id": None})])
    broken = offer("bad", 0, 0, [2], [1])
    with pytest.raises(ValueError, match="bad"):
        aggregate([broken])


def _signature(aggs: list[Aggregate]) -> list[tuple[str, list[str], dict[str, object]]]:
    return [(a.offer.id or "", a.members, a.offer.model_dump(exclude={"profile", "total_energy"})) for a in aggs]


def _assert_same(left: list[Aggregate], right: list[Aggregate]) -> None:
    assert _signature(left) == _signature(right)
    for x, y in zip(left, right, strict=True):
        np.testing.assert_allclose(x.offer.profile.energy_lower, y.offer.profile.energy_lower, atol=1e-9)
        np.testing.assert_allclose(x.offer.profile.energy_upper, y.offer.profile.energy_upper, atol=1e-9)
        tx, ty = x.offer.total_energy, y.offer.total_energy
        assert (tx is None) == (ty is None)
        if tx is not None and ty is not None:
            assert (tx.lower, tx.upper) == pytest.approx((ty.lower, ty.upper), abs=1e-9)


params_strategy = st.builds(
    AggregationParams,
    start_tolerance=st.sampled_from([timedelta(0), Q, H, 2 * H]),
    time_flexibility_tolerance=st.sampled_from([timedelta(0), H, 3 * H]),
    group_by=st.sampled_from(["zone", "none"]),
    by_direction=st.booleans(),
    max_total_energy_kwh=st.one_of(st.none(), st.sampled_from([3.0, 10.0])),
    max_members=st.one_of(st.none(), st.integers(1, 4)),
    alignment=st.sampled_from(list(Alignment)),
    totals=st.sampled_from(["sum", "inner"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=offer_lists(max_size=14, tariffs=None, baseline=None), params=params_strategy)
def test_aggregates_are_valid_offers_partitioning_the_members(
    offers: list[FlexOffer], params: AggregationParams
) -> None:
    aggs = aggregate(offers, params)
    members = [m for a in aggs for m in a.members]
    assert sorted(members) == sorted(o.id or "" for o in offers)
    by_id = {o.id: o for o in offers}
    for a in aggs:
        assert validate_offer(a.offer) == [], a.offer
        te = a.offer.total_energy
        assert te is not None
        if params.max_members is not None:
            assert len(a.members) <= params.max_members
        if params.max_total_energy_kwh is not None and len(a.members) > 1:
            assert max(abs(te.lower), abs(te.upper)) <= params.max_total_energy_kwh + 1e-9
        # Every aggregate start must be a feasible start for every member.
        flex = a.offer.time_flexibility()
        for m in a.members:
            assert flex <= by_id[m].time_flexibility()
        zones = {by_id[m].zone for m in a.members}
        if params.group_by == "zone":
            assert len(zones) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=offer_lists(max_size=12, tariffs=None), params=params_strategy)
def test_batch_input_equals_object_input(offers: list[FlexOffer], params: AggregationParams) -> None:
    batch, rest = FlexOfferBatch.from_offers(offers)
    assert rest == []
    _assert_same(aggregate(offers, params), aggregate(batch, params))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offers=offer_lists(min_size=2, max_size=16, tariffs=None, baseline=None),
    params=params_strategy,
    data=st.data(),
)
def test_incremental_equals_batch(offers: list[FlexOffer], params: AggregationParams, data: st.DataObject) -> None:
    extra = data.draw(st.lists(flex_offers(max_slices=3), max_size=2))
    extra = [
        o.model_copy(update={"xor_profiles": [Profile(energy_lower=[0], energy_upper=[1])], "id": f"x{i}"})
        for i, o in enumerate(extra)
    ]
    pool = offers + extra
    cut = data.draw(st.integers(0, len(pool)))
    removed = data.draw(st.lists(st.sampled_from([o.id or "" for o in pool]), unique=True, max_size=len(pool)))
    inc = Aggregator(params)
    inc.add(pool[:cut])
    inc.add(pool[cut:])
    touched = inc.remove(removed)
    kept = [o for o in pool if o.id not in set(removed)]
    _assert_same(inc.aggregates(), aggregate(kept, params))
    assert len(inc) == len(kept)
    # Only groups holding a removed offer were recomputed.
    assert len(touched) <= len(removed)


def test_incremental_add_touches_only_the_affected_group() -> None:
    params = AggregationParams(start_tolerance=H)
    inc = Aggregator(params)
    inc.add([offer("a", 0, 0, [0], [1]), offer("b", 8, 0, [0], [1])])
    before = inc.aggregates()
    touched = inc.add([offer("c", 1, 0, [0], [1])])
    assert len(touched) == 1
    after = inc.aggregates()
    assert after[1] is before[1]  # the other group's aggregate object was not rebuilt
    assert after[0].members == ["a", "c"]
    with pytest.raises(ValueError, match="already"):
        inc.add([offer("a", 0, 0, [0], [1])])
    with pytest.raises(KeyError):
        inc.remove(["nope"])
