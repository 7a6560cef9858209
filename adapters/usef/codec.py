"""UFTP wire codec: SignedMessage envelopes, Ed25519 sealing and the payload models.

The payload classes are shapeshifter-uftp's xsdata models, so what we emit is what
its clients and services read. Every inbound document is parsed by ``safexml`` first;
xsdata only ever sees bytes that already passed the DOCTYPE/entity refusal.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from nacl.bindings import crypto_sign, crypto_sign_open
from nacl.exceptions import BadSignatureError
from shapeshifter_uftp.uftp import (
    AcceptedRejected,
    PayloadMessage,
    PayloadMessageResponse,
    SignedMessage,
    TestMessage,
    request_response_map,
    routing_map,
)
from shapeshifter_uftp.uftp import TestMessageResponse as _BaseTestMessageResponse
from xsdata.exceptions import ParserError
from xsdata.formats.dataclass.context import XmlContext
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig

from adapters.common.safe_xml import safe_parser
from adapters.usef import fastread, fastwrite
from adapters.usef.safexml import UnsafeXmlError, parse_xml
from adapters.usef.schema import SchemaSet

SPEC_VERSION = "3.1.0"
SUPPORTED_VERSIONS = ("3.0.0", "3.1.0")
ROLES = ("AGR", "CRO", "DSO")

OFFICIAL = "official"
LEGACY = "shapeshifter-uftp"
"""Wire dialects: the official XSD form, and the typed response references of shapeshifter-uftp 2.4."""


@dataclasses.dataclass(kw_only=True)
class TestMessageResponse(_BaseTestMessageResponse):
    """shapeshifter-uftp's TestMessageResponse cannot say which TestMessage it answers; the XSD requires it."""

    __test__ = False  # not a pytest class

    class Meta:
        name = "TestMessageResponse"

    test_message_message_id: str | None = dataclasses.field(
        default=None, metadata={"name": "TestMessageMessageID", "type": "Attribute"}
    )


_DOMAIN = re.compile(r"([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}")
_CONTEXT = XmlContext()
_SERIALIZER = XmlSerializer(context=_CONTEXT, config=SerializerConfig(indent=None, xml_declaration=True))
_PARSER = XmlParser(context=_CONTEXT)


class EnvelopeError(ValueError):
    """The SignedMessage itself is unparseable or schema-invalid: HTTP 400."""


class SignatureError(ValueError):
    """The body does not open with the sender's key: HTTP 401."""


class PayloadError(ValueError):
    """The unsealed inner XML is unparseable or schema-invalid: HTTP 400."""


class SemanticPayloadError(PayloadError):
    """Schema-valid, but the models refuse it (e.g. Unsolicited=false without a reference).

    The specification wants such messages answered with a Rejected *Response, so this
    carries a ``Payload`` whose message holds only the common metadata.
    """

    def __init__(self, detail: str, payload: Payload) -> None:
        super().__init__(detail)
        self.payload = payload


@dataclass(frozen=True)
class Envelope:
    sender_domain: str
    sender_role: str
    body: bytes


@dataclass(frozen=True)
class Payload:
    """An unsealed inner message with what conversation bookkeeping needs."""

    message: PayloadMessage
    xml: bytes
    digest: str
    """SHA-256 of the canonical (C14N) inner XML: equal content, equal digest."""

    @property
    def type_name(self) -> str:
        return message_type_name(type(self.message))


def message_type_name(cls: type) -> str:
    """The XML element name (``D-Prognosis``), which is also the spec's MessageType."""
    meta = getattr(cls, "Meta", None)
    return str(getattr(meta, "name", None) or cls.__name__)


def _snake(name: str) -> str:
    return re.sub(r"(.)([A-Z][a-z])", r"\1_\2", name).lower()


RESPONSE_CLASSES: dict[type, type] = {**request_response_map, TestMessage: TestMessageResponse}
MESSAGE_CLASSES: dict[str, type[PayloadMessage]] = {
    message_type_name(cls): cls
    for pair in RESPONSE_CLASSES.items()
    for cls in pair
}


def _legacy_reference_attributes() -> dict[str, str]:
    """Response element -> the typed reference attribute shapeshifter-uftp 2.4 models use.

    The official 3.x XSDs name the reference ``ReferenceMessageID`` on every *Response;
    shapeshifter-uftp still writes e.g. ``FlexRequestMessageID``. The wire is always
    the official form; the models are fed the typed one.
    """
    found: dict[str, str] = {}
    for request_cls, response_cls in RESPONSE_CLASSES.items():
        wanted = _snake(request_cls.__name__) + "_message_id"
        for item in dataclasses.fields(response_cls):
            if item.name == wanted:
                found[message_type_name(response_cls)] = str(item.metadata["name"])
    return found


