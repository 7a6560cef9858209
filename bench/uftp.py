"""Benchmark: sealed FlexRequest -> FlexRequestResponse round trips over loopback.

The hub (AGR role, SQLite store, every message persisted before its 200, replies
from the persisted outbox) and, as the baseline in the same run, shapeshifter-uftp's
own AGR service logic (hosted on Starlette by ``conformance.uftp.reference_peer``,
because its fastapi-xml binding does not run on our FastAPI) each run in a child
process. The load generator in this process POSTs pre-sealed FlexRequests with
``--concurrency`` in flight and times each one until its sealed FlexRequestResponse
arrives, verified, at the DSO endpoint it runs itself. The generator is kept cheap
(hand-written HTTP/1.1 client, bare ASGI endpoint) and reports its own CPU per message,
so the figures measure the servers, not it.

Prints ONE final JSON line. Smoke-test with ``--quick``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HUB, DSO = "hub.example.com", "dso.example.com"
ISPS = 8
_REFERENCE = re.compile(rb'(?:ReferenceMessageID|FlexRequestMessageID)="([0-9a-fA-F-]{36})"')


def _report_cpu(channel: tuple[Any, Any]) -> None:
    """Answer each 'cpu' command with this process's CPU seconds so far; return on 'stop'."""
    commands, replies = channel
    while commands.get() != "stop":
        replies.put(time.process_time())


def _serve_hub(keys: dict[str, str], dso_endpoint: str, db_dir: str, channel: tuple[Any, Any]) -> None:
    from adapters.usef.keys import load_private_key
    from conformance.uftp.receiver import ThreadedServer
    from gateway.app import create_app
    from gateway.config import Settings
    from gateway.services import uftp
    from gateway.services.uftp_config import UftpSettings

    app = create_app(Settings(database_url=f"sqlite:///{db_dir}/hub.db", bootstrap_admin_key=False))
    app.state.uftp_settings = UftpSettings(domain=HUB, private_key=keys["hub"], auto_offer=False)
    server = ThreadedServer(app).start()
    with app.state.sessionmaker() as session:
        uftp.upsert_participant(session, domain=DSO, role="DSO", public_key=load_private_key(keys["dso"]).public_key,
                                endpoint=dso_endpoint)
        session.commit()
    channel[1].put(server.base_url() + "/api/v1/uftp")
    _report_cpu(channel)
    server.stop()


def _serve_reference(keys: dict[str, str], dso_endpoint: str, db_dir: str, channel: tuple[Any, Any]) -> None:
    from shapeshifter_uftp.logging import logger
    from shapeshifter_uftp.service.agr_service import ShapeshifterAgrService
    from shapeshifter_uftp.uftp import FlexRequestResponse, UsefRole

    from adapters.usef.keys import load_private_key
    from conformance.uftp.reference_peer import ReferencePeer, build_service

    logger.setLevel("WARNING")  # its default DEBUG output would slow the baseline down

    class Agr(ShapeshifterAgrService):
        def process_flex_request(self, message: Any) -> None:
            response = FlexRequestResponse(flex_request_message_id=message.message_id,
                                           conversation_id=message.conversation_id)
            self._get_client(message.sender_domain, UsefRole.DSO).send_flex_request_response(response)

    for name in ShapeshifterAgrService.__abstractmethods__ - {"process_flex_request"}:
        setattr(Agr, name, lambda self, message: None)
    Agr.__abstractmethods__ = frozenset()
    dso_public = load_private_key(keys["dso"]).public_key
    service = build_service(Agr, sender_domain=HUB, signing_key=keys["hub"], key_lookup=lambda d, r: dso_public,
                            endpoint_lookup=lambda d, r: dso_endpoint)
    peer = ReferencePeer(service).start()
    channel[1].put(peer.url)
    _report_cpu(channel)
    peer.stop()


class _Connection:
    """One persistent HTTP/1.1 connection speaking just enough to POST and read the status.

    The load generator must stay cheaper than either server under test, so it does not
    use a general HTTP client (httpx cost ~1 ms of the generator's CPU per request).
    Both implementations are driven by this same code.
    """

    def __init__(self, url: str) -> None:
        parsed = urlsplit(url)
        self.host, self.port, self.path = parsed.hostname or "127.0.0.1", parsed.port or 80, parsed.path
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/xml; charset=utf-8\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (self.path.encode(), self.host.encode(), self.port,
                                                           len(body), body))
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(b":", 1) for line in lines[1:] if b":" in line)
        length = int(next((v for k, v in headers.items() if k.lower() == b"content-length"), b"0"))
        payload = await reader.readexactly(length) if length else b""
        if any(k.lower() == b"connection" and v.strip().lower() == b"close" for k, v in headers.items()):
            writer.close()
            self.streams = None
        return status, payload

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def _load(url: str, bodies: list[tuple[str, bytes]], concurrency: int,
                arrivals: dict[str, asyncio.Future[float]], failures: list[str]) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)

    async def worker() -> None:
        connection = _Connection(url)
        try:
            while not queue.empty():
                message_id, body = queue.get_nowait()
                started = time.perf_counter()
                status, text = await connection.post(body)
                if status != 200:  # counted, not fatal: reported as "errors"
                    failures.append(f"HTTP {status}: {text[:200]!r}")
                    continue
                try:
                    arrived = await asyncio.wait_for(arrivals[message_id], timeout=60)
                except TimeoutError:
                    failures.append("no response within 60 s")
                    continue
                latencies.append(arrived - started)
        finally:
            connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - began


