"""Fixtures shared by the gateway tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.modbus.simulator import SimulatedSunSpec


@pytest.fixture
async def battery() -> AsyncIterator[SimulatedSunSpec]:
    """A simulated SunSpec battery on loopback, its physics stepped by the test (tick 0)."""
    sim = SimulatedSunSpec("battery", soc_pct=60.0, capacity_wh=10000.0, rated_w=5000.0)
    await sim.start(tick_s=0)
    yield sim
    await sim.stop()
