"""Wire-format flex-offers for the gateway tests (AAU dialect unless said otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_start(days_ahead: int = 1) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days_ahead)


def wire_offer(slices: int = 4, start: datetime | None = None, lower: float = 1.0, upper: float = 2.0,
               window_hours: int = 2, **fields: Any) -> dict[str, Any]:
    """A sound offer: ``slices`` quarter-hours of [lower, upper] kWh, startable within the window."""
    begin = start or day_start(2)
    offer: dict[str, Any] = {
        "startAfterTime": iso(begin),
        "startBeforeTime": iso(begin + timedelta(hours=window_hours)),
        "acceptBeforeTime": iso(begin - timedelta(hours=2)),
        "assignmentBeforeTime": iso(begin - timedelta(hours=1)),
        "numSecondsPerInterval": 900,
        "flexOfferProfileConstraints": [
            {"minDuration": 1, "maxDuration": 1, "energyConstraintList": [{"lower": lower, "upper": upper}]}
            for _ in range(slices)
        ],
        "defaultSchedule": {"startTime": iso(begin), "energyAmounts": [lower] * slices},
    }
    offer.update(fields)
    return {k: v for k, v in offer.items() if v is not None}
