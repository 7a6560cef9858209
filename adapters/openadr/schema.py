"""Safe parsing and XSD validation of OpenADR 2.0b documents.

Nothing inbound reaches openleadr (or xmltodict) before passing here: openleadr
0.5.36's ``validate_xml_schema`` uses a default lxml parser and crashes the
process on entity-expansion payloads. We refuse any DOCTYPE outright, so neither
XXE nor billion-laughs documents are ever expanded.
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path

from lxml import etree

OADR_NS = "http://openadr.org/oadr-2.0b/2012/07"
MAX_DOCUMENT_BYTES = 1024 * 1024
"""Default ceiling for one message; real 2.0b payloads are a few kB."""

_DTD_MARKER = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class XmlRejected(ValueError):
    """The document is refused before or during parsing (not well-formed, DTD, too large)."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


class SchemaInvalid(ValueError):
    """The document is well-formed but breaks ``oadr_20b.xsd``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def schema_path() -> Path:
    """The XSD set shipped inside the openleadr package (we do not copy it)."""
    import openleadr

    return Path(openleadr.__file__).parent / "schema" / "oadr_20b.xsd"


_PARSERS = threading.local()
"""One parser per thread: lxml parsers must not be shared between threads, and building
one costs about as much as parsing a poll. It holds configuration only, no data."""


def _safe_parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = _new_safe_parser()
    return parser


def _new_safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


@functools.cache
def oadr_schema() -> etree.XMLSchema:
    """Compile the XSD once per process: compiling costs ~100 ms, validating microseconds.

    The compiled schema is immutable, so sharing it across requests keeps no mutable state.
    """
    with schema_path().open("rb") as fh:
        doc = etree.parse(fh, _safe_parser())
    return etree.XMLSchema(doc)


def parse_safely(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """Parse one document, refusing DTDs, entities, external resources and oversize input."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise XmlRejected(f"document of {len(raw)} bytes exceeds the limit of {max_bytes}", too_large=True)
    if _DTD_MARKER.search(raw):
        raise XmlRejected("DOCTYPE and ENTITY declarations are not allowed")
    try:
        root = etree.fromstring(raw, _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise XmlRejected("empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlRejected("DOCTYPE and ENTITY declarations are not allowed")
    return root


def validate_tree(root: etree._Element) -> None:
    schema = oadr_schema()
    if not schema.validate(root):
        error = schema.error_log.last_error
        raise SchemaInvalid(f"line {error.line}: {error.message}" if error else "schema validation failed")


def parse_and_validate(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """The one entry point for inbound OpenADR XML: safe parse, then ``oadr_20b.xsd``."""
    root = parse_safely(data, max_bytes=max_bytes)
    validate_tree(root)
    return root


def check_document(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> str | None:
    """``None`` if the document is a valid 2.0b payload, else the reason it is not."""
    try:
        parse_and_validate(data, max_bytes=max_bytes)
    except (XmlRejected, SchemaInvalid) as exc:
        return str(exc)
    return None
