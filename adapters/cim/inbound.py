"""The receiving pipeline every transport shares: bytes in, verdict + acknowledgement out.

Order matters: safe parse, then structure and XSD, then parties and revisions, then
per-series rules and mapping. The caller (HTTP route, inbox watcher) persists the
document and the result *before* it hands the acknowledgement back, so nothing
acknowledged is ever lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.cim.ack import Verdict, build_ack
from adapters.cim.codec import CimMessage, digest, dumps, map_document
from adapters.cim.header import Header, read_header
from adapters.cim.rules import (
    DocumentHistory,
    HubIdentity,
    PartyRegistry,
    check_parties,
    check_revision,
    check_series,
    check_structure,
)
from adapters.cim.safe_xml import DEFAULT_MAX_BYTES, XmlRejected, parse_xml
from adapters.cim.tree import DocumentKind, decode
from adapters.cim.xsd import XsdCatalog


@dataclass
class InboundResult:
    verdict: Verdict
    ack_xml: bytes
    ack_mrid: str
    header: Header | None = None
    message: CimMessage | None = None
    digest: str | None = None
    document_kind: DocumentKind | None = None
    duplicate: bool = False
    """The very same document (same sender, mRID, revision and content) was received before."""

    @property
    def status(self) -> str:
        return self.verdict.status

    @property
    def kind(self) -> str | None:
        return self.document_kind.root if self.document_kind else None


def receive(
    data: bytes,
    hub: HubIdentity,
    parties: PartyRegistry,
    history: DocumentHistory,
    xsd: XsdCatalog | None = None,
    fallback_receiver: str = "UNKNOWN",
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: datetime | None = None,
) -> InboundResult:
    """Judge one inbound document and build its acknowledgement (never raises on bad input)."""
    verdict = Verdict()
    header: Header | None = None
    message: CimMessage | None = None
    kind: DocumentKind | None = None
    content_digest: str | None = None
    duplicate = False
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except XmlRejected as exc:
        verdict.reject("999", str(exc))
        root = None
    if root is not None:
        try:
            doc = decode(root)
        except KeyError as exc:
            verdict.reject("A94", f"document cannot be processed: {exc.args[0]}")
            doc = None
        if doc is not None:
            kind = doc.kind
            try:
                header = read_header(doc.kind.namespace, doc.fields)
            except (ValueError, TypeError) as exc:
                verdict.reject("A69", f"document header is unreadable: {exc}")
            check_structure(doc, verdict)
            if xsd is not None:
                try:
                    for problem in xsd.validate(root):
                        verdict.reject("999", f"XSD: {problem}")
                except KeyError as exc:
                    verdict.reject("A94", str(exc.args[0]))
            if header is not None:
                content_digest = digest(root)
                check_parties(header, hub, parties, verdict)
                duplicate = check_revision(header, content_digest, history, verdict)
                if not verdict.reasons:
                    check_series(doc, header, verdict)
                    if verdict.status != "A02":
                        message = map_document(doc, verdict)
    result = InboundResult(
        verdict=verdict,
        ack_xml=b"",
        ack_mrid="",
        header=header,
        message=message,
        digest=content_digest,
        document_kind=kind,
        duplicate=duplicate,
    )
    return acknowledge(result, hub, fallback_receiver, now)


def acknowledge(
    result: InboundResult, hub: HubIdentity, fallback_receiver: str = "UNKNOWN", now: datetime | None = None
) -> InboundResult:
    """(Re)build the acknowledgement from the verdict, e.g. after the market refused some bids."""
    namespace, fields = build_ack(
        result.verdict, hub.party(), result.header, fallback_receiver, now or datetime.now(UTC)
    )
    result.ack_xml = dumps(namespace, fields)
    result.ack_mrid = fields["mRID"]
    if result.verdict.status == "A02":
        result.message = None
    return result
