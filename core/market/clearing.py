"""Market clearing as one welfare LP/MILP, built in bulk and solved with HiGHS.

All three modes share the model: a column per traded quantity, a balance row per
zone and MTU (one pool row per MTU in the two-sided pool), commercial flows between
zones priced at their transport cost, and PTDF line limits on the resulting zone
injections. Minimising ``asks - bids + transport`` maximises social welfare; the
balance-row duals are the zone prices. Block and grouped bids add binaries; their
prices come from the LP re-solved with those binaries fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from core.market.greedy import merit_prices
from core.market.lpmodel import INF, LinearModel, Solution, solve
from core.market.models import Bid, ClearingMode, GroupKind, MarketConfig, OrderBook, Side
from core.market.orderbook import CompiledBids, admit, bid_baseline, compile_bids
from core.market.pricing import price_and_settle
from core.market.results import ClearingResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TIE_BREAK_SPREAD = 1e-5
"""EUR/kWh spread across the whole book: the earliest bid gets 0, the latest this much.

It makes time priority decide between equal prices while staying far below any
price step a market would quote.
"""


@dataclass
class ClearingModel:
    """The LP plus the map from its columns and rows back to bids, zones and lines."""

    model: LinearModel
    slice_col: IntArray
    slice_mult: FloatArray
    balance_rows: IntArray  # (balance zones x MTUs), row-major
    pool: bool
    pairs: list[tuple[int, int]]
    flow_cols: IntArray  # (pairs x MTUs)
    pair_cost: FloatArray


def _tie_break(count: int) -> FloatArray:
    if count <= 1:
        return np.zeros(count)
    return TIE_BREAK_SPREAD * np.arange(count, dtype=np.float64) / (count - 1)


def _units(bids: list[Bid]) -> tuple[IntArray, list[bool]]:
    """Unit index per bid (-1 for none): a block bid, or a whole linked group, is one unit."""
    unit = np.full(len(bids), -1, dtype=np.int64)
    integer: list[bool] = []
    linked: dict[str, int] = {}
    for k, bid in enumerate(bids):
        if bid.group is not None and bid.group_kind is GroupKind.LINKED:
            if bid.group not in linked:
                linked[bid.group] = len(integer)
                integer.append(False)
            unit[k] = linked[bid.group]
            integer[unit[k]] = integer[unit[k]] or bid.block
        elif bid.block:
            unit[k] = len(integer)
            integer.append(True)
    return unit, integer


def build_model(market: MarketConfig, cb: CompiledBids) -> ClearingModel:
    m = LinearModel()
    bids = cb.bids
    T = market.mtu_count
    pool = market.mode is ClearingMode.TWO_SIDED
    n_zones = 1 if pool else len(market.zones)
    n_slices = cb.slice_bid.shape[0]
    sign = np.where(cb.sell, 1.0, -1.0)
    slice_sign = sign[cb.slice_bid]
    cost = slice_sign * cb.slice_price
    tie = _tie_break(len(bids))[cb.slice_bid] if n_slices else np.zeros(0)

    unit, unit_integer = _units(bids)
    activation = np.array(
        [
            (b.min_activation is not None or b.max_activation is not None) and not b.block and unit[k] < 0
            for k, b in enumerate(bids)
        ],
        dtype=np.bool_,
    )
    slice_unit = unit[cb.slice_bid] if n_slices else np.zeros(0, dtype=np.int64)
    in_unit = slice_unit >= 0
    in_activation = activation[cb.slice_bid] if n_slices else np.zeros(0, dtype=np.bool_)
    plain = ~in_unit & ~in_activation

    slice_col = np.zeros(n_slices, dtype=np.int64)
    slice_mult = np.ones(n_slices, dtype=np.float64)
    slice_col[plain] = m.add_cols(cost[plain], 0.0, cb.slice_qmax[plain], tie=tie[plain])
    if unit_integer:
        unit_cost = np.bincount(
            slice_unit[in_unit], weights=(cost * cb.slice_qmax)[in_unit], minlength=len(unit_integer)
        )
        unit_tie = np.bincount(
            slice_unit[in_unit], weights=(tie * cb.slice_qmax)[in_unit], minlength=len(unit_integer)
        )
        integer_units = np.asarray(unit_integer, dtype=np.bool_)
        unit_cols = np.zeros(len(unit_integer), dtype=np.int64)
        for flag in (False, True):
            chosen = integer_units == flag
            if chosen.any():
                unit_cols[chosen] = m.add_cols(unit_cost[chosen], 0.0, 1.0, integer=flag, tie=unit_tie[chosen])
        slice_col[in_unit] = unit_cols[slice_unit[in_unit]]
        slice_mult[in_unit] = cb.slice_qmax[in_unit]
    if in_activation.any():
        slice_col[in_activation] = m.add_cols(
            (cost * cb.slice_qmax)[in_activation], 0.0, 1.0, integer=True, tie=(tie * cb.slice_qmax)[in_activation]
        )
        slice_mult[in_activation] = cb.slice_qmax[in_activation]

    # Balance rows: supply - demand + inflow - outflow = 0 per (zone, MTU).
    balance_rows = m.add_rows(0.0, 0.0, count=n_zones * T)
    dur = cb.slice_duration
    entry_slice = np.repeat(np.arange(n_slices, dtype=np.int64), dur)
    first_entry = np.cumsum(dur) - dur
    entry_mtu = cb.slice_mtu[entry_slice] + (np.arange(entry_slice.shape[0]) - first_entry[entry_slice])
    entry_zone = np.zeros_like(entry_slice) if pool else cb.zone[cb.slice_bid[entry_slice]]
    m.add_entries(
        balance_rows[entry_zone * T + entry_mtu],
        slice_col[entry_slice],
        (slice_sign * slice_mult / dur)[entry_slice],
    )

    pairs: list[tuple[int, int]] = []
    pair_cost: list[float] = []
    flow_cols = np.zeros((0, T), dtype=np.int64)
    if not pool:
        zone_index = {z: i for i, z in enumerate(market.zones)}
        for a in sorted(market.transport_cost, key=zone_index.__getitem__):
            row = market.transport_cost[a]
            for b in sorted(row, key=zone_index.__getitem__):
                if a != b:
                    pairs.append((zone_index[a], zone_index[b]))
                    pair_cost.append(row[b])
    if pairs:
        pa = np.array([p[0] for p in pairs], dtype=np.int64)
        pb = np.array([p[1] for p in pairs], dtype=np.int64)
        flow_cols = m.add_cols(np.repeat(np.asarray(pair_cost), T), 0.0, INF).reshape(len(pairs), T)
        t = np.arange(T, dtype=np.int64)
        m.add_entries(balance_rows[(pa[:, None] * T + t).ravel()], flow_cols.ravel(), -1.0)
        m.add_entries(balance_rows[(pb[:, None] * T + t).ravel()], flow_cols.ravel(), 1.0)
        for line in market.lines:
            factor = np.array(
                [line.ptdf.get(market.zones[a], 0.0) - line.ptdf.get(market.zones[b], 0.0) for a, b in pairs]
            )
            used = np.nonzero(factor)[0]
            line_rows = m.add_rows(-line.limit_kwh, line.limit_kwh, count=T)
            if used.size:
                m.add_entries(
                    np.tile(line_rows, used.size), flow_cols[used].ravel(), np.repeat(factor[used], T)
                )

    _add_bid_constraints(m, market, cb, slice_col, activation)
    return ClearingModel(
        model=m,
        slice_col=slice_col,
        slice_mult=slice_mult,
        balance_rows=balance_rows,
        pool=pool,
        pairs=pairs,
        flow_cols=flow_cols,
        pair_cost=np.asarray(pair_cost, dtype=np.float64),
    )


def _add_bid_constraints(
    m: LinearModel, market: MarketConfig, cb: CompiledBids, slice_col: IntArray, activation: npt.NDArray[np.bool_]
) -> None:
    """Per-bid rows: totals, polytopes, activation runs and exclusive groups (rare: a loop is fine)."""
    exclusive: dict[str, list[tuple[IntArray, FloatArray]]] = {}
    for k, bid in enumerate(cb.bids):
        lo = int(cb.first_slice[k])
        n = int(cb.slice_count[k])
        cols = slice_col[lo : lo + n]
        qmax = cb.slice_qmax[lo : lo + n]
        s = -1.0 if bid.side is Side.SELL else 1.0
        plain = not bid.block and not activation[k] and bid.group_kind is not GroupKind.LINKED
        offer = bid.offer
        if plain and (offer.total_energy is not None or offer.polytope):
            base = np.asarray(bid_baseline(bid))
            if offer.total_energy is not None:
                row = m.add_rows(offer.total_energy.lower - base.sum(), offer.total_energy.upper - base.sum())
                m.add_entries(np.repeat(row, n), cols, s)
            for constraint in offer.polytope:
                a = np.asarray(constraint.coefficients, dtype=np.float64)
                row = m.add_rows(-INF, constraint.bound - float(a @ base))
                m.add_entries(np.repeat(row, n), cols, s * a)
        indicator: tuple[IntArray, FloatArray] | None = None
        if activation[k]:
            starts = m.add_cols(np.zeros(n), 0.0, 1.0)
            # s_i - u_i + u_{i-1} >= 0: a run begins wherever u switches on.
            rows = m.add_rows(0.0, INF, count=n)
            m.add_entries(rows, starts, 1.0)
            m.add_entries(rows, cols, -1.0)
            m.add_entries(rows[1:], cols[:-1], 1.0)
            one_run = m.add_rows(-INF, 1.0)
            m.add_entries(np.repeat(one_run, n), starts, 1.0)
            lo_act, hi_act = bid.min_activation or 1, bid.max_activation or n
            length = m.add_rows([0.0, -INF], [INF, 0.0])
            m.add_entries(np.repeat(length, n), np.tile(cols, 2), 1.0)
            m.add_entries(np.repeat(length, n), np.tile(starts, 2), np.repeat([-lo_act, -hi_act], n))
            indicator = (starts, np.ones(n))
        elif bid.block:
            indicator = (cols[:1], np.ones(1))
        elif bid.group_kind is GroupKind.EXCLUSIVE:
            z = m.add_cols(np.zeros(1), 0.0, 1.0, integer=True)
            rows = m.add_rows(-INF, 0.0, count=n)
            m.add_entries(rows, cols, 1.0)
            m.add_entries(rows, np.repeat(z, n), -qmax)
            indicator = (z, np.ones(1))
        if bid.group is not None and bid.group_kind is GroupKind.EXCLUSIVE and indicator is not None:
            exclusive.setdefault(bid.group, []).append(indicator)
    for group in sorted(exclusive):
        row = m.add_rows(-INF, 1.0)
        for cols, vals in exclusive[group]:
            m.add_entries(np.repeat(row, cols.shape[0]), cols, vals)


@dataclass
class Cleared:
    """Raw clearing output in array form, before it becomes per-bid results."""

    compiled: CompiledBids
    clearing: ClearingModel
    solution: Solution
    quantities: FloatArray  # per slice, kWh
    prices: FloatArray  # (zones x MTUs)
    flows: FloatArray  # (pairs x MTUs)


def _price_guess(market: MarketConfig, cb: CompiledBids, clearing: ClearingModel) -> FloatArray:
    """Row-dual guess for sifting: each MTU's pooled merit-order price on every balance row."""
    guess = np.zeros(clearing.model.num_rows)
    if cb.slice_bid.shape[0] == 0:
        return guess
    T = market.mtu_count
    pool_price = merit_prices(cb.slice_mtu, cb.slice_price, cb.slice_qmax, cb.sell[cb.slice_bid], T)
    rows = clearing.balance_rows.reshape(-1, T)
    guess[rows] = pool_price[None, :]
    return guess


