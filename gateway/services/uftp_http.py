"""The first delivery attempt of a *Response, from the event loop, over plain HTTP/1.1.

Handing each answer to a worker thread and urllib3 cost about a third of the hub's
CPU per inbound message. For ``http://`` endpoints this client writes the POST on a
kept-alive asyncio connection and reads the status back. It is deliberately small: a
status line, headers, and a Content-Length, chunked or read-to-close body. Whatever it
cannot do (``https://``, an error, a timeout) is a failed attempt like any other, so
the outbox's retry loop (urllib3, backoff) takes over; nothing is lost either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from gateway.services.uftp_outbox import TransportError

_Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
MAX_IDLE_PER_PEER = 32


def can_send(url: str) -> bool:
    return url.startswith("http://")


class LoopSender:
    """Kept-alive connections per peer, used only from the event loop that created them."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle: dict[tuple[str, int], list[_Streams]] = {}

    def usable(self) -> bool:
        """False once its loop is gone (test clients run one loop per request)."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    async def post(self, url: str, body: bytes, timeout: float) -> tuple[int, str]:
        """POST ``body``; returns (status, start of the reply). Raises TransportError on any failure."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise TransportError(f"not a plain HTTP endpoint: {url}")
        peer = (parts.hostname, parts.port or 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                   f"Content-Type: text/xml; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n").encode("ascii")
        idle = self._idle.get(peer, [])
        while idle:  # a kept-alive connection the peer closed meanwhile fails here, before any reply
            streams = idle.pop()
            try:
                return await asyncio.wait_for(self._exchange(peer, streams, request + body), timeout)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                _close(streams)
            except TimeoutError as exc:
                _close(streams)
                raise TransportError(f"no answer from {url} within {timeout} s") from exc
        try:
            async with asyncio.timeout(timeout):
                streams = await asyncio.open_connection(*peer)
                return await self._exchange(peer, streams, request + body)
        except TimeoutError as exc:
            raise TransportError(f"no answer from {url} within {timeout} s") from exc
        except (OSError, asyncio.IncompleteReadError, ValueError, asyncio.LimitOverrunError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def _exchange(self, peer: tuple[str, int], streams: _Streams, data: bytes) -> tuple[int, str]:
        reader, writer = streams
        try:
            writer.write(data)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            version, status_text = lines[0].split(" ", 2)[:2]
            status = int(status_text)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            if "chunked" in headers.get("transfer-encoding", "").lower():
                reply = await _read_chunked(reader)
            elif "content-length" in headers:
                reply = await reader.readexactly(int(headers["content-length"]))
            elif status in (204, 304) or 100 <= status < 200:
                reply = b""
            else:
                reply, keep = await reader.read(), False
        except BaseException:
            _close(streams)
            raise
        if keep and len(self._idle.setdefault(peer, [])) < MAX_IDLE_PER_PEER:
            self._idle[peer].append(streams)
        else:
            _close(streams)
        return status, reply[:300].decode("utf-8", errors="replace")

    def close(self) -> None:
        for streams in (s for idle in self._idle.values() for s in idle):
            _close(streams)
        self._idle.clear()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _close(streams: _Streams) -> None:
    with contextlib.suppress(Exception):
        streams[1].close()
