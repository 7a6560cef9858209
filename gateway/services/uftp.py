"""UFTP message handling: authenticate, validate, persist, then answer asynchronously.

The order follows the specification's transport appendix. Until the inner message is
unsealed and schema-valid, problems are HTTP status codes (400/401/403). After that
every outcome is a *Response message (Accepted, or Rejected with the table's
RejectionReason), written to the outbox in the same transaction that records the
inbound message — the HTTP 200 is only sent once both are committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shapeshifter_uftp.uftp import (
    FlexOffer,
    FlexOfferRevocation,
    FlexOrder,
    FlexSettlement,
    PayloadMessage,
    PayloadMessageResponse,
)
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.usef import codec, reasons
from adapters.usef.rules import semantic_reasons, to_datetime
from gateway.db.uftp import UftpMessage, UftpParticipant
from gateway.services import uftp_outbox
from gateway.services.uftp_config import UftpSettings
from gateway.services.uftp_writer import SHARED_TRANSACTION


class TransportRejection(Exception):
    """A failure answered with an HTTP status, before a *Response can be addressed."""

    def __init__(self, status: int, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.status = status
        self.reason = reason
        self.detail = detail or reason


@dataclass
class Outcome:
    """What one inbound message led to: its verdict and the outbox rows to deliver now."""

    message_id: str
    message_type: str
    rejection: str | None
    outbox_ids: list[int] = field(default_factory=list)
    prepared: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    """endpoint and sealed body of the rows above, so the first attempt needs no read"""
    follow_up: list[Callable[[Session], list[int]]] = field(default_factory=list)


# Inbound type -> (python attribute, XML attribute, referenced type, direction of the referenced message)
REFERENCES: dict[type, list[tuple[str, str, str, str]]] = {
    FlexOffer: [("flex_request_message_id", "FlexRequestMessageID", "FlexRequest", "out")],
    FlexOrder: [("flex_offer_message_id", "FlexOfferMessageID", "FlexOffer", "out")],
    FlexOfferRevocation: [("flex_offer_message_id", "FlexOfferMessageID", "FlexOffer", "in")],
}
PERIOD_BEARING = (FlexOffer, FlexOrder)
# One compiled statement reused with parameters: building a fresh INSERT per message costs more than running it.
_INSERT_MESSAGE = insert(UftpMessage.__table__)
_PARTICIPANTS_BY_DOMAIN = select(UftpParticipant.__table__).where(
    UftpParticipant.__table__.c.domain == bindparam("domain"))
_PREVIOUS_DIGEST = select(UftpMessage.__table__.c.digest).where(
    UftpMessage.__table__.c.direction == "in", UftpMessage.__table__.c.sender_domain == bindparam("sender"),
    UftpMessage.__table__.c.message_id == bindparam("message_id"))


def now_utc() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- registry

def find_participant(session: Session, domain: str, role: str) -> UftpParticipant | None:
    return session.scalars(
        select(UftpParticipant).where(UftpParticipant.domain == domain, UftpParticipant.role == role)
    ).first()


def upsert_participant(session: Session, *, domain: str, role: str, public_key: str, endpoint: str,
                       dialect: str = codec.OFFICIAL, barred: bool = False) -> UftpParticipant:
    from adapters.usef.keys import normalize_public_key

    if role not in codec.ROLES:
        raise ValueError(f"role must be one of {', '.join(codec.ROLES)}")
    row = find_participant(session, domain, role) or UftpParticipant(domain=domain, role=role)
    row.public_key = normalize_public_key(public_key)
    row.endpoint = endpoint
    row.dialect = dialect
    row.barred = barred
    session.add(row)
    session.flush()
    return row


# ---------------------------------------------------------------- outbound

def _expiry(message: PayloadMessage) -> datetime | None:
    value = getattr(message, "expiration_date_time", None)
    return to_datetime(value) if value else None


def record(session: Session, *, direction: str, message: PayloadMessage, sender_role: str, counterparty: str,
           digest: str, xml: bytes, status: str, rejection: str | None = None) -> None:
    """Log one message (a Core INSERT: this is the hot path, and a duplicate raises at once)."""
    reference = None
    for attribute, *_ in REFERENCES.get(type(message), []):
        reference = getattr(message, attribute, None) or reference
    if isinstance(message, PayloadMessageResponse):
        request_cls = next((k for k, v in codec.RESPONSE_CLASSES.items() if v is type(message)), None)
        if request_cls is not None:
            reference = getattr(message, codec.response_reference_field(request_cls), None)
    session.connection().execute(_INSERT_MESSAGE, {
        "direction": direction, "message_id": str(message.message_id),
        "conversation_id": str(message.conversation_id), "message_type": codec.message_type_name(type(message)),
        "sender_domain": str(message.sender_domain), "sender_role": sender_role, "counterparty": counterparty,
        "reference_id": reference,
        "business_ref": getattr(message, "order_reference", None) if isinstance(message, FlexOrder) else None,
        "period": str(message.period) if getattr(message, "period", None) is not None else None,
        "congestion_point": getattr(message, "congestion_point", None), "expires_at": _expiry(message),
        "revoked": False, "status": status, "rejection_reason": rejection, "digest": digest,
        "xml": xml.decode("utf-8", errors="replace"), "created_at": now_utc(),
    })


def send(session: Session, cfg: UftpSettings, message: PayloadMessage, *, recipient_domain: str,
         recipient_role: str, conversation_id: str | None = None, peer: Any = None) -> int:
    """Stamp, seal, log and queue one outbound message; returns its outbox id (deliver after commit).

    The outbox row is born leased to the caller, who delivers it right after the commit;
    the retry loop only takes it over if that first attempt never happens.
    """
    peer = peer or find_participant(session, recipient_domain, recipient_role)
    if peer is None:
        raise LookupError(f"no {recipient_role} participant '{recipient_domain}' in the UFTP registry")
    our_role = _our_role_towards(recipient_role, message)
    codec.stamp(message, cfg.domain, recipient_domain, conversation_id=conversation_id)
    rendered = codec.render(message)
    schemas = cfg.schemas()
    if schemas is not None:
        errors = schemas.errors(rendered.root)
        if errors:
            raise ValueError("outbound message violates the UFTP schema: " + "; ".join(errors))
    sealed = codec.seal_bytes(rendered.for_dialect(peer.dialect), cfg.keypair().private_key)
    record(session, direction="out", message=message, sender_role=our_role, counterparty=recipient_domain,
           digest=rendered.digest, xml=rendered.xml, status="sent")
    return uftp_outbox.enqueue(
        session, message_id=str(message.message_id), message_type=codec.message_type_name(type(message)),
        recipient_domain=recipient_domain, recipient_role=recipient_role, endpoint=peer.endpoint,
        body=codec.envelope_xml(cfg.domain, our_role, sealed),
    )


def _our_role_towards(recipient_role: str, message: PayloadMessage) -> str:
    route = codec.routing(type(message))
    if route is not None:
        return route[0]
    return "DSO" if recipient_role == "AGR" else "AGR"


# ---------------------------------------------------------------- inbound

def _authenticate(session: Session, envelope: codec.Envelope, cfg: UftpSettings) -> Any:
    """The registry row (domain, role, public_key, endpoint, dialect, barred) of the envelope's sender."""
    if envelope.sender_role not in codec.ROLES:
        raise TransportRejection(403, reasons.INVALID_SENDER_ROLE)
    known = session.connection().execute(_PARTICIPANTS_BY_DOMAIN, {"domain": envelope.sender_domain}).all()
    if not known:
        raise TransportRejection(401, reasons.UNKNOWN_SENDER_DOMAIN)
    peer = next((p for p in known if p.role == envelope.sender_role), None)
    if peer is None:
        raise TransportRejection(401, reasons.INVALID_SENDER_COMBINATION)
    if not any(_talks_to(envelope.sender_role, ours) for ours in cfg.roles):
        raise TransportRejection(403, reasons.INVALID_SENDER_ROLE)
    if peer.barred:
        raise TransportRejection(403, reasons.BARRED_SENDER)
    return peer


