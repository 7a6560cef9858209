"""The VTN over XMPP: VENs' IQ requests go to the same :class:`VtnService`; pushes go out as IQs.

The XMPP server authenticates each VEN's JID; a VEN registered over XMPP is bound
to its bare JID, so another account cannot speak for its venID (463).
"""

from __future__ import annotations

import asyncio

from adapters.openadr.messages import decode
from adapters.openadr.xmpp import OadrXmppClient
from gateway.db.openadr import OadrVen
from gateway.services.openadr_push import push_once
from gateway.services.openadr_vtn import SERVICE_OF, Peer, VtnService


class XmppVtn:
    def __init__(self, vtn: VtnService, jid: str, password: str, *, allow_plain: bool = False) -> None:
        self.vtn = vtn
        self.client = OadrXmppClient(jid, password, self._on_payload, allow_plain=allow_plain)

    async def _on_payload(self, body: bytes, sender: str) -> bytes | None:
        try:
            head = decode(body, max_bytes=self.vtn.config.max_message_bytes, full=False)
        except ValueError:
            return None  # an empty IQ result; there is no request to answer with a 2.0b status
        service = SERVICE_OF.get(head.message_type, "EiEvent")
        reply = await asyncio.to_thread(self.vtn.handle, service, body, Peer(extra={"jid": sender}))
        return reply.body.encode() if reply.http_status == 200 and reply.body else None

    async def push_once(self) -> int:
        async def deliver(ven: OadrVen, service: str, body: str) -> bytes | None:
            return await self.client.exchange(str(ven.transport_address), body.encode())

        return await push_once(self.vtn, deliver=deliver, transport_name="xmpp")
