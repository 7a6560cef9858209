"""The Flex-Offer Exchange Interface over HTTP: submit, read, change, isolation, errors."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import HubTestClient, create_api_key, make_test_client
from tests.gateway.samples import day_start, iso, wire_offer

API = "/api/v1"


class Party:
    """A client acting as one party (its key on every request)."""

    def __init__(self, client: HubTestClient, name: str, scopes: list[str] | None = None) -> None:
        self.client = client
        self.headers = {"X-API-Key": create_api_key(client.app, name, scopes or ["read", "write"])}

    def __getattr__(self, verb: str) -> Any:
        method = getattr(self.client, verb)

        def call(path: str, **kwargs: Any) -> Any:
            return method(API + path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

        return call

    def submit(self, body: Any) -> str:
        answer = self.post("/flexoffer", json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["ids"][0])


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[HubTestClient]:
    with make_test_client(tmp_path, database_url=database_url) as hub:
        yield hub


@pytest.fixture
def alice(client: HubTestClient) -> Party:
    return Party(client, "alice")


@pytest.fixture
def bob(client: HubTestClient) -> Party:
    return Party(client, "bob")


def assert_problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["status"] == status and body["title"]
    return body


# --- submission and reading back ------------------------------------------------------------------


def test_single_offer_is_stored_with_assigned_id_and_read_back(alice: Party) -> None:
    answer = alice.post("/flexoffer", json=wire_offer(slices=96, window_hours=6))
    assert answer.status_code == 201
    ids = answer.json()["ids"]
    assert len(ids) == 1 and answer.headers["location"] == f"{API}/flexoffer/{ids[0]}"
    stored = alice.get(f"/flexoffer/{ids[0]}").json()
    assert stored["id"] == ids[0]
    assert stored["state"].lower() == "offered"
    assert len(stored["flexOfferProfileConstraints"]) == 96


def test_envelope_and_list_are_stored_whole(alice: Party) -> None:
    envelope = {"flexOffer": [wire_offer(), wire_offer(slices=8)]}
    assert alice.post("/flexoffer", json=envelope).json()["count"] == 2
    assert alice.post("/flexoffer", json=[wire_offer()] * 3).json()["count"] == 3
    listed = alice.get("/flexoffer").json()
    assert listed["count"] == 5 and len(listed["flexOffer"]) == 5


def test_offer_with_own_id_keeps_it_and_duplicate_conflicts(alice: Party) -> None:
    assert alice.submit(wire_offer(id="fo-1")) == "fo-1"
    assert_problem(alice.post("/flexoffer", json=wire_offer(id="fo-1")), 409)


def test_inea_dialect_is_read_and_written(alice: Party) -> None:
    offer = wire_offer()
    for item in offer["flexOfferProfileConstraints"]:
        item["energyConstraintList"] = [{"lowerBound": -2.0, "upperBound": -1.0}]
    offer["defaultSchedule"]["energyAmounts"] = [-1.0] * 4
    offer_id = alice.submit(offer)
    aau = alice.get(f"/flexoffer/{offer_id}").json()
    assert aau["flexOfferProfileConstraints"][0]["energyConstraintList"][0] == {"lower": 1.0, "upper": 2.0}
    inea = alice.get(f"/flexoffer/{offer_id}", params={"dialect": "inea"}).json()
    bounds = inea["flexOfferProfileConstraints"][0]["energyConstraintList"][0]
    assert (bounds["lowerBound"], bounds["upperBound"]) == (-2.0, -1.0)


def test_list_filters_by_state_window_and_location(alice: Party) -> None:
    near = alice.submit(wire_offer(start=day_start(2), locationId="site-a"))
    far = alice.submit(wire_offer(start=day_start(5)))
    alice.post(f"/flexoffer/{far}/state", json={"state": "accepted"})
    by_state = alice.get("/flexoffer", params={"state": "accepted"}).json()["flexOffer"]
    assert [o["id"] for o in by_state] == [far]
    by_location = alice.get("/flexoffer", params={"locationId": "site-a"}).json()["flexOffer"]
    assert [o["id"] for o in by_location] == [near]
    window = f"/flexoffer/{iso(day_start(2))}/{iso(day_start(3))}"
    assert [o["id"] for o in alice.get(window).json()["flexOffer"]] == [near]
    later = f"/flexoffer/{iso(day_start(4))}/{iso(day_start(6))}"
    assert [o["id"] for o in alice.get(later).json()["flexOffer"]] == [far]


# --- isolation and authentication --------------------------------------------------------------------


def test_party_sees_and_changes_only_its_own_offers(alice: Party, bob: Party) -> None:
    offer_id = alice.submit(wire_offer())
    assert bob.get("/flexoffer").json()["count"] == 0
    assert_problem(bob.get(f"/flexoffer/{offer_id}"), 404)
    assert_problem(bob.delete(f"/flexoffer/{offer_id}"), 404)
    assert_problem(bob.put(f"/flexoffer/{offer_id}", json=wire_offer()), 404)
    assert_problem(bob.post(f"/flexoffer/{offer_id}/state", json={"state": "accepted"}), 404)
    assert alice.get(f"/flexoffer/{offer_id}").status_code == 200


def test_missing_unknown_and_underscoped_keys_are_refused(client: HubTestClient) -> None:
    assert_problem(client.get(f"{API}/flexoffer"), 401)
    assert_problem(client.get(f"{API}/flexoffer", headers={"X-API-Key": "not-a-key"}), 401)
    reader = Party(client, "carol", ["read"])
    assert_problem(reader.post("/flexoffer", json=wire_offer()), 403)
    bearer = {"Authorization": "Bearer " + create_api_key(client.app, "dave", ["read", "write"])}
    assert client.post(f"{API}/flexoffer", json=wire_offer(), headers=bearer).status_code == 201


# --- lifecycle ------------------------------------------------------------------------------------------


def test_state_transitions_follow_the_lifecycle(alice: Party) -> None:
    offer_id = alice.submit(wire_offer())
    accepted = alice.post(f"/flexoffer/{offer_id}/state", json={"state": "Accepted"})
    assert accepted.status_code == 200 and accepted.json()["state"].lower() == "accepted"
    body = assert_problem(alice.post(f"/flexoffer/{offer_id}/state", json={"state": "offered"}), 409)
    assert "accepted -> offered" in body["detail"]
    assert_problem(alice.post(f"/flexoffer/{offer_id}/state", json={"state": "sideways"}), 422)


def test_feasible_assignment_is_stored(alice: Party) -> None:
    offer_id = alice.submit(wire_offer())
    start = iso(day_start(2) + timedelta(minutes=30))
    answer = alice.put(f"/flexoffer/{offer_id}/schedule", json={"startTime": start, "energyAmounts": [2, 1.5, 1, 2]})
    assert answer.status_code == 200, answer.text
    stored = alice.get(f"/flexoffer/{offer_id}").json()
    assert stored["state"].lower() == "assigned"
    assert stored["flexOfferSchedule"]["energyAmounts"] == [2, 1.5, 1, 2]


def test_infeasible_assignment_lists_violations(alice: Party) -> None:
    offer_id = alice.submit(wire_offer())
    late = iso(day_start(2) + timedelta(hours=5))
    body = assert_problem(
        alice.put(f"/flexoffer/{offer_id}/schedule", json={"startTime": late, "energyAmounts": [9, 1, 1, 1]}), 422
    )
    assert any("after startBeforeTime" in v for v in body["violations"])
    assert any("slice 0" in v for v in body["violations"])
    assert alice.get(f"/flexoffer/{offer_id}").json()["state"].lower() == "offered"


def test_assignment_after_deadline_is_refused(alice: Party) -> None:
    past_deadline = wire_offer(assignmentBeforeTime=iso(day_start(0) - timedelta(days=1)), acceptBeforeTime=None)
    offer_id = alice.submit(past_deadline)
    schedule = {"startTime": iso(day_start(2)), "energyAmounts": [1, 1, 1, 1]}
    body = assert_problem(alice.put(f"/flexoffer/{offer_id}/schedule", json=schedule), 409)
    assert "assignmentBeforeTime" in body["detail"]


def test_put_replaces_before_start_and_resets_to_offered(alice: Party) -> None:
    offer_id = alice.submit(wire_offer())
    alice.post(f"/flexoffer/{offer_id}/state", json={"state": "accepted"})
    changed = alice.put(f"/flexoffer/{offer_id}", json=wire_offer(slices=6, upper=3.0))
    assert changed.status_code == 200, changed.text
    stored = alice.get(f"/flexoffer/{offer_id}").json()
    assert len(stored["flexOfferProfileConstraints"]) == 6 and stored["state"].lower() == "offered"


def test_put_and_delete_refused_once_execution_started(alice: Party) -> None:
    running = wire_offer(start=day_start(0) - timedelta(hours=1), acceptBeforeTime=None, assignmentBeforeTime=None)
    offer_id = alice.submit(running)
    assert "started" in assert_problem(alice.put(f"/flexoffer/{offer_id}", json=running), 409)["title"]
    assert "started" in assert_problem(alice.delete(f"/flexoffer/{offer_id}"), 409)["title"]
    assert alice.get(f"/flexoffer/{offer_id}").status_code == 200


def test_delete_before_start_removes_the_offer(alice: Party) -> None:
    offer_id = alice.submit(wire_offer())
    assert alice.delete(f"/flexoffer/{offer_id}").status_code == 204
    assert_problem(alice.get(f"/flexoffer/{offer_id}"), 404)


# --- measurements and time series ---------------------------------------------------------------------


def test_timeseries_aggregate_over_the_callers_offers(alice: Party, bob: Party) -> None:
    begin = day_start(2)
    first = alice.submit(wire_offer(start=begin))
    second = alice.submit(wire_offer(start=begin, lower=0.5))
    bob.submit(wire_offer(start=begin, lower=1.5, upper=1.5))
    alice.put(f"/flexoffer/{first}/schedule", json={"startTime": iso(begin), "energyAmounts": [2, 2, 2, 2]})
    span = f"{iso(begin)}/{iso(begin + timedelta(hours=2))}"
    baseline = alice.get(f"/timeseries/baseline/{span}", params={"resolution": 1800}).json()
    assert baseline["energyAmounts"] == [3.0, 3.0, 0.0, 0.0] and baseline["offerCount"] == 2
    schedule = alice.get(f"/timeseries/schedule/{span}").json()
    assert schedule["energyAmounts"][:5] == [2.0, 2.0, 2.0, 2.0, 0.0]
    measured = alice.post(
        "/flexoffer/measurement",
        json=[{"offerId": first, "startTime": iso(begin), "energyAmounts": [1.0, 2.0]},
              {"offerId": second, "startTime": iso(begin), "numSecondsPerInterval": 1800, "energyAmounts": [4.0]}],
    )
    assert measured.status_code == 201 and measured.json()["count"] == 3
    series = alice.get(f"/timeseries/measurement/{span}").json()
    assert series["energyAmounts"][:3] == [3.0, 4.0, 0.0]
    assert bob.get(f"/timeseries/measurement/{span}").json()["energyAmounts"][:2] == [0.0, 0.0]


def test_measurement_for_foreign_offer_is_not_found(alice: Party, bob: Party) -> None:
    offer_id = alice.submit(wire_offer())
    body = {"offerId": offer_id, "startTime": iso(day_start(2)), "energyAmounts": [1.0]}
    assert_problem(bob.post("/flexoffer/measurement", json=body), 404)
    assert_problem(alice.post("/flexoffer/measurement", json={**body, "energyAmounts": ["x"]}), 422)


# --- bad input: each one a clear problem document, and the server keeps serving -------------------------


BAD_SUBMISSIONS = {
    "lower above upper": (wire_offer(lower=3.0, upper=2.0, defaultSchedule=None), 422, "lower 3 > upper 2"),
    "window ends before start": (
        wire_offer(startBeforeTime=iso(day_start(2) - timedelta(hours=1))), 422, "ends before it starts"),
    "no feasible schedule": (wire_offer(totalEnergyConstraint={"lower": 0, "upper": 1}, defaultSchedule=None),
                             422, "no feasible schedule"),
    "default schedule outside bounds": (
        wire_offer(defaultSchedule={"startTime": iso(day_start(2)), "energyAmounts": [5, 1, 1, 1]}),
        422, "defaultSchedule"),
    "default schedule outside window": (
        wire_offer(defaultSchedule={"startTime": iso(day_start(3)), "energyAmounts": [1, 1, 1, 1]}),
        422, "after startBeforeTime"),
    "wrong type": (wire_offer(numSecondsPerInterval="often"), 422, "numSecondsPerInterval"),
    "not an offer at all": (42, 422, "expected"),
}


@pytest.mark.parametrize("case", sorted(BAD_SUBMISSIONS))
def test_bad_submissions_get_problem_documents(alice: Party, case: str) -> None:
    body, status, expected = BAD_SUBMISSIONS[case]
    problem = assert_problem(alice.post("/flexoffer", json=body), status)
    assert expected in str(problem)
    assert alice.get("/flexoffer").json()["count"] == 0
    assert alice.post("/flexoffer", json=wire_offer()).status_code == 201


def test_malformed_json_is_a_400(alice: Party) -> None:
    problem = assert_problem(alice.post("/flexoffer", content=b'{"startAfterTime": ', headers={
        "content-type": "application/json"}), 400)
    assert "malformed JSON" in problem["detail"]


def test_unknown_fields_warn_by_default_and_fail_when_strict(alice: Party) -> None:
    lenient = alice.post("/flexoffer", json=wire_offer(colour="green"))
    assert lenient.status_code == 201 and "colour" in lenient.json()["warnings"][0]
    strict = assert_problem(alice.post("/flexoffer", json=wire_offer(colour="green"), params={"strict": "true"}), 422)
    assert "colour" in str(strict["rejected"])


def test_strict_setting_applies_without_query(tmp_path: Path) -> None:
    with make_test_client(tmp_path, strict=True) as hub:
        problem = assert_problem(Party(hub, "eve").post("/flexoffer", json=wire_offer(colour="green")), 422)
        assert "colour" in str(problem)


def test_mixed_envelope_rejects_all_and_names_each_bad_offer(alice: Party) -> None:
    bad = wire_offer(lower=3.0, upper=2.0, defaultSchedule=None)
    problem = assert_problem(alice.post("/flexoffer", json=[wire_offer(), bad, "junk"]), 422)
    assert [r["index"] for r in problem["rejected"]] == [1, 2]
    assert alice.get("/flexoffer").json()["count"] == 0


def test_validation_errors_of_typed_bodies_are_problems(alice: Party) -> None:
    problem = assert_problem(alice.post("/flexoffer/x/state", json={"state": 5, "extra": True}), 422)
    assert problem["errors"]
    assert_problem(alice.get("/timeseries/weather/2030-01-01T00:00:00Z/2030-01-02T00:00:00Z"), 422)
    assert_problem(alice.get("/timeseries/baseline/2030-01-02T00:00:00Z/2030-01-01T00:00:00Z"), 422)


# --- transport: body limit and compression ----------------------------------------------------------------


def test_body_over_limit_is_413_even_without_content_length(tmp_path: Path) -> None:
    with make_test_client(tmp_path, max_body_bytes=4096) as hub:
        party = Party(hub, "frank")
        assert_problem(party.post("/flexoffer", content=b" " * 5000, headers={"content-type": "application/json"}),
                       413)

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        streamed = party.post("/flexoffer", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in streamed.request.headers
        assert_problem(streamed, 413)
        assert party.post("/flexoffer", json=wire_offer()).status_code == 201


def test_responses_are_gzipped_when_asked(alice: Party) -> None:
    alice.post("/flexoffer", json=[wire_offer(slices=96)] * 5)
    zipped = alice.get("/flexoffer", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json()["count"] == 5
    plain = alice.get("/flexoffer", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(gzip.compress(plain.content)) < len(plain.content)


def test_openapi_lists_the_exchange_routes(client: HubTestClient) -> None:
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    for path in ("/api/v1/flexoffer", "/api/v1/flexoffer/{offer_id}", "/api/v1/flexoffer/{start}/{end}",
                 "/api/v1/flexoffer/stream", "/api/v1/flexoffer/measurement", "/api/v1/health",
                 "/api/v1/timeseries/{kind}/{start}/{end}", "/api/v1/flexoffer/{offer_id}/schedule"):
        assert path in paths


def test_readme_example_document_is_accepted(alice: Party) -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "flexoffer-aau.json"
    answer = alice.post("/flexoffer", content=example.read_bytes(), headers={"content-type": "application/json"})
    assert answer.status_code == 201, answer.text


def test_large_submissions_take_the_worker_thread_path(tmp_path: Path) -> None:
    with make_test_client(tmp_path, inline_ingest_bytes=0) as hub:
        party = Party(hub, "gina")
        answer = party.post("/flexoffer", json=[wire_offer(slices=96)] * 20)
        assert answer.status_code == 201 and answer.json()["count"] == 20
        assert_problem(party.post("/flexoffer", json=[wire_offer(lower=3.0, upper=2.0, defaultSchedule=None)]), 422)
        assert party.get("/flexoffer", params={"limit": 1000}).json()["count"] == 20


def test_measurement_running_past_year_9999_is_a_422_not_a_crash(alice: Party) -> None:
    offer_id = alice.submit(wire_offer())
    body = {"offerId": offer_id, "startTime": "9999-12-31T23:45:00Z", "energyAmounts": [1.0, 1.0]}
    assert_problem(alice.post("/flexoffer/measurement", json=body), 422)
    assert alice.get(f"/flexoffer/{offer_id}").status_code == 200


def test_envelope_of_offers_with_own_ids_checks_all_ids(alice: Party) -> None:
    offers = [wire_offer(slices=1, id=f"own-{i}", defaultSchedule=None) for i in range(1200)]
    assert alice.post("/flexoffer", json=offers).json()["count"] == 1200
    problem = assert_problem(alice.post("/flexoffer", json=[wire_offer(id="new"), wire_offer(id="own-1100")]), 409)
    assert problem["ids"] == ["own-1100"]


def test_measurement_body_is_stored_whole_or_not_at_all(alice: Party) -> None:
    offer_id = alice.submit(wire_offer())
    begin = iso(day_start(2))
    good = {"offerId": offer_id, "startTime": begin, "energyAmounts": [1.0]}
    assert_problem(alice.post("/flexoffer/measurement", json=[good, {**good, "offerId": "nope"}]), 404)
    span = f"{begin}/{iso(day_start(2) + timedelta(hours=1))}"
    assert alice.get(f"/timeseries/measurement/{span}").json()["energyAmounts"][0] == 0.0
