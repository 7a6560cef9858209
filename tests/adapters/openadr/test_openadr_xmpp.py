"""OpenADR 2.0b over XMPP against a real prosody server on loopback (Debian package)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.openadr import codec
from adapters.openadr.messages import decode, encode
from adapters.openadr.schema import check_document
from adapters.openadr.ven import VenClient
from adapters.openadr.xmpp import OadrXmppClient, connect
from gateway.db.openadr import OadrDelivery
from gateway.services.openadr_events import create_event
from gateway.services.openadr_vtn import OpenADRSettings, VtnService
from gateway.services.openadr_xmpp import XmppVtn
from gateway.services.store import open_store
from gateway.testing import free_port, test_settings

pytestmark = [pytest.mark.xdist_group("openadr-xmpp"),
              pytest.mark.skipif(shutil.which("prosody") is None, reason="prosody is installed by .ci/run")]

CONFIG = """
run_as_root = true
pidfile = "{root}/prosody.pid"
data_path = "{root}/data"
certificates = "{root}/certs"
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_direct_tls_ports = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; }}
modules_disabled = {{ "s2s"; "http"; "tls"; }}
authentication = "internal_plain"
allow_unencrypted_plain_auth = true
c2s_require_encryption = false
log = {{ {{ levels = {{ min = "error" }}, to = "file", filename = "{root}/prosody.log" }} }}
VirtualHost "localhost"
"""


@pytest.fixture
def prosody(tmp_path: Path) -> Iterator[int]:
    root = tmp_path / "prosody"
    (root / "data").mkdir(parents=True)
    (root / "certs").mkdir()
    port = free_port()
    config = root / "prosody.cfg.lua"
    config.write_text(CONFIG.format(root=root, port=port))
    for user in ("vtn", "ven1", "ven2"):
        subprocess.run(["prosodyctl", "--config", str(config), "register", user, "localhost", "secret"],
                       check=True, capture_output=True, cwd=root, timeout=60)
    server = subprocess.Popen(["prosody", "--config", str(config), "-F"], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("prosody did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def test_register_poll_and_pushed_event_over_xmpp(prosody: int, tmp_path: Path) -> None:
    engine, factory = open_store(test_settings(tmp_path / "hub"), migrate=True)
    vtn_service = VtnService(factory, OpenADRSettings())
    vtn = XmppVtn(vtn_service, "vtn@localhost/hub", "secret", allow_plain=True)
    checked: list[str | None] = []

    def check(xml: str | bytes) -> None:
        checked.append(check_document(xml))

    ven_xmpp = OadrXmppClient("ven1@localhost/ems", "secret", allow_plain=True)
    ven = VenClient("xmpp:vtn@localhost", "xmpp-ven", ven_id="xven-1", on_event=lambda e: "optIn",
                    exchange=lambda service, body: ven_xmpp.exchange("vtn@localhost/hub", body),
                    transport_name="xmpp", sent=check, received=check)

    async def on_push(body: bytes, sender: str) -> bytes:
        check(body)
        return (await ven.handle_push(body)).encode()

    ven_xmpp.on_payload = on_push
    rogue = OadrXmppClient("ven2@localhost/x", "secret", allow_plain=True)
    try:
        for client in (vtn.client, ven_xmpp, rogue):
            await connect(client, "127.0.0.1", prosody)
        state = await ven.register(push_address="ven1@localhost/ems")
        assert state.ven_id == "xven-1"
        assert await ven.poll() == "oadrResponse"

        start = datetime.now(UTC) + timedelta(hours=1)
        with factory() as session:
            create_event(session, event_id="x-ev", ven_ids=["xven-1"], signals=[
                codec.EventSignal("SIMPLE", "level", [codec.SignalInterval(start, timedelta(minutes=30), 1.0)])])
            session.commit()
        assert await vtn.push_once() == 1
        with factory() as session:
            delivery = session.scalar(select(OadrDelivery).where(OadrDelivery.event_id == "x-ev"))
            assert delivery is not None and delivery.opt_type == "optIn"
        assert ven.state.events["x-ev"]["event_descriptor"]["event_status"] == "far"

        stolen = await rogue.exchange("vtn@localhost/hub", encode("oadrPoll", ven_id="xven-1").encode())
        assert stolen is not None
        assert decode(stolen).payload["response"]["response_code"] == 463
    finally:
        for client in (vtn.client, ven_xmpp, rogue):
            client.disconnect()
        engine.dispose()
    assert checked and all(reason is None for reason in checked)
