"""The internal event bus: state and schedule changes, fanned out to stream subscribers.

Routes talk to the ``EventBus`` protocol only. ``InProcessBus`` serves one process
(the default single-worker hub); a broker-backed bus (NATS, MQTT, Postgres
LISTEN/NOTIFY) can replace it for replicas without touching the routes. With
``workers > 1`` and the in-process bus, a subscriber sees only the events of the
worker it is connected to - docs/rest-api.md says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """One change of one offer, addressed to the party that owns it."""

    party: str
    kind: str  # "state" | "schedule" | "created" | "updated" | "deleted"
    offer_id: str
    data: dict[str, Any] = field(default_factory=dict)
    sequence: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"event": self.kind, "offerId": self.offer_id, "sequence": self.sequence, **self.data}


class Subscription:
    """One subscriber's inbox. ``get`` returns None once the stream has ended."""

    def __init__(self, queue: asyncio.Queue[Event | None]) -> None:
        self._queue = queue
        self._ended = False

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event; raises TimeoutError after ``timeout`` seconds without one."""
        if self._ended:
            return None
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            self._ended = True
        return item

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (item := await self.get()) is not None:
            yield item


class EventBus(Protocol):
    def publish(self, event: Event) -> None:
        """Hand over an event; safe to call from any thread, never blocks."""

    def publish_many(self, events: list[Event]) -> None:
        """Hand over several events at once (one wake-up of the loop, not one per event)."""

    def subscribe(self, party: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Receive the party's events from now on, until the context exits."""

    async def close(self) -> None: ...


class InProcessBus:
    """Bounded per-subscriber queues on the server's event loop.

    A subscriber too slow to drain ``queue_size`` events is sent ``None`` (end of
    stream) rather than letting its queue grow without limit.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, queue_size: int = 1000) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = {}
        self._sequence = 0
        self._closed = False

    def publish(self, event: Event) -> None:
        self.publish_many([event])

    def publish_many(self, events: list[Event]) -> None:
        # Events for parties nobody listens to are dropped here, in the caller's thread:
        # waking the event loop costs more than the ingest of a small offer.
        wanted = [e for e in events if e.party in self._subscribers]
        if self._closed or not wanted:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._deliver(wanted)
        else:
            self._loop.call_soon_threadsafe(self._deliver, wanted)

    def _deliver(self, events: list[Event]) -> None:
        for event in events:
            self._sequence += 1
            stamped = Event(event.party, event.kind, event.offer_id, event.data, self._sequence)
            for queue in list(self._subscribers.get(event.party, ())):
                if queue.qsize() >= self._queue_size:
                    self._drop(event.party, queue)
                else:
                    queue.put_nowait(stamped)

    def _drop(self, party: str, queue: asyncio.Queue[Event | None]) -> None:
        self._subscribers.get(party, set()).discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    @contextlib.asynccontextmanager
    async def subscribe(self, party: str) -> AsyncIterator[Subscription]:
        # One slot more than queue_size so the end-of-stream marker always fits.
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=self._queue_size + 1)
        self._subscribers.setdefault(party, set()).add(queue)
        try:
            yield Subscription(queue)
        finally:
            subscribers = self._subscribers.get(party)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    self._subscribers.pop(party, None)

    def subscriber_count(self, party: str) -> int:
        return len(self._subscribers.get(party, ()))

    async def close(self) -> None:
        self._closed = True
        for queues in self._subscribers.values():
            for queue in queues:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
        self._subscribers.clear()
