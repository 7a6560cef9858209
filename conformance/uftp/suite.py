"""UFTP conformance cases for a participant in the AGR or DSO role, with JUnit XML output.

Each case sends one valid or deliberately invalid message and checks the transport
answer and/or the asynchronous *Response against the specification's
message-validation chapter (exact RejectionReason texts).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from adapters.usef import build, codec, keys, reasons
from adapters.usef.rules import isps_per_period
from conformance.report import CaseResult, Report
from conformance.uftp.peer import Peer


@dataclass
class Case:
    name: str
    description: str
    run: Callable[[Peer], str | None]
    """Returns None on success, else what went wrong."""


def _next_dst_day(tz: str, spring: bool, today: date) -> date:
    zone = ZoneInfo(tz)
    day = today + timedelta(days=1)
    for _ in range(800):
        if isps_per_period(day, zone, timedelta(minutes=15)) == (92 if spring else 100):
            return day
        day += timedelta(days=1)
    raise LookupError(f"{tz} has no DST")


def _expect(peer: Peer, message: object, reason: str | None, timeout: float, **seal: object) -> str | None:
    reply = peer.send(message, **seal)  # type: ignore[arg-type]
    if reply.status_code != 200:
        return f"expected HTTP 200, got {reply.status_code}: {reply.text[:200]}"
    try:
        response = peer.receiver.response_to(str(message.message_id), timeout)  # type: ignore[attr-defined]
    except TimeoutError:
        return f"no *Response within {timeout:.0f} s"
    got = response.rejection_reason
    if reason is None:
        return None if str(response.result) == "Accepted" else f"expected Accepted, got Rejected: {got!r}"
    if str(response.result) != "Rejected":
        return f"expected Rejected with {reason!r}, got Accepted"
    if got is None or reason not in [part.strip() for part in got.split(";")]:
        return f"expected RejectionReason {reason!r}, got {got!r}"
    return None


def _expect_http(peer: Peer, body: bytes, statuses: tuple[int, ...]) -> str | None:
    reply = peer.post(body)
    return None if reply.status_code in statuses else f"expected HTTP {statuses}, got {reply.status_code}"


def cases(role: str, timeout: float = 10.0, tz: str = "Europe/Amsterdam") -> list[Case]:
    """The cases for a participant under test in ``role`` (we play the counterpart)."""
    today = datetime.now(ZoneInfo(tz)).date()
    day = today + timedelta(days=1)
    spring = _next_dst_day(tz, True, today)
    autumn = _next_dst_day(tz, False, today)

    def primary(when: date = day) -> object:
        if role == "AGR":
            return build.flex_request(when, tz=tz)
        return build.d_prognosis(when, [1000] * isps_per_period(when, ZoneInfo(tz), timedelta(minutes=15)), tz=tz)

    def with_extra_isp(message: object, start: int) -> object:
        isps = message.isps  # type: ignore[attr-defined]
        clone = type(isps[0])(**{**isps[0].__dict__, "start": start})
        isps.append(clone)
        return message

    def duplicate(same_content: bool) -> Callable[[Peer], str | None]:
        def run(peer: Peer) -> str | None:
            message = primary()
            body = peer.seal(message)
            first = _expect_http(peer, body, (200,))
            if first:
                return first
            try:
                peer.receiver.response_to(str(message.message_id), timeout)
            except TimeoutError:
                return "no response to the original"
            peer.receiver.clear()
            if not same_content:
                message.revision = 2  # type: ignore[attr-defined]
                return _expect(peer, message, reasons.DUPLICATE_IDENTIFIER, timeout, stamp=False)
            reply = peer.post(body)
            if reply.status_code != 200:
                return f"expected HTTP 200, got {reply.status_code}"
            try:
                response = peer.receiver.response_to(str(message.message_id), timeout)
            except TimeoutError:
                return "no *Response to the resubmission"
            return None if response.rejection_reason == reasons.ALREADY_SUBMITTED else (
                f"expected {reasons.ALREADY_SUBMITTED!r}, got {response.rejection_reason!r}")
        return run

    def stamped_as(sender: str | None, recipient: str | None, reason: str) -> Callable[[Peer], str | None]:
        def run(peer: Peer) -> str | None:
            message = primary()
            codec.stamp(message, sender or peer.domain, recipient or peer.target_domain)  # type: ignore[arg-type]
            return _expect(peer, message, reason, timeout, stamp=False)
        return run

    def period_past(peer: Peer) -> str | None:
        message = primary(today - timedelta(days=2))
        if role == "AGR":
            message.expiration_date_time = build.iso(datetime.now(UTC) + timedelta(hours=1))  # type: ignore[attr-defined]
        return _expect(peer, message, reasons.PERIOD_OUT_OF_BOUNDS, timeout)

    def retimed(**changes: str) -> Callable[[Peer], str | None]:
        def run(peer: Peer) -> str | None:
            message = primary()
            for name, value in changes.items():
                setattr(message, name, value)
            reason = reasons.ISP_DURATION_REJECTED if "isp_duration" in changes else reasons.TIMEZONE_REJECTED
            return _expect(peer, message, reason, timeout)
        return run

    def conflict(peer: Peer) -> str | None:
        return _expect(peer, with_extra_isp(primary(), 5), reasons.ISP_CONFLICT, timeout)

    def beyond(when: date) -> Callable[[Peer], str | None]:
        def run(peer: Peer) -> str | None:
            count = isps_per_period(when, ZoneInfo(tz), timedelta(minutes=15))
            return _expect(peer, with_extra_isp(primary(when), count + 1), reasons.ISPS_OUT_OF_BOUNDS, timeout)
        return run

    def dst_day_valid(when: date) -> Callable[[Peer], str | None]:
        return lambda peer: _expect(peer, primary(when), None, timeout)

    def unknown_reference(peer: Peer) -> str | None:
        ghost = str(uuid.uuid4())
        if role == "AGR":
            offer = build.flex_offer(day, flex_request_message_id=None, isps=[(5, -1000)], tz=tz)
            offer.message_id = ghost
            order = build.flex_order_for(offer)
            return _expect(peer, order, reasons.unknown_reference("FlexOfferMessageID"), timeout)
        offer = build.flex_offer(day, flex_request_message_id=ghost, isps=[(5, -1000)], tz=tz)
        return _expect(peer, offer, reasons.unknown_reference("FlexRequestMessageID"), timeout)

    def expired(peer: Peer) -> str | None:
        past = datetime.now(UTC) - timedelta(minutes=5)
        if role == "AGR":
            return _expect(peer, build.flex_request(day, tz=tz, expiration=past),
                           reasons.EXPIRATION_OUT_OF_BOUNDS, timeout)
        offer = build.flex_offer(day, flex_request_message_id=None, isps=[(5, -1000)], tz=tz, expiration=past)
        return _expect(peer, offer, reasons.EXPIRATION_OUT_OF_BOUNDS, timeout)

    def bad_signature(peer: Peer) -> str | None:
        return _expect_http(peer, peer.seal(primary(), key=keys.generate()), (401,))

    def doctype(peer: Peer) -> str | None:
        body = b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><SignedMessage/>"
        return _expect_http(peer, body, (400,))

    def unknown_sender(peer: Peer) -> str | None:
        return _expect_http(peer, peer.seal(primary(), envelope_domain=f"x{uuid.uuid4().hex[:8]}.example.com"),
                            (401, 403, 419))

    def test_message(peer: Peer) -> str | None:
        return _expect(peer, build.test_message(), None, timeout)

    kind = "FlexRequest" if role == "AGR" else "D-Prognosis"
    return [
        Case("TM_accepted", "TestMessage is answered with an accepted TestMessageResponse", test_message),
        Case("valid_accepted", f"a valid {kind} is accepted", lambda p: _expect(p, primary(), None, timeout)),
        Case("dst_spring_92", f"{kind} with 92 ISPs on {spring} (DST start) is accepted", dst_day_valid(spring)),
        Case("dst_autumn_100", f"{kind} with 100 ISPs on {autumn} (DST end) is accepted", dst_day_valid(autumn)),
        Case("already_submitted", "resubmitting identical content: 'Already Submitted'", duplicate(True)),
        Case("duplicate_identifier", "same MessageID, other content: 'Duplicate Identifier'", duplicate(False)),
        Case("isp_conflict", "overlapping ISPs: 'ISP conflict'", conflict),
        Case("isps_out_of_bounds", "ISP 97 on a normal day: 'ISPs out of bounds'", beyond(day)),
        Case("isps_out_of_bounds_dst", f"ISP 93 on {spring}: 'ISPs out of bounds'", beyond(spring)),
        Case("isp_duration", "ISP-Duration PT5M: 'ISP duration rejected'", retimed(isp_duration="PT5M")),
        Case("timezone", "TimeZone Europe/London: 'TimeZone rejected'", retimed(time_zone="Europe/London")),
        Case("period_out_of_bounds", "a Period in the past: 'Period out of bounds'", period_past),
        Case("expiration_out_of_bounds", "ExpirationDateTime in the past: 'ExpirationDateTime out of bounds'",
             expired),
        Case("unknown_reference", "a reference to an unknown message: 'Unknown …MessageID reference'",
             unknown_reference),
        Case("unknown_recipient", "RecipientDomain not the participant's: 'Unknown RecipientDomain'",
             stamped_as(None, "nobody.example.com", reasons.UNKNOWN_RECIPIENT_DOMAIN)),
        Case("mismatch_sender", "inner SenderDomain differs from the envelope: 'Mismatch SenderDomain'",
             stamped_as("other.example.com", None, reasons.MISMATCH_SENDER_DOMAIN)),
        Case("bad_signature", "a seal by the wrong key is refused with HTTP 401", bad_signature),
        Case("doctype_refused", "a DOCTYPE/external entity is refused with HTTP 400, never expanded", doctype),
        Case("unknown_sender", "an unknown SenderDomain is refused at transport level", unknown_sender),
    ]


def run_suite(peer: Peer, role: str, timeout: float = 10.0) -> Report:
    report = Report(suite=f"uftp-{role.lower()}", target=f"participant role {role}")
    for case in cases(role, timeout):
        started = time.monotonic()
        try:
            problem = case.run(peer)
        except Exception as exc:  # a crashing case is a failed case, not a crashed suite
            problem = f"{type(exc).__name__}: {exc}"
        report.results.append(CaseResult(case.name, case.description, problem is None, problem or "",
                                         time.monotonic() - started))
    return report
