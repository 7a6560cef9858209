"""The poll fast path stays correct across replicas: nothing about pending work is cached in a process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.openadr import codec
from adapters.openadr.messages import decode, encode
from gateway.services.openadr_events import cancel_event, create_event
from gateway.services.openadr_testing import register_vens
from gateway.services.openadr_vtn import OpenADRSettings, VtnService
from gateway.services.store import open_store
from gateway.testing import test_settings


def _poll(vtn: VtnService, ven_id: str) -> str:
    body = encode("oadrPoll", ven_id=ven_id).encode()
    reply = vtn.fast_poll(body) or vtn.handle("OadrPoll", body)
    inbound = decode(reply.body)
    if inbound.message_type == "oadrResponse":
        assert inbound.payload["ven_id"] == ven_id  # venID echoed (certification pitfall)
    return inbound.message_type


def test_event_queued_by_another_replica_reaches_the_next_poll(tmp_path: Path) -> None:
    engine, factory = open_store(test_settings(tmp_path), migrate=True)
    now = datetime.now(UTC)
    register_vens(engine, ("ven-a", "ven-<b>"), now)
    replica_one, replica_two = VtnService(factory, OpenADRSettings()), VtnService(factory, OpenADRSettings())
    try:
        assert _poll(replica_one, "ven-a") == "oadrResponse"
        assert _poll(replica_one, "ven-<b>") == "oadrResponse"  # escaped venID in the cached reply
        start = now + timedelta(hours=1)
        signal = codec.EventSignal("SIMPLE", "level", [codec.SignalInterval(start, timedelta(minutes=15), 1.0)])
        with factory() as session:
            event = create_event(session, signals=[signal], ven_ids=["ven-a"])
            session.commit()
            event_id = event.event_id
        assert replica_one.fast_poll(encode("oadrPoll", ven_id="ven-a").encode()) is None
        assert _poll(replica_one, "ven-a") == "oadrDistributeEvent"
        assert _poll(replica_one, "ven-a") == "oadrResponse"  # delivered once
        assert _poll(replica_one, "ven-<b>") == "oadrResponse"  # not targeted
        with factory() as session:
            cancel_event(session, event_id)
            session.commit()
        assert _poll(replica_one, "ven-a") == "oadrDistributeEvent"  # the cancellation, via the other path
        assert _poll(replica_two, "ven-a") == "oadrResponse"
    finally:
        replica_one.close()
        replica_two.close()
        engine.dispose()
