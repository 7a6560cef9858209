"""Benchmark the hub's OpenADR 2.0b VTN against openleadr's OpenADRServer (issue 5).

N registered VENs (simulated) poll over loopback with C requests in flight. Each
VTN runs in its own process (one uvicorn worker for the hub, one aiohttp loop
for openleadr), the load generator in this one. Reported per VTN: sustained
oadrPoll/s and p50/p99 latency; then the hub/openleadr throughput ratio.

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
    import uvicorn
    from sqlalchemy import insert

    from gateway.app import create_app
    from gateway.config import Settings
    from gateway.db.openadr import OadrVen
    from gateway.services.openadr_testing import ensure_openadr_routes
    from gateway.services.store import open_store

    settings = Settings.model_validate({"database_url": f"sqlite:///{db_path}", "bootstrap_admin_key": False,
                                        "log_level": "warning"})
    engine, _ = open_store(settings, migrate=True)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(OadrVen), [
            {"ven_id": v, "registration_id": f"reg-{v}", "ven_name": v, "profile_name": "2.0b",
             "transport_name": "simpleHttp", "http_pull_model": True, "xml_signature": False, "report_only": False,
             "groups": [], "created_at": now, "updated_at": now} for v in ven_ids(count)])
    engine.dispose()
    app = create_app(settings)
    ensure_openadr_routes(app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


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


async def load(url: str, bodies: list[bytes], concurrency: int, seconds: float, warmup: float) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    counter = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"content-type": "application/xml"}
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def worker(offset: int) -> None:
            nonlocal errors, counter
            index = offset
            while True:
                now = time.perf_counter()
                if now >= stop:
                    return
                body = bodies[index % len(bodies)]
                index += concurrency
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        content = await response.read()
                        ok = response.status == 200 and b">200<" in content
                except aiohttp.ClientError:
                    ok = False
                done = time.perf_counter()
                if sent >= measure_from and done <= stop:
                    latencies.append(done - sent)
                    counter += 1
                    if not ok:
                        errors += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else 0.0

    return {"polls_per_s": round(counter / seconds, 1), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "requests": counter, "errors": errors}


def run_against(role: str, count: int, concurrency: int, seconds: float, warmup: float) -> dict[str, float]:
    from adapters.openadr.messages import encode

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, __file__, f"--serve-{role}", str(port), "--vens", str(count)]
        if role == "hub":
            args += ["--db", str(Path(tmp) / "bench.db")]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(args, env=env, cwd=ROOT)
        try:
            url = f"http://127.0.0.1:{port}{PREFIX}/OadrPoll"
            asyncio.run(_wait_up(url))
            template = encode("oadrPoll", ven_id="VENIDXXXX")
            bodies = [template.replace("VENIDXXXX", v).encode() for v in ven_ids(count)]
            return asyncio.run(load(url, bodies, concurrency, seconds, warmup))
        finally:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vens", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="200 VENs, 3 s per VTN")
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
        args.vens, args.seconds, args.warmup, args.concurrency = 200, 3.0, 1.0, 16
    hub = run_against("hub", args.vens, args.concurrency, args.seconds, args.warmup)
    baseline = run_against("openleadr", args.vens, args.concurrency, args.seconds, args.warmup)
    ratio = round(hub["polls_per_s"] / baseline["polls_per_s"], 2) if baseline["polls_per_s"] else None
    print(json.dumps({
        "benchmark": "openadr_vtn_poll", "vens": args.vens, "concurrency": args.concurrency,
        "seconds": args.seconds, "hub": hub, "openleadr": baseline, "throughput_ratio": ratio,
        "targets": {"polls_per_s": 1000, "p99_ms": 100, "ratio": 1.5},
    }))


if __name__ == "__main__":
    main()
