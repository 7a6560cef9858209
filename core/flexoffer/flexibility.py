"""Flexibility measures of flex-offers, after Valsomatzis, Hose, Pedersen and Šikšnys,
"Measuring and Comparing Energy Flexibilities" (EDBT/ICDT workshops 2015).

* time flexibility: latest minus earliest start (here in hours, so offers with
  different interval lengths compare);
* energy flexibility: the sum over slices of (upper - lower) bound, in kWh;
* product flexibility: time x energy flexibility (kWh·h), zero when either is;
* vector flexibility: the pair (time, energy), compared by its Euclidean norm.

The paper's point is that no single number captures both dimensions; the product
and vector measures are the two combined ones it recommends for comparing offers,
and the aggregation loss is reported for each measure separately.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.flexoffer.aggregation import Aggregate
from core.flexoffer.batch import FlexOfferBatch, FloatArray, IntArray
from core.flexoffer.model import FlexOffer


@dataclass(frozen=True)
class Flexibility:
    """The measures of one offer, or the sums over a set of offers."""

    time_hours: float
    energy_kwh: float
    product_kwh_h: float

    @property
    def vector(self) -> tuple[float, float]:
        return (self.time_hours, self.energy_kwh)

    @property
    def vector_norm(self) -> float:
        return math.hypot(self.time_hours, self.energy_kwh)

    def __add__(self, other: Flexibility) -> Flexibility:
        return Flexibility(
            self.time_hours + other.time_hours,
            self.energy_kwh + other.energy_kwh,
            self.product_kwh_h + other.product_kwh_h,
        )


ZERO = Flexibility(0.0, 0.0, 0.0)


def time_flexibility(offer: FlexOffer) -> float:
    """Hours between the earliest and the latest start."""
    return offer.time_flexibility().total_seconds() / 3600


def energy_flexibility(offer: FlexOffer) -> float:
    """Sum of per-slice (upper - lower) in kWh; the largest over XOR alternatives."""
    return max(
        float(np.sum(np.asarray(p.energy_upper) - np.asarray(p.energy_lower))) for p in offer.profiles
    )


def product_flexibility(offer: FlexOffer) -> float:
    return time_flexibility(offer) * energy_flexibility(offer)


def vector_flexibility(offer: FlexOffer) -> tuple[float, float]:
    return (time_flexibility(offer), energy_flexibility(offer))


def flexibility(offer: FlexOffer) -> Flexibility:
    t, e = vector_flexibility(offer)
    return Flexibility(t, e, t * e)


def batch_flexibility(batch: FlexOfferBatch, rows: IntArray | None = None) -> tuple[FloatArray, FloatArray]:
    """Per-row (time hours, energy kWh) of a columnar batch (or of ``rows`` of it), vectorised."""
    picked = slice(None) if rows is None else rows
    hours = (batch.latest[picked] - batch.earliest[picked]) * batch.interval_seconds[picked] / 3600.0
    energy = (batch.upper[picked] - batch.lower[picked]).sum(axis=1)
    return hours.astype(np.float64), energy


def total_flexibility(offers: Sequence[FlexOffer]) -> Flexibility:
    out = ZERO
    for offer in offers:
        out = out + flexibility(offer)
    return out


def members_flexibility(aggregate: Aggregate) -> Flexibility:
    """The summed flexibility of an aggregate's members (vectorised for columnar members)."""
    if aggregate.single is not None:
        return flexibility(aggregate.single)
    source, rows = aggregate.source, aggregate.rows  # the members as offered, never shrunk
    assert source is not None and rows is not None
    hours, energy = batch_flexibility(source, rows)
    return Flexibility(float(hours.sum()), float(energy.sum()), float((hours * energy).sum()))


@dataclass(frozen=True)
class FlexibilityLoss:
    """How much flexibility aggregation gave up, per measure (absolute and percent)."""

    members: Flexibility
    aggregates: Flexibility
    member_time_hours_kept: float = 0.0
    """Sum over members of the time flexibility they keep inside their aggregate
    (the aggregate's). Summing aggregate time flexibilities alone would count an
    aggregate of 1,000 offers once; this counts what each member can still move."""

    @staticmethod
    def _percent(before: float, after: float) -> float:
        return 0.0 if before <= 0 else 100.0 * (before - after) / before

    @property
    def absolute(self) -> Flexibility:
        return Flexibility(
            self.members.time_hours - self.aggregates.time_hours,
            self.members.energy_kwh - self.aggregates.energy_kwh,
            self.members.product_kwh_h - self.aggregates.product_kwh_h,
        )

    @property
    def time_percent(self) -> float:
        return self._percent(self.members.time_hours, self.aggregates.time_hours)

    @property
    def member_time_percent(self) -> float:
        """Share of the members' time flexibility lost by moving with their aggregate."""
        return self._percent(self.members.time_hours, self.member_time_hours_kept)

    @property
    def energy_percent(self) -> float:
        return self._percent(self.members.energy_kwh, self.aggregates.energy_kwh)

    @property
    def product_percent(self) -> float:
        return self._percent(self.members.product_kwh_h, self.aggregates.product_kwh_h)

    @property
    def vector_percent(self) -> float:
        before = math.hypot(self.members.time_hours, self.members.energy_kwh)
        after = math.hypot(self.aggregates.time_hours, self.aggregates.energy_kwh)
        return self._percent(before, after)

    def as_dict(self) -> dict[str, float]:
        loss = self.absolute
        return {
            "time_hours": loss.time_hours,
            "energy_kwh": loss.energy_kwh,
            "product_kwh_h": loss.product_kwh_h,
            "time_percent": self.time_percent,
            "member_time_percent": self.member_time_percent,
            "energy_percent": self.energy_percent,
            "product_percent": self.product_percent,
            "vector_percent": self.vector_percent,
        }


def aggregation_loss(aggregates: Sequence[Aggregate]) -> FlexibilityLoss:
    """Flexibility of the members minus that of the aggregates, summed over ``aggregates``."""
    members = ZERO
    after = ZERO
    kept = 0.0
    for agg in aggregates:
        members = members + members_flexibility(agg)
        own = flexibility(agg.offer)
        after = after + own
        kept += own.time_hours * len(agg.members)
    return FlexibilityLoss(members=members, aggregates=after, member_time_hours_kept=kept)
