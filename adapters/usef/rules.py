"""Semantic checks that need no conversation state (the spec's message-validation table).

Stateful reasons (duplicates, references, expiry of referenced messages) live in the
gateway service; what is here depends only on the message, the market's agreed
ISP duration and time zone, and the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shapeshifter_uftp.uftp import (
    AgrPortfolioQuery,
    AgrPortfolioQueryResponse,
    DPrognosis,
    DsoPortfolioQuery,
    DsoPortfolioQueryResponse,
    FlexOffer,
    FlexOrder,
    FlexRequest,
    FlexReservationUpdate,
    FlexSettlement,
    Metering,
    PayloadMessage,
)

from adapters.usef import reasons

_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?$")

# Period must not lie wholly in the past: the flexibility is still to be delivered.
_FORWARD_PERIOD = (FlexRequest, FlexOffer, FlexOrder, FlexReservationUpdate, DPrognosis)
# Period must have started: one cannot meter or settle the future.
_BACKWARD_PERIOD = (Metering,)


@dataclass(frozen=True)
class MarketRules:
    """The market-wide constants every message must agree with."""

    isp_duration: timedelta = timedelta(minutes=15)
    time_zone: str = "Europe/Amsterdam"
    congestion_points: frozenset[str] | None = None
    """Known congestion points; None skips the check (the validate CLI has no registry)."""
    max_days_ahead: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_isp_duration(text: str) -> timedelta | None:
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        return None
    return timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))


def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=1024)
def period_bounds(period: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start and end of a local calendar day: 23 h, 24 h or 25 h long across DST."""
    start = datetime.combine(period, time(0), tz).astimezone(UTC)
    end = datetime.combine(period + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def isps_per_period(period: date, tz: ZoneInfo, isp: timedelta) -> int:
    """96 for PT15M on a normal day, 92 on the spring-forward day, 100 on the fall-back day."""
    start, end = period_bounds(period, tz)
    return int((end - start) // isp)


def isp_start(period: date, tz: ZoneInfo, isp: timedelta, number: int) -> datetime:
    """UTC start of 1-based ISP ``number``: counted in elapsed time, so DST days work."""
    return period_bounds(period, tz)[0] + (number - 1) * isp


def to_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def to_datetime(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class IspGroup:
    """One list of ISPs that must be disjoint and lie within one Period."""

    period: date
    spans: list[tuple[int, int]]


def isp_groups(message: PayloadMessage) -> list[IspGroup]:
    if isinstance(message, (FlexRequest, DPrognosis, FlexReservationUpdate, FlexOrder)):
        return [IspGroup(to_date(message.period), [(i.start, i.duration or 1) for i in message.isps])]
    if isinstance(message, FlexOffer):
        period = to_date(message.period)
        return [IspGroup(period, [(i.start, i.duration or 1) for i in o.isps]) for o in message.offer_options]
    if isinstance(message, Metering):
        period = to_date(message.period)
        return [IspGroup(period, [(i.start, 1) for i in p.isps]) for p in message.profiles]
    if isinstance(message, FlexSettlement):
        groups = [IspGroup(to_date(s.period), [(i.start, i.duration or 1) for i in s.isps])
                  for s in message.flex_order_settlements]
        for contract in message.contract_settlements:
            groups += [IspGroup(to_date(p.period), [(i.start, i.duration or 1) for i in p.isps])
                       for p in contract.periods]
        return groups
    return []


def _isp_reasons(groups: list[IspGroup], tz: ZoneInfo, isp: timedelta) -> list[str]:
    found: list[str] = []
    for group in groups:
        limit = isps_per_period(group.period, tz, isp)
        if not group.spans:
            found.append(reasons.ISPS_OUT_OF_BOUNDS)
            continue
        taken: set[int] = set()
        for start, duration in group.spans:
            if start < 1 or duration < 1 or start + duration - 1 > limit:
                found.append(reasons.ISPS_OUT_OF_BOUNDS)
            covered = set(range(start, start + max(duration, 1)))
            if covered & taken:
                found.append(reasons.ISP_CONFLICT)
            taken |= covered
    return found


def _same_offsets(period: date, given: ZoneInfo, market: ZoneInfo) -> bool:
    """Equal UTC offsets for the whole Period (start and end cover DST days)."""
    return period_bounds(period, given) == period_bounds(period, market)


def semantic_reasons(message: PayloadMessage, rules: MarketRules, now: datetime | None = None) -> list[str]:
    """Every stateless RejectionReason that applies, in the table's order; empty when fine."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    market_tz = ZoneInfo(rules.time_zone)
    found: list[str] = []

    duration_text = getattr(message, "isp_duration", None)
    isp = rules.isp_duration
    if duration_text is not None:
        given = parse_isp_duration(str(duration_text))
        if given != rules.isp_duration:
            found.append(reasons.ISP_DURATION_REJECTED)

    tz = market_tz
    tz_name = getattr(message, "time_zone", None)
    period_value = getattr(message, "period", None)
    if tz_name is not None:
        given_tz = zone(str(tz_name))
        reference_day = to_date(period_value) if period_value is not None else moment.date()
        if given_tz is None or not _same_offsets(reference_day, given_tz, market_tz):
            found.append(reasons.TIMEZONE_REJECTED)
        else:
            tz = given_tz

    congestion_point = getattr(message, "congestion_point", None)
    if (congestion_point is not None and rules.congestion_points is not None
            and str(congestion_point) not in rules.congestion_points):
        found.append(reasons.INVALID_CONGESTION_POINT)

    found += _isp_reasons(isp_groups(message), tz, isp)
    found += _period_reasons(message, tz, rules, moment)
    found += _expiration_reasons(message, tz, isp, moment)
    return list(dict.fromkeys(found))


def _period_reasons(message: PayloadMessage, tz: ZoneInfo, rules: MarketRules, now: datetime) -> list[str]:
    if isinstance(message, _FORWARD_PERIOD):
        start, end = period_bounds(to_date(message.period), tz)
        if end <= now:
            return [reasons.PERIOD_OUT_OF_BOUNDS]
        if rules.max_days_ahead is not None and start - now > timedelta(days=rules.max_days_ahead):
            return [reasons.PERIOD_OUT_OF_BOUNDS]
    if isinstance(message, _BACKWARD_PERIOD):
        start, _ = period_bounds(to_date(message.period), tz)
        if start > now:
            return [reasons.PERIOD_OUT_OF_BOUNDS]
    if isinstance(message, FlexSettlement):
        first, last = to_date(message.period_start), to_date(message.period_end)
        if first > last or period_bounds(first, tz)[0] > now:
            return [reasons.PERIOD_OUT_OF_BOUNDS]
        periods = [to_date(s.period) for s in message.flex_order_settlements]
        periods += [to_date(p.period) for c in message.contract_settlements for p in c.periods]
        if any(not first <= p <= last for p in periods):
            return [reasons.PERIOD_OUT_OF_BOUNDS]
    if isinstance(message, (AgrPortfolioQuery, AgrPortfolioQueryResponse, DsoPortfolioQuery,
                            DsoPortfolioQueryResponse)):
        # A portfolio query may ask about the past or the future, but not before UFTP 3 existed.
        if to_date(message.period) < date(2000, 1, 1):
            return [reasons.PERIOD_OUT_OF_BOUNDS]
    return []


def _expiration_reasons(message: PayloadMessage, tz: ZoneInfo, isp: timedelta, now: datetime) -> list[str]:
    if not isinstance(message, (FlexRequest, FlexOffer)):
        return []
    try:
        expires = to_datetime(message.expiration_date_time)
    except ValueError:
        return [reasons.EXPIRATION_OUT_OF_BOUNDS]
    period = to_date(message.period)
    spans = [span for group in isp_groups(message) for span in group.spans]
    last_isp_end = max((isp_start(period, tz, isp, s + d) for s, d in spans), default=period_bounds(period, tz)[1])
    if expires <= now or expires > last_isp_end:
        return [reasons.EXPIRATION_OUT_OF_BOUNDS]
    return []
