"""A DSO's CIM need becomes a UFTP FlexRequest: mapping rules, then end to end on loopback.

The FlexRequest is received by an independent UFTP peer (conformance receiver: seal
checked, payload validated against the official UFTP XSDs), and the hub's own UFTP
receiving side then accepts a FlexOffer that refers to it, so the request was stored
as the hub's outbound message.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from shapeshifter_uftp.uftp import AvailableRequested, FlexRequest
from sqlalchemy import select

from adapters.cim.safe_xml import parse_xml
from adapters.cim.tree import decode
from adapters.cim.xsd import XsdCatalog
from adapters.usef import build as m
from adapters.usef.safexml import parse_xml as uftp_xml
from adapters.usef.schema import SchemaSet, load_schemas
from core.flexoffer import FlexOffer, Profile
from gateway.db.uftp import UftpMessage
from gateway.services.cim_to_uftp import need_isps, schedule_isps
from tests.adapters.cim.conftest import HUB_MRID, XSD_DIR
from tests.adapters.usef.conftest import AGR_DOMAIN, Hub, make_hub
from tests.adapters.usef.conftest import XSD_DIR as UFTP_XSD_DIR

pytestmark = pytest.mark.xdist_group("cim_xmlschema")

DSO_MRID = "11XDSO-WEST---1"
AMS = ZoneInfo("Europe/Amsterdam")


def need_document(day: date, points: list[tuple[float, float | None]], resolution: str = "PT15M",
                  hour: int = 10, direction: str = "A01", mrid: str = "NEED-0001") -> bytes:
    """A ReserveBid from a DSO with one B75 (need) series of (quantity kW, minimum kW) points."""
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    minutes = {"PT15M": 15, "PT30M": 30, "PT60M": 60}[resolution]
    end = start + timedelta(minutes=minutes * len(points))
    stamp = "%Y-%m-%dT%H:%MZ"
    rows = "".join(
        f"<Point><position>{i}</position><quantity.quantity>{q:g}</quantity.quantity>"
        + ("" if least is None else f"<minimum_Quantity.quantity>{least:g}</minimum_Quantity.quantity>")
        + "<price.amount>300</price.amount></Point>"
        for i, (q, least) in enumerate(points, start=1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ReserveBid_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-7:reservebiddocument:7:4">
  <mRID>{mrid}</mRID>
  <revisionNumber>1</revisionNumber>
  <type>A37</type>
  <process.processType>A47</process.processType>
  <sender_MarketParticipant.mRID codingScheme="A01">{DSO_MRID}</sender_MarketParticipant.mRID>
  <sender_MarketParticipant.marketRole.type>A18</sender_MarketParticipant.marketRole.type>
  <receiver_MarketParticipant.mRID codingScheme="A01">{HUB_MRID}</receiver_MarketParticipant.mRID>
  <receiver_MarketParticipant.marketRole.type>A04</receiver_MarketParticipant.marketRole.type>
  <createdDateTime>{datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}</createdDateTime>
  <reserveBid_Period.timeInterval><start>{start.strftime(stamp)}</start><end>{end.strftime(stamp)}</end></reserveBid_Period.timeInterval>
  <domain.mRID codingScheme="A01">10YNL----------L</domain.mRID>
  <subject_MarketParticipant.mRID codingScheme="A01">{DSO_MRID}</subject_MarketParticipant.mRID>
  <subject_MarketParticipant.marketRole.type>A18</subject_MarketParticipant.marketRole.type>
  <Bid_TimeSeries>
    <mRID>NEED-TS-1</mRID>
    <businessType>B75</businessType>
    <acquiring_Domain.mRID codingScheme="A01">10YNL----------L</acquiring_Domain.mRID>
    <connecting_Domain.mRID codingScheme="A01">10YNL----------L</connecting_Domain.mRID>
    <quantity_Measurement_Unit.name>KWT</quantity_Measurement_Unit.name>
    <currency_Unit.name>EUR</currency_Unit.name>
    <price_Measurement_Unit.name>MWH</price_Measurement_Unit.name>
    <divisible>A01</divisible>
    <flowDirection.direction>{direction}</flowDirection.direction>
    <Period>
      <timeInterval><start>{start.strftime(stamp)}</start><end>{end.strftime(stamp)}</end></timeInterval>
      <resolution>{resolution}</resolution>
      {rows}
    </Period>
  </Bid_TimeSeries>
</ReserveBid_MarketDocument>""".encode()


