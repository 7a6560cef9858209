"""Flex-offer aggregation (FMAN), vectorised over all offers.

Grouping follows the grid-based scheme of the TotalFlex/MIRACLE aggregation work:
offers fall in the same group when they share the interval length, the grid place
(zone or location), optionally the direction, and the same bucket of
``startAfterTime`` and of time flexibility (bucket width = the tolerance; a zero
tolerance groups equal values only). Bucketing, unlike pairwise distance
clustering, makes the grouping of one offer independent of the others, which is
what lets incremental and batch aggregation agree exactly.

A group is then cut into bins that respect the optional member-count and
total-energy bounds (next-fit in a canonical order), and each bin becomes one
aggregate:

* **start alignment**: every member is anchored at its ``startAfterTime``;
  **baseline alignment**: at its default-schedule start (members without one fall
  back to ``startAfterTime``). With ``o_i`` = anchor_i - min anchor, an aggregate
  start ``T`` puts member ``i`` at ``T + o_i``;
* the aggregate's start window is the intersection of the members' windows in
  that shared frame, so every aggregate start is feasible for every member; under
  start alignment its time flexibility is the minimum of the members';
* per-slice bounds are the members' bounds summed at their offsets (slices
  outside a member's span contribute ``[0, 0]``), total-energy bounds sum, and
  tariff bounds are carried as energy-weighted means;
* deadlines (accept/assignment before) are the earliest of the members'.

Offers that do not fit the columnar form (XOR profiles, polytopic constraints,
slice durations other than one interval) are **left as singleton aggregates**:
aggregating them exactly would need the union/Minkowski sum of non-box sets.

Known limit: summing box-plus-total-energy sets is exact for the per-slice bounds
and the totals taken one at a time, but when members' total-energy constraints
bind, some schedules inside the aggregate's bounds cannot be split among the
members (e.g. all energy early while the early members' totals are capped).
``disaggregate`` detects those and raises ``DisaggregationError`` naming the
slices; it never emits a violating member schedule. ``totals="inner"`` trades
energy flexibility for an aggregate whose every schedule splits (see
``AggregationParams.totals`` and docs/aggregation.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import IntEnum, StrEnum
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from core.flexoffer.batch import (
    EPOCH,
    NO_BASELINE,
    NO_DEADLINE,
    FlexOfferBatch,
    FloatArray,
    IntArray,
    units_to_datetime,
)
from core.flexoffer.model import ENERGY_TOLERANCE_KWH, EnergyBounds, FlexOffer, OfferState, Profile, Schedule

_STATS_ROWS = 8_192
"""Rows reduced at once by the validation pass: small enough to stay in cache."""
_CHUNK_ROWS = 131_072
"""Rows gathered at once when summing profiles: bounds the temporary copies' memory."""


class Alignment(StrEnum):
    START = "start"
    BASELINE = "baseline"


class Direction(IntEnum):
    ANY = -1
    CONSUMPTION = 0
    PRODUCTION = 1
    MIXED = 2


_DIRECTION_NAMES = {d.value: d.name.lower() for d in Direction}


