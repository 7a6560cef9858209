"""Market configuration, bids and DSO/BRP requests for FMAR (F2.FMAR1-7).

A bid trades *deviation from a baseline*: a sell bid delivers energy to its zone
by consuming less (or producing more) than its baseline, a buy bid takes energy by
consuming more. Expressing both sides as a non-negative quantity per MTU keeps the
clearing LP a plain supply/demand balance whatever the load-convention signs of
the underlying flex-offers are.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.flexoffer.model import FlexOffer, Profile, Schedule, as_utc

DEFAULT_MTU_SECONDS = 900


class ClearingMode(StrEnum):
    ONE_SIDED = "one_sided"
    TWO_SIDED = "two_sided"
    MANY_TO_MANY = "many_to_many"


class PricingRule(StrEnum):
    PAY_AS_BID = "pay_as_bid"
    UNIFORM = "uniform"


class Side(StrEnum):
    SELL = "sell"
    BUY = "buy"


class GroupKind(StrEnum):
    LINKED = "linked"
    EXCLUSIVE = "exclusive"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Line(_Model):
    """A grid line (or transformer) whose flow is a PTDF-weighted sum of zone injections.

    ``limit_kwh`` bounds the flow in both directions per MTU (energy per MTU, like
    every market quantity); ``ptdf`` maps zone -> power transfer distribution factor
    (zones left out have factor 0).
    """

    id: str
    limit_kwh: float = Field(ge=0)
    ptdf: dict[str, float]


class MarketConfig(_Model):
    """What a market trades, where and how it prices.

    ``transport_cost[a][b]`` (EUR/kWh) is the cost of delivering from zone ``a`` to
    zone ``b``; a pair left out cannot trade (implicit capacity trading: the cost
    is simply part of the matched price). ``price_cap`` bounds every bid price in
    absolute value.
    """

    id: str = "market"
    name: str | None = None
    mode: ClearingMode = ClearingMode.MANY_TO_MANY
    pricing: PricingRule = PricingRule.UNIFORM
    mtu_seconds: int = DEFAULT_MTU_SECONDS
    start: datetime
    mtu_count: int = Field(default=96, ge=1, le=100_000)
    gate_closure: datetime | None = None
    zones: list[str] = Field(default_factory=lambda: ["default"], min_length=1)
    transport_cost: dict[str, dict[str, float]] = Field(default_factory=dict)
    lines: list[Line] = Field(default_factory=list)
    price_cap: float = Field(default=10.0, gt=0)
    mip_rel_gap: float = Field(default=1e-4, gt=0, le=1)
    time_limit_s: float | None = Field(default=None, gt=0)

    @field_validator("start", "gate_closure")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_validator("mtu_seconds")
    @classmethod
    def _divides_hour(cls, value: int) -> int:
        if value <= 0 or 3600 % value != 0:
            raise ValueError("the MTU must be a positive divisor of one hour (in seconds)")
        return value

    @model_validator(mode="after")
    def _known_zones(self) -> MarketConfig:
        zones = set(self.zones)
        if len(zones) != len(self.zones):
            raise ValueError("zone names must be unique")
        for a, row in self.transport_cost.items():
            for b, cost in row.items():
                if a not in zones or b not in zones:
                    raise ValueError(f"transport cost {a}->{b} names an unknown zone")
                if cost < 0:
                    raise ValueError(f"transport cost {a}->{b} is negative")
        for line in self.lines:
            unknown = set(line.ptdf) - zones
            if unknown:
                raise ValueError(f"line {line.id} has PTDFs for unknown zones {sorted(unknown)}")
        return self

    @property
    def mtu(self) -> timedelta:
        return timedelta(seconds=self.mtu_seconds)

    @property
    def end(self) -> datetime:
        return self.start + self.mtu * self.mtu_count

    def mtu_start(self, index: int) -> datetime:
        return self.start + self.mtu * index


class Bid(_Model):
    """A priced flex-offer.

    Price either per slice (``slice_prices``, EUR/kWh of deviation) or one
    ``linear_price`` per kWh of deviation from the baseline. ``sequence`` is the
    time priority: lower goes first among equal prices; it is assigned by the order
    book on submission when not given.
    """

    id: str
    bidder: str
    side: Side
    offer: FlexOffer
    zone: str | None = None
    slice_prices: list[float] | None = None
    linear_price: float | None = None
    block: bool = False
    group: str | None = None
    group_kind: GroupKind | None = None
    min_activation: int | None = Field(default=None, ge=1)
    max_activation: int | None = Field(default=None, ge=1)
    sequence: int | None = None
    submitted_at: datetime | None = None

    @field_validator("submitted_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _one_price(self) -> Bid:
        if (self.slice_prices is None) == (self.linear_price is None):
            raise ValueError("a bid needs exactly one of slice_prices or linear_price")
        if self.group is not None and self.group_kind is None:
            raise ValueError("a bid in a group needs group_kind (linked or exclusive)")
        return self

    @property
    def bid_zone(self) -> str | None:
        return self.zone if self.zone is not None else self.offer.zone

    def prices(self) -> list[float]:
        if self.slice_prices is not None:
            return list(self.slice_prices)
        assert self.linear_price is not None
        return [self.linear_price] * self.offer.profile.slice_count


class Request(_Model):
    """A DSO or BRP request: the quantity wanted per MTU in one zone, with a limit price.

    It becomes an ordinary divisible buy bid (:func:`request_to_bid`) so every
    clearing mode treats requests and priced flex-offers alike.
    """

    id: str
    bidder: str
    zone: str
    start: datetime
    quantities_kwh: list[float] = Field(min_length=1)
    limit_price: float
    block: bool = False
    sequence: int | None = None

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("quantities_kwh")
    @classmethod
    def _not_negative(cls, value: list[float]) -> list[float]:
        negative = [i for i, q in enumerate(value) if not q >= 0]
        if negative:
            raise ValueError(f"negative quantity in MTUs {negative[:10]}: a request asks for 0 kWh or more")
        return value


def request_to_bid(request: Request, mtu_seconds: int = DEFAULT_MTU_SECONDS) -> Bid:
    """Express a request as a buy flex-offer: baseline zero, up to the wanted quantity."""
    n = len(request.quantities_kwh)
    offer = FlexOffer(
        id=request.id,
        offered_by=request.bidder,
        zone=request.zone,
        earliest_start=request.start,
        latest_start=request.start,
        interval_seconds=mtu_seconds,
        profile=Profile(energy_lower=[0.0] * n, energy_upper=[float(q) for q in request.quantities_kwh]),
        default_schedule=Schedule(start=request.start, energy=[0.0] * n),
    )
    return Bid(
        id=request.id,
        bidder=request.bidder,
        side=Side.BUY,
        offer=offer,
        zone=request.zone,
        linear_price=request.limit_price,
        block=request.block,
        sequence=request.sequence,
    )


class OrderBook(_Model):
    """Everything a clearing needs: the market and its bids (requests included)."""

    market: MarketConfig
    bids: list[Bid] = Field(default_factory=list)
    requests: list[Request] = Field(default_factory=list)

    def all_bids(self) -> list[Bid]:
        return [*self.bids, *(request_to_bid(r, self.market.mtu_seconds) for r in self.requests)]
