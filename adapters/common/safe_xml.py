"""The one hardened XML parser every adapter uses for bytes from outside.

No protocol we speak (OpenADR, UFTP, CIM/ESMP, SCL) needs a DTD, so a DOCTYPE or
ENTITY declaration is refused outright instead of being parsed and neutralised.
That closes XXE (file or network fetches) and entity-expansion bombs before lxml,
xmlschema, xsdata or openleadr see the document — openleadr 0.5.36 segfaults on
billion-laughs input. Parsers are built per call: lxml parser objects are not
thread-safe, and module-level state is banned for scale-out.
"""

from __future__ import annotations

import re

from lxml import etree

DEFAULT_MAX_BYTES = 16 * 1024 * 1024

_DTD_MARKER = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class XmlRejected(ValueError):
    """The bytes are not a well-formed, DTD-free XML document of acceptable size."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def safe_parser(*, remove_blank_text: bool = False, remove_comments: bool = True) -> etree.XMLParser:
    """A parser that never resolves entities, loads a DTD or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=remove_comments,
        remove_pis=True,
        remove_blank_text=remove_blank_text,
        collect_ids=False,
    )


def parse_xml(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    remove_blank_text: bool = False,
    remove_comments: bool = True,
) -> etree._Element:
    """Parse one complete document and return its root; raise :class:`XmlRejected` otherwise."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise XmlRejected(f"document of {len(raw)} bytes exceeds the limit of {max_bytes} bytes", too_large=True)
    # Cheap early refusal for the common (ASCII-compatible) encodings; the docinfo check
    # below catches declarations in any other encoding (e.g. UTF-16) after parsing.
    if _DTD_MARKER.search(raw):
        raise XmlRejected("DOCTYPE and ENTITY declarations are not allowed")
    try:
        root = etree.fromstring(
            raw, parser=safe_parser(remove_blank_text=remove_blank_text, remove_comments=remove_comments)
        )
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"malformed XML: {exc}") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("DOCTYPE and ENTITY declarations are not allowed")
    for node in root.iter(etree.Entity):
        raise XmlRejected(f"entity reference {node} is not allowed")
    return root
