"""The Flex-Offer Exchange Interface: submit, read, change and follow flex-offers.

Routes here only translate HTTP to the services in ``gateway.services`` and back;
the rules (ownership, deadlines, all-or-nothing ingest) live there. Offers travel
in the FlexOffer JSON wire format of ``adapters.flexoffer.codec``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.flexoffer import codec
from core.flexoffer import FlexOffer, OfferState, Schedule
from core.flexoffer.model import as_utc
from gateway.api.deps import Principal, require_scope
from gateway.api.flexoffer_schema import OFFER_SCHEMA, SCHEDULE_SCHEMA, SUBMISSION_SCHEMA, json_body
from gateway.api.problems import ProblemError
from gateway.bus import EventBus
from gateway.services import flexoffers as svc
from gateway.services import ingest_fast
from gateway.services.timeseries import MeasuredInterval, SeriesKind, aggregate, record_measurements

router = APIRouter(tags=["flexoffer"])

Dialect = Literal["aau", "inea"]
Reader = Annotated[Principal, Depends(require_scope("read"))]
Writer = Annotated[Principal, Depends(require_scope("write"))]
DialectQuery = Annotated[Dialect, Query(description="Wire dialect of offers in the response")]
StrictQuery = Annotated[
    bool | None, Query(description="Reject unknown fields (default: the hub's `strict` setting)")
]
OfferId = Annotated[str, Path(min_length=1, max_length=svc.MAX_ID_LENGTH)]

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _offer_body(offer: FlexOffer, dialect: Dialect) -> Response:
    return Response(codec.dumps_bytes(offer, dialect), media_type="application/json")


def _envelope_body(offers: list[FlexOffer], dialect: Dialect, **members: Any) -> Response:
    """``{"flexOffer": [...], ...}`` without decoding and re-encoding the codec's output."""
    tail = orjson.dumps(members)[1:] if members else b"}"
    joiner = b"," if members else b""
    return Response(b'{"flexOffer":' + codec.dumps_bytes(offers, dialect) + joiner + tail,
                    media_type="application/json")


def _document_error(body: bytes, exc: Exception) -> ProblemError:
    """Malformed JSON is a 400; well-formed JSON of the wrong shape a 422."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return ProblemError(400, "Malformed flex-offer document", str(exc))
    return ProblemError(422, "Invalid flex-offer document", str(exc))


def _decode_submission(body: bytes, strict: bool) -> tuple[list[FlexOffer | None], dict[int, str], list[str]]:
    """Every offer decoded on its own, so a rejection can name each bad offer's reason."""
    try:
        items = codec.decode_each(body, strict=strict)
    except ValueError as exc:  # codec.CodecError
        raise _document_error(body, exc) from exc
    errors = {i: str(item.error) for i, item in enumerate(items) if item.error is not None}
    warnings = [w for item in items for w in item.warnings]
    return [item.offer for item in items], errors, warnings


def _decode_one(body: bytes, strict: bool) -> FlexOffer:
    try:
        offers = codec.loads(body, strict=strict)
    except ValueError as exc:  # codec.CodecError
        raise _document_error(body, exc) from exc
    if len(offers) != 1:
        raise ProblemError(422, "One flex-offer expected", f"the body holds {len(offers)} flex-offers")
    return offers[0]


def _session(request: Request) -> Any:
    return request.app.state.sessionmaker()


def _bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


def _strict(request: Request, strict: bool | None) -> bool:
    return bool(request.app.state.settings.strict if strict is None else strict)


class AcceptedOffers(BaseModel):
    status: Literal["accepted"] = "accepted"
    count: int
    ids: list[str]
    warnings: list[str] = Field(default_factory=list)


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: str = Field(description="Target state, e.g. offered, accepted, rejected, executed, canceled")


