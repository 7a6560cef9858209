"""The AGR's portfolio behind UFTP: member flex-offers at a congestion point, via FMAN.

Members' flex-offers stored in the hub (zone = the UFTP CongestionPoint) are aggregated
with ``core.flexoffer.aggregate``; their default schedules are the baseline. What a
FlexOffer may promise per ISP is the aggregates' room between baseline and bounds, and
a FlexOrder is turned into one aggregate schedule per aggregate and split over the
members with ``core.flexoffer.disaggregate`` — so what is offered is what the
disaggregation can deliver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.flexoffer import Aggregate, AggregationParams, FlexOffer, Schedule, aggregate, disaggregate
from gateway.db.flexoffer import StoredFlexOffer
from gateway.services.offer_records import to_offer

ACTIVE_STATES = ("offered", "accepted")
KWH_TOLERANCE = 1e-6


class CannotDeliver(ValueError):
    """The portfolio cannot realise the ordered ISPs."""


@dataclass
class Portfolio:
    period_start: datetime
    isp: timedelta
    aggregates: list[Aggregate] = field(default_factory=list)
    parties: dict[str, str] = field(default_factory=dict)
    """member offer id -> the party that submitted it"""
    members: dict[str, FlexOffer] = field(default_factory=dict)

    def _baseline(self, agg: Aggregate, start: datetime) -> list[float]:
        """The members' default schedules summed on the aggregate's slices (lower bound where none)."""
        if agg.offer.default_schedule is not None:
            return list(agg.offer.default_schedule.energy)
        total = [0.0] * agg.offer.profile.slice_count
        step = timedelta(seconds=agg.offer.interval_seconds)
        for member_id in agg.members:
            member = self.members[member_id]
            own = member.default_schedule
            energy = own.energy if own is not None else member.profile.energy_lower
            first = int(((own.start if own is not None else member.earliest_start) - start) / step)
            for k, value in enumerate(energy):
                if 0 <= first + k < len(total):
                    total[first + k] += value
        return total

    def __bool__(self) -> bool:
        return bool(self.aggregates)

    def _slices(self, agg: Aggregate) -> tuple[int, list[float], list[float], list[float]] | None:
        """(first ISP number, baseline, lower, upper) in kWh per ISP, or None if not ISP-aligned."""
        offer = agg.offer
        one_interval_slices = all(d == 1 for d in offer.profile.max_durations())
        if offer.interval_seconds != int(self.isp.total_seconds()) or not one_interval_slices:
            return None
        start = offer.default_schedule.start if offer.default_schedule is not None else offer.earliest_start
        offset = (start - self.period_start) / self.isp
        if offset != int(offset):
            return None
        lower, upper = offer.profile.energy_lower, offer.profile.energy_upper
        return int(offset) + 1, self._baseline(agg, start), list(lower), list(upper)

    def baseline_w(self) -> dict[int, int]:
        """Per ISP: the members' summed baseline power, in W (the D-Prognosis)."""
        per_hour = timedelta(hours=1) / self.isp
        total: dict[int, int] = {}
        for agg in self.aggregates:
            cells = self._slices(agg)
            if cells is not None:
                first, baseline, _, _ = cells
                for k, value in enumerate(baseline):
                    total[first + k] = total.get(first + k, 0) + int(value * per_hour * 1000)
        return total

    def room_w(self) -> tuple[dict[int, int], dict[int, int]]:
        """Per ISP: how far consumption can go down and up from the baseline, in W."""
        per_hour = timedelta(hours=1) / self.isp
        down: dict[int, int] = {}
        up: dict[int, int] = {}
        for agg in self.aggregates:
            cells = self._slices(agg)
            if cells is None:
                continue
            first, baseline, lower, upper = cells
            for k, (b, lo, hi) in enumerate(zip(baseline, lower, upper, strict=True)):
                down[first + k] = down.get(first + k, 0) + int((b - lo) * per_hour * 1000)
                up[first + k] = up.get(first + k, 0) + int((hi - b) * per_hour * 1000)
        return down, up

    def dispatch(self, ordered_w: dict[int, int]) -> dict[str, Schedule]:
        """Member schedules realising ``ordered_w`` (ISP -> W, positive = more consumption)."""
        hours = self.isp / timedelta(hours=1)
        remaining = {n: p * hours / 1000 for n, p in ordered_w.items()}  # kWh change per ISP
        targets: list[tuple[Aggregate, Schedule]] = []
        for agg in self.aggregates:
            cells = self._slices(agg)
            if cells is None:
                continue
            first, baseline, lower, upper = cells
            energy = list(baseline)
            touched = False
            for k in range(len(energy)):
                change = remaining.get(first + k, 0.0)
                if abs(change) <= KWH_TOLERANCE:
                    continue
                room = (lower[k] - energy[k]) if change < 0 else (upper[k] - energy[k])
                step = max(change, room) if change < 0 else min(change, room)
                energy[k] += step
                remaining[first + k] = change - step
                touched = touched or abs(step) > KWH_TOLERANCE
            if touched:
                start = self.period_start + (first - 1) * self.isp
                targets.append((agg, Schedule(start=start, energy=energy)))
        short = {n: round(v, 6) for n, v in remaining.items() if abs(v) > KWH_TOLERANCE}
        if short:
            raise CannotDeliver(f"the portfolio lacks flexibility at ISPs {sorted(short)}")
        schedules: dict[str, Schedule] = {}
        for agg, schedule in targets:
            try:
                schedules.update(disaggregate(agg, schedule))
            except ValueError as exc:
                raise CannotDeliver(str(exc)) from exc
        return schedules


def load(session: Session, congestion_point: str, period_start: datetime, period_end: datetime,
         isp: timedelta) -> Portfolio:
    rows = session.scalars(select(StoredFlexOffer).where(
        StoredFlexOffer.zone == congestion_point, StoredFlexOffer.state.in_(ACTIVE_STATES),
        StoredFlexOffer.window_start < period_end, StoredFlexOffer.window_end > period_start)).all()
    offers = [to_offer(r) for r in rows]
    portfolio = Portfolio(period_start=period_start, isp=isp, parties={r.id: r.party for r in rows},
                          members={str(o.id): o for o in offers})
    if offers:
        portfolio.aggregates = aggregate(offers, AggregationParams(group_by="zone"))
    return portfolio
