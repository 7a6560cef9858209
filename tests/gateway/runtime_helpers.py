"""Run a ``gateway.services.*_runtime.start`` inside an app's lifespan, as ``_lifespan`` does.

The runtimes are idempotent per app, so this stays correct once ``_lifespan`` starts
them itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

Start = Callable[[Any], Awaitable[Callable[[], Awaitable[None]]]]


def add_runtime(app: FastAPI, start: Start) -> None:
    """Wrap the app's lifespan: the runtime starts after the store is open and stops before it closes."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with inner(app_):
            stop = await start(app_)
            try:
                yield
            finally:
                await stop()

    app.router.lifespan_context = lifespan
