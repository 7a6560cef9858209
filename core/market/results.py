"""Clearing results, their canonical JSON form, and the answer each bidder receives.

The canonical form (sorted keys, fixed separators, floats rounded to 1e-9 and no
negative zero) is what makes "re-clearing the stored inputs gives a byte-identical
result" checkable: compare the bytes, not the objects.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.flexoffer.lifecycle import assign, transition
from core.flexoffer.model import FlexOffer, OfferState, Schedule
from core.market.models import ClearingMode, PricingRule, Side

FLOAT_DIGITS = 9


class BidStatus(StrEnum):
    ACCEPTED = "accepted"
    PARTIAL = "partially_accepted"
    REJECTED = "rejected"
    INVALID = "invalid"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BidResult(_Model):
    """One bid's outcome. Quantities and prices are per slice of the bid's offer."""

    bid_id: str
    bidder: str
    side: Side
    zone: str | None = None
    status: BidStatus
    reason: str | None = None
    sequence: int | None = None
    start: datetime | None = None
    first_mtu: int | None = None
    quantities_kwh: list[float] = Field(default_factory=list)
    cleared_kwh: float = 0.0
    offered_kwh: float = 0.0
    prices: list[float] = Field(default_factory=list)
    average_price: float | None = None
    amount_eur: float = 0.0
    schedule: Schedule | None = None


class ClearingResult(_Model):
    """Everything a clearing decided. ``prices[zone][t]`` is EUR/kWh for MTU ``t``."""

    market_id: str
    mode: ClearingMode
    pricing: PricingRule
    status: str
    optimal: bool
    mip_gap: float = 0.0
    mtu_start: datetime
    mtu_seconds: int
    welfare_eur: float = 0.0
    traded_kwh: float = 0.0
    transport_cost_eur: float = 0.0
    merchandise_surplus_eur: float = 0.0
    congestion_rent_eur: float = 0.0
    prices: dict[str, list[float]] = Field(default_factory=dict)
    flows_kwh: dict[str, list[float]] = Field(default_factory=dict)
    line_flows_kwh: dict[str, list[float]] = Field(default_factory=dict)
    bids: list[BidResult] = Field(default_factory=list)

    def bid(self, bid_id: str) -> BidResult:
        for item in self.bids:
            if item.bid_id == bid_id:
                return item
        raise KeyError(bid_id)


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = round(value, FLOAT_DIGITS)
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def canonical_json(result: ClearingResult) -> str:
    """The one serialisation used for storage, audit and byte-for-byte comparison."""
    data = _canonical(result.model_dump(mode="json"))
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def offer_outcome(offer: FlexOffer, outcome: BidResult, now: datetime) -> FlexOffer:
    """Move the bid's flex-offer through the FlexOffer lifecycle to match the market's decision.

    Accepted (fully or partly) offers are accepted and then assigned the cleared
    schedule; the others are rejected. An offer still in ``initial`` is first
    marked offered, since being in the order book *is* having been offered.
    """
    if offer.state is OfferState.INITIAL:
        offer = transition(offer, OfferState.OFFERED, now)
    if outcome.status in (BidStatus.ACCEPTED, BidStatus.PARTIAL) and outcome.schedule is not None:
        offer = transition(offer, OfferState.ACCEPTED, now)
        return assign(offer, outcome.schedule, now)
    return transition(offer, OfferState.REJECTED, now)
