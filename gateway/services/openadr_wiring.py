"""Wire the OpenADR VTN into the running hub: assignments become events, pushes and XMPP run.

``start(app)`` is called once from the app lifespan and returns the matching stop
function. It follows the gateway bus: when FMAN or an FMAR clearing assigns a
schedule to a flex-offer (both go through ``flexoffers.assign_schedule``, which
publishes a ``schedule`` event after its commit), the schedule goes out as a
LOAD_DISPATCH event to the VENs mapped to the offer's owner; when the offer is
then canceled or rejected, the event is cancelled. It also starts the HTTP push
worker and the XMPP side of the VTN when configured.

Which VENs act for a party: a VEN whose venID is the party (availability offers
from a VEN's reports are stored under its venID), plus ``[openadr] party_vens``.

The bus delivers per party, so the follower subscribes to every party that has a
VEN and refreshes that set every ``refresh_seconds``; an assignment made for a VEN
in the seconds between its registration and the next refresh is not dispatched.
With the in-process bus each replica sees only its own assignments, so each
assignment is dispatched exactly once; handling is idempotent anyway (the same
schedule twice does not bump the modification number).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.openadr import codec
from core.flexoffer import OfferState, Schedule
from gateway.bus import Event, EventBus
from gateway.db.openadr import OadrEvent, OadrVen
from gateway.services import flexoffers
from gateway.services.openadr_events import cancel_event, modify_event, publish_schedule, signals_to_json
from gateway.services.openadr_vtn import OpenADRSettings, VtnService, openadr_settings

log = logging.getLogger("flexhub.openadr")

Stop = Callable[[], Awaitable[None]]
ENDING_STATES = frozenset({OfferState.CANCELED.value, OfferState.REJECTED.value, OfferState.INVALID.value})


def event_id_for_offer(offer_id: str) -> str:
    """One OpenADR event per flex-offer, so a re-assignment modifies it instead of adding another."""
    event_id = f"fo-{offer_id}"
    return event_id if len(event_id) <= 128 else f"fo-{hashlib.sha256(offer_id.encode()).hexdigest()}"


class ScheduleDispatcher:
    """Turns one bus event about one offer into an OpenADR event change (in its own transaction)."""

    def __init__(self, sessions: sessionmaker[Session], party_vens: Mapping[str, list[str]] | None = None) -> None:
        self.sessions = sessions
        self.party_vens = {party: list(vens) for party, vens in (party_vens or {}).items()}

    def parties(self) -> set[str]:
        """Every party some registered VEN acts for."""
        with self.sessions() as session:
            registered = set(session.scalars(select(OadrVen.ven_id).where(OadrVen.registration_id.is_not(None))))
        return registered | {party for party, vens in self.party_vens.items() if registered & set(vens)}

    def vens_for(self, session: Session, party: str) -> list[str]:
        wanted = {party, *self.party_vens.get(party, [])}
        return sorted(session.scalars(select(OadrVen.ven_id).where(
            OadrVen.ven_id.in_(wanted), OadrVen.registration_id.is_not(None))))

    def handle(self, event: Event) -> str | None:
        """Returns the OpenADR eventID created, modified or cancelled (None when nothing applied)."""
        if event.kind == "schedule" and event.data.get("schedule"):
            return self._dispatch(event)
        if event.kind == "state" and event.data.get("state") in ENDING_STATES:
            return self._withdraw(event)
        return None

    def _dispatch(self, event: Event) -> str | None:
        with self.sessions() as session:
            ven_ids = self.vens_for(session, event.party)
            if not ven_ids:
                return None
            offer = flexoffers.get_offer(session, event.party, event.offer_id)
            schedule = Schedule.model_validate(event.data["schedule"])
            signal = codec.schedule_signal(offer, schedule)
            event_id = event_id_for_offer(event.offer_id)
            existing = session.get(OadrEvent, event_id)
            if existing is None:
                publish_schedule(session, offer, ven_ids, event_id=event_id, source="assignment",
                                 created_by=event.party)
            elif existing.cancelled:
                log.warning("offer %s re-assigned after its event %s was cancelled; not re-sent",
                            event.offer_id, event_id)
                return None
            elif existing.signals != signals_to_json([signal]):
                modify_event(session, event_id, signals=[signal])
            else:
                return event_id  # the same schedule again: nothing changes for the VENs
            session.commit()
            return event_id

    def _withdraw(self, event: Event) -> str | None:
        with self.sessions() as session:
            existing = session.get(OadrEvent, event_id_for_offer(event.offer_id))
            if existing is None or existing.cancelled:
                return None
            cancel_event(session, existing.event_id)
            session.commit()
            return existing.event_id


class BusFollower:
    """Subscribes to the bus for every party with a VEN and hands their offer events to the dispatcher."""

    def __init__(self, bus: EventBus, dispatcher: ScheduleDispatcher, refresh_seconds: float = 2.0) -> None:
        self.bus = bus
        self.dispatcher = dispatcher
        self.refresh_seconds = refresh_seconds
        self.handled: list[str] = []  # eventIDs touched, newest last (bounded; for operators and tests)
        self._follows: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscribed: dict[str, asyncio.Event] = {}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def following(self, party: str) -> asyncio.Event:
        """Set once the party's subscription is live (an assignment after that is dispatched)."""
        return self._subscribed.setdefault(party, asyncio.Event())

    async def _run(self) -> None:
        while True:
            try:
                parties = await asyncio.to_thread(self.dispatcher.parties)
            except Exception:  # the store is briefly unavailable: try again next round
                log.exception("could not list the parties with VENs")
                parties = set()
            for party in parties - set(self._follows):
                self._follows[party] = asyncio.get_running_loop().create_task(self._follow(party))
            await asyncio.sleep(self.refresh_seconds)

    async def _follow(self, party: str) -> None:
        while True:
            async with self.bus.subscribe(party) as subscription:
                self.following(party).set()
                async for event in subscription:
                    await self._handle(event)
            self.following(party).clear()
            await asyncio.sleep(self.refresh_seconds)  # dropped as too slow, or the bus closed: resubscribe

    async def _handle(self, event: Event) -> None:
        try:
            touched = await asyncio.to_thread(self.dispatcher.handle, event)
        except Exception:  # one bad offer must not stop the dispatch of the others
            log.exception("could not turn %s of offer %s into an OpenADR event", event.kind, event.offer_id)
            return
        if touched is not None:
            self.handled.append(touched)
            del self.handled[:-1000]

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._follows.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def vtn_of(app: Any, config: OpenADRSettings) -> VtnService:
    """The app's one VtnService (the HTTP routes use the same one, from ``app.state``)."""
    service = getattr(app.state, "openadr_vtn", None)
    if service is None:
        service = app.state.openadr_vtn = VtnService(app.state.sessionmaker, config)
    return service


