"""Turning a solved clearing into prices, payments, welfare and per-bid results.

Zone prices are the balance-row duals whatever the pricing rule: they are the
marginal value of energy in each zone and MTU (a d-LMP where a line binds) and
measure congestion rent. The rule only decides what each bid is paid: its own
price (pay-as-bid) or the zone price (uniform, pay-as-cleared).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.flexoffer.model import ENERGY_TOLERANCE_KWH
from core.market.models import MarketConfig, PricingRule
from core.market.orderbook import Admission, bid_start, deviation_schedule
from core.market.results import BidResult, BidStatus, ClearingResult

if TYPE_CHECKING:
    from core.market.clearing import Cleared


def _status(cleared_kwh: float, offered_kwh: float) -> BidStatus:
    if cleared_kwh <= ENERGY_TOLERANCE_KWH:
        return BidStatus.REJECTED
    if cleared_kwh >= offered_kwh - max(ENERGY_TOLERANCE_KWH, 1e-9 * offered_kwh):
        return BidStatus.ACCEPTED
    return BidStatus.PARTIAL


def price_and_settle(market: MarketConfig, cleared: Cleared, admission: Admission) -> ClearingResult:
    cb = cleared.compiled
    T = market.mtu_count
    q = cleared.quantities
    n_slices = q.shape[0]
    dur = cb.slice_duration
    # Zone price per slice: mean of the zone prices over the MTUs the slice covers.
    entry_slice = np.repeat(np.arange(n_slices, dtype=np.int64), dur)
    first_entry = np.cumsum(dur) - dur
    entry_mtu = cb.slice_mtu[entry_slice] + (np.arange(entry_slice.shape[0]) - first_entry[entry_slice])
    entry_zone = cb.zone[cb.slice_bid[entry_slice]]
    entry_price = cleared.prices[entry_zone, entry_mtu] if entry_slice.size else np.zeros(0)
    zone_price = np.bincount(entry_slice, weights=entry_price, minlength=n_slices) / np.maximum(dur, 1)
    paid_price = zone_price if market.pricing is PricingRule.UNIFORM else cb.slice_price
    sign = np.where(cb.sell, 1.0, -1.0)[cb.slice_bid]
    n_bids = len(cb.bids)
    amount = np.bincount(cb.slice_bid, weights=q * paid_price, minlength=n_bids)
    cleared_kwh = np.bincount(cb.slice_bid, weights=q, minlength=n_bids)
    offered_kwh = np.bincount(cb.slice_bid, weights=cb.slice_qmax, minlength=n_bids)

    flows = cleared.flows
    transport = float((cleared.clearing.pair_cost[:, None] * flows).sum()) if flows.size else 0.0
    welfare = float(-(sign * cb.slice_price * q).sum()) - transport
    # Buyers' payments minus sellers' revenues at zone prices; net of transport it is congestion rent.
    merchandise = float(-(sign * zone_price * q).sum())
    failed = cleared.solution.values.size == 0

    results: list[BidResult] = []
    for k, bid in enumerate(cb.bids):
        lo, hi = int(cb.first_slice[k]), int(cb.first_slice[k] + cb.slice_count[k])
        quantities = [float(x) for x in q[lo:hi]]
        status = BidStatus.REJECTED if failed else _status(float(cleared_kwh[k]), float(offered_kwh[k]))
        schedule = deviation_schedule(bid, quantities) if status is not BidStatus.REJECTED else None
        volume = float(cleared_kwh[k])
        results.append(
            BidResult(
                bid_id=bid.id,
                bidder=bid.bidder,
                side=bid.side,
                zone=market.zones[int(cb.zone[k])],
                status=status,
                reason=f"clearing failed: {cleared.solution.status}" if failed else None,
                sequence=bid.sequence,
                start=bid_start(bid),
                first_mtu=int(cb.slice_mtu[lo]) if hi > lo else None,
                quantities_kwh=quantities,
                cleared_kwh=volume,
                offered_kwh=float(offered_kwh[k]),
                prices=[float(x) for x in paid_price[lo:hi]],
                average_price=float(amount[k] / volume) if volume > 0 else None,
                amount_eur=float(amount[k]),
                schedule=schedule,
            )
        )
    for bid in admission.refused:
        results.append(
            BidResult(
                bid_id=bid.id,
                bidder=bid.bidder,
                side=bid.side,
                zone=bid.bid_zone,
                status=BidStatus.INVALID,
                reason=admission.rejected.get(bid.id) or admission.rejected.get(bid.id + "#dup"),
                sequence=bid.sequence,
            )
        )

    pair_names = [f"{market.zones[a]}->{market.zones[b]}" for a, b in cleared.clearing.pairs]
    flow_map = {name: [float(x) for x in flows[i]] for i, name in enumerate(pair_names) if flows[i].any()}
    line_flows: dict[str, list[float]] = {}
    if cleared.clearing.pairs and market.lines and not failed:
        pa = np.array([p[0] for p in cleared.clearing.pairs])
        pb = np.array([p[1] for p in cleared.clearing.pairs])
        injection = np.zeros((len(market.zones), T))
        np.add.at(injection, pa, flows)
        np.subtract.at(injection, pb, flows)
        for line in market.lines:
            ptdf = np.array([line.ptdf.get(z, 0.0) for z in market.zones])
            line_flows[line.id] = [float(x) for x in ptdf @ injection]
    return ClearingResult(
        market_id=market.id,
        mode=market.mode,
        pricing=market.pricing,
        status=cleared.solution.status,
        optimal=cleared.solution.optimal,
        mip_gap=float(cleared.solution.mip_gap) if np.isfinite(cleared.solution.mip_gap) else 1.0,
        mtu_start=market.start,
        mtu_seconds=market.mtu_seconds,
        welfare_eur=welfare,
        traded_kwh=float((q * (sign > 0)).sum()),
        transport_cost_eur=transport,
        merchandise_surplus_eur=merchandise,
        congestion_rent_eur=merchandise - transport,
        prices={z: [float(x) for x in cleared.prices[i]] for i, z in enumerate(market.zones)},
        flows_kwh=flow_map,
        line_flows_kwh=line_flows,
        bids=results,
    )

