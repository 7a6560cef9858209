"""Acknowledgement_MarketDocument (451-1 v8.1): the hub's answer to every inbound document.

Reason codes come from the ENTSO-E codelist (ReasonCodeTypeList):

* **A01** "Message fully accepted";
* **A02** "Message fully rejected", followed by the specific reasons;
* partial acceptance: **B70** "Message partially accepted" and **A03** "Message
  contains errors at the time series level", with each refused series listed as a
  ``Rejected_TimeSeries`` carrying **A20** "Time series fully rejected" and the
  specific reason (A49 position inconsistency, A42 quantity inconsistency …).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.cim.header import Header, Party
from adapters.cim.timeseries import format_second
from adapters.cim.tree import namespace_for

ROOT = "Acknowledgement_MarketDocument"
ACCEPTED = "A01"
REJECTED = "A02"
PARTIAL = "B70"
SERIES_ERRORS = "A03"
SERIES_REJECTED = "A20"
REASON_TEXT = {
    "A01": "Message fully accepted",
    "A02": "Message fully rejected",
    "A03": "Message contains errors at the time series level",
    "A20": "Time series fully rejected",
    "B70": "Message partially accepted",
}
_MAX_TEXT = 512
_CODE = re.compile(r"^[A-Z][0-9]{2}$")
_SCHEME = re.compile(r"^(A0[12]|A10|N[A-Z]{2})$")


@dataclass
class Reason:
    code: str
    text: str | None = None

    def fields(self) -> dict[str, str]:
        out = {"code": self.code}
        if self.text:
            out["text"] = self.text[:_MAX_TEXT]
        return out


@dataclass
class Verdict:
    """What the hub decided about one inbound document."""

    reasons: list[Reason] = field(default_factory=list)
    """Document-level problems; any of them rejects the whole document."""
    rejected_series: dict[str, list[Reason]] = field(default_factory=dict)
    series_count: int = 0

    @property
    def status(self) -> str:
        if self.reasons or (self.series_count and len(self.rejected_series) >= self.series_count):
            return REJECTED
        if self.rejected_series:
            return PARTIAL
        return ACCEPTED

    def reject(self, code: str, text: str) -> None:
        self.reasons.append(Reason(code, text))

    def reject_series(self, mrid: str, code: str, text: str) -> None:
        self.rejected_series.setdefault(mrid, []).append(Reason(code, text))


def build_ack(
    verdict: Verdict,
    hub: Party,
    received: Header | None,
    fallback_receiver: str = "UNKNOWN",
    now: datetime | None = None,
    version: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """(namespace, fields) of the acknowledgement for ``received`` under ``verdict``."""
    namespace = namespace_for(ROOT, version)
    status = verdict.status
    reasons: list[Reason] = [Reason(status, REASON_TEXT[status])]
    if status == PARTIAL:
        reasons.append(Reason(SERIES_ERRORS, REASON_TEXT[SERIES_ERRORS]))
    reasons.extend(verdict.reasons)
    receiver = received.sender if received and received.sender.mrid else Party(fallback_receiver, None, "A01")
    receiver = Party(receiver.mrid[:16], receiver.role if _CODE.match(receiver.role or "") else None, receiver.scheme)
    if not _SCHEME.match(receiver.scheme):
        receiver.scheme = "A01"
    fields: dict[str, Any] = {
        "mRID": str(uuid.uuid4()),
        "createdDateTime": format_second(now or datetime.now(UTC)),
        "sender_MarketParticipant.mRID": hub.coded(),
        "sender_MarketParticipant.marketRole.type": hub.role,
        "receiver_MarketParticipant.mRID": receiver.coded(),
        "receiver_MarketParticipant.marketRole.type": receiver.role,
        "Reason": [r.fields() for r in reasons],
    }
    if received is not None and received.mrid:
        # Echo only what fits the acknowledgement's own types, so even the answer to a
        # broken document is schema-valid.
        fields["received_MarketDocument.mRID"] = received.mrid[:60]
        if 1 <= received.revision <= 999:
            fields["received_MarketDocument.revisionNumber"] = str(received.revision)
        if _CODE.match(received.doc_type or ""):
            fields["received_MarketDocument.type"] = received.doc_type
        if _CODE.match(received.process_type or ""):
            fields["received_MarketDocument.process.processType"] = received.process_type
        fields["received_MarketDocument.createdDateTime"] = format_second(received.created)
    if verdict.rejected_series:
        fields["Rejected_TimeSeries"] = [
            {
                "mRID": mrid[:60],
                "Reason": [Reason(SERIES_REJECTED, REASON_TEXT[SERIES_REJECTED]).fields()] + [r.fields() for r in rs],
            }
            for mrid, rs in verdict.rejected_series.items()
        ]
    return namespace, {k: v for k, v in fields.items() if v is not None}


@dataclass
class AckSummary:
    """An acknowledgement the hub received (for documents it sent)."""

    received_mrid: str | None
    status: str
    reasons: list[Reason]
    rejected_series: list[str]


def read_ack(fields: dict[str, Any]) -> AckSummary:
    reasons = [Reason(r["code"], r.get("text")) for r in fields.get("Reason", [])]
    return AckSummary(
        received_mrid=fields.get("received_MarketDocument.mRID"),
        status=reasons[0].code if reasons else "999",
        reasons=reasons,
        rejected_series=[str(ts["mRID"]) for ts in fields.get("Rejected_TimeSeries", [])],
    )
