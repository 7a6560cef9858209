"""The lean envelope ingest answers and stores exactly what the full path does.

Two hubs on their own SQLite files, one with ``fast_ingest`` on and one with it off,
receive the same generated envelopes (plain and unusual offers, valid and invalid) in
the same order; their answers and their stored rows must match: every column byte for
byte, with only the randomly assigned ids normalised, and the document as the offer it
reads back to (the lean path keeps the client's number texts, see ``ingest_fast``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.flexoffer import scan
from core.flexoffer import FlexOffer
from gateway.db.flexoffer import flex_offers_table
from gateway.services import ingest_fast
from gateway.testing import HubTestClient, benchmark_offer, create_api_key, make_test_client

pytestmark = pytest.mark.xdist_group("ingest_fast")

NOW = datetime(2030, 5, 6, 7, 8, 9, 123450, tzinfo=UTC)
BASE = datetime(2030, 6, 1, tzinfo=UTC)
TAKEN_ID = "already-stored"
PARTY = "p-fast"


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[HubTestClient, str]]]:
    made: dict[str, tuple[HubTestClient, str]] = {}
    for name, fast in (("fast", True), ("full", False)):
        client = make_test_client(Path(tmp_path_factory.mktemp(name)), fast_ingest=fast, max_body_bytes=8 * 2**20)
        made[name] = (client, create_api_key(client.app, PARTY, ["read", "write"]))
    with mock.patch("gateway.services.flexoffers.utc_now", lambda: NOW), \
            mock.patch("gateway.services.ingest_fast.utc_now", lambda: NOW):
        for client, key in made.values():  # an id both stores already hold
            seeded = {"flexOffer": [_offer_dict(False, 2, [0.0, 1.0], id_=TAKEN_ID)]}
            assert client.post("/api/v1/flexoffer", content=orjson.dumps(seeded),
                               headers={"X-API-Key": key}).status_code == 201
        yield made
    for client, _ in made.values():
        client.close()


def _time(moment: datetime, form: str) -> str:
    if form == "z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "millis":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if form == "naive":
        return moment.replace(tzinfo=None).isoformat()
    if form == "cet":
        return (moment + timedelta(hours=1)).replace(tzinfo=None).isoformat() + "+01:00"
    return moment.isoformat()


def _offer_dict(inea: bool, n: int, lows: list[float], id_: str | None = None) -> dict[str, Any]:
    lo, hi = ("lowerBound", "upperBound") if inea else ("lower", "upper")
    sign = -1.0 if inea else 1.0
    slices = [{"energyConstraintList": [{lo: sign * (x + 1.0) if inea else x, hi: sign * x if inea else x + 1.0}]}
              for x in lows[:n]]
    offer: dict[str, Any] = {"startAfterTime": _time(BASE, "z"), "flexOfferProfileConstraints": slices}
    if id_ is not None:
        offer["id"] = id_
    return offer


_floats = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.5, -0.0, 1e-7, 123.456]),
                    st.floats(-50, 50, allow_nan=False, allow_infinity=False))


@st.composite
def offers(draw: st.DrawFn, inea: bool, serial: str, clean: bool) -> dict[str, Any]:
    """One offer; ``clean`` keeps to choices a plain, sound offer can make."""
    def pick(always: list[Any], sometimes: list[Any]) -> Any:
        return draw(st.sampled_from(always if clean else always + sometimes))

    n = draw(st.integers(1, 5))
    lows = draw(st.lists(_floats, min_size=n, max_size=n))
    widths = draw(st.lists(st.sampled_from([0.0, 1.0, 2.5] if clean else [0.0, 1.0, 2.5, -0.5]),
                           min_size=n, max_size=n))
    highs = [x + w for x, w in zip(lows, widths, strict=True)]
    lo_key, hi_key = ("lowerBound", "upperBound") if inea else ("lower", "upper")
    slices: list[dict[str, Any]] = []
    durations = pick(["none", "ones", "range"], ["partial", "bad"])
    for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
        entry = {lo_key: -hi, hi_key: -lo} if inea else {lo_key: lo, hi_key: hi}
        item: dict[str, Any] = {"energyConstraintList": [entry]}
        if durations == "ones" or (durations == "partial" and i == 0):
            item.update(minDuration=1, maxDuration=1)
        elif durations == "range":
            item.update(minDuration=1, maxDuration=2)
        elif durations == "bad":
            item.update(minDuration=0)
        slices.append(item)
    form = draw(st.sampled_from(["z", "millis", "naive", "cet", "iso"]))
    start = BASE + timedelta(hours=draw(st.integers(0, 48)))
    offer: dict[str, Any] = {"flexOfferProfileConstraints": slices, "startAfterTime": _time(start, form)}
    interval = pick([None, 900, 3600], [700])
    if interval is not None:
        offer["numSecondsPerInterval"] = interval
    step = interval if interval in (900, 3600) else 900
    if draw(st.booleans()):
        offer["startBeforeTime"] = _time(start + timedelta(hours=pick([0, 2, 6], [-1])), form)
    if draw(st.booleans()):
        offer["acceptBeforeTime"] = _time(start - timedelta(hours=2), form)
        if draw(st.booleans()):
            offer["assignmentBeforeTime"] = _time(start - timedelta(hours=pick([1], [3])), form)
    if draw(st.booleans()):
        offer["creationTime"] = _time(start - timedelta(days=1, microseconds=draw(st.sampled_from([0, 5000]))), "iso")
    states = ["Initial", "offered"] if clean else ["Initial", "accepted", "bogus"]
    for key, values in (("locationId", ["feeder-1", "ä/\"x\"", ""]), ("zone", ["DK1", "NL"]),
                        ("offeredById", ["agg-7", ""]), ("state", states)):
        if draw(st.integers(0, 3)) == 0:
            offer[key] = draw(st.sampled_from(values))
    total = pick(["none", "reachable", "loose"], ["unreachable"])
    if total != "none":
        low_sum, high_sum = sum(lows), sum(highs)
        bounds = {"reachable": (low_sum, high_sum), "unreachable": (high_sum + 5, high_sum + 9),
                  "loose": (low_sum - 1.5, high_sum + 100)}[total]
        offer["totalEnergyConstraint"] = ({lo_key: -bounds[1], hi_key: -bounds[0]} if inea
                                          else {lo_key: bounds[0], hi_key: bounds[1]})
    baseline = pick(["none", "lower"], ["outside", "short", "offgrid"])
    if baseline != "none":
        energy = [hi + 1.0 for hi in highs] if baseline == "outside" else list(lows)
        if baseline == "short":
            energy = energy[:-1]
        begin = start + timedelta(seconds=step // 2 if baseline == "offgrid" else 0)
        offer["defaultSchedule"] = {"startTime": _time(begin, form),
                                    "energyAmounts": [-e for e in energy] if inea else energy}
    ident = pick(["none", "fresh"], ["fresh", "empty", "taken"])
    if ident == "fresh":
        offer["id"] = f"{serial}-{draw(st.integers(0, 3))}"  # sometimes twice in one envelope
    elif ident == "empty":
        offer["id"] = ""
    elif ident == "taken":
        offer["id"] = TAKEN_ID
    oddity = draw(st.sampled_from([None] * (60 if clean else 8) + ["label", "unknown", "string_number", "interval_time",
                                                 "null_id", "tariff", "location_object", "int_time"]))
    if oddity == "label":
        offer["label"] = "vendor"
    elif oddity == "unknown":
        offer["whatever"] = {"a": 1}
    elif oddity == "string_number":
        slices[0]["energyConstraintList"][0][lo_key] = str(slices[0]["energyConstraintList"][0][lo_key])
    elif oddity == "interval_time":
        offer["startAfterInterval"] = int(start.timestamp()) // step
        del offer["startAfterTime"]
    elif oddity == "null_id":
        offer["id"] = None
    elif oddity == "tariff":
        slices[0]["tariffConstraint"] = {"minTariff": 0.1}
    elif oddity == "location_object":
        offer["locationId"] = {"geo": {"lat": 55.0}}
    elif oddity == "int_time":
        offer["startAfterTime"] = int(start.timestamp() * 1000)
    return offer


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    serial = uuid.uuid4().hex[:8]
    inea = draw(st.booleans())
    mixed = draw(st.integers(0, 9)) == 0
    size = draw(st.sampled_from([1, 2, 3, 8, 10]))
    clean = draw(st.booleans())
    items = [draw(offers(inea != (mixed and i == 0), serial, clean)) for i in range(size)]
    return orjson.dumps({"flexOffer": items})


def _post(hub: tuple[HubTestClient, str], body: bytes, strict: bool = False) -> tuple[int, Any, list[tuple[Any, ...]]]:
    client, key = hub
    response = client.post("/api/v1/flexoffer", content=body, headers={"X-API-Key": key},
                           params={"strict": "true"} if strict else None)
    answer = response.json()
    rows: list[tuple[Any, ...]] = []
    if response.status_code == 201:
        ids = answer["ids"]
        names = {offer_id: f"<id{k}>" for k, offer_id in enumerate(ids)}
        with client.app.state.engine.connect() as connection:
            for offer_id in ids:
                row = connection.execute(flex_offers_table.select().where(flex_offers_table.c.id == offer_id)).one()
                offer = FlexOffer.model_validate_json(row.document).model_copy(update={"id": names[offer_id]})
                columns = tuple(str(v).replace(offer_id, names[offer_id])
                                for name, v in row._mapping.items() if name != "document")
                rows.append((*columns, offer))
        generated = set(ids) - {o.get("id") for o in orjson.loads(body)["flexOffer"] if isinstance(o, dict)}
        answer["ids"] = [names[i] if i in generated else i for i in ids]
    return response.status_code, answer, rows


def test_fast_and_full_paths_agree(hubs: dict[str, tuple[HubTestClient, str]]) -> None:
    counts = {"lean": 0, "full": 0}
    lean_ingest = ingest_fast.try_ingest

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = lean_ingest(*args, **kwargs)
        counts["lean" if result is not None else "full"] += 1
        return result

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(body=envelopes(), strict=st.booleans())
    def agree(body: bytes, strict: bool) -> None:
        fast = _post(hubs["fast"], body, strict)
        full = _post(hubs["full"], body, strict)
        assert fast[0] == full[0], (fast[1], full[1])
        assert fast[1] == full[1]
        assert fast[2] == full[2]

    with mock.patch("gateway.services.ingest_fast.try_ingest", counting):
        agree()
    # Both branches of the fast hub were exercised by the generated envelopes.
    assert counts["lean"] >= 30 and counts["full"] >= 30, counts


def _bench_like(inea: bool, size: int) -> bytes:
    offers_ = [benchmark_offer(index, BASE + timedelta(days=index % 3), inea) for index in range(size)]
    return orjson.dumps({"flexOffer": offers_})


@pytest.mark.parametrize("inea", [False, True], ids=["aau", "inea"])
def test_benchmark_shape_takes_the_lean_path_and_stores_the_same(
        hubs: dict[str, tuple[HubTestClient, str]], inea: bool) -> None:
    body = _bench_like(inea, 40)
    results: list[Any] = []
    lean_ingest = ingest_fast.try_ingest

    def recording(*args: Any, **kwargs: Any) -> Any:
        results.append(lean_ingest(*args, **kwargs))
        return results[-1]

    with mock.patch("gateway.services.ingest_fast.try_ingest", recording):
        fast = _post(hubs["fast"], body)
    assert len(results) == 1 and results[0] is not None
    full = _post(hubs["full"], body)
    assert fast[0] == full[0] == 201
    assert fast[1] == full[1] and fast[1]["count"] == 40
    assert fast[2] == full[2]


def test_scanner_declines_unusual_offers() -> None:
    plain = orjson.loads(_bench_like(False, 2))
    assert scan.scan_envelope(orjson.dumps(plain)) is not None
    plain["flexOffer"][1]["label"] = "vendor"
    assert scan.scan_envelope(orjson.dumps(plain)) is None