def _offer(lower: list[float], upper: list[float], start: datetime, seconds: int = 900) -> FlexOffer:
    return FlexOffer(id="n", earliest_start=start, interval_seconds=seconds,
                     profile=Profile(energy_lower=lower, energy_upper=upper))


def test_need_ranges_and_isp_numbering() -> None:
    day = date(2026, 6, 10)  # CEST: local midnight is 22:00 UTC the day before
    requested: dict = {}
    # 300 kW up with a 200 kW minimum for 15 min = -75..-50 kWh; an hour slot of 100 kW exactly.
    need_isps(_offer([-75.0], [-50.0], datetime(2026, 6, 10, 8, tzinfo=UTC)), AMS, requested)
    need_isps(_offer([-100.0], [0.0], datetime(2026, 6, 10, 9, tzinfo=UTC), 3600), AMS, requested)
    assert requested == {day: {41: (-300_000, -200_000), 45: (-100_000, -100_000), 46: (-100_000, -100_000),
                               47: (-100_000, -100_000), 48: (-100_000, -100_000)}}
    # Down regulation (consume more) is positive; a need across local midnight splits by period.
    split: dict = {}
    need_isps(_offer([25.0, 25.0], [25.0, 25.0], datetime(2026, 6, 10, 21, 45, tzinfo=UTC)), AMS, split)
    assert split == {day: {96: (100_000, 100_000)}, day + timedelta(days=1): {1: (100_000, 100_000)}}


def test_a_schedule_of_required_flexibility_asks_for_exactly_its_values() -> None:
    requested: dict = {}
    start = datetime(2026, 6, 10, 8, tzinfo=UTC)  # ISP 41 in Amsterdam
    schedule_isps("TS-1", start, 1800, [-50.0, 0.0, 10.0], AMS, requested)
    assert requested == {date(2026, 6, 10): {41: (-100_000, -100_000), 42: (-100_000, -100_000),
                                             45: (20_000, 20_000), 46: (20_000, 20_000)}}


def test_dst_day_numbers_isps_in_elapsed_time() -> None:
    requested: dict = {}
    # 2026-03-29 springs forward: local 03:00 CEST (01:00 UTC) is the 9th ISP, not the 13th.
    need_isps(_offer([-10.0], [-10.0], datetime(2026, 3, 29, 1, tzinfo=UTC)), AMS, requested)
    assert requested == {date(2026, 3, 29): {9: (-40_000, -40_000)}}


@pytest.fixture
def uftp_hub(tmp_path: Path) -> Iterator[Hub]:
    schemas: SchemaSet = load_schemas(str(UFTP_XSD_DIR.resolve()))
    yield from make_hub(tmp_path, schemas, time_zone="Europe/Amsterdam")


def _register_cim(hub: Hub) -> dict[str, str]:
    admin = {"X-API-Key": hub.admin_key}
    for mrid, roles, is_hub in ((HUB_MRID, ["A04", "A34"], True), (DSO_MRID, ["A18"], False)):
        reply = hub.client.put(f"/api/v1/cim/parties/{mrid}", json={"roles": roles, "hub": is_hub}, headers=admin)
        assert reply.status_code == 200, reply.text
    return admin


