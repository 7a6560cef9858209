"""Conformance cases for any OpenADR 2.0b VTN over simple HTTP, with JUnit XML output.

Families follow the 2.0b test-case naming: N1 registration, E1 events, P1 opt,
R1 reports, plus X1 for hostile input. The cases also cover the known
certification pitfalls: venID echoed in oadrResponse, requestID echoed,
reportRequestID handling, the reply to oadrCreatedReport and rID counts.
Every reply is validated against oadr_20b.xsd (a failure is a case failure).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.openadr.messages import Inbound, decode, encode
from adapters.openadr.schema import SchemaInvalid, XmlRejected
from conformance.openadr.report import CaseResult, Report

REPORT_METADATA = {
    "report_specifier_id": "conformance-usage", "report_name": "METADATA_TELEMETRY_USAGE",
    "report_request_id": 0, "duration": timedelta(hours=1),
    "report_descriptions": [
        {"r_id": rid, "report_type": "usage", "reading_type": "Direct Read",
         "measurement": {"name": "powerReal", "description": "RealPower", "unit": "W", "scale": "k", "ns": "power",
                         "power_attributes": {"hertz": 50, "voltage": 230, "ac": True}},
         "sampling_rate": {"min_period": timedelta(seconds=10), "max_period": timedelta(minutes=15),
                           "on_change": False}}
        for rid in ("conf-power-1", "conf-power-2")
    ],
}


class CaseFailed(AssertionError):
    pass


@dataclass
class Session:
    """What the cases learn from the VTN as they run (registration, report requests)."""

    http: httpx.Client
    url: str
    ven_name: str
    ven_id: str | None = None
    registration_id: str | None = None
    report_requests: list[dict[str, Any]] = field(default_factory=list)
    opt_id: str | None = None

    def send(self, service: str, message_type: str, **payload: Any) -> Inbound | None:
        response = self.http.post(f"{self.url}/{service}", content=encode(message_type, **payload).encode(),
                                  headers={"content-type": "application/xml"})
        if response.status_code != 200:
            raise CaseFailed(f"HTTP {response.status_code} for {message_type}: {response.text[:200]}")
        if not response.content.strip():
            return None
        try:
            return decode(response.content)
        except (XmlRejected, SchemaInvalid) as exc:
            raise CaseFailed(f"reply to {message_type} is not a valid 2.0b payload: {exc}") from exc

    def expect(self, reply: Inbound | None, message_type: str, code: int | None = 200) -> Inbound:
        if reply is None:
            raise CaseFailed(f"expected {message_type}, got an empty reply")
        if reply.message_type != message_type:
            raise CaseFailed(f"expected {message_type}, got {reply.message_type}")
        got = (reply.payload.get("response") or {}).get("response_code")
        if code is not None and got != code:
            raise CaseFailed(f"expected responseCode {code}, got {got}: "
                             f"{(reply.payload.get('response') or {}).get('response_description')}")
        return reply


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise CaseFailed(message)


def _request_id(reply: Inbound) -> Any:
    return (reply.payload.get("response") or {}).get("request_id")


# --- N1: registration --------------------------------------------------------------------


def n1_query_registration(s: Session) -> None:
    reply = s.expect(s.send("EiRegisterParty", "oadrQueryRegistration", request_id="n1-q"),
                     "oadrCreatedPartyRegistration")
    _check(_request_id(reply) == "n1-q", "requestID of oadrQueryRegistration not echoed")
    _check(bool(reply.payload.get("vtn_id")), "no vtnID in oadrCreatedPartyRegistration")
    _check(bool(reply.payload.get("profiles")), "no oadrProfiles offered")


def n1_create_party_registration(s: Session) -> None:
    reply = s.expect(s.send("EiRegisterParty", "oadrCreatePartyRegistration", request_id="n1-c",
                            ven_name=s.ven_name, ven_id=None, http_pull_model=True, xml_signature=False,
                            report_only=False, profile_name="2.0b", transport_name="simpleHttp"),
                     "oadrCreatedPartyRegistration")
    _check(_request_id(reply) == "n1-c", "requestID of oadrCreatePartyRegistration not echoed")
    s.ven_id, s.registration_id = reply.payload.get("ven_id"), reply.payload.get("registration_id")
    _check(bool(s.ven_id) and bool(s.registration_id), "venID or registrationID missing")


def n1_poll_echoes_ven_id(s: Session) -> None:
    reply = s.send("OadrPoll", "oadrPoll", ven_id=s.ven_id)
    _check(reply is not None, "empty reply to oadrPoll")
    assert reply is not None
    if reply.message_type == "oadrResponse":
        s.expect(reply, "oadrResponse")
        _check(reply.payload.get("ven_id") == s.ven_id, "oadrResponse does not carry the VEN's venID")


def n1_unknown_ven_refused(s: Session) -> None:
    reply = s.send("OadrPoll", "oadrPoll", ven_id=f"unknown-{uuid.uuid4().hex[:8]}")
    _check(reply is not None, "empty reply to a poll from an unknown venID")
    assert reply is not None
    code = (reply.payload.get("response") or {}).get("response_code")
    _check(reply.message_type == "oadrRequestReregistration" or code in (452, 463),
           f"an unknown venID got {reply.message_type} {code}, expected 452/463 or a reregistration request")


def n1_reregistration_keeps_identity(s: Session) -> None:
    reply = s.expect(s.send("EiRegisterParty", "oadrCreatePartyRegistration", request_id="n1-r",
                            ven_name=s.ven_name, ven_id=s.ven_id, registration_id=s.registration_id,
                            http_pull_model=True, xml_signature=False, report_only=False, profile_name="2.0b",
                            transport_name="simpleHttp"), "oadrCreatedPartyRegistration")
    _check(reply.payload.get("ven_id") == s.ven_id, "reregistration changed the venID")


def n1_cancel_registration(s: Session) -> None:
    reply = s.expect(s.send("EiRegisterParty", "oadrCancelPartyRegistration", request_id="n1-x",
                            registration_id=s.registration_id, ven_id=s.ven_id), "oadrCanceledPartyRegistration")
    _check(reply.payload.get("registration_id") == s.registration_id, "registrationID not echoed on cancel")


# --- E1: events --------------------------------------------------------------------------


def e1_request_event(s: Session) -> None:
    reply = s.expect(s.send("EiEvent", "oadrRequestEvent", request_id="e1-r", ven_id=s.ven_id),
                     "oadrDistributeEvent")
    _check(_request_id(reply) == "e1-r", "requestID of oadrRequestEvent not echoed in eiResponse")
    _check(bool(reply.payload.get("vtn_id")), "oadrDistributeEvent without vtnID")


def e1_created_event_unknown_event(s: Session) -> None:
    reply = s.send("EiEvent", "oadrCreatedEvent", ven_id=s.ven_id,
                   response={"response_code": 200, "response_description": "OK", "request_id": "e1-u"},
                   event_responses=[{"response_code": 200, "response_description": "OK", "request_id": "e1-u",
                                     "event_id": f"no-such-event-{uuid.uuid4().hex[:6]}", "modification_number": 0,
                                     "opt_type": "optIn"}])
    reply = s.expect(reply, "oadrResponse", code=None)
    code = (reply.payload.get("response") or {}).get("response_code")
    _check(code != 200, "an oadrCreatedEvent for an unknown eventID was accepted with 200")


# --- P1: opt -----------------------------------------------------------------------------


def p1_create_opt(s: Session) -> None:
    s.opt_id = f"conf-opt-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    reply = s.expect(s.send("EiOpt", "oadrCreateOpt", request_id="p1-c", opt_id=s.opt_id, opt_type="optOut",
                            opt_reason="participating", ven_id=s.ven_id, created_date_time=datetime.now(UTC),
                            vavailability={"components": [{"dtstart": start, "duration": timedelta(hours=1)}]},
                            targets=[{"ven_id": s.ven_id}]), "oadrCreatedOpt")
    _check(reply.payload.get("opt_id") == s.opt_id, "optID not echoed in oadrCreatedOpt")
    _check(_request_id(reply) == "p1-c", "requestID not echoed in oadrCreatedOpt")


def p1_cancel_opt(s: Session) -> None:
    reply = s.expect(s.send("EiOpt", "oadrCancelOpt", request_id="p1-x", opt_id=s.opt_id, ven_id=s.ven_id),
                     "oadrCanceledOpt")
    _check(reply.payload.get("opt_id") == s.opt_id, "optID not echoed in oadrCanceledOpt")


# --- R1: reports -------------------------------------------------------------------------


def r1_register_report(s: Session) -> None:
    metadata = dict(REPORT_METADATA, created_date_time=datetime.now(UTC))
    reply = s.expect(s.send("EiReport", "oadrRegisterReport", request_id="r1-reg", ven_id=s.ven_id,
                            reports=[metadata]), "oadrRegisteredReport")
    _check(_request_id(reply) == "r1-reg", "requestID of oadrRegisterReport not echoed")
    offered = {d["r_id"] for d in REPORT_METADATA["report_descriptions"]}  # type: ignore[index]
    s.report_requests = list(reply.payload.get("report_requests") or [])
    for request in s.report_requests:
        spec = request["report_specifier"]
        payloads = spec.get("specifier_payloads") or []
        payloads = [payloads] if isinstance(payloads, dict) else payloads
        rids = [p["r_id"] for p in payloads]
        _check(bool(rids), f"report request {request['report_request_id']} names no rID")
        _check(set(rids) <= offered, f"report request asks for rIDs never registered: {set(rids) - offered}")
        _check(len(rids) == len(set(rids)), "report request repeats an rID")


def r1_created_report_reply(s: Session) -> None:
    pending = [{"report_request_id": r["report_request_id"]} for r in s.report_requests]
    reply = s.send("EiReport", "oadrCreatedReport", ven_id=s.ven_id, pending_reports=pending,
                   response={"response_code": 200, "response_description": "OK", "request_id": "r1-reg"})
    s.expect(reply, "oadrResponse")


def r1_update_report(s: Session) -> None:
    if not s.report_requests:
        raise CaseFailed("the VTN requested no report, so none can be sent (needs R1 register report)")
    request = s.report_requests[0]
    spec = request["report_specifier"]
    payloads = spec.get("specifier_payloads") or []
    payloads = [payloads] if isinstance(payloads, dict) else payloads
    now = datetime.now(UTC).replace(microsecond=0)
    report = {"report_id": "conf-report", "report_request_id": request["report_request_id"],
              "report_specifier_id": spec["report_specifier_id"], "report_name": "TELEMETRY_USAGE",
              "created_date_time": now, "dtstart": now,
              "intervals": [{"dtstart": now, "duration": timedelta(seconds=10),
                             "report_payload": {"r_id": p["r_id"], "value": 1.0}} for p in payloads]}
    reply = s.expect(s.send("EiReport", "oadrUpdateReport", request_id="r1-u", ven_id=s.ven_id, reports=[report]),
                     "oadrUpdatedReport")
    _check(_request_id(reply) == "r1-u", "requestID of oadrUpdateReport not echoed")


def r1_update_report_unknown_request(s: Session) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    report = {"report_id": "conf-stray", "report_request_id": f"never-issued-{uuid.uuid4().hex[:6]}",
              "report_specifier_id": REPORT_METADATA["report_specifier_id"], "report_name": "TELEMETRY_USAGE",
              "created_date_time": now, "dtstart": now,
              "intervals": [{"dtstart": now, "duration": timedelta(seconds=10),
                             "report_payload": {"r_id": "conf-power-1", "value": 1.0}}]}
    reply = s.send("EiReport", "oadrUpdateReport", request_id="r1-s", ven_id=s.ven_id, reports=[report])
    _check(reply is not None, "empty reply to oadrUpdateReport")
    assert reply is not None
    code = (reply.payload.get("response") or {}).get("response_code")
    _check(code != 200, "a report for a reportRequestID the VTN never issued was accepted with 200")


# --- X1: hostile input -------------------------------------------------------------------


def x1_entity_expansion_refused(s: Session) -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
              b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><oadrPayload>&c;</oadrPayload>')
    try:
        response = s.http.post(f"{s.url}/OadrPoll", content=laughs, headers={"content-type": "application/xml"})
    except httpx.HTTPError as exc:
        raise CaseFailed(f"the VTN dropped the connection on an entity payload: {exc}") from exc
    _check(400 <= response.status_code < 500, f"entity payload answered HTTP {response.status_code}, expected 4xx")
    n1_poll_echoes_ven_id(s)


Case = tuple[str, str, Callable[[Session], None]]

CASES: list[Case] = [
    ("N1_0010_QueryRegistration", "oadrQueryRegistration answered with profiles, vtnID, echoed requestID",
     n1_query_registration),
    ("N1_0020_CreatePartyRegistration", "registration yields venID and registrationID", n1_create_party_registration),
    ("N1_0030_PollEchoesVenID", "oadrResponse to a poll carries the venID", n1_poll_echoes_ven_id),
    ("N1_0040_UnknownVenRefused", "a poll from an unknown venID gets 452/463 or a reregistration request",
     n1_unknown_ven_refused),
    ("N1_0050_Reregistration", "reregistration keeps the venID", n1_reregistration_keeps_identity),
    ("E1_0010_RequestEvent", "oadrRequestEvent answered by oadrDistributeEvent with echoed requestID",
     e1_request_event),
    ("E1_0020_CreatedEventUnknownEvent", "oadrCreatedEvent for an unknown eventID is not accepted",
     e1_created_event_unknown_event),
    ("P1_0010_CreateOpt", "oadrCreateOpt with an availability schedule is acknowledged", p1_create_opt),
    ("P1_0020_CancelOpt", "oadrCancelOpt is acknowledged with the optID", p1_cancel_opt),
    ("R1_0010_RegisterReport", "METADATA registration; report requests name only registered rIDs",
     r1_register_report),
    ("R1_0020_CreatedReportReply", "oadrCreatedReport is answered with oadrResponse 200", r1_created_report_reply),
    ("R1_0030_UpdateReport", "oadrUpdateReport for a requested report is acknowledged", r1_update_report),
    ("R1_0040_UnknownReportRequestID", "oadrUpdateReport with a never-issued reportRequestID is refused",
     r1_update_report_unknown_request),
    ("X1_0010_EntityExpansion", "an entity-expansion payload gets HTTP 4xx and the VTN keeps serving",
     x1_entity_expansion_refused),
    ("N1_0090_CancelRegistration", "oadrCancelPartyRegistration answered with the registrationID",
     n1_cancel_registration),
]


def run_suite(url: str, *, http: httpx.Client | None = None, ven_name: str = "flexhub-conformance",
              only: str | None = None) -> Report:
    """Run every case in order (later cases use what earlier ones registered)."""
    client = http or httpx.Client(timeout=30)
    session = Session(http=client, url=url.rstrip("/"), ven_name=ven_name)
    report = Report(suite="openadr-vtn", target=url)
    try:
        for name, description, case in CASES:
            if only and not name.startswith(only):
                continue
            started = time.perf_counter()
            try:
                case(session)
                result = CaseResult(name, description, True)
            except (CaseFailed, httpx.HTTPError, KeyError, TypeError) as exc:
                result = CaseResult(name, description, False, f"{type(exc).__name__}: {exc}")
            result.seconds = time.perf_counter() - started
            report.results.append(result)
    finally:
        if http is None:
            client.close()
    return report
