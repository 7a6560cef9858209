"""The hub's CIM channels end to end: REST endpoint, inbox directory, outbound delivery, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cim.inbox import InboxWatcher
from adapters.cim.outbound import deliver
from adapters.cim.safe_xml import parse_xml
from adapters.cim.tree import decode
from gateway.api.cim import receive_document
from gateway.cli import app as cli_app
from gateway.testing import create_api_key, live_server, make_test_client
from tests.adapters.cim.conftest import HUB_MRID, PARTIES, XSD_DIR
from tests.adapters.cim.test_cim_safe_xml import BILLION_LAUGHS

# Tests that compile ENTSO-E schemas with xmlschema share one xdist worker: compiled once.
pytestmark = pytest.mark.xdist_group("cim_xmlschema")


SAMPLES = Path(__file__).parent / "samples"
BID = (SAMPLES / "mfrr_bid_v7_4.xml").read_bytes()


def register_parties(client, admin: str) -> None:
    for mrid, roles in PARTIES.items():
        body = {"roles": sorted(roles), "hub": mrid == HUB_MRID}
        assert client.put(f"/api/v1/cim/parties/{mrid}", json=body, headers={"X-API-Key": admin}).status_code == 200


@pytest.fixture
def cim_hub(tmp_path: Path, database_url: str):
    """A hub with the CIM parties registered, on SQLite and (when reachable) PostgreSQL."""
    client = make_test_client(tmp_path, database_url=database_url, cim={"xsd_dir": str(XSD_DIR)})
    admin = create_api_key(client.app, "ops", ["admin"])
    register_parties(client, admin)
    key = create_api_key(client.app, "bsp-north", ["read", "write"])
    try:
        yield client, {"X-API-Key": key}, {"X-API-Key": admin}
    finally:
        client.close()


def ack_codes(body: bytes, xsd) -> list[str]:
    root = parse_xml(body)
    assert xsd.validate(root) == []
    return [r["code"] for r in decode(root).fields["Reason"]]


def test_post_answers_with_an_acknowledgement_and_stores_the_document(cim_hub, xsd) -> None:
    client, headers, _ = cim_hub
    response = client.post("/api/v1/cim", content=BID, headers={**headers, "Content-Type": "application/xml"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    assert ack_codes(response.content, xsd) == ["A01"]
    assert response.headers["X-CIM-Status"] == "A01"
    (row,) = client.get("/api/v1/cim/documents", headers=headers).json()
    assert row["kind"] == "ReserveBid_MarketDocument" and row["status"] == "A01" and row["version"] == "7.4"
    stored = client.get(f"/api/v1/cim/documents/{row['id']}", headers=headers)
    assert stored.content == BID  # byte-for-byte as received
    assert client.get(f"/api/v1/cim/documents/{row['id']}/ack", headers=headers).content == response.content


def test_rejected_and_hostile_documents_are_stored_too(cim_hub, xsd) -> None:
    client, headers, _ = cim_hub
    for body in (BILLION_LAUGHS, b"not xml at all", BID.replace(b"reservebiddocument:7:4", b"unknown:1:0")):
        response = client.post("/api/v1/cim", content=body, headers=headers)
        assert response.status_code == 200 and ack_codes(response.content, xsd)[0] == "A02"
    rows = client.get("/api/v1/cim/documents", headers=headers).json()
    assert [r["status"] for r in rows] == ["A02", "A02", "A02"]


def test_revision_rules_use_the_store(cim_hub, xsd) -> None:
    client, headers, _ = cim_hub
    assert client.post("/api/v1/cim", content=BID, headers=headers).headers["X-CIM-Status"] == "A01"
    assert client.post("/api/v1/cim", content=BID, headers=headers).headers["X-CIM-Status"] == "A01"
    changed = BID.replace(b"<price.amount>85.5<", b"<price.amount>99<", 1)
    assert ack_codes(client.post("/api/v1/cim", content=changed, headers=headers).content, xsd) == ["A02", "A51"]


def test_authentication_and_limits_are_problem_documents(tmp_path: Path) -> None:
    client = make_test_client(tmp_path, max_body_bytes=4096, cim={"max_body_bytes": 4096})
    try:
        response = client.post("/api/v1/cim", content=BID[:1000])
        assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
        key = create_api_key(client.app, "bsp", ["write"])
        response = client.post("/api/v1/cim", content=BID, headers={"X-API-Key": key})
        assert response.status_code == 413
        response = client.post("/api/v1/cim", content=b"", headers={"X-API-Key": key})
        assert response.status_code == 400
    finally:
        client.close()


def test_without_a_hub_identity_documents_are_not_for_us(tmp_path: Path, xsd) -> None:
    client = make_test_client(tmp_path)
    try:
        key = create_api_key(client.app, "bsp", ["write"])
        response = client.post("/api/v1/cim", content=BID, headers={"X-API-Key": key})
        assert "A53" in ack_codes(response.content, xsd)
    finally:
        client.close()


def test_inbox_moves_files_and_writes_acknowledgements(cim_hub, tmp_path: Path, xsd) -> None:
    client, _, _ = cim_hub
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"

    def handle(data: bytes, name: str) -> tuple[str, bytes]:
        with client.app.state.sessionmaker() as session:
            result = receive_document(session, client.app.state.settings, data, "inbox")
        return result.status, result.ack_xml

    watcher = InboxWatcher(inbox, handle, outbox)
    (inbox / "bid.xml").write_bytes(BID)
    (inbox / "bomb.xml").write_bytes(BILLION_LAUGHS)
    (inbox / "half-written.xml.tmp").write_bytes(BID[:100])
    handled = {h.name: h.status for h in watcher.scan_once()}
    assert handled == {"bid.xml": "A01", "bomb.xml": "A02"}
    assert (inbox / "processed" / "bid.xml").read_bytes() == BID
    assert ack_codes((inbox / "processed" / "bid.ack.xml").read_bytes(), xsd) == ["A01"]
    assert (inbox / "failed" / "bomb.xml").exists()
    assert ack_codes((outbox / "bomb.ack.xml").read_bytes(), xsd)[0] == "A02"
    assert (inbox / "half-written.xml.tmp").exists()
    assert watcher.scan_once() == []


def test_outbound_delivery_over_http_and_to_a_directory(tmp_path: Path, xsd) -> None:
    with live_server(tmp_path, cim={"xsd_dir": str(XSD_DIR)}) as (base, app):
        admin = create_api_key(app, "ops", ["admin"])
        import httpx

        for mrid, roles in PARTIES.items():
            httpx.put(
                f"{base}/api/v1/cim/parties/{mrid}",
                json={"roles": sorted(roles), "hub": mrid == HUB_MRID},
                headers={"X-API-Key": admin},
            ).raise_for_status()
        key = create_api_key(app, "bsp", ["write"])
        result = deliver(f"{base}/api/v1/cim", "bid", BID, headers={"X-API-Key": key})
        assert result.ok and result.acknowledgement is not None and result.acknowledgement.status == "A01"
        bad = deliver(f"{base}/api/v1/cim", "bid", BID.replace(b">1</revisionNumber>", b">0</revisionNumber>"))
        assert not bad.ok  # no key: 401
    unreachable = deliver(f"{base}/api/v1/cim", "bid", BID, timeout=2)
    assert not unreachable.ok
    written = deliver(str(tmp_path / "out"), "RAR 1/2", BID)
    assert written.ok and (tmp_path / "out" / "RAR_1_2.xml").read_bytes() == BID


runner = CliRunner()


def test_cli_validate_reports_each_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(BID.replace(b"<position>2</position>", b"<position>7</position>", 1))
    good = SAMPLES / "schedule_v5_2.xml"
    result = runner.invoke(cli_app, ["cim", "validate", "--xsd-dir", str(XSD_DIR), str(good)])
    assert result.exit_code == 0 and result.output.strip() == f"{good}: valid"
    result = runner.invoke(cli_app, ["cim", "validate", "--xsd-dir", str(XSD_DIR), str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: invalid: BID-UP-0001: positions are not contiguous" in result.output
    xsd_only = tmp_path / "code.xml"
    xsd_only.write_bytes(BID.replace(b"<businessType>B74<", b"<businessType>ZZZ<", 1))
    assert runner.invoke(cli_app, ["cim", "validate", str(xsd_only)]).exit_code == 0  # structure alone
    result = runner.invoke(cli_app, ["cim", "validate", "--xsd-dir", str(XSD_DIR), str(xsd_only)])
    assert result.exit_code == 1 and "businessType" in result.output


def test_cli_inbox_once_and_parties(tmp_path: Path, monkeypatch, xsd) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    monkeypatch.setenv("FLEXHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    monkeypatch.setenv("FLEXHUB_CIM__INBOX_DIR", str(inbox))
    monkeypatch.setenv("FLEXHUB_CIM__XSD_DIR", str(XSD_DIR))
    for mrid, roles in PARTIES.items():
        args = ["cim", "party", "add", mrid, *[a for r in sorted(roles) for a in ("--role", r)]]
        result = runner.invoke(cli_app, [*args, "--hub"] if mrid == HUB_MRID else args)
        assert result.exit_code == 0, result.output
    assert f"{HUB_MRID}\tA04,A34\thub" in runner.invoke(cli_app, ["cim", "party", "list"]).output
    (inbox / "a.xml").write_bytes(BID)
    result = runner.invoke(cli_app, ["cim", "inbox", "--once"])
    assert result.exit_code == 0 and result.output.strip() == "a.xml: A01"
    assert ack_codes((inbox / "processed" / "a.ack.xml").read_bytes(), xsd) == ["A01"]


def test_bids_flow_into_a_market_and_results_come_back_as_allocation(cim_hub, tmp_path, xsd, xsd_strict) -> None:
    client, headers, admin = cim_hub
    dso = {"X-API-Key": create_api_key(client.app, "dso", ["read", "write"])}
    config = {
        "id": "mfrr-no1",
        "start": "2024-03-01T10:00:00Z",
        "mtu_seconds": 900,
        "mtu_count": 4,
        "zones": ["10YNO-1--------2"],
        "mode": "many_to_many",
    }
    assert client.post("/api/v1/markets", json=config, headers=admin).status_code == 201
    unknown = client.post("/api/v1/cim?market=nope", content=BID, headers=headers)
    assert unknown.status_code == 404
    response = client.post("/api/v1/cim?market=mfrr-no1", content=BID, headers=headers)
    fields = decode(parse_xml(response.content)).fields
    assert xsd.validate(parse_xml(response.content)) == []
    # The PT30M block bid cannot enter a PT15M market: that series alone is refused.
    assert response.headers["X-CIM-Status"] == "B70"
    rejected = {ts["mRID"]: [r["code"] for r in ts["Reason"]] for ts in fields["Rejected_TimeSeries"]}
    assert rejected == {"BID-LINK-0004": ["A20", "A59"]}
    bids = client.get("/api/v1/markets/mfrr-no1/bids", headers=admin).json()
    assert {b["bid_id"] for b in bids} == {"BID-UP-0001", "BID-DOWN-0002", "BID-LINK-0003"}
    # The replayed document is acknowledged but does not bid twice.
    assert client.post("/api/v1/cim?market=mfrr-no1", content=BID, headers=headers).status_code == 200
    assert len(client.get("/api/v1/markets/mfrr-no1/bids", headers=admin).json()) == 3
    need = {
        "id": "need-1",
        "zone": "10YNO-1--------2",
        "start": "2024-03-01T10:15:00Z",
        "quantities_kwh": [2500.0],
        "limit_price": 0.2,
    }
    assert client.post("/api/v1/markets/mfrr-no1/bids", json=need, headers=dso).status_code == 201
    assert client.post("/api/v1/markets/mfrr-no1/clear", headers=admin).status_code == 200
    allocation = client.get("/api/v1/cim/markets/mfrr-no1/allocation", headers=headers)
    assert allocation.status_code == 200, allocation.text
    root = parse_xml(allocation.content)
    assert xsd.validate(root) == [] and xsd_strict.validate(root) == []
    doc = decode(root).fields
    assert doc["receiver_MarketParticipant.mRID"] == "46X-BSP-NORTH--1"
    series = {ts["bid_Original_MarketDocument.bid_BidTimeSeries.mRID"]: ts for ts in doc["TimeSeries"]}
    assert set(series) == {"BID-UP-0001", "BID-DOWN-0002", "BID-LINK-0003"}
    link = series["BID-LINK-0003"]
    # 2500 kWh of the 3000 kWh (12 MW) bid: divided to 10 MW, at the cleared price.
    assert link["Reason"][0]["code"] == "A72" and link["Period"][0].columns["quantity"] == ["10"]
    assert series["BID-DOWN-0002"]["Reason"][0]["code"] == "B09"
    # Operators can push the same result into the outbox (or to a URL).
    outbox = tmp_path / "outbox"
    pushed = client.post(
        "/api/v1/cim/markets/mfrr-no1/allocation/delivery", params={"to": str(outbox)}, headers=admin
    ).json()
    assert pushed["delivered"] and pushed["receiver"] == "46X-BSP-NORTH--1"
    (written,) = outbox.glob("*.xml")
    assert xsd.validate(parse_xml(written.read_bytes())) == []
    assert client.post("/api/v1/cim/markets/mfrr-no1/allocation/delivery", headers=headers).status_code == 403


def test_accepted_activation_is_served_as_schedules(cim_hub) -> None:
    client, headers, _admin = cim_hub
    # The hub receives the activation as the BSP's agent: make it the receiver.
    activation = (SAMPLES / "mfrr_activation_v6_3.xml").read_bytes()
    activation = activation.replace(b">10X1001A1001A38Y<", b">11X-DSO-EXAMPLE<").replace(
        b">46X-BSP-NORTH--1</receiver", b">10X1001A1001A38Y</receiver"
    )
    activation = activation.replace(
        b"<sender_MarketParticipant.marketRole.type>A04<", b"<sender_MarketParticipant.marketRole.type>A50<"
    )
    activation = activation.replace(
        b"<receiver_MarketParticipant.marketRole.type>A46<", b"<receiver_MarketParticipant.marketRole.type>A04<"
    )
    response = client.post("/api/v1/cim", content=activation, headers=headers)
    assert response.headers["X-CIM-Status"] == "A01", response.text
    (row,) = client.get("/api/v1/cim/documents", headers=headers).json()
    (schedule,) = client.get(f"/api/v1/cim/documents/{row['id']}/schedules", headers=headers).json()
    assert schedule["resource"] == "NOKG00123" and schedule["status"] == "A10"
    assert schedule["start"] == "2024-03-01T10:15:00+00:00" and schedule["energyKwh"] == [-6250.0]
    client.post("/api/v1/cim", content=b"<bad/>", headers=headers)
    rows = client.get("/api/v1/cim/documents", headers=headers).json()
    assert client.get(f"/api/v1/cim/documents/{rows[0]['id']}/schedules", headers=headers).status_code == 409


def test_cli_send_checks_then_delivers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLEXHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    monkeypatch.setenv("FLEXHUB_CIM__OUTBOX_DIR", str(tmp_path / "out"))
    result = runner.invoke(cli_app, ["cim", "send", str(SAMPLES / "mfrr_allocation_v6_4.xml")])
    assert result.exit_code == 0 and result.output.startswith("delivered: written to")
    assert (tmp_path / "out" / "mfrr_allocation_v6_4.xml").read_bytes() == (
        SAMPLES / "mfrr_allocation_v6_4.xml"
    ).read_bytes()
    broken = tmp_path / "broken.xml"
    broken.write_bytes(BID.replace(b"<position>1</position>", b"<position>0</position>", 1))
    result = runner.invoke(cli_app, ["cim", "send", str(broken)])
    assert result.exit_code == 1 and not (tmp_path / "out" / "broken.xml").exists()
