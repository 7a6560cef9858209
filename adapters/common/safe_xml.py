"""The one hardened XML parser every adapter uses for bytes from outside.

No protocol we speak (OpenADR, UFTP, CIM/ESMP, SCL) needs a DTD, so a DOCTYPE or
ENTITY declaration is refused outright instead of being parsed and neutralised.
That closes XXE (file or network fetches) and entity-expansion bombs before lxml,
xmlschema, xsdata or openleadr see the document — openleadr 0.5.36 segfaults on
billion-laughs input. Parsers are built per call: lxml parser objects are not
thread-safe, so each thread keeps its own (a cache, not shared state: building a
parser per message cost the OpenADR poll path ~10 % of its time).
"""

from __future__ import annotations

import re
import threading

from lxml import etree

DEFAULT_MAX_BYTES = 16 * 1024 * 1024

_DTD_MARKER = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_PER_THREAD = threading.local()


class XmlRejected(ValueError):
    """The bytes are not a well-formed, DTD-free XML document of acceptable size."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def safe_parser(*, remove_blank_text: bool = False, remove_comments: bool = True) -> etree.XMLParser:
    """This thread's parser that never resolves entities, loads a DTD or touches the network."""
    key = (remove_blank_text, remove_comments)
    parsers: dict[tuple[bool, bool], etree.XMLParser] = _PER_THREAD.__dict__.setdefault("parsers", {})
    parser = parsers.get(key)
    if parser is None:
        parser = parsers[key] = _new_parser(remove_blank_text=remove_blank_text, remove_comments=remove_comments)
    return parser


def _new_parser(*, remove_blank_text: bool, remove_comments: bool) -> etree.XMLParser:
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
        raise XmlRejected(f"malformed (not well-formed) XML: {exc}") from exc
    if root is None:
        raise XmlRejected("empty document")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("DOCTYPE and ENTITY declarations are not allowed")
    for node in root.iter(etree.Entity):
        raise XmlRejected(f"entity reference {node} is not allowed")
    return root
