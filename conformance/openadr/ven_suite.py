"""Conformance cases for an OpenADR 2.0b VEN: we play a scripted test VTN and judge what the VEN sends.

The VEN under test is pointed at ``http://ADDR/OpenADR2/Simple/2.0b`` and runs on
its own (simple HTTP, pull model). The test VTN answers every service and drives a
script through the VEN's polls: an event, a modification of it, a report request
delivered by poll, and finally a request to re-register. Every message the VEN
sends is validated against ``oadr_20b.xsd`` with our safe parser first (an invalid
one is answered HTTP 400 and fails S0). The cases are judged at the end from what
was observed, so a VEN that stalls fails the cases it never reached instead of
hanging the run. Families: N1 registration, E1 events, P1 opt, R1 reports, S0 schema.
The certification pitfalls covered: venID in every message (also in oadrResponse),
the oadrCreatedReport reply (after oadrRegisteredReport and after a polled
oadrCreateReport), reportRequestID 0 for METADATA and only issued reportRequestIDs
in oadrUpdateReport, and rID counts (exactly the requested rIDs, none repeated).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from lxml import etree

from adapters.openadr import codec
from adapters.openadr.messages import decode, encode
from conformance.openadr.report import CaseResult, Report

VTN_PATH = "/OpenADR2/Simple/2.0b"
MARKET_CONTEXT = "http://flexhub.example/conformance"
STALL_POLLS = 6  # polls without the awaited answer before the script moves on (the case then fails)
SCRIPT = ("event", "await_event", "modify", "await_modify", "create_report", "await_created_report",
          "reregister", "await_reregister", "done")


class CaseFailed(AssertionError):
    pass


@dataclass
class Seen:
    """One message the VEN sent, as the test VTN received it."""

    service: str
    message_type: str
    payload: dict[str, Any]
    root: etree._Element
    at: float


@dataclass
class ScriptedVtn:
    """The scripted VTN; all it learns is kept here so the cases can be judged afterwards."""

    vtn_id: str = "FLEXHUB-CONFORMANCE-VTN"
    poll_seconds: int = 1
    ven_id: str | None = None
    registration_id: str | None = None
    seen: list[Seen] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    phase: str = "event"
    stalled_polls: int = 0
    event_id: str = field(default_factory=lambda: f"conf-event-{uuid.uuid4().hex[:8]}")
    modification_number: int = -1
    distribute_request_ids: dict[int, str] = field(default_factory=dict)
    metadata: list[codec.RegisteredReport] = field(default_factory=list)
    issued: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    registered_round_ids: list[str] = field(default_factory=list)
    polled_request_id: str | None = None
    reregistration_requested_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    # --- transport ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        service = request.match_info["service"]
        body = await request.read()
        try:
            inbound = decode(body)
        except (ValueError, KeyError, TypeError) as exc:  # XmlRejected/SchemaInvalid are ValueErrors
            self.invalid.append(f"{service}: {exc}")
            return web.Response(status=400, text=f"invalid 2.0b payload: {exc}")
        self.seen.append(Seen(service, inbound.message_type, inbound.payload, inbound.root, time.monotonic()))
        reply = self._reply(inbound.message_type, inbound.payload, inbound.root)
        if reply is None:
            return web.Response(status=200, body=b"", content_type="application/xml")
        message_type, payload = reply
        return web.Response(body=encode(message_type, **payload).encode(), content_type="application/xml")

    # --- answers -----------------------------------------------------------------------

    def _ok(self, request_id: Any) -> dict[str, Any]:
        return {"response_code": 200, "response_description": "OK", "request_id": request_id}

    def _registration(self, request_id: Any) -> tuple[str, dict[str, Any]]:
        return "oadrCreatedPartyRegistration", {
            "response": self._ok(request_id), "vtn_id": self.vtn_id, "ven_id": self.ven_id,
            "registration_id": self.registration_id,
            "profiles": [{"profile_name": "2.0b", "transports": [{"transport_name": "simpleHttp"}]}],
            "requested_oadr_poll_freq": timedelta(seconds=self.poll_seconds)}

    def _reply(self, kind: str, p: dict[str, Any], root: etree._Element) -> tuple[str, dict[str, Any]] | None:
        request_id = p.get("request_id") or (p.get("response") or {}).get("request_id")
        if kind == "oadrQueryRegistration":
            return self._registration(request_id)
        if kind == "oadrCreatePartyRegistration":
            if self.ven_id is None:
                self.ven_id = p.get("ven_id") or f"conf-ven-{uuid.uuid4().hex[:10]}"
                self.registration_id = f"conf-reg-{uuid.uuid4().hex[:10]}"
            if self.phase == "await_reregister":
                self._advance()
            return self._registration(request_id)
        if kind == "oadrCancelPartyRegistration":
            return "oadrCanceledPartyRegistration", {"response": self._ok(request_id), "ven_id": self.ven_id,
                                                     "registration_id": p.get("registration_id")}
        if kind == "oadrRequestEvent":
            return self._distribute(request_id)
        if kind == "oadrCreateOpt":
            return "oadrCreatedOpt", {"response": self._ok(request_id), "opt_id": p.get("opt_id")}
        if kind == "oadrCancelOpt":
            return "oadrCanceledOpt", {"response": self._ok(request_id), "opt_id": p.get("opt_id")}
        if kind == "oadrRegisterReport":
            self.metadata = codec.registered_reports(root)
            requests = self._report_requests(self.metadata)
            self.registered_round_ids += [r["report_request_id"] for r in requests]
            return "oadrRegisteredReport", {"response": self._ok(request_id), "ven_id": self.ven_id,
                                            "report_requests": requests}
        if kind == "oadrUpdateReport":
            return "oadrUpdatedReport", {"response": self._ok(request_id), "ven_id": self.ven_id}
        if kind == "oadrPoll":
            return self._on_poll()
        if kind == "oadrResponse":
            return None
        if kind == "oadrCreatedEvent" and self.phase in ("await_event", "await_modify"):
            if any(r.get("modification_number") == self.modification_number for r in self._event_responses()):
                self._advance()
        if kind == "oadrCreatedReport" and self.phase == "await_created_report" and \
                self.polled_request_id in _pending_ids(p):
            self._advance()
        return "oadrResponse", {"response": self._ok(request_id), "ven_id": self.ven_id}

    def _report_requests(self, reports: list[codec.RegisteredReport]) -> list[dict[str, Any]]:
        """Ask for the usage report (else the first one), and only its first rID when it has several.

        Asking for fewer rIDs than were offered is what exposes VENs that send
        everything they registered (the rID-count pitfall).
        """
        chosen = next((r for r in reports if "USAGE" in r.report_name and r.descriptions),
                      next((r for r in reports if r.descriptions), None))
        if chosen is None:
            return []
        r_ids = [chosen.descriptions[0].r_id]
        return [self._report_request(chosen, r_ids)]

    def _report_request(self, report: codec.RegisteredReport, r_ids: list[str]) -> dict[str, Any]:
        request_id = f"conf-rr-{uuid.uuid4().hex[:10]}"
        self.issued[request_id] = (report.report_specifier_id, r_ids)
        granularity = report.min_period or timedelta(seconds=self.poll_seconds)
        by_id = {d.r_id: d for d in report.descriptions}
        return {"report_request_id": request_id, "report_specifier": {
            "report_specifier_id": report.report_specifier_id, "granularity": granularity,
            "report_back_duration": granularity,
            "specifier_payloads": [{"r_id": r, "reading_type": by_id[r].reading_type or "Direct Read"}
                                   for r in r_ids]}}

    def _event(self) -> dict[str, Any]:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        signal = codec.EventSignal("SIMPLE", "level", [codec.SignalInterval(start, timedelta(minutes=15), 1.0)])
        return codec.event_dict(event_id=self.event_id, modification_number=self.modification_number,
                                market_context=MARKET_CONTEXT, signals=[signal], created=datetime.now(UTC),
                                status="far", ven_ids=[self.ven_id] if self.ven_id else None)

    def _distribute(self, request_id: Any = None) -> tuple[str, dict[str, Any]]:
        distribute_id = f"conf-req-{uuid.uuid4().hex[:10]}"
        if self.modification_number >= 0:
            self.distribute_request_ids.setdefault(self.modification_number, distribute_id)
        events = [self._event()] if self.modification_number >= 0 else []
        return "oadrDistributeEvent", {"response": self._ok(request_id) if request_id else None,
                                       "request_id": distribute_id, "vtn_id": self.vtn_id, "events": events}

    def _advance(self) -> None:
        self.phase = SCRIPT[SCRIPT.index(self.phase) + 1]
        self.stalled_polls = 0
        if self.phase == "done":
            self.done.set()

    def _on_poll(self) -> tuple[str, dict[str, Any]]:
        if self.phase.startswith("await_"):
            self.stalled_polls += 1
            if self.stalled_polls > STALL_POLLS:
                self._advance()
        if self.phase in ("event", "modify"):
            self.modification_number += 1
            self._advance()
            return self._distribute()
        if self.phase == "create_report":
            self._advance()
            report = next((r for r in self.metadata if r.report_specifier_id in
                           {spec for spec, _ in self.issued.values()}), None)
            if report is None:
                self._advance()
            else:
                request = self._report_request(report, [report.descriptions[0].r_id])
                self.polled_request_id = request["report_request_id"]
                return "oadrCreateReport", {"request_id": f"conf-req-{uuid.uuid4().hex[:10]}",
                                            "ven_id": self.ven_id, "report_requests": [request]}
        if self.phase == "reregister":
            self._advance()
            self.reregistration_requested_at = time.monotonic()
            return "oadrRequestReregistration", {"ven_id": self.ven_id}
        return "oadrResponse", {"response": self._ok(None), "ven_id": self.ven_id}

    def _event_responses(self) -> list[dict[str, Any]]:
        return [r for s in self.seen if s.message_type == "oadrCreatedEvent"
                for r in s.payload.get("event_responses") or [] if r.get("event_id") == self.event_id]

    def of(self, kind: str) -> list[Seen]:
        return [s for s in self.seen if s.message_type == kind]


def _pending_ids(payload: dict[str, Any]) -> set[str]:
    pending = payload.get("pending_reports") or []
    pending = [pending] if isinstance(pending, dict) else pending
    return {str(p.get("report_request_id")) for p in pending}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise CaseFailed(message)


class Skip(Exception):
    """The case does not apply: the VEN never used the optional feature."""


# --- N1: registration --------------------------------------------------------------------


def n1_create_party_registration(vtn: ScriptedVtn) -> None:
    registrations = vtn.of("oadrCreatePartyRegistration")
    _check(bool(registrations), "the VEN never sent oadrCreatePartyRegistration")
    p = registrations[0].payload
    _check(p.get("profile_name") == "2.0b", f"profileName {p.get('profile_name')!r}, expected 2.0b")
    _check(p.get("transport_name") in ("simpleHttp", "xmpp"), f"transportName {p.get('transport_name')!r}")
    _check(bool(p.get("ven_name")), "no oadrVenName")


def n1_pull_model_polls(vtn: ScriptedVtn) -> None:
    registrations = vtn.of("oadrCreatePartyRegistration")
    _check(bool(registrations), "no registration")
    _check(registrations[0].payload.get("http_pull_model") is True,
           "the VEN registered for push; this suite drives a pull-model VEN")
    polls = vtn.of("oadrPoll")
    _check(len(polls) >= 2, f"{len(polls)} oadrPoll seen, expected the VEN to keep polling")


VEN_ID_CARRIERS = {"oadrPoll", "oadrCreatedEvent", "oadrRequestEvent", "oadrRegisterReport", "oadrCreatedReport",
                   "oadrUpdateReport", "oadrCreateOpt", "oadrCancelOpt", "oadrResponse", "oadrCanceledReport",
                   "oadrCancelPartyRegistration", "oadrCanceledPartyRegistration"}


def n1_ven_id_in_every_message(vtn: ScriptedVtn) -> None:
    _check(vtn.ven_id is not None, "the VEN never registered")
    carriers = [s for s in vtn.seen if s.message_type in VEN_ID_CARRIERS]
    _check(bool(carriers), "no message after registration")
    wrong = [f"{s.message_type}: {s.payload.get('ven_id')!r}" for s in carriers
             if s.payload.get("ven_id") != vtn.ven_id]
    _check(not wrong, f"messages without the assigned venID {vtn.ven_id!r}: {wrong[:5]}")


def n1_reregistration(vtn: ScriptedVtn) -> None:
    asked = vtn.reregistration_requested_at
    _check(asked is not None, "the script never reached oadrRequestReregistration (earlier steps stalled)")
    later = [s for s in vtn.seen if s.at >= (asked or 0)]
    responses = [s for s in later if s.message_type == "oadrResponse"]
    _check(bool(responses), "oadrRequestReregistration was not acknowledged with oadrResponse")
    _check(responses[0].payload.get("ven_id") == vtn.ven_id, "the VEN's oadrResponse does not carry its venID")
    again = [s for s in later if s.message_type == "oadrCreatePartyRegistration"]
    _check(bool(again), "the VEN did not re-register")
    _check(again[0].payload.get("ven_id") == vtn.ven_id, "re-registration did not keep the venID")


# --- E1: events --------------------------------------------------------------------------


def _event_response(vtn: ScriptedVtn, modification: int) -> dict[str, Any]:
    _check(modification in vtn.distribute_request_ids, f"modification {modification} was never delivered")
    answers = [r for r in vtn._event_responses() if r.get("modification_number") == modification]
    _check(bool(answers), f"no oadrCreatedEvent for {vtn.event_id} modification {modification}")
    answer = answers[0]
    _check(answer.get("response_code") == 200, f"eventResponse code {answer.get('response_code')}, expected 200")
    _check(answer.get("opt_type") in ("optIn", "optOut"), f"optType {answer.get('opt_type')!r}")
    _check(answer.get("request_id") == vtn.distribute_request_ids[modification],
           "eventResponse requestID does not echo the oadrDistributeEvent's requestID")
    return answer


def e1_created_event(vtn: ScriptedVtn) -> None:
    _event_response(vtn, 0)


def e1_modified_event(vtn: ScriptedVtn) -> None:
    _event_response(vtn, 1)


# --- P1: opt -----------------------------------------------------------------------------


def p1_opt_consistent(vtn: ScriptedVtn) -> None:
    """An unchanged opt decision is restated for the modified event (no silent drop of the optType)."""
    first, second = _event_response(vtn, 0), _event_response(vtn, 1)
    _check(bool(first["opt_type"]) and bool(second["opt_type"]), "optType missing")


def p1_create_opt(vtn: ScriptedVtn) -> None:
    opts = vtn.of("oadrCreateOpt")
    if not opts:
        raise Skip("the VEN sent no oadrCreateOpt")
    for opt in opts:
        p = opt.payload
        _check(bool(p.get("opt_id")), "oadrCreateOpt without optID")
        _check(p.get("ven_id") == vtn.ven_id, "oadrCreateOpt without the VEN's venID")
        _check(bool(p.get("event_id")) or bool(p.get("vavailability")),
               "oadrCreateOpt names neither an event nor an availability schedule")


def p1_cancel_opt(vtn: ScriptedVtn) -> None:
    cancels = vtn.of("oadrCancelOpt")
    if not cancels:
        raise Skip("the VEN sent no oadrCancelOpt")
    created = {s.payload.get("opt_id") for s in vtn.of("oadrCreateOpt")}
    unknown = [s.payload.get("opt_id") for s in cancels if s.payload.get("opt_id") not in created]
    _check(not unknown, f"oadrCancelOpt for optIDs never created: {unknown}")


# --- R1: reports -------------------------------------------------------------------------


def r1_register_report(vtn: ScriptedVtn) -> None:
    registrations = vtn.of("oadrRegisterReport")
    _check(bool(registrations), "the VEN never registered its reports (oadrRegisterReport)")
    for seen in registrations:
        for report in codec.registered_reports(seen.root):
            _check(bool(report.report_specifier_id), "a METADATA report without reportSpecifierID")
            _check(report.report_name.startswith("METADATA_"), f"reportName {report.report_name!r} is not METADATA_*")
            r_ids = [d.r_id for d in report.descriptions]
            _check(len(r_ids) == len(set(r_ids)), f"{report.report_specifier_id} repeats rIDs: {r_ids}")
        ids = seen.root.iterfind(".//ei:reportRequestID", codec.NS)
        nonzero = [n.text for n in ids if (n.text or "").strip() != "0"]
        _check(not nonzero, f"METADATA reports must carry reportRequestID 0, got {nonzero}")


def _created_report_for(vtn: ScriptedVtn, request_ids: list[str]) -> None:
    created = vtn.of("oadrCreatedReport")
    acknowledged = set().union(*(_pending_ids(s.payload) for s in created)) if created else set()
    missing = [r for r in request_ids if r not in acknowledged]
    _check(not missing, f"no oadrCreatedReport lists reportRequestIDs {missing}")
    bad = [s.payload.get("ven_id") for s in created if s.payload.get("ven_id") != vtn.ven_id]
    _check(not bad, f"oadrCreatedReport without the VEN's venID: {bad}")


def r1_created_report_after_registered(vtn: ScriptedVtn) -> None:
    _check(bool(vtn.registered_round_ids), "no report was requested (the VEN registered no usable METADATA)")
    _created_report_for(vtn, vtn.registered_round_ids[:1])


def r1_created_report_after_create_report(vtn: ScriptedVtn) -> None:
    _check(vtn.polled_request_id is not None, "the script never delivered oadrCreateReport (earlier steps stalled)")
    _created_report_for(vtn, [vtn.polled_request_id or ""])


def r1_update_report(vtn: ScriptedVtn) -> None:
    updates = vtn.of("oadrUpdateReport")
    _check(bool(updates), "the VEN sent no oadrUpdateReport for the requested report")
    for seen in updates:
        for report in codec.report_data(seen.root):
            _check(report.report_request_id in vtn.issued,
                   f"oadrUpdateReport names reportRequestID {report.report_request_id!r}, never issued")
            specifier, requested = vtn.issued[report.report_request_id]
            _check(report.report_specifier_id == specifier,
                   f"reportSpecifierID {report.report_specifier_id!r}, requested {specifier!r}")
            sent = {v.r_id for v in report.values}
            _check(sent <= set(requested), f"rIDs sent but not requested: {sorted(sent - set(requested))}")
            _check(sent == set(requested), f"{len(sent)} rIDs sent, {len(requested)} requested ({requested})")


# --- S0: schema ----------------------------------------------------------------------------


def s0_schema_valid(vtn: ScriptedVtn) -> None:
    _check(bool(vtn.seen) or bool(vtn.invalid), "the VEN sent nothing")
    _check(not vtn.invalid, f"{len(vtn.invalid)} message(s) failed oadr_20b.xsd: {vtn.invalid[:3]}")


Case = tuple[str, str, Callable[[ScriptedVtn], None]]

CASES: list[Case] = [
    ("N1_0010_CreatePartyRegistration", "registration names profile 2.0b, a transport and a venName",
     n1_create_party_registration),
    ("N1_0020_PullModelPolls", "a pull-model VEN keeps polling", n1_pull_model_polls),
    ("N1_0030_VenIdInEveryMessage", "every message after registration carries the assigned venID",
     n1_ven_id_in_every_message),
    ("N1_0040_Reregistration", "oadrRequestReregistration: oadrResponse with venID, then re-registration",
     n1_reregistration),
    ("E1_0010_CreatedEvent", "a polled event is answered by oadrCreatedEvent echoing eventID, modificationNumber "
     "and requestID", e1_created_event),
    ("E1_0020_ModifiedEvent", "a modified event is answered with the new modificationNumber", e1_modified_event),
    ("P1_0010_OptTypeStated", "the optType is stated for the event and its modification", p1_opt_consistent),
    ("P1_0020_CreateOpt", "oadrCreateOpt carries optID, venID and an event or availability", p1_create_opt),
    ("P1_0030_CancelOpt", "oadrCancelOpt names an optID the VEN created", p1_cancel_opt),
    ("R1_0010_RegisterReport", "METADATA reports: reportRequestID 0, unique rIDs", r1_register_report),
    ("R1_0020_CreatedReportAfterRegistered", "report requests in oadrRegisteredReport are confirmed by "
     "oadrCreatedReport", r1_created_report_after_registered),
    ("R1_0030_CreatedReportAfterCreateReport", "a polled oadrCreateReport is confirmed by oadrCreatedReport",
     r1_created_report_after_create_report),
    ("R1_0040_UpdateReport", "oadrUpdateReport uses an issued reportRequestID and exactly the requested rIDs",
     r1_update_report),
    ("S0_0010_SchemaValid", "every message the VEN sends is valid against oadr_20b.xsd", s0_schema_valid),
]


def judge(vtn: ScriptedVtn, url: str, only: str | None = None) -> Report:
    report = Report(suite="openadr-ven", target=url)
    for name, description, case in CASES:
        if only and not name.startswith(only):
            continue
        started = time.perf_counter()
        try:
            case(vtn)
            result = CaseResult(name, description, True)
        except Skip as exc:
            result = CaseResult(name, description, False, str(exc), skipped=True)
        except (CaseFailed, KeyError, TypeError, ValueError) as exc:
            result = CaseResult(name, description, False, f"{type(exc).__name__}: {exc}")
        result.seconds = time.perf_counter() - started
        report.results.append(result)
    return report


def _update_report_seen(vtn: ScriptedVtn) -> bool:
    return any(codec.report_data(s.root) for s in vtn.of("oadrUpdateReport")) or not vtn.issued


async def run_ven_suite(host: str, port: int, *, timeout: float = 120.0, poll_seconds: int = 1,
                        on_listening: Callable[[str], Any] | None = None, only: str | None = None) -> Report:
    """Listen on ``host:port`` (0 = any free port) until the script is done and a report came, or timeout."""
    vtn = ScriptedVtn(poll_seconds=poll_seconds)
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(VTN_PATH + "/{service}", vtn.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    url = f"http://{host}:{bound}{VTN_PATH}"
    try:
        if on_listening is not None:
            result = on_listening(url)
            if asyncio.iscoroutine(result):
                await result
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if vtn.done.is_set() and _update_report_seen(vtn):
                await asyncio.sleep(poll_seconds)  # let the last replies in flight land
                break
            await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()
    return judge(vtn, url, only)
