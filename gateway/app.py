"""FastAPI application factory: wires settings, storage, routers and error handling."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from gateway.api.problems import ProblemError, problem_error_handler
from gateway.config import Settings, load_settings

# One module per capability, each exposing ``router`` (mounted under /api/v1).
# A module that is not there yet is skipped, so capabilities can land one at a time.
ROUTER_MODULES = (
    "gateway.api.flexoffer",
    "gateway.api.fman",
    "gateway.api.markets",
    "gateway.api.cim",
    "gateway.api.uftp",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(
        title="flexhub",
        version="0.1.0",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
    )
    app.state.settings = settings
    app.add_exception_handler(ProblemError, problem_error_handler)
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        app.include_router(module.router, prefix="/api/v1")
    return app
