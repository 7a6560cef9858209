"""Benchmark: cost-minimising a portfolio of flex-offers with the exact MILP, against greedy.

Issue figure: 10,000 offers with time flexibility over a 96-slice horizon, optimal
within a 0.1 % gap in <= 60 s, with the cost of the direct-trading greedy baseline
in the same run. Without a zone limit no two offers interact, so greedy's per-offer
best placement is already optimal; the run therefore also plans a zone-limited
portfolio (``--coupled-n`` offers), where greedy's myopia shows.

Prints progress to stderr and ONE final JSON line to stdout.

    .venv/bin/python bench/planning.py --n 200 --coupled-n 100    # smoke test
    .venv/bin/python bench/planning.py                            # full size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planning_data import DAY_START, SLOTS, day_ahead_prices, portfolio

from core.flexoffer import FlexOffer, check_schedule, greedy_plan, plan
from core.flexoffer.planning import Horizon, MinimiseCost, PlanResult
from core.market.baseline import default_schedule_baseline, schedule_series


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_cost(offers: list[FlexOffer], prices: list[float]) -> float:
    """What the portfolio costs when nobody plans it: every offer at its default schedule."""
    total = 0.0
    for offer in offers:
        for moment, energy in default_schedule_baseline(offer).items():
            total += prices[int((moment - DAY_START).total_seconds() // 900)] * energy
    return total


def schedule_cost(offers: list[FlexOffer], result: PlanResult, prices: list[float], only: set[str]) -> float:
    """Cost of the schedules of the offers in ``only`` (to compare plans on the same offers)."""
    total = 0.0
    by_id = {o.id: o for o in offers}
    for key, schedule in result.schedules.items():
        if key in only:
            for moment, energy in schedule_series(by_id[key], schedule).items():
                total += prices[int((moment - DAY_START).total_seconds() // 900)] * energy
    return total


def infeasible(offers: list[FlexOffer], result: PlanResult) -> int:
    return sum(1 for o in offers if o.id in result.schedules and check_schedule(o, result.schedules[o.id]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="offers in the cost-minimised portfolio")
    parser.add_argument("--coupled-n", type=int, default=500, help="offers in the zone-limited comparison (0: skip)")
    parser.add_argument("--limit-share", type=float, default=0.6,
                        help="zone limit as a share of the unconstrained optimal peak")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=1e-3, help="relative MIP gap to prove (0.1 %%)")
    parser.add_argument("--block-size", type=int, default=200, help="offers per independent block; 0 = one model")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    prices = day_ahead_prices()
    horizon = Horizon(DAY_START, SLOTS)
    objective = MinimiseCost(prices=prices)
    started = time.perf_counter()
    offers = portfolio(args.n, seed=args.seed)
    log(f"generated {len(offers)} offers in {time.perf_counter() - started:.1f}s")

    started = time.perf_counter()
    cpu_started = time.process_time()
    block = args.block_size if args.block_size > 0 else len(offers) + 1
    milp = plan(offers, objective, horizon, time_limit=args.time_limit, mip_rel_gap=args.gap, block_size=block)
    milp_seconds = time.perf_counter() - started
    milp_cpu_seconds = time.process_time() - cpu_started
    log(f"MILP: {milp.status} cost {milp.objective_value:.2f} EUR gap {milp.gap:.2e} in {milp_seconds:.1f}s "
        f"({milp.columns} columns, {milp.rows} rows)")

    started = time.perf_counter()
    greedy = greedy_plan(offers, objective, horizon)
    greedy_seconds = time.perf_counter() - started
    log(f"greedy: cost {greedy.objective_value:.2f} EUR in {greedy_seconds:.1f}s")
    unplanned_cost = default_cost(offers, prices)

    figures: dict[str, object] = {
        "offers": len(offers),
        "slots": SLOTS,
        "mean_time_flexibility_slots": float(np.mean([o.time_flexibility().total_seconds() / 900 for o in offers])),
        "milp_status": milp.status,
        "milp_seconds": round(milp_seconds, 2),
        "milp_cpu_seconds": round(milp_cpu_seconds, 2),
        "milp_build_seconds": round(milp.build_seconds, 2),
        "milp_gap": milp.gap,
        "milp_cost_eur": round(milp.objective_value, 4),
        "milp_dual_bound_eur": round(milp.dual_bound, 4),
        "milp_columns": milp.columns,
        "milp_rows": milp.rows,
        "milp_block_size": block,
        "milp_infeasible_schedules": infeasible(offers, milp),
        "greedy_cost_eur": round(greedy.objective_value, 4),
        "greedy_seconds": round(greedy_seconds, 2),
        "greedy_unplanned": len(greedy.unplanned),
        "default_schedule_cost_eur": round(unplanned_cost, 4),
        "milp_saving_vs_greedy_pct": round(100 * (greedy.objective_value - milp.objective_value)
                                           / abs(greedy.objective_value), 4),
        "milp_saving_vs_default_pct": round(100 * (unplanned_cost - milp.objective_value) / abs(unplanned_cost), 4),
        "target_gap_met": bool(milp.gap <= 1e-3),
        "target_time_met": bool(milp_seconds <= 60.0),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }

    if args.coupled_n > 0:
        subset = offers[: args.coupled_n]
        free = plan(subset, objective, horizon, mip_rel_gap=args.gap)
        limit = round(args.limit_share * max(free.slot_energy), 3)
        capped = MinimiseCost(prices=prices, limit=limit)
        started = time.perf_counter()
        coupled = plan(subset, capped, horizon, time_limit=args.time_limit, mip_rel_gap=args.gap)
        coupled_seconds = time.perf_counter() - started
        coupled_greedy = greedy_plan(subset, capped, horizon)
        log(f"zone limit {limit} kWh/slot: MILP {coupled.status} cost {coupled.objective_value:.2f} gap "
            f"{coupled.gap:.2e} in {coupled_seconds:.1f}s; greedy cost {coupled_greedy.objective_value:.2f} "
            f"with {len(coupled_greedy.unplanned)} offers it could not place")
        figures.update({
            "coupled_offers": len(subset),
            "coupled_limit_kwh_per_slot": limit,
            "coupled_milp_status": coupled.status,
            "coupled_milp_seconds": round(coupled_seconds, 2),
            "coupled_milp_gap": coupled.gap,
            "coupled_milp_cost_eur": round(coupled.objective_value, 4),
            "coupled_milp_unplanned": len(coupled.unplanned) if coupled.schedules else len(subset),
            "coupled_milp_peak_kwh": round(max(coupled.slot_energy), 4) if coupled.slot_energy else None,
            "coupled_greedy_cost_eur": round(coupled_greedy.objective_value, 4),
            "coupled_greedy_unplanned": len(coupled_greedy.unplanned),
            # the MILP also places the offers greedy could not; this is its cost on greedy's offers only
            "coupled_milp_cost_on_greedy_offers_eur": round(
                schedule_cost(subset, coupled, prices, set(coupled_greedy.schedules)), 4),
        })
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
