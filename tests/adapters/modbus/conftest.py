from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from adapters.modbus.device import SunSpecDevice
from adapters.modbus.simulator import SimulatedSunSpec


@pytest.fixture
async def start_sim() -> AsyncIterator[Callable[..., object]]:
    """Start simulated SunSpec devices on loopback; stop them all afterwards."""
    started: list[SimulatedSunSpec] = []

    async def _start(kind: str, tick_s: float = 0.0, **kwargs: object) -> SimulatedSunSpec:
        sim = SimulatedSunSpec(kind, **kwargs)  # type: ignore[arg-type]
        await sim.start(tick_s=tick_s)
        started.append(sim)
        return sim

    yield _start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., object]]:
    devices: list[SunSpecDevice] = []

    async def _connect(sim: SimulatedSunSpec, **kwargs: object) -> SunSpecDevice:
        device = SunSpecDevice(f"dev-{sim.port}", port=sim.port, retry_delay_s=0.01, **kwargs)  # type: ignore[arg-type]
        await device.connect()
        await device.refresh_capabilities()
        devices.append(device)
        return device

    yield _connect
    for device in devices:
        await device.close()
