"""An accepted offer survives SIGKILL of the server right after its 201, on both stores."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gateway.config import Settings
from gateway.db.base import make_engine, make_sessionmaker
from gateway.services.store import create_key_in_store
from gateway.testing import spawn_server
from tests.gateway.samples import wire_offer

pytestmark = pytest.mark.slow


def _key(database_url: str) -> str:
    return create_key_in_store(Settings(database_url=database_url), "alice", ["read", "write"])


def test_offer_acknowledged_with_201_survives_sigkill(tmp_path: Path, database_url: str) -> None:
    from gateway.db.flexoffer import StoredFlexOffer

    key = {"X-API-Key": _key(database_url)}
    process, base = spawn_server(database_url, log_path=tmp_path / "serve.log")
    try:
        answer = httpx.post(f"{base}/api/v1/flexoffer", json=[wire_offer(slices=96)] * 5, headers=key, timeout=30)
        process.send_signal(signal.SIGKILL)  # no graceful shutdown, no chance to flush anything
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert answer.status_code == 201
    ids = answer.json()["ids"]
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        stored = set(session.scalars(select(StoredFlexOffer.id).where(StoredFlexOffer.id.in_(ids))))
    engine.dispose()
    assert stored == set(ids)
    process, base = spawn_server(database_url, log_path=tmp_path / "serve.log")
    try:
        again = httpx.get(f"{base}/api/v1/flexoffer/{ids[-1]}", headers=key, timeout=30)
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert again.status_code == 200 and again.json()["id"] == ids[-1]
