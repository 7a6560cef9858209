"""The CIM inbox watcher inside ``flexhub serve``, for ADMS systems that export files.

``flexhub cim inbox`` runs the same watcher on its own; inside the hub it needs no
second process. Files go through :func:`gateway.api.cim.receive_document`, exactly
like HTTP posts, so persistence-before-acknowledgement and every business rule hold
on both channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adapters.cim.inbox import Handler, InboxWatcher
from gateway.config import Settings

log = logging.getLogger("flexhub.cim")

Stop = Callable[[], Awaitable[None]]


def inbox_handler(factory: sessionmaker[Session], settings: Settings) -> Handler:
    """The watcher's handler: one session per file, committed before the ack is written out."""
    from gateway.api.cim import receive_document

    def handle(data: bytes, name: str) -> tuple[str, bytes]:
        with factory() as session:
            result = receive_document(session, settings, data, "inbox", None)
        return result.status, result.ack_xml

    return handle


def make_watcher(factory: sessionmaker[Session], settings: Settings, interval: float | None = None) -> InboxWatcher:
    """The watcher for ``cim.inbox_dir`` (acks also to ``cim.outbox_dir`` when set)."""
    if not settings.cim.inbox_dir:
        raise ValueError("cim.inbox_dir is not configured")
    outbox = Path(settings.cim.outbox_dir) if settings.cim.outbox_dir else None
    seconds = settings.cim.inbox_interval_seconds if interval is None else interval
    return InboxWatcher(Path(settings.cim.inbox_dir), inbox_handler(factory, settings), outbox, seconds)


async def _supervise(watcher: InboxWatcher, stop: asyncio.Event) -> None:
    """Keep watching after an unexpected error (a share that went away comes back), logging it."""
    while not stop.is_set():
        try:
            await watcher.run(stop)
        except Exception:
            log.exception("CIM inbox %s: scan failed; retrying", watcher.inbox)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(watcher.interval_seconds, 1.0))


async def _nothing() -> None:
    return None


async def start(app: Any) -> Stop:
    """Start watching ``cim.inbox_dir`` when configured; return the coroutine function that stops it.

    Stopping lets a scan in progress finish (its files are mid-move and already persisted),
    so no document is left half-handled.
    """
    settings: Settings = app.state.settings
    if not settings.cim.inbox_dir or getattr(app.state, "cim_inbox", None) is not None:
        return _nothing  # not configured, or already running for this app: one watcher per app
    watcher = make_watcher(app.state.sessionmaker, settings)
    app.state.cim_inbox = watcher
    stop_event = asyncio.Event()
    task = asyncio.create_task(_supervise(watcher, stop_event), name="cim-inbox")
    log.info("CIM inbox: watching %s every %.1f s", watcher.inbox, watcher.interval_seconds)

    async def stop() -> None:
        stop_event.set()
        try:
            await task
        finally:
            app.state.cim_inbox = None

    return stop
