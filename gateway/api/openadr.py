"""OpenADR routes: the 2.0b VTN endpoints and the operator REST API.

Two routers: ``router`` (mounted under ``/api/v1`` like every capability) holds the
JSON API for operators; ``vtn_router`` holds ``/OpenADR2/Simple/2.0b/{service}``,
which 2.0b fixes at the root, so the app mounts it without a prefix.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from adapters.openadr import codec
from core.flexoffer.model import as_utc
from gateway.api.deps import Principal, get_db, require_scope
from gateway.api.problems import ProblemError
from gateway.db.openadr import OadrDelivery, OadrEvent, OadrMeasurement, OadrOpt, OadrVen
from gateway.services import openadr_events as events
from gateway.services.openadr_vtn import Peer, VtnService, openadr_settings

router = APIRouter(prefix="/openadr", tags=["openadr"])
vtn_router = APIRouter(tags=["openadr-vtn"])

XML = "application/xml"

DbSession = Annotated[Session, Depends(get_db)]
Reader = Annotated[Principal, Depends(require_scope("read"))]
Writer = Annotated[Principal, Depends(require_scope("write"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]
FINGERPRINT_HEADER = "x-ssl-client-fingerprint"


def vtn_service(request: Request) -> VtnService:
    """One service per app (kept on app.state, never in a module global)."""
    state = request.app.state
    service = getattr(state, "openadr_vtn", None)
    if service is None:
        service = VtnService(state.sessionmaker, openadr_settings(state.settings))
        state.openadr_vtn = service
    return service


def peer_of(request: Request) -> Peer:
    """The client certificate fingerprint, from our TLS listener or a trusted terminating proxy."""
    fingerprint = request.scope.get("openadr.fingerprint")
    if fingerprint is None and getattr(request.app.state, "openadr_trust_proxy_fingerprint", False):
        fingerprint = request.headers.get(FINGERPRINT_HEADER)
    return Peer(fingerprint=fingerprint)


@vtn_router.post("/OpenADR2/Simple/2.0b/{service}", include_in_schema=True, summary="OpenADR 2.0b simple HTTP")
async def openadr_endpoint(service: str, request: Request) -> Response:
    vtn = vtn_service(request)
    if not vtn.config.enabled:
        raise ProblemError(404, "Not Found", "the OpenADR VTN is disabled in the configuration")
    body = await request.body()
    peer = peer_of(request)
    # Empty polls are a single indexed read: answered on the loop, the rest goes to the threadpool.
    reply = vtn.fast_poll(body, peer) if service == "OadrPoll" else None
    if reply is None:
        reply = await run_in_threadpool(vtn.handle, service, body, peer)
    if reply.http_status != 200:
        raise ProblemError(reply.http_status, "Rejected OpenADR message", reply.body)
    return Response(reply.body, media_type=XML)


# --- operator API ------------------------------------------------------------------------


class IntervalIn(BaseModel):
    start: datetime | None = Field(None, description="defaults to the end of the previous interval")
    duration_seconds: int = Field(gt=0)
    value: float


class SignalIn(BaseModel):
    signal_name: Literal["LOAD_DISPATCH", "SIMPLE", "ELECTRICITY_PRICE"]
    signal_type: str
    unit: str | None = None
    intervals: list[IntervalIn] = Field(min_length=1)


class EventIn(BaseModel):
    event_id: str | None = Field(None, max_length=128)
    ven_ids: list[str] = Field(default_factory=list)
    group_ids: list[str] = Field(default_factory=list)
    market_context: str = events.DEFAULT_MARKET_CONTEXT
    dtstart: datetime
    signals: list[SignalIn] = Field(min_length=1)
    priority: int = 0
    test_event: bool = False
    response_required: Literal["always", "never"] = "always"
    ramp_up_seconds: int | None = Field(None, ge=0)


class EventChange(BaseModel):
    dtstart: datetime
    signals: list[SignalIn] = Field(min_length=1)


class VenIn(BaseModel):
    ven_id: str = Field(max_length=128)
    ven_name: str | None = None
    fingerprint: str | None = None
    groups: list[str] = Field(default_factory=list)


class HistoryRequest(BaseModel):
    report_specifier_id: str
    start: datetime
    duration_seconds: int = Field(gt=0)
    granularity_seconds: int = Field(gt=0)


def _signals(start: datetime, signals: list[SignalIn]) -> list[codec.EventSignal]:
    result = []
    for signal in signals:
        moment = as_utc(start)
        intervals = []
        for interval in signal.intervals:
            moment = as_utc(interval.start) if interval.start else moment
            length = timedelta(seconds=interval.duration_seconds)
            intervals.append(codec.SignalInterval(moment, length, interval.value))
            moment += length
        result.append(codec.EventSignal(signal.signal_name, signal.signal_type, intervals, signal.unit))
    return result


def _event_view(session: Session, event: OadrEvent) -> dict[str, Any]:
    deliveries = session.scalars(select(OadrDelivery).where(OadrDelivery.event_id == event.event_id)).all()
    return {
        "event_id": event.event_id,
        "modification_number": event.modification_number,
        "status": events.event_status(event),
        "market_context": event.market_context,
        "dtstart": event.dtstart.isoformat(),
        "duration_seconds": event.duration_seconds,
        "signals": event.signals,
        "ven_ids": event.ven_ids,
        "group_ids": event.group_ids,
        "source": event.source,
        "responses": [
            {"ven_id": d.ven_id, "opt_type": d.opt_type, "response_code": d.response_code,
             "sent_modification": d.sent_modification, "responded_modification": d.responded_modification,
             "responded_at": d.responded_at.isoformat() if d.responded_at else None, "pending": d.pending}
            for d in deliveries
        ],
    }


@router.post("/events", status_code=201, summary="Create an event for VENs or groups")
def create_event(body: EventIn, session: DbSession,
                 principal: Writer) -> dict[str, Any]:
    try:
        event = events.create_event(
            session, signals=_signals(body.dtstart, body.signals), ven_ids=body.ven_ids, group_ids=body.group_ids,
            event_id=body.event_id, market_context=body.market_context, priority=body.priority,
            test_event=body.test_event, response_required=body.response_required,
            ramp_up=timedelta(seconds=body.ramp_up_seconds) if body.ramp_up_seconds else None,
            source="operator", created_by=principal.party)
    except events.EventError as exc:
        raise ProblemError(422, "Invalid event", str(exc)) from exc
    session.commit()
    return _event_view(session, event)


@router.get("/events", summary="Events with each VEN's opt-in/opt-out")
def list_events(session: DbSession, _: Reader) -> list[Any]:
    return [_event_view(session, e) for e in session.scalars(select(OadrEvent).order_by(OadrEvent.dtstart))]


@router.get("/events/{event_id}")
def get_event(event_id: str, session: DbSession,
              _: Reader) -> dict[str, Any]:
    event = session.get(OadrEvent, event_id)
    if event is None:
        raise ProblemError(404, "Not Found", f"no event {event_id}")
    return _event_view(session, event)


@router.put("/events/{event_id}", summary="Change an event's signals (modification number + 1)")
def modify_event(event_id: str, body: EventChange, session: DbSession,
                 _: Writer) -> dict[str, Any]:
    try:
        event = events.modify_event(session, event_id, signals=_signals(body.dtstart, body.signals))
    except events.EventError as exc:
        status = 404 if "unknown event" in str(exc) else 422
        raise ProblemError(status, "Cannot modify event", str(exc)) from exc
    session.commit()
    return _event_view(session, event)


@router.post("/events/{event_id}/cancel", summary="Cancel an event")
def cancel_event(event_id: str, session: DbSession,
                 _: Writer) -> dict[str, Any]:
    try:
        event = events.cancel_event(session, event_id)
    except events.EventError as exc:
        raise ProblemError(404, "Not Found", str(exc)) from exc
    session.commit()
    return _event_view(session, event)


def _ven_view(ven: OadrVen) -> dict[str, Any]:
    return {"ven_id": ven.ven_id, "ven_name": ven.ven_name, "registered": ven.registration_id is not None,
            "registration_id": ven.registration_id, "fingerprint": ven.fingerprint, "groups": ven.groups,
            "transport_name": ven.transport_name, "http_pull_model": ven.http_pull_model,
            "report_only": ven.report_only}


@router.get("/vens")
def list_vens(session: DbSession, _: Reader) -> list[Any]:
    return [_ven_view(v) for v in session.scalars(select(OadrVen).order_by(OadrVen.ven_id))]


@router.post("/vens", status_code=201, summary="Provision a VEN (venID, certificate fingerprint, groups)")
def provision_ven(body: VenIn, session: DbSession,
                  _: Admin) -> dict[str, Any]:
    ven = session.get(OadrVen, body.ven_id)
    if ven is None:
        ven = OadrVen(ven_id=body.ven_id, ven_name=body.ven_name or body.ven_id, groups=body.groups)
        session.add(ven)
    ven.fingerprint = body.fingerprint or ven.fingerprint
    ven.groups = body.groups
    ven.ven_name = body.ven_name or ven.ven_name
    session.commit()
    return _ven_view(ven)


def _registered(session: Session, ven_id: str) -> OadrVen:
    ven = session.get(OadrVen, ven_id)
    if ven is None or ven.registration_id is None:
        raise ProblemError(404, "Not Found", f"no registered VEN {ven_id}")
    return ven


@router.post("/vens/{ven_id}/reregister", status_code=202, summary="Ask a VEN to re-register on its next poll")
def request_reregistration(ven_id: str, request: Request, session: DbSession,
                           _: Admin) -> dict[str, str]:
    _registered(session, ven_id)
    vtn_service(request).queue_reregistration(session, ven_id)
    session.commit()
    return {"status": "queued"}


@router.post("/vens/{ven_id}/cancel-registration", status_code=202)
def cancel_registration(ven_id: str, request: Request, session: DbSession,
                        _: Admin) -> dict[str, str]:
    ven = _registered(session, ven_id)
    vtn_service(request).queue_cancel_registration(session, ven)
    session.commit()
    return {"status": "queued"}


@router.post("/vens/{ven_id}/report-requests", status_code=202,
             summary="Request a registered report over an interval (e.g. HISTORY_USAGE)")
def request_history(ven_id: str, body: HistoryRequest, request: Request, session: DbSession,
                    _: Writer) -> dict[str, str]:
    _registered(session, ven_id)
    try:
        request_id = vtn_service(request).queue_report_request(
            session, ven_id, body.report_specifier_id, granularity=timedelta(seconds=body.granularity_seconds),
            report_back=timedelta(0), interval=(as_utc(body.start), timedelta(seconds=body.duration_seconds)))
    except ValueError as exc:
        raise ProblemError(422, "Cannot request report", str(exc)) from exc
    session.commit()
    return {"report_request_id": request_id}


@router.get("/opts")
def list_opts(session: DbSession, _: Reader) -> list[Any]:
    return [{"opt_id": o.opt_id, "ven_id": o.ven_id, "opt_type": o.opt_type, "opt_reason": o.opt_reason,
             "event_id": o.event_id, "windows": o.windows, "cancelled": o.cancelled_at is not None}
            for o in session.scalars(select(OadrOpt).order_by(OadrOpt.created_at))]


@router.get("/measurements")
def list_measurements(session: DbSession, _: Reader, ven_id: str | None = None,
                      limit: int = 1000) -> list[Any]:
    query = select(OadrMeasurement).order_by(OadrMeasurement.start).limit(max(1, min(limit, 10000)))
    if ven_id:
        query = query.where(OadrMeasurement.ven_id == ven_id)
    return [{"ven_id": m.ven_id, "report_name": m.report_name, "report_type": m.report_type,
             "reading_type": m.reading_type, "r_id": m.r_id, "start": m.start.isoformat(),
             "duration_seconds": m.duration_seconds, "value": m.value, "unit": m.unit,
             "report_request_id": m.report_request_id} for m in session.scalars(query)]


@router.get("/upstream/targets", summary="Planning targets from upstream VTNs' events (the hub as VEN)")
def upstream_targets(session: DbSession, _: Reader, vtn_id: str | None = None,
                     interval_seconds: int = 900) -> list[Any]:
    """What FMAN plans for: each opted-in upstream event signal, with its native schedule when it has one.

    A LOAD_DISPATCH setpoint maps to a schedule (kWh per slice on the given grid);
    other signals (prices, levels) are listed with their raw intervals only.
    """
    from gateway.services.openadr_ven import planning_targets

    if interval_seconds <= 0 or 3600 % interval_seconds:
        raise ProblemError(422, "Invalid interval", "interval_seconds must divide 3600")
    views = []
    for upstream_vtn, target in planning_targets(session, vtn_id):
        try:
            schedule = codec.schedule_from_target(target, interval_seconds)
        except ValueError:
            schedule = None
        views.append({
            "vtn_id": upstream_vtn, "event_id": target.event_id, "modification_number": target.modification_number,
            "signal_name": target.signal_name, "signal_type": target.signal_type,
            "intervals": [{"start": i.start.isoformat(), "duration_seconds": int(i.duration.total_seconds()),
                           "value": i.value} for i in target.intervals],
            "energy_kwh": target.energy_kwh() if target.signal_type == "setpoint" else None,
            "schedule": schedule.model_dump(mode="json", exclude_none=True) if schedule else None,
        })
    return views
