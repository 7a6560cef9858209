"""CIM documents ⇄ the market (FMAR) and the flex-offer manager (FMAN), through core types only.

* ReserveBid offers (businessType B74) → :class:`core.market.models.Bid`: up (A01)
  is a SELL (consume less), down (A02) a BUY (consume more), with the bid's prices,
  block/indivisible as ``block``, ``linkedBidsIdentification`` or
  ``Linked_BidTimeSeries`` as a LINKED group, ``exclusiveBidsIdentification`` (or a
  link with status A55 "not available if linked bid activated") as EXCLUSIVE, and
  min/max activation durations in MTUs.
* ReserveBid needs (B75, a DSO's requirement) → :class:`core.market.models.Request`
  (up) or a SELL bid (down).
* Market results (:class:`core.market.results.BidResult`) → ReserveAllocationResult
  time series referring to the original bid.
* Activation / Redispatch / schedules → core :class:`Schedule` per resource, for FMAN
  and device dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from adapters.cim.errors import MappingError
from adapters.cim.series import SeriesSchedule
from adapters.cim.timeseries import TimeSeriesError, format_decimal, parse_duration
from core.flexoffer.model import FlexOffer, Schedule
from core.market.models import Bid, GroupKind, Request, Side
from core.market.results import BidResult, BidStatus

NEED = "B75"
_LINK_EXCLUSIVE_STATUS = "A55"
# Reasons on allocation series (ReasonCodeTypeList).
_STATUS_REASON = {
    BidStatus.ACCEPTED: ("A73", "Bid accepted"),
    BidStatus.PARTIAL: ("A72", "Original bid divided to permit acceptance"),
    BidStatus.REJECTED: ("B09", "Bid not accepted"),
    BidStatus.INVALID: ("B09", "Bid not accepted"),
}


def _series_meta(offer: FlexOffer) -> dict[str, Any]:
    cim = offer.extra.get("cim")
    if not isinstance(cim, dict) or not isinstance(cim.get("series"), dict):
        raise MappingError(f"offer {offer.id} did not come from a ReserveBid document")
    return cim


def _value(field: Any) -> str | None:
    if field is None:
        return None
    return str(field["value"] if isinstance(field, dict) else field)


def _intervals(duration: str | None, offer: FlexOffer) -> int | None:
    if not duration:
        return None
    try:
        seconds = parse_duration(duration).total_seconds()
    except TimeSeriesError as exc:
        raise MappingError(f"offer {offer.id}: {exc}", exc.code) from exc
    return max(1, int(seconds // offer.interval_seconds))


def _quantities(offer: FlexOffer) -> list[float]:
    return [
        max(abs(lo), abs(hi)) for lo, hi in zip(offer.profile.energy_lower, offer.profile.energy_upper, strict=True)
    ]


def market_order(offer: FlexOffer, bidder: str | None = None) -> Bid | Request:
    """The FMAR order for one ReserveBid series (see the module docstring)."""
    cim = _series_meta(offer)
    series = cim["series"]
    direction = _value(series.get("flowDirection.direction")) or "A01"
    need = _value(series.get("businessType")) == NEED
    bidder = bidder or offer.offered_by or "unknown"
    prices = offer.profile.tariff_upper if need else offer.profile.tariff_lower
    price_list = [0.0 if p is None else float(p) for p in prices] if prices else None
    zone = offer.zone
    if need and direction == "A01":
        if zone is None:
            raise MappingError(f"need {offer.id} names no connecting domain")
        limit = max(price_list) if price_list else 0.0
        return Request(
            id=str(offer.id),
            bidder=bidder,
            zone=zone,
            start=offer.earliest_start,
            quantities_kwh=_quantities(offer),
            limit_price=limit,
        )
    divisible = _value(series.get("divisible")) != "A02"
    has_minimum = bool(offer.xor_profiles) and divisible
    block = _value(series.get("blockBid")) == "A01" or not divisible or has_minimum
    links = series.get("Linked_BidTimeSeries") or []
    group: str | None = None
    kind: GroupKind | None = None
    if series.get("exclusiveBidsIdentification"):
        group, kind = _value(series["exclusiveBidsIdentification"]), GroupKind.EXCLUSIVE
    elif series.get("linkedBidsIdentification"):
        group, kind = _value(series["linkedBidsIdentification"]), GroupKind.LINKED
    elif links:
        members = sorted([str(offer.id), *(str(link["mRID"]) for link in links)])
        exclusive = any(_value((link.get("status") or {}).get("value")) == _LINK_EXCLUSIVE_STATUS for link in links)
        group, kind = "+".join(members)[:60], GroupKind.EXCLUSIVE if exclusive else GroupKind.LINKED
    # FMAR works on the main profile; the zero XOR alternative ("not activated") is what
    # ``block`` expresses there, so the market copy of the offer drops it.
    # Its bounds are widened to include 0 so the zero baseline stays feasible.
    profile = offer.profile
    market_profile = profile.model_copy(
        update={
            "energy_lower": [min(0.0, v) for v in profile.energy_lower],
            "energy_upper": [max(0.0, v) for v in profile.energy_upper],
        }
    )
    market_offer = offer.model_copy(update={"xor_profiles": [], "profile": market_profile})
    return Bid(
        id=str(offer.id),
        bidder=bidder,
        side=Side.SELL if direction == "A01" else Side.BUY,
        offer=market_offer,
        zone=zone,
        slice_prices=price_list if price_list is not None else None,
        linear_price=None if price_list is not None else 0.0,
        block=block,
        group=group,
        group_kind=kind,
        min_activation=_intervals(_value(series.get("minimum_ConstraintDuration.duration")), offer),
        max_activation=_intervals(_value(series.get("maximum_ConstraintDuration.duration")), offer),
    )


@dataclass
class AllocationRef:
    """What an allocation series must say about the bid it answers."""

    offer: FlexOffer
    result: BidResult


def allocation_series(ref: AllocationRef, unit: str = "MAW") -> SeriesSchedule:
    """One ReserveAllocationResult time series for a market outcome of a CIM bid."""
    offer, result = ref.offer, ref.result
    cim = _series_meta(offer)
    series = cim["series"]
    direction = _value(series.get("flowDirection.direction")) or ("A01" if result.side is Side.SELL else "A02")
    quantities = result.quantities_kwh or [0.0] * offer.profile.slice_count
    sign = -1.0 if direction == "A01" else 1.0
    code, text = _STATUS_REASON[result.status]
    attributes: dict[str, Any] = {
        "bid_Original_MarketDocument.mRID": cim.get("document"),
        "bid_Original_MarketDocument.revisionNumber": str(cim.get("revision", 1)),
        "bid_Original_MarketDocument.bid_BidTimeSeries.mRID": str(offer.id),
        "auction.mRID": _value(series.get("auction.mRID")),
        "businessType": "B95",
        "acquiring_Domain.mRID": series.get("acquiring_Domain.mRID"),
        "connecting_Domain.mRID": series.get("connecting_Domain.mRID"),
        "quantity_Measurement_Unit.name": unit,
        "registeredResource.mRID": series.get("registeredResource.mRID"),
        "flowDirection.direction": direction,
        "curveType": "A01",
        "Reason": [{"code": code, "text": result.reason[:512] if result.reason else text}],
    }
    extras: dict[str, list[Any]] = {}
    if result.prices:
        attributes["currency_Unit.name"] = "EUR"
        attributes["price_Measurement_Unit.name"] = "MWH"
        extras["price.amount"] = [format_decimal(p * 1000.0) for p in result.prices]
    start = result.start or offer.earliest_start
    return SeriesSchedule(
        mrid=f"{offer.id}-alloc"[:60],
        start=start,
        interval_seconds=offer.interval_seconds,
        energy=[sign * abs(q) for q in quantities],
        attributes={k: v for k, v in attributes.items() if v is not None},
        extras=extras,
    )


@dataclass
class ActivationOrder:
    """An activation (or redispatch) for one resource, as a core schedule of kWh deltas."""

    resource: str | None
    provider: str | None
    schedule: Schedule
    interval_seconds: int
    status: str | None = None

    @property
    def end(self) -> Any:
        return self.schedule.start + timedelta(seconds=self.interval_seconds * len(self.schedule.energy))


def activation_orders(series: list[SeriesSchedule]) -> list[ActivationOrder]:
    """Activation_MarketDocument / Redispatch series → per-resource schedules (load convention)."""
    orders = []
    for item in series:
        orders.append(
            ActivationOrder(
                resource=item.resource,
                provider=_value(item.attributes.get("resourceProvider_MarketParticipant.mRID")),
                schedule=item.to_schedule(),
                interval_seconds=item.interval_seconds,
                status=_value(item.attributes.get("marketObjectStatus.status")),
            )
        )
    return orders


def baseline_offer(offer: FlexOffer, forecast: SeriesSchedule) -> FlexOffer:
    """The offer with an EnergyPrognosis series as its baseline (``default_schedule``).

    The forecast must cover the offer's slices on the same grid; the bid energies stay
    deltas, so the profile is shifted by the baseline to become absolute consumption.
    """
    if forecast.interval_seconds != offer.interval_seconds:
        raise MappingError(f"forecast {forecast.mrid} has another resolution than offer {offer.id}", "A41")
    offset = int((offer.earliest_start - forecast.start).total_seconds() // offer.interval_seconds)
    n = offer.profile.slice_count
    if offset < 0 or offset + n > len(forecast.energy):
        raise MappingError(f"forecast {forecast.mrid} does not cover offer {offer.id}", "A04")
    base = forecast.energy[offset : offset + n]

    def shifted(values: list[float]) -> list[float]:
        return [b + v for b, v in zip(base, values, strict=True)]

    profiles = [
        p.model_copy(update={"energy_lower": shifted(p.energy_lower), "energy_upper": shifted(p.energy_upper)})
        for p in offer.profiles
    ]
    return offer.model_copy(
        update={
            "profile": profiles[0],
            "xor_profiles": profiles[1:],
            "default_schedule": Schedule(start=offer.earliest_start, energy=list(base)),
        }
    )
