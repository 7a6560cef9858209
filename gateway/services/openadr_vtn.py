"""The hub as an OpenADR 2.0b VTN: one handler per message type, transport-independent.

Why our own handler and not openleadr's ``OpenADRServer``: its services keep state
in memory (not scale-out safe), validate with a parser that crashes on entity
payloads, stub out EiOpt, and cannot answer HISTORY/STATUS reports. We keep its
templates and payload dicts (via :mod:`adapters.openadr.messages`) and put every
decision and every stored fact here, against the database.

Replies always carry the venID and echo the requestID of the message answered;
protocol failures are answered with 2.0b status codes (452 invalid ID, 454
invalid data, 459 compliance, 463 not registered...), never an exception.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.openadr import codec, signing
from adapters.openadr.messages import Inbound, decode, encode, escape_text
from adapters.openadr.schema import MAX_DOCUMENT_BYTES, SchemaInvalid, XmlRejected
from core.flexoffer import FlexOffer, validate_offer
from gateway.db.openadr import (
    OadrDelivery,
    OadrEvent,
    OadrInbound,
    OadrMeasurement,
    OadrNonce,
    OadrOpt,
    OadrOutbox,
    OadrReportRegistration,
    OadrReportRequest,
    OadrVen,
)
from gateway.services.openadr_events import render_event

log = logging.getLogger("flexhub.openadr")

OK = 200
OUT_OF_SEQUENCE = 450
NOT_ALLOWED = 451
INVALID_ID = 452
NOT_RECOGNIZED = 453
INVALID_DATA = 454
COMPLIANCE_ERROR = 459
REPORT_NOT_SUPPORTED = 461
NOT_REGISTERED = 463

SERVICE_OF = {
    "oadrQueryRegistration": "EiRegisterParty",
    "oadrCreatePartyRegistration": "EiRegisterParty",
    "oadrCancelPartyRegistration": "EiRegisterParty",
    "oadrCanceledPartyRegistration": "EiRegisterParty",
    "oadrRequestEvent": "EiEvent",
    "oadrCreatedEvent": "EiEvent",
    "oadrCreateOpt": "EiOpt",
    "oadrCancelOpt": "EiOpt",
    "oadrRegisterReport": "EiReport",
    "oadrRegisteredReport": "EiReport",
    "oadrCreatedReport": "EiReport",
    "oadrUpdateReport": "EiReport",
    "oadrCanceledReport": "EiReport",
    "oadrPoll": "OadrPoll",
    "oadrResponse": "*",
}
SERVICES = frozenset({"EiRegisterParty", "EiEvent", "EiOpt", "EiReport", "OadrPoll"})
_VEN_PLACEHOLDER = "VEN-ID-PLACEHOLDER-7f3a"
_POLL_STATE = text(
    "SELECT v.registration_id, v.fingerprint, v.xml_signature,"
    " EXISTS(SELECT 1 FROM oadr_outbox o WHERE o.ven_id = v.ven_id AND o.delivered_at IS NULL),"
    " EXISTS(SELECT 1 FROM oadr_deliveries d WHERE d.ven_id = v.ven_id AND d.pending = :pending)"
    " FROM oadr_vens v WHERE v.ven_id = :ven_id"
)
NONCE_PRUNE_EVERY = timedelta(minutes=1)


def nonce_retention() -> timedelta:
    return signing.MAX_AGE + signing.MAX_SKEW + timedelta(minutes=1)


EMPTY_REPLY_CACHE = 100_000
"""Rendered empty poll replies kept (one per venID, about 700 bytes each)."""
AUTO_REQUESTED_REPORTS = frozenset({"TELEMETRY_USAGE", "TELEMETRY_STATUS"})


class OpenADRSettings(BaseModel):
    """``[openadr]`` in the hub's TOML (``FLEXHUB_OPENADR__VTN_ID`` ...)."""

    enabled: bool = True
    vtn_id: str = "FLEXHUB-VTN"
    poll_seconds: int = 10
    open_registration: bool = True
    """Accept VENs not provisioned beforehand; with TLS the venID is still the cert fingerprint."""
    auto_request_reports: bool = True
    max_message_bytes: int = MAX_DOCUMENT_BYTES
    require_signature: bool = False
    dispatch_assignments: bool = True
    """Flex-offer assignments (FMAN, FMAR) go out as LOAD_DISPATCH events to the owner's VENs."""
    party_vens: dict[str, list[str]] = Field(default_factory=dict)
    """Party -> venIDs acting for it, besides the VEN whose venID is the party itself."""
    wiring_refresh_seconds: float = 2.0
    push_interval_seconds: float = 1.0
    """How often waiting messages are pushed to push-model VENs; 0 turns the push worker off."""
    xmpp_jid: str | None = None
    """The VTN's XMPP account (e.g. vtn@example.org/hub); set it to serve VENs over XMPP."""
    xmpp_password: str | None = None
    xmpp_host: str = "127.0.0.1"
    xmpp_port: int = 5222
    xmpp_allow_plain: bool = False
    signing_cert: str | None = None
    """PEM certificate (path) the VTN signs its replies with (XMLDSig with ReplayProtect); with signing_key."""
    signing_key: str | None = None
    signing_key_passphrase: str | None = None


