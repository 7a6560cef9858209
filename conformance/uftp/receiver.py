"""A loopback UFTP endpoint that records what a participant under test sends back.

UFTP responses are asynchronous: the participant POSTs its *Response to the sender's
endpoint. The conformance suite (and tests, and the benchmark) therefore run this
small receiver, which checks each seal against the keys it knows and keeps the
unsealed payloads for inspection.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.usef import codec
from adapters.usef.schema import SchemaSet


class ThreadedServer:
    """Serve an ASGI app with uvicorn on a free loopback port in a background thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", lifespan: str = "on", port: int = 0) -> None:
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ThreadedServer:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *args: Any) -> None:
        self.stop()


@dataclass(frozen=True)
class Received:
    sender_role: str
    payload: codec.Payload
    received_at: float


class Receiver:
    """Collect SignedMessages on ``url``; keys maps (domain, role) -> base64 public key."""

    def __init__(self, keys: dict[tuple[str, str], str], schemas: SchemaSet | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.keys = dict(keys)
        self.schemas = schemas
        self.host = host
        self.messages: list[Received] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()
        app = Starlette(routes=[Route("/uftp", self._handle, methods=["POST"])])
        self._server = ThreadedServer(app, host, lifespan="off", port=port)

    @property
    def url(self) -> str:
        return f"{self._server.base_url()}/uftp"

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        try:
            envelope = codec.read_envelope(body, self.schemas)
            key = self.keys.get((envelope.sender_domain, envelope.sender_role))
            if key is None:
                raise codec.SignatureError(f"unknown sender {envelope.sender_domain}/{envelope.sender_role}")
            payload = codec.read_payload(codec.unseal(envelope.body, key), self.schemas)
        except codec.SignatureError as exc:
            self._error(str(exc))
            return Response(status_code=401)
        except (codec.EnvelopeError, codec.PayloadError) as exc:
            self._error(str(exc))
            return Response(str(exc), status_code=400)
        with self._cond:
            self.messages.append(Received(envelope.sender_role, payload, time.monotonic()))
            self._cond.notify_all()
        return Response(status_code=200)

    def _error(self, text: str) -> None:
        with self._cond:
            self.errors.append(text)
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget what arrived so far (a case re-using a MessageID wants only the new answer)."""
        with self._cond:
            self.messages.clear()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """The first received payload message satisfying ``predicate``; TimeoutError if none arrives."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.messages:
                    if predicate(item.payload.message):
                        return item.payload.message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching UFTP message arrived")
                self._cond.wait(left)

    def response_to(self, message_id: str, timeout: float = 10.0) -> Any:
        """The *Response whose reference names ``message_id``."""
        def matches(message: Any) -> bool:
            name = codec.message_type_name(type(message))
            field = codec.LEGACY_REFERENCE.get(name)
            if field is None:
                return False
            attribute = next(k for k, v in codec.RESPONSE_CLASSES.items() if v is type(message))
            return bool(getattr(message, codec.response_reference_field(attribute), None) == message_id)
        return self.wait_for(matches, timeout)

    def start(self) -> Receiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *args: Any) -> None:
        self.stop()
