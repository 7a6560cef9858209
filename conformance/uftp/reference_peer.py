"""Run shapeshifter-uftp's own DSO/AGR service logic on a loopback port.

shapeshifter-uftp 2.4's services bind their endpoint with fastapi-xml, whose route
class no longer works with FastAPI >= 0.12x (``Dependant.is_coroutine_callable`` is
gone), and the hub pins a recent FastAPI. So the service object is built without its
FastAPI app and its unchanged ``_receive_message`` (unseal, sender checks, hand-off to
the ``process_*`` methods, its own client for replies) is mounted on a plain Starlette
route. Everything after the HTTP body is the library's own code path.

Each document it receives is also checked against the official XSDs (after mapping
the library's typed response reference to ``ReferenceMessageID``) and problems are
kept in ``errors``, so interop tests see schema drift in either direction.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.exceptions import HTTPException
from shapeshifter_uftp import transport as ssu_transport
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.usef import codec
from adapters.usef.safexml import UnsafeXmlError, parse_xml
from adapters.usef.schema import SchemaSet
from conformance.uftp.receiver import ThreadedServer

PATH = "/shapeshifter/api/v3/message"


def build_service(cls: type, *, sender_domain: str, signing_key: str, key_lookup: Callable[[str, str], str],
                  endpoint_lookup: Callable[[str, str], str], **attributes: Any) -> Any:
    """An instance of a ShapeshifterService subclass with the state its __init__ would set, minus the web app."""
    service = cls.__new__(cls)
    service.version = "3.1.0"
    service.sender_domain = sender_domain
    service.signing_key = signing_key
    service.key_lookup_function = key_lookup
    service.endpoint_lookup_function = endpoint_lookup
    service.oauth_lookup_function = None
    service.inbound_executor = ThreadPoolExecutor(max_workers=cls.num_inbound_threads)
    service.outbound_executor = ThreadPoolExecutor(max_workers=cls.num_outbound_threads)
    for name, value in attributes.items():
        setattr(service, name, value)
    return service


class ReferencePeer:
    """A shapeshifter-uftp service served over HTTP on a free loopback port."""

    def __init__(self, service: Any, schemas: SchemaSet | None = None) -> None:
        self.service = service
        self.schemas = schemas
        self.errors: list[str] = []
        app = Starlette(routes=[Route(PATH, self._handle, methods=["POST"])])
        self.server = ThreadedServer(app, lifespan="off")

    @property
    def url(self) -> str:
        return self.server.base_url() + PATH

    def _check_schema(self, signed: Any) -> None:
        if self.schemas is None:
            return
        key = self.service.key_lookup_function(signed.sender_domain, signed.sender_role)
        try:
            inner = codec.unseal(signed.body, key)
            root = codec.to_official(parse_xml(inner))
        except (codec.SignatureError, UnsafeXmlError):
            return  # the library itself answers these
        problems = self.schemas.errors(root)
        if problems:
            self.errors.append("; ".join(problems))

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        try:
            parse_xml(body)  # our hardened parser first; the library's parser never sees a DOCTYPE
            signed = ssu_transport.from_xml(body)
        except Exception as exc:
            return Response(str(exc), status_code=400)
        self._check_schema(signed)
        try:
            await run_in_threadpool(self.service._receive_message, signed)
        except HTTPException as exc:
            return Response(status_code=exc.status_code)
        return Response(status_code=200)

    def start(self) -> ReferencePeer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self.service.inbound_executor.shutdown(wait=True)
        self.service.outbound_executor.shutdown(wait=True)

    def __enter__(self) -> ReferencePeer:
        return self.start()

    def __exit__(self, *args: Any) -> None:
        self.stop()
