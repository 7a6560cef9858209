"""ReserveBid_MarketDocument (451-7, v7.x) ⇄ priced flex-offers.

One ``Bid_TimeSeries`` becomes one :class:`FlexOffer` whose slices are the bid's
points (slice length = resolution), starting exactly at the period start. Energies
are deltas against the provider's own baseline, so ``default_schedule`` is zero.

* Sign: see :mod:`adapters.cim.quantities` (up A01 → negative kWh, down A02 → positive).
* Divisible bid (``divisible`` A01): each slice may take any energy between
  ``minimum_Quantity`` (0 when absent) and ``quantity``. With a minimum above 0 the
  bid may also stay unactivated, which the offer expresses as an all-zero XOR profile.
* Indivisible (A02) or block bid: a slice takes exactly ``quantity``; the zero XOR
  profile is "not activated". For multi-slot bids this ties the slices together,
  i.e. the offer is never looser than the bid (a non-block indivisible bid could in
  principle be activated slot by slot; the offer keeps it all-or-nothing).
* Price: ``price.amount`` (per MWH) becomes the slice's ``tariff_lower`` in EUR/kWh:
  the least the provider accepts. On a buy-side bid (businessType B75 *Need*) it is
  ``tariff_upper``: the most the buyer pays.
* Everything else the bid says (mRIDs, domains, linked/multipart/exclusive bid
  groups, ``Linked_BidTimeSeries``, min/max activation, resting durations, product
  types, status) travels in ``extra["cim"]`` so the document round-trips and the
  market can honour bid linking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.cim.errors import MappingError
from adapters.cim.header import Header, read_header, write_header
from adapters.cim.layouts import LAYOUTS
from adapters.cim.quantities import direction_sign, price_per_kwh, price_per_unit, to_kwh_factor
from adapters.cim.timeseries import TimeSeriesError, format_decimal, join_periods, make_period
from adapters.cim.tree import CimDocument, Coded, from_json_fields, namespace_for, to_json_fields
from core.flexoffer.model import FlexOffer, Profile, Schedule

ROOT = "ReserveBid_MarketDocument"
NEED = "B75"
YES, NO = "A01", "A02"
_SERIES = "Bid_TimeSeries"
# Element renames between versions: 7.1/7.2 say "Measure_Unit", 7.4 "Measurement_Unit".
_ALIASES = {
    "quantity_Measure_Unit.name": "quantity_Measurement_Unit.name",
    "price_Measure_Unit.name": "price_Measurement_Unit.name",
    "energyPrice_Measure_Unit.name": "energyPrice_Measurement_Unit.name",
    "AvailableMBA_Domain": "AvailableBiddingZone_Domain",
}
_TOLERANCE = 1e-9
POWER_UNITS = ("MAW", "KWT")


@dataclass
class ReserveBidDocument:
    header: Header
    offers: list[FlexOffer] = field(default_factory=list)


def _canonical(fields: dict[str, Any]) -> dict[str, Any]:
    return {_ALIASES.get(k, k): v for k, v in fields.items()}


def _versioned(fields: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Canonical names → this version's names; drop what the version cannot say."""
    rows = LAYOUTS[namespace]["types"]["BidTimeSeries"]
    known = {row[0] for row in rows}
    back = {v: k for k, v in _ALIASES.items() if k in known}
    out = {back.get(k, k): v for k, v in fields.items()}
    return {k: v for k, v in out.items() if k in known}


def _floats(values: list[Any], what: str, mrid: str) -> list[float]:
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise MappingError(f"bid {mrid}: {what} must be numbers", "A42") from exc


