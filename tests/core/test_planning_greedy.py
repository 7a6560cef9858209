"""The direct-trading greedy baseline: merit order, profit rule, and how it compares with the MILP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.flexoffer import EnergyBounds, FlexOffer, Profile, Schedule, check_schedule, greedy_plan, plan
from core.flexoffer.greedy import merit_order
from core.flexoffer.planning import Horizon, MinimiseCost

T0 = datetime(2026, 1, 5, tzinfo=UTC)
SLOT = timedelta(minutes=15)


def offer(
    oid: str,
    lower: list[float],
    upper: list[float] | None = None,
    *,
    first: int = 0,
    last: int = 0,
    tariff: float | None = None,
    total: tuple[float, float] | None = None,
    default_at: int | None = None,
) -> FlexOffer:
    upper = upper if upper is not None else lower
    n = len(lower)
    production = sum(lower) + sum(upper) < 0
    tariffs = [tariff] * n if tariff is not None else None
    return FlexOffer(
        id=oid,
        earliest_start=T0 + first * SLOT,
        latest_start=T0 + last * SLOT,
        profile=Profile(
            energy_lower=lower,
            energy_upper=upper,
            tariff_lower=tariffs if production else None,
            tariff_upper=None if production else tariffs,
        ),
        total_energy=EnergyBounds(lower=total[0], upper=total[1]) if total else None,
        default_schedule=None if default_at is None else Schedule(start=T0 + default_at * SLOT, energy=lower),
    )


def test_merit_order_is_cheapest_production_then_dearest_consumption() -> None:
    offers = [
        offer("c-cheap", [1.0], tariff=0.1),
        offer("p-dear", [-1.0], tariff=0.3),
        offer("c-dear", [1.0], tariff=0.5),
        offer("p-cheap", [-1.0], tariff=0.05),
        offer("c-none", [1.0]),
    ]
    assert [offers[i].id for i in merit_order(offers)] == ["p-cheap", "p-dear", "c-dear", "c-cheap", "c-none"]


def test_only_offers_that_raise_profit_are_moved() -> None:
    prices = [0.3, 0.2, 0.3, 0.3]
    unprofitable = offer("u", [1.0], first=0, last=3, tariff=0.1, default_at=0)
    profitable = offer("p", [1.0], first=0, last=3, tariff=0.5, default_at=0)
    result = greedy_plan([unprofitable, profitable], MinimiseCost(prices=prices), Horizon(T0, 4))
    assert result.schedules["u"] == unprofitable.default_schedule
    assert result.schedules["p"].start == T0 + 1 * SLOT
    assert result.objective_value == pytest.approx(0.3 + 0.2)


def test_greedy_is_myopic_where_the_milp_is_not() -> None:
    # zone limit 1 kWh per slot; 'a' is dearer so goes first and takes the cheap slot 0,
    # leaving no room for 'b', which can only run in slot 0. The MILP places both.
    a = offer("a", [1.0], first=0, last=1, tariff=0.5)
    b = offer("b", [1.0], first=0, last=0, tariff=0.4)
    objective = MinimiseCost(prices=[0.1, 0.2], limit=1.0)
    greedy = greedy_plan([a, b], objective, Horizon(T0, 2))
    assert greedy.schedules["a"].start == T0 and "b" in greedy.unplanned
    best = plan([a, b], objective, Horizon(T0, 2))
    assert best.schedules["a"].start == T0 + SLOT and best.schedules["b"].start == T0
    assert best.objective_value == pytest.approx(0.3)


def test_greedy_fills_energy_in_the_cheapest_slices_of_a_total() -> None:
    ev = offer("ev", [0.0, 0.0, 0.0], [2.0, 2.0, 2.0], first=0, last=1, total=(3.0, 3.0))
    result = greedy_plan([ev], MinimiseCost(prices=[0.5, 0.1, 0.4, 0.2]), Horizon(T0, 4))
    # start 1 covers slots 1..3 at 0.1, 0.4, 0.2: 2 kWh at 0.1 and 1 kWh at 0.2
    assert result.schedules["ev"].start == T0 + SLOT
    assert result.schedules["ev"].energy == pytest.approx([2.0, 0.0, 1.0])
    assert result.objective_value == pytest.approx(0.4)


@st.composite
def portfolios(draw: st.DrawFn) -> list[FlexOffer]:
    count = draw(st.integers(1, 8))
    out = []
    for i in range(count):
        n = draw(st.integers(1, 3))
        lo = draw(st.lists(st.floats(-1, 1).map(lambda v: round(v, 2)), min_size=n, max_size=n))
        room = draw(st.lists(st.floats(0, 1).map(lambda v: round(v, 2)), min_size=n, max_size=n))
        hi = [a + b for a, b in zip(lo, room, strict=True)]
        total = None
        if draw(st.booleans()):
            t = round(draw(st.floats(sum(lo), sum(hi))), 3)
            total = (max(t, sum(lo)), min(max(t, sum(lo)) + 0.2, sum(hi) + 1))
        first = draw(st.integers(0, 6 - n))
        out.append(offer(f"o{i}", lo, hi, first=first, last=draw(st.integers(first, 6 - n)), total=total))
    return out


@settings(max_examples=60, deadline=None)
@given(portfolios(), st.lists(st.floats(-0.2, 0.5).map(lambda v: round(v, 3)), min_size=6, max_size=6))
def test_without_coupling_greedy_equals_the_milp_and_is_feasible(offers: list[FlexOffer], prices: list[float]) -> None:
    objective = MinimiseCost(prices=prices)
    greedy = greedy_plan(offers, objective, Horizon(T0, 6))
    best = plan(offers, objective, Horizon(T0, 6), mip_rel_gap=0.0)
    for o in offers:
        assert o.id is not None
        assert check_schedule(o, greedy.schedules[o.id]) == []
    # each offer's cheapest placement is the optimum when nothing couples the offers
    assert greedy.objective_value == pytest.approx(best.objective_value, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(portfolios(), st.lists(st.floats(0.0, 0.5).map(lambda v: round(v, 3)), min_size=6, max_size=6),
       st.floats(1.0, 3.0))
def test_under_a_zone_limit_greedy_never_beats_the_milp(
    offers: list[FlexOffer], prices: list[float], limit: float
) -> None:
    objective = MinimiseCost(prices=prices, limit=limit)
    greedy = greedy_plan(offers, objective, Horizon(T0, 6))
    assert max(greedy.slot_energy) <= limit + 1e-9
    for key, schedule in greedy.schedules.items():
        assert check_schedule(next(o for o in offers if o.id == key), schedule) == []
    if greedy.unplanned:
        return
    best = plan(offers, objective, Horizon(T0, 6), mip_rel_gap=0.0)
    assert best.status == "Optimal"
    assert best.objective_value <= greedy.objective_value + 1e-6
    assert np.max(best.slot_energy) <= limit + 1e-6


def test_greedy_handles_polytopic_offers_with_an_lp() -> None:
    from core.flexoffer import LinearConstraint

    polytopic = FlexOffer(
        id="poly",
        earliest_start=T0,
        latest_start=T0,
        profile=Profile(energy_lower=[0.0, 0.0], energy_upper=[2.0, 2.0]),
        total_energy=EnergyBounds(lower=2.0, upper=2.0),
        polytope=[LinearConstraint(coefficients=[1.0, -1.0], bound=0.0)],  # x0 <= x1
    )
    result = greedy_plan([polytopic], MinimiseCost(prices=[0.1, 0.3]), Horizon(T0, 2))
    assert result.schedules["poly"].energy == pytest.approx([1.0, 1.0])
    assert check_schedule(polytopic, result.schedules["poly"]) == []
