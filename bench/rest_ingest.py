"""REST ingest throughput: 96-slice flex-offers POSTed to a real ``flexhub serve`` over loopback.

Two runs against one server on a fresh SQLite file (WAL), each with 8 concurrent
keep-alive clients (threads; a minimal blocking HTTP/1.1 client by default, ``--httpx`` for
httpx, which costs more CPU than the server does): single-offer POSTs, then 1,000-offer envelopes. Every
request must answer 201, i.e. every offer is validated and committed. Reports
offers/s, p50/p99 request latency and the server's peak RSS (all its processes),
against the issue's targets (>= 500 offers/s single, >= 20,000 offers/s envelopes),
with the figures a shared machine needs to read them: the server's CPU per offer, the
load average before the run and each phase's per-CPU busy share (all processes).

    .venv/bin/python bench/rest_ingest.py             # 4,000 single POSTs, 20 envelopes
    .venv/bin/python bench/rest_ingest.py --quick     # 400 single POSTs, 4 envelopes
    .venv/bin/python bench/rest_ingest.py --workers 1 # one server process (default: 2)

Envelopes of 1,000 96-slice offers are ~9 MB, so the server runs with
``FLEXHUB_MAX_BODY_BYTES`` raised to 64 MiB. Prints one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue as queue_module
import signal
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import orjson
import psutil

from gateway.config import Settings
from gateway.services.store import create_key_in_store
from gateway.testing import benchmark_offer, spawn_server
from gateway.warm_up import compile_all

TARGET_SINGLE = 500.0
TARGET_ENVELOPE = 20_000.0
SLICES = 96  # as benchmark_offer builds them


def make_offer(index: int) -> dict[str, Any]:
    """A realistic 96-slice offer (a day of quarter-hours, starting the day after tomorrow)."""
    begin = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    return benchmark_offer(index, begin)


class RssSampler:
    """Peak resident memory of a process and all its children, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class RawHttpClient:
    """A minimal keep-alive HTTP/1.1 client on a blocking socket: pre-serialised request
    bytes, Content-Length replies.

    A load generator should cost far less CPU than the server it measures. httpx spends
    about a millisecond per request, more than the hub, and an asyncio stream on
    Python 3.11 memmoves its whole send buffer after every partial send (~30 ms of
    client CPU per 9 MB envelope). ``sendall`` on a blocking socket hands the body to the
    kernel in place and releases the GIL while it waits, so one thread per client is cheap.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sock: socket.socket | None = None
        self.pending = b""

    def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(head)
        self.sock.sendall(body)
        header = self._read_until(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, self._read_exactly(length)

    def _read_until(self, marker: bytes) -> bytes:
        while (end := self.pending.find(marker)) < 0:
            self._fill()
        head, self.pending = self.pending[:end + len(marker)], self.pending[end + len(marker):]
        return head

    def _read_exactly(self, length: int) -> bytes:
        while len(self.pending) < length:
            self._fill()
        data, self.pending = self.pending[:length], self.pending[length:]
        return data

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.pending += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def post_all(base: str, key: str, bodies: list[bytes], offers_per_body: int, clients: int,
             use_httpx: bool = False) -> dict[str, Any]:
    """POST every body with ``clients`` concurrent connections; all must answer 201."""
    queue: queue_module.SimpleQueue[bytes] = queue_module.SimpleQueue()
    for body in bodies:
        queue.put(body)
    latencies: list[float] = []
    failures: list[str] = []
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    url = httpx.URL(base)
    host, port = str(url.host), int(url.port or 80)

    def head(body: bytes) -> bytes:
        return (f"POST /api/v1/flexoffer HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    def next_body() -> bytes | None:
        try:
            return queue.get_nowait()
        except queue_module.Empty:
            return None

    def raw_client() -> None:
        http = RawHttpClient(host, port)
        try:
            while (body := next_body()) is not None:
                t0 = time.perf_counter()
                status, text = http.post(head(body), body)
                latencies.append(time.perf_counter() - t0)
                if status != 201:
                    failures.append(f"{status}: {text[:200]!r}")
        finally:
            http.close()

    def httpx_client() -> None:
        with httpx.Client(base_url=base, timeout=300, headers=headers) as http:
            while (body := next_body()) is not None:
                t0 = time.perf_counter()
                answer = http.post("/api/v1/flexoffer", content=body)
                latencies.append(time.perf_counter() - t0)
                if answer.status_code != 201:
                    failures.append(f"{answer.status_code}: {answer.text[:200]}")

    client = httpx_client if use_httpx else raw_client
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    offers = len(bodies) * offers_per_body
    return {"requests": len(bodies), "offers": offers, "seconds": round(elapsed, 3),
            "offers_per_s": round(offers / elapsed, 1), "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the server and its worker processes.

    Throughput on a shared machine depends on what else runs; CPU per offer does not,
    so the result reports both.
    """
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def wait_until_idle(pid: int, limit: float = 120.0) -> None:
    """Wait until the server's processes stop burning CPU: ``--workers 2`` answers the
    health check as soon as one worker is up, while the other is still importing."""
    deadline = time.monotonic() + limit
    last = server_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server_cpu_seconds(pid)
        if now - last < 0.05:
            return
        last = now