async def _run_against(target: Any, keys: dict[str, str], count: int, concurrency: int, warmup: int) -> dict[str, Any]:
    import base64

    import uvicorn
    from nacl.bindings import crypto_sign_open

    from adapters.usef import build, codec
    from adapters.usef.keys import load_private_key

    hub_public = base64.b64decode(load_private_key(keys["hub"]).public_key)
    arrivals: dict[str, asyncio.Future[float]] = {}
    loop = asyncio.get_running_loop()

    async def receive(scope: dict[str, Any], read: Any, send: Any) -> None:
        """The DSO endpoint, as a bare ASGI app: the generator's own cost stays small."""
        arrived = time.perf_counter()
        chunks, more = [], True
        while more:
            event = await read()
            chunks.append(event.get("body", b""))
            more = event.get("more_body", False)
        envelope = codec.read_envelope(b"".join(chunks))
        inner = crypto_sign_open(envelope.body, hub_public)  # verify the seal
        match = _REFERENCE.search(inner)
        if match and (future := arrivals.get(match.group(1).decode())) and not future.done():
            future.set_result(arrived)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(receive, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                            lifespan="off")
    receiver = uvicorn.Server(config)
    serving = asyncio.create_task(receiver.serve())
    while not receiver.started:
        await asyncio.sleep(0.01)
    port = receiver.servers[0].sockets[0].getsockname()[1]
    ctx = mp.get_context("spawn")
    channel = (ctx.Queue(), ctx.Queue())  # commands to the child, replies from it
    with tempfile.TemporaryDirectory() as db_dir:
        child = ctx.Process(target=target, args=(keys, f"http://127.0.0.1:{port}/uftp", db_dir, channel),
                            daemon=True)
        child.start()
        url = await loop.run_in_executor(None, channel[1].get, True, 120)
        day = build.tomorrow()
        bodies: list[tuple[str, bytes]] = []
        for _ in range(warmup + count):
            request = build.flex_request(day, requested={n: (-100_000, -50_000) for n in range(33, 33 + ISPS)})
            request.isps = [i for i in request.isps if i.start in range(33, 33 + ISPS)]
            codec.stamp(request, DSO, HUB)
            bodies.append((str(request.message_id), codec.signed_message_xml(request, "DSO", keys["dso"])))
        for message_id, _ in bodies:
            arrivals[message_id] = loop.create_future()
        failures: list[str] = []
        await _load(url, bodies[:warmup], concurrency, arrivals, failures)
        failures.clear()
        cpu_before = await _child_cpu(channel, loop)
        own_before = time.process_time()
        latencies, elapsed = await _load(url, bodies[warmup:], concurrency, arrivals, failures)
        own_used = time.process_time() - own_before
        await asyncio.sleep(0.5)  # let the last deliveries finish their bookkeeping
        cpu_used = await _child_cpu(channel, loop) - cpu_before
        channel[0].put("stop")
        await loop.run_in_executor(None, child.join, 30)
    receiver.should_exit = True
    await serving
    latencies.sort()
    return {
        "messages": count,
        "errors": len(failures),
        "first_error": failures[0] if failures else None,
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "server_cpu_ms_per_message": round(cpu_used / count * 1000, 3),
        "load_generator_cpu_ms_per_message": round(own_used / count * 1000, 3),
    }


async def _child_cpu(channel: tuple[Any, Any], loop: asyncio.AbstractEventLoop) -> float:
    channel[0].put("cpu")
    return float(await loop.run_in_executor(None, channel[1].get, True, 30))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000, help="round trips measured per implementation")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--quick", action="store_true", help="smoke test: 150 messages")
    args = parser.parse_args(argv)
    count = 150 if args.quick else args.messages
    warmup = max(20, count // 10)

    from adapters.usef import keys as ukeys

    keys = {"hub": ukeys.generate().private_key, "dso": ukeys.generate().private_key}
    hub = asyncio.run(_run_against(_serve_hub, keys, count, args.concurrency, warmup))
    reference = asyncio.run(_run_against(_serve_reference, keys, count, args.concurrency, warmup))
    print(json.dumps({
        "benchmark": "uftp_flexrequest_round_trip",
        "isps_per_request": ISPS,
        "concurrency": args.concurrency,
        "hub": hub,
        "shapeshifter_uftp_service": reference,
        "ratio": round(hub["per_second"] / reference["per_second"], 2),
        "cpu_ratio": round(reference["server_cpu_ms_per_message"] / hub["server_cpu_ms_per_message"], 2),
        "targets": {"ratio": 1.5, "per_second": 500},
    }))


if __name__ == "__main__":
    main()