def _talks_to(sender_role: str, our_role: str) -> bool:
    return {sender_role, our_role} in ({"AGR", "DSO"}, {"AGR", "CRO"}, {"DSO", "CRO"})


def _recipient_role(message: PayloadMessage, sender_role: str, cfg: UftpSettings) -> str | None:
    route = codec.routing(type(message))
    if route is None:  # TestMessage(Response): whichever of our roles talks to the sender
        return next((r for r in cfg.roles if _talks_to(sender_role, r)), None)
    if route[0] != sender_role or route[1] not in cfg.roles:
        return None
    return route[1]


def _reference_reasons(session: Session, message: PayloadMessage, sender: str, now: datetime) -> list[str]:
    found: list[str] = []
    checks = list(REFERENCES.get(type(message), []))
    if isinstance(message, PayloadMessageResponse) and not isinstance(message, FlexSettlement):
        request_cls = next((k for k, v in codec.RESPONSE_CLASSES.items() if v is type(message)), None)
        if request_cls is not None:
            checks.append((codec.response_reference_field(request_cls),
                           codec.LEGACY_REFERENCE[codec.message_type_name(type(message))],
                           codec.message_type_name(request_cls), "out"))
    for attribute, xml_name, ref_type, direction in checks:
        ref_id = getattr(message, attribute, None)
        if ref_id is None:
            if isinstance(message, (FlexOffer, FlexOrder)) and message.unsolicited is False:
                found.append(reasons.unknown_reference(xml_name))
            continue
        ref = session.scalars(
            select(UftpMessage).where(
                UftpMessage.message_id == ref_id, UftpMessage.direction == direction,
                UftpMessage.message_type == ref_type, UftpMessage.counterparty == sender,
                UftpMessage.status != "rejected",
            )
        ).first()
        if ref is None:
            found.append(reasons.unknown_reference(xml_name))
            continue
        if ref.revoked:
            found.append(reasons.REFERENCE_MESSAGE_REVOKED)
        if ref.expires_at is not None and ref.expires_at <= now and not isinstance(message, PayloadMessageResponse):
            found.append(reasons.REFERENCE_MESSAGE_EXPIRED)
        if isinstance(message, PERIOD_BEARING) and ref.period is not None and ref.period != str(message.period):
            found.append(reasons.REFERENCE_PERIOD_MISMATCH)
    if isinstance(message, FlexSettlement):
        for item in message.flex_order_settlements:
            order = session.scalars(
                select(UftpMessage).where(
                    UftpMessage.message_type == "FlexOrder", UftpMessage.direction == "in",
                    UftpMessage.counterparty == sender, UftpMessage.business_ref == item.order_reference,
                    UftpMessage.status == "accepted",
                )
            ).first()
            if order is None:
                found.append(reasons.unknown_reference("OrderReference"))
            elif order.period != str(item.period):
                found.append(reasons.REFERENCE_PERIOD_MISMATCH)
    return found


