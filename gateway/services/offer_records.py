"""Mapping between the native FlexOffer and its stored row.

The row keeps the normalized native JSON (``FlexOffer.model_dump_json``) as the
document and copies out only what queries filter on, so reading an offer back is
one pydantic ``model_validate_json`` call and ingest needs no per-slice rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.flexoffer import FlexOffer
from gateway.db.flexoffer import StoredFlexOffer


def window_end(offer: FlexOffer) -> datetime:
    """The latest moment the offer could still be running: latest start plus its longest profile."""
    longest = max(sum(p.max_durations()) for p in offer.profiles)
    return offer.effective_latest_start() + timedelta(seconds=longest * offer.interval_seconds)


def location_text(offer: FlexOffer) -> str | None:
    return None if offer.location_id is None else str(offer.location_id)[:200]


def row_values(offer: FlexOffer, party: str, now: datetime, version: int = 1) -> dict[str, Any]:
    """Column values for an INSERT/UPDATE of ``offer`` (which already carries its id)."""
    assert offer.id is not None
    return {
        "id": offer.id,
        "party": party,
        "state": offer.state.value,
        "window_start": offer.earliest_start,
        "window_end": window_end(offer),
        "latest_start": offer.effective_latest_start(),
        "location_id": location_text(offer),
        "zone": offer.zone,
        "version": version,
        "created_at": now,
        "updated_at": now,
        "document": offer.model_dump_json(exclude_none=True),
    }


def to_offer(row: StoredFlexOffer) -> FlexOffer:
    return FlexOffer.model_validate_json(row.document)


def execution_start(offer: FlexOffer) -> datetime:
    """When the offer starts running: its assigned start, else the earliest start it allows."""
    return offer.schedule.start if offer.schedule is not None else offer.earliest_start
