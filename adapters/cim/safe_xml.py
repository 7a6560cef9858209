"""The only way CIM bytes become an element tree: lxml with every expansion turned off.

ESMP documents never need a DTD, so any DOCTYPE is refused outright rather than
parsed and neutralised: that closes XXE (external entities, file or network
fetches) and entity-expansion bombs ("billion laughs") before lxml or any XSD
library touches the content. Parsers are built per call because lxml parser
objects are not safe to share between threads.
"""

from __future__ import annotations

from lxml import etree

DEFAULT_MAX_BYTES = 16 * 1024 * 1024


class XmlRejected(ValueError):
    """The bytes are not a well-formed, DTD-free XML document we are willing to read."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_xml(data: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` and return the root element; raise :class:`XmlRejected` otherwise."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise XmlRejected(f"document of {len(raw)} bytes exceeds the limit of {max_bytes} bytes")
    # Cheap early refusal: a DOCTYPE can only appear in the prolog, before the root element.
    head = raw[:4096]
    if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
        raise XmlRejected("DOCTYPE and entity declarations are not allowed")
    try:
        tree = etree.fromstring(raw, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"malformed XML: {exc}") from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("DOCTYPE and entity declarations are not allowed")
    # Without a DTD no entity can be declared, so no entity node can survive to here.
    return tree.getroot()
