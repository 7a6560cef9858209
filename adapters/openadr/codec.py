"""OpenADR 2.0b ⇄ native model: the one place where the mapping lives.

Outbound, the codec builds event dicts in openleadr's payload shape (rendered by
:mod:`adapters.openadr.messages`): a flex-offer schedule becomes a LOAD_DISPATCH
event, a price series an ELECTRICITY_PRICE event. Inbound reports are read from
the validated lxml tree rather than openleadr's dict, because openleadr drops
``oadrPayloadResourceStatus`` content, which carries availability.

Units: events carry power (kW) because 2.0b signals are setpoints or levels; the
core carries energy per slice (kWh), so ``kW = kWh / slice hours``. Load
convention on both sides (positive = consumption). "Up" regulation lowers
consumption and "down" raises it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from lxml import etree
from openleadr.utils import parse_datetime, parse_duration

from core.flexoffer import DEFAULT_INTERVAL_SECONDS, FlexOffer, OfferState, Profile, Schedule
from core.flexoffer.model import as_utc

NS = {
    "oadr": "http://openadr.org/oadr-2.0b/2012/07",
    "ei": "http://docs.oasis-open.org/ns/energyinterop/201110",
    "pyld": "http://docs.oasis-open.org/ns/energyinterop/201110/payloads",
    "xcal": "urn:ietf:params:xml:ns:icalendar-2.0",
    "strm": "urn:ietf:params:xml:ns:icalendar-2.0:stream",
    "emix": "http://docs.oasis-open.org/ns/emix/2011/06",
}

LOAD_DISPATCH = "LOAD_DISPATCH"
ELECTRICITY_PRICE = "ELECTRICITY_PRICE"
SIMPLE = "SIMPLE"
SIGNAL_TYPES = {LOAD_DISPATCH: {"setpoint", "delta", "multiplier"}, ELECTRICITY_PRICE: {"price", "priceRelative",
                "priceMultiplier"}, SIMPLE: {"level"}}
POWER_KW = {"name": "powerReal", "description": "RealPower", "unit": "W", "scale": "k", "ns": "power",
            "power_attributes": {"hertz": 50, "voltage": 230, "ac": True}}

AVAILABILITY_REPORT_TYPES = {"upRegulationCapacityAvailable", "downRegulationCapacityAvailable"}
RESOURCE_STATUS = "x-resourceStatus"


@dataclass(frozen=True)
class SignalInterval:
    """One interval of an event signal: when, how long, and the signal value."""

    start: datetime
    duration: timedelta
    value: float


@dataclass(frozen=True)
class EventSignal:
    name: str
    type: str
    intervals: list[SignalInterval]
    unit: str | None = None


def event_dict(
    *,
    event_id: str,
    modification_number: int,
    market_context: str,
    signals: list[EventSignal],
    created: datetime,
    status: str,
    ven_ids: list[str] | None = None,
    group_ids: list[str] | None = None,
    priority: int | None = 0,
    test_event: bool = False,
    response_required: str = "always",
    modification_reason: str | None = None,
    ramp_up: timedelta | None = None,
) -> dict[str, Any]:
    """Build one oadrEvent in openleadr's dict shape; the active period spans all intervals."""
    if not signals or not any(s.intervals for s in signals):
        raise ValueError("an event needs at least one signal with one interval")
    starts = [i.start for s in signals for i in s.intervals]
    ends = [i.start + i.duration for s in signals for i in s.intervals]
    dtstart = min(starts)
    targets = [{"ven_id": v} for v in ven_ids or []] + [{"group_id": g} for g in group_ids or []]
    return {
        "event_descriptor": {
            "event_id": event_id,
            "modification_number": modification_number,
            "modification_reason": modification_reason,
            "priority": priority,
            "market_context": market_context,
            "created_date_time": created,
            "event_status": status,
            "test_event": test_event,
        },
        "active_period": {"dtstart": dtstart, "duration": max(ends) - dtstart, "ramp_up_period": ramp_up},
        "event_signals": [
            {
                "signal_name": signal.name,
                "signal_type": signal.type,
                "signal_id": f"{event_id}-{index}",
                "intervals": [{"duration": i.duration, "signal_payload": i.value} for i in signal.intervals],
                "measurement": _measurement(signal),
            }
            for index, signal in enumerate(signals)
        ],
        "targets": targets or None,
        "response_required": response_required,
    }


def _measurement(signal: EventSignal) -> dict[str, Any] | None:
    if signal.name == LOAD_DISPATCH:
        return POWER_KW
    if signal.name == ELECTRICITY_PRICE:
        return {"name": "currency", "description": "currencyPerKWh", "unit": signal.unit or "EUR",
                "scale": "none", "ns": "oadr"}
    return None


