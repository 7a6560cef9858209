"""Columnar form of many simple flex-offers, for the vectorised FMAN algorithms.

A million pydantic offers of 96 slices cost gigabytes and seconds to build; the
aggregation hot path therefore works on 2-D numpy arrays (one row per offer).
Only "simple" offers fit this form: one profile, every slice exactly one interval
long, no polytopic rows, and at least one start on the interval grid. The rest are
returned apart by :meth:`FlexOfferBatch.from_offers` so callers can treat them as
singletons.

Times are integers counted in intervals of the row's own ``interval_seconds`` since
the Unix epoch; ``earliest``/``latest`` are already rounded inwards onto that grid
(``check_schedule`` only admits grid-aligned starts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from core.flexoffer.checks import check_schedule
from core.flexoffer.model import EnergyBounds, FlexOffer, Profile, Schedule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_DEADLINE = np.iinfo(np.int64).max
"""Sentinel in the deadline columns for "no acceptBefore/assignmentBefore time"."""
NO_BASELINE = np.iinfo(np.int64).min
"""Sentinel in ``baseline_start`` for "no usable default schedule"."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def epoch_seconds(moment: datetime) -> float:
    return (moment - EPOCH).total_seconds()


def units_to_datetime(units: int, interval_seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=int(units) * int(interval_seconds))


def is_simple(offer: FlexOffer) -> bool:
    """True when ``offer`` fits the columnar form exactly (see the module docstring)."""
    if offer.xor_profiles or offer.polytope:
        return False
    profile = offer.profile
    for durations in (profile.min_duration, profile.max_duration):
        if durations is not None and any(d != 1 for d in durations):
            return False
    step = offer.interval_seconds
    first = math.ceil(epoch_seconds(offer.earliest_start) / step - 1e-9)
    last = math.floor(epoch_seconds(offer.effective_latest_start()) / step + 1e-9)
    return first <= last


