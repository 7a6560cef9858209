"""Disaggregation: exact member schedules, or a clear error naming the slice."""

from __future__ import annotations

from datetime import timedelta

import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.flexoffer import (
    Aggregate,
    AggregationParams,
    Alignment,
    DisaggregationError,
    EnergyBounds,
    FlexOffer,
    Profile,
    Schedule,
    aggregate,
    check_schedule,
    disaggregate,
    disaggregate_arrays,
)
from core.flexoffer.aggregation import shrink_fractions
from tests.core.strategies import T0, feasible_schedules, fill_to_total, offer_lists

Q = timedelta(minutes=15)
H = timedelta(hours=1)
PARAMS = AggregationParams(start_tolerance=2 * H, time_flexibility_tolerance=4 * H)
"""Default totals mode ("inner"): the issue's split property must hold for it."""
SUM = PARAMS.model_copy(update={"totals": "sum"})
"""Opt-in plain sums: full flexibility, but some admitted schedules cannot be split."""


def offer(offer_id: str, delay: int, flex: int, lower: list[float], upper: list[float], **extra: object) -> FlexOffer:
    fields: dict[str, object] = {
        "id": offer_id,
        "earliest_start": T0 + Q * delay,
        "latest_start": T0 + Q * (delay + flex),
        "profile": Profile(energy_lower=lower, energy_upper=upper),
    }
    fields.update(extra)
    return FlexOffer.model_validate(fields)


def assert_exact(agg: Aggregate, schedule: Schedule, parts: dict[str, Schedule], offers: dict[str, FlexOffer]) -> None:
    """Every member feasible, and the members sum to the aggregate slice by slice."""
    assert sorted(parts) == sorted(agg.members)
    step = agg.offer.interval
    sums = np.zeros(len(schedule.energy) + 200)
    for member, part in parts.items():
        assert check_schedule(offers[member], part) == [], (member, part)
        first = int((part.start - schedule.start) / step)
        assert first >= 0
        sums[first : first + len(part.energy)] += part.energy
    np.testing.assert_allclose(sums[: len(schedule.energy)], schedule.energy, rtol=0, atol=1e-6)
    assert np.abs(sums[len(schedule.energy) :]).max() <= 1e-6


@st.composite
def member_feasible_schedule(draw: st.DrawFn, agg: Aggregate, offers: dict[str, FlexOffer]) -> Schedule:
    """An aggregate schedule built from random feasible member schedules at one common shift."""
    flex = int(agg.offer.time_flexibility() / agg.offer.interval)
    shift = draw(st.integers(0, flex))
    start = agg.offer.earliest_start + agg.offer.interval * shift
    energy = np.zeros(agg.offer.profile.slice_count)
    assert agg.offsets is not None
    for member, offset in zip(agg.members, agg.offsets.tolist(), strict=True):
        o = offers[member]
        member_shift = int((start + agg.offer.interval * offset - o.earliest_start) / o.interval)
        part = draw(feasible_schedules(o, shift=member_shift))
        energy[offset : offset + len(part.energy)] += part.energy
    return Schedule(start=start, energy=energy.tolist())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offers=offer_lists(max_size=12, zones=("z",), total_energy=None),
    alignment=st.sampled_from(list(Alignment)),
    data=st.data(),
)
def test_sum_aggregate_schedules_built_from_member_schedules_split_exactly(
    offers: list[FlexOffer], alignment: Alignment, data: st.DataObject
) -> None:
    by_id = {o.id or "": o for o in offers}
    aggs = aggregate(offers, SUM.model_copy(update={"alignment": alignment}))
    for agg in aggs:
        schedule = data.draw(member_feasible_schedule(agg, by_id))
        assert check_schedule(agg.offer, schedule) == []
        assert_exact(agg, schedule, disaggregate(agg, schedule), by_id)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=offer_lists(max_size=10, zones=("z",), total_energy=False), data=st.data())
def test_box_members_split_every_schedule_the_aggregate_admits(offers: list[FlexOffer], data: st.DataObject) -> None:
    """Without binding total-energy constraints the aggregate is exact: any schedule it admits splits."""
    by_id = {o.id or "": o for o in offers}
    for agg in aggregate(offers, PARAMS):
        schedule = data.draw(feasible_schedules(agg.offer))
        assert_exact(agg, schedule, disaggregate(agg, schedule), by_id)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=offer_lists(max_size=10, zones=("z",), total_energy=True), data=st.data())
def test_sum_mode_splits_or_fails_loudly(offers: list[FlexOffer], data: st.DataObject) -> None:
    """With binding totals a "sum" aggregate over-approximates: never a violating split, else a named slice."""
    by_id = {o.id or "": o for o in offers}
    for agg in aggregate(offers, SUM):
        schedule = data.draw(feasible_schedules(agg.offer))
        try:
            parts = disaggregate(agg, schedule)
        except DisaggregationError as error:
            assert error.slices, str(error)
            assert str(error).startswith("slice ")
            continue
        assert_exact(agg, schedule, parts, by_id)


