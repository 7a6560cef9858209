"""The hub as a 2.0b VTN over simple HTTP pull: every reply is checked against oadr_20b.xsd."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.openadr.messages import encode
from gateway.db.flexoffer import StoredFlexOffer
from gateway.services.openadr_testing import VTN_PATH, RawVen, make_vtn_client


@pytest.fixture
def hub(tmp_path: Path):
    client, key = make_vtn_client(tmp_path, max_body_bytes=200_000)
    with client:
        yield client, {"X-API-Key": key}


def _event_body(ven_ids: list[str], start: datetime, values: list[float]) -> dict:
    return {
        "ven_ids": ven_ids,
        "dtstart": start.isoformat(),
        "signals": [{"signal_name": "LOAD_DISPATCH", "signal_type": "setpoint", "unit": "kW",
                     "intervals": [{"duration_seconds": 900, "value": v} for v in values]}],
    }


def test_query_and_register_echo_ids(hub) -> None:
    client, _ = hub
    ven = RawVen(client)
    query = ven.send("EiRegisterParty", "oadrQueryRegistration", request_id="q-1")
    assert query.message_type == "oadrCreatedPartyRegistration"
    assert query.payload["response"]["request_id"] == "q-1"
    assert query.payload["vtn_id"] == "FLEXHUB-VTN"
    reply = ven.register()
    assert reply.payload["response"]["request_id"] == "reg-1"
    assert reply.payload["ven_id"] and reply.payload["registration_id"]
    assert reply.payload["requested_oadr_poll_freq"] == timedelta(seconds=10)
    # reregistration keeps the identity
    again = ven.register(registration_id=ven.registration_id)
    assert again.payload["ven_id"] == ven.ven_id
    assert again.payload["registration_id"] == ven.registration_id


def test_reregistration_with_foreign_registration_id_is_452(hub) -> None:
    client, _ = hub
    ven = RawVen(client, "ven-a")
    ven.register()
    reply = ven.send("EiRegisterParty", "oadrCreatePartyRegistration", request_id="r2", ven_name="x",
                     ven_id="ven-a", registration_id="not-mine", http_pull_model=True, xml_signature=False,
                     report_only=False, profile_name="2.0b", transport_name="simpleHttp")
    assert reply.payload["response"]["response_code"] == 452
    assert reply.payload["response"]["request_id"] == "r2"


def test_unregistered_ven_gets_463_with_its_ven_id(hub) -> None:
    client, _ = hub
    reply = RawVen(client, "ghost").poll()
    assert reply.message_type == "oadrResponse"
    assert reply.payload["response"]["response_code"] == 463
    assert reply.payload["ven_id"] == "ghost"


def test_cancel_registration_then_polls_are_refused(hub) -> None:
    client, _ = hub
    ven = RawVen(client, "ven-c")
    ven.register()
    wrong = ven.send("EiRegisterParty", "oadrCancelPartyRegistration", request_id="c0",
                     registration_id="nope", ven_id="ven-c")
    assert wrong.payload["response"]["response_code"] == 452
    done = ven.send("EiRegisterParty", "oadrCancelPartyRegistration", request_id="c1",
                    registration_id=ven.registration_id, ven_id="ven-c")
    assert done.message_type == "oadrCanceledPartyRegistration"
    assert done.payload["registration_id"] == ven.registration_id
    assert ven.poll().payload["response"]["response_code"] == 463


def test_event_lifecycle_with_opt_in_modification_and_cancellation(hub) -> None:
    client, headers = hub
    ven = RawVen(client, "ven-e")
    ven.register()
    assert ven.poll().message_type == "oadrResponse"
    start = datetime.now(UTC) + timedelta(hours=2)
    created = client.post("/api/v1/openadr/events", headers=headers,
                          json=_event_body(["ven-e"], start, [10, 12]) | {"event_id": "ev-1"})
    assert created.status_code == 201, created.text
    distributed = ven.poll()
    assert distributed.message_type == "oadrDistributeEvent"
    [event] = distributed.payload["events"]
    assert event["event_descriptor"]["event_id"] == "ev-1"
    assert event["event_descriptor"]["event_status"] == "far"
    assert event["event_descriptor"]["modification_number"] == 0
    assert [i["signal_payload"] for i in event["event_signals"][0]["intervals"]] == [10, 12]
    assert ven.poll().message_type == "oadrResponse"  # nothing new

    ack = ven.send("EiEvent", "oadrCreatedEvent", ven_id="ven-e",
                   response={"response_code": 200, "response_description": "OK",
                             "request_id": distributed.payload["request_id"]},
                   event_responses=[{"response_code": 200, "response_description": "OK", "request_id":
                                     distributed.payload["request_id"], "event_id": "ev-1",
                                     "modification_number": 0, "opt_type": "optIn"}])
    assert ack.payload["response"]["response_code"] == 200
    assert ack.payload["response"]["request_id"] == distributed.payload["request_id"]
    view = client.get("/api/v1/openadr/events/ev-1", headers=headers).json()
    assert view["responses"][0]["opt_type"] == "optIn"
    assert view["responses"][0]["responded_modification"] == 0

    changed = client.put("/api/v1/openadr/events/ev-1", headers=headers,
                         json={"dtstart": start.isoformat(), "signals": _event_body([], start, [5])["signals"]})
    assert changed.json()["modification_number"] == 1
    [event] = ven.poll().payload["events"]
    assert event["event_descriptor"]["modification_number"] == 1
    assert event["active_period"]["duration"] == timedelta(minutes=15)

    client.post("/api/v1/openadr/events/ev-1/cancel", headers=headers)
    [event] = ven.poll().payload["events"]
    assert event["event_descriptor"]["event_status"] == "cancelled"
    assert event["event_descriptor"]["modification_number"] == 2

    requested = ven.send("EiEvent", "oadrRequestEvent", request_id="re-1", ven_id="ven-e")
    assert requested.message_type == "oadrDistributeEvent"
    assert requested.payload["response"]["request_id"] == "re-1"


def test_events_by_group_and_unknown_targets(hub) -> None:
    client, headers = hub
    for name in ("g1", "g2"):
        RawVen(client, name).register()
    client.post("/api/v1/openadr/vens", headers=headers, json={"ven_id": "g1", "groups": ["north"]})
    start = datetime.now(UTC) + timedelta(hours=1)
    body = _event_body([], start, [1]) | {"group_ids": ["north"]}
    assert client.post("/api/v1/openadr/events", headers=headers, json=body).status_code == 201
    assert RawVen(client, "g1").poll().message_type == "oadrDistributeEvent"
    assert RawVen(client, "g2").poll().message_type == "oadrResponse"
    bad = client.post("/api/v1/openadr/events", headers=headers, json=_event_body(["nobody"], start, [1]))
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    wrong_type = _event_body(["g1"], start, [1])
    wrong_type["signals"][0]["signal_type"] = "price"
    assert client.post("/api/v1/openadr/events", headers=headers, json=wrong_type).status_code == 422


def test_created_event_for_unknown_event_is_452(hub) -> None:
    client, _ = hub
    ven = RawVen(client, "ven-x")
    ven.register()
    reply = ven.send("EiEvent", "oadrCreatedEvent", ven_id="ven-x",
                     response={"response_code": 200, "response_description": "OK", "request_id": "d-1"},
                     event_responses=[{"response_code": 200, "response_description": "OK", "request_id": "d-1",
                                       "event_id": "nope", "modification_number": 0, "opt_type": "optIn"}])
    assert reply.payload["response"]["response_code"] == 452
    assert reply.payload["ven_id"] == "ven-x"


def test_opt_schedule_is_stored_and_cancellable(hub) -> None:
    client, headers = hub
    ven = RawVen(client, "ven-o")
    ven.register()
    start = datetime(2026, 11, 23, 8, tzinfo=UTC)
    reply = ven.send("EiOpt", "oadrCreateOpt", request_id="o-1", opt_id="opt-1", opt_type="optOut",
                     opt_reason="participating", ven_id="ven-o", created_date_time=start,
                     vavailability={"components": [{"dtstart": start, "duration": timedelta(hours=2)}]},
                     targets=[{"ven_id": "ven-o"}])
    assert reply.message_type == "oadrCreatedOpt"
    assert reply.payload["opt_id"] == "opt-1"
    [opt] = client.get("/api/v1/openadr/opts", headers=headers).json()
    assert opt["windows"] == [{"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}]
    cancelled = ven.send("EiOpt", "oadrCancelOpt", request_id="o-2", opt_id="opt-1", ven_id="ven-o")
    assert cancelled.message_type == "oadrCanceledOpt"
    assert client.get("/api/v1/openadr/opts", headers=headers).json()[0]["cancelled"] is True
    unknown = ven.send("EiOpt", "oadrCancelOpt", request_id="o-3", opt_id="opt-404", ven_id="ven-o")
    assert unknown.payload["response"]["response_code"] == 452


TELEMETRY = {
    "report_specifier_id": "spec-usage", "report_name": "METADATA_TELEMETRY_USAGE", "report_request_id": 0,
    "created_date_time": datetime(2026, 11, 22, tzinfo=UTC), "duration": timedelta(hours=1),
    "report_descriptions": [{
        "r_id": "meter-1", "report_type": "usage", "reading_type": "Direct Read",
        "measurement": {"name": "powerReal", "description": "RealPower", "unit": "W", "scale": "k", "ns": "power",
                        "power_attributes": {"hertz": 50, "voltage": 230, "ac": True}},
        "sampling_rate": {"min_period": timedelta(seconds=60), "max_period": timedelta(hours=1),
                          "on_change": False},
    }],
}
STATUS = {
    "report_specifier_id": "spec-status", "report_name": "METADATA_TELEMETRY_STATUS", "report_request_id": 0,
    "created_date_time": datetime(2026, 11, 22, tzinfo=UTC), "duration": timedelta(hours=1),
    "report_descriptions": [{
        "r_id": "status", "report_type": "x-resourceStatus", "reading_type": "x-notApplicable",
        "sampling_rate": {"min_period": timedelta(seconds=60), "max_period": timedelta(hours=1),
                          "on_change": False},
    }],
}


def _register_reports(ven: RawVen) -> dict[str, str]:
    reply = ven.send("EiReport", "oadrRegisterReport", request_id="rr-reg", ven_id=ven.ven_id,
                     reports=[TELEMETRY, STATUS])
    assert reply.message_type == "oadrRegisteredReport"
    assert reply.payload["response"]["request_id"] == "rr-reg"
    requests = {r["report_specifier"]["report_specifier_id"]: r["report_request_id"]
                for r in reply.payload["report_requests"]}
    assert set(requests) == {"spec-usage", "spec-status"}
    created = ven.send("EiReport", "oadrCreatedReport", ven_id=ven.ven_id,
                       response={"response_code": 200, "response_description": "OK", "request_id": "rr-reg"},
                       pending_reports=[{"report_request_id": r} for r in requests.values()])
    assert created.message_type == "oadrResponse"
    assert created.payload["response"]["request_id"] == "rr-reg"
    return requests


def test_telemetry_reports_become_measurements(hub) -> None:
    client, headers = hub
    ven = RawVen(client, "ven-r")
    ven.register()
    requests = _register_reports(ven)
    t0 = datetime(2026, 11, 22, 8, tzinfo=UTC)
    report = {"report_id": "rep-1", "report_request_id": requests["spec-usage"], "report_specifier_id": "spec-usage",
              "report_name": "TELEMETRY_USAGE", "created_date_time": t0, "dtstart": t0,
              "intervals": [{"dtstart": t0 + timedelta(minutes=k), "duration": timedelta(minutes=1),
                             "report_payload": {"r_id": "meter-1", "value": 3.5 + k}} for k in range(3)]}
    reply = ven.send("EiReport", "oadrUpdateReport", request_id="up-1", ven_id="ven-r", reports=[report])
    assert reply.message_type == "oadrUpdatedReport"
    assert reply.payload["response"]["request_id"] == "up-1"
    rows = client.get("/api/v1/openadr/measurements", params={"ven_id": "ven-r"}, headers=headers).json()
    assert [r["value"] for r in rows] == [3.5, 4.5, 5.5]
    assert rows[0]["report_type"] == "usage" and rows[0]["unit"] == "W"

    stray = dict(report, report_request_id="rr-never-issued")
    refused = ven.send("EiReport", "oadrUpdateReport", request_id="up-2", ven_id="ven-r", reports=[stray])
    assert refused.payload["response"]["response_code"] == 452
    bad_rid = dict(report, intervals=[dict(report["intervals"][0], report_payload={"r_id": "zz", "value": 1})])
    assert ven.send("EiReport", "oadrUpdateReport", request_id="up-3", ven_id="ven-r",
                    reports=[bad_rid]).payload["response"]["response_code"] == 452
    assert len(client.get("/api/v1/openadr/measurements", headers=headers).json()) == 3


def test_availability_report_becomes_flex_offer(hub) -> None:
    client, _ = hub
    ven = RawVen(client, "ven-av")
    ven.register()
    requests = _register_reports(ven)
    rr = requests["spec-status"]
    intervals = "".join(
        f"<ei:interval><xcal:dtstart><xcal:date-time>2026-11-22T08:{m:02d}:00Z</xcal:date-time></xcal:dtstart>"
        "<xcal:duration><xcal:duration>PT15M</xcal:duration></xcal:duration><oadr:oadrReportPayload>"
        "<ei:rID>status</ei:rID><oadr:oadrPayloadResourceStatus><oadr:oadrOnline>true</oadr:oadrOnline>"
        "<oadr:oadrManualOverride>false</oadr:oadrManualOverride><oadr:oadrLoadControlState><oadr:oadrCapacity>"
        f"<oadr:oadrMin>0</oadr:oadrMin><oadr:oadrMax>8</oadr:oadrMax><oadr:oadrCurrent>4</oadr:oadrCurrent>"
        "</oadr:oadrCapacity></oadr:oadrLoadControlState></oadr:oadrPayloadResourceStatus>"
        "</oadr:oadrReportPayload></ei:interval>" for m in (0, 15))
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07"><oadr:oadrSignedObject>
<oadr:oadrUpdateReport ei:schemaVersion="2.0b" xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110"
 xmlns:pyld="http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
 xmlns:xcal="urn:ietf:params:xml:ns:icalendar-2.0" xmlns:strm="urn:ietf:params:xml:ns:icalendar-2.0:stream">
<pyld:requestID>av-1</pyld:requestID><oadr:oadrReport><strm:intervals>{intervals}</strm:intervals>
<ei:eiReportID>r</ei:eiReportID><ei:reportRequestID>{rr}</ei:reportRequestID>
<ei:reportSpecifierID>spec-status</ei:reportSpecifierID><ei:reportName>TELEMETRY_STATUS</ei:reportName>
<ei:createdDateTime>2026-11-22T08:00:00Z</ei:createdDateTime></oadr:oadrReport><ei:venID>ven-av</ei:venID>
</oadr:oadrUpdateReport></oadr:oadrSignedObject></oadr:oadrPayload>"""
    reply = client.post(f"{VTN_PATH}/EiReport", content=body.encode())
    assert reply.status_code == 200
    assert b"<ei:responseCode>200</ei:responseCode>" in reply.content
    with client.app.state.sessionmaker() as session:
        [row] = session.scalars(select(StoredFlexOffer).where(StoredFlexOffer.party == "ven-av")).all()
        # the flex-offer service (what FMAN and the REST API use) reads it like any submission
        from gateway.services.flexoffers import list_offers

        listed = list_offers(session, "ven-av")
    offer = json.loads(row.document)
    assert offer["profile"]["energy_upper"] == [2.0, 2.0]
    assert offer["state"] == "offered"
    assert [str(o.id) for o in listed] == [row.id]