LEGACY_REFERENCE = _legacy_reference_attributes()
# Reading plans for the fast model builder, compiled once from the (static) model classes.
_FAST_PLANS = {name: fastread.compile_plan(cls) for name, cls in MESSAGE_CLASSES.items()}
OFFICIAL_REFERENCE = "ReferenceMessageID"


# shapeshifter-uftp models FlexSettlement as a response, so it writes Result; the XSD forbids it.
NOT_RESPONSES = {"FlexSettlement": ("Result", "RejectionReason")}


def to_official(root: etree._Element) -> etree._Element:
    """Rename a typed response reference to ``ReferenceMessageID`` in place (and drop stray attributes)."""
    for attribute in NOT_RESPONSES.get(etree.QName(root).localname, ()):
        root.attrib.pop(attribute, None)
    legacy = LEGACY_REFERENCE.get(etree.QName(root).localname)
    if legacy and root.get(legacy) is not None and root.get(OFFICIAL_REFERENCE) is None:
        root.set(OFFICIAL_REFERENCE, root.attrib.pop(legacy))
    return root


def to_legacy(root: etree._Element) -> etree._Element:
    legacy = LEGACY_REFERENCE.get(etree.QName(root).localname)
    if legacy and root.get(OFFICIAL_REFERENCE) is not None:
        root.set(legacy, root.attrib.pop(OFFICIAL_REFERENCE))
    return root


def routing(cls: type) -> tuple[str, str] | None:
    """(sender role, recipient role) a message type travels between; None for TestMessage*."""
    route = routing_map.get(cls)
    return (str(route[0]), str(route[1])) if route else None


def to_xml(message: PayloadMessage | SignedMessage, dialect: str = OFFICIAL) -> bytes:
    rendered = _SERIALIZER.render(message).encode("utf-8")
    name = message_type_name(type(message))
    if dialect != OFFICIAL or (name not in LEGACY_REFERENCE and name not in NOT_RESPONSES):
        return rendered
    root = to_official(parse_xml(rendered))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@dataclasses.dataclass(frozen=True)
class Rendered:
    """An outbound payload in its official wire form, with its content digest."""

    xml: bytes
    digest: str

    @functools.cached_property
    def root(self) -> etree._Element:
        """The parsed tree, for XSD checks (only needed when schemas are configured)."""
        return parse_xml(self.xml)

    def for_dialect(self, dialect: str) -> bytes:
        if dialect == OFFICIAL:
            return self.xml
        legacy = to_legacy(etree.fromstring(self.xml, parser=safe_parser()))
        return etree.tostring(legacy, xml_declaration=True, encoding="UTF-8")


# Flat models (every *Response but FlexSettlementResponse) are written from their shape, not by xsdata.
_FLAT_SHAPES = {
    cls: fastwrite.flat_shape(cls, message_type_name(cls), {LEGACY_REFERENCE[name]: OFFICIAL_REFERENCE}
                              if name in LEGACY_REFERENCE else {})
    for name, cls in MESSAGE_CLASSES.items() if name not in NOT_RESPONSES
}


def render(message: PayloadMessage) -> Rendered:
    """Serialize once: the official bytes and the digest (C14N SHA-256)."""
    shape = _FLAT_SHAPES.get(type(message))
    written = fastwrite.write(message, shape) if shape is not None else None
    if written is not None:
        return Rendered(xml=written[0], digest=hashlib.sha256(written[1]).hexdigest())
    return render_with_xsdata(message)


def render_with_xsdata(message: PayloadMessage) -> Rendered:
    """The general path (and the reference the flat writer is tested against)."""
    root = to_official(parse_xml(_SERIALIZER.render(message).encode("utf-8")))
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Rendered(xml=xml, digest=hashlib.sha256(etree.tostring(root, method="c14n")).hexdigest())


def seal_bytes(inner: bytes, private_key: str) -> bytes:
    return crypto_sign(inner, base64.b64decode(private_key))


def envelope_xml(sender_domain: str, sender_role: str, sealed: bytes) -> bytes:
    """The SignedMessage wrapper, written directly: three attributes, two of them our own constants."""
    if not _DOMAIN.fullmatch(sender_domain) or sender_role not in ROLES:
        raise ValueError(f"not a UFTP sender: {sender_domain!r} / {sender_role!r}")
    body = base64.b64encode(sealed).decode("ascii")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<SignedMessage SenderDomain="{sender_domain}" '
            f'SenderRole="{sender_role}" Body="{body}"/>\n').encode("ascii")


def seal(message: PayloadMessage, private_key: str, dialect: str = OFFICIAL) -> bytes:
    """libsodium ``crypto_sign``: the 64-byte signature followed by the inner XML."""
    return crypto_sign(to_xml(message, dialect), base64.b64decode(private_key))


