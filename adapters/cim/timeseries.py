"""Period/Point handling shared by every ESMP document: times, resolutions, positions, curves.

All ESMP time series carry the same shape: a ``Period`` with a ``timeInterval``, a
``resolution`` and 1-based ``Point`` positions. Keeping the arithmetic and the
position rules here means every codec applies the same business rules, and the
acknowledgement reasons (A41 resolution, A49 position, A04 interval) come out
identical whichever document broke them.

Points are stored column-wise (one list per Point child) because a bid of 100 time
series x 96 points is the common case and columns convert to numbers in one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

# Curve types (codelist CurveTypeList).
CURVE_SEQUENTIAL_FIXED = "A01"
CURVE_POINT = "A02"
CURVE_VARIABLE_BLOCKS = "A03"
CURVE_OVERLAPPING_BREAKPOINT = "A04"
CURVE_NON_OVERLAPPING_BREAKPOINT = "A05"

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class TimeSeriesError(ValueError):
    """A Period that cannot be interpreted; ``code`` is the acknowledgement reason code."""

    def __init__(self, message: str, code: str = "999") -> None:
        super().__init__(message)
        self.code = code


def parse_duration(text: str) -> timedelta:
    """ISO 8601 day-time durations as ESMP uses them (PT15M, PT60M, PT1H, P1D)."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        raise TimeSeriesError(f"unsupported duration {text!r}", "A41")
    days, hours, minutes, seconds = match.groups()
    return timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0), seconds=float(seconds or 0))


def format_duration(value: timedelta) -> str:
    """Minutes where possible (PT15M, PT60M): the form the Nordic and ENTSO-E guides use."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        raise TimeSeriesError(f"duration must be positive, got {value}", "A41")
    if seconds % 86400 == 0 and seconds > 86400:
        return f"P{seconds // 86400}D"
    if seconds % 60 == 0:
        return f"PT{seconds // 60}M"
    return f"PT{seconds}S"


def parse_time(text: str) -> datetime:
    """ESMP times are UTC with a ``Z`` (``2024-03-01T23:00Z`` or with seconds)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise TimeSeriesError(f"invalid date-time {text!r}", "A04") from exc
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_minute(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MMZ``: the YMDHM_DateTime of time intervals."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def format_second(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: the ESMP_DateTime of createdDateTime."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Period:
    """One ``Period``: its interval, resolution and points (column per Point child).

    ``columns`` maps a Point child name (``quantity``, ``price.amount`` …) to one
    entry per point: the text, ``None`` when absent, or for repeated complex
    children (``Reason``) a list of field dicts.
    """

    start: datetime
    end: datetime
    resolution: timedelta
    positions: list[int] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def slot_count(self) -> int:
        """timeInterval ÷ resolution; raises when it does not divide evenly."""
        span = (self.end - self.start).total_seconds()
        step = self.resolution.total_seconds()
        if span <= 0:
            raise TimeSeriesError(f"period end {format_minute(self.end)} is not after its start", "A04")
        if step <= 0 or span % step:
            raise TimeSeriesError(
                f"period of {span / 60:g} min is not a whole number of {format_duration(self.resolution)} steps",
                "A41",
            )
        return int(span // step)

    def problems(self, curve_type: str | None = None) -> list[tuple[str, str]]:
        """(reason code, text) for every position rule this period breaks.

        Curve A01 (the default) needs positions 1..n with n = timeInterval ÷ resolution;
        A03 (variable-sized blocks) may omit repeated values but must start at 1 and
        stay increasing within the interval.
        """
        try:
            slots = self.slot_count()
        except TimeSeriesError as exc:
            return [(exc.code, str(exc))]
        out: list[tuple[str, str]] = []
        positions = self.positions
        if not positions:
            return [("A49", "period has no points")]
        if curve_type in (None, CURVE_SEQUENTIAL_FIXED):
            if positions != list(range(1, len(positions) + 1)):
                first_bad = next(i + 1 for i, p in enumerate(positions) if p != i + 1)
                out.append(("A49", f"positions are not contiguous from 1 (expected {first_bad} at point {first_bad})"))
            if len(positions) != slots:
                out.append(("A42", f"period has {len(positions)} points but timeInterval ÷ resolution = {slots}"))
        else:
            if positions[0] != 1:
                out.append(("A49", f"first position is {positions[0]}, expected 1"))
            if any(b <= a for a, b in pairwise(positions)):
                out.append(("A49", "positions are not strictly increasing"))
            if positions[-1] > slots:
                out.append(("A49", f"position {positions[-1]} lies beyond the {slots} slots of the period"))
        return out

    def dense(self, column: str, curve_type: str | None = None) -> list[Any]:
        """One value per slot: A03 blocks repeat until the next given position."""
        values = self.columns.get(column, [None] * len(self.positions))
        if curve_type in (None, CURVE_SEQUENTIAL_FIXED):
            return list(values)
        slots = self.slot_count()
        out: list[Any] = [None] * slots
        for i, (pos, value) in enumerate(zip(self.positions, values, strict=True)):
            stop = self.positions[i + 1] - 1 if i + 1 < len(self.positions) else slots
            out[pos - 1 : stop] = [value] * (stop - pos + 1)
        return out

    def slot_start(self, position: int) -> datetime:
        return self.start + self.resolution * (position - 1)


def make_period(start: datetime, resolution: timedelta, columns: dict[str, list[Any]]) -> Period:
    """A sequential fixed-size (A01) period whose points are the given columns."""
    count = len(next(iter(columns.values())))
    if count == 0:
        raise TimeSeriesError("a period needs at least one point", "A49")
    for name, values in columns.items():
        if len(values) != count:
            raise TimeSeriesError(f"column {name} has {len(values)} values, expected {count}")
    return Period(
        start=start,
        end=start + resolution * count,
        resolution=resolution,
        positions=list(range(1, count + 1)),
        columns=columns,
    )


def join_periods(periods: list[Period]) -> Period:
    """Contiguous periods of one resolution as a single period (positions renumbered)."""
    first = periods[0]
    if len(periods) == 1:
        return first
    joined = Period(
        first.start, first.end, first.resolution, list(first.positions), {k: list(v) for k, v in first.columns.items()}
    )
    for nxt in periods[1:]:
        if nxt.start != joined.end or nxt.resolution != joined.resolution:
            raise TimeSeriesError("periods are not contiguous with one resolution", "A41")
        offset = joined.slot_count()
        joined.positions.extend(p + offset for p in nxt.positions)
        for key in set(joined.columns) | set(nxt.columns):
            before = joined.columns.setdefault(key, [None] * (len(joined.positions) - len(nxt.positions)))
            before.extend(nxt.columns.get(key, [None] * len(nxt.positions)))
        joined.end = nxt.end
    return joined


def format_decimal(value: float) -> str:
    """Plain decimal text (no exponent, no trailing zeros): xs:decimal forbids ``1e-05``."""
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
