"""Business rules every inbound document must pass, each refused with an acknowledgement reason.

Document level (the whole document is rejected, A02):

* structure (no XSD directory, or in addition to it): A69 for missing mandatory
  elements, 999 for anything else the layout does not allow;
* sender known with the claimed role: A78; receiver is the hub in one of its roles: A53;
* revisionNumber must increase for the same sender and mRID, and a resent revision
  must be byte-for-byte the same content (canonical XML): A51.

Series level (that series is rejected, the others accepted):

* duplicate series mRID in one document: A55;
* positions contiguous from 1 and point count = timeInterval ÷ resolution: A49/A42/A41;
* a period outside the document's interval: A04.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from adapters.cim.ack import Verdict
from adapters.cim.header import Header, Party
from adapters.cim.series import PERIOD_KEYS
from adapters.cim.tree import CimDocument


class PartyRegistry(Protocol):
    def roles(self, mrid: str) -> frozenset[str] | None:
        """The market roles ``mrid`` may act in, or ``None`` when the party is unknown."""


class DocumentHistory(Protocol):
    def revisions(self, sender: str, mrid: str) -> list[tuple[int, str]]:
        """(revisionNumber, content digest) of every earlier document with this sender and mRID."""


@dataclass(frozen=True)
class StaticParties:
    """A registry from a plain mapping, for configuration files and tests."""

    parties: dict[str, frozenset[str]]

    def roles(self, mrid: str) -> frozenset[str] | None:
        return self.parties.get(mrid)


@dataclass(frozen=True)
class NoHistory:
    def revisions(self, sender: str, mrid: str) -> list[tuple[int, str]]:
        return []


@dataclass(frozen=True)
class HubIdentity:
    """Who the hub is on the CIM side: its mRID, the role it answers in, every role it accepts."""

    mrid: str
    role: str = "A04"
    roles: frozenset[str] = frozenset({"A04", "A34", "A50"})
    scheme: str = "A01"

    def party(self) -> Party:
        return Party(self.mrid, self.role, self.scheme)


def check_structure(doc: CimDocument, verdict: Verdict) -> None:
    for problem in doc.problems:
        verdict.reject("A69" if "required element" in problem else "999", problem)


def check_parties(header: Header, hub: HubIdentity, parties: PartyRegistry, verdict: Verdict) -> None:
    sender_roles = parties.roles(header.sender.mrid)
    if sender_roles is None:
        verdict.reject("A78", f"sender {header.sender.mrid} is not a known party")
    elif header.sender.role not in sender_roles:
        verdict.reject("A78", f"sender {header.sender.mrid} may not act as role {header.sender.role}")
    if header.receiver.mrid != hub.mrid:
        verdict.reject("A53", f"receiver {header.receiver.mrid} is not this hub ({hub.mrid})")
    elif header.receiver.role is not None and header.receiver.role not in hub.roles:
        verdict.reject("A53", f"this hub does not act as receiver role {header.receiver.role}")


def check_revision(header: Header, digest: str, history: DocumentHistory, verdict: Verdict) -> bool:
    """Apply the revision rules; return True when this exact document was already received."""
    earlier = history.revisions(header.sender.mrid, header.mrid)
    for revision, seen_digest in earlier:
        if revision == header.revision:
            if seen_digest == digest:
                return True
            verdict.reject(
                "A51", f"document {header.mrid} revision {revision} was already received with different content"
            )
            return False
    highest = max((r for r, _ in earlier), default=0)
    if highest > header.revision:
        verdict.reject(
            "A51", f"revisionNumber {header.revision} of {header.mrid} is lower than {highest} already received"
        )
    return False


def check_series(doc: CimDocument, header: Header, verdict: Verdict) -> None:
    series = doc.series()
    verdict.series_count = len(series)
    seen: set[str] = set()
    for ts in series:
        mrid = str(ts.get("mRID", ""))
        if mrid in seen:
            verdict.reject_series(mrid, "A55", f"time series mRID {mrid} appears more than once")
            continue
        seen.add(mrid)
        curve = ts.get("curveType")
        for key in PERIOD_KEYS:
            for period in ts.get(key, []):
                for code, text in period.problems(curve):
                    verdict.reject_series(mrid, code, text)
                if (
                    header.start is not None
                    and header.end is not None
                    and (period.start < header.start or period.end > header.end)
                ):
                    verdict.reject_series(mrid, "A04", "period lies outside the document's time interval")