@dataclass(frozen=True)
class FlexOfferBatch:
    """Many simple flex-offers as columns; row ``i`` is one offer.

    Profiles shorter than the widest are padded with ``[0, 0]`` slices; ``length``
    keeps the real slice count. ``total_lower``/``total_upper`` are NaN when the
    offer has no total-energy constraint. Tariff and baseline columns are optional
    (``None`` when no row carries them) because they double the memory.
    """

    ids: NDArray[np.object_]
    lower: FloatArray
    upper: FloatArray
    length: IntArray
    earliest: IntArray
    latest: IntArray
    interval_seconds: IntArray
    total_lower: FloatArray
    total_upper: FloatArray
    zone: NDArray[np.object_]
    location: NDArray[np.object_]
    accept_before: IntArray
    assignment_before: IntArray
    baseline_start: IntArray
    baseline_energy: FloatArray | None = None
    tariff_lower: FloatArray | None = None
    tariff_upper: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def width(self) -> int:
        return int(self.lower.shape[1])

    @classmethod
    def from_arrays(
        cls,
        ids: Sequence[str] | NDArray[np.object_],
        lower: FloatArray,
        upper: FloatArray,
        earliest: IntArray,
        latest: IntArray,
        *,
        interval_seconds: int | IntArray = 900,
        length: IntArray | None = None,
        total_lower: FloatArray | None = None,
        total_upper: FloatArray | None = None,
        zone: Sequence[str] | NDArray[np.object_] | None = None,
        location: Sequence[str] | NDArray[np.object_] | None = None,
        baseline_start: IntArray | None = None,
        baseline_energy: FloatArray | None = None,
        tariff_lower: FloatArray | None = None,
        tariff_upper: FloatArray | None = None,
    ) -> FlexOfferBatch:
        """Build a batch straight from arrays (the benchmark's and bulk importers' path)."""
        n = len(ids)
        nan = np.full(n, np.nan)
        empty = np.full(n, "", dtype=object)
        width = lower.shape[1]
        return cls(
            ids=np.asarray(ids, dtype=object),
            lower=np.ascontiguousarray(lower, dtype=np.float64),
            upper=np.ascontiguousarray(upper, dtype=np.float64),
            length=np.full(n, width, dtype=np.int64) if length is None else np.asarray(length, dtype=np.int64),
            earliest=np.asarray(earliest, dtype=np.int64),
            latest=np.asarray(latest, dtype=np.int64),
            interval_seconds=np.broadcast_to(np.asarray(interval_seconds, dtype=np.int64), (n,)).copy(),
            total_lower=nan.copy() if total_lower is None else np.asarray(total_lower, dtype=np.float64),
            total_upper=nan.copy() if total_upper is None else np.asarray(total_upper, dtype=np.float64),
            zone=empty.copy() if zone is None else np.asarray(zone).astype(str).astype(object),
            location=empty.copy() if location is None else np.asarray(location).astype(str).astype(object),
            accept_before=np.full(n, NO_DEADLINE, dtype=np.int64),
            assignment_before=np.full(n, NO_DEADLINE, dtype=np.int64),
            baseline_start=(
                np.full(n, NO_BASELINE, dtype=np.int64)
                if baseline_start is None
                else np.asarray(baseline_start, dtype=np.int64)
            ),
            baseline_energy=baseline_energy,
            tariff_lower=tariff_lower,
            tariff_upper=tariff_upper,
        )

    @classmethod
    def from_offers(cls, offers: Sequence[FlexOffer]) -> tuple[FlexOfferBatch, list[FlexOffer]]:
        """Split ``offers`` into a batch of the simple ones and a list of the rest.

        One Python pass per offer is unavoidable here (the objects are Python);
        everything after this runs on the arrays.
        """
        fits = [is_simple(o) for o in offers]
        simple = [o for o, ok in zip(offers, fits, strict=True) if ok]
        rest = [o for o, ok in zip(offers, fits, strict=True) if not ok]
        for o in offers:
            if o.id is None:
                raise ValueError("every offer needs an id to be aggregated")
        n = len(simple)
        width = max((o.profile.slice_count for o in simple), default=1)
        lower = np.zeros((n, width))
        upper = np.zeros((n, width))
        length = np.zeros(n, dtype=np.int64)
        earliest = np.zeros(n, dtype=np.int64)
        latest = np.zeros(n, dtype=np.int64)
        step = np.zeros(n, dtype=np.int64)
        t_lo = np.full(n, np.nan)
        t_hi = np.full(n, np.nan)
        accept = np.full(n, NO_DEADLINE, dtype=np.int64)
        assign = np.full(n, NO_DEADLINE, dtype=np.int64)
        base_start = np.full(n, NO_BASELINE, dtype=np.int64)
        any_tariff = any(o.profile.tariff_lower is not None or o.profile.tariff_upper is not None for o in simple)
        any_base = any(o.default_schedule is not None for o in simple)
        base = np.zeros((n, width)) if any_base else None
        tar_lo = np.full((n, width), np.nan) if any_tariff else None
        tar_hi = np.full((n, width), np.nan) if any_tariff else None
        for i, o in enumerate(simple):
            p = o.profile
            k = p.slice_count
            lower[i, :k] = p.energy_lower
            upper[i, :k] = p.energy_upper
            length[i] = k
            s = o.interval_seconds
            step[i] = s
            earliest[i] = math.ceil(epoch_seconds(o.earliest_start) / s - 1e-9)
            latest[i] = math.floor(epoch_seconds(o.effective_latest_start()) / s + 1e-9)
            if o.total_energy is not None:
                t_lo[i] = o.total_energy.lower
                t_hi[i] = o.total_energy.upper
            if o.accept_before is not None:
                accept[i] = math.floor(epoch_seconds(o.accept_before))
            if o.assignment_before is not None:
                assign[i] = math.floor(epoch_seconds(o.assignment_before))
            if tar_lo is not None and tar_hi is not None:
                if p.tariff_lower is not None:
                    tar_lo[i, :k] = [np.nan if v is None else v for v in p.tariff_lower]
                if p.tariff_upper is not None:
                    tar_hi[i, :k] = [np.nan if v is None else v for v in p.tariff_upper]
            d = o.default_schedule
            if base is not None and d is not None and len(d.energy) == k and d.durations in (None, [1] * k):
                units = epoch_seconds(d.start) / s
                aligned = abs(units - round(units)) < 1e-9 and earliest[i] <= round(units) <= latest[i]
                if aligned and not check_schedule(o, d):
                    base_start[i] = round(units)
                    base[i, :k] = d.energy
        batch = cls(
            ids=np.array([o.id for o in simple], dtype=object),
            lower=lower,
            upper=upper,
            length=length,
            earliest=earliest,
            latest=latest,
            interval_seconds=step,
            total_lower=t_lo,
            total_upper=t_hi,
            zone=np.array([o.zone or "" for o in simple], dtype=object),
            location=np.array([o.location_id or "" for o in simple], dtype=object),
            accept_before=accept,
            assignment_before=assign,
            baseline_start=base_start,
            baseline_energy=base,
            tariff_lower=tar_lo,
            tariff_upper=tar_hi,
        )
        return batch, rest

    def take(self, rows: IntArray) -> FlexOfferBatch:
        """The sub-batch of ``rows`` (copies; used by incremental grouping)."""
        def pick(a: FloatArray | None) -> FloatArray | None:
            return None if a is None else a[rows]

        return replace(
            self,
            ids=self.ids[rows],
            lower=self.lower[rows],
            upper=self.upper[rows],
            length=self.length[rows],
            earliest=self.earliest[rows],
            latest=self.latest[rows],
            interval_seconds=self.interval_seconds[rows],
            total_lower=self.total_lower[rows],
            total_upper=self.total_upper[rows],
            zone=self.zone[rows],
            location=self.location[rows],
            accept_before=self.accept_before[rows],
            assignment_before=self.assignment_before[rows],
            baseline_start=self.baseline_start[rows],
            baseline_energy=pick(self.baseline_energy),
            tariff_lower=pick(self.tariff_lower),
            tariff_upper=pick(self.tariff_upper),
        )

    @staticmethod
    def concat(parts: Sequence[FlexOfferBatch]) -> FlexOfferBatch:
        """Stack batches, padding narrower profiles with ``[0, 0]`` slices."""
        width = max(p.width for p in parts)
        total = sum(len(p) for p in parts)

        def wide(name: str, fill: float) -> FloatArray | None:
            arrays = [getattr(p, name) for p in parts]
            if all(a is None for a in arrays):
                return None
            out = np.full((total, width), fill)
            row = 0
            for p, a in zip(parts, arrays, strict=True):
                if a is not None:
                    out[row : row + len(p), : a.shape[1]] = a
                row += len(p)
            return out

        def flat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        lower = wide("lower", 0.0)
        upper = wide("upper", 0.0)
        assert lower is not None and upper is not None
        return FlexOfferBatch(
            ids=flat("ids"),
            lower=lower,
            upper=upper,
            length=flat("length"),
            earliest=flat("earliest"),
            latest=flat("latest"),
            interval_seconds=flat("interval_seconds"),
            total_lower=flat("total_lower"),
            total_upper=flat("total_upper"),
            zone=flat("zone"),
            location=flat("location"),
            accept_before=flat("accept_before"),
            assignment_before=flat("assignment_before"),
            baseline_start=flat("baseline_start"),
            baseline_energy=wide("baseline_energy", 0.0),
            tariff_lower=wide("tariff_lower", np.nan),
            tariff_upper=wide("tariff_upper", np.nan),
        )

    def effective_totals(
        self, lo_sum: FloatArray | None = None, hi_sum: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Total-energy bounds clipped to what the slice bounds allow (same feasible set).

        ``lo_sum``/``hi_sum`` are the row sums of the slice bounds when already known.
        """
        lo_sum = self.lower.sum(axis=1) if lo_sum is None else lo_sum
        hi_sum = self.upper.sum(axis=1) if hi_sum is None else hi_sum
        return clipped_totals(lo_sum, hi_sum, self.total_lower, self.total_upper)

    def offer(self, i: int) -> FlexOffer:
        """Row ``i`` as a pydantic FlexOffer (for APIs, tests and the pure-Python baseline)."""
        k = int(self.length[i])
        step = int(self.interval_seconds[i])
        tariff_lo = None if self.tariff_lower is None else _optional_list(self.tariff_lower[i, :k])
        tariff_hi = None if self.tariff_upper is None else _optional_list(self.tariff_upper[i, :k])
        total = None
        if not (np.isnan(self.total_lower[i]) and np.isnan(self.total_upper[i])):
            lo = float(self.total_lower[i]) if not np.isnan(self.total_lower[i]) else float(self.lower[i, :k].sum())
            hi = float(self.total_upper[i]) if not np.isnan(self.total_upper[i]) else float(self.upper[i, :k].sum())
            total = EnergyBounds(lower=lo, upper=hi)
        baseline = None
        if self.baseline_energy is not None and self.baseline_start[i] != NO_BASELINE:
            baseline = Schedule(
                start=units_to_datetime(int(self.baseline_start[i]), step),
                energy=self.baseline_energy[i, :k].tolist(),
            )
        return FlexOffer(
            id=str(self.ids[i]),
            zone=str(self.zone[i]) or None,
            location_id=str(self.location[i]) or None,
            earliest_start=units_to_datetime(int(self.earliest[i]), step),
            latest_start=units_to_datetime(int(self.latest[i]), step),
            interval_seconds=step,
            accept_before=_deadline(int(self.accept_before[i])),
            assignment_before=_deadline(int(self.assignment_before[i])),
            profile=Profile(
                energy_lower=self.lower[i, :k].tolist(),
                energy_upper=self.upper[i, :k].tolist(),
                tariff_lower=tariff_lo,
                tariff_upper=tariff_hi,
            ),
            total_energy=total,
            default_schedule=baseline,
        )


def clipped_totals(
    lo_sum: FloatArray, hi_sum: FloatArray, total_lower: FloatArray, total_upper: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Total-energy bounds (NaN = none) intersected with the range the slice bounds allow."""
    t_lo = np.where(np.isnan(total_lower), lo_sum, np.maximum(total_lower, lo_sum))
    t_hi = np.where(np.isnan(total_upper), hi_sum, np.minimum(total_upper, hi_sum))
    return t_lo, t_hi


def _optional_list(values: FloatArray) -> list[float | None] | None:
    if np.isnan(values).all():
        return None
    return [None if np.isnan(v) else float(v) for v in values]


def _deadline(seconds: int) -> datetime | None:
    return None if seconds == NO_DEADLINE else EPOCH + timedelta(seconds=seconds)
