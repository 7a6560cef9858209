"""Short-hand constructors for the most common bid: a fixed-start quantity profile.

Benchmarks, tests, documentation examples and simple gateways all need "sell up to
q_t kWh at p_t EUR/kWh from this start"; building the flex-offer by hand each time
invites inconsistent baselines, so it lives here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.flexoffer.model import FlexOffer, Profile, Schedule
from core.market.models import DEFAULT_MTU_SECONDS, Bid, GroupKind, Side


def quantity_offer(
    offer_id: str,
    side: Side,
    start: datetime,
    quantities_kwh: Sequence[float],
    zone: str | None = None,
    mtu_seconds: int = DEFAULT_MTU_SECONDS,
    owner: str | None = None,
) -> FlexOffer:
    """A fixed-start flex-offer that can deviate from a zero baseline by up to ``quantities_kwh``.

    A sell offer may go down to ``-q`` (produce, or consume less than planned), a buy
    offer up to ``+q`` (consume more), in load convention.
    """
    n = len(quantities_kwh)
    if side is Side.SELL:
        lower, upper = [-float(q) for q in quantities_kwh], [0.0] * n
    else:
        lower, upper = [0.0] * n, [float(q) for q in quantities_kwh]
    return FlexOffer(
        id=offer_id,
        offered_by=owner,
        zone=zone,
        earliest_start=start,
        latest_start=start,
        interval_seconds=mtu_seconds,
        profile=Profile(energy_lower=lower, energy_upper=upper),
        default_schedule=Schedule(start=start, energy=[0.0] * n),
    )


def quantity_bid(
    bid_id: str,
    side: Side,
    start: datetime,
    quantities_kwh: Sequence[float],
    prices: Sequence[float] | float,
    zone: str | None = None,
    bidder: str | None = None,
    block: bool = False,
    group: str | None = None,
    group_kind: GroupKind | None = None,
    min_activation: int | None = None,
    max_activation: int | None = None,
    sequence: int | None = None,
    mtu_seconds: int = DEFAULT_MTU_SECONDS,
) -> Bid:
    """A bid on :func:`quantity_offer`; a single price becomes a linear price per kWh."""
    owner = bidder or bid_id
    offer = quantity_offer(bid_id, side, start, quantities_kwh, zone, mtu_seconds, owner)
    per_slice = None if isinstance(prices, int | float) else [float(p) for p in prices]
    return Bid(
        id=bid_id,
        bidder=owner,
        side=side,
        offer=offer,
        zone=zone,
        slice_prices=per_slice,
        linear_price=float(prices) if isinstance(prices, int | float) else None,
        block=block,
        group=group,
        group_kind=group_kind,
        min_activation=min_activation,
        max_activation=max_activation,
        sequence=sequence,
    )
