"""The lean envelope ingest: a plain envelope goes from its bytes to stored rows without a model.

Decoding a 96-slice offer into Python objects, validating it and dumping it again costs
three times what the rest of ingest does. When ``adapters.flexoffer.scan`` reads the
whole ``{"flexOffer": [...]}`` body into arrays (every offer plain), the checks run
vectorised over those arrays and each document is put together from the scanner's
number texts and a few formatted fields, so per offer only the handful of fields the
row needs become Python objects.

It writes the rows ``flexoffers.ingest`` would write: the same columns, and a
``document`` holding the same native-model JSON (same keys in the same order, times
as the model formats them), except that numbers keep the client's own decimal form
(``1``, ``0.50``, ``1e-3``) instead of being re-formatted: the document reads back to
an equal ``FlexOffer``, and re-formatting 300 floats per offer was a fifth of the
work. The first update of an offer stores the model's own dump.

It never words a problem itself: any offer it cannot clear, any id to check against the
store or any doubt at all makes it return None, and the caller runs the full path on the
same body, so every answer but the plain 201 comes from the full path (a property test
holds the two paths together).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.flexoffer import scan as sc
from adapters.flexoffer.errors import CodecError
from adapters.flexoffer.wire import parse_time
from core.flexoffer import OfferState
from core.flexoffer.model import DEFAULT_INTERVAL_SECONDS, ENERGY_TOLERANCE_KWH
from gateway.bus import Event, EventBus
from gateway.services.clock import utc_now
from gateway.services.flexoffers import (
    MAX_ID_LENGTH,
    SUBMITTABLE_STATES,
    IngestResult,
    insert_rows,
    new_ids,
    stored_ids,
)
from gateway.services.offer_screen import SUM_MARGIN, on_slice_grid, slices_sound

_OFFERED = OfferState.OFFERED.value
_EPS = ENERGY_TOLERANCE_KWH


class _NotLean(Exception):
    """Raised inside the per-offer pass: leave the whole body to the full path."""


class _Times:
    """Each distinct timestamp text of a body parsed and formatted once.

    An envelope's 5,000 timestamps hold few distinct values (shared windows and deadlines).
    """

    def __init__(self) -> None:
        self.parsed: dict[str, tuple[datetime, str]] = {}

    def get(self, text: str | None) -> tuple[datetime, str] | None:
        if text is None:
            return None
        try:
            return self.parsed[text]
        except KeyError:
            pass
        try:
            moment = parse_time(text, "")
            formatted = orjson.dumps(moment, option=orjson.OPT_UTC_Z).decode()
        except (CodecError, ValueError, OverflowError, orjson.JSONEncodeError):
            raise _NotLean from None
        self.parsed[text] = (moment, formatted)
        return moment, formatted


def _screen_slices(found: sc.ScanResult) -> bool:
    """Every offer's slices, schedule and total energy are certainly sound."""
    meta = found.meta
    counts = meta[:, sc.M_SLICE_COUNT]
    starts = meta[:, sc.M_SLICE_START].astype(np.intp)
    has_default = meta[:, sc.M_HAS_DEFAULT].astype(bool)
    if not np.array_equal(meta[has_default, sc.M_ENERGY_COUNT], counts[has_default]):
        return False  # a default schedule of another length: the model words it
    if np.any(meta[:, sc.M_MIN_DURATION] < 1) or not np.all(meta[:, sc.M_DURATIONS_ORDERED]):
        return False
    # An offer without a default schedule stands in its lower bounds (see slices_sound).
    energy = found.lower.copy()
    energy[np.repeat(has_default, counts)] = found.energy
    te_rows = np.flatnonzero(meta[:, sc.M_HAS_TOTAL]).astype(np.intp)
    bounds = found.totals[te_rows]
    with np.errstate(invalid="ignore", over="ignore"):
        if np.any(~(bounds[:, 0] <= bounds[:, 1] + _EPS)):
            return False
        if not np.all(slices_sound(found.lower, found.upper, energy, starts, te_rows, bounds)):
            return False
        # The default schedule's total within the total-energy bounds (a rounding margin
        # short of either limit is left to the exact check).
        both = np.flatnonzero(has_default & meta[:, sc.M_HAS_TOTAL].astype(bool))
        if len(both):
            sums = np.add.reduceat(energy, starts)[both]
            margin = SUM_MARGIN * (1.0 + np.add.reduceat(np.abs(energy), starts)[both])
            limits = found.totals[both]
            if not np.all((sums - margin >= limits[:, 0] - _EPS) & (sums + margin <= limits[:, 1] + _EPS)):
                return False
    return True


