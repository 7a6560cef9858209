"""`flexhub serve --workers 2`: connections spread over both processes; SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.testing import free_port
from gateway.workers import reuseport_socket

pytestmark = pytest.mark.slow


def _children(pid: int, workers_only: bool = False) -> set[int]:
    """Direct children of ``pid``, read from /proc (Linux); optionally without multiprocessing's helper."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) != pid:
                continue
            if workers_only and b"resource_tracker" in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
            found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(tmp_path: Path, workers: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "FLEXHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "FLEXHUB_LOG_LEVEL": "warning"}
    command = [sys.executable, "-c", "from gateway.cli import main; main()", "serve",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with open(log, "ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}", log


def _pids_serving(base: str, deadline: float) -> set[int]:
    """Open many fresh connections (no keep-alive reuse) and collect the answering pids."""
    pids: set[int] = set()
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{base}/api/v1/health", timeout=2, headers={"Connection": "close"})
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        if answer.status_code == 200:
            pids.add(answer.json()["pid"])
        if len(pids) >= 2:
            # Keep going a little: every connection must land on some worker, never fail.
            for _ in range(40):
                again = httpx.get(f"{base}/api/v1/health", timeout=5, headers={"Connection": "close"})
                assert again.status_code == 200
                pids.add(again.json()["pid"])
            break
    return pids


def test_two_workers_share_connections_and_stop_on_sigterm(tmp_path: Path) -> None:
    process, base, log = _start(tmp_path, workers=2)
    try:
        pids = _pids_serving(base, time.monotonic() + 90)
        workers = _children(process.pid)
        assert len(pids) == 2, log.read_text()
        assert pids <= workers and process.pid not in pids
        assert len(_children(process.pid, workers_only=True)) == 2
        # The bootstrap admin key is created and printed once, by the supervisor only.
        assert log.read_text().count("created an admin key") == 1

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "a worker outlived the supervisor"


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    process, base, log = _start(tmp_path, workers=2)
    try:
        pids = _pids_serving(base, time.monotonic() + 90)
        assert len(pids) == 2, log.read_text()
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        replaced: set[int] = set()
        while time.monotonic() < deadline:
            replaced = _children(process.pid, workers_only=True) - {victim}
            if len(replaced) == 2:
                break
            time.sleep(0.2)
        assert len(replaced) == 2 and victim not in replaced
        assert _pids_serving(base, time.monotonic() + 60) == replaced
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_reuseport_sockets_share_one_port() -> None:
    first = reuseport_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuseport_socket("127.0.0.1", port)
    try:
        assert second.getsockname()[1] == port
    finally:
        first.close()
        second.close()
