"""Hardened XML parsing for UFTP: the adapters' shared parser with UFTP's size cap.

Every inbound UFTP document goes through here *before* xsdata or xmlschema see it,
so entity-expansion and external-entity payloads never reach a library parser.
"""

from __future__ import annotations

from lxml import etree

from adapters.common.safe_xml import XmlRejected
from adapters.common.safe_xml import parse_xml as _parse_xml

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

UnsafeXmlError = XmlRejected
"""The document is malformed, too large, or carries a DOCTYPE/entity declaration."""


def parse_xml(data: bytes | str) -> etree._Element:
    """Parse a complete document; refuse anything with a DOCTYPE or entity reference."""
    # Blank text is dropped so that canonical digests do not depend on the sender's indentation.
    return _parse_xml(data, max_bytes=MAX_DOCUMENT_BYTES, remove_blank_text=True)
