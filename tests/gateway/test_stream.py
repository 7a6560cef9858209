"""Change streams: Server-Sent Events on a live server, WebSocket on the same path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.testing import create_api_key, live_server, make_test_client
from tests.gateway.samples import day_start, iso, wire_offer

API = "/api/v1"


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse an SSE line stream into {'event', 'id', 'data'} dicts; comments yield {'comment'}."""
    event: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            field, _, value = line.partition(":")
            event[field] = value.strip()


def test_sse_pushes_state_and_schedule_changes_of_own_offers_only(tmp_path: Path) -> None:
    with live_server(tmp_path) as (base, app):
        alice = {"X-API-Key": create_api_key(app, "alice", ["read", "write"])}
        bob = {"X-API-Key": create_api_key(app, "bob", ["read", "write"])}
        with httpx.Client(base_url=base + API, timeout=10) as http:
            mine = http.post("/flexoffer", json=wire_offer(), headers=alice).json()["ids"][0]
            with http.stream("GET", "/flexoffer/stream", headers=alice, params={"heartbeat": 0.2}) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                events = sse_events(stream.iter_lines())
                for item in events:  # wait until subscribed
                    if item.get("comment") == "subscribed":
                        break
                http.post("/flexoffer", json=wire_offer(), headers=bob)  # someone else's: not delivered
                http.post(f"/flexoffer/{mine}/state", json={"state": "accepted"}, headers=alice)
                schedule = {"startTime": iso(day_start(2) + timedelta(minutes=15)), "energyAmounts": [1, 1, 2, 2]}
                assert http.put(f"/flexoffer/{mine}/schedule", json=schedule, headers=alice).status_code == 200
                received = []
                for item in events:
                    if "event" in item:
                        received.append(item)
                    if len(received) == 2:
                        break
    assert [e["event"] for e in received] == ["state", "schedule"]
    state, assigned = (json.loads(e["data"]) for e in received)
    assert state["offerId"] == mine and state["state"] == "accepted" and state["previous"] == "offered"
    assert assigned["state"] == "assigned" and assigned["schedule"]["energy"] == [1, 1, 2, 2]
    assert int(received[1]["id"]) > int(received[0]["id"])


def test_sse_sends_keepalive_comments_and_needs_a_key(tmp_path: Path) -> None:
    with live_server(tmp_path) as (base, app):
        key = {"X-API-Key": create_api_key(app, "alice", ["read"])}
        with httpx.Client(base_url=base + API, timeout=10) as http:
            assert http.get("/flexoffer/stream").status_code == 401
            with http.stream("GET", "/flexoffer/stream", headers=key, params={"heartbeat": 0.1}) as stream:
                comments = []
                for item in sse_events(stream.iter_lines()):
                    if "comment" in item:
                        comments.append(item["comment"])
                    if comments.count("keepalive") >= 2:
                        break
    assert comments[0] == "subscribed"


def test_websocket_pushes_the_same_events(tmp_path: Path) -> None:
    with make_test_client(tmp_path) as client:
        key = create_api_key(client.app, "alice", ["read", "write"])
        headers = {"X-API-Key": key}
        offer_id = client.post(f"{API}/flexoffer", json=wire_offer(), headers=headers).json()["ids"][0]
        with client.websocket_connect(f"{API}/flexoffer/stream?api_key={key}") as ws:
            assert ws.receive_json() == {"event": "subscribed", "party": "alice"}
            client.post(f"{API}/flexoffer/{offer_id}/state", json={"state": "accepted"}, headers=headers)
            message = ws.receive_json()
            assert client.delete(f"{API}/flexoffer/{offer_id}", headers=headers).status_code == 204
            deleted = ws.receive_json()
    assert message["event"] == "state" and message["offerId"] == offer_id and message["state"] == "accepted"
    assert deleted == {"event": "deleted", "offerId": offer_id, "sequence": message["sequence"] + 1}


def test_websocket_without_valid_key_is_closed(tmp_path: Path) -> None:
    from starlette.websockets import WebSocketDisconnect

    with make_test_client(tmp_path) as client:
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(f"{API}/flexoffer/stream") as ws:
            ws.receive_json()
        assert closed.value.code == 1008
