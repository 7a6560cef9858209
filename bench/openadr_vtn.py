"""Benchmark the hub's OpenADR 2.0b VTN against openleadr's OpenADRServer (issue 5).

N registered VENs (simulated) poll over loopback with C requests in flight. Each
VTN runs in its own process (the hub's dedicated aiohttp listener, which is what
`flexhub openadr serve-vtn` runs, and openleadr's aiohttp server), the load
generator in this one. Both VTNs are up at once and measured in alternating
rounds by the same generator, so a busy machine hurts both alike.

The generator is a bare asyncio protocol on uvloop (about 10 us of CPU per poll),
so it is not the bottleneck: it reports its own CPU time per poll and its share
of one core next to the server's, both sampled over the measurement window only.
Reported per VTN: sustained oadrPoll/s, p50/p99 latency, server and generator CPU
per poll; then the hub/openleadr throughput and CPU-efficiency ratios, and the
load average before and after (the box is shared).

Prints one final JSON line. ``--quick`` runs a small size for smoke tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/OpenADR2/Simple/2.0b"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ven_ids(count: int) -> list[str]:
    return [f"bench-ven-{i:05d}" for i in range(count)]


# --- server roles (run in child processes) --------------------------------------------------


def serve_hub(db_path: str, port: int, count: int) -> None:
    """The hub's VTN on its dedicated OpenADR listener (what `flexhub openadr serve-vtn` runs)."""
    from sqlalchemy import insert

    from gateway.config import Settings
    from gateway.db.openadr import OadrVen
    from gateway.services import openadr_listener
    from gateway.services.openadr_vtn import OpenADRSettings, VtnService
    from gateway.services.store import open_store

    settings = Settings.model_validate({"database_url": f"sqlite:///{db_path}", "bootstrap_admin_key": False})
    engine, factory = open_store(settings, migrate=True)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(OadrVen), [
            {"ven_id": v, "registration_id": f"reg-{v}", "ven_name": v, "profile_name": "2.0b",
             "transport_name": "simpleHttp", "http_pull_model": True, "xml_signature": False, "report_only": False,
             "groups": [], "created_at": now, "updated_at": now} for v in ven_ids(count)])

    openadr_listener.serve_forever(VtnService(factory, OpenADRSettings()), "127.0.0.1", port)


def serve_openleadr(port: int, count: int) -> None:
    from openleadr import OpenADRServer

    registered = {v: {"ven_id": v, "registration_id": f"reg-{v}", "ven_name": v} for v in ven_ids(count)}

    def lookup(ven_id: str) -> dict[str, str] | None:
        return registered.get(ven_id)

    async def main() -> None:
        server = OpenADRServer(vtn_id="OL-VTN", http_host="127.0.0.1", http_port=port, show_fingerprint=False,
                               ven_lookup=lookup)
        await server.run()
        await asyncio.Event().wait()

    import logging

    logging.getLogger("openleadr").setLevel(logging.ERROR)
    asyncio.run(main())


# --- load generator ---------------------------------------------------------------------------


async def _wait_up(url: str, timeout: float = 120.0) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.post(url, data=b"<x/>", headers={"content-type": "application/xml"}) as r:
                    await r.read()
                    return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