class WireSchedule(BaseModel):
    """An assignment in the wire form of ``flexOfferSchedule``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start_time: datetime = Field(alias="startTime")
    energy_amounts: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(
        alias="energyAmounts", min_length=1, max_length=10_000)
    durations: list[Annotated[int, Field(ge=1, le=10_000)]] | None = None
    prices: list[Annotated[float, Field(allow_inf_nan=False)]] | None = None
    profile_index: int | None = Field(default=None, alias="profileIndex", ge=0)
    schedule_id: str | None = Field(default=None, alias="scheduleId", max_length=200)
    update_id: int | None = Field(default=None, alias="updateId")

    def to_schedule(self, dialect: Dialect) -> Schedule:
        sign = -1.0 if dialect == "inea" else 1.0
        return Schedule(
            start=as_utc(self.start_time), energy=[sign * e for e in self.energy_amounts],
            durations=self.durations, prices=self.prices, profile_index=self.profile_index,
            schedule_id=self.schedule_id, update_id=self.update_id,
        )


class MeasurementSeries(BaseModel):
    """Metered energy of one offer: consecutive intervals from ``startTime`` (kWh each)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    offer_id: str = Field(alias="offerId", min_length=1, max_length=svc.MAX_ID_LENGTH)
    start_time: datetime = Field(alias="startTime")
    interval_seconds: int = Field(900, alias="numSecondsPerInterval", gt=0, le=86_400)
    energy_amounts: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(
        alias="energyAmounts", min_length=1, max_length=100_000)


class TimeSeries(BaseModel):
    kind: SeriesKind
    start_time: datetime = Field(serialization_alias="startTime")
    end_time: datetime = Field(serialization_alias="endTime")
    interval_seconds: int = Field(serialization_alias="numSecondsPerInterval")
    unit: Literal["kWh"] = "kWh"
    offer_count: int = Field(serialization_alias="offerCount")
    energy_amounts: list[float] = Field(serialization_alias="energyAmounts")


# --- submission and queries -------------------------------------------------------------------


@router.post(
    "/flexoffer",
    status_code=201,
    response_model=AcceptedOffers,
    summary="Submit one flex-offer, a list, or a {flexOffer: [...]} envelope",
    openapi_extra=json_body(SUBMISSION_SCHEMA, "FlexOffer JSON, either dialect"),
    responses={400: PROBLEM, 409: PROBLEM, 413: PROBLEM, 422: PROBLEM},
)
async def submit_offers(request: Request, principal: Writer, strict: StrictQuery = None) -> Response:
    """All or nothing: 201 with the stored ids, or 422 listing the reasons per rejected offer.

    The offers are committed to the store before the 201 is sent.
    """
    body = await request.body()
    strict_mode = _strict(request, strict)
    fast = bool(request.app.state.settings.fast_ingest)

    def work() -> svc.IngestResult:
        # The decoded offers, their copies and rows all stay alive until the commit: the
        # collector would only trace them again and again (see codec.gc_paused).
        with codec.gc_paused(len(body)):
            if fast:  # plain, sound envelopes only; None means "take the full path"
                with _session(request) as session:
                    lean = ingest_fast.try_ingest(session, _bus(request), principal.party, body)
                if lean is not None:
                    return lean
            offers, errors, warnings = _decode_submission(body, strict_mode)
            with _session(request) as session:
                return svc.ingest(session, _bus(request), principal.party, offers, warnings, errors)

    # A small body is cheaper to ingest right here than to hand to a thread: the hop and
    # the GIL hand-over cost more than the work. Big envelopes go to the thread pool so
    # the event loop keeps serving other requests meanwhile.
    # Only for SQLite, where a commit is a local file write; a network database's round
    # trips would stall the loop.
    inline = request.app.state.engine.dialect.name == "sqlite"
    if inline and len(body) <= request.app.state.settings.inline_ingest_bytes:
        result = work()
    else:
        # Ingest is CPU-bound Python: several big envelopes at once in threads only fight
        # over the GIL and hold all their offers in memory together. Queue them instead.
        async with request.app.state.ingest_gate:
            result = await run_in_threadpool(work)
    headers = {"Location": f"/api/v1/flexoffer/{result.ids[0]}"} if len(result.ids) == 1 else None
    return _json({"status": "accepted", "count": len(result.ids), "ids": result.ids, "warnings": result.warnings},
                 201, headers)


