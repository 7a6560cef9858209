"""RFC 7807 problem documents: the one error shape every REST route uses.

``install_problem_handlers`` turns everything else that can go wrong (validation
errors, unknown routes, wrong methods, oversized bodies, crashes) into the same
shape, so a client needs exactly one error parser.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("flexhub.problems")


class ProblemError(Exception):
    """Raise from any route to answer with a problem document.

    Extra keyword arguments become extension members of the document (e.g.
    ``violations=[...]``); ``headers`` are sent as HTTP headers.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(jsonable_encoder(extensions))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {}))


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def problem_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status, exc.title, exc.detail, instance=request.url.path, headers=exc.headers, **exc.extensions
    )


async def _http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    extensions: dict[str, Any] = {} if isinstance(exc.detail, str) or exc.detail is None else {"errors": exc.detail}
    return problem_response(
        exc.status_code, _title(exc.status_code), detail, instance=request.url.path,
        headers=exc.headers, **extensions,
    )


def _location(loc: Any) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | WebSocketRequestValidationError)
    errors = [
        {"loc": _location(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors) or "request validation failed"
    return problem_response(422, "Request validation failed", detail, instance=request.url.path, errors=errors)


async def _overflow_handler(request: Request, exc: Exception) -> JSONResponse:
    # Dates at the edge of the calendar overflow datetime arithmetic: the input's fault.
    return problem_response(422, "Value out of range", f"a value is out of range: {exc}", instance=request.url.path)


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "Internal Server Error", "the hub hit an unexpected error; it is logged",
                            instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, problem_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(OverflowError, _overflow_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
