"""Interop on loopback: shapeshifter-uftp's own clients and services against the hub, both roles.

The hub runs under uvicorn on a free port. shapeshifter-uftp's clients POST to it
(``requests``), and its DSO/AGR service logic receives the hub's messages through
``conformance.uftp.reference_peer`` (its fastapi-xml binding cannot run on our
FastAPI; see that module). Both sides validate every document against the official
XSDs: the hub on receipt (``xsd_dir``), the reference peer on receipt (``errors``).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from shapeshifter_uftp import ShapeshifterAgrDsoClient, ShapeshifterDsoAgrClient
from shapeshifter_uftp.service.agr_service import ShapeshifterAgrService
from shapeshifter_uftp.service.dso_service import ShapeshifterDsoService
from shapeshifter_uftp.uftp import (
    AcceptedDisputed,
    FlexOfferResponse,
    FlexOrder,
    FlexOrderISP,
    FlexOrderResponse,
    FlexOrderSettlementStatus,
    FlexRequestResponse,
    FlexSettlementResponse,
)
from sqlalchemy import select

from adapters.usef import build, codec, keys
from adapters.usef.keys import KeyPair
from adapters.usef.schema import SchemaSet, load_schemas
from conformance.uftp.receiver import ThreadedServer
from conformance.uftp.reference_peer import ReferencePeer, build_service
from gateway.app import create_app
from gateway.db.uftp import UftpMessage
from gateway.services.uftp_config import UftpSettings
from gateway.testing import create_api_key, test_settings

pytestmark = pytest.mark.xdist_group("uftp-interop")

XSD_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "schemas" / "uftp").resolve()
HUB, DSO, AGR = "hub.example.com", "dso.example.com", "agr.example.com"
DAY = build.tomorrow()
WAIT = 20.0


def _recording(base: type) -> type:
    """A concrete subclass of a shapeshifter-uftp service whose every process_* queues the message."""
    def record(self: Any, message: Any, *_: Any) -> None:
        self.inbox.put(message)

    methods = {name: record for name in getattr(base, "__abstractmethods__", ())}
    return type(f"Recording{base.__name__}", (base,), methods)


@dataclass
class LiveHub:
    url: str
    keypair: KeyPair
    admin: str
    app: Any

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.url, headers={"X-API-Key": self.admin}, timeout=30) as client:
            return client.request(method, path, **kwargs)

    def log(self) -> list[UftpMessage]:
        with self.app.state.sessionmaker() as session:
            return list(session.scalars(select(UftpMessage).order_by(UftpMessage.id)))


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return load_schemas(str(XSD_DIR))


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[LiveHub]:
    hub_keys = keys.generate()
    app = create_app(test_settings(tmp_path))
    app.state.uftp_settings = UftpSettings(domain=HUB, private_key=hub_keys.private_key, xsd_dir=str(XSD_DIR),
                                           flush_interval_seconds=0.5, retry_base_seconds=0.2)
    with ThreadedServer(app) as server:
        yield LiveHub(server.base_url(), hub_keys, create_api_key(app, "admin", ["admin"]), app)


def _wait(inbox: queue.Queue[Any], kind: type) -> Any:
    while True:
        message = inbox.get(timeout=WAIT)
        if isinstance(message, kind):
            return message


def test_shapeshifter_dso_against_hub_as_agr(live_hub: LiveHub, schemas: SchemaSet) -> None:
    dso_keys = keys.generate()
    service = build_service(
        _recording(ShapeshifterDsoService), sender_domain=DSO, signing_key=dso_keys.private_key,
        key_lookup=lambda d, r: live_hub.keypair.public_key, endpoint_lookup=lambda d, r: live_hub.url + "/api/v1/uftp",
        inbox=queue.Queue())
    with ReferencePeer(service, schemas) as peer:
        reply = live_hub.api("PUT", "/api/v1/uftp/participants", json={
            "domain": DSO, "role": "DSO", "public_key": dso_keys.cs1, "endpoint": peer.url,
            "dialect": codec.LEGACY})
        assert reply.status_code == 200, reply.text
        client = ShapeshifterDsoAgrClient(
            sender_domain=DSO, signing_key=dso_keys.private_key, recipient_domain=HUB,
            recipient_endpoint=live_hub.url + "/api/v1/shapeshifter/api/v3/message",  # the well-known path alias
            recipient_signing_key=live_hub.keypair.public_key)

        request = build.flex_request(DAY)
        client.send_flex_request(request)
        assert _wait(service.inbox, FlexRequestResponse).result == "Accepted"
        offer = _wait(service.inbox, type(build.flex_offer(DAY, flex_request_message_id=None, isps=[(1, 1)])))
        assert offer.flex_request_message_id == request.message_id
        client.send_flex_offer_response(FlexOfferResponse(
            flex_offer_message_id=offer.message_id, conversation_id=offer.conversation_id))

        option = offer.offer_options[0]
        order = FlexOrder(
            isps=[FlexOrderISP(power=i.power, start=i.start, duration=i.duration) for i in option.isps],
            flex_offer_message_id=offer.message_id, unsolicited=False, price=option.price, currency="EUR",
            order_reference="ssu-order-1", option_reference=option.option_reference,
            activation_factor=Decimal("1.00"), period=offer.period, congestion_point=offer.congestion_point,
            isp_duration=offer.isp_duration, time_zone=offer.time_zone, conversation_id=offer.conversation_id)
        client.send_flex_order(order)
        order_reply = _wait(service.inbox, FlexOrderResponse)
        assert (order_reply.result, order_reply.rejection_reason) == ("Accepted", None)

        live_hub.app.state.clock = lambda: build.end_of(DAY) + timedelta(hours=2)
        settlement = build.flex_settlement([order])
        client.send_flex_settlement(settlement)
        settled = _wait(service.inbox, FlexSettlementResponse)
        assert (settled.result, settled.rejection_reason) == ("Accepted", None)
        assert peer.errors == []

    inbound = {(m.message_type, m.status) for m in live_hub.log() if m.direction == "in"}
    assert inbound == {("FlexRequest", "accepted"), ("FlexOfferResponse", "accepted"), ("FlexOrder", "accepted"),
                       ("FlexSettlement", "accepted")}


def test_hub_as_dso_against_shapeshifter_agr(live_hub: LiveHub, schemas: SchemaSet) -> None:
    agr_keys = keys.generate()
    service = build_service(
        _recording(ShapeshifterAgrService), sender_domain=AGR, signing_key=agr_keys.private_key,
        key_lookup=lambda d, r: live_hub.keypair.public_key, endpoint_lookup=lambda d, r: live_hub.url + "/api/v1/uftp",
        inbox=queue.Queue())
    with ReferencePeer(service, schemas) as peer:
        assert live_hub.api("PUT", "/api/v1/uftp/participants", json={
            "domain": AGR, "role": "AGR", "public_key": agr_keys.public_key, "endpoint": peer.url,
            "dialect": codec.LEGACY}).status_code == 200
        client = ShapeshifterAgrDsoClient(
            sender_domain=AGR, signing_key=agr_keys.private_key, recipient_domain=HUB,
            recipient_endpoint=live_hub.url + "/api/v1/uftp", recipient_signing_key=live_hub.keypair.public_key)

        sent = live_hub.api("POST", "/api/v1/uftp/dso/flex-requests", json={
            "agr_domain": AGR, "period": DAY.isoformat(), "congestion_point": build.DEFAULT_CONGESTION_POINT,
            "requested": [{"start": 30, "min_power": -80_000, "max_power": -40_000}]})
        assert sent.status_code == 202, sent.text
        request = _wait(service.inbox, type(build.flex_request(DAY)))
        client.send_flex_request_response(FlexRequestResponse(
            flex_request_message_id=request.message_id, conversation_id=request.conversation_id))
        offer = build.flex_offer(DAY, flex_request_message_id=request.message_id, isps=[(30, -50_000)], price="7.5")
        offer.conversation_id = request.conversation_id
        client.send_flex_offer(offer)
        assert _wait(service.inbox, FlexOfferResponse).result == "Accepted"

        ordered = live_hub.api("POST", f"/api/v1/uftp/dso/flex-requests/{request.message_id}/orders")
        assert ordered.status_code == 202 and len(ordered.json()["message_ids"]) == 1, ordered.text
        order = _wait(service.inbox, FlexOrder)
        assert [(i.start, i.power) for i in order.isps] == [(30, -50_000)]
        client.send_flex_order_response(FlexOrderResponse(
            flex_order_message_id=order.message_id, conversation_id=order.conversation_id))

        live_hub.app.state.clock = lambda: build.end_of(DAY) + timedelta(hours=2)
        settled = live_hub.api("POST", "/api/v1/uftp/dso/settlements", json={
            "agr_domain": AGR, "period_start": DAY.isoformat(), "period_end": DAY.isoformat()})
        assert settled.status_code == 202, settled.text
        settlement = _wait(service.inbox, type(build.flex_settlement([order])))
        client.send_flex_settlement_response(FlexSettlementResponse(
            flex_settlement_message_id=settlement.message_id, conversation_id=settlement.conversation_id,
            flex_order_settlement_statuses=[FlexOrderSettlementStatus(
                order_reference=order.order_reference, disposition=AcceptedDisputed.ACCEPTED)]))
        deadline_log = _wait_for_log(live_hub, "FlexSettlementResponse")
        assert deadline_log.status == "accepted"
        assert peer.errors == []

    outbound = {m.message_type: m.status for m in live_hub.log() if m.direction == "out"}
    assert outbound["FlexRequest"] == "accepted" and outbound["FlexOrder"] == "accepted"
    assert outbound["FlexSettlement"] == "accepted"


def _wait_for_log(hub: LiveHub, message_type: str) -> UftpMessage:
    import time

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = [m for m in hub.log() if m.message_type == message_type and m.direction == "in"]
        if found:
            return found[0]
        time.sleep(0.05)
    raise TimeoutError(message_type)