class _PollConnection(asyncio.Protocol):
    """One keep-alive connection with one request in flight: the response is parsed in place.

    A bare protocol (no streams, no HTTP library) so the generator costs a few
    microseconds per poll and never throttles the VTN it measures.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[bool, bool]] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = 0
        if at >= 0:
            line_end = head.find(b"\r\n", at)
            length = int(head[at + 15:line_end if line_end >= 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        content = bytes(self.buffer[end + 4:end + 4 + length])
        del self.buffer[:end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((head.startswith(b"http/1.1 200"), b">200<" in content))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("VTN closed the connection"))
        if not self.lost.done():
            self.lost.set_result(None)

    def request(self, data: bytes) -> asyncio.Future[tuple[bool, bool]]:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        return self.waiter


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


async def load(url: str, bodies: list[bytes], concurrency: int, seconds: float, warmup: float,
               server: psutil.Process | None = None) -> dict[str, float]:
    """C keep-alive connections, one request in flight each; the same generator for every VTN.

    Also reports its own CPU time per poll and its CPU share of one core, so a
    reader can check that the generator was not the bottleneck.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    heads = [(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/xml\r\n"
              f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies]
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds
    cpu_at_measure: list[float] = []

    async def worker(offset: int) -> None:
        nonlocal errors
        _, conn = await loop.create_connection(_PollConnection, host, port)
        index = offset
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop:
                    return
                if sent >= measure_from and not cpu_at_measure:  # both clocks start with the window
                    cpu_at_measure.extend((time.process_time(), _cpu(server)))
                ok_http, ok_code = await conn.request(heads[index % len(heads)])
                index += concurrency
                done = time.perf_counter()
                if sent >= measure_from and done <= stop:
                    latencies.append(done - sent)
                    if not (ok_http and ok_code):
                        errors += 1
        finally:
            if conn.transport is not None:
                conn.transport.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    generator_cpu = time.process_time() - (cpu_at_measure[0] if cpu_at_measure else 0.0)
    server_cpu = _cpu(server) - (cpu_at_measure[1] if cpu_at_measure else 0.0)
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else 0.0

    return {"polls_per_s": round(len(latencies) / seconds, 1), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "requests": len(latencies), "errors": errors, "generator_cpu_seconds": generator_cpu,
            "cpu_seconds": server_cpu}


def _run_load(url: str, bodies: list[bytes], concurrency: int, seconds: float, warmup: float,
              server: psutil.Process) -> dict[str, float]:
    """One measurement on a fresh event loop (uvloop when installed), identical for every VTN."""
    measurement = load(url, bodies, concurrency, seconds, warmup, server)
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(measurement)
    return uvloop.run(measurement)


def _start(role: str, count: int, tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    args = [sys.executable, __file__, f"--serve-{role}", str(port), "--vens", str(count)]
    if role == "hub":
        args += ["--db", str(Path(tmp) / "bench.db")]
    child = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    url = f"http://127.0.0.1:{port}{PREFIX}/OadrPoll"
    asyncio.run(_wait_up(url))
    return child, url


def _merge(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Sum counts over the rounds; latency percentiles are the median of the rounds' values."""
    def median(key: str) -> float:
        values = sorted(r[key] for r in rounds)
        return values[len(values) // 2]

    requests = sum(r["requests"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    cpu = sum(r["cpu_seconds"] for r in rounds)
    generator = sum(r["generator_cpu_seconds"] for r in rounds)
    return {"polls_per_s": round(requests / seconds, 1), "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms"),
            "requests": requests, "errors": sum(r["errors"] for r in rounds),
            "server_cpu_us_per_poll": round(cpu / requests * 1e6, 1) if requests else None,
            "server_cpu_share": round(cpu / seconds, 2),
            "generator_cpu_us_per_poll": round(generator / requests * 1e6, 1) if requests else None,
            "generator_cpu_share": round(generator / seconds, 2)}


def run(count: int, concurrency: int, seconds: float, warmup: float, rounds: int) -> dict[str, dict[str, float]]:
    """Both VTNs up at once, measured in alternating rounds so a busy machine hurts both alike."""
    from adapters.openadr.messages import encode

    template = encode("oadrPoll", ven_id="VENIDXXXX")
    bodies = [template.replace("VENIDXXXX", v).encode() for v in ven_ids(count)]
    results: dict[str, list[dict[str, float]]] = {"hub": [], "openleadr": []}
    with tempfile.TemporaryDirectory() as tmp:
        children = {role: _start(role, count, tmp) for role in results}
        try:
            for _ in range(rounds):
                for role, (child, url) in children.items():
                    result = _run_load(url, bodies, concurrency, seconds / rounds, warmup, psutil.Process(child.pid))
                    results[role].append(result | {"seconds": seconds / rounds})
        finally:
            for child, _ in children.values():
                child.terminate()
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
    return {role: _merge(rounds_) for role, rounds_ in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vens", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4, help="alternating measurement rounds per VTN")
    parser.add_argument("--quick", action="store_true", help="200 VENs, 4 s per VTN")
    parser.add_argument("--serve-hub", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-openleadr", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_hub:
        serve_hub(args.db, args.serve_hub, args.vens)
        return
    if args.serve_openleadr:
        serve_openleadr(args.serve_openleadr, args.vens)
        return
    if args.quick:
        args.vens, args.seconds, args.warmup, args.concurrency, args.rounds = 200, 4.0, 0.5, 16, 2
    load_before = os.getloadavg()
    measured = run(args.vens, args.concurrency, args.seconds, args.warmup, args.rounds)
    hub, baseline = measured["hub"], measured["openleadr"]
    ratio = round(hub["polls_per_s"] / baseline["polls_per_s"], 2) if baseline["polls_per_s"] else None
    print(json.dumps({
        "benchmark": "openadr_vtn_poll", "vens": args.vens, "concurrency": args.concurrency,
        "seconds": args.seconds, "hub": hub, "openleadr": baseline, "throughput_ratio": ratio,
        "cpu_efficiency_ratio": round(baseline["server_cpu_us_per_poll"] / hub["server_cpu_us_per_poll"], 2)
        if hub["server_cpu_us_per_poll"] and baseline["server_cpu_us_per_poll"] else None,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
        "targets": {"polls_per_s": 1000, "p99_ms": 100, "ratio": 1.5},
    }))


if __name__ == "__main__":
    main()