@router.get("/flexoffer", summary="The caller's flex-offers, filtered", responses={200: {"description": "Envelope"}})
def list_offers(
    request: Request,
    principal: Reader,
    dialect: DialectQuery = "aau",
    state: Annotated[OfferState | None, Query()] = None,
    window_from: Annotated[datetime | None, Query(alias="from")] = None,
    window_to: Annotated[datetime | None, Query(alias="to")] = None,
    location_id: Annotated[str | None, Query(alias="locationId", max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    with _session(request) as session:
        offers = svc.list_offers(
            session, principal.party, state=state,
            window_from=None if window_from is None else as_utc(window_from),
            window_to=None if window_to is None else as_utc(window_to),
            location_id=location_id, limit=limit, offset=offset,
        )
    return _envelope_body(offers, dialect, count=len(offers), limit=limit, offset=offset)


# --- the change stream (declared before /flexoffer/{id} so "stream" is not taken for an id) -------


async def _sse(bus: EventBus, party: str, heartbeat: float) -> AsyncIterator[bytes]:
    async with bus.subscribe(party) as subscription:
        yield b"retry: 3000\n: subscribed\n\n"
        while True:
            try:
                event = await subscription.get(timeout=heartbeat)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if event is None:
                return
            yield b"id: %d\nevent: %s\ndata: %s\n\n" % (
                event.sequence, event.kind.encode(), orjson.dumps(event.as_json()))


@router.get(
    "/flexoffer/stream",
    summary="Server-Sent Events: state and schedule changes of the caller's offers (WebSocket on the same path)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    principal: Reader,
    heartbeat: Annotated[float, Query(ge=0.05, le=300, description="Seconds between keep-alive comments")] = 15,
) -> StreamingResponse:
    return StreamingResponse(
        _sse(_bus(request), principal.party, heartbeat),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.websocket("/flexoffer/stream")
async def stream_websocket(websocket: WebSocket) -> None:
    """The same events as JSON text frames. Authenticate with the usual headers or ``?api_key=``."""
    from gateway.security import authenticate

    try:
        principal = await run_in_threadpool(authenticate, websocket)
    except ProblemError as exc:
        await websocket.close(code=1008, reason=exc.detail or exc.title)
        return
    if not principal.has("read"):
        await websocket.close(code=1008, reason="this API key lacks the 'read' scope")
        return
    await websocket.accept()
    bus: EventBus = websocket.app.state.bus
    async with bus.subscribe(principal.party) as subscription:

        async def pump() -> None:
            await websocket.send_json({"event": "subscribed", "party": principal.party})
            while (event := await subscription.get()) is not None:
                await websocket.send_text(orjson.dumps(event.as_json()).decode())
            await websocket.close()

        task = asyncio.create_task(pump())
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# --- measurements and time series ----------------------------------------------------------------


@router.post(
    "/flexoffer/measurement",
    status_code=201,
    summary="Metered energy of the caller's offers (one series or a list)",
    responses={404: PROBLEM, 422: PROBLEM},
)
def submit_measurements(
    request: Request, principal: Writer, body: MeasurementSeries | list[MeasurementSeries]
) -> Response:
    items = body if isinstance(body, list) else [body]
    series = []
    for item in items:  # built completely first: an out-of-range time rejects the whole body
        start = as_utc(item.start_time)
        step = timedelta(seconds=item.interval_seconds)
        series.append((item.offer_id, [
            MeasuredInterval(start + i * step, item.interval_seconds, e) for i, e in enumerate(item.energy_amounts)
        ]))
    with _session(request) as session:
        stored = record_measurements(session, principal.party, series)
    return _json({"status": "accepted", "count": stored}, 201)


@router.get(
    "/timeseries/{kind}/{start}/{end}",
    response_model=TimeSeries,
    summary="Energy per interval summed over the caller's offers: measurement, baseline or schedule",
    responses={422: PROBLEM},
)
def timeseries(
    request: Request,
    principal: Reader,
    kind: SeriesKind,
    start: datetime,
    end: datetime,
    resolution: Annotated[int, Query(ge=60, le=86_400, description="Bucket length in seconds")] = 900,
) -> Response:
    start, end = as_utc(start), as_utc(end)
    with _session(request) as session:
        values, contributors = aggregate(session, principal.party, kind, start, end, resolution)
    series = TimeSeries(kind=kind, start_time=start, end_time=end, interval_seconds=resolution,
                        offer_count=contributors, energy_amounts=values)
    return _json(series.model_dump(mode="json", by_alias=True))


# --- one offer ---------------------------------------------------------------------------------


@router.get("/flexoffer/{start}/{end}", summary="The caller's offers whose window overlaps [from, to)")
def offers_in_window(
    request: Request,
    principal: Reader,
    start: datetime,
    end: datetime,
    dialect: DialectQuery = "aau",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise ProblemError(422, "Empty time range", "'to' must be after 'from'")
    with _session(request) as session:
        offers = svc.list_offers(session, principal.party, window_from=start, window_to=end, limit=limit,
                                 offset=offset)
    return _envelope_body(offers, dialect, count=len(offers), limit=limit, offset=offset)


@router.get("/flexoffer/{offer_id}", summary="One of the caller's offers", responses={404: PROBLEM})
def read_offer(request: Request, principal: Reader, offer_id: OfferId, dialect: DialectQuery = "aau") -> Response:
    with _session(request) as session:
        offer = svc.get_offer(session, principal.party, offer_id)
    return _offer_body(offer, dialect)


@router.put(
    "/flexoffer/{offer_id}",
    summary="Replace an offer before its execution starts (it returns to 'offered')",
    openapi_extra=json_body(OFFER_SCHEMA, "One flex-offer, either dialect"),
    responses={400: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
)
async def replace_offer(
    request: Request, principal: Writer, offer_id: OfferId, strict: StrictQuery = None, dialect: DialectQuery = "aau"
) -> Response:
    body = await request.body()
    strict_mode = _strict(request, strict)

    def work() -> FlexOffer:
        offer = _decode_one(body, strict_mode)
        with _session(request) as session:
            return svc.replace_offer(session, _bus(request), principal.party, offer_id, offer)

    offer = await run_in_threadpool(work)
    return _offer_body(offer, dialect)


@router.delete(
    "/flexoffer/{offer_id}", status_code=204, summary="Withdraw an offer before its execution starts",
    responses={404: PROBLEM, 409: PROBLEM},
)
def delete_offer(request: Request, principal: Writer, offer_id: OfferId) -> Response:
    with _session(request) as session:
        svc.delete_offer(session, _bus(request), principal.party, offer_id)
    return Response(status_code=204)


@router.post(
    "/flexoffer/{offer_id}/state", summary="Move an offer through its lifecycle",
    responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
)
def change_state(
    request: Request, principal: Writer, offer_id: OfferId, body: StateChange, dialect: DialectQuery = "aau"
) -> Response:
    with _session(request) as session:
        offer = svc.change_state(session, _bus(request), principal.party, offer_id, body.state)
    return _offer_body(offer, dialect)


@router.put(
    "/flexoffer/{offer_id}/schedule",
    summary="Assign a schedule (before assignmentBeforeTime, feasible for the offer)",
    openapi_extra=json_body(SCHEDULE_SCHEMA, "A flexOfferSchedule; energies in the given dialect's sign"),
    responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
)
async def assign_schedule(
    request: Request, principal: Writer, offer_id: OfferId, dialect: DialectQuery = "aau"
) -> Response:
    body = await request.body()
    try:
        wire = WireSchedule.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ProblemError(422, "Invalid schedule", "; ".join(f"{e['loc']}: {e['msg']}" for e in errors),
                           errors=errors) from exc
    schedule = wire.to_schedule(dialect)

    def work() -> FlexOffer:
        with _session(request) as session:
            return svc.assign_schedule(session, _bus(request), principal.party, offer_id, schedule)

    offer = await run_in_threadpool(work)
    return _offer_body(offer, dialect)

