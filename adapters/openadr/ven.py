"""The hub as an OpenADR 2.0b VEN toward an upstream VTN (simple HTTP pull).

Transport and protocol only: what to do with an event (opt in or out, plan it) and
what to report are callbacks supplied by the gateway. Unlike openleadr's
``OpenADRClient`` it keeps no scheduler of its own (the gateway decides when to
poll), validates every reply with our safe parser, and answers oadrCreateReport
with the VTN's own reportRequestIDs.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.openadr.messages import Inbound, decode, encode

EventDecision = Callable[[dict[str, Any]], "str | Awaitable[str]"]


class VtnRefused(RuntimeError):
    """The upstream VTN answered with a non-200 OpenADR status code."""

    def __init__(self, message_type: str, code: int, description: str) -> None:
        super().__init__(f"{message_type}: {code} {description}")
        self.code = code


@dataclass
class ReportRequest:
    """A report the VTN asked us for."""

    report_request_id: str
    report_specifier_id: str
    r_ids: list[str]
    granularity: timedelta | None
    report_back: timedelta | None
    interval: tuple[datetime, timedelta] | None = None


@dataclass
class VenState:
    ven_id: str | None = None
    registration_id: str | None = None
    vtn_id: str | None = None
    poll_interval: timedelta = timedelta(seconds=10)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    opt_types: dict[str, str] = field(default_factory=dict)
    report_requests: dict[str, ReportRequest] = field(default_factory=dict)


def _new_id() -> str:
    return uuid.uuid4().hex


class VenClient:
    def __init__(
        self,
        vtn_url: str,
        ven_name: str,
        *,
        ven_id: str | None = None,
        on_event: EventDecision | None = None,
        http: httpx.AsyncClient | None = None,
        sent: Callable[[str], None] | None = None,
        received: Callable[[bytes], None] | None = None,
        exchange: Callable[[str, bytes], Awaitable[bytes | None]] | None = None,
        transport_name: str = "simpleHttp",
    ) -> None:
        """``exchange(service, body)`` replaces HTTP (e.g. XMPP); ``vtn_url`` is then informational."""
        self.vtn_url = vtn_url.rstrip("/")
        self.ven_name = ven_name
        self.state = VenState(ven_id=ven_id)
        self.on_event = on_event
        self.http = http or httpx.AsyncClient(timeout=30)
        self._sent = sent
        self._received = received
        self.push_address: str | None = None
        self.exchange = exchange
        self.transport_name = transport_name

    async def close(self) -> None:
        await self.http.aclose()

    async def _post(self, service: str, message_type: str, **payload: Any) -> Inbound | None:
        body = encode(message_type, **payload)
        if self._sent:
            self._sent(body)
        if self.exchange is not None:
            content = await self.exchange(service, body.encode()) or b""
        else:
            response = await self.http.post(f"{self.vtn_url}/{service}", content=body.encode(),
                                            headers={"content-type": "application/xml"})
            response.raise_for_status()
            content = response.content
        if not content.strip():
            return None
        if self._received:
            self._received(content)
        return decode(content)

    @staticmethod
    def _check(inbound: Inbound | None, expected: str) -> Inbound:
        if inbound is None or inbound.message_type != expected:
            got = inbound.message_type if inbound else "an empty reply"
            raise VtnRefused(expected, 0, f"expected {expected}, got {got}")
        code = int((inbound.payload.get("response") or {}).get("response_code", 200))
        if code != 200:
            raise VtnRefused(inbound.message_type, code, inbound.payload["response"].get("response_description", ""))
        return inbound

    # --- registration ------------------------------------------------------------------

    async def register(self, *, push_address: str | None = None) -> VenState:
        """Query and register; with ``push_address`` the VTN is asked to push to that URL (HTTP push)."""
        self.push_address = push_address
        query = self._check(await self._post("EiRegisterParty", "oadrQueryRegistration", request_id=_new_id()),
                            "oadrCreatedPartyRegistration")
        self.state.vtn_id = query.payload.get("vtn_id")
        reply = self._check(await self._post(
            "EiRegisterParty", "oadrCreatePartyRegistration", request_id=_new_id(), ven_name=self.ven_name,
            ven_id=self.state.ven_id, registration_id=self.state.registration_id,
            http_pull_model=push_address is None, xml_signature=False, report_only=False, profile_name="2.0b",
            transport_name=self.transport_name, transport_address=push_address), "oadrCreatedPartyRegistration")
        self.state.ven_id = reply.payload.get("ven_id") or self.state.ven_id
        self.state.registration_id = reply.payload.get("registration_id")
        if not self.state.registration_id or not self.state.ven_id:
            raise VtnRefused("oadrCreatedPartyRegistration", 0, "no venID/registrationID in the reply")
        freq = reply.payload.get("requested_oadr_poll_freq")
        if isinstance(freq, timedelta):
            self.state.poll_interval = freq
        return self.state

    async def cancel_registration(self) -> None:
        self._check(await self._post("EiRegisterParty", "oadrCancelPartyRegistration", request_id=_new_id(),
                                     registration_id=self.state.registration_id, ven_id=self.state.ven_id),
                    "oadrCanceledPartyRegistration")
        self.state.registration_id = None

    # --- reports -----------------------------------------------------------------------

    async def register_reports(self, reports: list[dict[str, Any]]) -> list[ReportRequest]:
        """Send METADATA; take the VTN's report requests from oadrRegisteredReport and confirm them."""
        request_id = _new_id()
        for report in reports:
            report.setdefault("created_date_time", datetime.now(UTC))
            report.setdefault("report_request_id", 0)
        reply = self._check(await self._post("EiReport", "oadrRegisterReport", request_id=request_id,
                                             ven_id=self.state.ven_id, reports=reports), "oadrRegisteredReport")
        return await self._accept_report_requests(reply.payload.get("report_requests") or [], request_id)

    async def _accept_report_requests(self, requests: list[dict[str, Any]], request_id: str | None) -> list[
            ReportRequest]:
        accepted = []
        for raw in requests:
            spec = raw["report_specifier"]
            payloads = spec.get("specifier_payloads") or []
            if isinstance(payloads, dict):
                payloads = [payloads]
            interval = spec.get("report_interval")
            request = ReportRequest(
                report_request_id=str(raw["report_request_id"]), report_specifier_id=spec["report_specifier_id"],
                r_ids=[p["r_id"] for p in payloads], granularity=spec.get("granularity"),
                report_back=spec.get("report_back_duration"),
                interval=(interval["dtstart"], interval["duration"]) if interval else None)
            self.state.report_requests[request.report_request_id] = request
            accepted.append(request)
        if accepted:
            await self._post("EiReport", "oadrCreatedReport", ven_id=self.state.ven_id,
                             response={"response_code": 200, "response_description": "OK", "request_id": request_id},
                             pending_reports=[{"report_request_id": r.report_request_id} for r in accepted])
        return accepted

    async def update_report(self, request: ReportRequest, values: list[tuple[datetime, timedelta, str, float]],
                            report_name: str = "TELEMETRY_USAGE") -> Inbound:
        """Send readings ``(start, duration, rID, value)`` for one of the VTN's report requests."""
        now = datetime.now(UTC)
        report = {
            "report_id": _new_id(), "report_request_id": request.report_request_id,
            "report_specifier_id": request.report_specifier_id, "report_name": report_name,
            "created_date_time": now, "dtstart": values[0][0] if values else now,
            "intervals": [{"dtstart": s, "duration": d, "report_payload": {"r_id": r, "value": v}}
                          for s, d, r, v in values],
        }
        return self._check(await self._post("EiReport", "oadrUpdateReport", request_id=_new_id(),
                                            ven_id=self.state.ven_id, reports=[report]), "oadrUpdatedReport")

    # --- events and opts ---------------------------------------------------------------

    async def request_events(self) -> list[dict[str, Any]]:
        reply = self._check(await self._post("EiEvent", "oadrRequestEvent", request_id=_new_id(),
                                             ven_id=self.state.ven_id), "oadrDistributeEvent")
        await self._on_distribute(reply)
        return list(self.state.events.values())

    async def _event_responses(self, message: Inbound) -> list[dict[str, Any]]:
        responses = []
        for event in message.payload.get("events") or []:
            descriptor = event["event_descriptor"]
            event_id = descriptor["event_id"]
            known = self.state.events.get(event_id)
            self.state.events[event_id] = event
            if known is not None and known["event_descriptor"]["modification_number"] == \
                    descriptor["modification_number"] and event_id in self.state.opt_types:
                opt = self.state.opt_types[event_id]
            else:
                opt = await self._decide(event)
                self.state.opt_types[event_id] = opt
            if event.get("response_required", "always") == "always":
                responses.append({"response_code": 200, "response_description": "OK",
                                  "request_id": message.payload.get("request_id"), "event_id": event_id,
                                  "modification_number": descriptor["modification_number"], "opt_type": opt})
        return responses

    def _created_event(self, message: Inbound, responses: list[dict[str, Any]]) -> dict[str, Any]:
        return {"ven_id": self.state.ven_id, "event_responses": responses,
                "response": {"response_code": 200, "response_description": "OK",
                             "request_id": message.payload.get("request_id")}}

    async def _on_distribute(self, message: Inbound) -> None:
        responses = await self._event_responses(message)
        if responses:
            await self._post("EiEvent", "oadrCreatedEvent", **self._created_event(message, responses))

    async def handle_push(self, body: bytes) -> str:
        """A message the VTN pushed to us (HTTP push model); returns our synchronous reply."""
        message = decode(body)
        if self._received:
            self._received(body)
        if message.message_type == "oadrDistributeEvent":
            responses = await self._event_responses(message)
            if responses:
                return encode("oadrCreatedEvent", **self._created_event(message, responses))
        elif message.message_type == "oadrCreateReport":
            await self._accept_report_requests(message.payload.get("report_requests") or [],
                                               message.payload.get("request_id"))
        elif message.message_type == "oadrRequestReregistration":
            asyncio.get_running_loop().create_task(self.register(push_address=self.push_address))
        request_id = message.payload.get("request_id")
        return encode("oadrResponse", ven_id=self.state.ven_id,
                      response={"response_code": 200, "response_description": "OK", "request_id": request_id})

    async def _decide(self, event: dict[str, Any]) -> str:
        if self.on_event is None:
            return "optOut"
        result = self.on_event(event)
        if inspect.isawaitable(result):
            result = await result
        return result if result in ("optIn", "optOut") else "optOut"

    async def create_opt(self, opt_type: str, reason: str, *, windows: list[tuple[datetime, timedelta]] | None = None,
                         event_id: str | None = None, modification_number: int | None = None,
                         opt_id: str | None = None) -> str:
        opt_id = opt_id or f"opt-{_new_id()[:16]}"
        payload: dict[str, Any] = {"opt_id": opt_id, "opt_type": opt_type, "opt_reason": reason,
                                   "ven_id": self.state.ven_id, "created_date_time": datetime.now(UTC),
                                   "request_id": _new_id(), "targets": [{"ven_id": self.state.ven_id}]}
        if event_id:
            payload.update(event_id=event_id, modification_number=modification_number or 0)
        if windows:
            payload["vavailability"] = {"components": [{"dtstart": s, "duration": d} for s, d in windows]}
        self._check(await self._post("EiOpt", "oadrCreateOpt", **payload), "oadrCreatedOpt")
        return opt_id

    # --- polling -----------------------------------------------------------------------

    async def poll(self) -> str | None:
        """One oadrPoll; acts on what comes back and returns its message type."""
        reply = await self._post("OadrPoll", "oadrPoll", ven_id=self.state.ven_id)
        if reply is None:
            return None
        kind = reply.message_type
        if kind == "oadrDistributeEvent":
            await self._on_distribute(reply)
        elif kind == "oadrCreateReport":
            await self._accept_report_requests(reply.payload.get("report_requests") or [],
                                               reply.payload.get("request_id"))
        elif kind == "oadrRequestReregistration":
            await self._post("EiRegisterParty", "oadrResponse", ven_id=self.state.ven_id,
                             response={"response_code": 200, "response_description": "OK", "request_id": None})
            await self.register(push_address=self.push_address)
        elif kind == "oadrCancelPartyRegistration":
            await self._post("EiRegisterParty", "oadrCanceledPartyRegistration", ven_id=self.state.ven_id,
                             registration_id=self.state.registration_id,
                             response={"response_code": 200, "response_description": "OK",
                                       "request_id": reply.payload.get("request_id")})
            self.state.registration_id = None
        elif kind == "oadrRegisterReport":  # the VTN offers its reports; we request none
            await self._post("EiReport", "oadrRegisteredReport", ven_id=self.state.ven_id, report_requests=[],
                             response={"response_code": 200, "response_description": "OK",
                                       "request_id": reply.payload.get("request_id")})
        return kind


async def serve_push(client: VenClient, host: str, port: int) -> tuple[asyncio.AbstractServer, int]:
    """Listen for pushed messages at ``http://host:port/<Service>`` (the VEN's transport address)."""
    from aiohttp import web

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405)
        try:
            reply = await client.handle_push(await request.read())
        except ValueError as exc:  # not well-formed, DTD, schema-invalid
            return web.Response(status=400, text=str(exc))
        return web.Response(body=reply.encode(), content_type="application/xml")

    server = await asyncio.get_running_loop().create_server(web.Server(handler, access_log=None), host, port)
    return server, int(server.sockets[0].getsockname()[1])