def signed_message_xml(message: PayloadMessage, sender_role: str, private_key: str, dialect: str = OFFICIAL,
                       sender_domain: str | None = None) -> bytes:
    """The SignedMessage wrapper; its SenderDomain is the inner one unless given (tests forge mismatches)."""
    envelope = SignedMessage(
        sender_domain=sender_domain or str(message.sender_domain), sender_role=sender_role,
        body=seal(message, private_key, dialect),
    )
    return to_xml(envelope)


def read_envelope(data: bytes, schemas: SchemaSet | None = None) -> Envelope:
    try:
        root = parse_xml(data)
    except UnsafeXmlError as exc:
        raise EnvelopeError(str(exc)) from exc
    if etree.QName(root).localname != "SignedMessage":
        raise EnvelopeError(f"expected a SignedMessage, got '{etree.QName(root).localname}'")
    if schemas is not None:
        errors = schemas.errors(root)
        if errors:
            raise EnvelopeError("; ".join(errors))
    domain, role, body = root.get("SenderDomain"), root.get("SenderRole"), root.get("Body")
    if not domain or not role or body is None:
        raise EnvelopeError("SignedMessage needs SenderDomain, SenderRole and Body")
    try:
        raw = base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise EnvelopeError("Body is not base64") from exc
    return Envelope(sender_domain=domain, sender_role=role, body=raw)


def unseal(body: bytes, public_key: str) -> bytes:
    try:
        return bytes(crypto_sign_open(body, base64.b64decode(public_key)))
    except (BadSignatureError, ValueError) as exc:
        raise SignatureError("signature does not verify with the sender's public key") from exc


def read_payload(inner: bytes, schemas: SchemaSet | None = None) -> Payload:
    try:
        root = parse_xml(inner)
    except UnsafeXmlError as exc:
        raise PayloadError(str(exc)) from exc
    name = etree.QName(root).localname
    cls = MESSAGE_CLASSES.get(name)
    if cls is None:
        raise PayloadError(f"'{name}' is not a UFTP payload message")
    to_official(root)
    if schemas is not None:
        errors = schemas.errors(root)
        if errors:
            raise PayloadError("; ".join(errors))
    digest = hashlib.sha256(etree.tostring(root, method="c14n")).hexdigest()
    to_legacy(root)
    fast = fastread.read_model(root, _FAST_PLANS[name])
    if fast is not None:  # the common, exactly-understood case; everything else takes xsdata's path
        return Payload(message=fast, xml=inner, digest=digest)
    try:
        message = _PARSER.parse(root, cls)
    except (ParserError, TypeError, ValueError) as exc:
        if schemas is None:
            raise PayloadError(f"cannot read {name}: {exc}") from exc
        bare = cls.__new__(cls)
        for attribute, field_name in _METADATA.items():
            setattr(bare, field_name, root.get(attribute))
        raise SemanticPayloadError(f"{name}: {exc}", Payload(message=bare, xml=inner, digest=digest)) from exc
    return Payload(message=message, xml=inner, digest=digest)


_METADATA = {"Version": "version", "SenderDomain": "sender_domain", "RecipientDomain": "recipient_domain",
             "TimeStamp": "time_stamp", "MessageID": "message_id", "ConversationID": "conversation_id"}


def now_stamp(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp(
    message: PayloadMessage, sender_domain: str, recipient_domain: str, conversation_id: str | None = None
) -> Any:
    """Fill the metadata every message carries; ids are fresh UUIDs unless given."""
    message.version = message.version or SPEC_VERSION
    message.sender_domain = sender_domain
    message.recipient_domain = recipient_domain
    message.time_stamp = message.time_stamp or now_stamp()
    message.message_id = message.message_id or str(uuid.uuid4())
    message.conversation_id = conversation_id or message.conversation_id or str(uuid.uuid4())
    return message


def response_reference_field(request_cls: type) -> str:
    """Python field of the *Response that names the request (``flex_request_message_id``)."""
    return _snake(request_cls.__name__) + "_message_id"


def response_for(
    request: PayloadMessage, our_domain: str, rejection: str | None, **extra: Any
) -> PayloadMessageResponse:
    """The *Response to ``request``: Accepted, or Rejected with the RejectionReason text."""
    request_cls = type(request)
    response_cls = RESPONSE_CLASSES[request_cls]
    fields: dict[str, Any] = {
        "result": AcceptedRejected.REJECTED if rejection else AcceptedRejected.ACCEPTED,
        "rejection_reason": rejection,
        **extra,
    }
    fields[response_reference_field(request_cls)] = request.message_id
    response = response_cls(**fields)
    return stamp(response, our_domain, str(request.sender_domain), conversation_id=request.conversation_id)
