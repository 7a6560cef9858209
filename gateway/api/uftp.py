"""UFTP over HTTP: the SignedMessage endpoint, the participant registry and role actions.

``POST /api/v1/uftp`` (alias ``/api/v1/shapeshifter/api/v3/message``) is authenticated
by the Ed25519 seal, not by an API key. It answers 200 with an empty body once the
message and its *Response are committed; the *Response itself travels asynchronously
to the sender's registered endpoint, as the specification requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from adapters.usef import codec
from gateway.api.deps import get_db, require_scope
from gateway.api.problems import ProblemError
from gateway.db.uftp import UftpMessage, UftpParticipant
from gateway.services import uftp, uftp_http, uftp_outbox, uftp_roles, uftp_writer
from gateway.services.uftp_config import UftpNotConfigured, UftpSettings, resolve

log = logging.getLogger("flexhub.uftp")


def _policy(cfg: UftpSettings) -> uftp_outbox.DeliveryPolicy:
    return uftp_outbox.DeliveryPolicy(cfg.retry_base_seconds, cfg.max_attempts, cfg.request_timeout_seconds)


def _write_lock(app_state: Any) -> contextlib.AbstractContextManager[Any]:
    """One writer at a time within this process on SQLite.

    SQLite admits one writer; letting pool threads collide makes them sleep in its busy
    handler (up to 100 ms a try). PostgreSQL needs no such lock, so it gets none.
    """
    lock = getattr(app_state, "uftp_write_lock", None)
    if lock is None:
        url = str(getattr(getattr(app_state, "settings", None), "database_url", ""))
        lock = threading.Lock() if url.startswith("sqlite") else contextlib.nullcontext()
        app_state.uftp_write_lock = lock
    return lock


def _http(app_state: Any) -> uftp_outbox.Sender:
    client = getattr(app_state, "uftp_http", None)
    if client is None:
        client = uftp_outbox.Sender()
        app_state.uftp_http = client
    return client


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Retry loop for the outbox: messages survive restarts and are re-sent when due."""
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            cfg = resolve(app.state)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=cfg.flush_interval_seconds)
            if stop.is_set():
                break
            try:
                await run_in_threadpool(uftp_outbox.flush, app.state.sessionmaker, _policy(cfg), _http(app.state),
                                        _write_lock(app.state))
            except Exception:  # keep retrying; one bad row must not stop the loop
                log.exception("UFTP outbox flush failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        stop.set()
        await task
        sender = getattr(app.state, "uftp_loop_http", None)
        if sender is not None:
            sender.close()
            app.state.uftp_loop_http = None
        writer = getattr(app.state, "uftp_writer", None)
        if writer is not None:
            await run_in_threadpool(writer.close)
            app.state.uftp_writer = None
        client = getattr(app.state, "uftp_http", None)
        if client is not None:
            client.close()
            app.state.uftp_http = None


router = APIRouter(tags=["uftp"], lifespan=_lifespan)


@contextlib.contextmanager
def _configured() -> Any:
    """Answer 503 (not 500) while the hub has no UFTP signing key."""
    try:
        yield
    except UftpNotConfigured as exc:
        raise ProblemError(503, "UFTP not configured", str(exc)) from exc

DbSession = Annotated[Session, Depends(get_db)]
CanRead = Annotated[Any, Depends(require_scope("read"))]
CanWrite = Annotated[Any, Depends(require_scope("write"))]
IsAdmin = Annotated[Any, Depends(require_scope("admin"))]


def _clock(app_state: Any) -> Any:
    """``app.state.clock`` when a test or simulation sets one, else the hub clock."""
    from gateway.services.clock import utc_now

    return getattr(app_state, "clock", None) or utc_now


def _writer(app_state: Any) -> uftp_writer.GroupWriter:
    """The process's UFTP group writer (created on first use, closed by the router's lifespan)."""
    writer = getattr(app_state, "uftp_writer", None)
    if writer is None:
        writer = uftp_writer.GroupWriter(app_state.sessionmaker, _write_lock(app_state))
        app_state.uftp_writer = writer
    return writer


def _receive_job(cfg: UftpSettings, body: bytes, now: Any, bus: Any) -> tuple[Any, Any]:
    """(check, write) for the group writer: open the message read-only, then record and queue its answer."""
    def check(session: Session) -> uftp.Opened:
        return uftp.open_message(session, cfg, body, now)

    def write(session: Session, opened: uftp.Opened) -> uftp.Outcome:
        outcome = uftp.conclude(session, cfg, opened, now, handlers=uftp_roles.RoleHandlers(bus))
        queued = session.info.get(uftp_outbox.PREPARED, {})
        outcome.prepared = {row_id: queued.pop(row_id) for row_id in outcome.outbox_ids if row_id in queued}
        return outcome
    return check, write


def deliver_outcome(factory: sessionmaker[Any], cfg: UftpSettings, client: uftp_outbox.Sender,
                    outcome: uftp.Outcome, lock: contextlib.AbstractContextManager[Any],
                    writer: uftp_writer.GroupWriter | None = None) -> None:
    """After the 200: send the *Response, then run role follow-ups (e.g. the AGR's FlexOffer).

    With a ``writer`` the attempt's outcome is recorded in its next group commit.
    """
    policy = _policy(cfg)
    settler = None
    if writer is not None:
        def settler(row_id: int, values: dict[str, Any]) -> None:
            writer.submit_write(lambda session: uftp_outbox.settle(session, row_id, values))
    uftp_outbox.deliver(factory, outcome.outbox_ids, policy, client, owned=True, lock=lock,
                        prepared=outcome.prepared, settler=settler)
    for step in outcome.follow_up:
        try:
            with lock, factory() as session:
                ids = step(session)
                session.commit()
        except Exception:
            log.exception("UFTP follow-up after %s %s failed", outcome.message_type, outcome.message_id)
            continue
        uftp_outbox.deliver(factory, ids, policy, client, owned=True, lock=lock)


async def _message_endpoint(request: Request) -> Response:
    """A plain Starlette endpoint: no dependencies to solve on the hub's busiest path."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() not in ("text/xml", "application/xml"):
        raise ProblemError(400, "Invalid Content-Type", "UFTP messages are POSTed as text/xml; charset=utf-8")
    if "charset" in content_type.lower() and "utf-8" not in content_type.lower():
        raise ProblemError(400, "Invalid Content-Type", "the character set must be UTF-8")
    if request.headers.get("content-length") is None:
        raise ProblemError(411, "Length Required", "UFTP requires a Content-Length header")
    body = await request.body()
    state = request.app.state
    cfg = resolve(state)
    writer = _writer(state)
    check, write = _receive_job(cfg, body, _clock(state)(), getattr(state, "bus", None))
    try:
        with _configured():
            outcome = await asyncio.wrap_future(writer.submit(check, write))
    except uftp.TransportRejection as exc:
        raise ProblemError(exc.status, exc.reason, exc.detail) from exc
    prepared = [outcome.prepared.get(row_id) for row_id in outcome.outbox_ids]
    if not outcome.follow_up and all(p is not None and uftp_http.can_send(p[0]) for p in prepared):
        return Response(status_code=200, background=BackgroundTask(
            _deliver_from_loop, _loop_http(state), _policy(cfg), outcome, writer))
    return Response(status_code=200, background=BackgroundTask(
        deliver_outcome, state.sessionmaker, cfg, _http(state), outcome, _write_lock(state), writer))


def _loop_http(app_state: Any) -> uftp_http.LoopSender:
    sender = getattr(app_state, "uftp_loop_http", None)
    if sender is None or not sender.usable():
        sender = uftp_http.LoopSender()
        app_state.uftp_loop_http = sender
    return sender


async def _deliver_from_loop(sender: uftp_http.LoopSender, policy: uftp_outbox.DeliveryPolicy,
                             outcome: uftp.Outcome, writer: uftp_writer.GroupWriter) -> None:
    """First attempt of each answer from the event loop; its outcome goes to the group writer."""
    for row_id in outcome.outbox_ids:
        endpoint, body = outcome.prepared[row_id]
        try:
            status, text = await sender.post(endpoint, body, policy.timeout_seconds)
            result, error = uftp_outbox.classify(status), f"HTTP {status}: {text}"
        except uftp_outbox.TransportError as exc:
            result, error = "retry", str(exc)
        values = uftp_outbox.attempt_values(1, result, error, policy)
        writer.submit_write(lambda session, row_id=row_id, values=values: uftp_outbox.settle(session, row_id, values))


# Served by plain Starlette routes; the API route with the same endpoint, registered after them (so never
# matched first), only describes the endpoint in the OpenAPI document.
router.add_route("/uftp", _message_endpoint, methods=["POST"], include_in_schema=False)
router.add_route("/shapeshifter/api/v3/message", _message_endpoint, methods=["POST"], include_in_schema=False)
router.add_api_route("/uftp", _message_endpoint, methods=["POST"], summary="Receive a UFTP SignedMessage",
                     response_class=Response)


# ---------------------------------------------------------------- registry

class ParticipantIn(BaseModel):
    domain: str
    role: str = Field(pattern="^(AGR|CRO|DSO)$")
    public_key: str
    endpoint: str
    dialect: str = Field(default=codec.OFFICIAL, pattern=f"^({codec.OFFICIAL}|{codec.LEGACY})$")
    barred: bool = False


class ParticipantOut(ParticipantIn):
    id: int


def _participant_out(row: UftpParticipant) -> ParticipantOut:
    return ParticipantOut(id=row.id, domain=row.domain, role=row.role, public_key=row.public_key,
                          endpoint=row.endpoint, dialect=row.dialect, barred=row.barred)


@router.put("/uftp/participants", response_model=ParticipantOut, summary="Add or update a UFTP participant")
def put_participant(body: ParticipantIn, session: DbSession,
                    _: IsAdmin) -> ParticipantOut:
    try:
        row = uftp.upsert_participant(session, **body.model_dump())
    except ValueError as exc:
        raise ProblemError(422, "Invalid participant", str(exc)) from exc
    session.commit()
    return _participant_out(row)


@router.get("/uftp/participants", response_model=list[ParticipantOut], summary="List UFTP participants")
def list_participants(session: DbSession,
                      _: CanRead) -> list[ParticipantOut]:
    return [_participant_out(r) for r in session.scalars(select(UftpParticipant).order_by(UftpParticipant.id))]


class MessageOut(BaseModel):
    direction: str
    message_id: str
    conversation_id: str
    message_type: str
    counterparty: str
    reference_id: str | None
    status: str
    rejection_reason: str | None


@router.get("/uftp/messages", response_model=list[MessageOut], summary="UFTP message log")
def list_messages(session: DbSession, _: CanRead, conversation_id: str | None = None,
                  message_type: str | None = None, limit: int = 200) -> list[MessageOut]:
    query = select(UftpMessage).order_by(UftpMessage.id.desc()).limit(min(limit, 1000))
    if conversation_id:
        query = query.where(UftpMessage.conversation_id == conversation_id)
    if message_type:
        query = query.where(UftpMessage.message_type == message_type)
    return [MessageOut.model_validate(r, from_attributes=True) for r in session.scalars(query)]


# ---------------------------------------------------------------- role actions

class RequestedIsp(BaseModel):
    start: int = Field(ge=1)
    min_power: int
    max_power: int


class FlexRequestIn(BaseModel):
    agr_domain: str
    period: date
    congestion_point: str
    requested: list[RequestedIsp] = Field(min_length=1)
    expiration: datetime | None = None


class Queued(BaseModel):
    message_ids: list[str]


def _queue(request: Request, session: Session, ids: list[int], background: BackgroundTasks) -> Queued:
    session.commit()
    from gateway.db.uftp import UftpOutbox

    message_ids = [row.message_id for row in session.scalars(select(UftpOutbox).where(UftpOutbox.id.in_(ids)))]
    cfg = resolve(request.app.state)
    background.add_task(uftp_outbox.deliver, request.app.state.sessionmaker, ids, _policy(cfg),
                        _http(request.app.state), True, _write_lock(request.app.state))
    return Queued(message_ids=message_ids)


@router.post("/uftp/dso/flex-requests", response_model=Queued, status_code=202, summary="DSO: send a FlexRequest")
def post_flex_request(body: FlexRequestIn, request: Request, background: BackgroundTasks,
                      session: DbSession, _: CanWrite) -> Queued:
    from adapters.usef.build import end_of, flex_request

    cfg = resolve(request.app.state)
    expiration = body.expiration if body.expiration is None or body.expiration.tzinfo else (
        body.expiration.replace(tzinfo=UTC))
    message = flex_request(body.period, requested={i.start: (i.min_power, i.max_power) for i in body.requested},
                           congestion_point=body.congestion_point, tz=cfg.time_zone,
                           expiration=expiration or end_of(body.period, cfg.time_zone))
    try:
        with _configured():
            row_id = uftp.send(session, cfg, message, recipient_domain=body.agr_domain, recipient_role="AGR")
    except LookupError as exc:
        raise ProblemError(404, "Unknown participant", str(exc)) from exc
    return _queue(request, session, [row_id], background)


@router.post("/uftp/dso/flex-requests/{message_id}/orders", response_model=Queued, status_code=202,
             summary="DSO: clear the FlexOffers collected for a FlexRequest and send FlexOrders")
def post_orders(message_id: str, request: Request, background: BackgroundTasks,
                session: DbSession, _: CanWrite) -> Queued:
    try:
        with _configured():
            ids = uftp_roles.clear_and_order(session, resolve(request.app.state), message_id)
    except LookupError as exc:
        raise ProblemError(404, "Unknown FlexRequest", str(exc)) from exc
    return _queue(request, session, ids, background)


class SettlementIn(BaseModel):
    agr_domain: str
    period_start: date
    period_end: date
    actual_w: dict[str, dict[int, int]] | None = None


@router.post("/uftp/dso/settlements", response_model=Queued, status_code=202, summary="DSO: send a FlexSettlement")
def post_settlement(body: SettlementIn, request: Request, background: BackgroundTasks,
                    session: DbSession, _: CanWrite) -> Queued:
    try:
        with _configured():
            row_id = uftp_roles.settle(session, resolve(request.app.state), body.agr_domain, body.period_start,
                                       body.period_end, body.actual_w)
    except LookupError as exc:
        raise ProblemError(404, "Nothing to settle", str(exc)) from exc
    return _queue(request, session, [row_id], background)


class DPrognosisIn(BaseModel):
    dso_domain: str
    period: date
    congestion_point: str


@router.post("/uftp/agr/d-prognoses", response_model=Queued, status_code=202,
             summary="AGR: send a D-Prognosis built from the members' baselines")
def post_d_prognosis(body: DPrognosisIn, request: Request, background: BackgroundTasks, session: DbSession,
                     _: CanWrite) -> Queued:
    try:
        with _configured():
            row_id = uftp_roles.d_prognosis(session, resolve(request.app.state), body.dso_domain, body.period,
                                            body.congestion_point)
    except LookupError as exc:
        raise ProblemError(404, "Nothing to forecast", str(exc)) from exc
    return _queue(request, session, [row_id], background)


@router.post("/uftp/agr/flex-offers/{message_id}/revocation", response_model=Queued, status_code=202,
             summary="AGR: revoke one of our FlexOffers")
def post_revocation(message_id: str, request: Request, background: BackgroundTasks, session: DbSession,
                    _: CanWrite) -> Queued:
    try:
        with _configured():
            row_id = uftp_roles.revoke_offer(session, resolve(request.app.state), message_id)
    except LookupError as exc:
        raise ProblemError(404, "Unknown FlexOffer", str(exc)) from exc
    except ValueError as exc:
        raise ProblemError(409, "FlexOffer already ordered", str(exc)) from exc
    return _queue(request, session, [row_id], background)


@router.post("/uftp/outbox/flush", summary="Deliver every queued UFTP message that is due now")
def post_flush(request: Request, _: IsAdmin) -> dict[str, int]:
    cfg = resolve(request.app.state)
    states = uftp_outbox.flush(request.app.state.sessionmaker, _policy(cfg), _http(request.app.state),
                               _write_lock(request.app.state))
    counts: dict[str, int] = {}
    for state in states.values():
        counts[str(state)] = counts.get(str(state), 0) + 1
    return counts
