"""`simulate_devices`: the hub starts simulated devices and the FOA agent, and stops them cleanly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from core.flexoffer import FlexOffer, OfferState
from gateway.app import create_app
from gateway.config import load_settings
from gateway.services import devices_runtime, flexoffers
from gateway.testing import create_api_key, test_settings

PARTY = "sim-site"


async def eventually(check, seconds: float = 60.0):  # type: ignore[no-untyped-def]
    """Poll an async ``check`` until it returns something truthy (the agent runs on its own cadence)."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


async def test_simulated_site_offers_and_measures_then_stops_cleanly(tmp_path: Path) -> None:
    settings = test_settings(
        tmp_path, simulate_devices=True,
        simulation={"party": PARTY, "tick_seconds": 0.1, "poll_seconds": 0.2, "measurement_seconds": 0},
    )
    app = create_app(settings)
    before = set(asyncio.all_tasks())
    async with app.router.lifespan_context(app):
        site = app.state.simulated_site  # started by the hub's lifespan
        assert site is not None
        await (await devices_runtime.start(app))()  # a second start is a no-op: one site per app
        assert app.state.simulated_site is site
        assert {e["kind"] for e in site.endpoints["modbus"]} == {"battery", "pv"}
        assert "opcua" in site.endpoints and "iec61850" in site.endpoints
        key = await asyncio.to_thread(create_api_key, app, PARTY, ["read"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            headers = {"X-API-Key": key}

            async def offers() -> list[FlexOffer]:
                response = await client.get("/api/v1/flexoffer", headers=headers)
                assert response.status_code == 200, response.text
                listed = response.json()["flexOffer"]

                def native() -> list[FlexOffer]:
                    with app.state.sessionmaker() as session:
                        return [flexoffers.get_offer(session, PARTY, o["id"]) for o in listed]

                found = await asyncio.to_thread(native)
                devices = {o.extra.get("device_id") for o in found}
                return found if {"sim-battery-0", "sim-pv-1", "sim-opcua-battery"} <= devices else []

            async def measured() -> dict:  # type: ignore[type-arg]
                got = {}
                for device in ("sim-battery-0", "sim-pv-1", "sim-opcua-battery", "sim-der"):
                    response = await client.get(f"/api/v1/devices/{device}/measurements",
                                                params={"name": "power_w"}, headers=headers)
                    assert response.status_code == 200, response.text
                    rows = response.json()["measurements"]
                    if not rows:
                        return {}
                    got[device] = rows
                return got

            listed = await eventually(offers)
            assert all(o.state is OfferState.OFFERED and o.offered_by == PARTY for o in listed)
            readings = await eventually(measured)
            assert all(r["quality"] == "good" for rows in readings.values() for r in rows)
    assert app.state.simulated_site is None
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "foa-agent-simulated"]
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert not left, [(t.get_name(), t.get_coro()) for t in left]  # no simulator or agent task outlives the hub


async def test_off_by_default(tmp_path: Path) -> None:
    app = create_app(test_settings(tmp_path))
    async with app.router.lifespan_context(app):
        await (await devices_runtime.start(app))()
        assert getattr(app.state, "simulated_site", None) is None


def test_make_run_switch_is_an_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run` sets FLEXHUB_SIMULATE_DEVICES=true; a plain `flexhub serve` does not simulate."""
    monkeypatch.delenv("FLEXHUB_SIMULATE_DEVICES", raising=False)
    monkeypatch.delenv("FLEXHUB_CONFIG", raising=False)
    assert load_settings().simulate_devices is False
    monkeypatch.setenv("FLEXHUB_SIMULATE_DEVICES", "true")
    monkeypatch.setenv("FLEXHUB_SIMULATION__PARTY", "demo")
    settings = load_settings()
    assert settings.simulate_devices is True and settings.simulation.party == "demo"