def _rows(found: sc.ScanResult, party: str,
          now: datetime) -> tuple[list[dict[str, Any]], list[str], list[str]] | None:
    """The stored rows and ids of every offer and the ids the client gave, or None if any
    offer needs the full path.

    Per offer this is the only Python work of the lean path, so it leans on look-ups:
    the few distinct texts of an envelope (times, zones, locations) are turned into
    their JSON once.
    """
    times = _Times()
    quoted: dict[str, str] = {}
    states: dict[str, OfferState] = {}

    def quote(text: str) -> str:
        try:
            return quoted[text]
        except KeyError:
            quoted[text] = done = orjson.dumps(text).decode()
            return done

    now_text = orjson.dumps(now, option=orjson.OPT_UTC_Z).decode()
    body, parts = found.body, found.out
    spans, meta = found.spans.tolist(), found.meta.tolist()
    given = [body[s[0]:s[1]].decode() for s in spans if s[0] >= 0]
    if len(set(given)) != len(given) or not all(0 < len(i) <= MAX_ID_LENGTH for i in given):
        return None
    fresh = new_ids(found.count - len(given))
    party_text = quote(party)
    rows: list[dict[str, Any]] = []
    ids: list[str] = []
    fields = range(len(sc.STRING_FIELDS))
    for span, m in zip(spans, meta, strict=True):
        texts = [None if span[2 * k] < 0 else body[span[2 * k]:span[2 * k + 1]].decode() for k in fields]
        state_text = texts[sc.STATE]
        if state_text is not None:
            state = states.get(state_text)
            if state is None:
                try:
                    state = states[state_text] = OfferState.parse(state_text)
                except (ValueError, KeyError):
                    return None
            if state not in SUBMITTABLE_STATES:
                return None
        earliest = times.get(texts[sc.START_AFTER])
        latest = times.get(texts[sc.START_BEFORE])
        accept = times.get(texts[sc.ACCEPT_BEFORE])
        assignment = times.get(texts[sc.ASSIGNMENT_BEFORE])
        created = times.get(texts[sc.CREATION])
        assert earliest is not None  # the scanner requires startAfterTime
        if latest is not None and latest[0] < earliest[0]:
            return None
        if accept is not None and assignment is not None and assignment[0] < accept[0]:
            return None
        interval = m[sc.M_INTERVAL] if m[sc.M_HAS_INTERVAL] else DEFAULT_INTERVAL_SECONDS
        if interval <= 0 or 3600 % interval:
            return None
        last_start = (latest or earliest)[0]
        offer_id = texts[sc.ID] or next(fresh)
        location, zone, offered_by = texts[sc.LOCATION], texts[sc.ZONE], texts[sc.OFFERED_BY]
        default = ""
        if m[sc.M_HAS_DEFAULT]:
            start = times.get(body[m[sc.M_DEFAULT_TIME_START]:m[sc.M_DEFAULT_TIME_END]].decode())
            assert start is not None
            if start[0] < earliest[0] or start[0] > last_start or not _on_grid(start[0], interval):
                return None
            energy = parts[m[sc.M_DEFAULT_START]:m[sc.M_DEFAULT_END]]
            default = f',"default_schedule":{{"start":{start[1]},"energy":{energy}}}'
        # FlexOffer.model_dump_json(exclude_none=True)'s keys, in the model's order.
        document = "".join((
            '{"id":', quote(offer_id) if texts[sc.ID] else f'"{offer_id}"',
            ',"state":"offered","offered_by":', quote(offered_by) if offered_by else party_text,
            "" if location is None else f',"location_id":{quote(location)}',
            "" if zone is None else f',"zone":{quote(zone)}',
            ',"creation_time":', now_text if created is None else created[1],
            "" if accept is None else f',"accept_before":{accept[1]}',
            "" if assignment is None else f',"assignment_before":{assignment[1]}',
            ',"earliest_start":', earliest[1],
            "" if latest is None else f',"latest_start":{latest[1]}',
            f',"interval_seconds":{interval},"profile":', parts[m[sc.M_PROFILE_START]:m[sc.M_PROFILE_END]],
            ',"xor_profiles":[]',
            f',"total_energy":{parts[m[sc.M_TOTAL_START]:m[sc.M_TOTAL_END]]}' if m[sc.M_HAS_TOTAL] else "",
            ',"polytope":[]', default, ',"extra":{}}',
        ))
        ids.append(offer_id)
        rows.append({
            "id": offer_id, "party": party, "state": _OFFERED,
            "window_start": earliest[0],
            "window_end": last_start + timedelta(seconds=m[sc.M_LONGEST] * interval),
            "latest_start": last_start,
            "location_id": None if location is None else location[:200],
            "zone": zone, "version": 1, "created_at": now, "updated_at": now,
            "document": document,
        })
    return rows, ids, given


_grid_checked: dict[tuple[datetime, int], bool] = {}


def _on_grid(start: datetime, step: int) -> bool:
    """``on_slice_grid``, remembered: an envelope's default schedules share few starts."""
    key = (start, step)
    known = _grid_checked.get(key)
    if known is None:
        known = on_slice_grid(start, step)
        if len(_grid_checked) < 4096:
            _grid_checked[key] = known
    return known


def try_ingest(session: Session, bus: EventBus | None, party: str, body: bytes) -> IngestResult | None:
    """Store a plain, sound envelope and return what ``flexoffers.ingest`` would; else None."""
    found = sc.scan_envelope(body)
    if found is None or not _screen_slices(found):
        return None
    now = utc_now()
    try:
        built = _rows(found, party, now)
    except (_NotLean, UnicodeDecodeError, OverflowError, orjson.JSONEncodeError):
        return None
    if built is None:
        return None
    rows, ids, given = built
    if given and stored_ids(session, given):
        session.rollback()
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
