"""A dedicated OpenADR 2.0b listener (aiohttp), for TLS with client certificates and for speed.

Why a second listener next to the FastAPI route: 2.0b authenticates VENs by
their TLS client certificate (venID = certificate fingerprint), which needs the
peer certificate of the connection; uvicorn does not pass it to the app, aiohttp
does. It is also much lighter per request than the REST stack, and polls are
most of the traffic. The protocol logic is the same :class:`VtnService`.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiohttp import web
from openleadr.utils import certificate_fingerprint_from_der

from gateway.services.openadr_vtn import Peer, VtnService

PREFIX = "/OpenADR2/Simple/2.0b"


def _peer(request: web.BaseRequest) -> Peer:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport else None
    if ssl_object is None:
        return Peer()
    der = ssl_object.getpeercert(binary_form=True)
    return Peer(fingerprint=certificate_fingerprint_from_der(der) if der else None)


def make_handler(vtn: VtnService) -> Any:
    """The request handler: answered on the loop for empty polls, in the threadpool otherwise."""
    limit = vtn.config.max_message_bytes

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if request.method != "POST" or not path.startswith(PREFIX + "/"):
            return web.Response(status=404, text="not an OpenADR 2.0b endpoint")
        service = path[len(PREFIX) + 1:]
        if (request.content_length or 0) > limit:  # aiohttp itself stops reading at 1 MiB
            return web.Response(status=413, text="request body too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="request body too large")
        peer = _peer(request)
        reply = vtn.fast_poll(body, peer) if service == "OadrPoll" else None
        if reply is None:
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(None, vtn.handle, service, body, peer)
        if reply.http_status != 200:
            return web.Response(status=reply.http_status, text=reply.body)
        return web.Response(body=reply.body.encode("utf-8"), content_type="application/xml")

    return handler


def server_ssl_context(cert: str, key: str, client_ca: str | None, *, require_client_cert: bool = True
                       ) -> ssl.SSLContext:
    """TLS 1.2+; with a client CA, VENs must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


async def start(vtn: VtnService, host: str, port: int, ssl_context: ssl.SSLContext | None = None
                ) -> tuple[asyncio.AbstractServer, int]:
    """Start listening on a bare aiohttp server (no app router: one path family only).

    Returns the asyncio server (``close()`` it to stop) and the bound port.
    """
    protocol_factory = web.Server(make_handler(vtn), access_log=None)
    server = await asyncio.get_running_loop().create_server(protocol_factory, host, port, ssl=ssl_context)
    return server, int(server.sockets[0].getsockname()[1])


def serve_forever(vtn: VtnService, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                  on_started: Any = None) -> None:
    """Run the listener until interrupted, on uvloop when it is installed (as uvicorn does)."""

    async def main() -> None:
        server, bound = await start(vtn, host, port, ssl_context)
        if on_started is not None:
            on_started(bound)
        async with server:
            await server.serve_forever()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        asyncio.run(main())
    else:
        uvloop.run(main())
