"""BidAvailability_MarketDocument (451-n v1.1) ⇄ availability of bids, and its effect on offers.

A system operator uses it to mark bids (by bid document and resources) as
unavailable or limited, e.g. for grid reasons. In the hub that caps the energy of
the flex-offers those bids became: an ``operationalLimit`` of 0 makes them
unusable, a positive limit bounds each slot's |energy|.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.cim.errors import MappingError
from adapters.cim.quantities import to_kwh_factor
from adapters.cim.timeseries import format_decimal
from adapters.cim.tree import CimDocument, Coded
from core.flexoffer.model import FlexOffer, Profile

ROOT = "BidAvailability_MarketDocument"
_SERIES = "BidTimeSeries"


@dataclass
class BidAvailability:
    mrid: str
    bid_document: str
    bid_revision: int
    business_type: str
    domain: str
    requesting_role: str
    resources: list[str] = field(default_factory=list)
    limit: float | None = None
    limit_unit: str | None = None
    requesting_party: str | None = None
    reasons: list[dict[str, str]] = field(default_factory=list)


def read_availability(doc: CimDocument) -> list[BidAvailability]:
    if doc.kind.root != ROOT:
        raise MappingError(f"expected {ROOT}, got {doc.kind.root}")
    out = []
    for series in doc.fields.get(_SERIES, []):
        limit = series.get("operationalLimit_Quantity.quantity")
        try:
            out.append(
                BidAvailability(
                    mrid=str(series["mRID"]),
                    bid_document=str(series["bidDocument_MarketDocument.mRID"]),
                    bid_revision=int(series["bidDocument_MarketDocument.revisionNumber"]),
                    business_type=str(series["businessType"]),
                    domain=str(series["domain.mRID"]),
                    requesting_role=str(series["requestingParty_MarketParticipant.marketRole.type"]),
                    resources=[r["mRID"] for r in series.get("RegisteredResource", [])],
                    limit=None if limit is None else float(limit),
                    limit_unit=series.get("limit_Measurement_Unit.name"),
                    requesting_party=series.get("requestingParty_MarketParticipant.mRID"),
                    reasons=list(series.get("Reason", [])),
                )
            )
        except (KeyError, ValueError) as exc:
            raise MappingError(f"availability series {series.get('mRID')}: {exc}", "A69") from exc
    return out


def availability_series(item: BidAvailability) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "mRID": item.mrid,
        "bidDocument_MarketDocument.mRID": item.bid_document,
        "bidDocument_MarketDocument.revisionNumber": str(item.bid_revision),
        "requestingParty_MarketParticipant.marketRole.type": item.requesting_role,
        "businessType": item.business_type,
        "domain.mRID": Coded(item.domain),
    }
    if item.requesting_party:
        party = item.requesting_party
        fields["requestingParty_MarketParticipant.mRID"] = party if isinstance(party, Coded) else Coded(party)
    if item.limit is not None:
        fields["operationalLimit_Quantity.quantity"] = format_decimal(item.limit)
        fields["limit_Measurement_Unit.name"] = item.limit_unit or "MAW"
    if item.resources:
        fields["RegisteredResource"] = [{"mRID": r if isinstance(r, Coded) else Coded(r)} for r in item.resources]
    if item.reasons:
        fields["Reason"] = item.reasons
    return fields


def apply_availability(offer: FlexOffer, item: BidAvailability) -> FlexOffer:
    """The offer with every slot's |energy| capped at the availability's limit.

    Applies when the offer came from the referenced bid document, and (if the
    availability names resources) sits on one of them; other offers are returned as is.
    """
    cim = offer.extra.get("cim", {})
    if cim.get("document") != item.bid_document:
        return offer
    if item.resources and offer.location_id not in item.resources:
        return offer
    limit_kw = 0.0 if item.limit is None else item.limit
    factor = to_kwh_factor(item.limit_unit or "MAW", offer.interval)
    cap = limit_kw * factor

    def capped(profile: Profile) -> Profile:
        lower = [max(v, -cap) for v in profile.energy_lower]
        upper = [min(v, cap) for v in profile.energy_upper]
        lower = [min(lo, up) for lo, up in zip(lower, upper, strict=True)]
        return profile.model_copy(update={"energy_lower": lower, "energy_upper": upper})

    return offer.model_copy(
        update={"profile": capped(offer.profile), "xor_profiles": [capped(p) for p in offer.xor_profiles]}
    )