async def _start_xmpp(vtn: VtnService, config: OpenADRSettings) -> Stop:
    from adapters.openadr.xmpp import connect
    from gateway.services.openadr_xmpp import XmppVtn

    assert config.xmpp_jid is not None
    xmpp = XmppVtn(vtn, config.xmpp_jid, config.xmpp_password or "", allow_plain=config.xmpp_allow_plain)
    await connect(xmpp.client, config.xmpp_host, config.xmpp_port)

    async def push_forever() -> None:
        while True:
            try:
                await xmpp.push_once()
            except Exception:
                log.exception("XMPP push round failed")
            await asyncio.sleep(config.push_interval_seconds or 1.0)

    task = asyncio.get_running_loop().create_task(push_forever())

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        xmpp.client.disconnect()

    return stop


async def start(app: Any) -> Stop:
    """Start what ``[openadr]`` asks for on the running loop; returns the function that stops it all."""
    config = openadr_settings(app.state.settings)
    stops: list[Stop] = []

    async def stop() -> None:
        for each in reversed(stops):
            try:
                await each()
            except Exception:
                log.exception("stopping an OpenADR component failed")

    if not config.enabled:
        return stop
    vtn = vtn_of(app, config)
    if config.dispatch_assignments:
        follower = BusFollower(app.state.bus, ScheduleDispatcher(app.state.sessionmaker, config.party_vens),
                               config.wiring_refresh_seconds)
        follower.start()
        app.state.openadr_follower = follower
        stops.append(follower.stop)
    if config.push_interval_seconds:
        from gateway.services.openadr_push import PushWorker

        worker = PushWorker(vtn, interval=config.push_interval_seconds)
        worker.start()
        stops.append(worker.stop)
    if config.xmpp_jid:
        try:
            stops.append(await _start_xmpp(vtn, config))
        except Exception:  # the hub serves HTTP VENs even when the XMPP server is down
            log.exception("the OpenADR XMPP connection could not be started")
    return stop
