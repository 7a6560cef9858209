"""Benchmark FMAR clearing against the greedy merit-order baseline (issue 4).

Many-to-many market: N bids x T MTUs over Z zones with a full transport-cost
matrix, a few PTDF lines and a share of block bids, cleared to a proven MIP gap;
in the same run the greedy merit order clears the same book. Then a larger
book of divisible bids only (an LP) is cleared and timed.

Prints one final JSON line. ``--quick`` runs a small size for smoke tests.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

import numpy as np

from core.market.builders import quantity_bid
from core.market.clearing import solve_book
from core.market.greedy import greedy_clear
from core.market.models import Bid, ClearingMode, Line, MarketConfig, Side
from core.market.orderbook import admit, compile_bids

START = datetime(2030, 1, 1, tzinfo=UTC)


def make_market(zones: int, mtus: int, lines: int, rng: np.random.Generator, gap: float) -> MarketConfig:
    names = [f"Z{i:02d}" for i in range(zones)]
    cost = {a: {b: round(float(rng.uniform(0.005, 0.03)), 4) for b in names if b != a} for a in names}
    grid = [
        Line(
            id=f"L{k}",
            limit_kwh=float(rng.uniform(50, 200)),
            ptdf={z: round(float(rng.uniform(-0.5, 0.5)), 3) for z in names},
        )
        for k in range(lines)
    ]
    return MarketConfig(
        id="bench", mode=ClearingMode.MANY_TO_MANY, start=START, mtu_count=mtus, zones=names,
        transport_cost=cost, lines=grid, price_cap=10.0, mip_rel_gap=gap, time_limit_s=120.0,
    )


def make_bids(market: MarketConfig, count: int, slices: int, block_share: float,
              rng: np.random.Generator) -> list[Bid]:
    bids: list[Bid] = []
    T = market.mtu_count
    for k in range(count):
        side = Side.SELL if rng.random() < 0.5 else Side.BUY
        n = min(slices, T)
        first = int(rng.integers(0, T - n + 1))
        level = rng.uniform(0.05, 0.25) if side is Side.SELL else rng.uniform(0.10, 0.30)
        prices = np.round(level + rng.normal(0.0, 0.02, n), 4).clip(-1.0, 1.0)
        qty = np.round(rng.uniform(0.5, 10.0, n), 3)
        bids.append(
            quantity_bid(
                f"b{k}", side, market.mtu_start(first), qty.tolist(), prices.tolist(),
                zone=market.zones[int(rng.integers(0, len(market.zones)))],
                block=bool(rng.random() < block_share), sequence=k, mtu_seconds=market.mtu_seconds,
            )
        )
    return bids


def run_case(market: MarketConfig, bids: list[Bid], with_greedy: bool) -> dict[str, float | int | str | bool]:
    t0 = time.perf_counter()
    admission = admit(market, bids)
    compiled = compile_bids(market, admission.bids)
    t1 = time.perf_counter()
    cleared = solve_book(market, compiled)
    t2 = time.perf_counter()
    sign = np.where(compiled.sell, 1.0, -1.0)[compiled.slice_bid]
    transport = float((cleared.clearing.pair_cost[:, None] * cleared.flows).sum()) if cleared.flows.size else 0.0
    welfare = float(-(sign * compiled.slice_price * cleared.quantities).sum()) - transport
    out: dict[str, float | int | str | bool] = {
        "bids": len(compiled.bids),
        "rejected_on_admission": len(admission.rejected),
        "columns": cleared.clearing.model.num_cols,
        "rows": cleared.clearing.model.num_rows,
        "status": cleared.solution.status,
        "is_mip": cleared.solution.is_mip,
        "mip_gap": cleared.solution.mip_gap,
        "welfare_eur": round(welfare, 4),
        "admit_compile_s": round(t1 - t0, 3),
        "clear_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "sift_rounds": cleared.solution.rounds,
    }
    if with_greedy:
        t3 = time.perf_counter()
        greedy = greedy_clear(market, compiled)
        t4 = time.perf_counter()
        out.update(
            greedy_welfare_eur=round(greedy.welfare_eur, 4),
            greedy_s=round(t4 - t3, 3),
            welfare_ratio=round(welfare / greedy.welfare_eur, 6) if greedy.welfare_eur > 0 else float("inf"),
            time_ratio=round((t2 - t1) / max(t4 - t3, 1e-9), 3),
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bids", type=int, default=10_000)
    parser.add_argument("--mtus", type=int, default=96)
    parser.add_argument("--slices", type=int, default=96, help="slices per bid (MTUs each bid spans)")
    parser.add_argument("--zones", type=int, default=20)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--block-share", type=float, default=0.10)
    parser.add_argument("--gap", type=float, default=1e-4)
    parser.add_argument("--lp-bids", type=int, default=100_000)
    parser.add_argument("--lp-slices", type=int, default=96)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.bids, args.lp_bids, args.zones, args.slices, args.lp_slices = 300, 1_000, 5, 24, 24
    rng = np.random.default_rng(args.seed)
    market = make_market(args.zones, args.mtus, args.lines, rng, args.gap)
    mip = run_case(market, make_bids(market, args.bids, args.slices, args.block_share, rng), with_greedy=True)
    mip["target_s"] = 30.0
    mip["meets_target"] = bool(float(mip["total_s"]) <= 30.0 and float(mip["mip_gap"]) <= 1e-4)
    print(json.dumps({"case": "mip", **mip}), flush=True)
    lp_bids = make_bids(market, args.lp_bids, args.lp_slices, 0.0, rng)
    lp = run_case(market, lp_bids, with_greedy=False)
    del lp_bids
    print(json.dumps({"case": "lp", **lp}), flush=True)
    try:
        import os

        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        load = float("nan")
    summary = {
        "bench": "fmar_clearing",
        "mip_bids": args.bids, "mtus": args.mtus, "zones": args.zones, "lines": args.lines,
        "block_share": args.block_share, "slices_per_bid": args.slices,
        "mip_clear_s": mip["clear_s"], "mip_total_s": mip["total_s"], "mip_gap": mip["mip_gap"],
        "mip_status": mip["status"],
        "welfare_eur": mip["welfare_eur"], "greedy_welfare_eur": mip["greedy_welfare_eur"],
        "welfare_ratio": mip["welfare_ratio"], "greedy_s": mip["greedy_s"], "time_ratio": mip["time_ratio"],
        "meets_target": mip["meets_target"],
        "lp_bids": args.lp_bids, "lp_slices_per_bid": args.lp_slices,
        "lp_clear_s": lp["clear_s"], "lp_total_s": lp["total_s"],
        "lp_status": lp["status"], "lp_columns": lp["columns"],
        "admit_compile_s": {"mip": mip["admit_compile_s"], "lp": lp["admit_compile_s"]},
        "load_average_1m": round(load, 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