def offer_from_series(series: dict[str, Any], header: Header) -> FlexOffer:
    """One Bid_TimeSeries → one flex-offer (see the module docstring for the mapping)."""
    fields = _canonical(series)
    mrid = str(fields["mRID"])
    try:
        period = join_periods(fields["Period"])
    except TimeSeriesError as exc:
        raise MappingError(f"bid {mrid}: {exc}", exc.code) from exc
    seconds = int(period.resolution.total_seconds())
    if seconds <= 0 or 3600 % seconds:
        raise MappingError(f"bid {mrid}: resolution must divide one hour (PT15M, PT30M, PT60M)", "A41")
    unit = str(fields["quantity_Measurement_Unit.name"])
    if unit not in POWER_UNITS:
        raise MappingError(f"bid {mrid}: unit {unit} is not a power unit (MAW or KWT)", "A42")
    try:
        factor = to_kwh_factor(unit, period.resolution)
        sign = direction_sign(fields.get("flowDirection.direction"))
    except ValueError as exc:
        raise MappingError(f"bid {mrid}: {exc}", "A42") from exc
    quantity = _floats(period.columns["quantity.quantity"], "quantities", mrid)
    minimum_raw = period.columns.get("minimum_Quantity.quantity")
    minimum = [0.0 if v is None else float(v) for v in minimum_raw] if minimum_raw else [0.0] * len(quantity)
    if any(q < 0 for q in quantity) or any(m < 0 for m in minimum):
        raise MappingError(f"bid {mrid}: quantities must not be signed values", "A46")
    divisible = fields.get("divisible", YES) == YES
    block = fields.get("blockBid") == YES
    full = [sign * q * factor + 0.0 for q in quantity]
    least = [sign * m * factor + 0.0 for m in minimum] if divisible else full
    lower = [min(a, b) for a, b in zip(full, least, strict=True)]
    upper = [max(a, b) for a, b in zip(full, least, strict=True)]
    prices_raw = period.columns.get("price.amount")
    need = fields.get("businessType") == NEED
    tariffs: list[float | None] | None = None
    if prices_raw:
        price_unit = fields.get("price_Measurement_Unit.name")
        tariffs = [None if p is None else price_per_kwh(float(p), price_unit) for p in prices_raw]
    profile = Profile(
        energy_lower=lower,
        energy_upper=upper,
        tariff_lower=None if need else tariffs,
        tariff_upper=tariffs if need else None,
    )
    optional = (not divisible) or block or any(m > 0 for m in minimum)
    xor = [Profile(energy_lower=[0.0] * len(full), energy_upper=[0.0] * len(full))] if optional else []
    meta = {k: v for k, v in fields.items() if k != "Period"}
    energy_price = period.columns.get("energy_Price.amount")
    cim: dict[str, Any] = {
        "series": to_json_fields(meta),
        "document": header.mrid,
        "revision": header.revision,
        "sender": {"mRID": header.sender.mrid, "role": header.sender.role, "codingScheme": header.sender.scheme},
    }
    if energy_price:
        cim["energy_price"] = energy_price
    provider = fields.get("provider_MarketParticipant.mRID") or (header.subject.mrid if header.subject else None)
    return FlexOffer(
        id=mrid,
        offered_by=str(provider or header.sender.mrid),
        location_id=str(fields["registeredResource.mRID"]) if fields.get("registeredResource.mRID") else None,
        zone=str(fields.get("connecting_Domain.mRID") or "") or None,
        creation_time=header.created,
        earliest_start=period.start,
        latest_start=period.start,
        interval_seconds=seconds,
        profile=profile,
        xor_profiles=xor,
        default_schedule=Schedule(start=period.start, energy=[0.0] * len(full)),
        extra={"cim": cim},
    )


def read_reserve_bid(doc: CimDocument) -> ReserveBidDocument:
    if doc.kind.root != ROOT:
        raise MappingError(f"expected {ROOT}, got {doc.kind.root}")
    header = read_header(doc.kind.namespace, doc.fields)
    try:
        offers = [offer_from_series(s, header) for s in doc.fields.get(_SERIES, [])]
    except TimeSeriesError as exc:
        raise MappingError(str(exc), exc.code) from exc
    return ReserveBidDocument(header, offers)


