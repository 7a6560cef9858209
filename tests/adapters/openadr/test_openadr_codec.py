"""The OpenADR ⇄ native mapping: events from schedules and prices, reports to measurements and offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.openadr import codec
from adapters.openadr.messages import decode, encode
from core.flexoffer import FlexOffer, Profile, Schedule, check_schedule

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def offer_with_schedule(energies: list[float], durations: list[int], interval: int = 900) -> FlexOffer:
    return FlexOffer(
        earliest_start=T0,
        latest_start=T0,
        interval_seconds=interval,
        profile=Profile(energy_lower=[min(0.0, e) for e in energies], energy_upper=[max(0.0, e) for e in energies],
                        min_duration=durations, max_duration=durations),
        schedule=Schedule(start=T0, energy=energies, durations=durations),
    )


def distribute(event: dict) -> str:
    return encode("oadrDistributeEvent", request_id="req-1", vtn_id="HUB", events=[event])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-500, 500, allow_nan=False), st.integers(1, 4)), min_size=1, max_size=12),
    st.sampled_from([300, 900, 1800, 3600]),
)
def test_schedule_becomes_valid_load_dispatch_event_and_back(slices: list[tuple[float, int]], interval: int) -> None:
    energies = [e for e, _ in slices]
    durations = [d for _, d in slices]
    offer = offer_with_schedule(energies, durations, interval)
    signal = codec.schedule_signal(offer)
    event = codec.event_dict(event_id="ev-1", modification_number=0, market_context="http://hub/mc",
                             signals=[signal], created=T0, status="far", ven_ids=["ven-1"])
    inbound = decode(distribute(event))  # XSD-validated on the way in
    [received] = inbound.payload["events"]
    assert received["event_descriptor"]["event_id"] == "ev-1"
    [target] = codec.dispatch_targets(received)
    assert target.signal_name == "LOAD_DISPATCH"
    back = codec.schedule_from_target(target, interval)
    assert back.start == T0
    assert back.durations == durations
    assert back.energy == pytest.approx(energies, abs=1e-6)
    assert check_schedule(offer, back) == []


def test_price_series_becomes_electricity_price_event() -> None:
    signal = codec.price_signal(T0, [0.21, 0.25, 0.19], 3600, currency="EUR")
    event = codec.event_dict(event_id="p-1", modification_number=2, market_context="http://hub/mc",
                             signals=[signal], created=T0, status="far", group_ids=["g1"])
    [received] = decode(distribute(event)).payload["events"]
    [signal_back] = codec.signals_from_event(received)
    assert signal_back.name == "ELECTRICITY_PRICE"
    assert signal_back.type == "price"
    assert [i.value for i in signal_back.intervals] == [0.21, 0.25, 0.19]
    assert [i.start for i in signal_back.intervals] == [T0 + timedelta(hours=k) for k in range(3)]
    assert received["active_period"]["duration"] == timedelta(hours=3)
    assert received["event_descriptor"]["modification_number"] == 2


def test_empty_or_unscheduled_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        codec.price_signal(T0, [])
    offer = offer_with_schedule([1.0], [1]).model_copy(update={"schedule": None})
    with pytest.raises(ValueError, match="no schedule"):
        codec.schedule_signal(offer)


def _report_xml(intervals: str, name: str = "TELEMETRY_USAGE") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07">
<oadr:oadrSignedObject oadr:Id="s"><oadr:oadrUpdateReport ei:schemaVersion="2.0b"
 xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110"
 xmlns:pyld="http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
 xmlns:xcal="urn:ietf:params:xml:ns:icalendar-2.0" xmlns:strm="urn:ietf:params:xml:ns:icalendar-2.0:stream">
<pyld:requestID>u-1</pyld:requestID>
<oadr:oadrReport><xcal:dtstart><xcal:date-time>2026-11-22T08:00:00Z</xcal:date-time></xcal:dtstart>
<strm:intervals>{intervals}</strm:intervals>
<ei:eiReportID>r-1</ei:eiReportID><ei:reportRequestID>rr-1</ei:reportRequestID>
<ei:reportSpecifierID>spec-1</ei:reportSpecifierID><ei:reportName>{name}</ei:reportName>
<ei:createdDateTime>2026-11-22T08:00:00Z</ei:createdDateTime></oadr:oadrReport>
<ei:venID>ven-1</ei:venID></oadr:oadrUpdateReport></oadr:oadrSignedObject></oadr:oadrPayload>""".encode()