def test_exact_energy_evs_need_rebalancing_beyond_proportional_fill() -> None:
    # Two EVs on the same slices with different energy needs: proportional filling
    # gives both the same fraction, which misses both totals.
    evs = [
        offer("ev1", 0, 0, [0, 0, 0, 0], [3, 3, 3, 3], total_energy=EnergyBounds(lower=3, upper=3)),
        offer("ev2", 0, 0, [0, 0, 0, 0], [3, 3, 3, 3], total_energy=EnergyBounds(lower=9, upper=9)),
    ]
    [agg] = aggregate(evs, SUM)
    schedule = Schedule(start=T0, energy=[6, 3, 3, 0])
    parts = disaggregate(agg, schedule)
    assert_exact(agg, schedule, parts, {o.id or "": o for o in evs})
    assert sum(parts["ev1"].energy) == pytest.approx(3)


def test_many_members_columnar_result_matches_the_dict_form() -> None:
    rng = np.random.default_rng(7)
    offers = []
    for i in range(300):
        upper = rng.uniform(0.5, 3, 8).round(3).tolist()
        need = round(float(sum(upper)) * float(rng.uniform(0.2, 0.8)), 3)
        offers.append(offer(f"ev{i}", int(rng.integers(0, 4)), 4, [0.0] * 8, upper,
                            total_energy=EnergyBounds(lower=need, upper=need)))
    by_id = {o.id or "": o for o in offers}
    [agg] = aggregate(offers, SUM)
    # A schedule the members can deliver: each EV charges its need front-loaded.
    energy = np.zeros(agg.offer.profile.slice_count)
    assert agg.offsets is not None
    for member, offset in zip(agg.members, agg.offsets.tolist(), strict=True):
        o = by_id[member]
        lo, hi = np.asarray(o.profile.energy_lower), np.asarray(o.profile.energy_upper)
        te = o.total_energy
        assert te is not None
        x = fill_to_total(lo, hi, lo.copy(), te.lower, te.upper)
        energy[offset : offset + 8] += x
    schedule = Schedule(start=agg.offer.earliest_start + 2 * Q, energy=energy.tolist())
    parts = disaggregate(agg, schedule)
    assert_exact(agg, schedule, parts, by_id)
    arrays = disaggregate_arrays(agg, schedule)
    assert arrays.schedules() == parts


def test_schedule_outside_the_aggregate_names_the_slice() -> None:
    [agg] = aggregate([offer("a", 0, 0, [0, 0], [1, 1]), offer("b", 0, 0, [0, 0], [1, 1])])
    with pytest.raises(DisaggregationError, match="slice 1") as info:
        disaggregate(agg, Schedule(start=T0, energy=[1, 2.5]))
    assert info.value.slices == [1]
    with pytest.raises(DisaggregationError, match="startBeforeTime"):
        disaggregate(agg, Schedule(start=T0 + Q, energy=[1, 1]))


def test_unsplittable_schedule_names_the_conflicting_slices() -> None:
    # a may take at most 1 kWh in total; b's first slice is fixed at 1 kWh.
    a = offer("a", 0, 0, [0, 0], [2, 2], total_energy=EnergyBounds(lower=1, upper=1))
    b = offer("b", 1, 0, [1, 0, 0], [1, 3, 1])
    [agg] = aggregate([a, b], SUM)
    schedule = Schedule(start=T0, energy=[1, 2, 1, 0.5])
    assert check_schedule(agg.offer, schedule) == []  # inside the aggregate's own bounds …
    with pytest.raises(DisaggregationError, match="total-energy") as info:
        disaggregate(agg, schedule)  # … but no split exists
    assert info.value.slices
    assert set(info.value.slices) <= {0, 1, 2, 3}


def test_singleton_aggregate_passes_the_schedule_through() -> None:
    xor = offer("x", 0, 2, [0], [1]).model_copy(update={"xor_profiles": [Profile(energy_lower=[2], energy_upper=[2])]})
    [agg] = aggregate([xor])
    good = Schedule(start=T0 + Q, energy=[2])
    assert disaggregate(agg, good) == {"x": good}
    with pytest.raises(DisaggregationError, match="infeasible"):
        disaggregate(agg, Schedule(start=T0, energy=[1.5]))