def client_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def issue_bench_key(database_url: str) -> str:
    return create_key_in_store(Settings(database_url=database_url), "bench", ["read", "write"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--single", type=int, help="single-offer POSTs (default 4000, quick 400)")
    parser.add_argument("--envelopes", type=int, help="1,000-offer envelopes (default 20, quick 4)")
    parser.add_argument("--envelope-size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2,
                        help="server worker processes (SO_REUSEPORT; 2 measured ~45 % faster than 1 on 2 cores)")
    parser.add_argument("--httpx", action="store_true", help="use httpx clients instead of the raw HTTP/1.1 ones")
    parser.add_argument("--fast-ingest", choices=("on", "off"), default="on",
                        help="the lean envelope ingest path (Settings.fast_ingest); 'off' measures the full path")
    args = parser.parse_args()
    singles = args.single if args.single is not None else (400 if args.quick else 4000)
    envelopes = args.envelopes if args.envelopes is not None else (4 if args.quick else 20)

    # Compile the numba kernels here first (written to numba's disk cache), so the server
    # processes only load them: a fresh install would otherwise compile them in each worker
    # while the first requests are being timed.
    compile_all()
    with tempfile.TemporaryDirectory(prefix="flexhub-bench-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        key = issue_bench_key(database_url)
        env = {"FLEXHUB_MAX_BODY_BYTES": str(64 * 1024 * 1024),
               "FLEXHUB_FAST_INGEST": "true" if args.fast_ingest == "on" else "false"}
        process, base = spawn_server(database_url, workers=args.workers, env=env, log_path=Path(tmp) / "serve.log")
        try:
            single_bodies = [orjson.dumps(make_offer(i)) for i in range(singles)]
            envelope_bodies = [
                orjson.dumps({"flexOffer": [make_offer(e * args.envelope_size + i) for i in range(args.envelope_size)]})
                for e in range(envelopes)
            ]
            wait_until_idle(process.pid)
            load_before = os.getloadavg()
            with RssSampler(process.pid) as rss:
                cpu0, own0 = server_cpu_seconds(process.pid), client_cpu_seconds()
                psutil.cpu_percent(percpu=True)
                single = post_all(base, key, single_bodies, 1, args.clients, args.httpx)
                single["cpu_busy_percent_per_cpu"] = psutil.cpu_percent(percpu=True)
                cpu1, own1 = server_cpu_seconds(process.pid), client_cpu_seconds()
                envelope = post_all(base, key, envelope_bodies, args.envelope_size, args.clients, args.httpx)
                envelope["cpu_busy_percent_per_cpu"] = psutil.cpu_percent(percpu=True)
                cpu2, own2 = server_cpu_seconds(process.pid), client_cpu_seconds()
            # The clients share the machine with the server: their CPU is reported so the
            # throughput can be read against what was left for the server.
            single["client_cpu_ms_per_request"] = round((own1 - own0) * 1000 / max(single["requests"], 1), 3)
            envelope["client_cpu_ms_per_request"] = round((own2 - own1) * 1000 / max(envelope["requests"], 1), 3)
            single["server_cpu_ms_per_offer"] = round((cpu1 - cpu0) * 1000 / max(single["offers"], 1), 3)
            envelope["server_cpu_ms_per_offer"] = round((cpu2 - cpu1) * 1000 / max(envelope["offers"], 1), 3)
            stored = httpx.get(f"{base}/api/v1/health", timeout=10).status_code
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except Exception:
                process.kill()
    result = {
        "benchmark": "rest_ingest",
        "quick": args.quick,
        "slices_per_offer": SLICES,
        "clients": args.clients,
        "client_library": "httpx" if args.httpx else "raw-http1.1",
        "server_workers": args.workers,
        "store": "sqlite-wal",
        "fast_ingest": args.fast_ingest == "on",
        "single": {**single, "target_offers_per_s": TARGET_SINGLE,
                   "meets_target": single["offers_per_s"] >= TARGET_SINGLE},
        "envelope": {**envelope, "envelope_size": args.envelope_size,
                     "bytes_per_request": len(envelope_bodies[0]) if envelope_bodies else 0,
                     "target_offers_per_s": TARGET_ENVELOPE,
                     "meets_target": envelope["offers_per_s"] >= TARGET_ENVELOPE},
        "server_peak_rss_mb": round(rss.peak / 2**20, 1),
        "server_healthy_after": stored == 200,
        "cpu_count": os.cpu_count(),
        # The machine is shared: the load before the run says what else was competing,
        # and each phase's per-CPU busy share (every process, not only ours) what was left.
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
