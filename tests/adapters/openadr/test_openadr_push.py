"""HTTP push: the VTN posts events to a VEN's transport address; the VEN answers oadrCreatedEvent inline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from adapters.openadr.schema import check_document
from adapters.openadr.ven import VenClient, serve_push
from gateway.api.openadr import vtn_service
from gateway.services.openadr_push import push_once
from gateway.services.openadr_testing import VTN_PATH
from gateway.testing import create_api_key, live_server


def _event(event_id: str, ven_id: str) -> dict:
    start = datetime.now(UTC) + timedelta(hours=1)
    return {"event_id": event_id, "ven_ids": [ven_id], "dtstart": start.isoformat(),
            "signals": [{"signal_name": "SIMPLE", "signal_type": "level",
                         "intervals": [{"duration_seconds": 1800, "value": 2}]}]}


class _AppRequest:
    """vtn_service() wants a request; only ``.app`` is used."""

    def __init__(self, app) -> None:
        self.app = app


async def test_events_are_pushed_and_opt_in_comes_back_inline(tmp_path: Path) -> None:
    checked: list[str | None] = []
    with live_server(tmp_path) as (base_url, app):
        key = create_api_key(app, "op", ["admin"])
        vtn = vtn_service(_AppRequest(app))  # type: ignore[arg-type]
        ven = VenClient(f"{base_url}{VTN_PATH}", "push-ven", ven_id="push-1", on_event=lambda e: "optIn",
                        sent=lambda x: checked.append(check_document(x)),
                        received=lambda x: checked.append(check_document(x)))
        server, port = await serve_push(ven, "127.0.0.1", 0)
        async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": key}) as api, \
                httpx.AsyncClient(timeout=10) as pusher:
            try:
                await ven.register(push_address=f"http://127.0.0.1:{port}")
                vens = (await api.get("/api/v1/openadr/vens")).json()
                assert vens[0]["http_pull_model"] is False
                assert (await api.post("/api/v1/openadr/events", json=_event("push-ev", "push-1"))).status_code == 201
                assert await push_once(vtn, pusher) == 1
                view = (await api.get("/api/v1/openadr/events/push-ev")).json()
                assert view["responses"][0]["opt_type"] == "optIn"
                assert view["responses"][0]["pending"] is False
                assert await push_once(vtn, pusher) == 0  # nothing left

                server.close()
                await server.wait_closed()
                assert (await api.post("/api/v1/openadr/events", json=_event("push-ev-2", "push-1"))).status_code == 201
                async with httpx.AsyncClient(timeout=5) as fresh:  # no kept-alive connection to the old server
                    assert await push_once(vtn, fresh) == 0  # VEN unreachable: kept for later
                view = (await api.get("/api/v1/openadr/events/push-ev-2")).json()
                assert view["responses"][0]["pending"] is True
            finally:
                await ven.close()
    assert checked and all(reason is None for reason in checked)
