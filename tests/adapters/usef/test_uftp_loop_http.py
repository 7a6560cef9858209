"""The event-loop first-attempt sender against real loopback HTTP servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gateway.services.uftp_http import LoopSender, can_send
from gateway.services.uftp_outbox import TransportError

Reply = Callable[[bytes], bytes]


async def _serve(reply: Reply, close_after_reply: bool = False) -> tuple[asyncio.Server, str, list[bytes]]:
    """A tiny HTTP server: reads one request (Content-Length body) at a time and writes ``reply(body)``."""
    bodies: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                body = await reader.readexactly(length)
                bodies.append(body)
                writer.write(reply(body))
                await writer.drain()
                if close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/uftp", bodies


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def test_posts_and_reuses_the_connection() -> None:
    async def scenario() -> None:
        server, url, bodies = await _serve(lambda body: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        sender = LoopSender()
        for n in range(3):
            assert await sender.post(url, b"<m n='%d'/>" % n, 5) == (200, "")
        assert bodies == [b"<m n='0'/>", b"<m n='1'/>", b"<m n='2'/>"]
        assert sum(len(idle) for idle in sender._idle.values()) == 1  # one kept-alive connection did it all
        sender.close()
        server.close()
    _run(scenario)


def test_reads_chunked_and_read_to_close_replies() -> None:
    async def scenario() -> None:
        chunked, url_chunked, _ = await _serve(lambda body: (
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nInval\r\n2;x=y\r\nid\r\n0\r\n\r\n"))
        closing, url_close, _ = await _serve(
            lambda body: b"HTTP/1.0 503 Busy\r\n\r\ntry later", close_after_reply=True)
        sender = LoopSender()
        assert await sender.post(url_chunked, b"x", 5) == (400, "Invalid")
        assert await sender.post(url_close, b"x", 5) == (503, "try later")
        assert await sender.post(url_close, b"y", 5) == (503, "try later")  # a fresh connection each time
        sender.close()
        chunked.close()
        closing.close()
    _run(scenario)


def test_a_peer_that_dropped_a_kept_alive_connection_gets_a_fresh_one() -> None:
    async def scenario() -> None:
        server, url, bodies = await _serve(lambda body: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                           close_after_reply=True)  # closes without saying so
        sender = LoopSender()
        assert await sender.post(url, b"a", 5) == (200, "ok")
        await asyncio.sleep(0.05)
        assert await sender.post(url, b"b", 5) == (200, "ok")
        assert bodies == [b"a", b"b"]
        sender.close()
        server.close()
    _run(scenario)


def test_unreachable_silent_and_https_peers_are_transport_errors() -> None:
    async def scenario() -> None:
        sender = LoopSender()
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        with pytest.raises(TransportError):
            await sender.post(f"http://127.0.0.1:{port}/uftp", b"x", 5)  # nobody listens any more

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)
        quiet = await asyncio.start_server(silent, "127.0.0.1", 0)
        with pytest.raises(TransportError, match="within"):
            await sender.post(f"http://127.0.0.1:{quiet.sockets[0].getsockname()[1]}/uftp", b"x", 0.2)
        quiet.close()
        with pytest.raises(TransportError):
            await sender.post("https://127.0.0.1:1/uftp", b"x", 1)
        assert not can_send("https://dso.example.com/uftp") and can_send("http://127.0.0.1:8/uftp")
        sender.close()
    _run(scenario)
