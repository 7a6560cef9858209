"""Planning: hand-checked cases per objective, and the MILP against brute force."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import highspy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.flexoffer import EnergyBounds, FlexOffer, LinearConstraint, Profile, check_schedule, plan
from core.flexoffer.planning import (
    FollowTarget,
    Horizon,
    MeetCommitments,
    MinimiseCost,
    PeakShaving,
    PlanningError,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)
SLOT = timedelta(minutes=15)


def offer(
    oid: str,
    lower: list[float],
    upper: list[float] | None = None,
    *,
    first: int = 0,
    last: int = 0,
    total: tuple[float, float] | None = None,
    xor: list[tuple[list[float], list[float]]] | None = None,
    polytope: list[tuple[list[float], float]] | None = None,
    durations: list[int] | None = None,
) -> FlexOffer:
    return FlexOffer(
        id=oid,
        earliest_start=T0 + first * SLOT,
        latest_start=T0 + last * SLOT,
        profile=Profile(
            energy_lower=lower, energy_upper=upper if upper is not None else lower, min_duration=durations
        ),
        xor_profiles=[Profile(energy_lower=lo, energy_upper=hi) for lo, hi in (xor or [])],
        total_energy=EnergyBounds(lower=total[0], upper=total[1]) if total else None,
        polytope=[LinearConstraint(coefficients=c, bound=b) for c, b in (polytope or [])],
    )


def slot_of(schedule_start: datetime) -> int:
    return int((schedule_start - T0) / SLOT)


def assert_feasible(offers: list[FlexOffer], result_schedules: dict) -> None:  # type: ignore[type-arg]
    for o in offers:
        assert o.id is not None
        assert check_schedule(o, result_schedules[o.id]) == []


# ---------------------------------------------------------------- hand-checked cases


def test_cost_picks_the_cheapest_start_for_a_fixed_profile() -> None:
    offers = [offer("a", [1.0, 1.0], first=0, last=2)]
    result = plan(offers, MinimiseCost(prices=[0.3, 0.1, 0.2, 0.4]), Horizon(T0, 4))
    # starts 0, 1, 2 cost 0.4, 0.3, 0.6
    assert result.status == "Optimal"
    assert slot_of(result.schedules["a"].start) == 1
    assert result.objective_value == pytest.approx(0.3)
    assert result.gap <= 1e-4
    assert_feasible(offers, result.schedules)


def test_cost_moves_energy_to_the_cheapest_slot_under_a_total_constraint() -> None:
    offers = [offer("a", [0.0, 0.0], [2.0, 2.0], first=0, last=2, total=(2.0, 2.0))]
    result = plan(offers, MinimiseCost(prices=[0.3, 0.1, 0.2, 0.05]), Horizon(T0, 4))
    schedule = result.schedules["a"]
    assert slot_of(schedule.start) == 2
    assert schedule.energy == pytest.approx([0.0, 2.0])
    assert result.objective_value == pytest.approx(0.1)
    assert result.slot_energy == pytest.approx([0, 0, 0, 2.0])


def test_production_is_sold_in_the_dearest_slot() -> None:
    offers = [offer("pv", [-1.0], first=0, last=3)]
    result = plan(offers, MinimiseCost(prices=[0.1, 0.5, 0.2, 0.3]), Horizon(T0, 4))
    assert slot_of(result.schedules["pv"].start) == 1
    assert result.objective_value == pytest.approx(-0.5)


def test_zone_limit_in_cost_objective_pushes_the_second_offer_to_a_dearer_slot() -> None:
    offers = [offer("a", [1.0], first=0, last=1), offer("b", [1.0], first=0, last=1)]
    result = plan(offers, MinimiseCost(prices=[0.1, 0.3], limit=1.0), Horizon(T0, 2))
    assert sorted(slot_of(s.start) for s in result.schedules.values()) == [0, 1]
    assert result.objective_value == pytest.approx(0.4)


def test_follow_target_reaches_the_profile_exactly() -> None:
    offers = [offer("a", [1.0], first=0, last=3), offer("b", [1.0], first=0, last=3)]
    result = plan(offers, FollowTarget(target=[1.0, 0.0, 1.0, 0.0]), Horizon(T0, 4))
    assert result.objective_value == pytest.approx(0.0, abs=1e-9)
    assert result.slot_energy == pytest.approx([1.0, 0.0, 1.0, 0.0])


def test_imbalance_reduction_soaks_up_forecast_surplus() -> None:
    # PV surplus of 2 kWh in slot 1; an EV that may take 0..2 kWh per slice, 2 kWh in total.
    offers = [offer("ev", [0.0], [2.0], first=0, last=3, total=(2.0, 2.0))]
    result = plan(offers, FollowTarget(target=[0, 0, 0, 0], forecast=[0.0, -2.0, 0.0, 0.0]), Horizon(T0, 4))
    assert slot_of(result.schedules["ev"].start) == 1
    assert result.objective_value == pytest.approx(0.0, abs=1e-9)


def test_peak_shaving_respects_indivisible_offers() -> None:
    # forecast 1 kWh in slot 0; three 1 kWh offers over slots 0..2: best peak is 2 (LP would say 4/3)
    offers = [offer(x, [1.0], first=0, last=2) for x in "abc"]
    result = plan(offers, PeakShaving(limit=1.5, forecast=[1.0, 0.0, 0.0]), Horizon(T0, 3))
    assert result.objective_value == pytest.approx(1.0 * 2.0 + 10.0 * 0.5)
    loads = np.array(result.slot_energy) + np.array([1.0, 0.0, 0.0])
    assert loads.max() == pytest.approx(2.0)


def test_commitments_prefer_the_cheaper_deviation() -> None:
    # one 2 kWh block: at slot 0 it meets 2 and falls 1 short at slot 2 (5 EUR);
    # at slot 2 it overshoots by 1 (1 EUR) but falls 2 short at slot 0 (10 EUR).
    offers = [offer("a", [2.0], first=0, last=3)]
    objective = MeetCommitments(commitments=[2.0, None, 1.0, None], shortfall_penalty=5.0, surplus_penalty=1.0)
    result = plan(offers, objective, Horizon(T0, 4))
    assert slot_of(result.schedules["a"].start) == 0
    assert result.objective_value == pytest.approx(5.0)


def test_xor_alternative_is_chosen_when_cheaper() -> None:
    offers = [offer("a", [2.0], first=0, last=0, xor=[([1.0, 1.0], [1.0, 1.0])])]
    result = plan(offers, MinimiseCost(prices=[0.5, 0.1, 0.1]), Horizon(T0, 3))
    schedule = result.schedules["a"]
    # main profile at slot 0: 1.0 EUR; XOR profile at slots 0-1: 0.6 EUR
    assert schedule.profile_index == 1
    assert result.objective_value == pytest.approx(0.6)
    assert_feasible(offers, result.schedules)


def test_polytope_rows_bind() -> None:
    # x0 <= x1 while slot 0 is cheaper: the best is the even split
    offers = [offer("a", [0.0, 0.0], [2.0, 2.0], total=(2.0, 2.0), polytope=[([1.0, -1.0], 0.0)])]
    result = plan(offers, MinimiseCost(prices=[0.1, 0.3]), Horizon(T0, 2))
    assert result.schedules["a"].energy == pytest.approx([1.0, 1.0])
    assert_feasible(offers, result.schedules)


def test_multi_interval_slices_spread_their_energy() -> None:
    offers = [offer("a", [2.0, 1.0], durations=[2, 1], first=0, last=1)]
    result = plan(offers, MinimiseCost(prices=[0.4, 0.1, 0.1, 0.1]), Horizon(T0, 4))
    assert slot_of(result.schedules["a"].start) == 1
    assert result.slot_energy == pytest.approx([0.0, 1.0, 1.0, 1.0])
    assert_feasible(offers, result.schedules)


@dataclass
class _Aggregate:
    offer: FlexOffer
    members: list[str]


def test_aggregates_are_planned_through_their_offer() -> None:
    aggregate = _Aggregate(offer("agg-1", [3.0], first=0, last=1), ["x", "y"])
    result = plan([aggregate], MinimiseCost(prices=[0.2, 0.1]), Horizon(T0, 2))
    assert slot_of(result.schedules["agg-1"].start) == 1


def test_offers_that_cannot_fit_are_reported_not_dropped_silently() -> None:
    offers = [offer("late", [1.0, 1.0], first=3, last=5), offer("ok", [1.0], first=0, last=0)]
    result = plan(offers, MinimiseCost(prices=[0.1] * 4), Horizon(T0, 4))
    assert "late" in result.unplanned and "ok" in result.schedules


def test_bad_requests_raise_clear_errors() -> None:
    with pytest.raises(PlanningError, match="3 values"):
        plan([offer("a", [1.0])], MinimiseCost(prices=[0.1, 0.2, 0.3]), Horizon(T0, 4))
    with pytest.raises(PlanningError, match="grid"):
        Horizon(T0 + timedelta(minutes=7), 4)
    with pytest.raises(PlanningError, match="representable"):
        Horizon(datetime(9999, 12, 31, 23, 0, tzinfo=UTC), 8)
    with pytest.raises(PlanningError, match="twice"):
        plan([offer("a", [1.0]), offer("a", [1.0])], MinimiseCost(prices=[0.1]), Horizon(T0, 1))


def test_infeasible_coupling_is_reported_by_status() -> None:
    offers = [offer("a", [2.0], first=0, last=1)]
    result = plan(offers, MinimiseCost(prices=[0.1, 0.1], limit=1.0), Horizon(T0, 2))
    assert result.status == "Infeasible"
    assert result.schedules == {}


# ---------------------------------------------------------------- brute force


def evaluate(objective: object, load: np.ndarray) -> float:
    """The objective from its definition, computed from the planned load alone."""
    if isinstance(objective, MinimiseCost):
        return float(np.dot(objective.prices, load))
    if isinstance(objective, FollowTarget):
        net = load + (np.array(objective.forecast) if objective.forecast else 0.0)
        return float(np.abs(net - np.array(objective.target)).sum())
    if isinstance(objective, PeakShaving):
        net = load + (np.array(objective.forecast) if objective.forecast else 0.0)
        excess = np.clip(net - objective.limit, 0, None).sum()
        return float(objective.peak_weight * net.max() + objective.excess_penalty * excess)
    assert isinstance(objective, MeetCommitments)
    total = 0.0
    for t, c in enumerate(objective.commitments):
        if c is not None:
            total += objective.shortfall_penalty * max(0.0, c - load[t])
            total += objective.surplus_penalty * max(0.0, load[t] - c)
    return total


def brute_force(offers: list[FlexOffer], objective: object, slots: int) -> float:
    """Enumerate every (profile, start) combination; an LP over the energies of each."""
    choices = []
    for o in offers:
        mine = []
        for p_index, profile in enumerate(o.profiles):
            first = int((o.earliest_start - T0) / SLOT)
            last = int((o.effective_latest_start() - T0) / SLOT)
            mine += [(p_index, s) for s in range(max(first, 0), min(last, slots - profile.slice_count) + 1)]
        choices.append(mine)
    best = float("inf")
    for combo in itertools.product(*choices):
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        inf = highspy.kHighsInf
        load_rows: list[list[tuple[int, float]]] = [[] for _ in range(slots)]
        col = 0
        for o, (p_index, start) in zip(offers, combo, strict=True):
            profile = o.profiles[p_index]
            first_col = col
            for i in range(profile.slice_count):
                h.addVar(profile.energy_lower[i], profile.energy_upper[i])
                load_rows[start + i].append((col, 1.0))
                col += 1
            idx = np.arange(first_col, col, dtype=np.int32)
            if o.total_energy:
                h.addRow(o.total_energy.lower, o.total_energy.upper, len(idx), idx, np.ones(len(idx)))
            for row in o.polytope:
                h.addRow(-inf, row.bound, len(idx), idx, np.array(row.coefficients))
        # load_t as explicit variables
        load_cols = []
        for t in range(slots):
            h.addVar(-inf, inf)
            load_cols.append(col)
            entries = [*load_rows[t], (col, -1.0)]
            h.addRow(0.0, 0.0, len(entries), np.array([e[0] for e in entries], dtype=np.int32),
                     np.array([e[1] for e in entries]))
            col += 1
        cost: dict[int, float] = {}

        def aux(cost_value: float, cost: dict[int, float] = cost, h: highspy.Highs = h) -> int:
            nonlocal col
            h.addVar(0.0, highspy.kHighsInf)
            cost[col] = cost_value
            col += 1
            return col - 1

        def link(coeffs: list[tuple[int, float]], lo: float, hi: float, h: highspy.Highs = h) -> None:
            h.addRow(lo, hi, len(coeffs), np.array([c for c, _ in coeffs], dtype=np.int32),
                     np.array([v for _, v in coeffs]))

        if isinstance(objective, MinimiseCost):
            for t in range(slots):
                cost[load_cols[t]] = objective.prices[t]
        elif isinstance(objective, FollowTarget):
            forecast = objective.forecast or [0.0] * slots
            for t in range(slots):
                dev = aux(1.0)  # dev >= |load + f - target|
                link([(dev, 1.0), (load_cols[t], -1.0)], forecast[t] - objective.target[t], inf)
                link([(dev, 1.0), (load_cols[t], 1.0)], objective.target[t] - forecast[t], inf)
        elif isinstance(objective, PeakShaving):
            forecast = objective.forecast or [0.0] * slots
            h.addVar(-inf, inf)
            peak = col
            cost[peak] = objective.peak_weight
            col += 1
            for t in range(slots):
                link([(peak, 1.0), (load_cols[t], -1.0)], forecast[t], inf)
                ex = aux(objective.excess_penalty)
                link([(ex, 1.0), (load_cols[t], -1.0)], forecast[t] - float(objective.limit), inf)  # type: ignore[arg-type]
        else:
            assert isinstance(objective, MeetCommitments)
            for t, c in enumerate(objective.commitments):
                if c is None:
                    continue
                short = aux(objective.shortfall_penalty)
                over = aux(objective.surplus_penalty)
                link([(load_cols[t], 1.0), (short, 1.0), (over, -1.0)], c, c)
        for c, v in cost.items():
            h.changeColCost(c, v)
        h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            best = min(best, h.getInfo().objective_function_value)
    return best


bounds = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False).map(lambda v: round(v, 2))


@st.composite
def tiny_offer(draw: st.DrawFn, oid: str, slots: int) -> FlexOffer:
    n = draw(st.integers(1, 2))
    lower, upper = [], []
    for _ in range(n):
        a, b = sorted((draw(bounds), draw(bounds)))
        lower.append(a)
        upper.append(b)
    first = draw(st.integers(0, slots - n))
    last = draw(st.integers(first, slots - n))
    total = None
    if draw(st.booleans()):
        lo_t = draw(st.floats(sum(lower), sum(upper)).map(lambda v: round(v, 2)))
        total = (max(lo_t, sum(lower)), max(lo_t, sum(lower)) + draw(st.sampled_from([0.0, 0.5])))
    xor = None
    if draw(st.integers(0, 3)) == 0:
        a, b = sorted((draw(bounds), draw(bounds)))
        xor = [([a] * n, [b] * n)]
        total = None  # keep the XOR alternative feasible on its own
    polytope = None
    if n == 2 and draw(st.integers(0, 3)) == 0:
        polytope = [([1.0, -1.0], draw(bounds) + (upper[0] - lower[1]))]
    return offer(oid, lower, upper, first=first, last=last, total=total, xor=xor, polytope=polytope)


@st.composite
def instance(draw: st.DrawFn) -> tuple[list[FlexOffer], object, int]:
    slots = draw(st.integers(2, 4))
    count = draw(st.integers(1, 3))
    offers = [draw(tiny_offer(f"o{i}", slots)) for i in range(count)]
    series = st.lists(bounds, min_size=slots, max_size=slots)
    kind = draw(st.sampled_from(["cost", "target", "peak", "commitments"]))
    objective: object
    if kind == "cost":
        objective = MinimiseCost(prices=draw(series))
    elif kind == "target":
        objective = FollowTarget(target=draw(series), forecast=draw(series))
    elif kind == "peak":
        objective = PeakShaving(
            limit=draw(bounds), forecast=draw(series), excess_penalty=draw(st.sampled_from([0.0, 3.0]))
        )
    else:
        commitments = draw(st.lists(st.one_of(st.none(), bounds), min_size=slots, max_size=slots))
        if all(c is None for c in commitments):
            commitments[0] = 0.0
        objective = MeetCommitments(
            commitments=commitments, shortfall_penalty=draw(st.sampled_from([1.0, 4.0])), surplus_penalty=1.0
        )
    return offers, objective, slots


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance())
def test_milp_matches_brute_force_on_tiny_instances(case: tuple[list[FlexOffer], object, int]) -> None:
    offers, objective, slots = case
    expected = brute_force(offers, objective, slots)
    result = plan(offers, objective, Horizon(T0, slots), mip_rel_gap=0.0)  # type: ignore[arg-type]
    if expected == float("inf"):
        assert not result.schedules or result.unplanned
        return
    assert result.status == "Optimal"
    assert result.objective_value == pytest.approx(expected, abs=1e-5, rel=1e-6)
    assert_feasible(offers, result.schedules)
    # the value HiGHS reports is the objective of the schedules it returns
    load = np.array(result.slot_energy)
    assert evaluate(objective, load) == pytest.approx(result.objective_value, abs=1e-5)


def test_block_decomposition_of_a_separable_objective_keeps_the_optimum() -> None:
    rng = np.random.default_rng(3)
    offers = []
    for i in range(12):
        n = int(rng.integers(1, 4))
        lo = rng.uniform(-1, 1, n).round(2)
        offers.append(offer(f"o{i}", lo.tolist(), (lo + rng.uniform(0, 1, n)).round(2).tolist(),
                            first=int(rng.integers(0, 3)), last=int(rng.integers(3, 5)), total=None))
    prices = rng.uniform(-0.1, 0.4, 8).round(3).tolist()
    whole = plan(offers, MinimiseCost(prices=prices), Horizon(T0, 8), mip_rel_gap=0.0, block_size=100)
    blocks = plan(offers, MinimiseCost(prices=prices), Horizon(T0, 8), mip_rel_gap=0.0, block_size=5)
    assert blocks.objective_value == pytest.approx(whole.objective_value, abs=1e-7)
    assert blocks.gap <= 1e-6 and blocks.status == "Optimal"
    assert blocks.slot_energy == pytest.approx(whole.slot_energy, abs=1e-6)
    assert_feasible(offers, blocks.schedules)


def test_objectives_refuse_non_numbers_and_negative_weights() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        MinimiseCost(prices=[float("nan")])
    with pytest.raises(ValidationError):
        FollowTarget(target=[0.0], weights=[-1.0])
    with pytest.raises(ValidationError):
        MeetCommitments(commitments=[None, None])


def test_a_fixed_profile_that_misses_its_total_has_no_mode() -> None:
    offers = [offer("bad", [1.0, 1.0], total=(3.0, 3.0), first=0, last=1), offer("ok", [1.0], first=0, last=0)]
    result = plan(offers, MinimiseCost(prices=[0.1, 0.2, 0.3]), Horizon(T0, 3))
    assert "bad" in result.unplanned and set(result.schedules) == {"ok"}


def test_a_starting_solution_does_not_change_the_optimum() -> None:
    offers = [offer(x, [0.0, 0.0], [1.5, 1.5], first=0, last=3, total=(2.0, 2.0)) for x in "abcd"]
    objective = PeakShaving(limit=1.0, forecast=[0.5, 0.0, 1.0, 0.0, 0.0])
    cold = plan(offers, objective, Horizon(T0, 5), mip_rel_gap=0.0, initial={})
    start = {o.id: cold.schedules[o.id].model_copy(update={"start": T0}) for o in offers if o.id}
    start = {k: s.model_copy(update={"energy": [1.0, 1.0]}) for k, s in start.items()}  # all at slot 0: feasible, poor
    warm = plan(offers, objective, Horizon(T0, 5), mip_rel_gap=0.0, initial=start)
    auto = plan(offers, objective, Horizon(T0, 5), mip_rel_gap=0.0)  # greedy start
    assert warm.objective_value == pytest.approx(cold.objective_value, abs=1e-7)
    assert auto.objective_value == pytest.approx(cold.objective_value, abs=1e-7)
    assert_feasible(offers, warm.schedules)
