"""End to end: device state → offer in the hub → FMAN plan → setpoints on the devices.

Two batteries on two protocols (a pymodbus SunSpec server and an asyncua server), a
real hub store, the FMAN's cost planner; an independent client watches the
simulated devices and checks each followed its planned power slice by slice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from adapters.device_common import AcceleratedClock, Device, Setpoint
from adapters.modbus.device import SunSpecDevice
from adapters.modbus.simulator import SimulatedSunSpec
from adapters.opcua.device import OpcUaDevice
from adapters.opcua.simulator import SimulatedOpcUaBattery
from core.flexoffer import Horizon, MinimiseCost, OfferState, check_schedule, plan
from gateway.foa.agent import FlexOfferAgent
from gateway.foa.builders import battery_builder
from gateway.services import flexoffers
from gateway.testing import HubTestClient

PARTY = "site-e2e"
SLICES = 4
SPEEDUP = 1800.0  # a 15-minute slice passes in half a second


async def _watch(device: Device, clock: AcceleratedClock, seen: list[tuple[float, float]]) -> None:
    """Read the device's measured power over its own connection, stamped with virtual time."""
    while True:
        power = {m.name: m.value for m in await device.read()}["power_w"]
        seen.append((clock.now().timestamp(), power))
        await asyncio.sleep(0.02)


async def test_offers_are_planned_and_devices_follow_the_schedule(hub: HubTestClient) -> None:
    modbus_sim = SimulatedSunSpec("battery", soc_pct=50.0, capacity_wh=10000.0, rated_w=5000.0)
    opcua_sim = SimulatedOpcUaBattery(soc_pct=50.0, capacity_wh=8000.0, rated_w=4000.0)
    await modbus_sim.start(tick_s=0.02)
    await opcua_sim.start(tick_s=0.02)
    watchers: list[Device] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        agent = FlexOfferAgent(PARTY, hub.app.state.sessionmaker, hub.app.state.bus)
        bat1 = agent.add(SunSpecDevice("modbus-bat", port=modbus_sim.port, retry_delay_s=0.01),
                         battery_builder(slices=SLICES, energy_neutral=True))
        bat2 = agent.add(OpcUaDevice.from_config(opcua_sim.config("opcua-bat"), retry_delay_s=0.01),
                         battery_builder(slices=SLICES, energy_neutral=True))
        assert all((await agent.poll_all()).values())
        with hub.app.state.sessionmaker() as session:
            offers = [flexoffers.get_offer(session, PARTY, m.offer_id or "") for m in (bat1, bat2)]
        start = offers[0].earliest_start

        prices = [0.05, 0.40, 0.10, 0.30]
        result = plan(offers, MinimiseCost(prices=prices), Horizon(start=start, slots=SLICES))
        assert not result.unplanned
        with hub.app.state.sessionmaker() as session:
            for offer in offers:
                schedule = result.schedules[offer.id or ""]
                assert check_schedule(offer, schedule) == []
                flexoffers.assign_schedule(session, None, PARTY, offer.id or "", schedule)
        planned = {o.extra["device_id"]: result.schedules[o.id or ""] for o in offers}
        # Cheap slots charge, dear ones discharge: the plan is not trivially flat.
        assert planned["modbus-bat"].energy[0] > 0 > planned["modbus-bat"].energy[1]

        clock = AcceleratedClock(start - timedelta(seconds=SPEEDUP * 0.3), speedup=SPEEDUP)
        agent.clock = clock
        readers: dict[str, Device] = {
            "modbus-bat": SunSpecDevice("watch-modbus", port=modbus_sim.port),
            "opcua-bat": OpcUaDevice.from_config(opcua_sim.config("watch-opcua")),
        }
        seen: dict[str, list[tuple[float, float]]] = {k: [] for k in readers}
        for name, reader in readers.items():
            await reader.connect()
            await reader.refresh_capabilities()
            watchers.append(reader)
            tasks.append(asyncio.create_task(_watch(reader, clock, seen[name])))
        reports = await asyncio.gather(*(agent.execute_offer(o.id or "", final=Setpoint(0.0)) for o in offers))
        assert [r.status for r in reports] == ["completed", "completed"], [r.reasons for r in reports]

        for device_id, schedule in planned.items():
            for index, energy in enumerate(schedule.energy):
                slice_start = (start + timedelta(seconds=900 * index)).timestamp()
                middle = [p for t, p in seen[device_id] if slice_start + 300 <= t <= slice_start + 600]
                assert middle, f"{device_id}: no reading inside slice {index}"
                expected_w = energy * 4000.0  # kWh per quarter hour → W
                assert all(abs(p - expected_w) <= 2.0 for p in middle), (device_id, index, expected_w, middle)
        with hub.app.state.sessionmaker() as session:
            assert all(flexoffers.get_offer(session, PARTY, o.id or "").state is OfferState.EXECUTED
                       for o in offers)
    finally:
        for task in tasks:
            task.cancel()
        for reader in watchers:
            await reader.close()
        for managed in agent.devices.values():
            await managed.device.close()
        await modbus_sim.stop()
        await opcua_sim.stop()