def test_history_request_and_reregistration_are_delivered_by_poll(hub) -> None:
    client, headers = hub
    ven = RawVen(client, "ven-h")
    ven.register()
    _register_reports(ven)
    asked = client.post("/api/v1/openadr/vens/ven-h/report-requests", headers=headers, json={
        "report_specifier_id": "spec-usage", "start": "2026-11-21T00:00:00Z", "duration_seconds": 86400,
        "granularity_seconds": 900})
    assert asked.status_code == 202
    create = ven.poll()
    assert create.message_type == "oadrCreateReport"
    [request] = create.payload["report_requests"]
    assert request["report_request_id"] == asked.json()["report_request_id"]
    assert request["report_specifier"]["report_interval"]["duration"] == timedelta(days=1)
    assert client.post("/api/v1/openadr/vens/ven-h/reregister", headers=headers).status_code == 202
    assert ven.poll().message_type == "oadrRequestReregistration"
    assert ven.poll().message_type == "oadrResponse"


def test_bad_input_gets_4xx_and_the_vtn_keeps_serving(hub, tmp_path: Path) -> None:
    client, _ = hub
    ven = RawVen(client, "ven-ok")
    ven.register()
    url = f"{VTN_PATH}/OadrPoll"
    secret = tmp_path / "s.txt"
    secret.write_text("TOPSECRET")
    bodies = [
        b"<oadr:oadrPayload",
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><a>&b;</a>',
        f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode(),
        b"<notOpenADR/>",
    ]
    for body in bodies:
        response = client.post(url, content=body)
        assert response.status_code == 400, body
        assert "TOPSECRET" not in response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    huge = encode("oadrPoll", ven_id="x" * 300_000)
    assert client.post(url, content=huge).status_code == 413
    wrong_service = client.post(f"{VTN_PATH}/EiEvent", content=encode("oadrPoll", ven_id="ven-ok"))
    assert b"<ei:responseCode>459</ei:responseCode>" in wrong_service.content
    assert client.post(f"{VTN_PATH}/NoSuchService", content=encode("oadrPoll", ven_id="ven-ok")).status_code == 404
    assert ven.poll().payload["response"]["response_code"] == 200
