"""Measurements in, and time series out: energy summed over a party's offers per bucket.

Energies spread evenly over the intervals of their slice and then proportionally
over the buckets an interval overlaps, so any resolution gives the same totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.flexoffer import FlexOffer, OfferState, Schedule
from gateway.api.problems import ProblemError
from gateway.db.flexoffer import FlexOfferMeasurement, StoredFlexOffer, measurements_table
from gateway.services.clock import utc_now

MAX_BUCKETS = 100_000
SCHEDULED_STATES = (OfferState.ASSIGNED.value, OfferState.EXECUTED.value)


class SeriesKind(StrEnum):
    MEASUREMENT = "measurement"
    BASELINE = "baseline"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class MeasuredInterval:
    start: datetime
    seconds: int
    energy_kwh: float


def record_measurements(session: Session, party: str, series: Sequence[tuple[str, Sequence[MeasuredInterval]]]) -> int:
    """Store metered energy for the party's offers, all series or none; committed before returning."""
    offer_ids = {offer_id for offer_id, _ in series}
    owned = set(session.scalars(
        select(StoredFlexOffer.id).where(StoredFlexOffer.id.in_(offer_ids), StoredFlexOffer.party == party)
    ))
    missing = sorted(offer_ids - owned)
    if missing:
        raise ProblemError(404, "Flex-offer not found", f"no flex-offer {missing[0]!r} for this party",
                           ids=missing)
    now = utc_now()
    rows = [
        {"offer_id": offer_id, "party": party, "start": m.start, "interval_seconds": m.seconds,
         "energy_kwh": m.energy_kwh, "received_at": now}
        for offer_id, intervals in series
        for m in intervals
    ]
    if rows:
        session.execute(insert(measurements_table), rows)
    session.commit()
    return len(rows)


class _Buckets:
    def __init__(self, start: datetime, end: datetime, resolution: int) -> None:
        span = (end - start).total_seconds()
        if span <= 0:
            raise ProblemError(422, "Empty time range", "'to' must be after 'from'")
        if resolution <= 0:
            raise ProblemError(422, "Bad resolution", "resolution must be a positive number of seconds")
        count = int(np.ceil(span / resolution))
        if count > MAX_BUCKETS:
            raise ProblemError(422, "Time range too long",
                               f"{count} buckets of {resolution}s exceed the limit of {MAX_BUCKETS}")
        self.start = start
        self.end = end
        self.resolution = resolution
        self.values = np.zeros(count)

    def add(self, start: datetime, seconds: float, energy: float) -> None:
        """Spread ``energy`` over [start, start+seconds) into the buckets it overlaps."""
        t0 = (start - self.start).total_seconds()
        t1 = t0 + seconds
        horizon = (self.end - self.start).total_seconds()
        if seconds <= 0 or t1 <= 0 or t0 >= horizon:
            return
        first = max(int(t0 // self.resolution), 0)
        last = min(int(np.ceil(t1 / self.resolution)), len(self.values))
        for b in range(first, last):
            lo = max(t0, b * self.resolution)
            hi = min(t1, (b + 1) * self.resolution, horizon)
            if hi > lo:
                self.values[b] += energy * (hi - lo) / seconds


def _add_schedule(buckets: _Buckets, offer: FlexOffer, schedule: Schedule) -> None:
    profile = offer.profile
    if schedule.profile_index is not None and 0 <= schedule.profile_index < len(offer.profiles):
        profile = offer.profiles[schedule.profile_index]
    durations = schedule.durations
    if durations is None or len(durations) != len(schedule.energy):
        durations = profile.min_durations() if len(profile.min_durations()) == len(schedule.energy) else [1] * len(
            schedule.energy)
    moment = schedule.start
    step = offer.interval_seconds
    for energy, duration in zip(schedule.energy, durations, strict=True):
        seconds = duration * step
        buckets.add(moment, seconds, energy)
        moment += timedelta(seconds=seconds)


def _overlapping(session: Session, party: str, start: datetime, end: datetime,
                 states: Iterable[str] | None = None) -> list[FlexOffer]:
    query = select(StoredFlexOffer.document).where(
        StoredFlexOffer.party == party, StoredFlexOffer.window_end > start, StoredFlexOffer.window_start < end
    )
    if states is not None:
        query = query.where(StoredFlexOffer.state.in_(list(states)))
    return [FlexOffer.model_validate_json(doc) for doc in session.scalars(query)]


def aggregate(session: Session, party: str, kind: SeriesKind, start: datetime, end: datetime,
              resolution: int) -> tuple[list[float], int]:
    """Energy per bucket of ``resolution`` seconds over [start, end), and how many offers contributed."""
    buckets = _Buckets(start, end, resolution)
    contributors = 0
    if kind is SeriesKind.MEASUREMENT:
        rows = session.execute(
            select(FlexOfferMeasurement.start, FlexOfferMeasurement.interval_seconds,
                   FlexOfferMeasurement.energy_kwh, FlexOfferMeasurement.offer_id).where(
                FlexOfferMeasurement.party == party,
                FlexOfferMeasurement.start < end,
                FlexOfferMeasurement.start >= start - timedelta(days=1),
            )
        ).all()
        for row in rows:
            buckets.add(row.start, row.interval_seconds, row.energy_kwh)
        contributors = len({row.offer_id for row in rows})
    else:
        states = SCHEDULED_STATES if kind is SeriesKind.SCHEDULE else None
        for offer in _overlapping(session, party, start, end, states):
            schedule = offer.schedule if kind is SeriesKind.SCHEDULE else offer.default_schedule
            if schedule is None:
                continue
            _add_schedule(buckets, offer, schedule)
            contributors += 1
    return [round(float(v), 9) for v in buckets.values], contributors
