"""The SunSpec driver against a real pymodbus server holding SunSpec maps (loopback)."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest

from adapters.device_common import AcceleratedClock, DeviceKind, DeviceOffline, Quality, Setpoint, execute
from adapters.modbus.device import SunSpecDevice
from core.flexoffer import Schedule


async def test_discovery_finds_the_model_chain_and_limits(start_sim, connect) -> None:
    sim = await start_sim("battery", rated_w=4000, capacity_wh=8000)
    device = await connect(sim)
    assert sorted(device.models) == [1, 103, 120, 124, 203]
    assert device.common["Md"] == "sim-battery"
    caps = device.capabilities
    assert caps.kind is DeviceKind.BATTERY and caps.controllable
    assert (caps.max_consumption_w, caps.max_production_w, caps.energy_capacity_wh) == (4000, 4000, 8000)


async def test_pv_inverter_is_discovered_with_its_control_model(start_sim, connect) -> None:
    device = await connect(await start_sim("pv", rated_w=6000))
    assert device.capabilities.kind is DeviceKind.PV
    assert device.capabilities.max_consumption_w == 0
    assert device.capabilities.max_production_w == 6000


async def test_battery_setpoint_is_confirmed_and_soc_follows_power(start_sim, connect) -> None:
    sim = await start_sim("battery", soc_pct=50.0, capacity_wh=1000)
    device = await connect(sim)
    assert await device.apply(Setpoint(3000)) == pytest.approx(3000, abs=1)
    await sim.step(60.0)  # one minute at 3 kW into 1 kWh: +5 %
    readings = {m.name: m for m in await device.read()}
    assert readings["power_w"].value == pytest.approx(3000)
    assert readings["soc_pct"].value == pytest.approx(55.0, abs=0.01)
    assert readings["meter_power_w"].value == pytest.approx(3000)
    assert readings["power_w"].quality is Quality.GOOD and readings["power_w"].timestamp.tzinfo is not None
    assert await device.apply(Setpoint(-1500)) == pytest.approx(-1500, abs=1)
    await sim.step(120.0)
    readings = {m.name: m for m in await device.read()}
    assert readings["power_w"].value == pytest.approx(-1500)
    assert readings["soc_pct"].value == pytest.approx(50.0, abs=0.01)


async def test_pv_curtailment_caps_production(start_sim, connect) -> None:
    sim = await start_sim("pv", rated_w=5000, available_pv_w=4000)
    device = await connect(sim)
    await sim.step(1.0)
    assert {m.name: m.value for m in await device.read()}["power_w"] == pytest.approx(-4000)
    assert await device.apply(Setpoint(-1200)) == pytest.approx(-1200, abs=1)
    await sim.step(1.0)
    assert {m.name: m.value for m in await device.read()}["power_w"] == pytest.approx(-1200)


async def test_setpoints_outside_limits_are_refused_and_never_sent(start_sim, connect) -> None:
    sim = await start_sim("battery", rated_w=5000)
    device = await connect(sim)
    with pytest.raises(ValueError, match="outside"):
        await device.apply(Setpoint(5001))
    pv = await connect(await start_sim("pv"))
    with pytest.raises(ValueError, match="outside"):
        await pv.apply(Setpoint(100))  # a PV inverter cannot consume
    assert await device.read_setpoint() == 0 or await device.read_setpoint() is None
    await sim.step(10.0)
    assert sim.power_w == 0


async def test_schedule_is_executed_slice_by_slice(start_sim, connect) -> None:
    sim = await start_sim("battery", tick_s=0.02, capacity_wh=10000)
    device = await connect(sim)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = AcceleratedClock(start - timedelta(seconds=2), speedup=900.0)  # 15 min pass in 1 s
    schedule = Schedule(start=start, energy=[1.0, -0.5, 0.25])  # kWh per 15-minute slice
    seen: list[float] = []

    async def watch() -> None:
        while True:
            seen.append(round(sim.power_w))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    report = await execute(device, schedule, 900, clock)
    watcher.cancel()
    assert report.status == "completed", report.reasons
    assert [round(s.confirmed_w or math.nan) for s in report.slices] == [4000, -2000, 1000]
    # The simulated device actually ran each setpoint, in order.
    changes = [p for i, p in enumerate(seen) if i == 0 or p != seen[i - 1]]
    assert [p for p in changes if p != 0][:3] == [4000, -2000, 1000]


async def test_unexecutable_schedule_is_rejected_before_anything_is_sent(start_sim, connect) -> None:
    sim = await start_sim("battery", rated_w=2000)
    device = await connect(sim)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    report = await execute(device, Schedule(start=start, energy=[0.25, 1.0]), 900,
                           AcceleratedClock(start, speedup=1000.0))
    assert report.status == "rejected"
    assert "slice 1" in report.reasons[0]
    assert await device.read_setpoint() is None  # StorCtl_Mod untouched: no control mode set


async def test_late_schedule_reports_missed_slices(start_sim, connect) -> None:
    device = await connect(await start_sim("battery"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = AcceleratedClock(start + timedelta(minutes=20), speedup=1000.0)
    report = await execute(device, Schedule(start=start, energy=[0.5, 0.5]), 900, clock)
    assert report.status == "failed"
    assert report.slices[0].error and report.slices[1].ok


async def test_unreachable_device_raises_offline() -> None:
    device = SunSpecDevice("gone", port=1, timeout_s=0.5)
    with pytest.raises(DeviceOffline):
        await device.connect()


async def test_device_that_stops_answering_goes_offline(start_sim, connect) -> None:
    sim = await start_sim("battery")
    device = await connect(sim)
    await sim.stop()
    with pytest.raises(DeviceOffline):
        await device.read()
