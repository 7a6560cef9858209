"""The dedicated VTN listener over TLS 1.2+ with client certificates from a CA the test makes."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from openleadr.utils import certificate_fingerprint_from_der

from adapters.openadr.messages import decode, encode
from adapters.openadr.ven import VenClient, VtnRefused
from gateway.services import openadr_listener
from gateway.services.openadr_vtn import OpenADRSettings, VtnService
from gateway.services.store import open_store
from gateway.testing import test_settings


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(path: Path, cn: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, *,
           ca: bool = False, server: bool = False) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(issuer[0].subject if issuer else _name(cn)).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        import ipaddress

        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (path / f"{cn}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (path / f"{cn}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return cert, key


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca = _issue(tmp_path, "test-ca", None, ca=True)
    _issue(tmp_path, "vtn", ca, server=True)
    _issue(tmp_path, "ven-a", ca)
    _issue(tmp_path, "ven-b", ca)
    _issue(tmp_path, "rogue", _issue(tmp_path, "other-ca", None, ca=True))
    return tmp_path


def _client_context(pki: Path, name: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "test-ca.crt"))
    if name:
        context.load_cert_chain(str(pki / f"{name}.crt"), str(pki / f"{name}.key"))
    return context


def _fingerprint(pki: Path, name: str) -> str:
    cert = x509.load_pem_x509_certificate((pki / f"{name}.crt").read_bytes())
    return str(certificate_fingerprint_from_der(cert.public_bytes(serialization.Encoding.DER)))


async def test_ven_id_comes_from_the_client_certificate(pki: Path, tmp_path: Path) -> None:
    engine, factory = open_store(test_settings(tmp_path / "hub"), migrate=True)
    context = openadr_listener.server_ssl_context(str(pki / "vtn.crt"), str(pki / "vtn.key"), str(pki / "test-ca.crt"))
    server, port = await openadr_listener.start(VtnService(factory, OpenADRSettings()), "127.0.0.1", 0, context)
    url = f"https://127.0.0.1:{port}{openadr_listener.PREFIX}"
    try:
        ven_a = VenClient(url, "ven-a", http=httpx.AsyncClient(verify=_client_context(pki, "ven-a")))
        state = await ven_a.register()
        assert state.ven_id == _fingerprint(pki, "ven-a")
        assert await ven_a.poll() == "oadrResponse"

        # another certificate claiming ven-a's venID
        async with httpx.AsyncClient(verify=_client_context(pki, "ven-b")) as b:
            poll = await b.post(f"{url}/OadrPoll", content=encode("oadrPoll", ven_id=state.ven_id))
            assert decode(poll.content).payload["response"]["response_code"] == 463
        ven_b = VenClient(url, "ven-b", ven_id=state.ven_id,
                          http=httpx.AsyncClient(verify=_client_context(pki, "ven-b")))
        with pytest.raises(VtnRefused) as refused:
            await ven_b.register()
        assert refused.value.code == 452
        await ven_b.close()

        # no client certificate, or one from another CA: the handshake fails
        for name in (None, "rogue"):
            async with httpx.AsyncClient(verify=_client_context(pki, name)) as anonymous:
                with pytest.raises(httpx.HTTPError):
                    await anonymous.post(f"{url}/OadrPoll", content=encode("oadrPoll", ven_id="x"))
        assert await ven_a.poll() == "oadrResponse"  # still serving
        await ven_a.close()
    finally:
        server.close()
        await server.wait_closed()
        engine.dispose()


def test_tls_context_refuses_old_protocols(pki: Path) -> None:
    context = openadr_listener.server_ssl_context(str(pki / "vtn.crt"), str(pki / "vtn.key"), str(pki / "test-ca.crt"))
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
