"""Admission of bids into a market and their compilation into flat arrays.

Admission returns a reason string per refused bid instead of raising: one bad bid
must never stop the market, and the bidder deserves to know exactly why.
Compilation flattens every admitted bid into per-slice numpy arrays once, so the
clearing model is built with array operations rather than a Python loop per slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from core.flexoffer.checks import check_schedule, validate_offer
from core.flexoffer.model import ENERGY_TOLERANCE_KWH, FlexOffer, Schedule, as_utc
from core.market.models import Bid, ClearingMode, GroupKind, MarketConfig, Side

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class BidRejected(ValueError):
    """A bid the market refuses; the message is the reason given to the bidder."""


def _is_simple(offer: FlexOffer) -> bool:
    """Offers whose soundness numpy alone can judge (no polytope, totals or XOR)."""
    return not offer.polytope and offer.total_energy is None and not offer.xor_profiles


def bid_start(bid: Bid) -> datetime:
    """The bid trades with its offer starting at the baseline's start, else the earliest start."""
    offer = bid.offer
    return offer.default_schedule.start if offer.default_schedule is not None else offer.earliest_start


def bid_durations(bid: Bid) -> list[int]:
    offer = bid.offer
    if offer.default_schedule is not None and offer.default_schedule.durations is not None:
        return list(offer.default_schedule.durations)
    return offer.profile.min_durations()


def bid_baseline(bid: Bid) -> list[float]:
    """The default schedule, or the end of the range the bid moves away from.

    Without a default schedule a sell bid starts from its upper bound (it can only
    consume less) and a buy bid from its lower bound (it can only consume more).
    """
    offer = bid.offer
    if offer.default_schedule is not None:
        return list(offer.default_schedule.energy)
    return list(offer.profile.energy_upper if bid.side is Side.SELL else offer.profile.energy_lower)


def max_deviation(bid: Bid) -> list[float]:
    """Largest deviation per slice in the bid's direction (kWh); negative means inconsistent."""
    base = bid_baseline(bid)
    profile = bid.offer.profile
    if bid.side is Side.SELL:
        return [b - lo for b, lo in zip(base, profile.energy_lower, strict=True)]
    return [hi - b for b, hi in zip(base, profile.energy_upper, strict=True)]


def deviation_schedule(bid: Bid, quantities: Sequence[float]) -> Schedule:
    """The flex-offer schedule that delivers ``quantities`` (kWh per slice) of deviation."""
    base = bid_baseline(bid)
    sign = -1.0 if bid.side is Side.SELL else 1.0
    energy = [float(b + sign * q) for b, q in zip(base, quantities, strict=True)]
    return Schedule(start=bid_start(bid), energy=energy, durations=bid_durations(bid), profile_index=0)


