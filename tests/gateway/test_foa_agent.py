"""The flex-offer agent against a real hub store and simulated SunSpec devices on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.device_common import AcceleratedClock, Backoff
from adapters.modbus.device import SunSpecDevice
from adapters.modbus.simulator import SimulatedSunSpec
from core.flexoffer import OfferState, Schedule
from gateway.foa.agent import FlexOfferAgent
from gateway.foa.builders import battery_builder, pv_builder
from gateway.services import flexoffers
from gateway.testing import HubTestClient, create_api_key

PARTY = "site-1"


def _agent(hub: HubTestClient, clock: AcceleratedClock | None = None) -> FlexOfferAgent:
    kwargs = {"clock": clock} if clock else {}
    return FlexOfferAgent(PARTY, hub.app.state.sessionmaker, hub.app.state.bus, measurement_period_s=0, **kwargs)


async def test_poll_posts_a_valid_offer_and_stores_measurements(hub: HubTestClient, battery: SimulatedSunSpec) -> None:
    agent = _agent(hub)
    managed = agent.add(SunSpecDevice("bat-1", port=battery.port), battery_builder(slices=4))
    assert await agent.poll("bat-1") is True
    key = create_api_key(hub.app, PARTY, ["read"])
    listed = hub.get(f"/api/v1/flexoffer/{managed.offer_id}", headers={"X-API-Key": key})
    assert listed.status_code == 200, listed.text
    with hub.app.state.sessionmaker() as session:
        offer = flexoffers.get_offer(session, PARTY, managed.offer_id or "")
    assert offer.state is OfferState.OFFERED and offer.extra["device_id"] == "bat-1"
    # 60 % of 10 kWh with a [10, 95] % band: 5 kWh down, 3.5 kWh up.
    assert offer.total_energy is not None
    assert (offer.total_energy.lower, offer.total_energy.upper) == pytest.approx((-5.0, 3.5))
    measured = hub.get("/api/v1/devices/bat-1/measurements", params={"name": "soc_pct"},
                       headers={"X-API-Key": key}).json()["measurements"]
    assert measured[0]["value"] == pytest.approx(60.0) and measured[0]["quality"] == "good"


async def test_offer_is_updated_when_the_state_changes(hub: HubTestClient, battery: SimulatedSunSpec) -> None:
    agent = _agent(hub)
    managed = agent.add(SunSpecDevice("bat-1", port=battery.port), battery_builder(slices=4))
    await agent.poll("bat-1")
    first = managed.offer_id
    battery.soc_pct = 80.0
    await battery.step(0.0)
    await agent.poll("bat-1")
    assert managed.offer_id == first  # replaced in place, same id
    with hub.app.state.sessionmaker() as session:
        offer = flexoffers.get_offer(session, PARTY, first or "")
    assert offer.total_energy is not None and offer.total_energy.upper == pytest.approx(1.5)


async def test_offline_device_raises_an_alarm_withdraws_offer_and_recovers(hub: HubTestClient) -> None:
    sim = SimulatedSunSpec("pv", available_pv_w=3000)
    await sim.start(tick_s=0)
    await sim.step(1.0)
    agent = _agent(hub)
    managed = agent.add(SunSpecDevice("pv-1", port=sim.port, timeout_s=0.5), pv_builder(slices=2))
    managed.backoff = Backoff(initial_s=0.0, maximum_s=0.0)
    assert await agent.poll("pv-1")
    offer_id = managed.offer_id
    port = sim.port
    await sim.stop()
    assert await agent.poll("pv-1") is False
    key = create_api_key(hub.app, PARTY, ["read"])
    alarms = hub.get("/api/v1/devices/alarms", headers={"X-API-Key": key}).json()["alarms"]
    assert [(a["device_id"], a["kind"], a["offer_ids"]) for a in alarms] == [("pv-1", "offline", [offer_id])]
    with hub.app.state.sessionmaker() as session:
        assert flexoffers.get_offer(session, PARTY, offer_id or "").state is OfferState.CANCELED
    # Another party does not see this party's alarms.
    other = create_api_key(hub.app, "someone-else", ["read"])
    assert hub.get("/api/v1/devices/alarms", headers={"X-API-Key": other}).json()["alarms"] == []
    # The device comes back on the same port: the next poll clears the alarm and re-offers.
    back = SimulatedSunSpec("pv", available_pv_w=3000, port=port)
    await back.start(tick_s=0)
    try:
        assert await agent.poll("pv-1") is True
        assert hub.get("/api/v1/devices/alarms", headers={"X-API-Key": key}).json()["alarms"] == []
        assert managed.offer_id not in (None, offer_id)
    finally:
        await back.stop()


async def test_backoff_spaces_out_reconnect_attempts(hub: HubTestClient) -> None:
    agent = _agent(hub)
    managed = agent.add(SunSpecDevice("gone", port=1, timeout_s=0.2))
    managed.backoff = Backoff(initial_s=30.0, maximum_s=60.0)
    assert await agent.poll("gone") is False
    assert managed.backoff.failures == 1
    assert await agent.poll("gone") is False  # inside the 30 s backoff: not even attempted
    assert managed.backoff.failures == 1


async def test_assigned_schedule_is_executed_and_reported(hub: HubTestClient, battery: SimulatedSunSpec) -> None:
    agent = _agent(hub)
    managed = agent.add(SunSpecDevice("bat-1", port=battery.port, retry_delay_s=0.01), battery_builder(slices=2))
    await agent.poll("bat-1")
    with hub.app.state.sessionmaker() as session:
        offer = flexoffers.get_offer(session, PARTY, managed.offer_id or "")
        schedule = Schedule(start=offer.earliest_start, energy=[1.0, -0.5])
        flexoffers.assign_schedule(session, None, PARTY, offer.id or "", schedule)
    agent.clock = AcceleratedClock(offer.earliest_start - timedelta(seconds=1), speedup=1800.0)
    report = await agent.execute_offer(offer.id or "")
    assert report.status == "completed", report.reasons
    assert [s.confirmed_w for s in report.slices] == pytest.approx([4000.0, -2000.0], abs=1)
    with hub.app.state.sessionmaker() as session:
        assert flexoffers.get_offer(session, PARTY, offer.id or "").state is OfferState.EXECUTED
    key = create_api_key(hub.app, PARTY, ["read"])
    runs = hub.get("/api/v1/devices/executions", headers={"X-API-Key": key}).json()["executions"]
    assert runs[0]["status"] == "completed" and runs[0]["offer_id"] == offer.id


async def test_schedule_for_an_offline_device_is_reported_failed(hub: HubTestClient) -> None:
    sim = SimulatedSunSpec("battery")
    await sim.start(tick_s=0)
    agent = _agent(hub)
    managed = agent.add(SunSpecDevice("bat-2", port=sim.port, timeout_s=0.5), battery_builder(slices=2))
    await agent.poll("bat-2")
    with hub.app.state.sessionmaker() as session:
        offer = flexoffers.get_offer(session, PARTY, managed.offer_id or "")
        flexoffers.assign_schedule(session, None, PARTY, offer.id or "",
                                   Schedule(start=offer.earliest_start, energy=[0.5, 0.5]))
    await sim.stop()
    await agent.poll("bat-2")
    agent.clock = AcceleratedClock(datetime.now(UTC), speedup=1.0)
    report = await agent.execute_offer(offer.id or "")
    assert report.status == "failed"
    key = create_api_key(hub.app, PARTY, ["read"])
    alarms = hub.get("/api/v1/devices/alarms", headers={"X-API-Key": key}).json()["alarms"]
    assert {a["kind"] for a in alarms} == {"offline", "execution_failed"}
    failed = next(a for a in alarms if a["kind"] == "execution_failed")
    assert failed["offer_ids"] == [offer.id]
    runs = hub.get("/api/v1/devices/executions", headers={"X-API-Key": key}).json()["executions"]
    assert runs[0]["status"] == "failed"
    with hub.app.state.sessionmaker() as session:  # still assigned: the FMAN decides what next
        assert flexoffers.get_offer(session, PARTY, offer.id or "").state is OfferState.ASSIGNED
