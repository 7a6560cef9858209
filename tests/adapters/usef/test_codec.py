"""Sealing, envelopes and the official/legacy response dialects, checked against the XSDs."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from shapeshifter_uftp import transport as ssu_transport
from shapeshifter_uftp.uftp import FlexRequestResponse, SignedMessage

from adapters.usef import build as m
from adapters.usef import codec, keys
from adapters.usef.safexml import parse_xml
from adapters.usef.schema import SchemaSet

DAY = date(2031, 6, 3)


def _request() -> object:
    return codec.stamp(m.flex_request(DAY), "dso.example.com", "agr.example.com")


def test_seal_and_unseal_round_trip_is_schema_valid(schemas: SchemaSet) -> None:
    pair = keys.generate()
    request = _request()
    signed = codec.signed_message_xml(request, "DSO", pair.private_key)
    envelope = codec.read_envelope(signed, schemas)
    assert (envelope.sender_domain, envelope.sender_role) == ("dso.example.com", "DSO")
    payload = codec.read_payload(codec.unseal(envelope.body, pair.public_key), schemas)
    assert payload.type_name == "FlexRequest"
    assert payload.message.message_id == request.message_id
    assert len(payload.message.isps) == 96


def test_wrong_key_and_tampered_body_fail_signature() -> None:
    pair, other = keys.generate(), keys.generate()
    sealed = codec.seal(_request(), pair.private_key)
    with pytest.raises(codec.SignatureError):
        codec.unseal(sealed, other.public_key)
    tampered = sealed[:100] + bytes([sealed[100] ^ 1]) + sealed[101:]
    with pytest.raises(codec.SignatureError):
        codec.unseal(tampered, pair.public_key)


def test_our_seal_opens_with_shapeshifter_uftp_and_theirs_with_ours() -> None:
    pair = keys.generate()
    request = _request()
    theirs = ssu_transport.unseal_message(codec.seal(request, pair.private_key), pair.public_key)
    assert theirs.message_id == request.message_id
    sealed_by_them = ssu_transport.seal_message(request, pair.private_key)
    assert str(codec.read_payload(codec.unseal(sealed_by_them, pair.public_key)).message.period) == request.period


def test_every_response_type_is_official_on_the_wire(schemas: SchemaSet) -> None:
    request = _request()
    for request_cls in codec.RESPONSE_CLASSES:
        probe = request_cls.__new__(request_cls)
        probe.message_id, probe.conversation_id = request.message_id, request.conversation_id
        probe.sender_domain = "dso.example.com"
        extra = {}
        if codec.message_type_name(request_cls) == "FlexSettlement":
            from shapeshifter_uftp.uftp import AcceptedDisputed, FlexOrderSettlementStatus

            extra["flex_order_settlement_statuses"] = [
                FlexOrderSettlementStatus(order_reference="o-1", disposition=AcceptedDisputed.ACCEPTED)]
        if codec.message_type_name(request_cls) in ("AGRPortfolioQuery", "DSOPortfolioQuery",
                                                     "AGRPortfolioUpdate", "DSOPortfolioUpdate"):
            continue  # CRO-side responses carry portfolios; the hub never answers these
        response = codec.response_for(probe, "agr.example.com", "ISP conflict", **extra)
        xml = codec.to_xml(response)
        root = parse_xml(xml)
        assert root.get("ReferenceMessageID") == request.message_id
        assert schemas.errors(root) == [], codec.message_type_name(type(response))


def test_legacy_response_from_shapeshifter_uftp_is_read_and_normalised(schemas: SchemaSet) -> None:
    legacy = FlexRequestResponse(flex_request_message_id="6f1c4f0e-7a43-4c86-9b8e-2d8e0f3a1b11")
    codec.stamp(legacy, "agr.example.com", "dso.example.com")
    xml = ssu_transport.to_xml(legacy).encode()
    assert b"FlexRequestMessageID" in xml
    payload = codec.read_payload(xml, schemas)  # validated in the official form
    assert payload.message.flex_request_message_id == "6f1c4f0e-7a43-4c86-9b8e-2d8e0f3a1b11"
    official = codec.read_payload(codec.to_xml(payload.message), schemas)
    assert official.digest == payload.digest


def test_legacy_dialect_writes_the_typed_attribute() -> None:
    response = codec.response_for(_request(), "agr.example.com", None)
    assert b"FlexRequestMessageID=" in codec.to_xml(response, codec.LEGACY)
    assert b"ReferenceMessageID=" in codec.to_xml(response)


def test_digest_ignores_formatting_but_not_content() -> None:
    request = _request()
    compact = codec.to_xml(request)
    pretty = ssu_transport.to_xml(request).encode()
    assert compact != pretty
    assert codec.read_payload(compact).digest == codec.read_payload(pretty).digest
    request.revision = 2
    assert codec.read_payload(codec.to_xml(request)).digest != codec.read_payload(compact).digest


def test_envelope_errors(schemas: SchemaSet) -> None:
    with pytest.raises(codec.EnvelopeError, match="SignedMessage"):
        codec.read_envelope(b'<TestMessage Version="3.1.0"/>')
    bad_role = ssu_transport.to_xml(SignedMessage(sender_domain="a.example.com", sender_role="AGR", body=b"x"))
    with pytest.raises(codec.EnvelopeError):
        codec.read_envelope(bad_role.replace('SenderRole="AGR"', 'SenderRole="BRP"').encode(), schemas)
    with pytest.raises(codec.EnvelopeError, match="base64"):
        codec.read_envelope(b'<SignedMessage SenderDomain="a.example.com" SenderRole="AGR" Body="@@@"/>')
    assert base64.b64decode(base64.b64encode(b"x"))  # sanity of the helper used above


def test_keys_round_trip(tmp_path) -> None:
    pair = keys.generate()
    path = tmp_path / "k"
    path.write_text(pair.private_key)
    assert keys.read_key_file(path) == pair
    seed_only = base64.b64encode(base64.b64decode(pair.private_key)[:32]).decode()
    assert keys.load_private_key(seed_only) == pair
    assert keys.normalize_public_key(pair.cs1) == pair.public_key
    with pytest.raises(ValueError):
        keys.load_private_key(base64.b64encode(b"short").decode())
