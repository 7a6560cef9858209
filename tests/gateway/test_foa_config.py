"""An agent built from a device-list file drives real simulated devices into the hub's store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from adapters.modbus.simulator import SimulatedSunSpec
from adapters.opcua.simulator import SimulatedOpcUaBattery
from gateway.db.devices import DeviceMeasurement
from gateway.foa.config import AgentConfig, build_agent
from gateway.foa.runner import run_agent
from gateway.services import flexoffers
from gateway.services.store import open_store
from gateway.testing import make_test_client
from gateway.testing import test_settings as hub_settings


async def test_agent_from_file_polls_both_protocols_and_offers(tmp_path: Path) -> None:
    modbus = SimulatedSunSpec("pv", available_pv_w=2000)
    opcua = SimulatedOpcUaBattery(soc_pct=30)
    await modbus.start(tick_s=0)
    await modbus.step(1.0)
    await opcua.start(tick_s=0)
    hub = make_test_client(tmp_path)
    try:
        path = tmp_path / "devices.json"
        path.write_text(json.dumps({
            "party": "site-9", "measurement_seconds": 0,
            "devices": [
                {"protocol": "modbus", "device_id": "pv-1", "host": "127.0.0.1", "port": modbus.port,
                 "offer": {"kind": "pv", "slices": 4}},
                {"protocol": "opcua", "config": opcua.config("bat-1").model_dump(mode="json"),
                 "offer": {"kind": "battery", "slices": 4}},
            ],
        }))
        agent = build_agent(AgentConfig.load(path), hub.app.state.sessionmaker, hub.app.state.bus)
        assert await agent.poll_all() == {"pv-1": True, "bat-1": True}
        with hub.app.state.sessionmaker() as session:
            offers = {o.extra["device_id"]: o for o in flexoffers.list_offers(session, "site-9")}
        assert set(offers) == {"pv-1", "bat-1"}
        assert offers["pv-1"].profile.energy_lower == [-0.5] * 4
        for device in agent.devices.values():
            await device.device.close()
    finally:
        hub.close()
        await modbus.stop()
        await opcua.stop()


def test_unknown_protocols_and_offer_kinds_are_refused() -> None:
    with pytest.raises(ValidationError):
        AgentConfig.model_validate({"party": "p", "devices": [{"protocol": "bacnet", "device_id": "x"}]})
    with pytest.raises(ValidationError):
        AgentConfig.model_validate({"party": "p", "devices": [
            {"protocol": "modbus", "device_id": "x", "host": "h", "offer": {"kind": "toaster"}}]})


async def test_runner_polls_until_stopped(tmp_path: Path) -> None:
    battery = SimulatedSunSpec("battery", soc_pct=70)
    await battery.start(tick_s=0)
    settings = hub_settings(tmp_path)
    path = tmp_path / "devices.toml"
    path.write_text(
        'party = "site-r"\npoll_seconds = 0.1\nmeasurement_seconds = 0\n'
        f'[[devices]]\nprotocol = "modbus"\ndevice_id = "b"\nhost = "127.0.0.1"\nport = {battery.port}\n'
        'offer = { kind = "battery", slices = 2 }\n'
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_agent(path, settings, stop))
    try:
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await battery.stop()
    engine, sessions = open_store(settings, migrate=False)
    try:
        with sessions() as session:
            offers = flexoffers.list_offers(session, "site-r")
            stored = session.scalar(select(func.count()).select_from(DeviceMeasurement))
        assert len(offers) == 1 and offers[0].extra["device_id"] == "b"
        assert stored is not None and stored >= 2 * 7  # several polls of 7 readings each
    finally:
        engine.dispose()