def series_from_offer(offer: FlexOffer, namespace: str, unit: str = "MAW") -> dict[str, Any]:
    """One flex-offer → one Bid_TimeSeries in ``namespace``'s version.

    Offers that came from CIM keep their original attributes; others get defaults
    (mFRR offer, divisible unless the zero XOR profile says all-or-nothing).
    """
    cim = offer.extra.get("cim", {}) if isinstance(offer.extra.get("cim"), dict) else {}
    fields = _canonical(from_json_fields(cim.get("series", {})))
    unit = str(fields.get("quantity_Measurement_Unit.name", unit))
    profile = offer.profile
    lower, upper = profile.energy_lower, profile.energy_upper
    negative = any(v < -_TOLERANCE for v in lower)
    positive = any(v > _TOLERANCE for v in upper)
    if negative and positive:
        raise MappingError(f"offer {offer.id}: a bid is one direction; this offer spans up and down", "A42")
    direction = "A01" if negative else "A02"
    start = offer.earliest_start
    period_template = make_period(start, offer.interval, {"quantity.quantity": [0.0] * profile.slice_count})
    factor = to_kwh_factor(unit, period_template.resolution)
    full = [max(abs(a), abs(b)) / factor for a, b in zip(lower, upper, strict=True)]
    least = [min(abs(a), abs(b)) / factor for a, b in zip(lower, upper, strict=True)]
    divisible = any(f - m > _TOLERANCE for f, m in zip(full, least, strict=True))
    if "divisible" in fields and fields["divisible"] == NO and not divisible:
        divisible = False
    columns: dict[str, list[Any]] = {"quantity.quantity": [format_decimal(v) for v in full]}
    if divisible and any(m > _TOLERANCE for m in least):
        columns["minimum_Quantity.quantity"] = [format_decimal(v) for v in least]
    need = fields.get("businessType") == NEED
    tariffs = profile.tariff_upper if need else profile.tariff_lower
    price_unit = fields.get("price_Measurement_Unit.name", "MWH")
    if tariffs and any(t is not None for t in tariffs):
        columns["price.amount"] = [
            None if t is None else format_decimal(price_per_unit(t, price_unit)) for t in tariffs
        ]
        fields.setdefault("currency_Unit.name", "EUR")
        fields.setdefault("price_Measurement_Unit.name", price_unit)
    if cim.get("energy_price"):
        columns["energy_Price.amount"] = cim["energy_price"]
    period = make_period(start, offer.interval, columns)
    fields.update(
        {
            "mRID": fields.get("mRID", offer.id or "bid"),
            "quantity_Measurement_Unit.name": unit,
            "divisible": YES if divisible else NO,
            "flowDirection.direction": direction,
            "Period": [period],
        }
    )
    fields.setdefault("businessType", "B74")
    zone = offer.zone or "10Y1001A1001A91G"
    fields.setdefault("acquiring_Domain.mRID", Coded(zone))
    fields.setdefault("connecting_Domain.mRID", Coded(zone))
    if offer.location_id and "registeredResource.mRID" not in fields:
        fields["registeredResource.mRID"] = Coded(offer.location_id)
    if "auction.mRID" in {r[0] for r in LAYOUTS[namespace]["types"]["BidTimeSeries"] if r[1]}:
        fields.setdefault("auction.mRID", "flexhub")
    return _versioned(fields, namespace)


def write_reserve_bid(doc: ReserveBidDocument, version: str | None = None) -> tuple[str, dict[str, Any]]:
    """(namespace, root fields) of a ReserveBid document for ``version`` (newest by default)."""
    namespace = namespace_for(ROOT, version)
    fields = write_header(namespace, doc.header)
    fields[_SERIES] = [series_from_offer(o, namespace) for o in doc.offers]
    required = [r[0] for r in LAYOUTS[namespace]["types"][LAYOUTS[namespace]["root_type"]] if r[1]]
    for name in required:
        if name not in fields and name.startswith("subject_"):
            party = doc.header.subject or doc.header.sender
            fields[name] = party.coded() if name.endswith("mRID") else party.role
    return namespace, fields
