"""Encode and decode 2.0b messages with openleadr's templates and payload dicts.

We reuse openleadr's Jinja templates and its parsed-dict shape (snake_case keys,
``timedelta``/``datetime`` values) so the codec speaks one dict dialect. Two gaps
are closed here: inbound documents go through :mod:`adapters.openadr.schema`
before openleadr's xmltodict parser sees them, and outbound string values are
XML-escaped because openleadr's template environment has autoescaping off (a
venID echoed back containing ``<`` would otherwise break the document).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree
from openleadr import messaging

from adapters.openadr.schema import MAX_DOCUMENT_BYTES, OADR_NS, parse_and_validate

EI_NS = "http://docs.oasis-open.org/ns/energyinterop/201110"
PYLD_NS = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"

_ESCAPES = {'"': "&quot;", "'": "&apos;"}


@dataclass(frozen=True)
class Inbound:
    """One validated inbound message: its type, openleadr-style payload and parsed tree."""

    message_type: str
    payload: dict[str, Any]
    root: etree._Element
    raw: bytes


def message_type_of(root: etree._Element) -> str:
    signed = root.find(f"{{{OADR_NS}}}oadrSignedObject")
    if signed is None or len(signed) == 0:
        raise ValueError("oadrPayload without oadrSignedObject content")
    return etree.QName(signed[0]).localname


def ven_id_of(root: etree._Element) -> str | None:
    """The venID of the signed object, read straight from the tree (the poll fast path)."""
    signed = root.find(f"{{{OADR_NS}}}oadrSignedObject")
    if signed is None or len(signed) == 0:
        return None
    node = signed[0].find(f"{{{EI_NS}}}venID")  # a direct child in oadrPoll and most messages
    if node is None:
        node = signed[0].find(f".//{{{EI_NS}}}venID")
    return node.text if node is not None and node.text else None


def decode(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES, full: bool = True) -> Inbound:
    """Safe-parse, validate against ``oadr_20b.xsd``, then let openleadr build the payload dict.

    With ``full=False`` only the type and venID are extracted (no xmltodict pass);
    oadrPoll needs nothing more, and it is the message sent most often by far.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    root = parse_and_validate(raw, max_bytes=max_bytes)
    message_type = message_type_of(root)
    if not full:
        ven_id = ven_id_of(root)
        return Inbound(message_type, {"ven_id": ven_id} if ven_id else {}, root, raw)
    parsed_type, payload = messaging.parse_message(raw)
    return Inbound(parsed_type, payload, root, raw)


def escape_text(value: str) -> str:
    """XML-escape a value for element or attribute content."""
    return escape(value, _ESCAPES)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(item) for item in value]
    return value


def encode(
    message_type: str,
    *,
    cert: bytes | None = None,
    key: bytes | None = None,
    passphrase: str | None = None,
    **payload: Any,
) -> str:
    """Render one message with openleadr's template (signed when cert and key are given)."""
    return str(
        messaging.create_message(
            message_type,
            cert=cert,
            key=key,
            passphrase=passphrase,
            disable_signature=not (cert and key),
            **_escaped(payload),
        )
    )


def response_payload(code: int, description: str, request_id: str | None, ven_id: str | None) -> dict[str, Any]:
    """The eiResponse block; ``ven_id`` is always echoed (a known certification pitfall)."""
    return {
        "response": {"response_code": code, "response_description": description, "request_id": request_id},
        "ven_id": ven_id,
    }