def _message_reasons(message: PayloadMessage, envelope: codec.Envelope, cfg: UftpSettings,
                     recipient_role: str | None, now: datetime) -> list[str]:
    found: list[str] = []
    if message.sender_domain != envelope.sender_domain:
        found.append(reasons.MISMATCH_SENDER_DOMAIN)
    if message.recipient_domain != cfg.domain:
        found.append(reasons.UNKNOWN_RECIPIENT_DOMAIN)
    if recipient_role is None or message.version not in codec.SUPPORTED_VERSIONS:
        found.append(reasons.INVALID_MESSAGE)
    found += semantic_reasons(message, cfg.market(), now)
    return found


@dataclass
class Opened:
    """An authenticated, unsealed, parsed inbound message and its stateless verdict."""

    envelope: codec.Envelope
    peer: Any  # a registry row: domain, role, public_key, endpoint, dialect, barred
    payload: codec.Payload
    inner: bytes
    recipient_role: str | None
    stateless: list[str]


def open_message(session: Session, cfg: UftpSettings, data: bytes, now: datetime) -> Opened:
    """Everything that needs no write: parse, authenticate, unseal, schema and stateless rules.

    Raises TransportRejection for HTTP-level failures. Kept apart from :func:`conclude`
    so that the CPU-heavy part runs outside the store's write serialisation.
    """
    schemas = cfg.schemas()
    try:
        envelope = codec.read_envelope(data, schemas)
    except codec.EnvelopeError as exc:
        raise TransportRejection(400, reasons.INVALID_SIGNED_MESSAGE, str(exc)) from exc
    peer = _authenticate(session, envelope, cfg)
    try:
        inner = codec.unseal(envelope.body, peer.public_key)
    except codec.SignatureError as exc:
        raise TransportRejection(401, "Invalid signature", str(exc)) from exc
    try:
        payload = codec.read_payload(inner, schemas)
    except codec.SemanticPayloadError as exc:  # valid USEF XML: answered with a Rejected *Response
        payload = exc.payload
        recipient_role = _recipient_role(payload.message, envelope.sender_role, cfg)
        return Opened(envelope, peer, payload, inner, recipient_role, [reasons.INVALID_MESSAGE])
    except codec.PayloadError as exc:
        raise TransportRejection(400, reasons.INVALID_MESSAGE, str(exc)) from exc
    recipient_role = _recipient_role(payload.message, envelope.sender_role, cfg)
    stateless = _message_reasons(payload.message, envelope, cfg, recipient_role, now)
    return Opened(envelope, peer, payload, inner, recipient_role, stateless)


