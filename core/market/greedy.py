"""Greedy merit-order clearing: the baseline the optimising market is measured against.

Per zone and MTU, asks are taken cheapest first and bids dearest first (ties by
time priority) while the bid price covers the ask (DESIGN §4). There is no
trade between zones, so line limits are never at risk. A block bid that cannot be
matched in full is dropped and the matching redone without it. Bids with
features merit order cannot express (groups, activation runs, total-energy or
polytopic constraints, multi-interval slices) are left out, which is always
feasible: the greedy answer is a valid, if poor, clearing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.market.models import ClearingMode, MarketConfig
from core.market.orderbook import CompiledBids

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class GreedyResult:
    quantities: FloatArray  # per slice, kWh
    welfare_eur: float
    traded_kwh: float


def _eligible(cb: CompiledBids) -> npt.NDArray[np.bool_]:
    n = len(cb.bids)
    long_slices = np.bincount(cb.slice_bid, weights=(cb.slice_duration != 1), minlength=n) > 0
    simple = np.array(
        [
            b.group is None
            and b.min_activation is None
            and b.max_activation is None
            and b.offer.total_energy is None
            and not b.offer.polytope
            for b in cb.bids
        ],
        dtype=np.bool_,
    )
    return simple & ~long_slices


def _cumulative_start(groups: IntArray, qty: FloatArray) -> FloatArray:
    """For units sorted by group: volume of the group's units before each unit."""
    total = np.cumsum(qty) - qty
    first = np.searchsorted(groups, groups, side="left")
    return total - total[first]


def merit_prices(groups: IntArray, price: FloatArray, qty: FloatArray, sell: npt.NDArray[np.bool_],
                 n_groups: int) -> FloatArray:
    """A guess of each group's clearing price: midway between the marginal ask and bid of its merit order.

    Used to start the sifted LP near its optimum, so any reasonable guess is fine.
    """
    guess = np.zeros(n_groups)
    s_idx, d_idx = np.nonzero(sell)[0], np.nonzero(~sell)[0]
    s_idx = s_idx[np.lexsort((price[s_idx], groups[s_idx]))]
    d_idx = d_idx[np.lexsort((-price[d_idx], groups[d_idx]))]
    sg, sp, sq = groups[s_idx], price[s_idx], qty[s_idx]
    dg, dp, dq = groups[d_idx], price[d_idx], qty[d_idx]
    span = 4.0 * (float(np.abs(price).max(initial=0.0)) + 1.0)
    matched = _match(np.concatenate((sg, dg)), np.concatenate((sp, dp)), np.concatenate((sq, dq)),
                     np.concatenate((np.ones(sg.size, np.bool_), np.zeros(dg.size, np.bool_))),
                     np.arange(sg.size + dg.size, dtype=np.int64), n_groups, span)
    ask = np.full(n_groups, np.nan)
    bid = np.full(n_groups, np.nan)
    # Marginal units: the dearest matched ask and the cheapest matched bid; else the best unmatched ones.
    s_hit, d_hit = matched[: sg.size] > 0, matched[sg.size:] > 0
    np.fmax.at(ask, sg[s_hit], sp[s_hit])
    np.fmin.at(bid, dg[d_hit], dp[d_hit])
    first_ask = np.full(n_groups, np.nan)
    np.fmin.at(first_ask, sg, sp)
    first_bid = np.full(n_groups, np.nan)
    np.fmax.at(first_bid, dg, dp)
    ask = np.where(np.isnan(ask), first_ask, ask)
    bid = np.where(np.isnan(bid), first_bid, bid)
    both = ~np.isnan(ask) & ~np.isnan(bid)
    guess[both] = 0.5 * (ask[both] + bid[both])
    only_ask = ~np.isnan(ask) & np.isnan(bid)
    guess[only_ask] = ask[only_ask]
    only_bid = np.isnan(ask) & ~np.isnan(bid)
    guess[only_bid] = bid[only_bid]
    return guess


def _match(groups: IntArray, price: FloatArray, qty: FloatArray, sell: npt.NDArray[np.bool_],
           rank: IntArray, n_groups: int, price_span: float) -> FloatArray:
    """Merit-order matched quantity for every unit, all groups at once."""
    out = np.zeros(qty.shape[0])
    s_idx = np.nonzero(sell)[0]
    d_idx = np.nonzero(~sell)[0]
    if s_idx.size == 0 or d_idx.size == 0:
        return out
    s_idx = s_idx[np.lexsort((rank[s_idx], price[s_idx], groups[s_idx]))]
    d_idx = d_idx[np.lexsort((rank[d_idx], -price[d_idx], groups[d_idx]))]
    sg, sp, sq = groups[s_idx], price[s_idx], qty[s_idx]
    dg, dp, dq = groups[d_idx], price[d_idx], qty[d_idx]
    s_start = _cumulative_start(sg, sq)
    d_start = _cumulative_start(dg, dq)
    # Demand volume willing to pay at least each ask, inside the ask's own group.
    d_key = dg * price_span - dp
    upto = np.searchsorted(d_key, sg * price_span - sp, side="right")
    prefix = np.concatenate(([0.0], np.cumsum(dq)))
    group_first = np.searchsorted(dg, sg, side="left")
    willing = prefix[upto] - prefix[group_first]
    reach = np.where(willing > s_start, np.minimum(s_start + sq, willing), 0.0)
    volume = np.zeros(n_groups)
    np.maximum.at(volume, sg, reach)
    out[s_idx] = np.clip(volume[sg] - s_start, 0.0, sq)
    out[d_idx] = np.clip(volume[dg] - d_start, 0.0, dq)
    return out


def greedy_clear(market: MarketConfig, cb: CompiledBids) -> GreedyResult:
    T = market.mtu_count
    pool = market.mode is ClearingMode.TWO_SIDED
    active = _eligible(cb)
    n_slices = cb.slice_bid.shape[0]
    zone = np.zeros(n_slices, dtype=np.int64) if pool else cb.zone[cb.slice_bid]
    groups_all = zone * T + cb.slice_mtu
    n_groups = (1 if pool else len(market.zones)) * T
    sell_all = cb.sell[cb.slice_bid]
    rank_all = cb.slice_bid  # bids are compiled in time-priority order
    block = np.array([b.block for b in cb.bids], dtype=np.bool_)
    span = 4.0 * (market.price_cap + 1.0)
    q = np.zeros(n_slices)
    while True:
        units = np.nonzero(active[cb.slice_bid] & (cb.slice_qmax > 0))[0]
        q = np.zeros(n_slices)
        q[units] = _match(groups_all[units], cb.slice_price[units], cb.slice_qmax[units], sell_all[units],
                          rank_all[units], n_groups, span)
        short = (q < cb.slice_qmax - 1e-9) & active[cb.slice_bid]
        unmet = np.bincount(cb.slice_bid[short], minlength=len(cb.bids)) > 0
        drop = unmet & block & active
        if not drop.any():
            break
        active &= ~drop
    sign = np.where(sell_all, 1.0, -1.0)
    welfare = float(-(sign * cb.slice_price * q).sum())
    return GreedyResult(quantities=q, welfare_eur=welfare, traded_kwh=float(q[sell_all].sum()))
