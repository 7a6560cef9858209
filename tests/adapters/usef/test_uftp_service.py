"""The hub's UFTP endpoint against simulated peers: every RejectionReason, persistence, retries.

Messages the hub emits are XSD-validated by the receiving test peer; messages the hub
accepts are XSD-validated by the hub itself (``xsd_dir`` points at the official XSDs).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shapeshifter_uftp.uftp import FlexOffer, FlexOrder, FlexRequest, FlexSettlementResponse
from sqlalchemy import update

from adapters.usef import build as m
from adapters.usef import codec, keys, reasons
from adapters.usef.schema import SchemaSet
from gateway.db.uftp import UftpMessage, UftpOutbox
from tests.adapters.usef.conftest import AGR_DOMAIN, DSO_DOMAIN, Hub, make_hub

DAY = m.tomorrow()


def _offer_from_hub(hub: Hub) -> tuple[FlexRequest, FlexOffer]:
    request = m.flex_request(DAY)
    assert hub.dso.exchange(request).result == "Accepted"
    offer = hub.receiver.wait_for(
        lambda x: isinstance(x, FlexOffer) and x.flex_request_message_id == request.message_id)
    return request, offer


def test_agr_role_full_cycle(hub: Hub) -> None:
    request, offer = _offer_from_hub(hub)
    assert [(i.start, i.power) for i in offer.offer_options[0].isps] == [(33, -200_000), (34, -200_000)]
    assert offer.conversation_id == request.conversation_id
    offer_reply = hub.dso.seal(codec.response_for(offer, DSO_DOMAIN, None), stamp=False)
    assert hub.dso.post(offer_reply).status_code == 200
    order = m.flex_order_for(offer)
    assert hub.dso.exchange(order).result == "Accepted"
    hub.client.app.state.clock = lambda: m.end_of(DAY) + timedelta(hours=2)  # settle after delivery
    settled: FlexSettlementResponse = hub.dso.exchange(m.flex_settlement([order]))
    assert (settled.result, settled.rejection_reason) == ("Accepted", None)
    assert [s.order_reference for s in settled.flex_order_settlement_statuses] == [order.order_reference]
    assert hub.receiver.errors == []


def test_dso_role_full_cycle(hub: Hub) -> None:
    headers = {"X-API-Key": hub.admin_key}
    sent = hub.client.post("/api/v1/uftp/dso/flex-requests", headers=headers, json={
        "agr_domain": AGR_DOMAIN, "period": DAY.isoformat(), "congestion_point": m.DEFAULT_CONGESTION_POINT,
        "requested": [{"start": 40, "min_power": -300_000, "max_power": -250_000}]})
    assert sent.status_code == 202, sent.text
    request = hub.receiver.wait_for(lambda x: isinstance(x, FlexRequest))
    assert hub.agr.post(hub.agr.seal(codec.response_for(request, AGR_DOMAIN, None), stamp=False)).status_code == 200
    cheap = m.flex_offer(DAY, flex_request_message_id=request.message_id, isps=[(40, -150_000)], price="10")
    dear = m.flex_offer(DAY, flex_request_message_id=request.message_id, isps=[(40, -150_000)], price="90")
    useless = m.flex_offer(DAY, flex_request_message_id=request.message_id, isps=[(41, -150_000)], price="1")
    for offer in (dear, cheap, useless):
        answer = hub.agr.exchange(offer)
        assert (answer.result, answer.rejection_reason) == ("Accepted", None)
    ordered = hub.client.post(f"/api/v1/uftp/dso/flex-requests/{request.message_id}/orders", headers=headers)
    assert ordered.status_code == 202, ordered.text
    assert len(ordered.json()["message_ids"]) == 2  # need 250 kW: cheap 150, then dear; useless never
    orders = [hub.receiver.wait_for(lambda x, o=o: isinstance(x, FlexOrder) and x.flex_offer_message_id == o.message_id)
              for o in (cheap, dear)]
    for order in orders:
        reply = hub.agr.seal(codec.response_for(order, AGR_DOMAIN, None), stamp=False)
        assert hub.agr.post(reply).status_code == 200
    hub.client.app.state.clock = lambda: m.end_of(DAY) + timedelta(hours=2)  # settle after delivery
    settled = hub.client.post("/api/v1/uftp/dso/settlements", headers=headers, json={
        "agr_domain": AGR_DOMAIN, "period_start": DAY.isoformat(), "period_end": DAY.isoformat()})
    assert settled.status_code == 202, settled.text
    settlement = hub.receiver.wait_for(lambda x: type(x).__name__ == "FlexSettlement")
    assert sorted(s.order_reference for s in settlement.flex_order_settlements) == sorted(
        o.order_reference for o in orders)
    assert hub.receiver.errors == []


def test_duplicate_identifier_and_already_submitted(hub: Hub) -> None:
    request = m.flex_request(DAY)
    body = hub.dso.seal(request)
    assert hub.dso.post(body).status_code == 200
    hub.receiver.response_to(request.message_id)
    assert hub.dso.post(body).status_code == 200
    request.revision = 2
    assert hub.dso.post(hub.dso.seal(request, stamp=False)).status_code == 200
    texts = _reasons_for(hub, request.message_id, count=3)
    assert texts == [None, reasons.ALREADY_SUBMITTED, reasons.DUPLICATE_IDENTIFIER]


def _reasons_for(hub: Hub, message_id: str, count: int = 1) -> list[str | None]:
    """RejectionReasons of every *Response that names ``message_id``, in arrival order."""
    def answers() -> list[str | None]:
        found = []
        for item in hub.receiver.messages:
            message = item.payload.message
            request_cls = next((k for k, v in codec.RESPONSE_CLASSES.items() if v is type(message)), None)
            if request_cls and getattr(message, codec.response_reference_field(request_cls), None) == message_id:
                found.append(message.rejection_reason)
        return found
    hub.receiver.wait_for(lambda _: len(answers()) >= count)
    return answers()


def _rejection(hub: Hub, peer_name: str, message: object, **seal: object) -> str | None:
    peer = getattr(hub, peer_name)
    return peer.exchange(message, **seal).rejection_reason


def test_message_level_rejections(hub: Hub) -> None:
    mismatched = m.flex_request(DAY)
    codec.stamp(mismatched, "someone-else.example.com", "hub.example.com")
    assert _rejection(hub, "dso", mismatched, stamp=False) == reasons.MISMATCH_SENDER_DOMAIN
    elsewhere = m.flex_request(DAY)
    codec.stamp(elsewhere, DSO_DOMAIN, "not-the-hub.example.com")
    assert _rejection(hub, "dso", elsewhere, stamp=False) == reasons.UNKNOWN_RECIPIENT_DOMAIN
    assert _rejection(hub, "agr", m.flex_request(DAY)) == reasons.INVALID_MESSAGE  # an AGR cannot request flex
    odd = m.flex_request(DAY, isp_duration="PT5M", tz="Europe/London")
    assert _rejection(hub, "dso", odd) == f"{reasons.ISP_DURATION_REJECTED}; {reasons.TIMEZONE_REJECTED}"
    crowded = m.flex_request(DAY)
    crowded.isps[1].start = 1
    assert _rejection(hub, "dso", crowded) == reasons.ISP_CONFLICT
    past = m.flex_request(DAY - timedelta(days=3), expiration=datetime.now(UTC) + timedelta(hours=1))
    assert reasons.PERIOD_OUT_OF_BOUNDS in str(_rejection(hub, "dso", past))
    assert hub.receiver.errors == []


def test_reference_rejections(hub: Hub) -> None:
    ghost = m.flex_offer(DAY, flex_request_message_id=str(uuid.uuid4()), isps=[(5, -1000)])
    assert _rejection(hub, "agr", ghost) == reasons.unknown_reference("FlexRequestMessageID")
    solicited_without_ref = m.flex_offer(DAY, flex_request_message_id=None, isps=[(5, -1000)])
    solicited_without_ref.unsolicited = False  # XSD-valid, refused by the models: still a *Response
    assert _rejection(hub, "agr", solicited_without_ref) == reasons.INVALID_MESSAGE

    headers = {"X-API-Key": hub.admin_key}
    hub.client.post("/api/v1/uftp/dso/flex-requests", headers=headers, json={
        "agr_domain": AGR_DOMAIN, "period": DAY.isoformat(), "congestion_point": m.DEFAULT_CONGESTION_POINT,
        "requested": [{"start": 7, "min_power": -1000, "max_power": -500}]})
    request = hub.receiver.wait_for(lambda x: isinstance(x, FlexRequest))
    other_day = m.flex_offer(DAY + timedelta(days=1), flex_request_message_id=request.message_id, isps=[(7, -700)])
    assert _rejection(hub, "agr", other_day) == reasons.REFERENCE_PERIOD_MISMATCH

    offer = m.flex_offer(DAY, flex_request_message_id=request.message_id, isps=[(7, -700)])
    assert _rejection(hub, "agr", offer) is None
    assert _rejection(hub, "agr", m.flex_offer_revocation(offer.message_id)) is None
    assert _rejection(hub, "agr", m.flex_offer_revocation(offer.message_id)) == reasons.REFERENCE_MESSAGE_REVOKED

    with hub.client.app.state.sessionmaker() as session:  # the FlexRequest's ExpirationDateTime passes
        session.execute(update(UftpMessage).where(UftpMessage.message_id == request.message_id)
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    late = m.flex_offer(DAY, flex_request_message_id=request.message_id, isps=[(7, -700)])
    assert _rejection(hub, "agr", late) == reasons.REFERENCE_MESSAGE_EXPIRED

    _, hub_offer = _offer_from_hub(hub)
    wrong = m.flex_order_for(hub_offer)
    wrong.isps[0].power += 1
    assert _rejection(hub, "dso", wrong) == "FlexOrder ISPs differ from the FlexOffer option"
    hub.client.app.state.clock = lambda: m.end_of(DAY) + timedelta(hours=2)
    stray = m.flex_settlement([m.flex_order_for(hub_offer, order_reference="never-ordered")])
    assert _rejection(hub, "dso", stray) == reasons.unknown_reference("OrderReference")


def test_transport_level_rejections(hub: Hub) -> None:
    stranger = keys.generate()
    request = m.flex_request(DAY)
    cases = [
        (hub.dso.seal(request, envelope_domain="stranger.example.com"), 401, reasons.UNKNOWN_SENDER_DOMAIN),
        (hub.dso.seal(m.flex_request(DAY), envelope_role="AGR"), 401, reasons.INVALID_SENDER_ROLE),
        (hub.dso.seal(m.flex_request(DAY), key=stranger), 401, "Invalid signature"),
        (b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><SignedMessage/>", 400,
         reasons.INVALID_SIGNED_MESSAGE),
        (b"<SignedMessage SenderDomain='dso.example.com' SenderRole='DSO'/>", 400, reasons.INVALID_SIGNED_MESSAGE),
    ]
    hub.register(DSO_DOMAIN, "AGR", keys.generate().public_key, hub.receiver.url)  # known domain, other role
    cases[1] = (hub.dso.seal(m.flex_request(DAY), envelope_role="CRO"), 401, reasons.INVALID_SENDER_COMBINATION)
    for body, status, title in cases:
        reply = hub.dso.post(body)
        assert (reply.status_code, reply.json()["title"]) == (status, title)
    assert hub.dso.post(hub.dso.seal(m.flex_request(DAY)), content_type="application/json").status_code == 400
    hub.register(DSO_DOMAIN, "DSO", hub.dso.keypair.public_key, hub.receiver.url, barred=True)
    reply = hub.dso.post(hub.dso.seal(m.flex_request(DAY)))
    assert (reply.status_code, reply.json()["title"]) == (403, reasons.BARRED_SENDER)
    with hub.client.app.state.sessionmaker() as session:
        assert session.query(UftpMessage).filter(UftpMessage.direction == "in").count() == 0


def test_restart_keeps_conversation_state(tmp_path: Path, schemas: SchemaSet) -> None:
    first = make_hub(tmp_path, schemas)
    hub = next(first)
    request = m.flex_request(DAY)
    original = hub.dso.seal(request)
    assert hub.dso.post(original).status_code == 200
    offer = hub.receiver.wait_for(lambda x: isinstance(x, FlexOffer))
    saved = (hub.keypair, hub.dso, hub.admin_key)
    first.close()  # the hub process goes away; the SQLite file stays

    second = make_hub(tmp_path, schemas)
    again = next(second)
    try:
        again.client.app.state.uftp_settings = again.settings().model_copy(
            update={"private_key": saved[0].private_key})
        again.receiver.keys[("hub.example.com", "AGR")] = saved[0].public_key
        again.dso.keypair = saved[1].keypair
        again.register(DSO_DOMAIN, "DSO", saved[1].keypair.public_key, again.receiver.url)
        order = m.flex_order_for(offer)
        assert again.dso.exchange(order).rejection_reason is None  # the FlexOffer reference survived
        assert again.dso.post(original).status_code == 200
        assert again.receiver.response_to(request.message_id).rejection_reason == reasons.ALREADY_SUBMITTED
    finally:
        second.close()


def test_outbox_retries_until_the_peer_is_up(hub: Hub) -> None:
    from conformance.uftp.receiver import Receiver

    late = Receiver(dict(hub.receiver.keys), None)  # port reserved but not listening yet
    hub.register(DSO_DOMAIN, "DSO", hub.dso.keypair.public_key, late.url)
    request = m.flex_request(DAY)
    assert hub.dso.send(request).status_code == 200
    with hub.client.app.state.sessionmaker() as session:
        row = session.query(UftpOutbox).filter(UftpOutbox.message_type == "FlexRequestResponse").one()
    late.start()
    try:
        response = late.response_to(request.message_id, timeout=20)
        assert response.result == "Accepted"
        deadline = time.monotonic() + 10
        while True:  # the sender commits 'delivered' just after the peer's 200
            with hub.client.app.state.sessionmaker() as session:
                delivered = session.get(UftpOutbox, row.id)
                assert delivered is not None
                if delivered.state == "delivered" or time.monotonic() > deadline:
                    break
            time.sleep(0.05)
        assert delivered.state == "delivered"
        assert delivered.attempts >= 2  # the first try found nobody listening
    finally:
        late.stop()


def test_other_messages_are_validated_and_answered(hub: Hub) -> None:
    from shapeshifter_uftp.uftp import (
        FlexReservationUpdate,
        FlexReservationUpdateISP,
        Metering,
        MeteringISP,
        MeteringProfile,
    )

    powers = [1000] * len(m.flex_request(DAY).isps)
    assert _rejection(hub, "agr", m.d_prognosis(DAY, powers)) is None
    assert _rejection(hub, "agr", m.d_prognosis(DAY, [*powers, 5])) == reasons.ISPS_OUT_OF_BOUNDS
    yesterday = (DAY - timedelta(days=2)).isoformat()
    metering = Metering(profiles=[MeteringProfile(isps=[MeteringISP(start=n, value=2) for n in (1, 2)],
                                                  profile_type="Power", unit="kW")],
                        revision=1, isp_duration="PT15M", time_zone="Europe/Amsterdam", period=yesterday,
                        ean="E8716859000126365")
    assert _rejection(hub, "agr", metering) is None
    reservation = FlexReservationUpdate(
        isps=[FlexReservationUpdateISP(power=-5000, start=10, duration=2)], contract_id="c-1", reference="r-1",
        period=DAY.isoformat(), congestion_point=m.DEFAULT_CONGESTION_POINT, isp_duration="PT15M",
        time_zone="Europe/Amsterdam")
    assert _rejection(hub, "dso", reservation) is None
    assert _rejection(hub, "dso", m.test_message()) is None
    assert hub.receiver.errors == []
