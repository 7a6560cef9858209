"""CIM wire ⇄ hub objects: one entry point per direction for every supported document.

``loads`` reads any supported document (recognised by namespace) into a
:class:`CimMessage`; the ``dumps_*`` functions write the hub's objects back out in
the requested (default: newest) version. No I/O here: transports and the gateway
call these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from adapters.cim import ack as ack_mod
from adapters.cim import availability as availability_mod
from adapters.cim import bids
from adapters.cim.ack import Verdict
from adapters.cim.errors import MappingError
from adapters.cim.header import Header, read_header, write_header
from adapters.cim.layouts import LAYOUTS
from adapters.cim.rules import check_series
from adapters.cim.safe_xml import parse_xml
from adapters.cim.series import PERIOD_KEYS, SeriesSchedule, read_series, write_series
from adapters.cim.tree import CimDocument, decode, encode, namespace_for, to_bytes
from adapters.cim.xsd import XsdCatalog
from core.flexoffer.model import FlexOffer


class CimError(ValueError):
    """A document that failed parsing, schema, structure or mapping; ``problems`` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class CimMessage:
    """A decoded document with its content in hub terms (which list is filled depends on the type)."""

    document: CimDocument
    header: Header
    offers: list[FlexOffer] = field(default_factory=list)
    series: dict[str, list[SeriesSchedule]] = field(default_factory=dict)
    """Quantity time series per container element (``TimeSeries``, ``PlannedResource_TimeSeries`` …)."""
    availability: list[availability_mod.BidAvailability] = field(default_factory=list)
    acknowledgement: ack_mod.AckSummary | None = None

    @property
    def kind(self) -> str:
        return self.document.kind.root


def series_containers(namespace: str) -> dict[str, str]:
    """Root element → series type for every repeatable child that carries Periods."""
    types = LAYOUTS[namespace]["types"]
    out = {}
    for name, _lo, _hi, ctype, _coded in types[LAYOUTS[namespace]["root_type"]]:
        if ctype is not None and any(row[0] in PERIOD_KEYS for row in types[ctype]):
            out[name] = ctype
    return out


def digest(root: etree._Element) -> str:
    """Content digest insensitive to formatting: SHA-256 of the canonical XML."""
    return hashlib.sha256(etree.tostring(root, method="c14n2", strip_text=True)).hexdigest()


def validate(root: etree._Element, xsd: XsdCatalog | None = None) -> CimDocument:
    """Decode with structural checks, plus the XSD when a catalogue is given; raise on any problem."""
    try:
        doc = decode(root)
    except KeyError as exc:
        raise CimError([str(exc.args[0])]) from exc
    problems = list(doc.problems)
    if xsd is not None:
        try:
            problems.extend(xsd.validate(root))
        except KeyError as exc:
            problems.append(str(exc.args[0]))
    if problems:
        raise CimError(problems)
    return doc


def map_document(doc: CimDocument, verdict: Verdict | None = None) -> CimMessage:
    """Hub objects for ``doc``. A series that cannot be mapped is reported in ``verdict``
    (and skipped) when one is given; otherwise its :class:`MappingError` propagates.
    Series the verdict already rejected are skipped."""
    namespace = doc.kind.namespace
    header = read_header(namespace, doc.fields)
    message = CimMessage(doc, header)
    skip = set(verdict.rejected_series) if verdict else set()
    root = doc.kind.root
    if root == bids.ROOT:
        for ts in doc.fields.get("Bid_TimeSeries", []):
            mrid = str(ts.get("mRID", ""))
            if mrid in skip:
                continue
            try:
                message.offers.append(bids.offer_from_series(ts, header))
            except MappingError as exc:
                if verdict is None:
                    raise
                verdict.reject_series(mrid, exc.code, str(exc))
    elif root == availability_mod.ROOT:
        message.availability = availability_mod.read_availability(doc)
    elif root == ack_mod.ROOT:
        message.acknowledgement = ack_mod.read_ack(doc.fields)
    else:
        for container in series_containers(namespace):
            mapped = []
            for ts in doc.fields.get(container, []):
                mrid = str(ts.get("mRID", ""))
                if mrid in skip:
                    continue
                try:
                    mapped.append(read_series(ts))
                except MappingError as exc:
                    if verdict is None:
                        raise
                    verdict.reject_series(mrid, exc.code, str(exc))
            if mapped:
                message.series[container] = mapped
    return message


def loads(data: bytes | str, xsd: XsdCatalog | None = None) -> CimMessage:
    """Strictly read one document: any parse, schema, structure, position or mapping problem raises."""
    root = parse_xml(data)
    doc = validate(root, xsd)
    verdict = Verdict()
    check_series(doc, read_header(doc.kind.namespace, doc.fields), verdict)
    problems = [f"{m}: {r.text}" for m, rs in verdict.rejected_series.items() for r in rs]
    if problems:
        raise CimError(problems)
    try:
        return map_document(doc)
    except (MappingError, ValueError) as exc:
        raise CimError([str(exc)]) from exc


def dumps(namespace: str, fields: dict[str, Any]) -> bytes:
    return to_bytes(encode(namespace, fields))


def dumps_offers(offers: list[FlexOffer], header: Header, version: str | None = None) -> bytes:
    """A ReserveBid document with one Bid_TimeSeries per offer."""
    return dumps(*bids.write_reserve_bid(bids.ReserveBidDocument(header, list(offers)), version))


def dumps_series(
    root: str,
    header: Header,
    series: list[SeriesSchedule],
    version: str | None = None,
    container: str | None = None,
) -> bytes:
    """Any quantity-series document (Activation, Schedule, PlannedResourceSchedule,
    ReserveAllocationResult, EnergyPrognosis, Redispatch, MeteringData)."""
    namespace = namespace_for(root, version)
    containers = series_containers(namespace)
    name = container or next(iter(containers))
    if name not in containers:
        raise KeyError(f"{root} has no series container {name}")
    fields = write_header(namespace, header)
    fields[name] = [write_series(s, namespace, containers[name]) for s in series]
    return dumps(namespace, fields)


def dumps_availability(
    header: Header, items: list[availability_mod.BidAvailability], version: str | None = None
) -> bytes:
    namespace = namespace_for(availability_mod.ROOT, version)
    fields = write_header(namespace, header)
    fields["BidTimeSeries"] = [availability_mod.availability_series(i) for i in items]
    return dumps(namespace, fields)


def dumps_message(message: CimMessage, version: str | None = None) -> bytes:
    """Write a message back from its hub objects (offers, series, availability), by default
    in the version it was read in.

    Acknowledgements have no hub objects beyond their fields and are re-encoded as read.
    """
    root = message.kind
    version = version or message.document.kind.version
    if root == bids.ROOT:
        return dumps_offers(message.offers, message.header, version)
    if root == availability_mod.ROOT:
        return dumps_availability(message.header, message.availability, version)
    if root == ack_mod.ROOT:
        return dumps(namespace_for(root, version), message.document.fields)
    namespace = namespace_for(root, version)
    containers = series_containers(namespace)
    fields = write_header(namespace, message.header)
    for name, series in message.series.items():
        if name in containers:
            fields[name] = [write_series(s, namespace, containers[name]) for s in series]
    return dumps(namespace, fields)
