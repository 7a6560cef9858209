"""The in-process event bus: per-party delivery, thread-safe publish, bounded queues."""

from __future__ import annotations

import asyncio
import threading

from gateway.bus import Event, InProcessBus


async def test_events_reach_only_the_owning_partys_subscribers() -> None:
    bus = InProcessBus()
    async with bus.subscribe("alice") as alice, bus.subscribe("bob") as bob:
        bus.publish(Event("alice", "state", "o1", {"state": "accepted"}))
        got = await alice.get(timeout=1)
        assert got is not None and got.offer_id == "o1" and got.sequence == 1
        try:
            await bob.get(timeout=0.05)
            raise AssertionError("bob received alice's event")
        except TimeoutError:
            pass
    assert bus.subscriber_count("alice") == 0


async def test_publish_from_another_thread_is_delivered() -> None:
    bus = InProcessBus()
    async with bus.subscribe("alice") as inbox:
        thread = threading.Thread(target=bus.publish, args=(Event("alice", "schedule", "o2"),))
        thread.start()
        got = await inbox.get(timeout=2)
        thread.join()
    assert got is not None and got.kind == "schedule"


async def test_slow_subscriber_is_ended_not_grown_without_bound() -> None:
    bus = InProcessBus(queue_size=3)
    async with bus.subscribe("alice") as inbox:
        for i in range(5):
            bus.publish(Event("alice", "state", f"o{i}"))
        await asyncio.sleep(0)
        assert await inbox.get(timeout=1) is None
        assert await inbox.get(timeout=1) is None


async def test_close_ends_every_subscription() -> None:
    bus = InProcessBus()
    async with bus.subscribe("alice") as inbox:
        await bus.close()
        assert [e async for e in inbox] == []