def conclude(session: Session, cfg: UftpSettings, opened: Opened, now: datetime, handlers: Any = None) -> Outcome:
    """Conversation checks, then record the message and queue its *Response (caller commits)."""
    message, sender, peer = opened.payload.message, opened.envelope.sender_domain, opened.peer
    previous = session.connection().execute(
        _PREVIOUS_DIGEST, {"sender": sender, "message_id": message.message_id}).first()
    if previous is not None:
        same = previous.digest == opened.payload.digest
        verdict = reasons.ALREADY_SUBMITTED if same else reasons.DUPLICATE_IDENTIFIER
        return _answer(session, cfg, peer, message, verdict, handlers=handlers)

    found = list(opened.stateless)
    found += _reference_reasons(session, message, sender, now)
    if handlers is not None and not found and opened.recipient_role is not None:
        found += handlers.validate(session, cfg, message, sender)
    rejection = reasons.join(found)
    try:
        record(session, direction="in", message=message, sender_role=opened.envelope.sender_role,
               counterparty=sender, digest=opened.payload.digest, xml=opened.inner,
               status="rejected" if rejection else "accepted", rejection=rejection)
    except IntegrityError:  # a concurrent copy won the race: answer as the duplicate it is
        if session.info.get(SHARED_TRANSACTION):
            raise  # other messages' rows are in this transaction: the writer re-runs each on its own
        session.rollback()
        return conclude(session, cfg, opened, now, handlers)
    outcome = _answer(session, cfg, peer, message, rejection, handlers=handlers)
    if rejection is None:
        _apply_effects(session, message, sender)
        if handlers is not None:
            outcome.follow_up += handlers.follow_up(cfg, message, sender)
    return outcome


def receive(session: Session, cfg: UftpSettings, data: bytes, now: datetime | None = None,
            handlers: Any = None) -> Outcome:
    """Handle one POSTed SignedMessage in one session (the caller commits)."""
    moment = now or now_utc()
    return conclude(session, cfg, open_message(session, cfg, data, moment), moment, handlers)


def _answer(session: Session, cfg: UftpSettings, peer: Any, message: PayloadMessage,
            rejection: str | None, *, handlers: Any = None) -> Outcome:
    outcome = Outcome(message_id=str(message.message_id), message_type=codec.message_type_name(type(message)),
                      rejection=rejection)
    if type(message) not in codec.RESPONSE_CLASSES:
        return outcome  # responses are not answered
    extra = handlers.response_fields(session, message, rejection) if handlers is not None else {}
    response = codec.response_for(message, cfg.domain, rejection, **extra)
    outcome.outbox_ids.append(
        send(session, cfg, response, recipient_domain=peer.domain, recipient_role=peer.role,
             conversation_id=str(message.conversation_id), peer=peer)
    )
    return outcome


def _apply_effects(session: Session, message: PayloadMessage, sender: str) -> None:
    """State changes an accepted message implies for the messages it refers to."""
    if isinstance(message, FlexOfferRevocation):
        offer = session.scalars(select(UftpMessage).where(
            UftpMessage.message_id == message.flex_offer_message_id, UftpMessage.direction == "in",
            UftpMessage.counterparty == sender)).first()
        if offer is not None:
            offer.revoked = True
    if isinstance(message, PayloadMessageResponse) and not isinstance(message, FlexSettlement):
        request_cls = next((k for k, v in codec.RESPONSE_CLASSES.items() if v is type(message)), None)
        ref_id = getattr(message, codec.response_reference_field(request_cls), None) if request_cls else None
        original = session.scalars(select(UftpMessage).where(
            UftpMessage.message_id == ref_id, UftpMessage.direction == "out",
            UftpMessage.counterparty == sender)).first()
        if original is not None:
            original.status = "accepted" if str(message.result) == "Accepted" else "rejected"
            original.rejection_reason = message.rejection_reason
