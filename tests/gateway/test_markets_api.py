"""FMAR over REST: a hub on loopback with a real SQLite store (issue 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.flexoffer import OfferState, check_schedule
from core.market.builders import quantity_bid, quantity_offer
from core.market.models import Side
from gateway.services import flexoffers
from gateway.services import market as market_svc
from gateway.testing import HubTestClient, create_api_key

PROBLEM = "application/problem+json"
START = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
GATE = START - timedelta(hours=12)


def keys(hub: HubTestClient, *parties: str) -> dict[str, dict[str, str]]:
    return {p: {"X-API-Key": create_api_key(hub.app, p, ["read", "write"])} for p in parties}


def market_body(market_id: str = "m1", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": market_id, "mode": "many_to_many", "pricing": "uniform", "start": START.isoformat(),
        "mtu_count": 4, "gate_closure": GATE.isoformat(), "zones": ["A", "B"],
        "transport_cost": {"A": {"B": 0.0}, "B": {"A": 0.0}},
        "lines": [{"id": "AB", "limit_kwh": 5.0, "ptdf": {"A": 1.0, "B": 0.0}}], "price_cap": 2.0,
    }
    body.update(kw)
    return body


def bid_json(bid_id: str, side: Side, qty: list[float], price: float, zone: str, **kw: Any) -> dict[str, Any]:
    return quantity_bid(bid_id, side, START, qty, price, zone=zone, **kw).model_dump(
        mode="json", exclude={"bidder", "sequence", "submitted_at"}
    )


def test_market_lifecycle_with_bad_input_and_results(hub: HubTestClient) -> None:
    k = keys(hub, "operator", "sella", "sellb", "dso", "brp")
    r = hub.post("/api/v1/markets", json=market_body(), headers=k["operator"])
    assert r.status_code == 201, r.text
    assert hub.post("/api/v1/markets", json=market_body(), headers=k["operator"]).status_code == 409

    ok = [
        ("sella", bid_json("sa", Side.SELL, [20.0, 20.0], 0.1, "A")),
        ("sellb", bid_json("sb", Side.SELL, [20.0, 20.0], 0.3, "B")),
        ("sella", bid_json("blk", Side.SELL, [30.0, 30.0], 0.05, "A", block=True)),
        ("dso", {"id": "req", "zone": "B", "start": START.isoformat(), "quantities_kwh": [10.0, 10.0],
                 "limit_price": 1.0}),
    ]
    for party, body in ok:
        resp = hub.post("/api/v1/markets/m1/bids", json=body, headers=k[party])
        assert resp.status_code == 201, resp.text
    sequences = [b["sequence"] for b in hub.get("/api/v1/markets/m1/bids", headers=k["operator"]).json()]
    assert sequences == [0, 1, 2, 3]

    bad = {
        "unknown zone": bid_json("z", Side.SELL, [1.0], 0.1, "Q"),
        "outside the market cap": bid_json("cap", Side.SELL, [1.0], 5.0, "A"),
        "negative quantity": {"id": "neg", "zone": "A", "start": START.isoformat(), "quantities_kwh": [-3.0],
                              "limit_price": 0.5},
    }
    for reason, body in bad.items():
        resp = hub.post("/api/v1/markets/m1/bids", json=body, headers=k["brp"])
        assert resp.status_code == 422, (reason, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
        assert reason in resp.json()["detail"]
    resp = hub.post("/api/v1/markets/m1/bids", json={"id": "x", "side": "sell"}, headers=k["brp"])
    assert resp.status_code == 422 and resp.headers["content-type"].startswith(PROBLEM)
    dup = hub.post("/api/v1/markets/m1/bids", json=bid_json("sa", Side.SELL, [1.0], 0.1, "A"), headers=k["sella"])
    assert dup.status_code == 409
    # The market keeps running after bad input: a late good bid is taken, then canceled.
    late = hub.post("/api/v1/markets/m1/bids", json=bid_json("late", Side.BUY, [1.0], 0.2, "A"), headers=k["brp"])
    assert late.status_code == 201
    assert hub.delete("/api/v1/markets/m1/bids/late", headers=k["sella"]).status_code == 404
    assert hub.delete("/api/v1/markets/m1/bids/late", headers=k["brp"]).json()["status"] == "canceled"

    assert hub.get("/api/v1/markets/m1/results", headers=k["dso"]).status_code == 409
    assert hub.post("/api/v1/markets/m1/clear", headers=k["dso"]).status_code == 403
    cleared = hub.post("/api/v1/markets/m1/clear", headers=k["operator"])
    assert cleared.status_code == 200, cleared.text
    result = cleared.json()
    outcome = {b["bid_id"]: b for b in result["bids"]}
    assert set(outcome) == {"sa", "sb", "blk", "req"}
    assert outcome["blk"]["status"] == "rejected"
    assert outcome["sa"]["quantities_kwh"] == [5.0, 5.0] and outcome["sb"]["quantities_kwh"] == [5.0, 5.0]
    assert outcome["req"]["status"] == "accepted"
    assert result["prices"]["A"][:2] == [pytest.approx(0.1), pytest.approx(0.1)]
    assert result["prices"]["B"][:2] == [pytest.approx(0.3), pytest.approx(0.3)]
    assert result["congestion_rent_eur"] == pytest.approx(2 * 5 * 0.2)

    own = hub.get("/api/v1/markets/m1/results", headers=k["sellb"]).json()
    assert [b["bid_id"] for b in own["bids"]] == ["sb"] and own["prices"] == result["prices"]
    after = hub.post("/api/v1/markets/m1/bids", json=bid_json("t", Side.SELL, [1.0], 0.1, "A"), headers=k["brp"])
    assert after.status_code == 409 and after.headers["content-type"].startswith(PROBLEM)

    trail = hub.get("/api/v1/markets/m1/audit?verify=true", headers=k["operator"]).json()
    assert trail["reclear_identical"] is True and trail["reclear_sha256"] == trail["result_sha256"]
    actions = [e["action"] for e in trail["entries"]]
    assert actions.count("bid") == 5 and actions.count("bid_rejected") == 4 and "cancel" in actions
    assert hub.get("/api/v1/markets/m1/audit", headers=k["dso"]).status_code == 403


def test_bid_after_gate_closure_is_refused_and_the_gate_clears_on_schedule(hub: HubTestClient) -> None:
    k = keys(hub, "op", "seller", "buyer")
    assert hub.post("/api/v1/markets", json=market_body("g1", lines=[]), headers=k["op"]).status_code == 201
    hub.post("/api/v1/markets/g1/bids", json=bid_json("s", Side.SELL, [10.0], 0.1, "A"), headers=k["seller"])
    hub.post("/api/v1/markets/g1/bids", json=bid_json("b", Side.BUY, [4.0], 0.5, "B"), headers=k["buyer"])
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert hub.patch("/api/v1/markets/g1", json={"gate_closure": past}, headers=k["seller"]).status_code == 403
    assert hub.patch("/api/v1/markets/g1", json={"gate_closure": past}, headers=k["op"]).status_code == 200
    late = hub.post("/api/v1/markets/g1/bids", json=bid_json("l", Side.BUY, [1.0], 0.5, "A"), headers=k["buyer"])
    assert late.status_code == 409 and "gate closed" in late.json()["detail"]
    assert hub.delete("/api/v1/markets/g1/bids/b", headers=k["buyer"]).status_code == 409

    factory, bus = hub.app.state.sessionmaker, hub.app.state.bus
    assert market_svc.close_due_gates(factory, bus) == ["g1"]
    assert market_svc.close_due_gates(factory, bus) == []
    result = hub.get("/api/v1/markets/g1/results", headers=k["buyer"]).json()
    assert [(b["bid_id"], b["status"]) for b in result["bids"]] == [("b", "accepted")]
    assert hub.get("/api/v1/markets/g1", headers=k["buyer"]).json()["status"] == "cleared"


def test_results_flow_back_to_stored_flex_offers(hub: HubTestClient) -> None:
    k = keys(hub, "op", "agg", "loser", "dso")
    hub.post("/api/v1/markets", json=market_body("f1", lines=[]), headers=k["op"])
    offers = {"agg": quantity_offer("fo-win", Side.SELL, START, [6.0, 6.0], zone="A"),
              "loser": quantity_offer("fo-lose", Side.SELL, START, [6.0, 6.0], zone="A")}
    with hub.app.state.sessionmaker() as session:
        for party, offer in offers.items():
            flexoffers.ingest(session, None, party, [offer.model_copy(update={"state": OfferState.OFFERED})])
    for party, price in (("agg", 0.1), ("loser", 0.9)):
        body = {"id": f"bid-{party}", "side": "sell", "offer_id": offers[party].id, "linear_price": price}
        resp = hub.post("/api/v1/markets/f1/bids", json=body, headers=k[party])
        assert resp.status_code == 201, resp.text
    hub.post("/api/v1/markets/f1/bids", json={"id": "need", "zone": "A", "start": START.isoformat(),
                                               "quantities_kwh": [4.0, 4.0], "limit_price": 0.5}, headers=k["dso"])
    missing = hub.post("/api/v1/markets/f1/bids", json={"id": "x", "side": "sell", "offer_id": "nope",
                                                         "linear_price": 0.1}, headers=k["agg"])
    assert missing.status_code == 404
    assert hub.post("/api/v1/markets/f1/clear", headers=k["op"]).status_code == 200
    with hub.app.state.sessionmaker() as session:
        won = flexoffers.get_offer(session, "agg", "fo-win")
        lost = flexoffers.get_offer(session, "loser", "fo-lose")
    assert won.state is OfferState.ASSIGNED and won.schedule is not None
    assert won.schedule.energy == [-4.0, -4.0] and check_schedule(won, won.schedule) == []
    assert lost.state is OfferState.REJECTED


def test_dso_registers_a_congestion_zone_and_reads_completed_bids(hub: HubTestClient) -> None:
    k = keys(hub, "op", "dso", "s1", "other")
    assert hub.post("/api/v1/markets/zones", json={"zone": "A", "description": "feeder 7"},
                    headers=k["dso"]).status_code == 201
    assert hub.post("/api/v1/markets/zones", json={"zone": "A"}, headers=k["other"]).status_code == 409
    hub.post("/api/v1/markets", json=market_body("z1", lines=[]), headers=k["op"])
    hub.post("/api/v1/markets/z1/bids", json=bid_json("s1", Side.SELL, [8.0], 0.2, "A"), headers=k["s1"])
    hub.post("/api/v1/markets/z1/bids", json={"id": "r", "zone": "A", "start": START.isoformat(),
                                               "quantities_kwh": [5.0], "limit_price": 0.4}, headers=k["dso"])
    before = hub.get("/api/v1/markets/zones/A/summary", headers=k["dso"]).json()
    assert before["completed_bids"] == 0
    hub.post("/api/v1/markets/z1/clear", headers=k["op"])
    summary = hub.get("/api/v1/markets/zones/A/summary", headers=k["dso"]).json()
    assert summary["completed_bids"] == 2
    assert summary["by_status"] == {"accepted": 1, "partially_accepted": 1, "rejected": 0}
    assert summary["cleared_kwh"] == {"sell": pytest.approx(5.0), "buy": pytest.approx(5.0)}
    assert hub.get("/api/v1/markets/zones/A/summary", headers=k["other"]).status_code == 403
    assert hub.get("/api/v1/markets/zones/Q/summary", headers=k["dso"]).status_code == 404


def test_requests_without_a_key_get_a_problem_document(hub: HubTestClient) -> None:
    resp = hub.get("/api/v1/markets")
    assert resp.status_code == 401 and resp.headers["content-type"].startswith(PROBLEM)


def test_cli_clears_the_documented_example_book(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from core.market.clearing import clear
    from core.market.models import OrderBook
    from core.market.results import canonical_json
    from gateway.cli import app

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "orderbook.json"
    runner = CliRunner()
    out = runner.invoke(app, ["market", "clear", str(example)])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert out.stdout.strip() == canonical_json(clear(OrderBook.model_validate_json(example.read_text())))
    status = {b["bid_id"]: b["status"] for b in result["bids"]}
    assert status == {"battery-n1": "partially_accepted", "heatpump-s1": "partially_accepted",
                      "ev-fleet-s2": "accepted", "boiler-s3": "rejected", "dso-congestion-south": "accepted"}
    assert result["line_flows_kwh"]["tie-N-S"][2:] == [6.0, 6.0]
    assert result["prices"]["south"][2:] == [0.22, 0.2] and result["prices"]["north"][2:] == [0.08, 0.08]
    # The example in docs/market.md is the file itself.
    doc = (example.parents[1] / "market.md").read_text()
    assert example.read_text().strip() in doc

    broken = tmp_path / "broken.json"
    broken.write_text('{"market": {"zones": []}, "bids": 3}')
    bad = runner.invoke(app, ["market", "clear", str(broken)])
    assert bad.exit_code == 2 and "not a valid order book" in bad.output


def test_gate_scheduler_task_clears_a_market_whose_gate_passed(hub: HubTestClient) -> None:
    import asyncio

    k = keys(hub, "op", "s", "b")
    hub.post("/api/v1/markets", json=market_body("sched", lines=[]), headers=k["op"])
    hub.post("/api/v1/markets/sched/bids", json=bid_json("s", Side.SELL, [3.0], 0.1, "A"), headers=k["s"])
    hub.post("/api/v1/markets/sched/bids", json=bid_json("b", Side.BUY, [3.0], 0.4, "A"), headers=k["b"])
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    hub.patch("/api/v1/markets/sched", json={"gate_closure": past}, headers=k["op"])

    async def run_until_cleared() -> str:
        task = market_svc.start_gate_scheduler(hub.app, interval_s=0.05)
        try:
            for _ in range(400):
                with hub.app.state.sessionmaker() as session:
                    status = session.get(market_svc.Market, "sched").status  # type: ignore[union-attr]
                if status != "open":
                    return status
                await asyncio.sleep(0.05)
            return "open"
        finally:
            task.cancel()

    assert asyncio.run(run_until_cleared()) == "cleared"
    with hub.app.state.sessionmaker() as session:
        trail = market_svc.audit_trail(session, "op", False, "sched", verify=False)
    assert [e["party"] for e in trail["entries"] if e["action"] == "clear"] == ["scheduler"]
