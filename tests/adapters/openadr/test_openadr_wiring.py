"""Assignments made through the flex-offer service reach the owner's VENs as LOAD_DISPATCH events.

The real pieces run together: the store, the in-process bus, ``flexoffers``
(the path FMAN and FMAR flow-back take), ``openadr_wiring.start`` and the VTN
answering a VEN's poll with a schema-valid oadrDistributeEvent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from adapters.openadr.messages import decode, encode
from core.flexoffer import FlexOffer, OfferState, Profile, Schedule
from gateway.bus import InProcessBus
from gateway.db.openadr import OadrEvent
from gateway.services import flexoffers
from gateway.services.openadr_testing import register_vens
from gateway.services.openadr_wiring import event_id_for_offer, start
from gateway.services.store import open_store
from gateway.testing import test_settings


@pytest.fixture
def store(tmp_path: Path):
    engine, factory = open_store(test_settings(tmp_path), migrate=True)
    now = datetime.now(UTC)
    register_vens(engine, ("ven-1", "ven-2"), now)
    yield factory
    engine.dispose()


def _offer(offer_id: str, party: str, t0: datetime) -> FlexOffer:
    return FlexOffer(id=offer_id, state=OfferState.OFFERED, offered_by=party, earliest_start=t0, latest_start=t0,
                     profile=Profile(energy_lower=[0, 1], energy_upper=[2, 3]),
                     default_schedule=Schedule(start=t0, energy=[1, 2]))


async def _eventually(predicate, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(predicate):
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def _poll(app: SimpleNamespace, ven_id: str):
    body = encode("oadrPoll", ven_id=ven_id).encode()
    vtn = app.state.openadr_vtn
    reply = vtn.fast_poll(body) or vtn.handle("OadrPoll", body)
    return decode(reply.body)  # safe parse + oadr_20b.xsd


async def test_assignment_and_cancellation_reach_the_owners_vens(store, tmp_path: Path) -> None:
    settings = test_settings(tmp_path).model_copy(update={"openadr": {
        "party_vens": {"aggregator-x": ["ven-2"]}, "wiring_refresh_seconds": 0.1, "push_interval_seconds": 0}})
    bus = InProcessBus()
    app = SimpleNamespace(state=SimpleNamespace(settings=settings, sessionmaker=store, bus=bus))
    stop = await start(app)
    try:
        follower = app.state.openadr_follower
        await asyncio.wait_for(follower.following("aggregator-x").wait(), 20)
        await asyncio.wait_for(follower.following("ven-1").wait(), 20)
        t0 = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        with store() as session:
            flexoffers.ingest(session, bus, "aggregator-x", [_offer("fo-agg", "aggregator-x", t0)])
            flexoffers.ingest(session, bus, "nobody", [_offer("fo-none", "nobody", t0)])
            flexoffers.change_state(session, bus, "aggregator-x", "fo-agg", "accepted")
            flexoffers.assign_schedule(session, bus, "aggregator-x", "fo-agg", Schedule(start=t0, energy=[1.5, 2.5]))
            flexoffers.change_state(session, bus, "nobody", "fo-none", "accepted")
            flexoffers.assign_schedule(session, bus, "nobody", "fo-none", Schedule(start=t0, energy=[1, 2]))
        event_id = event_id_for_offer("fo-agg")

        def stored() -> OadrEvent | None:
            with store() as session:
                return session.get(OadrEvent, event_id)

        await _eventually(lambda: stored() is not None)
        reply = _poll(app, "ven-2")
        assert reply.message_type == "oadrDistributeEvent"
        [event] = reply.payload["events"]
        assert event["event_descriptor"]["event_id"] == event_id
        signal = event["event_signals"][0]
        assert signal["signal_name"] == "LOAD_DISPATCH"
        assert [i["signal_payload"] for i in signal["intervals"]] == [6.0, 10.0]  # kWh per 15 min as kW
        assert _poll(app, "ven-1").message_type == "oadrResponse"  # not the owner's VEN
        with store() as session:
            assert session.get(OadrEvent, event_id_for_offer("fo-none")) is None  # no VEN for that party

        with store() as session:
            flexoffers.change_state(session, bus, "aggregator-x", "fo-agg", "canceled")
        await _eventually(lambda: stored().cancelled)  # type: ignore[union-attr]
        reply = _poll(app, "ven-2")
        assert reply.message_type == "oadrDistributeEvent"
        assert reply.payload["events"][0]["event_descriptor"]["event_status"] == "cancelled"
    finally:
        await stop()
        await bus.close()
