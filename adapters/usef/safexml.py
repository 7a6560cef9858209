"""Hardened XML parsing: no DTDs, no entities, no network, bounded size.

Every inbound UFTP document goes through here *before* xsdata or xmlschema see it,
so entity-expansion and external-entity payloads never reach a library parser.
"""

from __future__ import annotations

from lxml import etree

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


class UnsafeXmlError(ValueError):
    """The document is malformed, too large, or carries a DOCTYPE/entity declaration."""


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not thread-safe and module state is banned.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_blank_text=True,
    )


def parse_xml(data: bytes | str) -> etree._Element:
    """Parse a complete document; refuse anything with a DOCTYPE or entity reference."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise UnsafeXmlError(f"document exceeds {MAX_DOCUMENT_BYTES} bytes")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise UnsafeXmlError("DOCTYPE and entity declarations are not allowed")
    try:
        root = etree.fromstring(raw, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError(f"malformed XML: {exc}") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXmlError("DOCTYPE and entity declarations are not allowed")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise UnsafeXmlError("entity references are not allowed")
    return root
