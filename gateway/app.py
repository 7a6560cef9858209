"""FastAPI application factory: wires settings, storage, routers and error handling."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from gateway.api.limits import BodyLimitMiddleware
from gateway.api.problems import install_problem_handlers
from gateway.bus import InProcessBus
from gateway.config import Settings, load_settings
from gateway.security import KeyCache
from gateway.services import cim_runtime, devices_runtime
from gateway.services.market import start_gate_scheduler
from gateway.services.openadr_wiring import start as start_openadr
from gateway.services.store import announce_bootstrap_key, bootstrap_admin_key, open_store

# One module per capability, each exposing ``router`` (mounted under /api/v1).
# A module that is not there yet is skipped, so capabilities can land one at a time.
ROUTER_MODULES = (
    "gateway.api.health",
    "gateway.api.flexoffer",
    "gateway.api.fman",
    "gateway.api.markets",
    "gateway.api.cim",
    "gateway.api.uftp",
    "gateway.api.openadr",
    "gateway.api.devices",
)

log = logging.getLogger("flexhub")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store (migrating it) and the bus; everything per-app lives on ``app.state``."""
    settings: Settings = app.state.settings
    engine, factory = open_store(settings)
    app.state.engine = engine
    app.state.sessionmaker = factory
    app.state.bus = InProcessBus()
    app.state.key_cache = KeyCache(ttl=settings.api_key_cache_seconds)
    app.state.ingest_gate = asyncio.Semaphore(max(1, settings.ingest_concurrency))
    if settings.bootstrap_admin_key:
        announce_bootstrap_key(bootstrap_admin_key(factory))
    # FMAR gates close on schedule (UTC); results are also cleared lazily on read.
    gate_task = start_gate_scheduler(app)
    # Schedules become OpenADR events; push and XMPP deliveries run when configured.
    stop_openadr = await start_openadr(app)
    # Both do nothing unless configured (cim.inbox_dir, simulate_devices).
    stop_cim_inbox = await cim_runtime.start(app)
    stop_devices = await devices_runtime.start(app)
    try:
        yield
    finally:
        await stop_devices()
        await stop_cim_inbox()
        await stop_openadr()
        gate_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gate_task
        await app.state.bus.close()
        engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(
        title="flexhub",
        version="0.1.0",
        description="Integration hub for energy flexibility: the Flex-Offer Exchange Interface and friends.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        path_limits={"/api/v1/cim": settings.cim.max_body_bytes},
    )
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        app.include_router(module.router, prefix="/api/v1")
    from gateway.api.openadr import vtn_router
    from gateway.api.status_page import router as status_router

    # OpenADR fixes its own path (/OpenADR2/Simple/2.0b/<Service>), outside /api/v1.
    app.include_router(vtn_router)

    app.include_router(status_router)
    return app