def solve_book(market: MarketConfig, cb: CompiledBids) -> Cleared:
    clearing = build_model(market, cb)
    guess = _price_guess(market, cb, clearing)
    solution = solve(clearing.model, market.mip_rel_gap, market.time_limit_s, dual_guess=guess)
    T = market.mtu_count
    if solution.values.size == 0:
        zero = np.zeros(cb.slice_bid.shape[0])
        return Cleared(cb, clearing, solution, zero, np.zeros((len(market.zones), T)), np.zeros((0, T)))
    q = solution.values[clearing.slice_col] * clearing.slice_mult
    q = np.clip(q, 0.0, cb.slice_qmax)
    q[q < 1e-9] = 0.0
    near_full = cb.slice_qmax - q < 1e-9
    q[near_full] = cb.slice_qmax[near_full]
    duals = solution.row_duals[clearing.balance_rows].reshape(-1, T)
    prices = np.repeat(duals, len(market.zones), axis=0) if clearing.pool else duals
    flows = (
        np.clip(solution.values[clearing.flow_cols], 0.0, None) if clearing.pairs else np.zeros((0, T))
    )
    return Cleared(cb, clearing, solution, q, prices, flows)


def clear(book: OrderBook, now: datetime | None = None) -> ClearingResult:
    """Admit the book's bids, clear them and price the outcome.

    ``now`` enforces gate closure on admission; clearing a stored book passes
    ``None`` because its bids were admitted when they arrived.
    """
    market = book.market
    admission = admit(market, book.all_bids(), now)
    compiled = compile_bids(market, admission.bids)
    cleared = solve_book(market, compiled)
    return price_and_settle(market, cleared, admission)