def binding(offer: FlexOffer) -> bool:
    """True when the offer's total-energy constraint cuts its box of slice bounds."""
    te = offer.total_energy
    lo, hi = sum(offer.profile.energy_lower), sum(offer.profile.energy_upper)
    return te is not None and (te.lower > lo + 1e-9 or te.upper < hi - 1e-9)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offers=offer_lists(max_size=10, zones=("z",), total_energy=None),
    alignment=st.sampled_from(list(Alignment)),
    data=st.data(),
)
def test_default_params_split_every_feasible_aggregate_schedule(
    offers: list[FlexOffer], alignment: Alignment, data: st.DataObject
) -> None:
    """The issue's property, for the DEFAULT totals mode: aggregate -> random feasible
    aggregate schedule -> disaggregate gives feasible members that sum exactly."""
    assert AggregationParams().totals == "inner"
    by_id = {o.id or "": o for o in offers}
    bound = sum(map(binding, offers))
    hypothesis.event("members with binding totals: " + ("none" if bound == 0 else "1-2" if bound < 3 else "3 or more"))
    for agg in aggregate(offers, PARAMS.model_copy(update={"alignment": alignment})):
        schedule = data.draw(feasible_schedules(agg.offer))
        assert check_schedule(agg.offer, schedule) == []
        assert_exact(agg, schedule, disaggregate(agg, schedule), by_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=offer_lists(min_size=2, max_size=10, zones=("z",), total_energy=True), data=st.data())
def test_default_params_split_with_every_member_bound_by_its_total(
    offers: list[FlexOffer], data: st.DataObject
) -> None:
    """Only binding totals (exact EV-style ones half the time), default parameters."""
    by_id = {o.id or "": o for o in offers}
    for agg in aggregate(offers):
        schedule = data.draw(feasible_schedules(agg.offer))
        assert_exact(agg, schedule, disaggregate(agg, schedule), by_id)


def test_inner_mode_splits_the_schedule_that_defeats_sum_mode() -> None:
    a = offer("a", 0, 0, [0, 0], [2, 2], total_energy=EnergyBounds(lower=1, upper=1))
    b = offer("b", 1, 0, [1, 0, 0], [1, 3, 1])
    [agg] = aggregate([a, b], PARAMS)
    # a is shrunk to [0.5, 0.5]; b has no total and keeps its whole box.
    assert agg.offer.profile.energy_lower == [0.5, 1.5, 0, 0]
    assert agg.offer.profile.energy_upper == [0.5, 1.5, 3, 1]
    for energy in ([0.5, 1.5, 3, 1], [0.5, 1.5, 0, 0], [0.5, 1.5, 1.2, 0.3]):
        schedule = Schedule(start=T0, energy=energy)
        assert_exact(agg, schedule, disaggregate(agg, schedule), {"a": a, "b": b})
    with pytest.raises(DisaggregationError, match="slice 0"):
        disaggregate(agg, Schedule(start=T0, energy=[1, 2, 1, 0.5]))  # admitted by sum mode, unsplittable


def test_only_the_binding_side_of_a_total_shrinks() -> None:
    slack = offer("slack", 0, 0, [0, 1], [2, 3], total_energy=EnergyBounds(lower=0, upper=9))
    low = offer("low", 0, 0, [0, 0], [2, 2], total_energy=EnergyBounds(lower=2, upper=4))
    high = offer("high", 0, 0, [0, 0], [2, 2], total_energy=EnergyBounds(lower=0, upper=1))
    rise, fall = shrink_fractions(np.array([1.0, 0, 0]), np.array([5.0, 4, 4]), np.array([1.0, 2, 0]),
                                  np.array([5.0, 4, 1]))
    assert rise.tolist() == [0, 0.5, 0]
    assert fall.tolist() == [0, 0, 0.75]
    # One bin; sharing one shrink would cost most of the total range, so each member shrinks alone.
    [agg] = aggregate([slack, low, high])
    assert agg.offer.profile.energy_lower == [0 + 1 + 0, 1 + 1 + 0]
    assert agg.offer.profile.energy_upper == [2 + 2 + 0.5, 3 + 2 + 0.5]
    assert agg.offer.total_energy == EnergyBounds(lower=1 + 2 + 0, upper=5 + 4 + 1)
    by_id = {o.id or "": o for o in (slack, low, high)}
    for energy in ([1, 2], [4.5, 5.5], [3, 3]):
        schedule = Schedule(start=T0, energy=energy)
        assert_exact(agg, schedule, disaggregate(agg, schedule), by_id)


