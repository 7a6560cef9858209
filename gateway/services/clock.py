"""The hub's notion of now: one place, so deadline rules all read the same clock."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
