"""Per-path body limits: big CIM documents pass on /api/v1/cim, the global limit holds elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cim import make_document
from gateway.testing import create_api_key, make_test_client
from tests.adapters.cim.conftest import HUB_MRID, PARTIES

pytestmark = pytest.mark.xdist_group("cim_xmlschema")


def big_reserve_bid(series: int = 100, points: int = 96) -> bytes:
    """The benchmark's ReserveBid (100 x 96 is ~1.5 MB, the issue's benchmark size), sent to the hub."""
    return make_document(series, points, mrid="BIG-RESERVEBID", receiver=HUB_MRID)


def test_a_large_cim_bid_is_accepted_while_other_paths_keep_the_global_limit(tmp_path: Path) -> None:
    client = make_test_client(tmp_path)
    try:
        admin = {"X-API-Key": create_api_key(client.app, "ops", ["admin"])}
        for mrid, roles in PARTIES.items():
            body = {"roles": sorted(roles), "hub": mrid == HUB_MRID}
            assert client.put(f"/api/v1/cim/parties/{mrid}", json=body, headers=admin).status_code == 200
        writer = {"X-API-Key": create_api_key(client.app, "bsp-north", ["read", "write"])}
        bid = big_reserve_bid()
        global_limit = client.app.state.settings.max_body_bytes
        assert global_limit < len(bid) < client.app.state.settings.cim.max_body_bytes

        response = client.post("/api/v1/cim", content=bid, headers={**writer, "Content-Type": "application/xml"})
        assert response.status_code == 200, response.text[:500]
        assert response.headers["X-CIM-Status"] == "A01"

        oversized = b"[" + b" " * (global_limit + 10) + b"]"
        response = client.post("/api/v1/flexoffer", content=oversized,
                               headers={**writer, "Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"

        # Streaming enforcement still applies: a chunked body without Content-Length is cut off.
        def chunks():
            for _ in range(3):
                yield b" " * (global_limit // 2)

        response = client.post("/api/v1/flexoffer", content=chunks(),
                               headers={**writer, "Content-Type": "application/json"})
        assert response.status_code == 413
    finally:
        client.close()


def test_the_cim_limit_is_its_own_setting(tmp_path: Path) -> None:
    client = make_test_client(tmp_path, cim={"max_body_bytes": 2048})
    try:
        writer = {"X-API-Key": create_api_key(client.app, "bsp", ["write"])}
        response = client.post("/api/v1/cim", content=big_reserve_bid(2, 96), headers=writer)
        assert response.status_code == 413
        assert "2048" in response.json()["detail"]
    finally:
        client.close()
