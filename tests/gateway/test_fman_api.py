"""FMAN REST endpoints on a real hub (SQLite, migrations applied): contracts, plan, bill, KPIs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.flexoffer import codec
from core.flexoffer import EnergyBounds, FlexOffer, Profile, Schedule
from gateway.testing import create_api_key, make_test_client
from tests.openapi_fuzz import assert_no_server_errors

Q = timedelta(minutes=15)


def _tomorrow() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def _ev(oid: str, day: datetime) -> FlexOffer:
    """2 slices of up to 2.5 kWh, 4 kWh in total; default at 18:00, may start until 20:00."""
    start = day + timedelta(hours=18)
    return FlexOffer(
        id=oid,
        earliest_start=start,
        latest_start=start + timedelta(hours=2),
        profile=Profile(energy_lower=[0.0, 0.0], energy_upper=[2.5, 2.5]),
        total_energy=EnergyBounds(lower=4.0, upper=4.0),
        default_schedule=Schedule(start=start, energy=[2.0, 2.0]),
    )


@pytest.fixture
def hub(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    """A hub on SQLite and on PostgreSQL (the suite's ``database_url`` fixture)."""
    client = make_test_client(tmp_path, database_url=database_url)
    admin = create_api_key(client.app, "operator", ["admin"])
    alice = create_api_key(client.app, "alice", ["read", "write"])
    bob = create_api_key(client.app, "bob", ["read", "write"])
    yield client, {"X-API-Key": admin}, {"X-API-Key": alice}, {"X-API-Key": bob}
    client.close()


CONTRACT = {
    "party": "alice",
    "contract_id": "c-alice",
    "fixed_reward_eur": 3.0,
    "reward_per_kwh_energy_flexibility": 0.01,
    "reward_per_hour_time_flexibility": 0.1,
    "scheduling_reward_per_offer": 0.5,
    "scheduling_reward_per_kwh": 0.2,
    "imbalance_tolerance": 0.1,
}


def _problem(response, status: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"]
    return body  # type: ignore[no-any-return]


def test_contracts_are_admin_written_and_party_scoped(hub) -> None:  # type: ignore[no-untyped-def]
    client, admin, alice, bob = hub
    assert client.put("/api/v1/contract/alice", json=CONTRACT, headers=admin).status_code == 201
    changed = {**CONTRACT, "fixed_reward_eur": 4.0}
    assert client.put("/api/v1/contract/alice", json=changed, headers=admin).status_code == 200
    _problem(client.put("/api/v1/contract/alice", json=CONTRACT, headers=alice), 403)
    _problem(client.put("/api/v1/contract/bob", json=CONTRACT, headers=admin), 422)  # party mismatch
    _problem(client.put("/api/v1/contract/alice", json={**CONTRACT, "fixed_reward_eur": -1}, headers=admin), 422)
    _problem(client.put("/api/v1/contract/alice", json={**CONTRACT, "surprise": 1}, headers=admin), 422)

    mine = client.get("/api/v1/contract", headers=alice).json()["contracts"]
    assert [c["fixed_reward_eur"] for c in mine] == [4.0]
    assert client.get("/api/v1/contract", headers=bob).json() == {"contracts": []}
    _problem(client.get("/api/v1/contract?party=alice", headers=bob), 403)
    assert len(client.get("/api/v1/contract?party=alice", headers=admin).json()["contracts"]) == 1
    _problem(client.get("/api/v1/contract"), 401)
    assert client.delete("/api/v1/contract/alice", headers=admin).status_code == 204
    _problem(client.delete("/api/v1/contract/alice", headers=admin), 404)


def test_plan_assign_measure_bill_and_kpi(hub) -> None:  # type: ignore[no-untyped-def]
    client, admin, alice, bob = hub
    day = _tomorrow()
    offers = [_ev("ev-1", day), _ev("ev-2", day)]
    submitted = client.post("/api/v1/flexoffer", content=codec.dumps(offers), headers=alice)
    assert submitted.status_code in (200, 201), submitted.text
    assert client.put("/api/v1/contract/alice", json=CONTRACT, headers=admin).status_code == 201

    # prices: 0.30 EUR/kWh except 19:00 (0.10) and 19:15 (0.12)
    prices = [0.30] * 96
    prices[76:78] = [0.10, 0.12]
    request = {
        "objective": {"kind": "cost", "prices": prices},
        "horizon": {"start": day.isoformat(), "slots": 96},
        "assign": True,
    }
    planned = client.post("/api/v1/fman/plan", json=request, headers=alice)
    assert planned.status_code == 200, planned.text
    body = planned.json()
    assert body["status"] == "Optimal" and body["gap"] <= 1e-4
    assert sorted(body["assigned"]) == ["ev-1", "ev-2"]
    cost = 2.5 * 0.10 + 1.5 * 0.12  # fill the cheapest slot to its 2.5 kWh bound
    assert body["objective_value"] == pytest.approx(2 * cost)
    assert body["schedules"]["ev-1"]["energy"] == pytest.approx([2.5, 1.5])
    assert body["kpi"]["savings_eur"] == pytest.approx(2 * (4.0 * 0.30 - cost))
    stored = client.get("/api/v1/flexoffer/ev-1", headers=alice).json()
    assert stored["state"].lower() == "assigned"

    # ev-1 follows its schedule; ev-2 keeps charging at its default time (beyond tolerance)
    start_19 = (day + timedelta(hours=19)).isoformat()
    start_18 = (day + timedelta(hours=18)).isoformat()
    readings = [
        {"offerId": "ev-1", "startTime": start_19, "energyAmounts": [2.5, 1.5]},
        {"offerId": "ev-2", "startTime": start_18, "energyAmounts": [2.0, 2.0]},
        {"offerId": "ev-2", "startTime": start_19, "energyAmounts": [0.0, 0.0]},
    ]
    assert client.post("/api/v1/flexoffer/measurement", json=readings, headers=alice).status_code == 201

    month = f"{day.year:04d}-{day.month:02d}"
    bill = client.get(f"/api/v1/bill?month={month}", headers=alice)
    assert bill.status_code == 200, bill.text
    bill_body = bill.json()
    lines = {line["offer_id"]: line for line in bill_body["lines"]}
    assert lines["ev-1"]["basis"] == "factual" and lines["ev-1"]["within_tolerance"]
    assert lines["ev-1"]["delivered_adaptation_kwh"] == pytest.approx(8.0)
    assert lines["ev-1"]["reward_scheduling_eur"] == pytest.approx(0.5 + 0.2 * 8.0)
    assert not lines["ev-2"]["within_tolerance"] and lines["ev-2"]["reward_scheduling_eur"] == 0.0
    assert bill_body["factual"]["offers"] == 2
    expected = sum(line["total_eur"] for line in lines.values()) + 3.0
    assert bill_body["total_eur"] == pytest.approx(expected)

    kpi = client.get("/api/v1/kpi", params={"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
                     headers=alice)
    assert kpi.status_code == 200, kpi.text
    k = kpi.json()
    # 8 kWh moved out of 18:00 and into 19:00: 0.008 MWh/h each way against a peak of 0.008 MWh/h
    assert k["total_adaptation_mwh"] == pytest.approx(0.016)
    assert k["max_adaptability_level"] == pytest.approx(1.0)
    assert k["savings_eur"] == pytest.approx(2 * (4.0 * 0.30 - cost))
    assert k["participants"] == 1 and k["priced_slots"] == 96
    assert k["rewards_eur"] == pytest.approx(bill_body["total_eur"])
    assert [p["participants"] for p in k["projections"]] == [10, 100, 1000]

    # bob has no contract and sees none of alice's portfolio: a bill of zeros, not an error
    bob_bill = client.get(f"/api/v1/bill?month={month}", headers=bob)
    assert bob_bill.status_code == 200, bob_bill.text
    assert bob_bill.json()["contract_id"] is None and bob_bill.json()["total_eur"] == 0.0
    # without from/to the KPIs span alice's stored offers
    assert client.get("/api/v1/kpi", headers=alice).json()["total_adaptation_mwh"] == pytest.approx(0.016)
    bob_kpi = client.get("/api/v1/kpi", params={"from": day.isoformat(), "to": (day + Q * 96).isoformat()},
                         headers=bob).json()
    assert bob_kpi["total_adaptation_mwh"] == 0.0
    _problem(client.get(f"/api/v1/bill?month={month}&party=alice", headers=bob), 403)
    # an empty party name is a bad request, not a contract-less party (found by the fuzz test)
    _problem(client.get(f"/api/v1/bill?month={month}&party=", headers=admin), 422)
    assert client.get(f"/api/v1/bill?month={month}&party=alice", headers=admin).status_code == 200
    everyone = client.get("/api/v1/kpi", params={"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat(),
                                                 "party": "*"}, headers=admin).json()
    assert everyone["participants"] == 1 and everyone["total_adaptation_mwh"] == pytest.approx(0.016)
    _problem(client.get("/api/v1/kpi", params={"from": day.isoformat(), "to": (day + Q).isoformat(), "party": "*"},
                        headers=bob), 403)
    assert [c["party"] for c in client.get("/api/v1/contract?party=*", headers=admin).json()["contracts"]] == ["alice"]


def test_bad_requests_get_problem_documents(hub) -> None:  # type: ignore[no-untyped-def]
    client, admin, alice, _ = hub
    client.put("/api/v1/contract/alice", json=CONTRACT, headers=admin)
    _problem(client.get("/api/v1/bill?month=2026-13", headers=alice), 422)
    _problem(client.get("/api/v1/bill?month=May", headers=alice), 422)
    _problem(client.get("/api/v1/bill", headers=alice), 422)
    _problem(client.get("/api/v1/bill?month=0001-01", headers=alice), 422)
    _problem(client.get("/api/v1/kpi", params={"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T00:00:00Z"},
                        headers=alice), 422)
    _problem(client.post("/api/v1/fman/plan", json={"objective": {"kind": "cost", "prices": [0.1] * 2976},
                                                    "horizon": {"start": "9999-12-31T00:00:00Z", "slots": 2976}},
                         headers=alice), 422)
    day = _tomorrow()
    _problem(client.get("/api/v1/kpi", params={"from": day.isoformat(), "to": (day - Q).isoformat()},
                        headers=alice), 422)
    _problem(client.get("/api/v1/kpi", params={"from": day.isoformat(), "to": (day + timedelta(days=400)).isoformat()},
                        headers=alice), 422)
    horizon = {"start": day.isoformat(), "slots": 4}
    _problem(client.post("/api/v1/fman/plan", json={"objective": {"kind": "cost", "prices": [0.1]},
                                                    "horizon": horizon}, headers=alice), 422)
    _problem(client.post("/api/v1/fman/plan", json={"objective": {"kind": "nope"}, "horizon": horizon},
                         headers=alice), 422)
    _problem(client.post("/api/v1/fman/plan",
                         json={"objective": {"kind": "cost", "prices": [0.1] * 4},
                               "horizon": {**horizon, "start": (day + timedelta(minutes=7)).isoformat()}},
                         headers=alice), 422)
    _problem(client.post("/api/v1/fman/plan",
                         json={"objective": {"kind": "cost", "prices": [0.1] * 4}, "horizon": horizon,
                               "offer_ids": ["nope"]}, headers=alice), 404)
    _problem(client.post("/api/v1/fman/plan", json={"objective": {"kind": "cost", "prices": [0.1] * 4},
                                                    "horizon": horizon}, headers={"X-API-Key": "x" * 36}), 401)


def test_cli_plans_a_file_and_compares_with_greedy(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gateway.cli import app

    day = datetime(2026, 6, 1, tzinfo=UTC)
    offers_file = tmp_path / "offers.json"
    offers_file.write_text(codec.dumps([_ev("ev-1", day), _ev("ev-2", day)]))
    prices = [0.3] * 96
    prices[76:78] = [0.1, 0.12]
    prices_file = tmp_path / "prices.txt"
    prices_file.write_text("\n".join(str(p) for p in prices))
    out = tmp_path / "schedules.json"
    start = day.isoformat()
    result = CliRunner().invoke(app, ["fman", "plan", str(offers_file), "--prices", str(prices_file), "--start",
                                      start, "--greedy", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    import json

    summary = json.loads(result.output)
    assert summary["status"] == "Optimal" and summary["planned"] == 2 and summary["infeasible_schedules"] == 0
    assert summary["objective_value"] == pytest.approx(2 * (2.5 * 0.1 + 1.5 * 0.12))
    assert summary["greedy_objective_value"] == pytest.approx(summary["objective_value"])
    assert set(json.loads(out.read_text())) == {"ev-1", "ev-2"}

    bad = CliRunner().invoke(app, ["fman", "plan", str(offers_file), "--objective", "peak"])
    assert bad.exit_code == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    assert CliRunner().invoke(app, ["fman", "plan", str(broken), "--prices", str(prices_file)]).exit_code == 2


def test_plan_through_aggregates_assigns_feasible_member_schedules(hub) -> None:  # type: ignore[no-untyped-def]
    client, _, alice, _ = hub
    day = _tomorrow()
    offers = [_ev(f"ev-{i}", day) for i in range(3)]
    assert client.post("/api/v1/flexoffer", content=codec.dumps(offers), headers=alice).status_code in (200, 201)
    prices = [0.30] * 96
    prices[76:78] = [0.10, 0.12]
    request = {"objective": {"kind": "cost", "prices": prices}, "horizon": {"start": day.isoformat(), "slots": 96},
               "assign": True, "aggregate": True}
    planned = client.post("/api/v1/fman/plan", json=request, headers=alice)
    assert planned.status_code == 200, planned.text
    body = planned.json()
    assert body["assignment_failures"] == {} and body["unplanned"] == {}
    assert sorted(body["assigned"]) == ["ev-0", "ev-1", "ev-2"]
    for i in range(3):
        stored = client.get(f"/api/v1/flexoffer/ev-{i}", headers=alice).json()
        assert stored["state"].lower() == "assigned"
    # aggregation may lose flexibility, never add it: no better than the exact plan, better than doing nothing
    assert 3 * (2.5 * 0.10 + 1.5 * 0.12) - 1e-6 <= body["objective_value"] < 3 * 4.0 * 0.30


def _fman_operations() -> list[tuple[str, str]]:
    from gateway.app import create_app
    from gateway.config import Settings

    spec = create_app(Settings(database_url="sqlite://")).openapi()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "fman" in operation.get("tags", ())
    )


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), _fman_operations())
def test_generated_requests_never_cause_server_errors(tmp_path: Path, method: str, path: str) -> None:
    with make_test_client(tmp_path) as client:
        key = create_api_key(client.app, "alice", ["read", "write", "admin"])
        client.post("/api/v1/flexoffer", content=codec.dumps([_ev("ev-1", _tomorrow())]), headers={"X-API-Key": key})
        client.put("/api/v1/contract/alice", json=CONTRACT, headers={"X-API-Key": key})
        assert_no_server_errors(client, key, method, path, max_examples=25)