class AggregationParams(BaseModel):
    """How offers are grouped and aligned. Tolerances are bucket widths (0 = equal values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_tolerance: timedelta = timedelta(0)
    time_flexibility_tolerance: timedelta = timedelta(0)
    group_by: Literal["zone", "location", "none"] = "zone"
    by_direction: bool = False
    max_total_energy_kwh: float | None = Field(default=None, gt=0)
    max_members: int | None = Field(default=None, ge=1)
    alignment: Alignment = Alignment.START
    totals: Literal["sum", "inner"] = "sum"
    """``sum``: total-energy bounds add up (the members' full flexibility, but see the
    module note on schedules that cannot be split). ``inner``: each member's slice
    bounds are first shrunk to the widest box that meets its total on its own, so
    the aggregate admits only schedules that always split, at a cost in energy
    flexibility that the flexibility-loss figures show."""
    aggregator_id: str | None = None


GroupKey = tuple[int, str, int, int, int]
"""(interval seconds, place, direction, start bucket, time-flexibility bucket)."""


@dataclass(frozen=True, eq=False)
class Aggregate:
    """One aggregated offer and the members it stands for.

    ``rows``/``offsets`` point into ``source`` (the members' columnar data) so that
    disaggregation needs no copy of the members; ``single`` is set instead for an
    offer left alone because it does not fit the columnar form.
    """

    offer: FlexOffer
    members: list[str]
    key: GroupKey | None = None
    source: FlexOfferBatch | None = field(default=None, repr=False)
    rows: IntArray | None = field(default=None, repr=False)
    offsets: IntArray | None = field(default=None, repr=False)
    single: FlexOffer | None = field(default=None, repr=False)
    origin: FlexOfferBatch | None = field(default=None, repr=False)
    """The members as offered, when ``source`` holds shrunk bounds (``totals="inner"``)."""


def aggregate(offers: Sequence[FlexOffer] | FlexOfferBatch, params: AggregationParams | None = None) -> list[Aggregate]:
    """Aggregate ``offers`` (pydantic objects or a columnar batch) into tradable aggregates.

    The result is ordered by group key, then bin; offers left as singletons come
    last, ordered by id. The order is part of the contract: incremental
    aggregation (:class:`Aggregator`) returns the same list.
    """
    params = params or AggregationParams()
    rest: list[FlexOffer] = []
    if isinstance(offers, FlexOfferBatch):
        batch = offers
    else:
        batch, rest = FlexOfferBatch.from_offers(offers)
    _check_unique([*batch.ids.tolist(), *(o.id for o in rest)])
    return _aggregate_batch(batch, params) + [_singleton(o, params) for o in sorted(rest, key=_id)]


class Aggregator:
    """Incremental aggregation: adding or removing offers recomputes only their groups.

    State lives in the instance (never in module globals) so that each replica or
    each zone partition owns its own aggregator.
    """

    def __init__(self, params: AggregationParams | None = None) -> None:
        self.params = params or AggregationParams()
        self._groups: dict[GroupKey, FlexOfferBatch] = {}
        self._aggregates: dict[GroupKey, list[Aggregate]] = {}
        self._group_of: dict[str, GroupKey] = {}
        self._singles: dict[str, Aggregate] = {}

    def __len__(self) -> int:
        return len(self._group_of) + len(self._singles)

    def add(self, offers: Sequence[FlexOffer] | FlexOfferBatch) -> set[GroupKey]:
        """Add new offers; returns the keys of the groups that were recomputed."""
        rest: list[FlexOffer] = []
        if isinstance(offers, FlexOfferBatch):
            batch = offers
        else:
            batch, rest = FlexOfferBatch.from_offers(offers)
        new_ids = [*batch.ids.tolist(), *(o.id for o in rest)]
        _check_unique(new_ids)
        known = [i for i in new_ids if i in self._group_of or i in self._singles]
        if known:
            raise ValueError(f"offers already aggregated: {', '.join(map(str, known[:5]))}")
        for offer in rest:
            self._singles[_id(offer)] = _singleton(offer, self.params)
        touched: set[GroupKey] = set()
        if len(batch) == 0:
            return touched
        stats = _row_stats(batch)
        _validate(batch, stats)
        if self.params.totals == "inner":
            stats = _row_stats(inner_boxes(batch))
        columns = _group_columns(batch, self.params, stats)
        order = np.lexsort(columns.sort_keys(batch))
        starts = _boundaries(columns.group_keys(), order)
        ends = np.append(starts[1:], len(order))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            rows = order[s:e]
            key = columns.key_of(int(rows[0]))
            part = batch.take(rows)
            existing = self._groups.get(key)
            merged = part if existing is None else FlexOfferBatch.concat([existing, part])
            self._groups[key] = merged
            self._group_of.update(dict.fromkeys(part.ids.tolist(), key))
            touched.add(key)
        for key in touched:
            self._aggregates[key] = _aggregate_batch(self._groups[key], self.params)
        return touched

    def remove(self, ids: Iterable[str]) -> set[GroupKey]:
        """Remove offers by id; returns the keys of the groups that were recomputed."""
        by_group: dict[GroupKey, set[str]] = {}
        for offer_id in ids:
            if offer_id in self._singles:
                del self._singles[offer_id]
                continue
            key = self._group_of.pop(offer_id, None)
            if key is None:
                raise KeyError(f"offer {offer_id!r} is not in this aggregator")
            by_group.setdefault(key, set()).add(offer_id)
        for key, gone in by_group.items():
            group = self._groups[key]
            keep = np.flatnonzero(~np.isin(group.ids, np.array(sorted(gone), dtype=object)))
            if len(keep) == 0:
                del self._groups[key]
                del self._aggregates[key]
                continue
            self._groups[key] = group.take(keep)
            self._aggregates[key] = _aggregate_batch(self._groups[key], self.params)
        return set(by_group)

    def aggregates(self) -> list[Aggregate]:
        """All current aggregates, in the same order :func:`aggregate` uses."""
        grouped = [a for key in sorted(self._aggregates) for a in self._aggregates[key]]
        return grouped + [self._singles[i] for i in sorted(self._singles)]


# --- grouping -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    """Per-row grouping columns of a batch."""

    step: IntArray
    place: np.ndarray
    place_code: IntArray
    direction: IntArray
    anchor: IntArray
    start_bucket: IntArray
    flex: IntArray
    flex_bucket: IntArray

    def group_keys(self) -> list[np.ndarray]:
        return [self.step, self.place_code, self.direction, self.start_bucket, self.flex_bucket]

    def sort_keys(self, batch: FlexOfferBatch) -> tuple[np.ndarray, ...]:
        """np.lexsort keys, least significant first: group key, then a canonical member order."""
        ids = batch.ids.astype(str)
        return (ids, self.anchor, self.flex, *reversed(self.group_keys()))

    def key_of(self, row: int) -> GroupKey:
        return (
            int(self.step[row]),
            str(self.place[row]),
            int(self.direction[row]),
            int(self.start_bucket[row]),
            int(self.flex_bucket[row]),
        )


def _bucket(seconds: IntArray, tolerance: timedelta) -> IntArray:
    width = int(tolerance.total_seconds())
    return seconds if width <= 0 else seconds // width


def _factorize(values: np.ndarray) -> tuple[np.ndarray, IntArray]:
    """Sorted distinct strings and each row's index among them (dict lookups, no string sort)."""
    items = values.tolist()  # batch constructors store zone/location as str objects
    distinct = sorted(set(items))
    code_of = {v: i for i, v in enumerate(distinct)}
    codes = np.fromiter((code_of[v] for v in items), dtype=np.int64, count=len(items))
    return np.asarray(distinct, dtype=object), codes


def _group_columns(batch: FlexOfferBatch, params: AggregationParams, stats: _RowStats) -> _Columns:
    step = batch.interval_seconds
    anchor = batch.earliest
    if params.alignment is Alignment.BASELINE:
        anchor = np.where(batch.baseline_start != NO_BASELINE, batch.baseline_start, batch.earliest)
    if params.group_by == "zone":
        place = batch.zone
    elif params.group_by == "location":
        place = batch.location
    else:
        place = np.full(len(batch), "", dtype=object)
    distinct, place_code = _factorize(place)
    if params.by_direction:
        consumes = stats.lo_min >= 0
        produces = stats.hi_max <= 0
        direction = np.where(consumes, Direction.CONSUMPTION, np.where(produces, Direction.PRODUCTION, Direction.MIXED))
    else:
        direction = np.full(len(batch), Direction.ANY)
    flex = batch.latest - batch.earliest
    return _Columns(
        step=step,
        place=distinct[place_code],
        place_code=place_code,
        direction=direction.astype(np.int64),
        anchor=anchor,
        start_bucket=_bucket(anchor * step, params.start_tolerance),
        flex=flex,
        flex_bucket=_bucket(flex * step, params.time_flexibility_tolerance),
    )


def _boundaries(keys: list[np.ndarray], order: IntArray) -> IntArray:
    """Sorted positions where a new group starts."""
    n = len(order)
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for k in keys:
        ks = k[order]
        change[1:] |= ks[1:] != ks[:-1]
    return np.flatnonzero(change)


def _bins(group_starts: IntArray, weight: FloatArray, n: int, params: AggregationParams) -> IntArray:
    """Sorted positions where a new bin starts: next-fit under the count and energy caps.

    Count caps alone are pure arithmetic; an energy cap needs one ``searchsorted``
    per bin (a loop per aggregate, never per offer or per slice).
    """
    if params.max_total_energy_kwh is None:
        if params.max_members is None:
            return group_starts
        group_id = np.cumsum(np.isin(np.arange(n), group_starts)) - 1
        rank = np.arange(n) - group_starts[group_id]
        return np.flatnonzero(rank % params.max_members == 0)
    cap = params.max_total_energy_kwh
    count = params.max_members or n
    cumulative = np.concatenate([[0.0], np.cumsum(weight)])
    group_end = np.append(group_starts[1:], n)
    starts: list[int] = []
    for g0, g1 in zip(group_starts.tolist(), group_end.tolist(), strict=True):
        p = g0
        while p < g1:
            q = int(np.searchsorted(cumulative, cumulative[p] + cap * (1 + 1e-12), side="right")) - 1
            q = min(max(q, p + 1), g1, p + count)
            starts.append(p)
            p = q
    return np.asarray(starts, dtype=np.int64)


# --- profile sums -------------------------------------------------------------------------------


def _shifted_sums(
    order: IntArray,
    offsets: IntArray,
    bin_of: IntArray,
    n_bins: int,
    width: int,
    cells: Sequence[Callable[[IntArray], FloatArray]],
) -> list[FloatArray]:
    """For each cell function, the per-bin sum of member rows placed at their offsets.

    Rows are gathered in chunks and reduced with ``np.add.reduceat`` once per
    distinct offset, so the work is a handful of numpy calls, independent of the
    slice count.
    """
    outs = [np.zeros((n_bins, width + int(offsets.max(initial=0)))) for _ in cells]
    for c0 in range(0, len(order), _CHUNK_ROWS):
        rows = order[c0 : c0 + _CHUNK_ROWS]
        offs = offsets[c0 : c0 + _CHUNK_ROWS]
        bins = bin_of[c0 : c0 + _CHUNK_ROWS]
        for d in np.unique(offs).tolist():
            sel = np.flatnonzero(offs == d)
            b = bins[sel]
            seg = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
            for out, cell in zip(outs, cells, strict=True):
                out[b[seg], d : d + width] += np.add.reduceat(cell(rows[sel]), seg, axis=0)
    return outs


def inner_boxes(batch: FlexOfferBatch) -> FlexOfferBatch:
    """Shrink every row's slice bounds to a box whose every point meets the row's totals.

    Lower bounds rise and upper bounds fall by the same fraction of each slice's
    range, just enough that sum(lower) >= total lower and sum(upper) <= total upper;
    the total-energy constraint then binds nothing and sums of boxes split exactly.
    """
    t_lo, t_hi = batch.effective_totals()
    lo_sum = batch.lower.sum(axis=1)
    hi_sum = batch.upper.sum(axis=1)
    spread = hi_sum - lo_sum
    with np.errstate(invalid="ignore", divide="ignore"):
        rise = np.where(spread > 0, np.clip((t_lo - lo_sum) / spread, 0, 1), 0.0)
        fall = np.where(spread > 0, np.clip((hi_sum - t_hi) / spread, 0, 1), 0.0)
    width = batch.upper - batch.lower
    lower = batch.lower + width * rise[:, None]
    upper = np.maximum(batch.upper - width * fall[:, None], lower)
    nan = np.full(len(batch), np.nan)
    return replace(batch, lower=lower, upper=upper, total_lower=nan, total_upper=nan.copy())


@dataclass(frozen=True)
class _RowStats:
    """Per-row reductions of the slice bounds, all taken in one cache-friendly pass."""

    lo_sum: FloatArray
    hi_sum: FloatArray
    lo_min: FloatArray
    hi_max: FloatArray
    ordered: NDArray[np.bool_]


def _row_stats(batch: FlexOfferBatch) -> _RowStats:
    n = len(batch)
    stats = _RowStats(np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n, dtype=bool))
    eps = ENERGY_TOLERANCE_KWH
    for c0 in range(0, n, _STATS_ROWS):
        rows = slice(c0, c0 + _STATS_ROWS)
        lo, hi = batch.lower[rows], batch.upper[rows]
        stats.lo_sum[rows] = lo.sum(axis=1)
        stats.hi_sum[rows] = hi.sum(axis=1)
        stats.lo_min[rows] = lo.min(axis=1, initial=np.inf)
        stats.hi_max[rows] = hi.max(axis=1, initial=-np.inf)
        stats.ordered[rows] = (lo <= hi + eps).all(axis=1)
    return stats