def check_contiguous(intervals: list[SignalInterval]) -> None:
    for before, after in pairwise(intervals):
        if before.start + before.duration != after.start:
            raise ValueError("2.0b signal intervals must be contiguous (each starts where the previous ends)")


def schedule_signal(offer: FlexOffer, schedule: Schedule | None = None) -> EventSignal:
    """A flex-offer schedule as a LOAD_DISPATCH setpoint signal in kW, one interval per slice."""
    schedule = schedule or offer.schedule
    if schedule is None:
        raise ValueError("the flex-offer has no schedule to dispatch")
    profile = offer.profiles[schedule.profile_index or 0]
    durations = schedule.slice_durations(profile)
    if len(durations) != len(schedule.energy):
        raise ValueError("schedule energies and slice durations differ in length")
    intervals: list[SignalInterval] = []
    moment = schedule.start
    for energy_kwh, count in zip(schedule.energy, durations, strict=True):
        length = timedelta(seconds=count * offer.interval_seconds)
        intervals.append(SignalInterval(moment, length, energy_kwh / (length.total_seconds() / 3600)))
        moment += length
    return EventSignal(LOAD_DISPATCH, "setpoint", intervals, unit="kW")


def price_signal(start: datetime, prices: list[float], interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
                 currency: str = "EUR") -> EventSignal:
    """A price series (currency per kWh) as an ELECTRICITY_PRICE signal."""
    if not prices:
        raise ValueError("empty price series")
    step = timedelta(seconds=interval_seconds)
    start = as_utc(start)
    intervals = [SignalInterval(start + k * step, step, float(p)) for k, p in enumerate(prices)]
    return EventSignal(ELECTRICITY_PRICE, "price", intervals, unit=currency)


def signals_from_event(event: dict[str, Any]) -> list[EventSignal]:
    """Read an openleadr event dict back into signals with absolute interval start times."""
    active = event["active_period"]
    start = as_utc(active["dtstart"])
    signals = event["event_signals"]
    if isinstance(signals, dict):
        signals = signals.get("event_signals", [])
    result: list[EventSignal] = []
    for signal in signals:
        moment = start
        intervals: list[SignalInterval] = []
        for interval in signal.get("intervals", []):
            if interval.get("dtstart") is not None:
                moment = as_utc(interval["dtstart"])
            duration = interval.get("duration") or active["duration"]
            intervals.append(SignalInterval(moment, duration, float(interval["signal_payload"])))
            moment += duration
        result.append(EventSignal(signal["signal_name"], signal["signal_type"], intervals))
    return result


@dataclass(frozen=True)
class DispatchTarget:
    """A demand-response request for planning: target power (kW) per interval of one event."""

    event_id: str
    modification_number: int
    signal_name: str
    signal_type: str
    intervals: list[SignalInterval]

    def energy_kwh(self) -> list[float]:
        return [i.value * i.duration.total_seconds() / 3600 for i in self.intervals]


def dispatch_targets(event: dict[str, Any]) -> list[DispatchTarget]:
    """An upstream event as planning targets (one per signal)."""
    descriptor = event["event_descriptor"]
    return [
        DispatchTarget(descriptor["event_id"], int(descriptor["modification_number"]), s.name, s.type, s.intervals)
        for s in signals_from_event(event)
    ]


