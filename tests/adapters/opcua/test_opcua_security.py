"""Security policy from configuration: Basic256Sha256 Sign&Encrypt against a real asyncua server."""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from adapters.device_common import DeviceOffline, Setpoint
from adapters.opcua.device import OpcUaDevice
from adapters.opcua.simulator import SimulatedOpcUaBattery


async def _certificate(tmp_path: Path, name: str, uri: str, usage: object) -> tuple[Path, Path]:
    key, cert = tmp_path / f"{name}-key.pem", tmp_path / f"{name}-cert.der"
    await setup_self_signed_certificate(key, cert, uri, "127.0.0.1", [usage], {"commonName": name})
    return cert, key


async def test_encrypted_endpoint_needs_the_configured_security(tmp_path: Path) -> None:
    server_cert, server_key = await _certificate(tmp_path, "server", "urn:freeopcua:python:server",
                                                 ExtendedKeyUsageOID.SERVER_AUTH)
    client_cert, client_key = await _certificate(tmp_path, "client", "urn:freeopcua:client",
                                                 ExtendedKeyUsageOID.CLIENT_AUTH)
    sim = SimulatedOpcUaBattery(certificate=server_cert, private_key=server_key)
    await sim.start(tick_s=0)
    try:
        plain = OpcUaDevice.from_config(sim.config("plain"), timeout_s=2.0)
        with pytest.raises(DeviceOffline, match="No matching endpoints"):
            await plain.connect()  # the server offers no unsecured endpoint
        secured_config = sim.config("secured").model_copy(
            update={"security": f"Basic256Sha256,SignAndEncrypt,{client_cert},{client_key}"})
        secured = OpcUaDevice.from_config(secured_config, retry_delay_s=0.01)
        await secured.connect()
        try:
            await secured.refresh_capabilities()
            assert await secured.apply(Setpoint(1500.0)) == 1500.0
        finally:
            await secured.close()
    finally:
        await sim.stop()