def bid_problems(market: MarketConfig, bid: Bid, now: datetime | None = None) -> list[str]:
    """Every reason ``market`` must refuse ``bid``; empty when it may enter the book."""
    problems: list[str] = []
    if now is not None and market.gate_closure is not None and as_utc(now) >= market.gate_closure:
        problems.append(f"gate closed at {market.gate_closure.isoformat()}; bid arrived {as_utc(now).isoformat()}")
    zone = bid.bid_zone
    if zone is None:
        if len(market.zones) != 1:
            problems.append("bid names no zone and the market has several")
    elif zone not in market.zones:
        problems.append(f"unknown zone {zone!r}; the market has {sorted(market.zones)}")
    offer = bid.offer
    profile = offer.profile
    n = profile.slice_count
    if offer.interval_seconds != market.mtu_seconds:
        problems.append(f"offer interval {offer.interval_seconds}s differs from the market MTU {market.mtu_seconds}s")
    prices = bid.prices()
    if len(prices) != n:
        problems.append(f"bid has {len(prices)} slice prices for {n} slices")
    for i, price in enumerate(prices):
        if not np.isfinite(price):
            problems.append(f"slice {i}: price is not a finite number")
        elif abs(price) > market.price_cap:
            problems.append(f"slice {i}: price {price:g} EUR/kWh is outside the market cap ±{market.price_cap:g}")
    if bid.min_activation and bid.max_activation and bid.min_activation > bid.max_activation:
        problems.append("min_activation exceeds max_activation")
    if problems:
        return problems

    start = bid_start(bid)
    offset_s = (start - market.start).total_seconds()
    durations = bid_durations(bid)
    if offset_s < 0 or offset_s % market.mtu_seconds:
        problems.append(f"offer starts at {start.isoformat()}, not on an MTU of the market horizon")
    elif offset_s / market.mtu_seconds + sum(durations) > market.mtu_count:
        problems.append(f"offer runs past the market horizon ending {market.end.isoformat()}")
    inverted = [i for i, (lo, hi) in enumerate(zip(profile.energy_lower, profile.energy_upper, strict=True))
                if lo > hi + ENERGY_TOLERANCE_KWH]
    if inverted:
        return [f"negative quantity: energy bounds are inverted (lower > upper) in slices {inverted[:10]}"]
    if not _is_simple(offer):
        problems.extend(validate_offer(offer))
        if offer.default_schedule is None:
            problems.append("a bid with total-energy or polytopic constraints needs a defaultSchedule as its baseline")
    else:
        lower, upper = np.asarray(profile.energy_lower), np.asarray(profile.energy_upper)
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            problems.append("energy bounds must be finite numbers")
        if offer.default_schedule is not None:
            problems.extend(f"defaultSchedule: {p}" for p in check_schedule(offer, offer.default_schedule))
    if problems:
        return problems
    deviation = max_deviation(bid)
    negative = [i for i, q in enumerate(deviation) if q < -ENERGY_TOLERANCE_KWH]
    if negative:
        problems.append(f"negative quantity: the baseline lies outside the energy bounds in slices {negative[:10]}")
    elif max(deviation) <= ENERGY_TOLERANCE_KWH:
        problems.append("the bid offers no quantity (zero deviation from its baseline in every slice)")
    if problems:
        return problems
    if bid.block or bid.group_kind is GroupKind.LINKED:
        full = check_schedule(offer, deviation_schedule(bid, deviation))
        problems.extend(f"full activation infeasible: {p}" for p in full)
    active = bid.min_activation is not None or bid.max_activation is not None
    if active:
        if bid.block:
            length = sum(1 for q in deviation if q > ENERGY_TOLERANCE_KWH)
            lo, hi = bid.min_activation or 1, bid.max_activation or n
            if not lo <= length <= hi:
                problems.append(f"block activation of {length} slices is outside [{lo}, {hi}]")
        elif not _is_simple(offer):
            problems.append("activation durations cannot be combined with total-energy or polytopic constraints")
        elif bid.group_kind is GroupKind.LINKED:
            problems.append("activation durations cannot be combined with a linked group")
    return problems


@dataclass
class Admission:
    """The outcome of admitting bids: those in the book and why the others are not."""

    bids: list[Bid] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    refused: list[Bid] = field(default_factory=list)


def _group_problems(market: MarketConfig, bids: list[Bid]) -> dict[str, str]:
    out: dict[str, str] = {}
    kinds: dict[str, set[GroupKind]] = {}
    for bid in bids:
        if bid.group is not None and bid.group_kind is not None:
            kinds.setdefault(bid.group, set()).add(bid.group_kind)
    for bid in bids:
        if bid.group is not None and len(kinds[bid.group]) > 1:
            out[bid.id] = f"group {bid.group!r} mixes linked and exclusive members"
    if market.mode is ClearingMode.ONE_SIDED:
        ordered = sorted(bids, key=lambda b: (b.sequence if b.sequence is not None else 0, b.id))
        buyers = [b.bidder for b in ordered if b.side is Side.BUY and b.id not in out]
        if len(set(buyers)) > 1:
            first = buyers[0]  # the buyer who came first owns the one-sided market
            for bid in bids:
                if bid.side is Side.BUY and bid.bidder != first:
                    out[bid.id] = f"a one-sided market has a single buyer ({first!r}); {bid.bidder!r} may only sell"
    return out


