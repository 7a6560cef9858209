"""HTTP push: the VTN posts waiting messages to VENs that registered without the pull model.

A message counts as delivered only when the VEN's endpoint answered 200 with a
valid 2.0b reply; until then the store transaction that marked it is rolled back
and it waits for the next round. A VEN's synchronous answer (oadrCreatedEvent,
oadrCreatedReport, ...) is processed as if the VEN had sent it to us.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from adapters.openadr.messages import decode
from gateway.db.openadr import OadrVen
from gateway.services.openadr_vtn import SERVICE_OF, Peer, VtnService

log = logging.getLogger("flexhub.openadr.push")

SERVICE_FOR_PUSH = {
    "oadrDistributeEvent": "EiEvent",
    "oadrCreateReport": "EiReport",
    "oadrRegisterReport": "EiReport",
    "oadrCancelReport": "EiReport",
    "oadrRequestReregistration": "EiRegisterParty",
    "oadrCancelPartyRegistration": "EiRegisterParty",
}


Deliver = Callable[[OadrVen, str, str], Awaitable[bytes | None]]
"""Send one message (``ven``, service, XML) to a VEN and return its synchronous reply payload."""


def http_deliver(http: httpx.AsyncClient) -> Deliver:
    async def deliver(ven: OadrVen, service: str, body: str) -> bytes | None:
        url = f"{(ven.transport_address or '').rstrip('/')}/{service}"
        response = await http.post(url, content=body.encode(), headers={"content-type": "application/xml"})
        response.raise_for_status()
        return response.content

    return deliver


async def push_once(vtn: VtnService, http: httpx.AsyncClient | None = None, *, deliver: Deliver | None = None,
                    transport_name: str = "simpleHttp") -> int:
    """Deliver everything waiting for push-model VENs of one transport; returns the number delivered."""
    if deliver is None:
        if http is None:
            raise ValueError("push_once needs an HTTP client or a deliver function")
        deliver = http_deliver(http)
    with vtn.sessions() as session:
        vens = [v.ven_id for v in session.scalars(select(OadrVen).where(
            OadrVen.http_pull_model.is_(False), OadrVen.registration_id.is_not(None),
            OadrVen.transport_address.is_not(None), OadrVen.transport_name == transport_name))]
    delivered = 0
    for ven_id in vens:
        while True:
            with vtn.sessions() as session:
                ven = session.get(OadrVen, ven_id)
                if ven is None or ven.transport_address is None:
                    break
                message = vtn.next_message(session, ven)
                if message is None:
                    break
                kind, body = message
                try:
                    content = await deliver(ven, SERVICE_FOR_PUSH.get(kind, "EiEvent"), body)
                    answer = decode(content) if content and content.strip() else None
                except Exception as exc:  # the VEN is down or answered garbage: keep the message
                    session.rollback()
                    log.warning("push of %s to %s failed: %s", kind, ven_id, exc)
                    break
                session.commit()
            delivered += 1
            if answer is not None and answer.message_type != "oadrResponse":
                service = SERVICE_OF.get(answer.message_type)
                if service:
                    await asyncio.to_thread(vtn.handle, service, answer.raw, Peer())
    return delivered


class PushWorker:
    """Runs :func:`push_once` every ``interval`` seconds until stopped (start it in the app lifespan)."""

    def __init__(self, vtn: VtnService, interval: float = 1.0, http: httpx.AsyncClient | None = None) -> None:
        self.vtn = vtn
        self.interval = interval
        self.http = http or httpx.AsyncClient(timeout=10)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                await push_once(self.vtn, self.http)
            except Exception:  # keep pushing to the other VENs on the next round
                log.exception("push round failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.http.aclose()