def test_inner_totals_pin_exact_energy_evs_of_different_shapes_but_keep_time_flexibility() -> None:
    ev = offer("ev", 0, 8, [0, 0, 0, 0], [2, 2, 2, 2], total_energy=EnergyBounds(lower=4, upper=4))
    short = offer("short", 0, 8, [0, 0, 0, 0], [3, 3, 0, 0], total_energy=EnergyBounds(lower=3, upper=3))
    [agg] = aggregate([ev, short], AggregationParams(totals="inner"))
    assert agg.offer.profile.energy_lower == agg.offer.profile.energy_upper == [2.5, 2.5, 1, 1]
    assert agg.offer.latest_start == T0 + 8 * Q
    # Alone, an EV is its own (trivially homothetic) bin: the aggregate is the offer, exactly.
    [alone] = aggregate([ev])
    assert alone.offer.profile.energy_upper == [2, 2, 2, 2]
    assert alone.offer.total_energy == EnergyBounds(lower=4, upper=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.floats(0.1, 2.0).map(lambda v: round(v, 3)), min_size=2, max_size=6),
    scales=st.lists(st.integers(1, 9), min_size=2, max_size=6),
    fractions=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    fixed=st.booleans(),
    data=st.data(),
)
def test_scaled_copies_of_one_shape_keep_their_boxes_and_every_schedule_splits(
    shape: list[float], scales: list[int], fractions: tuple[int, int], fixed: bool, data: st.DataObject
) -> None:
    """A fleet of one appliance model: scaled boxes, totals at the same fractions (binding)."""
    rise, fall = fractions[0] / 10, fractions[1] / 10 + 0.05
    members = []
    for i, c in enumerate(scales):
        upper = [c * v for v in shape]
        total = sum(upper)
        members.append(offer(f"m{i}", 0, 2, [0.0] * len(shape), upper,
                             total_energy=EnergyBounds(lower=rise * total, upper=(1 - fall) * total)))
    if fixed:  # a fixed load (no width) is a translation: it never breaks the shape
        members.append(offer("fixed", 0, 2, [0.5] * len(shape), [0.5] * len(shape)))
    by_id = {o.id or "": o for o in members}
    [agg] = aggregate(members)
    assert agg.offer.profile.energy_upper == pytest.approx([sum(scales) * v + 0.5 * fixed for v in shape])
    assert agg.offer.profile.energy_lower == pytest.approx([0.5 * fixed] * len(shape))
    te = agg.offer.total_energy
    assert te is not None
    assert te.lower == pytest.approx(rise * sum(scales) * sum(shape) + 0.5 * fixed * len(shape))
    for _ in range(3):
        schedule = data.draw(feasible_schedules(agg.offer))
        assert_exact(agg, schedule, disaggregate(agg, schedule), by_id)


def test_a_member_of_another_shape_makes_the_bin_shrink_per_member() -> None:
    a = offer("a", 0, 0, [0, 0], [1, 2], total_energy=EnergyBounds(lower=1.5, upper=1.5))
    b = offer("b", 0, 0, [0, 0], [2, 4], total_energy=EnergyBounds(lower=3, upper=3))
    [same] = aggregate([a, b])
    assert same.offer.profile.energy_upper == [3, 6]
    c = offer("c", 0, 0, [0, 0], [2, 1], total_energy=EnergyBounds(lower=1.5, upper=1.5))
    [mixed] = aggregate([a, b, c])
    assert mixed.offer.profile.energy_lower == mixed.offer.profile.energy_upper == pytest.approx([2.5, 3.5])


@pytest.mark.parametrize("with_tariffs", [False, True])
def test_shapes_that_fool_the_cheap_filter_are_caught_by_the_exact_check(with_tariffs: bool) -> None:
    from core.flexoffer.aggregation import _probe

    # w2 - w1 is orthogonal to both the all-ones vector and the probe: same W, same projection.
    w1 = np.array([2.0, 2.0, 2.0])
    v = np.cross(np.ones(3), _probe(3))
    w2 = w1 + 0.5 * v / np.abs(v).max()
    extra = {"tariff_lower": [0.1, 0.2, 0.3], "tariff_upper": [0.2, 0.3, 0.4]} if with_tariffs else {}
    members = [
        FlexOffer(id=f"m{i}", earliest_start=T0, latest_start=T0 + Q,
                  profile=Profile(energy_lower=[0.0] * 3, energy_upper=w.tolist(), **extra),  # type: ignore[arg-type]
                  total_energy=EnergyBounds(lower=2.0, upper=2.0))
        for i, w in enumerate((w1, w2))
    ]
    [agg] = aggregate(members)
    # Not scaled copies: each member is pinned to its own box (1/3 of each slice's width).
    np.testing.assert_allclose(agg.offer.profile.energy_lower, (w1 + w2) / 3, atol=1e-12)
    np.testing.assert_allclose(agg.offer.profile.energy_upper, (w1 + w2) / 3, atol=1e-12)
    schedule = Schedule(start=T0 + Q, energy=((w1 + w2) / 3).tolist())
    assert_exact(agg, schedule, disaggregate(agg, schedule), {o.id or "": o for o in members})
