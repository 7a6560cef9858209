"""Test helpers for the OpenADR VTN: a hub client with the 2.0b routes, and an XSD-checking VEN stub.

Mounting is done here only when the app does not mount the routes itself yet
(``create_app`` is wired by the lead), so the same tests run before and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from adapters.openadr.messages import Inbound, decode, encode
from gateway.testing import HubTestClient, create_api_key, make_test_client

VTN_PATH = "/OpenADR2/Simple/2.0b"


def ensure_openadr_routes(app: FastAPI) -> None:
    from gateway.api.openadr import router, vtn_router

    paths = {getattr(r, "path", "") for r in app.routes}
    if f"{VTN_PATH}/{{service}}" not in paths:
        app.include_router(vtn_router)
    if "/api/v1/openadr/events" not in paths:
        app.include_router(router, prefix="/api/v1")


def make_vtn_client(tmp_path: Path, **settings: Any) -> tuple[HubTestClient, str]:
    """A started hub with the VTN routes and an admin API key for the operator API."""
    client = make_test_client(tmp_path, **settings)
    ensure_openadr_routes(client.app)  # type: ignore[arg-type]
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
