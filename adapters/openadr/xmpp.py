"""OpenADR 2.0b over XMPP (slixmpp): oadrPayload documents carried in IQ stanzas.

A request is an ``<iq type="set">`` whose child is the ``oadrPayload``; the answer
is the ``<iq type="result">`` with the reply payload (or none). Both roles use
the same client: the VTN answers VENs' requests and sends them pushed messages,
a VEN sends requests and answers pushes. Inbound payloads are re-serialized and
go through the same safe parser and XSD check as HTTP bodies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from xml.etree import ElementTree as ET

import slixmpp
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath

from adapters.openadr.schema import OADR_NS

PayloadHandler = Callable[[bytes, str], Awaitable[bytes | None]]
_PAYLOAD = f"{{{OADR_NS}}}oadrPayload"


class OadrXmppClient(slixmpp.ClientXMPP):  # type: ignore[misc]
    def __init__(self, jid: str, password: str, on_payload: PayloadHandler | None = None,
                 *, allow_plain: bool = False) -> None:
        super().__init__(jid, password)
        self.on_payload = on_payload
        self.ready = asyncio.Event()
        if allow_plain:  # loopback test servers without TLS
            self.plugin["feature_mechanisms"].unencrypted_plain = True
            self.enable_starttls = False
            self.enable_direct_tls = False
            self.enable_plaintext = True
        self.add_event_handler("session_start", self._started)
        self.register_handler(CoroutineCallback(
            "oadr-payload", MatchXPath(f"{{{self.default_ns}}}iq/{_PAYLOAD}"), self._on_iq))

    async def _started(self, _event: object) -> None:
        self.send_presence()
        self.ready.set()

    async def _on_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        payload = iq.xml.find(_PAYLOAD)
        reply = iq.reply()
        if self.on_payload is not None and payload is not None:
            answer = await self.on_payload(ET.tostring(payload), str(iq["from"]))
            if answer:
                reply.xml.append(ET.fromstring(answer))
        reply.send()

    async def exchange(self, to: str, body: bytes, timeout: float = 15) -> bytes | None:
        """Send one payload and return the payload of the result (None if empty)."""
        iq = self.make_iq_set(ito=to)
        iq.xml.append(ET.fromstring(body))
        result = await iq.send(timeout=timeout)
        payload = result.xml.find(_PAYLOAD)
        return ET.tostring(payload) if payload is not None else None


async def connect(client: OadrXmppClient, host: str, port: int, timeout: float = 15) -> None:
    client.connect(host, port)
    await asyncio.wait_for(client.ready.wait(), timeout)
