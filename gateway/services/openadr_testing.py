"""Test helpers for the OpenADR VTN: a hub client with an operator key, registered VENs, and an
XSD-checking VEN stub. ``create_app`` mounts the 2.0b routes itself."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from adapters.openadr.messages import Inbound, decode, encode
from gateway.db.openadr import OadrVen
from gateway.testing import HubTestClient, create_api_key, make_test_client

VTN_PATH = "/OpenADR2/Simple/2.0b"


def register_vens(engine: Engine, ven_ids: Iterable[str], now: datetime) -> None:
    """Store VENs as registered over simple HTTP pull, as EiRegisterParty would."""
    with engine.begin() as conn:
        conn.execute(insert(OadrVen), [
            {"ven_id": v, "registration_id": f"reg-{v}", "ven_name": v, "profile_name": "2.0b",
             "transport_name": "simpleHttp", "http_pull_model": True, "xml_signature": False, "report_only": False,
             "groups": [], "created_at": now, "updated_at": now} for v in ven_ids])


def make_vtn_client(tmp_path: Path, **settings: Any) -> tuple[HubTestClient, str]:
    """A started hub and an admin API key for the operator API."""
    client = make_test_client(tmp_path, **settings)
    key = create_api_key(client.app, "operator", ["admin"])  # type: ignore[arg-type]
    return client, key


class RawVen:
    """Sends hand-built 2.0b messages to a VTN and checks every reply against the XSD."""

    def __init__(self, client: Any, ven_id: str | None = None) -> None:
        self.client = client
        self.ven_id = ven_id
        self.registration_id: str | None = None

    def send(self, service: str, message_type: str, **payload: Any) -> Inbound:
        body = encode(message_type, **payload)
        decode(body)  # what we send is schema-valid too
        response = self.client.post(f"{VTN_PATH}/{service}", content=body,
                                    headers={"content-type": "application/xml"})
        assert response.status_code == 200, response.text
        return decode(response.content)

    def register(self, name: str = "test-ven", **extra: Any) -> Inbound:
        fields: dict[str, Any] = {"http_pull_model": True, "xml_signature": False, "report_only": False,
                                  "profile_name": "2.0b", "transport_name": "simpleHttp"} | extra
        reply = self.send("EiRegisterParty", "oadrCreatePartyRegistration", request_id="reg-1", ven_name=name,
                          ven_id=self.ven_id, **fields)
        assert reply.payload["response"]["response_code"] == 200, reply.payload
        self.ven_id = reply.payload["ven_id"]
        self.registration_id = reply.payload["registration_id"]
        return reply

    def poll(self) -> Inbound:
        return self.send("OadrPoll", "oadrPoll", ven_id=self.ven_id)
