"""The Flex-Offer Exchange's business rules, between the REST routes and the store.

Every function takes a Session and the owning party, and enforces that a party only
ever touches its own offers (another party's id is simply "not found"). Writes are
committed before they return, and events go on the bus only after the commit
(persist first, then act).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.flexoffer import (
    DeadlinePassed,
    FlexOffer,
    IllegalTransition,
    InfeasibleAssignment,
    OfferState,
    Schedule,
    assign,
    transition,
    validate_offer,
)
from gateway.api.problems import ProblemError
from gateway.bus import Event, EventBus
from gateway.db.flexoffer import StoredFlexOffer, UTCDateTime, flex_offers_table
from gateway.services.clock import utc_now
from gateway.services.offer_records import execution_start, row_values, to_offer, window_end
from gateway.services.offer_screen import certainly_sound

SCREEN_FROM = 8
"""Submissions of this many offers or more go through the vectorised screen first."""
SUBMITTABLE_STATES = frozenset({OfferState.INITIAL, OfferState.OFFERED})
FINISHED_STATES = frozenset({OfferState.EXECUTED, OfferState.REJECTED, OfferState.CANCELED, OfferState.INVALID})
MAX_ID_LENGTH = 128
ID_QUERY_CHUNK = 500


@dataclass
class Rejection:
    index: int
    id: str | None
    reasons: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "reasons": self.reasons}


@dataclass
class IngestResult:
    ids: list[str]
    warnings: list[str] = field(default_factory=list)


def _submission_problems(offer: FlexOffer, sound: bool = False) -> list[str]:
    """Everything wrong with a new offer. Dates at the edge of the calendar overflow
    datetime arithmetic; that is the sender's error, not ours.

    ``sound`` says the offer-screen has already shown ``validate_offer`` finds nothing.
    """
    try:
        return _offer_problems(offer, sound)
    except OverflowError:
        return ["times are out of range (date arithmetic overflows)"]


def _offer_problems(offer: FlexOffer, sound: bool) -> list[str]:
    problems: list[str] = []
    if offer.state not in SUBMITTABLE_STATES:
        problems.append(f"a submitted offer must be initial or offered, not {offer.state.value}")
    if offer.id is not None and not 0 < len(offer.id) <= MAX_ID_LENGTH:
        problems.append(f"id must be 1-{MAX_ID_LENGTH} characters")
    if not sound:
        problems += validate_offer(offer)
    if not problems:
        window_end(offer)  # raises OverflowError if the window ends past year 9999
    return problems


def stored_ids(session: Session, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the store already holds (any party's)."""
    taken: set[str] = set()
    for chunk in range(0, len(ids), ID_QUERY_CHUNK):  # stay under the DB's bound-parameter limit
        query = select(StoredFlexOffer.id).where(StoredFlexOffer.id.in_(ids[chunk:chunk + ID_QUERY_CHUNK]))
        taken.update(session.scalars(query))
    return taken


