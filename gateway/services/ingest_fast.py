"""The lean envelope ingest: plain offers go from msgspec structs to stored rows without a model.

Building and dumping a pydantic ``FlexOffer`` per offer is over a third of envelope
ingest. When every offer of a ``{"flexOffer": [...]}`` body has the plain common shape
(``adapters.flexoffer.plain``) and the vectorised screen clears every one of them, this
path writes the very rows ``flexoffers.ingest`` would write: the same columns, and a
``document`` byte-identical to ``FlexOffer.model_dump_json(exclude_none=True)`` (orjson
formats floats and UTC times exactly as pydantic does; the key order is the model's).

It never words a problem itself: any offer it cannot clear, any id to check against the
store or any doubt at all makes it return None, and the caller runs the full path on the
same body, so every answer but the plain 201 comes from the full path (a property test
holds the two paths together).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.flexoffer.plain import PlainOffer, plain_envelope
from core.flexoffer import OfferState
from gateway.bus import Event, EventBus
from gateway.db.flexoffer import StoredFlexOffer
from gateway.services.clock import utc_now
from gateway.services.flexoffers import ID_QUERY_CHUNK, MAX_ID_LENGTH, IngestResult, insert_rows, new_ids
from gateway.services.offer_records import location_text, window_end
from gateway.services.offer_screen import certainly_sound

_OFFERED = OfferState.OFFERED.value
_EMPTY: list[Any] = []


def _document(offer: PlainOffer, offer_id: str, offered_by: str, created: datetime) -> bytes:
    """``FlexOffer.model_dump_json(exclude_none=True)`` of the stored offer, in field order."""
    profile = offer.profile
    columns: dict[str, Any] = {"energy_lower": profile.energy_lower, "energy_upper": profile.energy_upper}
    if profile.min_duration is not None:
        columns["min_duration"] = profile.min_duration
    if profile.max_duration is not None:
        columns["max_duration"] = profile.max_duration
    doc: dict[str, Any] = {"id": offer_id, "state": _OFFERED, "offered_by": offered_by}
    if offer.location_id is not None:
        doc["location_id"] = offer.location_id
    if offer.zone is not None:
        doc["zone"] = offer.zone
    doc["creation_time"] = created
    if offer.accept_before is not None:
        doc["accept_before"] = offer.accept_before
    if offer.assignment_before is not None:
        doc["assignment_before"] = offer.assignment_before
    doc["earliest_start"] = offer.earliest_start
    if offer.latest_start is not None:
        doc["latest_start"] = offer.latest_start
    doc["interval_seconds"] = offer.interval_seconds
    doc["profile"] = columns
    doc["xor_profiles"] = _EMPTY
    if (total := offer.total_energy) is not None:
        doc["total_energy"] = {"lower": total.lower, "upper": total.upper}
    doc["polytope"] = _EMPTY
    if (baseline := offer.default_schedule) is not None:
        doc["default_schedule"] = {"start": baseline.start, "energy": baseline.energy}
    doc["extra"] = {}
    return orjson.dumps(doc, option=orjson.OPT_UTC_Z)


def _ids_clear(offers: Sequence[PlainOffer]) -> bool:
    """Given ids are well-formed and distinct (the store is asked separately)."""
    given = [o.id for o in offers if o.id is not None]
    return len(set(given)) == len(given) and all(0 < len(i) <= MAX_ID_LENGTH for i in given)


def _taken(session: Session, given: list[str]) -> bool:
    for chunk in range(0, len(given), ID_QUERY_CHUNK):  # stay under the DB's bound-parameter limit
        query = select(StoredFlexOffer.id).where(StoredFlexOffer.id.in_(given[chunk:chunk + ID_QUERY_CHUNK]))
        if session.scalars(query.limit(1)).first() is not None:
            return True
    return False


def try_ingest(session: Session, bus: EventBus | None, party: str, body: bytes) -> IngestResult | None:
    """Store a plain, sound envelope and return what ``flexoffers.ingest`` would; else None."""
    offers = plain_envelope(body)
    if offers is None or not _ids_clear(offers) or not all(certainly_sound(offers)):
        return None
    given = [o.id for o in offers if o.id is not None]
    if given and _taken(session, given):
        session.rollback()
        return None
    now = utc_now()
    fresh = new_ids(len(offers) - len(given))
    rows: list[dict[str, Any]] = []
    ids: list[str] = []
    try:
        for offer in offers:
            offer_id = offer.id or next(fresh)
            ends = window_end(offer)  # type: ignore[arg-type]  # a PlainOffer reads as the model
            document = _document(offer, offer_id, offer.offered_by or party, offer.creation_time or now)
            ids.append(offer_id)
            rows.append({
                "id": offer_id, "party": party, "state": _OFFERED,
                "window_start": offer.earliest_start, "window_end": ends,
                "latest_start": offer.effective_latest_start(),
                "location_id": location_text(offer),  # type: ignore[arg-type]
                "zone": offer.zone, "version": 1, "created_at": now, "updated_at": now,
                "document": document.decode(),
            })
    except (OverflowError, orjson.JSONEncodeError, UnicodeDecodeError):
        return None
    try:
        insert_rows(session, rows)
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    if bus is not None:
        bus.publish_many([Event(party, "created", i, {"state": _OFFERED}) for i in ids])
    return IngestResult(ids, [])