def schedule_from_target(target: DispatchTarget, interval_seconds: int = DEFAULT_INTERVAL_SECONDS) -> Schedule:
    """A LOAD_DISPATCH setpoint target as a native schedule on the given slice grid."""
    if target.signal_name != LOAD_DISPATCH or target.signal_type != "setpoint":
        raise ValueError("only LOAD_DISPATCH setpoint targets map to a schedule")
    check_contiguous(target.intervals)
    energies: list[float] = []
    durations: list[int] = []
    for interval in target.intervals:
        seconds = interval.duration.total_seconds()
        if seconds % interval_seconds:
            raise ValueError(f"interval of {seconds} s is not a multiple of {interval_seconds} s")
        durations.append(int(seconds // interval_seconds))
        energies.append(interval.value * seconds / 3600)
    return Schedule(start=target.intervals[0].start, energy=energies, durations=durations)


# --- reports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportDescription:
    """One rID of a registered (METADATA) report."""

    r_id: str
    report_type: str
    reading_type: str
    unit: str | None = None
    scale: str | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class RegisteredReport:
    report_specifier_id: str
    report_name: str
    descriptions: list[ReportDescription]
    min_period: timedelta | None = None
    max_period: timedelta | None = None


@dataclass(frozen=True)
class ReportValue:
    """One interval of an oadrReport: a float, or a resource status (kW capacities)."""

    start: datetime
    duration: timedelta | None
    r_id: str
    value: float | None = None
    status: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportData:
    report_request_id: str
    report_specifier_id: str
    report_name: str | None
    values: list[ReportValue]


@dataclass(frozen=True)
class Measurement:
    """A telemetry reading ready for the store."""

    r_id: str
    report_name: str | None
    report_type: str
    reading_type: str
    start: datetime
    duration_seconds: int | None
    value: float
    unit: str | None


def _text(node: etree._Element, path: str) -> str | None:
    found = node.find(path, NS)
    return found.text.strip() if found is not None and found.text else None


def _duration(node: etree._Element, path: str) -> timedelta | None:
    text = _text(node, path)
    return parse_duration(text) if text else None


def _signed(root: etree._Element) -> etree._Element:
    return root.find("oadr:oadrSignedObject", NS)[0]


def registered_reports(root: etree._Element) -> list[RegisteredReport]:
    """The METADATA reports of an oadrRegisterReport (its rIDs, types and sampling rates)."""
    reports: list[RegisteredReport] = []
    for report in _signed(root).iterfind("oadr:oadrReport", NS):
        descriptions = []
        min_period = max_period = None
        for desc in report.iterfind("oadr:oadrReportDescription", NS):
            unit_node = next((c for c in desc if etree.QName(c).localname not in {
                "rID", "reportSubject", "reportDataSource", "reportType", "readingType", "marketContext",
                "oadrSamplingRate"}), None)
            unit = scale = None
            if unit_node is not None:
                for child in unit_node:
                    name = etree.QName(child).localname
                    if name == "itemUnits":
                        unit = (child.text or "").strip()
                    elif name == "siScaleCode":
                        scale = (child.text or "").strip()
            descriptions.append(ReportDescription(
                r_id=_text(desc, "ei:rID") or "",
                report_type=_text(desc, "ei:reportType") or "",
                reading_type=_text(desc, "ei:readingType") or "",
                unit=unit,
                scale=scale,
                resource_id=_text(desc, "ei:reportDataSource/ei:resourceID"),
            ))
            min_period = min_period or _duration(desc, "oadr:oadrSamplingRate/oadr:oadrMinPeriod")
            max_period = max_period or _duration(desc, "oadr:oadrSamplingRate/oadr:oadrMaxPeriod")
        reports.append(RegisteredReport(
            report_specifier_id=_text(report, "ei:reportSpecifierID") or "",
            report_name=_text(report, "ei:reportName") or "",
            descriptions=descriptions,
            min_period=min_period,
            max_period=max_period,
        ))
    return reports


def _status_of(payload: etree._Element) -> dict[str, Any]:
    status: dict[str, Any] = {}
    node = payload.find("oadr:oadrPayloadResourceStatus", NS)
    if node is None:
        return status
    status["online"] = _text(node, "oadr:oadrOnline") == "true"
    status["manual_override"] = _text(node, "oadr:oadrManualOverride") == "true"
    state = node.find("oadr:oadrLoadControlState", NS)
    if state is not None:
        for kind in state:
            values = {etree.QName(c).localname: float(c.text) for c in kind if c.text and c.text.strip()}
            status[etree.QName(kind).localname] = values
    return status


def report_data(root: etree._Element) -> list[ReportData]:
    """The reports of an oadrUpdateReport, float and resource-status payloads alike."""
    reports: list[ReportData] = []
    for report in _signed(root).iterfind("oadr:oadrReport", NS):
        start = _text(report, "xcal:dtstart/xcal:date-time")
        report_start = as_utc(parse_datetime(start)) if start else None
        values: list[ReportValue] = []
        for interval in report.iterfind("strm:intervals/ei:interval", NS):
            at = _text(interval, "xcal:dtstart/xcal:date-time")
            moment = as_utc(parse_datetime(at)) if at else report_start
            if moment is None:
                raise ValueError("report interval without a start time")
            duration = _duration(interval, "xcal:duration/xcal:duration")
            for payload in interval:
                if etree.QName(payload).localname != "oadrReportPayload":
                    continue
                value_text = _text(payload, "ei:payloadFloat/ei:value")
                values.append(ReportValue(
                    start=moment,
                    duration=duration,
                    r_id=_text(payload, "ei:rID") or "",
                    value=float(value_text) if value_text is not None else None,
                    status=_status_of(payload),
                ))
        reports.append(ReportData(
            report_request_id=_text(report, "ei:reportRequestID") or "",
            report_specifier_id=_text(report, "ei:reportSpecifierID") or "",
            report_name=_text(report, "ei:reportName"),
            values=values,
        ))
    return reports


def measurements(report: ReportData, descriptions: dict[str, ReportDescription]) -> list[Measurement]:
    """Float readings of a TELEMETRY_USAGE/HISTORY_USAGE/TELEMETRY_STATUS report."""
    result: list[Measurement] = []
    for value in report.values:
        if value.value is None:
            continue
        desc = descriptions.get(value.r_id)
        result.append(Measurement(
            r_id=value.r_id,
            report_name=report.report_name,
            report_type=desc.report_type if desc else "",
            reading_type=desc.reading_type if desc else "",
            start=value.start,
            duration_seconds=int(value.duration.total_seconds()) if value.duration else None,
            value=value.value,
            unit=desc.unit if desc else None,
        ))
    return result


def is_availability(report: ReportData, descriptions: dict[str, ReportDescription]) -> bool:
    for value in report.values:
        desc = descriptions.get(value.r_id)
        if value.status.get("oadrCapacity"):
            return True
        if desc and desc.report_type in AVAILABILITY_REPORT_TYPES and desc.reading_type == "Projected":
            return True
    return False


def _kw_factor(desc: ReportDescription | None) -> float:
    """Report values in W, kW or MW (siScaleCode none/k/M) become kW; no description means kW."""
    if desc is None or desc.scale is None:
        return 1.0
    return {"none": 1.0, "k": 1e3, "M": 1e6}.get(desc.scale, 1e3) / 1e3


def availability_offer(report: ReportData, descriptions: dict[str, ReportDescription], ven_id: str,
                       *, offer_id: str | None = None) -> FlexOffer:
    """An availability report as a flex-offer: one slice per interval, no time flexibility.

    Per interval, the baseline is the resource status ``oadrCapacity/oadrCurrent`` (else 0 kW);
    capacity ``oadrMin``/``oadrMax`` bound the slice directly, and projected up/down
    regulation capacity widen the baseline downward/upward.
    """
    slices: dict[datetime, dict[str, float]] = {}
    length: timedelta | None = None
    for value in report.values:
        entry = slices.setdefault(value.start, {})
        if value.duration is not None:
            if length is not None and value.duration != length:
                raise ValueError("availability intervals must all have the same duration")
            length = value.duration
        capacity = value.status.get("oadrCapacity") or {}
        for key in ("oadrMin", "oadrMax", "oadrCurrent"):
            if key in capacity:
                entry[key] = capacity[key]
        desc = descriptions.get(value.r_id)
        if value.value is not None and desc and desc.report_type in AVAILABILITY_REPORT_TYPES:
            entry[desc.report_type] = value.value * _kw_factor(desc)
    if not slices:
        raise ValueError("availability report without intervals")
    seconds = int(length.total_seconds()) if length else DEFAULT_INTERVAL_SECONDS
    if seconds <= 0 or 3600 % seconds:
        raise ValueError(f"interval of {seconds} s is not a divisor of one hour")
    starts = sorted(slices)
    step = timedelta(seconds=seconds)
    for before, after in pairwise(starts):
        if after - before != step:
            raise ValueError("availability intervals must be contiguous")
    hours = seconds / 3600
    lower: list[float] = []
    upper: list[float] = []
    baseline: list[float] = []
    for start in starts:
        entry = slices[start]
        current = entry.get("oadrCurrent", 0.0)
        low = entry.get("oadrMin", current) - entry.get("upRegulationCapacityAvailable", 0.0)
        high = entry.get("oadrMax", current) + entry.get("downRegulationCapacityAvailable", 0.0)
        if low > high:
            raise ValueError(f"interval {start.isoformat()}: lower bound {low} kW exceeds upper {high} kW")
        lower.append(low * hours)
        upper.append(high * hours)
        baseline.append(min(max(current, low), high) * hours)
    return FlexOffer(
        id=offer_id,
        state=OfferState.OFFERED,
        offered_by=ven_id,
        earliest_start=starts[0],
        latest_start=starts[0],
        interval_seconds=seconds,
        profile=Profile(energy_lower=lower, energy_upper=upper),
        default_schedule=Schedule(start=starts[0], energy=baseline),
        extra={"openadr": {"venID": ven_id, "reportSpecifierID": report.report_specifier_id,
                           "reportRequestID": report.report_request_id}},
    )
