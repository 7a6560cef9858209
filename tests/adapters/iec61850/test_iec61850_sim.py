"""The open61850-based DER simulator of `flexhub sim`, driven by the same client."""

from __future__ import annotations

import asyncio

import pytest

from adapters.device_common import Setpoint
from adapters.iec61850.device import Iec61850Device
from adapters.iec61850.simulator import SimulatedDer


async def test_simulated_der_follows_setpoints_and_reports_them() -> None:
    sim = SimulatedDer(max_w=3000.0)
    sim.start()
    device = Iec61850Device.from_config(sim.config(), retry_delay_s=0.01)
    try:
        await device.connect()
        assert (await device.refresh_capabilities()).controllable
        assert await device.apply(Setpoint(-1200.0)) == pytest.approx(-1200.0)
        assert sim.setpoints == [1200.0]
        for _ in range(100):  # the data-change report arrives without a read request
            current = device._reported.get("power_w")
            if current is not None and current.value == pytest.approx(-1200.0):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("no data-change report")
        sim.max_w = 1000.0  # the IED now refuses what the hub still believes allowed
        with pytest.raises(Exception, match="refused"):
            await device.apply(Setpoint(2000.0))
    finally:
        await device.close()
        sim.stop()
