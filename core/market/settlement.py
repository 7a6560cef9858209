"""Settlement and the monthly bill: metered - baseline is the delivered adaptation.

Per interval the aggregator *requested* ``scheduled - baseline`` and the prosumer
*delivered* ``metered - baseline``. Only delivery in the requested direction, and
no more than was requested, is credited. The scheduling reward is paid only when
the imbalance ``Σ|metered - scheduled|`` stays within the contract's tolerance:
beyond it there is no reward at all, so over- or mis-delivery never pays.

An offer whose scheduled intervals are all metered is settled on *factual*
quantities; otherwise missing readings are *predicted* to follow the schedule, and
the bill keeps the two apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from core.flexoffer.model import FlexOffer, OfferState
from core.market.baseline import Series, characteristic_curve, default_schedule_baseline, schedule_series
from core.market.contracts import BaselineKind, FlexContract, energy_flexibility_kwh, time_flexibility_hours

Basis = Literal["factual", "predicted"]

# Offers the aggregator took up: offering rewards are paid for these.
TAKEN_STATES = frozenset({OfferState.ACCEPTED, OfferState.ASSIGNED, OfferState.EXECUTED})


@dataclass
class OfferSettlement:
    offer_id: str
    basis: Basis
    scheduled: bool
    energy_flexibility_kwh: float
    time_flexibility_h: float
    baseline_kwh: float
    scheduled_kwh: float
    metered_kwh: float
    requested_adaptation_kwh: float
    delivered_adaptation_kwh: float
    imbalance_kwh: float
    tolerance_kwh: float
    within_tolerance: bool
    reward_energy_flexibility_eur: float
    reward_time_flexibility_eur: float
    reward_scheduling_eur: float

    @property
    def total_eur(self) -> float:
        return self.reward_energy_flexibility_eur + self.reward_time_flexibility_eur + self.reward_scheduling_eur


@dataclass
class Quantities:
    offers: int = 0
    energy_flexibility_kwh: float = 0.0
    time_flexibility_h: float = 0.0
    requested_adaptation_kwh: float = 0.0
    delivered_adaptation_kwh: float = 0.0
    imbalance_kwh: float = 0.0
    reward_eur: float = 0.0

    def add(self, line: OfferSettlement) -> None:
        self.offers += 1
        self.energy_flexibility_kwh += line.energy_flexibility_kwh
        self.time_flexibility_h += line.time_flexibility_h
        self.requested_adaptation_kwh += line.requested_adaptation_kwh
        self.delivered_adaptation_kwh += line.delivered_adaptation_kwh
        self.imbalance_kwh += line.imbalance_kwh
        self.reward_eur += line.total_eur


@dataclass
class Bill:
    party: str
    month: str
    contract_id: str | None
    lines: list[OfferSettlement]
    fixed_reward_eur: float
    fixed_reward_basis: Basis
    factual: Quantities = field(default_factory=Quantities)
    predicted: Quantities = field(default_factory=Quantities)

    @property
    def total_eur(self) -> float:
        return self.factual.reward_eur + self.predicted.reward_eur


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` → [first instant, first instant of the next month) in UTC."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month {month!r} is not of the form YYYY-MM")
    year, mon = int(match.group(1)), int(match.group(2))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def execution_start(offer: FlexOffer) -> datetime:
    """When the offer runs: its assignment, else its default schedule, else its window start."""
    for schedule in (offer.schedule, offer.default_schedule):
        if schedule is not None:
            return schedule.start
    return offer.earliest_start


def settle_offer(
    contract: FlexContract,
    offer: FlexOffer,
    metered: Mapping[datetime, float],
    history: Mapping[datetime, float] | None = None,
) -> OfferSettlement:
    """Settle one offer under ``contract``; ``metered``/``history`` map interval start → kWh."""
    scheduled_series: Series = schedule_series(offer, offer.schedule) if offer.schedule is not None else {}
    intervals = sorted(set(scheduled_series) | set(metered))
    # Outside its schedule an offer's device is planned off when the baseline is the offer's
    # own default schedule; against a metered curve the prosumer is simply asked for nothing.
    if contract.baseline is BaselineKind.CHARACTERISTIC_CURVE:
        baseline = characteristic_curve(history or {}, intervals, contract.baseline_weeks)
        outside: Callable[[float], float] = lambda b: b  # noqa: E731
    else:
        baseline = default_schedule_baseline(offer)
        intervals = sorted(set(intervals) | set(baseline))
        outside = lambda b: 0.0  # noqa: E731
    factual = bool(scheduled_series) and all(t in metered for t in scheduled_series)

    requested = delivered = imbalance = 0.0
    totals = {"baseline": 0.0, "scheduled": 0.0, "metered": 0.0}
    for t in intervals:
        b = baseline.get(t, 0.0)
        s = scheduled_series.get(t, outside(b))
        m = metered.get(t, s)  # a missing reading is predicted to follow the schedule
        totals["baseline"] += b
        totals["scheduled"] += s
        totals["metered"] += m
        want = s - b
        got = m - b
        requested += abs(want)
        if want > 0:
            delivered += min(max(got, 0.0), want)
        elif want < 0:
            delivered += min(max(-got, 0.0), -want)
        imbalance += abs(m - s)

    tolerance = contract.imbalance_tolerance * requested + contract.imbalance_tolerance_kwh
    within = imbalance <= tolerance + 1e-9
    is_scheduled = offer.schedule is not None
    taken = offer.state in TAKEN_STATES or is_scheduled
    energy_flex = energy_flexibility_kwh(offer) if taken else 0.0
    time_flex = time_flexibility_hours(offer) if taken else 0.0
    scheduling = 0.0
    if is_scheduled and within:
        scheduling = contract.scheduling_reward_per_offer + contract.scheduling_reward_per_kwh * delivered
    return OfferSettlement(
        offer_id=offer.id or "",
        basis="factual" if factual else "predicted",
        scheduled=is_scheduled,
        energy_flexibility_kwh=energy_flex,
        time_flexibility_h=time_flex,
        baseline_kwh=totals["baseline"],
        scheduled_kwh=totals["scheduled"],
        metered_kwh=totals["metered"],
        requested_adaptation_kwh=requested,
        delivered_adaptation_kwh=delivered,
        imbalance_kwh=imbalance,
        tolerance_kwh=tolerance,
        within_tolerance=within,
        reward_energy_flexibility_eur=contract.reward_per_kwh_energy_flexibility * energy_flex,
        reward_time_flexibility_eur=contract.reward_per_hour_time_flexibility * time_flex,
        reward_scheduling_eur=scheduling,
    )


def make_bill(
    contract: FlexContract,
    month: str,
    offers: Sequence[FlexOffer],
    metered: Mapping[str, Mapping[datetime, float]],
    now: datetime,
    history: Mapping[str, Mapping[datetime, float]] | None = None,
) -> Bill:
    """The party's bill for ``month``: every taken offer that runs in the month and under the contract.

    ``metered`` and ``history`` are keyed by offer id; ``now`` decides whether the
    fixed monthly reward is already earned (factual) or still predicted.
    """
    start, end = month_bounds(month)
    bill = Bill(
        party=contract.party,
        month=month,
        contract_id=contract.contract_id,
        lines=[],
        fixed_reward_eur=0.0,
        fixed_reward_basis="factual" if now >= end else "predicted",
    )
    for offer in offers:
        moment = execution_start(offer)
        if not (start <= moment < end) or not contract.covers(moment):
            continue
        if offer.state not in TAKEN_STATES and offer.schedule is None:
            continue
        line = settle_offer(contract, offer, metered.get(offer.id or "", {}), (history or {}).get(offer.id or ""))
        bill.lines.append(line)
        (bill.factual if line.basis == "factual" else bill.predicted).add(line)
    if contract.covers(start) or contract.covers(end - (end - start) / 2):
        bill.fixed_reward_eur = contract.fixed_reward_eur
        bucket = bill.factual if bill.fixed_reward_basis == "factual" else bill.predicted
        bucket.reward_eur += contract.fixed_reward_eur
    return bill
