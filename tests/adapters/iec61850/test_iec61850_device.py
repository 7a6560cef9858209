"""The open61850-based driver against an independent libiec61850 server (pyiec61850-ng)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.device_common import AcceleratedClock, DeviceKind, DeviceOffline, Quality, Setpoint, execute
from adapters.iec61850.config import Iec61850Control, Iec61850DeviceConfig
from adapters.iec61850.device import Iec61850Device, ModelMismatch, data_object_of
from adapters.iec61850.scl import SclRejected, load_scl_model, model_items, report_control_blocks
from core.flexoffer import Schedule
from tests.adapters.iec61850.peer import DOMAIN, Libiec61850Peer, shared_peer

SCL = Path(__file__).resolve().parents[3] / "adapters" / "iec61850" / "sim_der.scl.xml"


@pytest.fixture
def peer() -> Libiec61850Peer:
    return shared_peer()


def _config(port: int, **overrides: object) -> Iec61850DeviceConfig:
    values: dict[str, object] = {
        "device_id": "ied-1", "host": "127.0.0.1", "port": port, "kind": DeviceKind.BATTERY,
        "max_consumption_w": 4000, "max_production_w": 4000, "power_sign": -1.0,
        "measurements": {"power_w": f"{DOMAIN}/MMXU1$MX$TotW$mag$f"}, "units": {"power_w": "W"},
        "setpoint": Iec61850Control(object=f"{DOMAIN}/DRCC1.OutWSet",
                                    readback=f"{DOMAIN}/DRCC1$MX$OutWSet$mxVal$f"),
        "timeout_s": 3.0,
    }
    values.update(overrides)
    return Iec61850DeviceConfig.model_validate(values)


@pytest.fixture
async def device(peer: Libiec61850Peer) -> AsyncIterator[Iec61850Device]:
    dev = Iec61850Device.from_config(_config(peer.port), retry_delay_s=0.01)
    await dev.connect()
    await dev.refresh_capabilities()
    yield dev
    await dev.close()


def test_data_object_of_a_data_attribute() -> None:
    assert data_object_of("SIMDER/MMXU1$MX$TotW$mag$f") == "SIMDER/MMXU1$MX$TotW"


async def test_associates_and_reads_mmxu_with_quality_and_time(peer: Libiec61850Peer,
                                                               device: Iec61850Device) -> None:
    peer.set_power(1500.0)  # the IED counts generation positive; power_sign -1 turns it round
    (power,) = await device.read()
    assert power.name == "power_w" and power.value == pytest.approx(-1500.0)
    assert power.quality is Quality.GOOD
    assert power.timestamp.tzinfo is not None and power.timestamp.year >= 2024


async def test_setpoint_is_operated_and_confirmed(peer: Libiec61850Peer, device: Iec61850Device) -> None:
    assert await device.apply(Setpoint(-2500.0)) == pytest.approx(-2500.0)
    assert peer.setpoints == [2500.0]  # in the IED's own sign
    assert (await device.read())[0].value == pytest.approx(-2500.0)


async def test_limits_hold_and_refusals_are_reported(peer: Libiec61850Peer, device: Iec61850Device) -> None:
    with pytest.raises(ValueError):
        await device.apply(Setpoint(4500.0))  # config limit 4000 W: never sent
    assert peer.setpoints == []
    peer.refuse = True
    from adapters.device_common import SetpointNotConfirmed

    with pytest.raises(SetpointNotConfirmed):
        await device.apply(Setpoint(1000.0))


async def test_schedule_execution_over_mms(peer: Libiec61850Peer, device: Iec61850Device) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = AcceleratedClock(start - timedelta(seconds=1), speedup=1800.0)
    report = await execute(device, Schedule(start=start, energy=[0.5, -0.75]), 900, clock)
    assert report.status == "completed", report.reasons
    assert peer.setpoints == [-2000.0, 3000.0]


async def test_configured_references_are_checked_against_the_model(peer: Libiec61850Peer) -> None:
    bad = Iec61850Device.from_config(_config(peer.port, measurements={"power_w": f"{DOMAIN}/MMXU1$MX$TotVA$mag$f"}))
    await bad.connect()
    try:
        with pytest.raises(ModelMismatch, match="TotVA"):
            await bad.refresh_capabilities()
    finally:
        await bad.close()


async def test_scl_model_matches_the_live_ied(peer: Libiec61850Peer, device: Iec61850Device) -> None:
    from open61850.mms import discover

    live = model_items(await device._call(lambda client: discover(client, [DOMAIN])))
    # Control-block attributes are not data: SCL declares the blocks, the IED lists their attributes.
    def data(items: set[str]) -> set[str]:
        return {i for i in items if not any(fc in i.split("$")[:2] for fc in ("RP", "BR"))}

    assert data(model_items(load_scl_model(SCL))) == data(live)
    assert len(data(live)) > 20
    blocks = {item for item in live if item.count("$") == 2 and "$RP$" in item}
    assert report_control_blocks(SCL) == sorted(blocks) == [f"{DOMAIN}/LLN0$RP$urcbMeas01"]
    from_scl = Iec61850Device.from_config(_config(peer.port, scl_file=str(SCL)))
    await from_scl.connect()
    try:
        assert (await from_scl.refresh_capabilities()).controllable
    finally:
        await from_scl.close()


def test_scl_with_doctype_or_garbage_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.icd"
    evil.write_text('<?xml version="1.0"?><!DOCTYPE SCL [<!ENTITY x "y">]><SCL>&x;</SCL>')
    with pytest.raises(SclRejected):
        load_scl_model(evil)
    with pytest.raises(SclRejected):
        load_scl_model(b"<SCL><IED")


async def test_unreachable_ied_is_offline() -> None:
    with pytest.raises(DeviceOffline):
        await Iec61850Device.from_config(_config(1, timeout_s=1.0)).connect()


async def test_ied_going_away_is_detected() -> None:
    own = Libiec61850Peer(controls=False)
    own.start()
    device = Iec61850Device.from_config(_config(own.port, setpoint=None))
    await device.connect()
    await device.refresh_capabilities()
    assert len(await device.read()) == 1
    own.stop()
    try:
        with pytest.raises(DeviceOffline):
            for _ in range(3):
                await device.read()
    finally:
        await device.close()


async def test_report_control_block_delivers_spontaneous_updates(peer: Libiec61850Peer) -> None:
    device = Iec61850Device.from_config(_config(peer.port, report_control=f"{DOMAIN}/LLN0$RP$urcbMeas01"))
    await device.connect()
    try:
        await device.refresh_capabilities()

        async def reported(expected: float) -> bool:
            current = device._reported.get("power_w")
            return current is not None and current.value == pytest.approx(expected)

        await _until(lambda: reported(-0.0))  # the general interrogation at enable time
        peer.set_power(777.0)
        await _until(lambda: reported(-777.0))  # a data-change report, without any read request
        (power,) = await device.read()
        assert power.value == pytest.approx(-777.0) and power.quality is Quality.GOOD
    finally:
        await device.close()


async def _until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)
