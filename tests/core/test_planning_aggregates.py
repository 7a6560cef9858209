"""Planning aggregates end to end: aggregate, plan the aggregates, disaggregate to members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.flexoffer import EnergyBounds, FlexOffer, Profile, check_schedule, plan
from core.flexoffer.aggregation import AggregationParams, aggregate
from core.flexoffer.disaggregation import disaggregate
from core.flexoffer.planning import FollowTarget, Horizon, MinimiseCost

T0 = datetime(2026, 2, 2, tzinfo=UTC)
Q = timedelta(minutes=15)


def _members(count: int, seed: int) -> list[FlexOffer]:
    rng = np.random.default_rng(seed)
    offers = []
    for i in range(count):
        n = int(rng.integers(2, 5))
        upper = np.round(rng.uniform(0.5, 2.0, n), 2)
        need = round(float(upper.sum()) * 0.5, 2)
        first = int(rng.integers(0, 3)) * 4
        offers.append(FlexOffer(
            id=f"m{i}", zone="z1",
            earliest_start=T0 + first * Q, latest_start=T0 + (first + 8) * Q,
            profile=Profile(energy_lower=[0.0] * n, energy_upper=upper.tolist()),
            total_energy=EnergyBounds(lower=need, upper=need + 0.5),
        ))
    return offers


@pytest.mark.parametrize("objective_kind", ["cost", "target"])
def test_planned_aggregate_schedules_disaggregate_into_feasible_member_schedules(objective_kind: str) -> None:
    members = _members(40, seed=5)
    # "inner" totals make every feasible aggregate schedule splittable; "sum" totals may not be
    aggregates = aggregate(members, AggregationParams(start_tolerance=timedelta(hours=1), totals="inner"))
    assert len(aggregates) < len(members)
    horizon = Horizon(T0, 32)
    rng = np.random.default_rng(9)
    objective = (MinimiseCost(prices=rng.uniform(0.05, 0.4, 32).round(3).tolist()) if objective_kind == "cost"
                 else FollowTarget(target=[3.0] * 32))
    result = plan(aggregates, objective, horizon)
    assert result.status == "Optimal" and not result.unplanned
    by_id = {m.id: m for m in members}
    covered: set[str] = set()
    for agg in aggregates:
        assert agg.offer.id is not None
        schedule = result.schedules[agg.offer.id]
        assert check_schedule(agg.offer, schedule) == []
        parts = disaggregate(agg, schedule)
        covered |= set(parts)
        for member_id, member_schedule in parts.items():
            assert check_schedule(by_id[member_id], member_schedule) == []
    assert covered == set(by_id)
