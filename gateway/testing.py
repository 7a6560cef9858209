"""Test helpers every feature's tests share: a started hub on a fresh store, and API keys.

``make_test_client(tmp_path)`` returns a client that has already run the app's
lifespan (so migrations are applied); use it plainly or as a context manager::

    client = make_test_client(tmp_path)
    key = create_api_key(client.app, "alice", ["read", "write"])
    client.get("/api/v1/flexoffer", headers={"X-API-Key": key})
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings


class HubTestClient(TestClient):
    """A TestClient that is entered once; a later ``with`` reuses it and closes it at exit."""

    _entered = False

    def __enter__(self) -> HubTestClient:
        if not self._entered:
            super().__enter__()
            self._entered = True
        return self

    def __exit__(self, *args: Any) -> None:
        if self._entered:
            self._entered = False
            super().__exit__(*args)

    def close(self) -> None:
        self.__exit__(None, None, None)
        super().close()


def benchmark_offer(index: int, begin: datetime, inea: bool = False) -> dict[str, Any]:
    """The 96-slice offer of the REST ingest benchmark, in either dialect; varied by ``index``
    so no two are identical. The lean-ingest tests post the very shape the benchmark times."""
    low = [round(0.2 + ((index + i) % 7) * 0.1, 3) for i in range(96)]
    lo_key, hi_key = ("lowerBound", "upperBound") if inea else ("lower", "upper")

    def bounds(lo: float, hi: float) -> dict[str, float]:
        # INEA is production-positive: load [lo, hi] is [-hi, -lo] there.
        return {lo_key: -hi, hi_key: -lo} if inea else {lo_key: lo, hi_key: hi}

    return {
        "locationId": f"feeder-{index % 13}",
        "acceptBeforeTime": (begin - timedelta(hours=2)).isoformat(),
        "assignmentBeforeTime": (begin - timedelta(hours=1)).isoformat(),
        "startAfterTime": begin.isoformat(),
        "startBeforeTime": (begin + timedelta(hours=6)).isoformat(),
        "numSecondsPerInterval": 900,
        "flexOfferProfileConstraints": [
            {"minDuration": 1, "maxDuration": 1, "energyConstraintList": [bounds(lo, lo + 1.5)]} for lo in low
        ],
        "totalEnergyConstraint": bounds(sum(low), sum(low) + 100),
        "defaultSchedule": {"startTime": begin.isoformat(), "energyAmounts": [-x for x in low] if inea else low},
    }


def test_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a private SQLite file under ``tmp_path``; ``overrides`` win."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{Path(tmp_path) / 'flexhub.db'}",
        "bootstrap_admin_key": False,
    }
    values.update(overrides)
    return Settings.model_validate(values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def make_test_client(tmp_path: Path, **settings_overrides: Any) -> HubTestClient:
    """A started hub (lifespan run, migrations applied) on a fresh SQLite file in ``tmp_path``.

    Pass ``database_url=...`` to use another store (e.g. a PostgreSQL schema).
    Server exceptions are answered as 500 problem documents, not re-raised.
    """
    app = create_app(test_settings(tmp_path, **settings_overrides))
    client = HubTestClient(app, raise_server_exceptions=False)
    client.__enter__()
    return client


def create_api_key(app: FastAPI, party: str, scopes: list[str]) -> str:
    """Issue a key for ``party`` with ``scopes`` on the app's store and return it in clear."""
    from gateway.security import issue_key

    with app.state.sessionmaker() as session:
        key = issue_key(session, party, scopes, label="test")
        session.commit()
    return key


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port that was free a moment ago (for servers that must bind it themselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(tmp_path: Path, **settings_overrides: Any) -> Iterator[tuple[str, FastAPI]]:
    """A real uvicorn server in a thread on an ephemeral port: ``(base_url, app)``.

    For what the in-process TestClient cannot do (endless SSE streams, real sockets).
    """
    import uvicorn

    app = create_app(test_settings(tmp_path, **settings_overrides))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def spawn_server(
    database_url: str,
    port: int | None = None,
    workers: int = 1,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``flexhub serve`` as a real subprocess and wait until /api/v1/health answers.

    Returns the process and its base URL; the caller stops it (SIGTERM or SIGKILL).
    """
    import httpx

    port = port or free_port()
    child_env = {**os.environ, "FLEXHUB_DATABASE_URL": database_url, "FLEXHUB_BOOTSTRAP_ADMIN_KEY": "false",
                 "FLEXHUB_LOG_LEVEL": "warning", **(env or {})}
    command = [sys.executable, "-c", "from gateway.cli import main; main()", "serve",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(command, env=child_env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"flexhub serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("flexhub serve did not become healthy in 60 s")
        time.sleep(0.1)
