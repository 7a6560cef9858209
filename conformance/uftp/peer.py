"""A simulated UFTP participant: seals messages, POSTs them, awaits the *Response.

Used by the conformance runner against any endpoint, and by tests against the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from shapeshifter_uftp.uftp import PayloadMessage

from adapters.usef import codec
from adapters.usef.keys import KeyPair
from conformance.uftp.receiver import Receiver


@dataclass
class Peer:
    domain: str
    role: str
    keypair: KeyPair
    target_domain: str
    target_url: str
    receiver: Receiver
    http: httpx.Client

    def seal(self, message: PayloadMessage, *, stamp: bool = True, dialect: str = codec.OFFICIAL,
             envelope_domain: str | None = None, envelope_role: str | None = None,
             key: KeyPair | None = None) -> bytes:
        """The SignedMessage for ``message``; the overrides forge envelopes for negative tests."""
        if stamp:
            codec.stamp(message, self.domain, self.target_domain)
        signing = key or self.keypair
        return codec.signed_message_xml(message, envelope_role or self.role, signing.private_key, dialect,
                                        sender_domain=envelope_domain or self.domain)

    def post(self, body: bytes, content_type: str = "text/xml; charset=utf-8") -> httpx.Response:
        return self.http.post(self.target_url, content=body, headers={"Content-Type": content_type})

    def send(self, message: PayloadMessage, **seal_options: Any) -> httpx.Response:
        return self.post(self.seal(message, **seal_options))

    def exchange(self, message: PayloadMessage, timeout: float = 10.0, **seal_options: Any) -> Any:
        """Send and wait for the *Response; raises if the HTTP transport refused the message."""
        reply = self.send(message, **seal_options)
        if reply.status_code != 200:
            raise RuntimeError(f"HTTP {reply.status_code}: {reply.text[:300]}")
        return self.receiver.response_to(str(message.message_id), timeout)
