"""The CIM inbox watcher running inside the hub's lifespan (``cim.inbox_dir`` configured)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from adapters.cim.safe_xml import parse_xml
from adapters.cim.tree import decode
from adapters.cim.xsd import XsdCatalog
from gateway.app import create_app
from gateway.services import cim_runtime
from gateway.testing import HubTestClient, create_api_key, test_settings
from tests.adapters.cim.conftest import HUB_MRID, PARTIES, SAMPLES, XSD_DIR
from tests.adapters.cim.test_cim_safe_xml import BILLION_LAUGHS
from tests.gateway.runtime_helpers import add_runtime

pytestmark = pytest.mark.xdist_group("cim_xmlschema")

BID = (SAMPLES / "mfrr_bid_v7_4.xml").read_bytes()


def wait_for(predicate, seconds: float = 30.0) -> None:
    """Poll until ``predicate()``; the watcher works on its own schedule (not a timing assert)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def xsd() -> XsdCatalog:
    return XsdCatalog(str(XSD_DIR), "lxml")


def ack_codes(data: bytes, xsd: XsdCatalog) -> list[str]:
    root = parse_xml(data)
    assert xsd.validate(root) == []
    return [r["code"] for r in decode(root).fields["Reason"]]


def test_serve_processes_the_inbox_and_stops_cleanly(tmp_path: Path, xsd: XsdCatalog) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    settings = test_settings(
        tmp_path,
        cim={"xsd_dir": str(XSD_DIR), "inbox_dir": str(inbox), "outbox_dir": str(outbox),
             "inbox_interval_seconds": 0.05},
    )
    app = create_app(settings)
    add_runtime(app, cim_runtime.start)
    client = HubTestClient(app)
    client.__enter__()
    try:
        assert app.state.cim_inbox is not None
        admin = {"X-API-Key": create_api_key(app, "ops", ["admin"])}
        for mrid, roles in PARTIES.items():
            body = {"roles": sorted(roles), "hub": mrid == HUB_MRID}
            assert client.put(f"/api/v1/cim/parties/{mrid}", json=body, headers=admin).status_code == 200
        # Writers rename into place; the watcher only takes *.xml.
        (inbox / "bid.xml.tmp").write_bytes(BID)
        (inbox / "bid.xml.tmp").rename(inbox / "bid.xml")
        (inbox / "bomb.xml").write_bytes(BILLION_LAUGHS)
        wait_for(lambda: (outbox / "bid.ack.xml").exists() and (outbox / "bomb.ack.xml").exists())

        assert (inbox / "processed" / "bid.xml").read_bytes() == BID
        assert ack_codes((outbox / "bid.ack.xml").read_bytes(), xsd) == ["A01"]
        assert (inbox / "failed" / "bomb.xml").exists()
        assert ack_codes((outbox / "bomb.ack.xml").read_bytes(), xsd)[0] == "A02"
        assert not (inbox / "bid.xml").exists() and not (inbox / "bomb.xml").exists()
        # Persisted like an HTTP post, on the inbox channel.
        rows = client.get("/api/v1/cim/documents", headers=admin).json()
        assert sorted((r["channel"], r["status"]) for r in rows) == [("inbox", "A01"), ("inbox", "A02")]
    finally:
        client.close()
    assert app.state.cim_inbox is None  # stopped with the app


def test_without_an_inbox_nothing_runs(tmp_path: Path) -> None:
    app = create_app(test_settings(tmp_path))
    add_runtime(app, cim_runtime.start)
    client = HubTestClient(app)
    client.__enter__()
    try:
        assert getattr(app.state, "cim_inbox", None) is None
    finally:
        client.close()


def test_start_is_idempotent_per_app(tmp_path: Path) -> None:
    """The lifespan starts the watcher; further starts for the same app add none, and their
    stop functions leave the lifespan's watcher running."""
    app = create_app(test_settings(tmp_path, cim={"inbox_dir": str(tmp_path / "in"), "inbox_interval_seconds": 0.05}))
    client = HubTestClient(app)
    client.__enter__()
    try:
        async def twice() -> int:
            stop_first = await cim_runtime.start(app)
            stop_second = await cim_runtime.start(app)
            watchers = [t for t in asyncio.all_tasks() if t.get_name() == "cim-inbox"]
            await stop_second()
            await stop_first()
            left = [t for t in asyncio.all_tasks() if t.get_name() == "cim-inbox"]
            return len(watchers) * 10 + len(left)

        assert client.portal.call(twice) == 11
        assert getattr(app.state, "cim_inbox", None) is not None
    finally:
        client.close()
