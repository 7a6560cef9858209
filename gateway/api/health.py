"""``GET /health``: is the hub up and can it reach its store."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and store reachability")
def health(request: Request) -> JSONResponse:
    # pid: which worker process answered (a multi-process hub spreads connections across them).
    body: dict[str, Any] = {"status": "ok", "version": request.app.version, "pid": os.getpid()}
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        body["database"] = "ok"
        status = 200
    except Exception as exc:  # the point of a health check is to report, not to raise
        body.update(status="degraded", database=f"error: {type(exc).__name__}")
        status = 503
    return JSONResponse(body, status_code=status)