def _validate(batch: FlexOfferBatch, stats: _RowStats) -> tuple[FloatArray, FloatArray]:
    """Refuse rows that admit no schedule; return the effective totals.

    NaN and infinite bounds fail too: NaN fails every comparison, and an infinite
    bound makes a row sum non-finite.
    """
    eps = ENERGY_TOLERANCE_KWH
    lo_sum, hi_sum = stats.lo_sum, stats.hi_sum
    t_lo, t_hi = batch.effective_totals(lo_sum, hi_sum)
    bad = (
        ~stats.ordered
        | ~np.isfinite(lo_sum)
        | ~np.isfinite(hi_sum)
        | (t_lo > t_hi + eps)
        | (batch.earliest > batch.latest)
    )
    if bad.any():
        ids = ", ".join(map(str, batch.ids[bad][:5].tolist()))
        raise ValueError(f"{int(bad.sum())} offers admit no schedule and cannot be aggregated (e.g. {ids})")
    return t_lo, t_hi


def _check_unique(ids: list[str | None]) -> None:
    unique = set(ids)
    if None in unique:
        raise ValueError("every offer needs an id to be aggregated")
    if len(unique) != len(ids):
        seen: set[str | None] = set()
        dups = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate offer ids: {', '.join(map(str, dups[:5]))}")


