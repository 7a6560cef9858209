"""openleadr's own OpenADRClient (a real VEN) against the hub's VTN on loopback.

Every message either side sends is checked against oadr_20b.xsd through the
client's send/receive hooks.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from openleadr import OpenADRClient
from sqlalchemy import select

from adapters.openadr.schema import check_document
from gateway.db.openadr import OadrDelivery, OadrMeasurement
from gateway.services.openadr_testing import VTN_PATH
from gateway.services.openadr_vtn import OpenADRSettings, VtnService
from gateway.testing import create_api_key, live_server

pytestmark = pytest.mark.xdist_group("openadr-interop")


async def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


async def test_openleadr_client_registers_gets_event_opts_in_and_reports(tmp_path: Path) -> None:
    with live_server(tmp_path) as (base_url, app):
        app.state.openadr_vtn = VtnService(app.state.sessionmaker, OpenADRSettings(poll_seconds=1))
        key = create_api_key(app, "operator", ["admin"])
        invalid: list[str] = []
        checked: list[int] = []

        def check(xml: str) -> None:
            checked.append(1)
            if xml and (reason := check_document(xml)) is not None:
                invalid.append(reason)

        events_seen: list[dict] = []

        async def on_event(event: dict) -> str:
            events_seen.append(event)
            return "optIn"

        client = OpenADRClient(ven_name="ol-ven", vtn_url=f"{base_url}{VTN_PATH}")
        client.add_hook("before_send_xml", check)
        client.add_hook("after_receive_xml", check)
        client.add_handler("on_event", on_event)
        client.add_report(callback=lambda: 7.25, resource_id="device-1", measurement="power_real",
                          report_specifier_id="ol-usage", r_id="ol-power", unit="W", scale="k",
                          sampling_rate=timedelta(seconds=1), report_duration=timedelta(hours=1))
        await client.run()
        try:
            assert client.registration_id is not None
            ven_id = client.ven_id
            start = datetime.now(UTC) + timedelta(minutes=30)
            async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": key}) as api:
                created = await api.post("/api/v1/openadr/events", json={
                    "event_id": "interop-1", "ven_ids": [ven_id], "dtstart": start.isoformat(),
                    "signals": [{"signal_name": "LOAD_DISPATCH", "signal_type": "setpoint",
                                 "intervals": [{"duration_seconds": 900, "value": 4.0}]}]})
                assert created.status_code == 201, created.text

            def opted_in() -> bool:
                with app.state.sessionmaker() as session:
                    row = session.scalar(select(OadrDelivery).where(OadrDelivery.event_id == "interop-1"))
                    return row is not None and row.opt_type == "optIn"

            def measured() -> bool:
                with app.state.sessionmaker() as session:
                    return session.scalar(select(OadrMeasurement).where(OadrMeasurement.ven_id == ven_id)) is not None

            await _wait_for(opted_in)
            await _wait_for(measured)
            assert events_seen[0]["event_descriptor"]["event_id"] == "interop-1"
            async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": key}) as api:
                view = (await api.get("/api/v1/openadr/events/interop-1")).json()
                rows = (await api.get("/api/v1/openadr/measurements", params={"ven_id": ven_id})).json()
            assert view["responses"][0]["opt_type"] == "optIn"
            assert rows[0]["value"] == 7.25
            assert rows[0]["r_id"] == "ol-power"
        finally:
            await client.stop()
        assert invalid == []
        assert len(checked) >= 8  # registration, reports, poll, event, created event, update report ...
