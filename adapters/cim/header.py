"""The document header every ESMP document shares: identity, parties, interval, domain.

Element names differ slightly per document (``reserveBid_Period.timeInterval``,
``activation_Time_Period.timeInterval`` …), so the header is located by suffix and
written back under whatever name the target layout uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.cim.layouts import LAYOUTS
from adapters.cim.timeseries import format_minute, format_second, parse_time
from adapters.cim.tree import Coded, from_json_fields, to_json_fields


@dataclass
class Party:
    """A market participant as ESMP names it: an mRID (EIC by default) and a market role."""

    mrid: str
    role: str | None = None
    scheme: str = "A01"

    def coded(self) -> Coded:
        return Coded(self.mrid, self.scheme)


@dataclass
class Header:
    mrid: str
    revision: int
    doc_type: str
    sender: Party
    receiver: Party
    created: datetime
    start: datetime | None = None
    end: datetime | None = None
    process_type: str | None = None
    domain: Coded | None = None
    subject: Party | None = None
    other: dict[str, Any] = field(default_factory=dict)
    """Other document-level elements (``process.classificationType``, ``order_MarketDocument.mRID`` …)."""


def interval_field(namespace: str) -> str | None:
    """The root element holding the document's time interval in this layout."""
    root_type = LAYOUTS[namespace]["root_type"]
    for name, _lo, _hi, ctype, _coded in LAYOUTS[namespace]["types"][root_type]:
        if ctype == "ESMP_DateTimeInterval" and name.endswith("timeInterval") and not name.startswith("matching"):
            return str(name)
    return None


def _party(fields: dict[str, Any], prefix: str) -> Party | None:
    mrid = fields.get(f"{prefix}_MarketParticipant.mRID")
    if mrid is None:
        return None
    return Party(str(mrid), fields.get(f"{prefix}_MarketParticipant.marketRole.type"), getattr(mrid, "scheme", "A01"))


_STANDARD = {
    "mRID",
    "revisionNumber",
    "type",
    "process.processType",
    "createdDateTime",
    "domain.mRID",
    "sender_MarketParticipant.mRID",
    "sender_MarketParticipant.marketRole.type",
    "receiver_MarketParticipant.mRID",
    "receiver_MarketParticipant.marketRole.type",
    "subject_MarketParticipant.mRID",
    "subject_MarketParticipant.marketRole.type",
}


def read_header(namespace: str, fields: dict[str, Any]) -> Header:
    """Header of a decoded document; raises ``ValueError`` when a time cannot be read."""
    name = interval_field(namespace)
    root_type = LAYOUTS[namespace]["root_type"]
    repeated = {row[0] for row in LAYOUTS[namespace]["types"][root_type] if row[2] != 1}
    other = {k: v for k, v in fields.items() if k not in _STANDARD and k != name and k not in repeated}
    interval = fields.get(name) if name else None
    created = fields.get("createdDateTime")
    return Header(
        mrid=str(fields.get("mRID", "")),
        revision=int(fields.get("revisionNumber") or 1),
        doc_type=str(fields.get("type", "")),
        sender=_party(fields, "sender") or Party(""),
        receiver=_party(fields, "receiver") or Party(""),
        created=parse_time(created) if created else datetime.now(UTC),
        start=parse_time(interval["start"]) if interval else None,
        end=parse_time(interval["end"]) if interval else None,
        process_type=fields.get("process.processType"),
        domain=fields.get("domain.mRID"),
        subject=_party(fields, "subject"),
        other=to_json_fields(other),
    )


def write_header(namespace: str, header: Header) -> dict[str, Any]:
    """Root fields for ``header``; fields the target layout lacks are left out."""
    root_type = LAYOUTS[namespace]["root_type"]
    known = {row[0] for row in LAYOUTS[namespace]["types"][root_type]}
    out: dict[str, Any] = {
        "mRID": header.mrid,
        "revisionNumber": str(header.revision),
        "type": header.doc_type,
        "process.processType": header.process_type,
        "sender_MarketParticipant.mRID": header.sender.coded(),
        "sender_MarketParticipant.marketRole.type": header.sender.role,
        "receiver_MarketParticipant.mRID": header.receiver.coded(),
        "receiver_MarketParticipant.marketRole.type": header.receiver.role,
        "createdDateTime": format_second(header.created),
        "domain.mRID": header.domain,
    }
    if header.subject is not None:
        out["subject_MarketParticipant.mRID"] = header.subject.coded()
        out["subject_MarketParticipant.marketRole.type"] = header.subject.role
    out.update(from_json_fields(header.other))
    name = interval_field(namespace)
    if name and header.start is not None and header.end is not None:
        out[name] = {"start": format_minute(header.start), "end": format_minute(header.end)}
    return {k: v for k, v in out.items() if k in known and v is not None}
