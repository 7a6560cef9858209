"""The simulators' clock: advance a model by the real time that passed each tick.

Stepping by measured elapsed time (not the nominal tick) keeps the simulated state
of charge consistent with the power even when the event loop runs late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def run_physics(step: Callable[[float], Awaitable[None]], tick_s: float) -> None:
    """Call ``step(elapsed_seconds)`` every ``tick_s`` until cancelled."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(tick_s)
        now = loop.time()
        await step(now - last)
        last = now