def new_ids(count: int) -> Iterator[str]:
    """``count`` version-7 UUIDs (RFC 9562) as text, ascending, from one read of the OS's randomness.

    Why version 7: its leading 48 bits are the Unix time in milliseconds, so the ids of an
    envelope (sorted here) and of every later one sort after the ones already stored, and
    each INSERT appends at the right edge of the primary-key index. With random (version 4)
    ids every row of a 1,000-offer commit dirtied its own page of that index, which SQLite
    then wrote to the WAL and again at the checkpoint: as many bytes as the offers
    themselves. 74 random bits per id keep ids unguessable and unique across workers.
    """
    pool = os.urandom(10 * count)
    randoms = sorted(int.from_bytes(pool[k:k + 10], "big") & _RANDOM_74 for k in range(0, 10 * count, 10))
    stamp = (time.time_ns() // 1_000_000) & _STAMP_48
    head = (stamp << 80) | (7 << 76)  # time, then the version nibble
    return (_uuid_text(head | ((r >> 62) << 64) | _VARIANT | (r & _RANDOM_62)) for r in randoms)


def _uuid_text(value: int) -> str:
    """``str(uuid.UUID(int=value))`` at less than half its cost."""
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_RANDOM_74 = (1 << 74) - 1
_RANDOM_62 = (1 << 62) - 1
_STAMP_48 = (1 << 48) - 1
_VARIANT = 0b10 << 62


def _memoised(process: Callable[[Any], Any] | None, repeats: bool) -> Callable[[Any], Any] | None:
    """A bind processor that converts each distinct value once per statement.

    An envelope's 5,000 timestamps hold few distinct values (one ``now``, shared windows),
    and the datetime processors cost more than a dict look-up.
    """
    if process is None or not repeats:
        return process
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            done[value] = converted = process(value)
            return converted

    return convert


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT many offer rows: Core executemany, not the ORM bulk path.

    On SQLite the statement goes to the driver directly with each value already through
    its column type's own bind processor: SQLAlchemy's per-row parameter bookkeeping
    cost more than SQLite's work for a 1,000-offer envelope. Other databases take the
    plain Core executemany (their drivers batch it themselves).
    """
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite" or not rows:
        connection.execute(insert(flex_offers_table), rows)
        return
    names = list(rows[0])
    quote = dialect.identifier_preparer.quote
    processors = [_memoised(flex_offers_table.c[name].type.dialect_impl(dialect).bind_processor(dialect),
                            isinstance(flex_offers_table.c[name].type, UTCDateTime)) for name in names]
    sql = (f"INSERT INTO {quote(flex_offers_table.name)} ({', '.join(map(quote, names))}) "
           f"VALUES ({', '.join('?' * len(names))})")
    # Column by column with C-level map and zip: a per-row generator cost ~5 µs per offer.
    columns = []
    for name, process in zip(names, processors, strict=True):
        values = list(map(itemgetter(name), rows))
        columns.append(values if process is None else list(map(process, values)))
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))


def ingest(session: Session, bus: EventBus | None, party: str, offers: Sequence[FlexOffer | None],
           warnings: Sequence[str] = (), decode_errors: Mapping[int, str] | None = None) -> IngestResult:
    """Validate every offer, then store all of them in one transaction, or none.

    All-or-nothing keeps the answer simple for the sender: 201 means every offer is
    stored under the returned ids; 422 lists every offer's reasons and stores nothing.
    """
    if not offers:
        raise ProblemError(422, "No flex-offers", "the document holds no flex-offer")
    rejected: list[Rejection] = []
    seen: set[str] = set()
    decode_errors = decode_errors or {}
    # Big submissions: one vectorised pass clears the plain, sound offers; only the rest
    # take validate_offer's per-offer checks (which word every reason).
    screened = certainly_sound([o for o in offers if o is not None]) if len(offers) >= SCREEN_FROM else []
    sound = iter(screened)
    for index, offer in enumerate(offers):
        if offer is None:
            rejected.append(Rejection(index, None, [decode_errors.get(index, "unreadable flex-offer")]))
            continue
        reasons = _submission_problems(offer, next(sound, False))
        if offer.id is not None:
            if offer.id in seen:
                reasons.append(f"id {offer.id!r} appears twice in this submission")
            seen.add(offer.id)
        if reasons:
            rejected.append(Rejection(index, offer.id, reasons))
    if rejected:
        raise ProblemError(
            422, "Flex-offer rejected",
            f"{len(rejected)} of {len(offers)} flex-offers are invalid; none was stored",
            rejected=[r.as_json() for r in rejected],
        )
    valid = [o for o in offers if o is not None]
    now = utc_now()
    fresh = new_ids(sum(o.id is None for o in valid))
    stored = [
        offer.model_copy(update={
            "id": offer.id or next(fresh),
            "state": OfferState.OFFERED,
            "offered_by": offer.offered_by or party,
            "creation_time": offer.creation_time or now,
        })
        for offer in valid
    ]
    given = [o.id for o in valid if o.id is not None]
    if given:
        taken = stored_ids(session, given)
        if taken:
            raise ProblemError(409, "Flex-offer id in use", f"these ids are already stored: {sorted(taken)}",
                               ids=sorted(taken))
    try:
        insert_rows(session, [row_values(o, party, now) for o in stored])
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ProblemError(409, "Flex-offer id in use", "an id of this submission was stored meanwhile") from exc
    if bus is not None:
        bus.publish_many([Event(party, "created", str(o.id), {"state": o.state.value}) for o in stored])
    return IngestResult([o.id for o in stored if o.id is not None], list(warnings))


def _load(session: Session, party: str, offer_id: str, *, for_update: bool = False) -> StoredFlexOffer:
    query = select(StoredFlexOffer).where(StoredFlexOffer.id == offer_id, StoredFlexOffer.party == party)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise ProblemError(404, "Flex-offer not found", f"no flex-offer {offer_id!r} for this party")
    return row


def get_offer(session: Session, party: str, offer_id: str) -> FlexOffer:
    return to_offer(_load(session, party, offer_id))


def list_offers(
    session: Session,
    party: str,
    *,
    state: OfferState | None = None,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    location_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[FlexOffer]:
    """The party's offers, oldest first; a window filter keeps offers overlapping [from, to)."""
    query = select(StoredFlexOffer.document).where(StoredFlexOffer.party == party)
    if state is not None:
        query = query.where(StoredFlexOffer.state == state.value)
    if window_from is not None:
        query = query.where(StoredFlexOffer.window_end > window_from)
    if window_to is not None:
        query = query.where(StoredFlexOffer.window_start < window_to)
    if location_id is not None:
        query = query.where(StoredFlexOffer.location_id == location_id)
    query = query.order_by(StoredFlexOffer.created_at, StoredFlexOffer.id).limit(limit).offset(offset)
    return [FlexOffer.model_validate_json(doc) for doc in session.scalars(query)]


def _save(session: Session, row: StoredFlexOffer, offer: FlexOffer, now: datetime) -> None:
    values = row_values(offer, row.party, now, version=row.version + 1)
    values.pop("created_at")
    values.pop("id")
    result = session.execute(
        update(StoredFlexOffer)
        .where(StoredFlexOffer.id == row.id, StoredFlexOffer.version == row.version)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise ProblemError(409, "Concurrent change", "the flex-offer changed meanwhile; read it and retry")
    session.commit()


def _not_started(offer: FlexOffer, now: datetime, verb: str) -> None:
    if offer.state in FINISHED_STATES:
        raise ProblemError(409, f"Cannot {verb} a finished flex-offer", f"the flex-offer is {offer.state.value}")
    start = execution_start(offer)
    if now >= start:
        raise ProblemError(409, f"Cannot {verb} a started flex-offer",
                           f"execution started at {start.isoformat()}; now is {now.isoformat()}")


def replace_offer(session: Session, bus: EventBus | None, party: str, offer_id: str, new: FlexOffer) -> FlexOffer:
    """Replace the offer's constraints before execution starts.

    Changed constraints void any acceptance or assignment, so the offer goes back to
    ``offered`` without a schedule.
    """
    row = _load(session, party, offer_id, for_update=True)
    now = utc_now()
    current = to_offer(row)
    _not_started(current, now, "change")
    if new.id is not None and new.id != offer_id:
        raise ProblemError(422, "Id mismatch", f"body id {new.id!r} differs from the URL's {offer_id!r}")
    reasons = _submission_problems(new.model_copy(update={"schedule": None, "state": OfferState.OFFERED}))
    if reasons:
        raise ProblemError(422, "Flex-offer rejected", "the replacement is invalid; nothing changed",
                           rejected=[Rejection(0, offer_id, reasons).as_json()])
    replacement = new.model_copy(update={
        "id": offer_id, "state": OfferState.OFFERED, "schedule": None,
        "offered_by": new.offered_by or current.offered_by, "creation_time": current.creation_time,
    })
    _save(session, row, replacement, now)
    if bus is not None:
        bus.publish(Event(party, "updated", offer_id, {"state": replacement.state.value}))
    return replacement


def delete_offer(session: Session, bus: EventBus | None, party: str, offer_id: str) -> None:
    row = _load(session, party, offer_id, for_update=True)
    now = utc_now()
    _not_started(to_offer(row), now, "delete")
    session.execute(delete(StoredFlexOffer).where(StoredFlexOffer.id == offer_id))
    session.commit()
    if bus is not None:
        bus.publish(Event(party, "deleted", offer_id, {}))


def change_state(session: Session, bus: EventBus | None, party: str, offer_id: str, target: str) -> FlexOffer:
    row = _load(session, party, offer_id, for_update=True)
    try:
        wanted = OfferState.parse(target)
    except ValueError as exc:
        raise ProblemError(422, "Unknown state", f"{target!r} is not a flex-offer state",
                           allowed=[s.value for s in OfferState]) from exc
    current = to_offer(row)
    now = utc_now()
    try:
        changed = transition(current, wanted, now)
    except DeadlinePassed as exc:
        raise ProblemError(409, "Deadline passed", str(exc)) from exc
    except IllegalTransition as exc:
        raise ProblemError(409, "Illegal state transition", str(exc),
                           state=current.state.value, target=wanted.value) from exc
    _save(session, row, changed, now)
    if bus is not None:
        bus.publish(Event(party, "state", offer_id, {"state": changed.state.value, "previous": current.state.value}))
    return changed


def assign_schedule(session: Session, bus: EventBus | None, party: str, offer_id: str,
                    schedule: Schedule) -> FlexOffer:
    row = _load(session, party, offer_id, for_update=True)
    current = to_offer(row)
    now = utc_now()
    try:
        assigned = assign(current, schedule, now)
    except DeadlinePassed as exc:
        raise ProblemError(409, "Assignment deadline passed", str(exc)) from exc
    except InfeasibleAssignment as exc:
        raise ProblemError(422, "Infeasible schedule", "the schedule violates the flex-offer",
                           violations=exc.violations) from exc
    except IllegalTransition as exc:
        raise ProblemError(409, "Illegal state transition", str(exc), state=current.state.value,
                           target=OfferState.ASSIGNED.value) from exc
    _save(session, row, assigned, now)
    if bus is not None:
        bus.publish(Event(party, "schedule", offer_id, {
            "state": assigned.state.value, "previous": current.state.value,
            "schedule": schedule.model_dump(mode="json", exclude_none=True),
        }))
    return assigned
