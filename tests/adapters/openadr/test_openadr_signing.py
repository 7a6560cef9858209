"""XML signatures on inbound messages: verified against the VEN's certificate, each nonce used once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from openleadr.utils import certificate_fingerprint

from adapters.openadr import signing
from adapters.openadr.messages import decode, encode
from gateway.services.openadr_testing import VTN_PATH, RawVen, make_vtn_client


def _self_signed(cn: str) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture(scope="module")
def certs() -> dict[str, tuple[bytes, bytes]]:
    return {"a": _self_signed("ven-a"), "b": _self_signed("ven-b")}


def test_signed_messages_verified_and_replays_refused(tmp_path: Path, certs) -> None:
    cert, key = certs["a"]
    client, admin = make_vtn_client(tmp_path)
    with client:
        fingerprint = certificate_fingerprint(cert.decode())
        assert client.post("/api/v1/openadr/vens", headers={"X-API-Key": admin},
                           json={"ven_id": "sig-ven", "fingerprint": fingerprint}).status_code == 201
        RawVen(client, "sig-ven").register(xml_signature=True)
        url = f"{VTN_PATH}/OadrPoll"

        signed = encode("oadrPoll", ven_id="sig-ven", cert=cert, key=key)
        root = decode(signed).root
        assert signing.has_signature(root)
        first = client.post(url, content=signed)
        assert first.status_code == 200
        assert decode(first.content).payload["response"]["response_code"] == 200

        replay = client.post(url, content=signed)
        assert replay.status_code == 403
        assert "replayed" in replay.text

        unsigned = client.post(url, content=encode("oadrPoll", ven_id="sig-ven"))
        assert unsigned.status_code == 403

        foreign = client.post(url, content=encode("oadrPoll", ven_id="sig-ven", cert=certs["b"][0],
                                                  key=certs["b"][1]))
        assert foreign.status_code == 403
        assert "registered" in foreign.text

        tampered = encode("oadrPoll", ven_id="sig-ven", cert=cert, key=key).replace(
            "<ei:venID>sig-ven</ei:venID>", "<ei:venID>sig-vex</ei:venID>")
        assert client.post(url, content=tampered).status_code == 403
        assert client.post(url, content=encode("oadrPoll", ven_id="sig-ven", cert=cert, key=key)).status_code == 200


def test_stale_or_future_timestamps_are_refused(certs) -> None:
    cert, key = certs["a"]
    root = decode(encode("oadrPoll", ven_id="v", cert=cert, key=key)).root
    token = signing.verify(root, expected_fingerprint=None)
    assert token.nonce
    with pytest.raises(signing.SignatureRejected, match="window"):
        signing.verify(root, expected_fingerprint=None, now=datetime.now(UTC) + timedelta(minutes=10))
    with pytest.raises(signing.SignatureRejected, match="window"):
        signing.verify(root, expected_fingerprint=None, now=datetime.now(UTC) - timedelta(minutes=2))
    with pytest.raises(signing.SignatureRejected, match="not signed"):
        signing.verify(decode(encode("oadrPoll", ven_id="v")).root, expected_fingerprint=None)


def test_vtn_signs_its_replies_when_configured(tmp_path: Path, certs) -> None:
    """Replies carry XMLDSig with ReplayProtect, verifiable against the VTN's certificate (no fast path)."""
    cert, key = certs["b"]
    (tmp_path / "vtn.crt").write_bytes(cert)
    (tmp_path / "vtn.key").write_bytes(key)
    from gateway.services.openadr_vtn import OpenADRSettings, VtnService

    client, _ = make_vtn_client(tmp_path)
    with client:
        app = client.app
        app.state.openadr_vtn = VtnService(app.state.sessionmaker, OpenADRSettings(  # type: ignore[attr-defined]
            signing_cert=str(tmp_path / "vtn.crt"), signing_key=str(tmp_path / "vtn.key")))
        ven = RawVen(client, "signed-replies")
        registration = ven.register()
        nonces = set()
        for reply in (registration, ven.poll(), ven.poll(),
                      ven.send("OadrPoll", "oadrPoll", ven_id="never-registered")):  # errors are signed too
            token = signing.verify(reply.root, expected_fingerprint=certificate_fingerprint(cert.decode()))
            nonces.add(token.nonce)
        assert len(nonces) == 4  # a fresh nonce per reply, so a VEN can refuse replays
        with pytest.raises(signing.SignatureRejected):
            signing.verify(ven.poll().root, expected_fingerprint=certificate_fingerprint(certs["a"][0].decode()))


def test_spent_nonces_are_pruned_once_outside_the_window(tmp_path: Path, certs) -> None:
    from sqlalchemy import select

    from gateway.db.openadr import OadrNonce
    from gateway.services.openadr_vtn import nonce_retention

    cert, key = certs["a"]
    client, admin = make_vtn_client(tmp_path)
    with client:
        fingerprint = certificate_fingerprint(cert.decode())
        assert client.post("/api/v1/openadr/vens", headers={"X-API-Key": admin},
                           json={"ven_id": "prune-ven", "fingerprint": fingerprint}).status_code == 201
        RawVen(client, "prune-ven").register(xml_signature=True)
        factory = client.app.state.sessionmaker  # type: ignore[attr-defined]
        stale = datetime.now(UTC) - nonce_retention() - timedelta(seconds=5)
        recent = datetime.now(UTC) - signing.MAX_AGE
        with factory() as session:
            session.add_all([OadrNonce(nonce="stale", received_at=stale),
                             OadrNonce(nonce="recent", received_at=recent)])
            session.commit()
        signed = encode("oadrPoll", ven_id="prune-ven", cert=cert, key=key)
        assert client.post(f"{VTN_PATH}/OadrPoll", content=signed).status_code == 200
        with factory() as session:
            kept = set(session.scalars(select(OadrNonce.nonce)))
        assert "stale" not in kept
        assert "recent" in kept
        assert len(kept) == 2  # "recent" and the poll's own nonce
        assert client.post(f"{VTN_PATH}/OadrPoll", content=signed).status_code == 403  # still a replay
