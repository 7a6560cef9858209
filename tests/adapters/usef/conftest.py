"""Fixtures for the UFTP adapter: the official XSDs beside the repo, keys and a live hub."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.usef import keys
from adapters.usef.keys import KeyPair
from adapters.usef.schema import SchemaSet, load_schemas
from conformance.uftp.peer import Peer
from conformance.uftp.receiver import Receiver
from gateway.services.uftp_config import UftpSettings
from gateway.testing import HubTestClient, create_api_key, make_test_client

XSD_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "schemas" / "uftp"
HUB_DOMAIN = "hub.example.com"
DSO_DOMAIN = "dso.example.com"
AGR_DOMAIN = "agr.example.com"


@pytest.fixture(scope="session")
def schemas() -> SchemaSet:
    return load_schemas(str(XSD_DIR.resolve()))


@dataclass
class Hub:
    client: HubTestClient
    keypair: KeyPair
    admin_key: str
    receiver: Receiver
    dso: Peer
    agr: Peer

    def register(self, domain: str, role: str, public_key: str, endpoint: str, **extra: object) -> None:
        reply = self.client.put(
            "/api/v1/uftp/participants", headers={"X-API-Key": self.admin_key},
            json={"domain": domain, "role": role, "public_key": public_key, "endpoint": endpoint, **extra},
        )
        assert reply.status_code == 200, reply.text

    def settings(self) -> UftpSettings:
        return self.client.app.state.uftp_settings


def make_hub(tmp_path: Path, schemas: SchemaSet, **settings: object) -> Iterator[Hub]:
    hub_keys = keys.generate()
    client = make_test_client(tmp_path)
    client.app.state.uftp_settings = UftpSettings(
        domain=HUB_DOMAIN, private_key=hub_keys.private_key, xsd_dir=str(XSD_DIR.resolve()),
        flush_interval_seconds=0.2, retry_base_seconds=0.1, **settings,
    )
    admin = create_api_key(client.app, "admin", ["admin"])
    receiver = Receiver({(HUB_DOMAIN, "AGR"): hub_keys.public_key, (HUB_DOMAIN, "DSO"): hub_keys.public_key}, schemas)
    receiver.start()
    dso_keys, agr_keys = keys.generate(), keys.generate()
    dso = Peer(DSO_DOMAIN, "DSO", dso_keys, HUB_DOMAIN, "/api/v1/uftp", receiver, client)
    agr = Peer(AGR_DOMAIN, "AGR", agr_keys, HUB_DOMAIN, "/api/v1/uftp", receiver, client)
    hub = Hub(client, hub_keys, admin, receiver, dso, agr)
    hub.register(DSO_DOMAIN, "DSO", dso_keys.public_key, receiver.url)
    hub.register(AGR_DOMAIN, "AGR", agr_keys.public_key, receiver.url)
    try:
        yield hub
    finally:
        client.close()
        receiver.stop()


@pytest.fixture
def hub(tmp_path: Path, schemas: SchemaSet) -> Iterator[Hub]:
    yield from make_hub(tmp_path, schemas)
