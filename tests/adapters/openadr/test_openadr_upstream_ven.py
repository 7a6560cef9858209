"""The hub as a VEN toward an upstream VTN (here: a second hub's VTN on loopback)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adapters.openadr.schema import check_document
from adapters.openadr.ven import VenClient
from core.flexoffer import FlexOffer, OfferState, Profile, Schedule
from gateway.db.openadr import OadrMeasurement
from gateway.services.openadr_testing import VTN_PATH
from gateway.services.openadr_ven import UpstreamVen, portfolio_bounds
from gateway.services.openadr_vtn import store_flex_offer
from gateway.services.store import open_store
from gateway.testing import create_api_key, live_server, test_settings

METADATA = {
    "report_specifier_id": "hub-usage", "report_name": "METADATA_TELEMETRY_USAGE", "duration": timedelta(hours=1),
    "report_descriptions": [{
        "r_id": "hub-power", "report_type": "usage", "reading_type": "Direct Read",
        "measurement": {"name": "powerReal", "description": "RealPower", "unit": "W", "scale": "k", "ns": "power",
                        "power_attributes": {"hertz": 50, "voltage": 230, "ac": True}},
        "sampling_rate": {"min_period": timedelta(minutes=15), "max_period": timedelta(minutes=15),
                          "on_change": False},
    }],
}


@pytest.fixture
def ven_store(tmp_path: Path):
    engine, factory = open_store(test_settings(tmp_path / "ven-hub"), migrate=True)
    yield factory
    engine.dispose()


def _event(ven_id: str, event_id: str, start: datetime, kw: float) -> dict:
    return {"event_id": event_id, "ven_ids": [ven_id], "dtstart": start.isoformat(),
            "signals": [{"signal_name": "LOAD_DISPATCH", "signal_type": "setpoint",
                         "intervals": [{"duration_seconds": 900, "value": kw}] * 2}]}


def test_portfolio_bounds_prorate_partial_overlap(ven_store) -> None:
    t0 = datetime(2026, 11, 22, 8, tzinfo=UTC)
    offer = FlexOffer(id="o", state=OfferState.OFFERED, offered_by="d", earliest_start=t0, latest_start=t0,
                      profile=Profile(energy_lower=[0, 1], energy_upper=[2, 3]),
                      default_schedule=Schedule(start=t0, energy=[1, 2]))
    with ven_store() as session:
        store_flex_offer(session, offer, t0)
        session.commit()
        assert portfolio_bounds(session, t0, t0 + timedelta(minutes=30)) == (1.0, 5.0)
        assert portfolio_bounds(session, t0 + timedelta(minutes=10), t0 + timedelta(minutes=20)) == \
            pytest.approx((1 / 3, 2 * 1 / 3 + 3 * 1 / 3))
        assert portfolio_bounds(session, t0 - timedelta(hours=1), t0) == (0.0, 0.0)


async def test_upstream_events_become_targets_with_opt_by_capacity(tmp_path: Path, ven_store) -> None:
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    availability = FlexOffer(id="avail-1", state=OfferState.OFFERED, offered_by="downstream", earliest_start=start,
                             latest_start=start, profile=Profile(energy_lower=[0.0] * 4, energy_upper=[2.0] * 4),
                             default_schedule=Schedule(start=start, energy=[1.0] * 4))
    with ven_store() as session:
        store_flex_offer(session, availability, datetime.now(UTC))
        session.commit()
    checked: list[str | None] = []

    def check(xml: str | bytes) -> None:
        checked.append(check_document(xml))

    with live_server(tmp_path / "vtn") as (base_url, app):
        key = create_api_key(app, "utility", ["admin"])
        upstream = UpstreamVen(ven_store, "FLEXHUB-VTN")
        ven = VenClient(f"{base_url}{VTN_PATH}", "hub-as-ven", ven_id="hub-1", on_event=upstream.decide,
                        sent=check, received=check)
        async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": key}) as api:
            try:
                await ven.register()
                [request] = await ven.register_reports([dict(METADATA)])
                for event_id, kw in (("small", 4.0), ("huge", 20.0)):
                    assert (await api.post("/api/v1/openadr/events", json=_event("hub-1", event_id, start, kw))
                            ).status_code == 201
                assert await ven.poll() == "oadrDistributeEvent"
                small = (await api.get("/api/v1/openadr/events/small")).json()["responses"][0]
                huge = (await api.get("/api/v1/openadr/events/huge")).json()["responses"][0]
                assert (small["opt_type"], huge["opt_type"]) == ("optIn", "optOut")
                [target] = upstream.planning_targets()
                assert target.event_id == "small"
                assert target.energy_kwh() == [1.0, 1.0]

                with ven_store() as session:
                    for ven_id, value in (("d1", 1.5), ("d2", 2.25)):
                        session.add(OadrMeasurement(ven_id=ven_id, report_request_id="x", report_type="usage",
                                                    reading_type="Direct Read", r_id="m", start=start,
                                                    duration_seconds=900, value=value))
                    session.commit()
                assert await upstream.report_usage(ven, request, start - timedelta(hours=1)) == 1
                rows = (await api.get("/api/v1/openadr/measurements", params={"ven_id": "hub-1"})).json()
                assert [(r["r_id"], r["value"]) for r in rows] == [("hub-power", 3.75)]
            finally:
                await ven.close()
    assert checked and all(reason is None for reason in checked)


async def test_run_upstream_registers_polls_and_reports_portfolio_usage(tmp_path: Path, ven_store) -> None:
    import asyncio

    from gateway.services.openadr_ven import run_upstream
    from gateway.services.openadr_vtn import OpenADRSettings, VtnService

    reading_start = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    with ven_store() as session:
        session.add(OadrMeasurement(ven_id="d1", report_request_id="x", report_type="usage",
                                    reading_type="Direct Read", r_id="m", start=reading_start,
                                    duration_seconds=60, value=9.5))
        session.commit()
    with live_server(tmp_path / "vtn") as (base_url, app):
        app.state.openadr_vtn = VtnService(app.state.sessionmaker, OpenADRSettings(poll_seconds=1))
        key = create_api_key(app, "utility", ["admin"])
        upstream = UpstreamVen(ven_store, "utility")
        ven = VenClient(f"{base_url}{VTN_PATH}", "hub-as-ven", ven_id="hub-run", on_event=upstream.decide)
        try:
            await asyncio.wait_for(run_upstream(ven, upstream, asyncio.Event(), rounds=1), 30)
        finally:
            await ven.close()
        async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": key}) as api:
            vens = (await api.get("/api/v1/openadr/vens")).json()
            rows = (await api.get("/api/v1/openadr/measurements", params={"ven_id": "hub-run"})).json()
    assert vens[0]["registered"] is True
    assert [(r["r_id"], r["value"]) for r in rows] == [("portfolio-power", 9.5)]


def test_planning_targets_are_served_to_fman_through_the_api(tmp_path: Path) -> None:
    from gateway.db.openadr import OadrUpstreamEvent
    from gateway.services.openadr_testing import make_vtn_client

    start = datetime(2030, 1, 1, 8, tzinfo=UTC)
    setpoint = {"signal_name": "LOAD_DISPATCH", "signal_type": "setpoint", "intervals": [
        {"start": (start + timedelta(minutes=15 * k)).isoformat(), "duration_seconds": 900, "value": kw}
        for k, kw in enumerate((4.0, 8.0))]}
    price = {"signal_name": "ELECTRICITY_PRICE", "signal_type": "price",
             "intervals": [{"start": start.isoformat(), "duration_seconds": 3600, "value": 0.3}]}
    client, key = make_vtn_client(tmp_path)
    with client:
        with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            session.add_all([
                OadrUpstreamEvent(vtn_id="utility", event_id="dr-1", modification_number=2, status="far",
                                  targets=[setpoint, price], opt_type="optIn"),
                OadrUpstreamEvent(vtn_id="utility", event_id="dr-out", modification_number=0, status="far",
                                  targets=[setpoint], opt_type="optOut"),
                OadrUpstreamEvent(vtn_id="other", event_id="dr-gone", modification_number=1, status="cancelled",
                                  targets=[setpoint], opt_type="optIn"),
            ])
            session.commit()
        response = client.get("/api/v1/openadr/upstream/targets", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
        targets = response.json()
        assert [(t["event_id"], t["signal_name"]) for t in targets] == [("dr-1", "LOAD_DISPATCH"),
                                                                         ("dr-1", "ELECTRICITY_PRICE")]
        dispatch, prices = targets
        assert dispatch["energy_kwh"] == [1.0, 2.0]
        assert dispatch["schedule"]["energy"] == [1.0, 2.0]
        assert prices["schedule"] is None
        assert client.get("/api/v1/openadr/upstream/targets", params={"vtn_id": "other"},
                          headers={"X-API-Key": key}).json() == []
        assert client.get("/api/v1/openadr/upstream/targets", params={"interval_seconds": 7},
                          headers={"X-API-Key": key}).status_code == 422
        assert client.get("/api/v1/openadr/upstream/targets").status_code == 401