def test_need_is_sent_as_a_flex_request_and_the_hub_accepts_offers_for_it(uftp_hub: Hub) -> None:
    hub = uftp_hub
    admin = _register_cim(hub)
    day = m.tomorrow("Europe/Amsterdam")
    document = need_document(day, [(300, 200), (300, 200), (250, None), (0, None)])
    reply = hub.client.post("/api/v1/cim", content=document, headers=admin, params={
        "uftp_flex_request": "true", "congestion_point": m.DEFAULT_CONGESTION_POINT, "agr": AGR_DOMAIN})
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-CIM-Status"] == "A01"
    ack = parse_xml(reply.content)
    assert XsdCatalog(str(XSD_DIR), "lxml").validate(ack) == []
    assert [r["code"] for r in decode(ack).fields["Reason"]] == ["A01"]
    (message_id,) = reply.headers["X-UFTP-FlexRequest"].split(",")

    request: FlexRequest = hub.receiver.wait_for(lambda x: isinstance(x, FlexRequest))
    assert request.message_id == message_id and request.recipient_domain == AGR_DOMAIN
    assert request.congestion_point == m.DEFAULT_CONGESTION_POINT and str(request.period) == day.isoformat()
    first = int((datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
                 - datetime(day.year, day.month, day.day, tzinfo=AMS).astimezone(UTC)) // timedelta(minutes=15)) + 1
    wanted = {i.start: (i.min_power, i.max_power) for i in request.isps
              if i.disposition == AvailableRequested.REQUESTED}
    assert wanted == {first: (-300_000, -200_000), first + 1: (-300_000, -200_000), first + 2: (-250_000, -250_000)}
    assert hub.receiver.errors == []

    with hub.client.app.state.sessionmaker() as session:
        stored = session.scalars(select(UftpMessage).where(UftpMessage.message_id == message_id)).one()
    assert (stored.direction, stored.message_type, stored.counterparty) == ("out", "FlexRequest", AGR_DOMAIN)
    assert hub.receiver.schemas is not None
    assert hub.receiver.schemas.errors(uftp_xml(stored.xml.encode())) == []  # the stored copy is XSD-valid too
    # The hub's own UFTP (DSO) side knows the request: an aggregator's offer for it is accepted.
    offer = m.flex_offer(day, flex_request_message_id=message_id, isps=[(first, -250_000)], price="40",
                         tz="Europe/Amsterdam")
    answer = hub.agr.exchange(offer)
    assert (answer.result, answer.rejection_reason) == ("Accepted", None)

    # A replay of the same CIM document is acknowledged again but requests nothing twice.
    again = hub.client.post("/api/v1/cim", content=document, headers=admin, params={
        "uftp_flex_request": "true", "congestion_point": m.DEFAULT_CONGESTION_POINT, "agr": AGR_DOMAIN})
    assert again.status_code == 200 and again.headers["X-UFTP-FlexRequest"] == ""


def test_a_hub_outside_the_dso_role_refuses_before_storing_anything(uftp_hub: Hub) -> None:
    hub = uftp_hub
    admin = _register_cim(hub)
    day = m.tomorrow("Europe/Amsterdam")
    hub.client.app.state.uftp_settings = hub.settings().model_copy(update={"roles": ["AGR"]})
    reply = hub.client.post("/api/v1/cim", content=need_document(day, [(100, None)]), headers=admin,
                            params={"uftp_flex_request": "true", "congestion_point": m.DEFAULT_CONGESTION_POINT})
    assert reply.status_code == 409 and reply.headers["content-type"] == "application/problem+json"
    # Nothing was stored: a refused request leaves no half-processed document behind.
    assert hub.client.get("/api/v1/cim/documents", headers=admin).json() == []


def test_requests_need_a_known_aggregator_and_a_congestion_point(uftp_hub: Hub) -> None:
    hub = uftp_hub
    admin = _register_cim(hub)
    day = m.tomorrow("Europe/Amsterdam")
    document = need_document(day, [(100, None)])
    missing_cp = hub.client.post("/api/v1/cim", content=document, headers=admin, params={"uftp_flex_request": "true"})
    assert missing_cp.status_code == 422
    stranger = hub.client.post("/api/v1/cim", content=document, headers=admin, params={
        "uftp_flex_request": "true", "congestion_point": m.DEFAULT_CONGESTION_POINT, "agr": "nobody.example.com"})
    assert stranger.status_code == 404


def test_a_request_the_uftp_schema_refuses_rejects_the_document_so_it_can_be_resent(uftp_hub: Hub) -> None:
    hub = uftp_hub
    admin = _register_cim(hub)
    document = need_document(m.tomorrow("Europe/Amsterdam"), [(100, None)], mrid="NEED-RETRY")
    refused = hub.client.post("/api/v1/cim", content=document, headers=admin, params={
        "uftp_flex_request": "true", "congestion_point": "not-an-entity-address", "agr": AGR_DOMAIN})
    assert refused.status_code == 200 and refused.headers["X-CIM-Status"] == "A02"
    assert refused.headers["X-UFTP-FlexRequest"] == ""
    reasons = decode(parse_xml(refused.content)).fields["Reason"]
    assert reasons[0]["code"] == "A02" and "UFTP FlexRequest not sent" in str(reasons)
    with hub.client.app.state.sessionmaker() as session:
        assert session.scalars(select(UftpMessage).where(UftpMessage.message_type == "FlexRequest")).all() == []
    # The same document, resent with a valid congestion point, goes through.
    resent = hub.client.post("/api/v1/cim", content=document, headers=admin, params={
        "uftp_flex_request": "true", "congestion_point": m.DEFAULT_CONGESTION_POINT, "agr": AGR_DOMAIN})
    assert resent.headers["X-CIM-Status"] == "A01" and resent.headers["X-UFTP-FlexRequest"]
    assert hub.receiver.wait_for(lambda x: isinstance(x, FlexRequest)).message_id == resent.headers[
        "X-UFTP-FlexRequest"]