def _interval(minute: int, payload: str) -> str:
    return (f"<ei:interval><xcal:dtstart><xcal:date-time>2026-11-22T08:{minute:02d}:00Z</xcal:date-time>"
            "</xcal:dtstart><xcal:duration><xcal:duration>PT15M</xcal:duration></xcal:duration>"
            f"<oadr:oadrReportPayload>{payload}</oadr:oadrReportPayload></ei:interval>")


def _status(minimum: float, maximum: float, current: float) -> str:
    return ("<ei:rID>status</ei:rID><oadr:oadrPayloadResourceStatus><oadr:oadrOnline>true</oadr:oadrOnline>"
            "<oadr:oadrManualOverride>false</oadr:oadrManualOverride><oadr:oadrLoadControlState>"
            f"<oadr:oadrCapacity><oadr:oadrMin>{minimum}</oadr:oadrMin><oadr:oadrMax>{maximum}</oadr:oadrMax>"
            f"<oadr:oadrCurrent>{current}</oadr:oadrCurrent></oadr:oadrCapacity>"
            "</oadr:oadrLoadControlState></oadr:oadrPayloadResourceStatus>")


def test_telemetry_report_becomes_measurements() -> None:
    body = _report_xml(_interval(0, "<ei:rID>p1</ei:rID><ei:payloadFloat><ei:value>12.5</ei:value></ei:payloadFloat>")
                       + _interval(15, "<ei:rID>p1</ei:rID><ei:payloadFloat><ei:value>9</ei:value>"
                                   "</ei:payloadFloat>"))
    inbound = decode(body)
    [report] = codec.report_data(inbound.root)
    descriptions = {"p1": codec.ReportDescription("p1", "usage", "Direct Read", unit="W", scale="k")}
    rows = codec.measurements(report, descriptions)
    assert [(m.start.minute, m.value, m.duration_seconds, m.report_type) for m in rows] == [
        (0, 12.5, 900, "usage"), (15, 9.0, 900, "usage")]
    assert report.report_request_id == "rr-1"
    assert not codec.is_availability(report, descriptions)


def test_resource_status_report_becomes_feasible_flex_offer() -> None:
    body = _report_xml(_interval(0, _status(2, 10, 6)) + _interval(15, _status(0, 8, 4)), "TELEMETRY_STATUS")
    [report] = codec.report_data(decode(body).root)
    descriptions = {"status": codec.ReportDescription("status", "x-resourceStatus", "x-notApplicable")}
    assert codec.is_availability(report, descriptions)
    offer = codec.availability_offer(report, descriptions, "ven-1", offer_id="o-1")
    assert offer.offered_by == "ven-1"
    assert offer.interval_seconds == 900
    assert offer.profile.energy_lower == [0.5, 0.0]
    assert offer.profile.energy_upper == [2.5, 2.0]
    assert offer.default_schedule is not None
    assert check_schedule(offer, offer.default_schedule) == []


def test_projected_regulation_capacity_widens_the_baseline() -> None:
    body = _report_xml(
        _interval(0, "<ei:rID>up</ei:rID><ei:payloadFloat><ei:value>3</ei:value></ei:payloadFloat>")
        + _interval(0, "<ei:rID>down</ei:rID><ei:payloadFloat><ei:value>1</ei:value></ei:payloadFloat>")
        + _interval(0, _status(5, 5, 5)))
    [report] = codec.report_data(decode(body).root)
    descriptions = {
        "up": codec.ReportDescription("up", "upRegulationCapacityAvailable", "Projected", unit="W", scale="k"),
        "down": codec.ReportDescription("down", "downRegulationCapacityAvailable", "Projected", unit="W", scale="k"),
    }
    offer = codec.availability_offer(report, descriptions, "ven-1")
    assert offer.profile.energy_lower == [pytest.approx(0.5)]  # (5 - 3) kW x 0.25 h
    assert offer.profile.energy_upper == [pytest.approx(1.5)]  # (5 + 1) kW x 0.25 h


def test_gapped_availability_is_refused() -> None:
    body = _report_xml(_interval(0, _status(0, 1, 0)) + _interval(30, _status(0, 1, 0)))
    [report] = codec.report_data(decode(body).root)
    with pytest.raises(ValueError, match="contiguous"):
        codec.availability_offer(report, {}, "ven-1")
