"""The OPC UA driver against a real asyncua server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from adapters.device_common import AcceleratedClock, DeviceOffline, Quality, Setpoint, execute
from adapters.opcua.config import OpcUaDeviceConfig
from adapters.opcua.device import OpcUaDevice
from adapters.opcua.simulator import SimulatedOpcUaBattery
from core.flexoffer import Schedule

# Starting an asyncua server loads the whole standard address space (seconds on a busy
# box), so the tests share one server and each resets its state first.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_sim() -> AsyncIterator[SimulatedOpcUaBattery]:
    battery = SimulatedOpcUaBattery(capacity_wh=1000.0, soc_pct=40.0)
    await battery.start(tick_s=0)
    yield battery
    await battery.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def sim(shared_sim: SimulatedOpcUaBattery) -> SimulatedOpcUaBattery:
    await shared_sim.reset(soc_pct=40.0)
    return shared_sim


@pytest_asyncio.fixture(loop_scope="module")
async def device(sim: SimulatedOpcUaBattery) -> AsyncIterator[OpcUaDevice]:
    dev = OpcUaDevice.from_config(sim.config(), retry_delay_s=0.01)
    await dev.connect()
    await dev.refresh_capabilities()
    yield dev
    await dev.close()


async def _until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def test_capabilities_come_from_configuration(device: OpcUaDevice) -> None:
    caps = device.capabilities
    assert caps.controllable and caps.max_consumption_w == 5000 and caps.energy_capacity_wh == 1000


async def test_setpoint_write_is_confirmed_and_subscription_delivers_soc(
        sim: SimulatedOpcUaBattery, device: OpcUaDevice) -> None:
    assert await device.apply(Setpoint(2000.0)) == 2000.0
    await sim.step(90.0)  # 2 kW for 90 s into 1 kWh: +5 %

    async def updated() -> bool:
        values = {m.name: m for m in await device.read()}
        return values["soc_pct"].value == pytest.approx(45.0) and values["power_w"].value == 2000.0

    await _until(updated)
    soc = {m.name: m for m in await device.read()}["soc_pct"]
    assert soc.quality is Quality.GOOD and soc.unit == "%" and soc.timestamp.tzinfo is not None


async def test_limits_are_enforced_before_writing(sim: SimulatedOpcUaBattery, device: OpcUaDevice) -> None:
    with pytest.raises(ValueError):
        await device.apply(Setpoint(-6000.0))
    assert await device.read_setpoint() == 0.0


async def test_schedule_execution_drives_the_server(sim: SimulatedOpcUaBattery, device: OpcUaDevice) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = AcceleratedClock(start - timedelta(seconds=1), speedup=1800.0)
    report = await execute(device, Schedule(start=start, energy=[0.5, -0.25]), 900, clock, final=Setpoint(0.0))
    assert report.status == "completed", report.reasons
    assert [s.confirmed_w for s in report.slices] == [2000.0, -1000.0]
    assert await device.read_setpoint() == 0.0


async def test_unreachable_endpoint_is_offline() -> None:
    cfg = OpcUaDeviceConfig(device_id="x", endpoint="opc.tcp://127.0.0.1:1/", kind="battery",
                            max_consumption_w=1, max_production_w=1, measurements={})
    with pytest.raises(DeviceOffline):
        await OpcUaDevice.from_config(cfg, timeout_s=1.0).connect()


async def test_server_going_away_is_detected() -> None:
    own = SimulatedOpcUaBattery()
    await own.start(tick_s=0)
    device = OpcUaDevice.from_config(own.config())
    await device.connect()
    await own.stop()
    try:
        with pytest.raises(DeviceOffline):
            for _ in range(50):
                await device.read()
                await device.write_setpoint(Setpoint(0.0))
                await asyncio.sleep(0.1)
    finally:
        await device.close()
