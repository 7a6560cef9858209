"""Stateless rejection reasons: ISP duration, TimeZone, ISP bounds on DST days, conflicts, periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapeshifter_uftp.uftp import AvailableRequested, FlexRequestISP, Metering, MeteringISP, MeteringProfile

from adapters.usef import build as m
from adapters.usef import codec, reasons
from adapters.usef.rules import MarketRules, isps_per_period, semantic_reasons
from adapters.usef.safexml import parse_xml
from adapters.usef.schema import SchemaSet

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = MarketRules()
SPRING, NORMAL, AUTUMN = date(2026, 3, 29), date(2026, 3, 30), date(2026, 10, 25)


def _stamped(message: object) -> object:
    return codec.stamp(message, "dso.example.com", "agr.example.com")


def _isps(spans: list[tuple[int, int]]) -> list[FlexRequestISP]:
    return [FlexRequestISP(disposition=AvailableRequested.REQUESTED, min_power=-1000, max_power=0, start=s,
                           duration=d) for s, d in spans]


@pytest.mark.parametrize(("day", "count"), [(SPRING, 92), (NORMAL, 96), (AUTUMN, 100)])
def test_isp_count_follows_dst(day: date, count: int, schemas: SchemaSet) -> None:
    assert isps_per_period(day, AMS, timedelta(minutes=15)) == count
    full = _stamped(m.flex_request(day))
    assert len(full.isps) == count
    assert schemas.errors(parse_xml(codec.to_xml(full))) == []
    assert semantic_reasons(full, RULES, NOW) == []
    full.isps = full.isps + _isps([(count + 1, 1)])
    assert semantic_reasons(full, RULES, NOW) == [reasons.ISPS_OUT_OF_BOUNDS]


def test_isp_running_past_the_day_and_zero_isps_are_out_of_bounds() -> None:
    request = _stamped(m.flex_request(SPRING, expiration=NOW + timedelta(hours=1)))
    request.isps = _isps([(90, 4)])
    assert semantic_reasons(request, RULES, NOW) == [reasons.ISPS_OUT_OF_BOUNDS]
    request.isps = []
    assert semantic_reasons(request, RULES, NOW) == [reasons.ISPS_OUT_OF_BOUNDS]


def test_isp_conflict_is_the_specs_example() -> None:
    request = _stamped(m.flex_request(NORMAL, expiration=NOW + timedelta(hours=1)))
    request.isps = _isps([(1, 4), (2, 1)])
    assert semantic_reasons(request, RULES, NOW) == [reasons.ISP_CONFLICT]


def test_isp_duration_and_timezone() -> None:
    request = _stamped(m.flex_request(NORMAL, isp_duration="PT30M", expiration=NOW + timedelta(hours=1)))
    request.isps = _isps([(1, 1)])
    assert reasons.ISP_DURATION_REJECTED in semantic_reasons(request, RULES, NOW)
    same_offset = _stamped(m.flex_request(NORMAL, tz="Europe/Brussels"))
    assert semantic_reasons(same_offset, RULES, NOW) == []
    for other in ("Europe/London", "Mars/Olympus"):
        request = _stamped(m.flex_request(NORMAL))
        request.time_zone = other
        assert reasons.TIMEZONE_REJECTED in semantic_reasons(request, RULES, NOW)


def test_period_and_expiration_bounds() -> None:
    past = _stamped(m.flex_request(date(2026, 2, 27), expiration=NOW + timedelta(hours=1)))
    assert reasons.PERIOD_OUT_OF_BOUNDS in semantic_reasons(past, RULES, NOW)
    expired = _stamped(m.flex_request(NORMAL, expiration=NOW - timedelta(minutes=1)))
    assert semantic_reasons(expired, RULES, NOW) == [reasons.EXPIRATION_OUT_OF_BOUNDS]
    beyond = _stamped(m.flex_request(NORMAL, expiration=datetime(2026, 4, 1, tzinfo=UTC)))
    assert semantic_reasons(beyond, RULES, NOW) == [reasons.EXPIRATION_OUT_OF_BOUNDS]
    far = MarketRules(max_days_ahead=7)
    assert semantic_reasons(_stamped(m.flex_request(date(2026, 6, 1))), far, NOW) == [reasons.PERIOD_OUT_OF_BOUNDS]


def test_metering_cannot_be_for_the_future_and_settlement_items_stay_in_range() -> None:
    metering = _stamped(Metering(
        profiles=[MeteringProfile(isps=[MeteringISP(start=1, value=1)], profile_type="Power", unit="kW")],
        revision=1, isp_duration="PT15M", time_zone="Europe/Amsterdam", period="2026-03-05",
        ean="E8716859000126365"))
    assert semantic_reasons(metering, RULES, NOW) == [reasons.PERIOD_OUT_OF_BOUNDS]
    metering.period = "2026-02-27"
    assert semantic_reasons(metering, RULES, NOW) == []
    offer = _stamped(m.flex_offer(date(2026, 2, 20), flex_request_message_id=None, isps=[(5, -1000)]))
    settlement = _stamped(m.flex_settlement([_stamped(m.flex_order_for(offer))]))
    assert semantic_reasons(settlement, RULES, NOW) == []
    settlement.period_end = "2026-02-19"
    assert semantic_reasons(settlement, RULES, NOW) == [reasons.PERIOD_OUT_OF_BOUNDS]


def test_congestion_point_must_be_known_when_configured() -> None:
    rules = MarketRules(congestion_points=frozenset({"ean.000000000000000001"}))
    assert semantic_reasons(_stamped(m.flex_request(NORMAL)), rules, NOW) == [reasons.INVALID_CONGESTION_POINT]


def test_several_reasons_are_joined_with_semicolons() -> None:
    assert reasons.join([reasons.ISP_CONFLICT, reasons.ISPS_OUT_OF_BOUNDS, reasons.ISP_CONFLICT]) == (
        "ISP conflict; ISPs out of bounds")
    assert reasons.unknown_reference("FlexRequestMessageID") == "Unknown FlexRequestMessageID reference"


@settings(max_examples=60, deadline=None)
@given(day=st.dates(date(2025, 1, 1), date(2030, 12, 31)), data=st.data())
def test_disjoint_in_bounds_isps_pass_and_overlaps_conflict(day: date, data: st.DataObject) -> None:
    limit = isps_per_period(day, AMS, timedelta(minutes=15))
    cuts = sorted(data.draw(st.sets(st.integers(1, limit), min_size=1, max_size=12)))
    spans = [(start, (cuts[i + 1] if i + 1 < len(cuts) else limit + 1) - start) for i, start in enumerate(cuts)]
    request = _stamped(m.flex_request(day, expiration=datetime.combine(day, datetime.min.time(), AMS)))
    request.isps = _isps(spans)
    now = datetime.combine(day, datetime.min.time(), AMS) - timedelta(days=1)
    assert semantic_reasons(request, RULES, now) == []
    victim = data.draw(st.sampled_from(spans))
    request.isps = _isps([*spans, (victim[0], 1)])
    assert semantic_reasons(request, RULES, now) == [reasons.ISP_CONFLICT]