def openadr_settings(settings: Any) -> OpenADRSettings:
    value = getattr(settings, "openadr", None)
    if isinstance(value, OpenADRSettings):
        return value
    if isinstance(value, dict):
        return OpenADRSettings.model_validate(value)
    if isinstance(value, BaseModel):
        return OpenADRSettings.model_validate(value.model_dump())
    return OpenADRSettings()


@dataclass
class Reply:
    """What the transport sends back: an HTTP status and an XML body (or a problem text)."""

    http_status: int
    body: str
    message_type: str | None = None
    response_code: int | None = None


@dataclass
class Peer:
    """What the transport knows about the caller: the TLS client-certificate fingerprint, if any."""

    fingerprint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ProtocolError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


class VtnService:
    """Answers one inbound message at a time; all state lives in the database."""

    def __init__(self, session_factory: sessionmaker[Any], config: OpenADRSettings,
                 on_flex_offer: Callable[[Session, Any], None] | None = None) -> None:
        self.sessions = session_factory
        self.config = config
        self.on_flex_offer = on_flex_offer
        # The empty poll reply differs only by venID: render it once, fill it per poll.
        self._empty_reply = encode("oadrResponse", response=self._ok(None), ven_id=_VEN_PLACEHOLDER)
        self._poll_sql: tuple[str, list[str]] | None = None
        self._empty_replies: dict[str, Reply] = {}  # venID -> its rendered empty reply (pure function of venID)
        self._fast_connections = threading.local()
        self._signing: dict[str, Any] = {}
        if config.signing_cert and config.signing_key:
            self._signing = {"cert": Path(config.signing_cert).read_bytes(),
                             "key": Path(config.signing_key).read_bytes(),
                             "passphrase": config.signing_key_passphrase}
        self._nonces_pruned_at: datetime | None = None
        self._handlers: dict[str, Callable[[Session, Inbound, Peer], tuple[str, dict[str, Any]] | None]] = {
            "oadrQueryRegistration": self._query_registration,
            "oadrCreatePartyRegistration": self._create_party_registration,
            "oadrCancelPartyRegistration": self._cancel_party_registration,
            "oadrCanceledPartyRegistration": self._acknowledged,
            "oadrRequestEvent": self._request_event,
            "oadrCreatedEvent": self._created_event,
            "oadrCreateOpt": self._create_opt,
            "oadrCancelOpt": self._cancel_opt,
            "oadrRegisterReport": self._register_report,
            "oadrRegisteredReport": self._acknowledged,
            "oadrCreatedReport": self._created_report,
            "oadrUpdateReport": self._update_report,
            "oadrCanceledReport": self._acknowledged,
            "oadrPoll": self._poll,
        }

    # --- entry point -------------------------------------------------------------------

    def fast_poll(self, body: bytes, peer: Peer | None = None) -> Reply | None:
        """The common case of the most frequent message: a registered VEN polls and nothing waits.

        One read-only query, no ORM session, a pre-rendered reply. Anything else
        (not a poll, unknown VEN, something queued) returns ``None`` for :meth:`handle`.
        """
        try:
            head = decode(body, max_bytes=self.config.max_message_bytes, full=False)
        except ValueError:
            return None
        ven_id = head.payload.get("ven_id")
        if head.message_type != "oadrPoll" or not ven_id or self.config.require_signature or self._signing \
                or signing.has_signature(head.root):
            return None
        row = self._poll_state(ven_id)
        if row is None or row[0] is None or row[2] or row[3] or row[4]:
            return None
        fingerprint = (peer or Peer()).fingerprint
        if fingerprint is not None and row[1] and row[1] != fingerprint:
            return None
        reply = self._empty_replies.get(ven_id)
        if reply is None:
            if len(self._empty_replies) >= EMPTY_REPLY_CACHE:
                self._empty_replies.clear()
            reply = self._empty_replies[ven_id] = Reply(
                200, self._empty_reply.replace(_VEN_PLACEHOLDER, escape_text(ven_id)), "oadrResponse", OK)
        return reply

    def _poll_state(self, ven_id: str) -> Any:
        """The VEN's registration and whether anything waits for it: one indexed read, asked every poll.

        The answer is never cached: another replica may queue an event at any time,
        and the database is the one place that knows. What is kept is the DBAPI
        connection of the calling thread (the listener's event loop), so a poll does
        not pay for a pool checkout; SQLite reads outside a transaction see every
        commit, and other drivers end the read transaction right after it.
        """
        engine: Engine = self.sessions.kw["bind"]
        if self._poll_sql is None:  # compiled once for this engine's driver (qmark, pyformat ...)
            compiled = _POLL_STATE.compile(dialect=engine.dialect)
            self._poll_sql = (str(compiled), compiled.positiontup or [])
        sql, order = self._poll_sql
        values = {"ven_id": ven_id, "pending": True}
        params: Any = [values[name] for name in order] if order else values
        raw = getattr(self._fast_connections, "raw", None)
        if raw is None:
            raw = self._fast_connections.raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql, params)
            row = cursor.fetchone()
            cursor.close()
            if engine.dialect.name != "sqlite":
                raw.rollback()
        except Exception:
            self._fast_connections.raw = None
            raw.invalidate()
            raise
        return row

    def close(self) -> None:
        """Give the held poll connection of the calling thread back to the pool."""
        raw = getattr(self._fast_connections, "raw", None)
        if raw is not None:
            self._fast_connections.raw = None
            raw.close()

    def handle(self, service: str, body: bytes, peer: Peer | None = None) -> Reply:
        peer = peer or Peer()
        if service not in SERVICES:
            return Reply(404, f"unknown OpenADR service {service!r}")
        try:
            head = decode(body, max_bytes=self.config.max_message_bytes, full=False)
        except XmlRejected as exc:
            return Reply(413 if exc.too_large else 400, exc.reason)
        except SchemaInvalid as exc:
            return Reply(400, f"XML failed validation against oadr_20b.xsd: {exc.reason}")
        except ValueError as exc:
            return Reply(400, str(exc))
        message_type = head.message_type
        refused = self._check_signature(head, peer)
        if refused is not None:
            return refused
        if message_type == "oadrResponse":
            return Reply(200, "", None)
        expected = SERVICE_OF.get(message_type)
        if expected is None:
            return self._error(message_type, {}, COMPLIANCE_ERROR, f"{message_type} is not accepted by a VTN")
        if expected != service:
            return self._error(message_type, head.payload, COMPLIANCE_ERROR,
                               f"{message_type} belongs to {expected}, not {service}")
        if message_type == "oadrPoll":
            inbound = head
        else:
            try:
                inbound = decode(body, max_bytes=self.config.max_message_bytes, full=True)
            except Exception as exc:  # openleadr's dict builder on an XSD-valid but odd document
                log.warning("could not read %s: %s", message_type, exc)
                return self._error(message_type, head.payload, INVALID_DATA, f"unreadable {message_type}")
        with self.sessions() as session:
            try:
                result = self._handlers[message_type](session, inbound, peer)
                session.commit()
            except ProtocolError as exc:
                session.rollback()
                return self._error(message_type, inbound.payload, exc.code, exc.description)
        if result is None:
            return Reply(200, "", None)
        if result[0] == "raw":
            return Reply(200, result[1]["body"], result[1]["message_type"], OK)
        reply_type, payload = result
        code = (payload.get("response") or {}).get("response_code")
        return Reply(200, encode(reply_type, **payload, **self._signing), reply_type, code)

    def _check_signature(self, head: Inbound, peer: Peer) -> Reply | None:
        """Verify XMLDSig when present or required, and spend its nonce (a replay gets 403)."""
        from sqlalchemy.exc import IntegrityError

        ven_id = head.payload.get("ven_id")
        with self.sessions() as session:
            ven = session.get(OadrVen, ven_id) if ven_id else None
            required = self.config.require_signature or (ven is not None and ven.xml_signature)
            if not required and not signing.has_signature(head.root):
                return None
            expected = peer.fingerprint or (ven.fingerprint if ven is not None else None)
            try:
                token = signing.verify(head.root, expected_fingerprint=expected)
            except signing.SignatureRejected as exc:
                return Reply(403, str(exc))
            session.add(OadrNonce(nonce=token.nonce[:200], received_at=_now()))
            try:
                session.commit()
            except IntegrityError:
                return Reply(403, "replayed message: this ReplayProtect nonce was already used")
            self._prune_nonces(session)
        return None

    def _prune_nonces(self, session: Session) -> None:
        """Forget nonces whose messages the timestamp window refuses anyway (at most once a minute).

        A message is accepted until its timestamp is ``MAX_AGE`` old, and its timestamp
        may lead our clock by ``MAX_SKEW``; a nonce received longer ago than both can
        only come back in a message that fails the window, so it need not be kept.
        """
        now = _now()
        if self._nonces_pruned_at is not None and now - self._nonces_pruned_at < NONCE_PRUNE_EVERY:
            return
        self._nonces_pruned_at = now
        session.execute(delete(OadrNonce).where(OadrNonce.received_at < now - nonce_retention()))
        session.commit()

    def _error(self, message_type: str, payload: dict[str, Any], code: int, description: str) -> Reply:
        ven_id = payload.get("ven_id")
        request_id = payload.get("request_id") or (payload.get("response") or {}).get("request_id")
        response = {"response_code": code, "response_description": description, "request_id": request_id}
        if message_type == "oadrCreatePartyRegistration":
            reply_type = "oadrCreatedPartyRegistration"
            body: dict[str, Any] = {"response": response, "ven_id": ven_id, "vtn_id": self.config.vtn_id,
                                    "profiles": [{"profile_name": "2.0b",
                                                  "transports": [{"transport_name": "simpleHttp"}]}]}
        elif message_type == "oadrRequestEvent":
            reply_type = "oadrDistributeEvent"
            body = {"response": response, "request_id": request_id or _new_id(), "vtn_id": self.config.vtn_id,
                    "events": []}
        else:
            reply_type = "oadrResponse"
            body = {"response": response, "ven_id": ven_id}
        return Reply(200, encode(reply_type, **body, **self._signing), reply_type, code)

    # --- helpers -----------------------------------------------------------------------

    def _ok(self, request_id: str | None) -> dict[str, Any]:
        return {"response_code": OK, "response_description": "OK", "request_id": request_id}

    def _registered_ven(self, session: Session, payload: dict[str, Any], peer: Peer) -> OadrVen:
        ven_id = payload.get("ven_id")
        if not ven_id:
            raise ProtocolError(NOT_REGISTERED, "the message names no venID")
        ven = session.get(OadrVen, ven_id)
        if ven is None or ven.registration_id is None:
            raise ProtocolError(NOT_REGISTERED, f"venID {ven_id} is not registered with this VTN")
        if peer.fingerprint is not None and ven.fingerprint and ven.fingerprint != peer.fingerprint:
            raise ProtocolError(NOT_REGISTERED, f"venID {ven_id} does not belong to this client certificate")
        jid = peer.extra.get("jid")
        if jid and ven.transport_name == "xmpp" and ven.transport_address and \
                ven.transport_address.split("/")[0] != str(jid).split("/")[0]:
            raise ProtocolError(NOT_REGISTERED, f"venID {ven_id} is registered to another XMPP address")
        return ven

    def _store_inbound(self, session: Session, inbound: Inbound, peer_id: str | None) -> None:
        session.add(OadrInbound(role="vtn", peer_id=peer_id, message_type=inbound.message_type,
                                body=inbound.raw.decode("utf-8", "replace"), received_at=_now()))

    def _registration_reply(self, request_id: str | None, ven: OadrVen | None) -> dict[str, Any]:
        return {
            "response": self._ok(request_id),
            "vtn_id": self.config.vtn_id,
            "ven_id": ven.ven_id if ven else None,
            "registration_id": ven.registration_id if ven else None,
            "profiles": [{"profile_name": "2.0b", "transports": [{"transport_name": "simpleHttp"}]}],
            "requested_oadr_poll_freq": timedelta(seconds=self.config.poll_seconds),
        }

    # --- EiRegisterParty ---------------------------------------------------------------

    def _query_registration(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        ven = None
        if peer.fingerprint:
            ven = session.scalar(select(OadrVen).where(OadrVen.fingerprint == peer.fingerprint))
            if ven is not None and ven.registration_id is None:
                ven = None
        return "oadrCreatedPartyRegistration", self._registration_reply(inbound.payload.get("request_id"), ven)

    def _create_party_registration(self, session: Session, inbound: Inbound,
                                   peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        if p.get("profile_name") not in (None, "2.0b"):
            raise ProtocolError(NOT_ALLOWED, f"profile {p.get('profile_name')} is not supported; use 2.0b")
        if p.get("transport_name") not in (None, "simpleHttp", "xmpp"):
            raise ProtocolError(NOT_ALLOWED, f"transport {p.get('transport_name')} is not offered here")
        if p.get("transport_name") == "xmpp" and peer.extra.get("jid"):
            p["transport_address"] = p.get("transport_address") or peer.extra["jid"]
        if not p.get("http_pull_model", True) and p.get("transport_address") in (None, "", "None"):
            raise ProtocolError(INVALID_DATA, "HTTP push needs an oadrTransportAddress")
        ven_id = p.get("ven_id")
        if peer.fingerprint:
            if ven_id and ven_id != peer.fingerprint:
                existing = session.get(OadrVen, ven_id)
                if existing is None or existing.fingerprint != peer.fingerprint:
                    raise ProtocolError(INVALID_ID, "the venID does not match the client certificate")
            ven_id = ven_id or peer.fingerprint
        ven = session.get(OadrVen, ven_id) if ven_id else None
        registration_id = p.get("registration_id")
        if registration_id:  # reregistration: it must be this VEN's current registration
            if ven is None or ven.registration_id != registration_id:
                raise ProtocolError(INVALID_ID, f"registrationID {registration_id} is not known for this VEN")
        if ven is None:
            if not self.config.open_registration:
                raise ProtocolError(NOT_REGISTERED, "this VTN only accepts provisioned VENs")
            ven = OadrVen(ven_id=ven_id or f"ven-{_new_id()[:20]}", groups=[], created_at=_now(),
                          fingerprint=peer.fingerprint)
            session.add(ven)
        ven.ven_name = p.get("ven_name") or ven.ven_id
        ven.profile_name = p.get("profile_name") or "2.0b"
        ven.transport_name = p.get("transport_name") or "simpleHttp"
        address = p.get("transport_address")
        ven.transport_address = None if address in (None, "", "None") else str(address)  # openleadr renders None
        ven.http_pull_model = bool(p.get("http_pull_model", True))
        ven.xml_signature = bool(p.get("xml_signature", False))
        ven.report_only = bool(p.get("report_only", False))
        ven.registration_id = ven.registration_id or f"reg-{_new_id()}"
        ven.updated_at = _now()
        self._store_inbound(session, inbound, ven.ven_id)
        session.flush()
        return "oadrCreatedPartyRegistration", self._registration_reply(p.get("request_id"), ven)

    def _cancel_party_registration(self, session: Session, inbound: Inbound,
                                   peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        ven = self._registered_ven(session, p, peer)
        if p.get("registration_id") != ven.registration_id:
            raise ProtocolError(INVALID_ID, f"registrationID {p.get('registration_id')} is not this VEN's")
        registration_id = ven.registration_id
        ven.registration_id = None
        ven.updated_at = _now()
        self._store_inbound(session, inbound, ven.ven_id)
        return "oadrCanceledPartyRegistration", {"response": self._ok(p.get("request_id")),
                                                 "registration_id": registration_id, "ven_id": ven.ven_id}

    def _acknowledged(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        ven_id = p.get("ven_id")
        if inbound.message_type != "oadrCanceledPartyRegistration":
            ven_id = self._registered_ven(session, p, peer).ven_id
        self._store_inbound(session, inbound, ven_id)
        request_id = (p.get("response") or {}).get("request_id") or p.get("request_id")
        return "oadrResponse", {"response": self._ok(request_id), "ven_id": ven_id}

    # --- EiEvent -----------------------------------------------------------------------

    def _events_for(self, session: Session, ven: OadrVen, *, only_pending: bool) -> list[dict[str, Any]]:
        """All the VEN's not-completed events (2.0b: a distribute carries the full current set)."""
        rows = session.execute(
            select(OadrDelivery, OadrEvent).join(OadrEvent, OadrEvent.event_id == OadrDelivery.event_id)
            .where(OadrDelivery.ven_id == ven.ven_id).order_by(OadrEvent.dtstart)
        ).all()
        if only_pending and not any(d.pending for d, _ in rows):
            return []
        now = _now()
        events = []
        for delivery, event in rows:
            rendered = render_event(event, ven.ven_id, now)
            status = rendered["event_descriptor"]["event_status"]
            if status == "completed" and not delivery.pending:
                continue
            if status == "cancelled" and not delivery.pending and delivery.sent_modification == \
                    event.modification_number:
                continue
            events.append(rendered)
            delivery.pending = False
            delivery.sent_modification = event.modification_number
        return events

    def _distribute(self, session: Session, ven: OadrVen, events: list[dict[str, Any]],
                    response: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        return "oadrDistributeEvent", {"response": response, "request_id": f"req-{_new_id()}",
                                       "vtn_id": self.config.vtn_id, "events": events}

    def _request_event(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        ven = self._registered_ven(session, inbound.payload, peer)
        events = self._events_for(session, ven, only_pending=False)
        limit = inbound.payload.get("reply_limit")
        if limit:
            events = events[: int(limit)]
        return self._distribute(session, ven, events, self._ok(inbound.payload.get("request_id")))

    def _created_event(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        ven = self._registered_ven(session, p, peer)
        self._store_inbound(session, inbound, ven.ven_id)
        unknown: list[str] = []
        for answer in p.get("event_responses") or []:
            delivery = session.scalar(select(OadrDelivery).where(
                OadrDelivery.event_id == answer.get("event_id"), OadrDelivery.ven_id == ven.ven_id))
            if delivery is None:
                unknown.append(str(answer.get("event_id")))
                continue
            delivery.opt_type = answer.get("opt_type")
            delivery.response_code = int(answer.get("response_code") or OK)
            delivery.responded_modification = int(answer.get("modification_number") or 0)
            delivery.responded_at = _now()
        # openleadr's template leaves eiCreatedEvent/eiResponse/requestID empty; the per-event one is set.
        answers = p.get("event_responses") or []
        request_id = (p.get("response") or {}).get("request_id") or (answers[0].get("request_id") if answers else None)
        if unknown:
            raise ProtocolError(INVALID_ID, f"unknown eventID(s) for this VEN: {', '.join(unknown)}")
        return "oadrResponse", {"response": self._ok(request_id), "ven_id": ven.ven_id}

    # --- EiOpt -------------------------------------------------------------------------

    def _create_opt(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        ven = self._registered_ven(session, p, peer)
        opt_id = p.get("opt_id")
        if not opt_id:
            raise ProtocolError(INVALID_DATA, "oadrCreateOpt without optID")
        event_id = p.get("event_id")
        if event_id:
            delivery = session.scalar(select(OadrDelivery).where(
                OadrDelivery.event_id == event_id, OadrDelivery.ven_id == ven.ven_id))
            if delivery is None:
                raise ProtocolError(INVALID_ID, f"eventID {event_id} was not sent to this VEN")
            delivery.opt_type = p.get("opt_type")
            delivery.responded_at = _now()
        windows = []
        availability = p.get("vavailability") or {}
        components = availability.get("components") or []
        if isinstance(components, dict):
            components = components.get("available") or []
        for component in components if isinstance(components, list) else [components]:
            props = component.get("properties", component) if isinstance(component, dict) else {}
            start, duration = props.get("dtstart"), props.get("duration")
            if start is not None and duration is not None:
                windows.append({"start": start.astimezone(UTC).isoformat(),
                                "end": (start + duration).astimezone(UTC).isoformat()})
        if not event_id and not windows:
            raise ProtocolError(INVALID_DATA, "an opt needs an eventID or a vavailability schedule")
        opt = session.get(OadrOpt, opt_id)
        if opt is not None and opt.ven_id != ven.ven_id:
            raise ProtocolError(INVALID_ID, f"optID {opt_id} belongs to another VEN")
        if opt is None:
            opt = OadrOpt(opt_id=opt_id, ven_id=ven.ven_id, created_at=_now())
            session.add(opt)
        resource_ids = [t.get("resource_id") for t in p.get("targets") or [] if isinstance(t, dict)
                        and t.get("resource_id")]
        opt.opt_type = p.get("opt_type") or "optOut"
        opt.opt_reason = p.get("opt_reason") or "notParticipating"
        opt.market_context = p.get("market_context")
        opt.event_id = event_id
        opt.resource_ids = resource_ids
        opt.windows = windows
        opt.cancelled_at = None
        self._store_inbound(session, inbound, ven.ven_id)
        return "oadrCreatedOpt", {"response": self._ok(p.get("request_id")), "opt_id": opt_id}

    def _cancel_opt(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        ven = self._registered_ven(session, p, peer)
        opt = session.get(OadrOpt, p.get("opt_id"))
        if opt is None or opt.ven_id != ven.ven_id:
            raise ProtocolError(INVALID_ID, f"optID {p.get('opt_id')} is not known for this VEN")
        opt.cancelled_at = _now()
        self._store_inbound(session, inbound, ven.ven_id)
        return "oadrCanceledOpt", {"response": self._ok(p.get("request_id")), "opt_id": opt.opt_id}

    # --- EiReport ----------------------------------------------------------------------

    def _register_report(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        ven = self._registered_ven(session, p, peer)
        self._store_inbound(session, inbound, ven.ven_id)
        requests: list[dict[str, Any]] = []
        for report in codec.registered_reports(inbound.root):
            if not report.report_specifier_id:
                raise ProtocolError(INVALID_DATA, "a registered report has no reportSpecifierID")
            row = session.scalar(select(OadrReportRegistration).where(
                OadrReportRegistration.ven_id == ven.ven_id,
                OadrReportRegistration.report_specifier_id == report.report_specifier_id))
            descriptions = [vars(d) for d in report.descriptions]
            if row is None:
                session.add(OadrReportRegistration(ven_id=ven.ven_id, report_specifier_id=report.report_specifier_id,
                                                   report_name=report.report_name, descriptions=descriptions,
                                                   created_at=_now()))
            else:
                row.report_name, row.descriptions = report.report_name, descriptions
            wanted = report.report_name.removeprefix("METADATA_") in AUTO_REQUESTED_REPORTS
            if self.config.auto_request_reports and wanted and report.descriptions:
                granularity = report.min_period or timedelta(seconds=self.config.poll_seconds)
                requests.append(self._report_request(session, ven.ven_id, report.report_specifier_id,
                                                     [d.r_id for d in report.descriptions],
                                                     [d.reading_type for d in report.descriptions],
                                                     granularity, granularity))
        return "oadrRegisteredReport", {"response": self._ok(p.get("request_id")), "ven_id": ven.ven_id,
                                        "report_requests": requests}

    def _report_request(self, session: Session, ven_id: str, specifier_id: str, r_ids: list[str],
                        reading_types: list[str], granularity: timedelta, report_back: timedelta,
                        interval: tuple[datetime, timedelta] | None = None) -> dict[str, Any]:
        request_id = f"rr-{_new_id()}"
        session.add(OadrReportRequest(
            report_request_id=request_id, ven_id=ven_id, report_specifier_id=specifier_id, r_ids=r_ids,
            granularity_seconds=int(granularity.total_seconds()),
            report_back_seconds=int(report_back.total_seconds()), state="requested",
            created_at=_now(), updated_at=_now()))
        specifier: dict[str, Any] = {
            "report_specifier_id": specifier_id,
            "granularity": granularity,
            "report_back_duration": report_back,
            "specifier_payloads": [{"r_id": r, "reading_type": t} for r, t in zip(r_ids, reading_types, strict=True)],
        }
        if interval is not None:
            specifier["report_interval"] = {"dtstart": interval[0], "duration": interval[1]}
        return {"report_request_id": request_id, "report_specifier": specifier}

    def queue_report_request(self, session: Session, ven_id: str, specifier_id: str, *,
                             granularity: timedelta, report_back: timedelta,
                             interval: tuple[datetime, timedelta] | None = None) -> str:
        """Ask a VEN for a registered report (e.g. HISTORY_USAGE over a past interval) on its next poll."""
        registration = session.scalar(select(OadrReportRegistration).where(
            OadrReportRegistration.ven_id == ven_id, OadrReportRegistration.report_specifier_id == specifier_id))
        if registration is None:
            raise ValueError(f"VEN {ven_id} has not registered a report {specifier_id}")
        descriptions = registration.descriptions
        request = self._report_request(session, ven_id, specifier_id, [d["r_id"] for d in descriptions],
                                       [d["reading_type"] for d in descriptions], granularity, report_back, interval)
        body = encode("oadrCreateReport", request_id=f"req-{_new_id()}", ven_id=ven_id, report_requests=[request])
        session.add(OadrOutbox(ven_id=ven_id, message_type="oadrCreateReport", body=body, created_at=_now()))
        return str(request["report_request_id"])

    def _created_report(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        ven = self._registered_ven(session, p, peer)
        self._store_inbound(session, inbound, ven.ven_id)
        pending = [r.get("report_request_id") if isinstance(r, dict) else r for r in p.get("pending_reports") or []]
        known = {r.report_request_id: r for r in session.scalars(select(OadrReportRequest).where(
            OadrReportRequest.ven_id == ven.ven_id, OadrReportRequest.report_request_id.in_(pending)))}
        for request in known.values():
            if request.state == "requested":
                request.state = "created"
                request.updated_at = _now()
        request_id = (p.get("response") or {}).get("request_id")
        return "oadrResponse", {"response": self._ok(request_id), "ven_id": ven.ven_id}

    def _update_report(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        p = inbound.payload
        ven = self._registered_ven(session, p, peer)
        reports = codec.report_data(inbound.root)
        registrations = {r.report_specifier_id: r for r in session.scalars(
            select(OadrReportRegistration).where(OadrReportRegistration.ven_id == ven.ven_id))}
        requests = {r.report_request_id: r for r in session.scalars(
            select(OadrReportRequest).where(OadrReportRequest.ven_id == ven.ven_id))}
        self._store_inbound(session, inbound, ven.ven_id)
        received = _now()
        for report in reports:
            request = requests.get(report.report_request_id)
            if request is None:
                raise ProtocolError(INVALID_ID, f"reportRequestID {report.report_request_id} was not issued "
                                                "to this VEN")
            if request.state == "cancelled":
                raise ProtocolError(INVALID_ID, f"reportRequestID {report.report_request_id} is cancelled")
            registration = registrations.get(report.report_specifier_id or request.report_specifier_id)
            descriptions = {d["r_id"]: codec.ReportDescription(**d) for d in (registration.descriptions
                                                                             if registration else [])}
            unknown = {v.r_id for v in report.values} - set(descriptions)
            if registration is not None and unknown:
                raise ProtocolError(INVALID_ID, f"unregistered rID(s): {', '.join(sorted(unknown))}")
            name = report.report_name or (registration.report_name if registration else None)
            for m in codec.measurements(report, descriptions):
                session.add(OadrMeasurement(
                    ven_id=ven.ven_id, report_request_id=report.report_request_id, report_name=name,
                    report_type=m.report_type, reading_type=m.reading_type, r_id=m.r_id, start=m.start,
                    duration_seconds=m.duration_seconds, value=m.value, unit=m.unit, received_at=received))
            if codec.is_availability(report, descriptions):
                try:
                    offer = codec.availability_offer(report, descriptions, ven.ven_id,
                                                     offer_id=f"oadr-{ven.ven_id}-{_new_id()[:12]}")
                except ValueError as exc:
                    raise ProtocolError(INVALID_DATA, f"availability report: {exc}") from exc
                offer = reduce_by_opts(session, ven.ven_id, offer)
                try:
                    store_flex_offer(session, offer, received)
                except OfferRefused as exc:
                    raise ProtocolError(INVALID_DATA, f"availability report: {exc}") from exc
                if self.on_flex_offer is not None:
                    self.on_flex_offer(session, offer)
        return "oadrUpdatedReport", {"response": self._ok(p.get("request_id")), "ven_id": ven.ven_id}

    # --- OadrPoll ----------------------------------------------------------------------

    def _poll(self, session: Session, inbound: Inbound, peer: Peer) -> tuple[str, dict[str, Any]]:
        ven = self._registered_ven(session, inbound.payload, peer)
        message = self.next_message(session, ven)
        if message is not None:
            return "raw", {"body": message[1], "message_type": message[0]}
        return "oadrResponse", {"response": self._ok(None), "ven_id": ven.ven_id}

    def next_message(self, session: Session, ven: OadrVen) -> tuple[str, str] | None:
        """The next message waiting for a VEN (queued first, then changed events), marked delivered.

        Pull hands it out in the poll reply; push posts it. The caller commits once delivered.
        """
        queued = session.scalar(select(OadrOutbox).where(
            OadrOutbox.ven_id == ven.ven_id, OadrOutbox.delivered_at.is_(None)).order_by(OadrOutbox.id).limit(1))
        if queued is not None:
            queued.delivered_at = _now()
            return queued.message_type, queued.body
        if session.scalar(select(OadrDelivery.id).where(
                OadrDelivery.ven_id == ven.ven_id, OadrDelivery.pending.is_(True)).limit(1)) is not None:
            events = self._events_for(session, ven, only_pending=True)
            if events:
                kind, payload = self._distribute(session, ven, events)
                return kind, encode(kind, **payload)
        return None

    # --- operator actions --------------------------------------------------------------

    def queue_reregistration(self, session: Session, ven_id: str) -> None:
        session.add(OadrOutbox(ven_id=ven_id, message_type="oadrRequestReregistration",
                               body=encode("oadrRequestReregistration", ven_id=ven_id), created_at=_now()))

    def queue_cancel_registration(self, session: Session, ven: OadrVen) -> None:
        body = encode("oadrCancelPartyRegistration", request_id=f"req-{_new_id()}",
                      registration_id=ven.registration_id, ven_id=ven.ven_id)
        session.add(OadrOutbox(ven_id=ven.ven_id, message_type="oadrCancelPartyRegistration", body=body,
                               created_at=_now()))


def reduce_by_opts(session: Session, ven_id: str, offer: Any) -> Any:
    """EiOpt on the VTN side: an active optOut window removes the VEN's flexibility in it.

    Slices inside an opt-out window are pinned to their baseline (lower = upper = default).
    """
    opts = session.scalars(select(OadrOpt).where(OadrOpt.ven_id == ven_id, OadrOpt.cancelled_at.is_(None),
                                                 OadrOpt.opt_type == "optOut")).all()
    windows = [(datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
               for o in opts for w in o.windows]
    if not windows or offer.default_schedule is None:
        return offer
    lower = list(offer.profile.energy_lower)
    upper = list(offer.profile.energy_upper)
    step = offer.interval
    for k, baseline in enumerate(offer.default_schedule.energy):
        start = offer.earliest_start + k * step
        if any(ws < start + step and start < we for ws, we in windows):
            lower[k] = upper[k] = baseline
    profile = offer.profile.model_copy(update={"energy_lower": lower, "energy_upper": upper})
    return offer.model_copy(update={"profile": profile})


def opted_out(session: Session, ven_id: str, start: datetime, end: datetime) -> bool:
    """For planners: has the VEN opted out of any part of [start, end)?"""
    for opt in session.scalars(select(OadrOpt).where(OadrOpt.ven_id == ven_id, OadrOpt.cancelled_at.is_(None),
                                                     OadrOpt.opt_type == "optOut")):
        for w in opt.windows:
            if datetime.fromisoformat(w["start"]) < end and start < datetime.fromisoformat(w["end"]):
                return True
    return False


class OfferRefused(ValueError):
    """The flex-offer store's rules refuse the offer (same checks as a submission over the REST API)."""


def store_flex_offer(session: Session, offer: FlexOffer, now: datetime) -> None:
    """Availability flex-offers go into the shared flex-offer table, where FMAN picks them up.

    Stored the way the flex-offer service stores a submission (its validation, its
    row layout, its insert), but inside the caller's transaction: the report's
    measurements, the inbound message and the offer commit together or not at all,
    which ``flexoffers.ingest`` (it commits on its own) would not give us.
    """
    from gateway.services import flexoffers
    from gateway.services.offer_records import row_values

    problems = validate_offer(offer)
    if offer.id is None or not 0 < len(offer.id) <= flexoffers.MAX_ID_LENGTH:
        problems.append("the offer id is missing or too long")
    if problems:
        raise OfferRefused("; ".join(problems))
    flexoffers.insert_rows(session, [row_values(offer, offer.offered_by or "", now)])


def mark_cancelled_requests(session: Session, ven_id: str, request_ids: list[str]) -> None:
    session.execute(update(OadrReportRequest).where(
        OadrReportRequest.ven_id == ven_id, OadrReportRequest.report_request_id.in_(request_ids)
    ).values(state="cancelled", updated_at=_now()))