def admit(market: MarketConfig, bids: Iterable[Bid], now: datetime | None = None) -> Admission:
    """Check every bid, give each admitted one a time-priority sequence, and report the rest.

    Sequence numbers already on bids (from an earlier submission) are kept; new
    ones follow in arrival order, so re-clearing the stored book is reproducible.
    """
    result = Admission()
    seen: set[str] = set()
    candidates: list[Bid] = []
    next_seq = 0
    incoming = list(bids)
    for bid in incoming:
        if bid.sequence is not None:
            next_seq = max(next_seq, bid.sequence + 1)
    for bid in incoming:
        if bid.id in seen:
            result.rejected[bid.id + "#dup"] = f"duplicate bid id {bid.id!r}"
            result.refused.append(bid)
            continue
        seen.add(bid.id)
        problems = bid_problems(market, bid, now)
        if problems:
            result.rejected[bid.id] = "; ".join(problems)
            result.refused.append(bid)
            continue
        if bid.sequence is None:
            bid = bid.model_copy(update={"sequence": next_seq})
            next_seq += 1
        candidates.append(bid)
    group_issues = _group_problems(market, candidates)
    for bid in candidates:
        if bid.id in group_issues:
            result.rejected[bid.id] = group_issues[bid.id]
            result.refused.append(bid)
        else:
            result.bids.append(bid)
    result.bids.sort(key=lambda b: (b.sequence if b.sequence is not None else 0, b.id))
    return result


@dataclass
class CompiledBids:
    """Admitted bids flattened to one row per slice (arrays indexed by slice)."""

    bids: list[Bid]
    zone: IntArray  # per bid
    sell: npt.NDArray[np.bool_]  # per bid
    first_slice: IntArray  # per bid, offset into the slice arrays
    slice_count: IntArray  # per bid
    slice_bid: IntArray
    slice_qmax: FloatArray
    slice_price: FloatArray
    slice_mtu: IntArray  # first MTU the slice covers
    slice_duration: IntArray


def compile_bids(market: MarketConfig, bids: Sequence[Bid]) -> CompiledBids:
    zone_index = {z: i for i, z in enumerate(market.zones)}
    default_zone = market.zones[0]
    qmax: list[float] = []
    prices: list[float] = []
    durations: list[int] = []
    counts = np.zeros(len(bids), dtype=np.int64)
    zones = np.zeros(len(bids), dtype=np.int64)
    sell = np.zeros(len(bids), dtype=np.bool_)
    start_mtu = np.zeros(len(bids), dtype=np.int64)
    for k, bid in enumerate(bids):
        dev = max_deviation(bid)
        qmax.extend(dev)
        prices.extend(bid.prices())
        durations.extend(bid_durations(bid))
        counts[k] = len(dev)
        zones[k] = zone_index[bid.bid_zone or default_zone]
        sell[k] = bid.side is Side.SELL
        start_mtu[k] = int((bid_start(bid) - market.start).total_seconds()) // market.mtu_seconds
    first = np.zeros(len(bids), dtype=np.int64)
    if len(bids):
        first[1:] = np.cumsum(counts)[:-1]
    slice_bid = np.repeat(np.arange(len(bids), dtype=np.int64), counts)
    dur = np.asarray(durations, dtype=np.int64)
    cum = np.cumsum(dur) - dur  # global offset of each slice's first interval
    within = cum - cum[first][slice_bid] if len(dur) else cum
    return CompiledBids(
        bids=list(bids),
        zone=zones,
        sell=sell,
        first_slice=first,
        slice_count=counts,
        slice_bid=slice_bid,
        slice_qmax=np.clip(np.asarray(qmax, dtype=np.float64), 0.0, None),
        slice_price=np.asarray(prices, dtype=np.float64),
        slice_mtu=start_mtu[slice_bid] + within,
        slice_duration=dur,
    )
