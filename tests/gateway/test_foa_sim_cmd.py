"""`flexhub sim` as a real process: its endpoints answer as SunSpec, OPC UA and IEC 61850 devices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.device_common import DeviceKind, Setpoint
from adapters.iec61850.config import Iec61850DeviceConfig
from adapters.iec61850.device import Iec61850Device
from adapters.modbus.device import SunSpecDevice
from adapters.opcua.config import OpcUaDeviceConfig
from adapters.opcua.device import OpcUaDevice

ROOT = Path(__file__).resolve().parents[2]


async def test_sim_command_serves_modbus_and_opcua_devices() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.sim_cmd", "--batteries", "1", "--pv", "1", "--duration", "60",
         "--tick", "0.05"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        endpoints = json.loads(process.stdout.readline())
        kinds = {}
        for entry in endpoints["modbus"]:
            device = SunSpecDevice(entry["device_id"], host=entry["host"], port=entry["port"], retry_delay_s=0.01)
            await device.connect()
            kinds[entry["kind"]] = (await device.refresh_capabilities()).kind
            if entry["kind"] == "battery":
                assert await device.apply(Setpoint(1000.0)) == pytest.approx(1000.0, abs=1)
            await device.close()
        assert kinds == {"battery": DeviceKind.BATTERY, "pv": DeviceKind.PV}
        opcua = OpcUaDevice.from_config(OpcUaDeviceConfig.model_validate(endpoints["opcua"]))
        await opcua.connect()
        await opcua.refresh_capabilities()
        assert {m.name for m in await opcua.read()} == {"power_w", "soc_pct"}
        await opcua.close()
        der = Iec61850Device.from_config(Iec61850DeviceConfig.model_validate(endpoints["iec61850"]))
        await der.connect()
        try:
            await der.refresh_capabilities()
            assert await der.apply(Setpoint(-700.0)) == pytest.approx(-700.0)
        finally:
            await der.close()
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