def _id(offer: FlexOffer) -> str:
    return str(offer.id)


def _singleton(offer: FlexOffer, params: AggregationParams) -> Aggregate:
    copy = offer.model_copy(
        update={
            "id": f"agg-single-{offer.id}",
            "state": OfferState.INITIAL,
            "schedule": None,
            "offered_by": params.aggregator_id or offer.offered_by,
        }
    )
    return Aggregate(offer=copy, members=[_id(offer)], single=offer)


def _tariff_cells(
    tariff: FloatArray, energy_weight: Callable[[IntArray], FloatArray]
) -> list[Callable[[IntArray], FloatArray]]:
    """Numerator, weight, plain sum and count of one tariff column, for the shifted sums."""

    def weighted(r: IntArray) -> FloatArray:
        return np.nan_to_num(tariff[r]) * energy_weight(r)

    def weight(r: IntArray) -> FloatArray:
        return (~np.isnan(tariff[r])) * energy_weight(r)

    def plain(r: IntArray) -> FloatArray:
        return np.nan_to_num(tariff[r])

    def count(r: IntArray) -> FloatArray:
        return (~np.isnan(tariff[r])).astype(np.float64)

    return [weighted, weight, plain, count]


def _weighted_tariff(num: FloatArray, weight: FloatArray, plain: FloatArray, count: FloatArray) -> FloatArray:
    """Energy-weighted mean tariff per slice; plain mean where all weights are zero; NaN where none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(weight > 0, num / np.where(weight > 0, weight, 1), plain / np.where(count > 0, count, 1))
    return np.where(count > 0, out, np.nan)


def _tariff_list(values: FloatArray) -> list[float | None] | None:
    if np.isnan(values).all():
        return None
    return [None if np.isnan(v) else float(v) for v in values.tolist()]


def _aggregate_batch(batch: FlexOfferBatch, params: AggregationParams) -> list[Aggregate]:
    n = len(batch)
    if n == 0:
        return []
    stats = _row_stats(batch)
    t_lo, t_hi = _validate(batch, stats)
    origin = None
    if params.totals == "inner":
        origin, batch = batch, inner_boxes(batch)
        stats = _row_stats(batch)
        t_lo, t_hi = batch.effective_totals(stats.lo_sum, stats.hi_sum)
    columns = _group_columns(batch, params, stats)
    order = np.lexsort(columns.sort_keys(batch))
    group_starts = _boundaries(columns.group_keys(), order)
    weight = np.maximum(np.abs(t_lo), np.abs(t_hi))[order]
    bin_starts = _bins(group_starts, weight, n, params)
    n_bins = len(bin_starts)
    is_start = np.zeros(n, dtype=bool)
    is_start[bin_starts] = True
    bin_of = np.cumsum(is_start) - 1

    anchor = columns.anchor[order]
    anchor0 = np.minimum.reduceat(anchor, bin_starts)
    shift_lo = np.maximum.reduceat(batch.earliest[order] - anchor, bin_starts)
    shift_hi = np.minimum.reduceat(batch.latest[order] - anchor, bin_starts)
    offsets = anchor - anchor0[bin_of]
    span = np.maximum.reduceat(offsets + batch.length[order], bin_starts)
    total_lo = np.add.reduceat(t_lo[order], bin_starts)
    total_hi = np.add.reduceat(t_hi[order], bin_starts)
    accept = np.minimum.reduceat(batch.accept_before[order], bin_starts)
    assign = np.minimum.reduceat(batch.assignment_before[order], bin_starts)

    cells: list[Callable[[IntArray], FloatArray]] = [lambda r: batch.lower[r], lambda r: batch.upper[r]]
    tariffs = batch.tariff_lower is not None or batch.tariff_upper is not None
    if tariffs:
        tar_lo = batch.tariff_lower if batch.tariff_lower is not None else np.full_like(batch.lower, np.nan)
        tar_hi = batch.tariff_upper if batch.tariff_upper is not None else np.full_like(batch.lower, np.nan)

        def energy_weight(r: IntArray) -> FloatArray:
            return np.maximum(np.abs(batch.lower[r]), np.abs(batch.upper[r]))

        for tar in (tar_lo, tar_hi):
            cells += _tariff_cells(tar, energy_weight)
    baseline_bins = np.zeros(n_bins, dtype=bool)
    base_energy = batch.baseline_energy
    if params.alignment is Alignment.BASELINE and base_energy is not None:
        # Only baselines inside the (possibly shrunk) bounds add up to a feasible aggregate
        # baseline; strictly inside, so that tolerated tiny excesses cannot pile up in the sum.
        eps = 1e-9
        base_total = base_energy.sum(axis=1)
        fits = (
            ((base_energy >= batch.lower - eps) & (base_energy <= batch.upper + eps)).all(axis=1)
            & (base_total >= t_lo - eps)
            & (base_total <= t_hi + eps)
        )
        has = ((batch.baseline_start != NO_BASELINE) & fits)[order]
        baseline_bins = np.add.reduceat(has.astype(np.int64), bin_starts) == np.diff(np.append(bin_starts, n))
        cells.append(lambda r: base_energy[r])
    sums = _shifted_sums(order, offsets, bin_of, n_bins, batch.width, cells)
    lower, upper = sums[0], sums[1]
    tariff_lo = tariff_hi = None
    if tariffs:
        tariff_lo = _weighted_tariff(*sums[2:6])
        tariff_hi = _weighted_tariff(*sums[6:10])
        tariff_lo = np.where(np.isnan(tariff_hi), tariff_lo, np.fmin(tariff_lo, tariff_hi))
    baseline = sums[-1] if baseline_bins.any() else None

    ids = batch.ids[order]
    group_of_bin = np.searchsorted(group_starts, bin_starts, side="right") - 1
    first_bin_of_group = np.searchsorted(bin_starts, group_starts)
    bin_ends = np.append(bin_starts[1:], n)
    result: list[Aggregate] = []
    for b in range(n_bins):
        s, e = int(bin_starts[b]), int(bin_ends[b])
        first = int(order[s])
        key = columns.key_of(first)
        step = key[0]
        width = int(span[b])
        a0 = int(anchor0[b])
        default = None
        if baseline is not None and baseline_bins[b]:
            default = Schedule.model_construct(start=units_to_datetime(a0, step), energy=baseline[b, :width].tolist())
        index = b - int(first_bin_of_group[group_of_bin[b]])
        place = key[1]
        # model_construct: every field is built here from checked arrays, in the model's
        # own types (UTC datetimes, Python floats, equal-length columns), so pydantic's
        # validation would only repeat what is true by construction.
        offer = FlexOffer.model_construct(
            id=f"agg-{step}-{place}-{_DIRECTION_NAMES[key[2]]}-{key[3]}-{key[4]}-{index}",
            offered_by=params.aggregator_id,
            zone=place or None if params.group_by == "zone" else None,
            location_id=place or None if params.group_by == "location" else None,
            earliest_start=units_to_datetime(a0 + int(shift_lo[b]), step),
            latest_start=units_to_datetime(a0 + int(shift_hi[b]), step),
            interval_seconds=step,
            accept_before=None if accept[b] == NO_DEADLINE else EPOCH + timedelta(seconds=int(accept[b])),
            assignment_before=None if assign[b] == NO_DEADLINE else EPOCH + timedelta(seconds=int(assign[b])),
            profile=Profile.model_construct(
                energy_lower=lower[b, :width].tolist(),
                energy_upper=upper[b, :width].tolist(),
                tariff_lower=None if tariff_lo is None else _tariff_list(tariff_lo[b, :width]),
                tariff_upper=None if tariff_hi is None else _tariff_list(tariff_hi[b, :width]),
            ),
            total_energy=EnergyBounds.model_construct(lower=float(total_lo[b]), upper=float(total_hi[b])),
            default_schedule=default,
        )
        result.append(
            Aggregate(
                offer=offer,
                members=ids[s:e].tolist(),
                key=key,
                source=batch,
                rows=order[s:e],
                offsets=offsets[s:e],
                origin=origin,
            )
        )
    return result
