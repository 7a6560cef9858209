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
* per-slice bounds are the members' (inner) bounds summed at their offsets (slices
  outside a member's span contribute ``[0, 0]``), total-energy bounds sum, and
  tariff bounds are carried as energy-weighted means;
* deadlines (accept/assignment before) are the earliest of the members'.

Offers that do not fit the columnar form (XOR profiles, polytopic constraints,
slice durations other than one interval) are **left as singleton aggregates**:
aggregating them exactly would need the union/Minkowski sum of non-box sets.

Total-energy constraints: a sum of box-plus-total sets is in general *not* a box
plus a total (its exact description needs a constraint per subset of slices), so
the plain sum (``totals="sum"``) over-approximates when members' totals bind: some
schedules inside the aggregate's bounds cannot be split among the members. The
default, ``totals="inner"``, first shrinks each member whose total binds to the
widest box whose every point meets that total (lower bounds rise by the fraction
needed for the lower total, upper bounds fall by the fraction needed for the upper
one, each only on its binding side; members with slack totals keep their bounds).
A sum of boxes is exactly the box of the sums, so **every** schedule the default
aggregate admits disaggregates. Bins whose members are scaled copies of one shape
(a fleet of one appliance model) keep their full boxes instead: such sums are
exactly a box plus a total (see :class:`_InnerPlan`). ``disaggregate`` of a ``sum`` aggregate raises
``DisaggregationError`` naming the slices for the schedules it cannot split; it
never emits a violating member schedule. See docs/aggregation.md.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import IntEnum, StrEnum
from typing import Any, Literal, TypeVar

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
    clipped_totals,
    units_to_datetime,
)
from core.flexoffer.kernels import (
    BIN_BINDING,
    BIN_FALL,
    BIN_FALL_WIDTH,
    BIN_KEPT,
    BIN_REF,
    BIN_RISE,
    BIN_RISE_WIDTH,
    BIN_SPREAD,
    NO_REF,
    bin_frames_kernel,
    bin_totals_kernel,
    box_sums_kernel,
    direction_kernel,
    first_moving_kernel,
    fused_sums_kernel,
    jit_enabled,
    row_stats_kernel,
    shared_bins_kernel,
    sorted_text_kernel,
)
from core.flexoffer.model import ENERGY_TOLERANCE_KWH, EnergyBounds, FlexOffer, OfferState, Profile, Schedule

_STATS_ROWS = 1_024
"""Rows reduced at once by the validation pass: small enough to stay in cache."""
_GATHER_ROWS = 2_048
"""Rows gathered at once into reused buffers when summing profiles: the gathered
copy stays in cache while it is reduced, so the bounds are read from memory once."""


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
    totals: Literal["sum", "inner"] = "inner"
    """``inner`` (default): a member whose total-energy constraint binds is first shrunk
    to the widest box that meets its total on its own (only on the binding side), so
    every schedule the aggregate admits splits among the members, at a cost in energy
    flexibility that the flexibility-loss figures show. ``sum``: slice and total bounds
    simply add up (the members' full flexibility), but some schedules inside such an
    aggregate cannot be split when totals bind; ``disaggregate`` then raises
    ``DisaggregationError`` naming the slices."""
    aggregator_id: str | None = None


GroupKey = tuple[int, str, int, int, int]
"""(interval seconds, place, direction, start bucket, time-flexibility bucket)."""


class Aggregate:
    """One aggregated offer and the members it stands for.

    ``rows``/``offsets`` point into ``source`` (the members' columnar data) so that
    disaggregation needs no copy of the members; ``single`` is set instead for an
    offer left alone because it does not fit the columnar form. ``shrink``
    (``totals="inner"``) says how each ``source`` row was tightened before summing;
    ``source`` itself always holds the members as offered.

    ``members`` (the member ids, in member order) is built on first access from
    ``source.ids[rows]`` when not given: a million-member aggregation then creates no
    id lists that nobody reads (most callers read only some aggregates' members).
    Immutable apart from that one cache.
    """

    __slots__ = ("_members", "key", "offer", "offsets", "rows", "shrink", "single", "source")

    offer: FlexOffer
    key: GroupKey | None
    source: FlexOfferBatch | None
    rows: IntArray | None
    offsets: IntArray | None
    single: FlexOffer | None
    shrink: InnerBounds | None
    _members: list[str] | None

    def __init__(
        self,
        offer: FlexOffer,
        members: list[str] | None = None,
        key: GroupKey | None = None,
        source: FlexOfferBatch | None = None,
        rows: IntArray | None = None,
        offsets: IntArray | None = None,
        single: FlexOffer | None = None,
        shrink: InnerBounds | None = None,
    ) -> None:
        if members is None and (source is None or rows is None):
            raise ValueError("an aggregate needs its member ids or the rows of its members")
        for name, value in (("offer", offer), ("key", key), ("source", source), ("rows", rows),
                            ("offsets", offsets), ("single", single), ("shrink", shrink), ("_members", members)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Aggregate is immutable (cannot set {name!r})")

    @property
    def members(self) -> list[str]:
        if self._members is None:
            assert self.source is not None and self.rows is not None
            object.__setattr__(self, "_members", self.source.ids[self.rows].tolist())
        assert self._members is not None
        return self._members

    def __repr__(self) -> str:
        return f"Aggregate(offer={self.offer!r}, members={self.members!r}, key={self.key!r})"

    def __reduce__(self) -> tuple[type[Aggregate], tuple[object, ...]]:
        """Pickle and copy through ``__init__`` (attribute assignment is refused)."""
        return (Aggregate, (self.offer, self._members, self.key, self.source, self.rows, self.offsets, self.single,
                            self.shrink))

    def member_bounds(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """The members' slice bounds and effective totals as this aggregate sums them.

        Rows follow ``members``; columns are the members' own slices, as wide as the
        longest member. Under ``totals="inner"`` these are the shrunk boxes.
        """
        source, rows = self.source, self.rows
        if source is None or rows is None:
            raise ValueError("aggregate has no columnar members")
        width = int(source.length[rows].max(initial=1))
        lo = source.lower[rows, :width]
        hi = source.upper[rows, :width]
        if self.shrink is None:
            t_lo, t_hi = clipped_totals(lo.sum(axis=1), hi.sum(axis=1), source.total_lower[rows],
                                        source.total_upper[rows])
            return lo, hi, t_lo, t_hi
        lo, hi = _shrunk(lo, hi, self.shrink.rise[rows], self.shrink.fall[rows])
        lo_sum, hi_sum = lo.sum(axis=1), hi.sum(axis=1)
        t_lo = np.clip(self.shrink.total_lower[rows], lo_sum, hi_sum)
        return lo, hi, t_lo, np.clip(self.shrink.total_upper[rows], t_lo, hi_sum)


@dataclass(frozen=True)
class InnerBounds:
    """Per row of a batch, the member set an inner aggregate sums (``totals="inner"``).

    The slice bounds rise by ``rise`` and fall by ``fall`` times each slice's range;
    ``total_lower``/``total_upper`` are the row's (possibly tightened) totals. A row
    either has its box shrunk so its totals bind nothing, or keeps its box and has
    totals tightened to its bin's shared fractions (see :func:`_share_homothetic_totals`).
    """

    rise: FloatArray
    fall: FloatArray
    total_lower: FloatArray
    total_upper: FloatArray


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
    if rest:
        _check_unique([*batch.ids.tolist(), *(o.id for o in rest)])
    # _aggregate_batch ranks the batch's ids (which refuses missing and duplicate ones)
    # while a compiled pass runs beside it.
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
        stats = _row_stats(batch, self.params.by_direction)
        _validate(batch, stats)
        columns = _group_columns(batch, self.params, _directions(stats) if self.params.by_direction else None)
        order, starts = columns.sorted_groups(_id_ranks(batch.ids))
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
    places: np.ndarray
    """The distinct places, sorted; a row's place is ``places[place_code[row]]``."""
    place_code: IntArray
    direction: IntArray
    anchor: IntArray
    start_bucket: IntArray
    flex: IntArray
    flex_bucket: IntArray

    def group_keys(self) -> list[np.ndarray]:
        return [self.step, self.place_code, self.direction, self.start_bucket, self.flex_bucket]

    def sorted_groups(self, id_ranks: IntArray) -> tuple[IntArray, IntArray]:
        """Rows in group-key order, then the canonical member order (flexibility, anchor, id),
        and the sorted positions where each group starts.

        ``id_ranks`` are the rows' ranks in the string order of their ids (:func:`_id_ranks`).
        The integer keys and the id rank are packed into one int64 (mixed radix over their
        ranges, the rank in the low bits) when that fits: all keys are then distinct, so
        sorting the keys themselves gives the one canonical order, much faster than stable
        multi-key sorting, and faster than an argsort; each row is found again from the
        rank in its key's low bits.
        """
        n = len(id_ranks)
        group = _pack(self.group_keys())
        packed = None if group is None else _pack([group, self.flex, self.anchor])
        bits = max(1, (n - 1).bit_length())
        if group is not None and packed is not None and (int(packed.max()) + 1) << bits < 2**62:
            keys = (packed << bits) | id_ranks
            keys.sort()
            by_id = np.empty(n, dtype=np.int64)
            by_id[id_ranks] = np.arange(n, dtype=np.int64)
            order = by_id[keys & ((1 << bits) - 1)]
            sorted_group = group[order]
            return order, np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
        numeric = [*self.group_keys(), self.flex, self.anchor]  # most significant first
        order = np.lexsort((id_ranks, *reversed(numeric))).astype(np.int64, copy=False)
        return order, _boundaries(self.group_keys(), order)

    def keys_of(self, rows: IntArray) -> list[GroupKey]:
        """:meth:`key_of` for many rows at once."""
        columns = (self.step[rows].tolist(), self.places[self.place_code[rows]].tolist(), self.direction[rows].tolist(),
                   self.start_bucket[rows].tolist(), self.flex_bucket[rows].tolist())
        return [(int(a), str(b), int(c), int(d), int(e)) for a, b, c, d, e in zip(*columns, strict=True)]

    def key_of(self, row: int) -> GroupKey:
        return (
            int(self.step[row]),
            str(self.places[self.place_code[row]]),
            int(self.direction[row]),
            int(self.start_bucket[row]),
            int(self.flex_bucket[row]),
        )


def _pack(keys: Sequence[IntArray]) -> IntArray | None:
    """One int64 ordering rows like ``keys`` (most significant first), or None if it overflows."""
    if len(keys[0]) == 0:
        return None
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    capacity = 1
    for k in keys:
        low, high = int(k.min()), int(k.max())
        radix = high - low + 1
        capacity *= radix
        if capacity >= 2**62:
            return None
        packed *= radix
        packed += k - low
    return packed


def _bucket(seconds: IntArray, tolerance: timedelta) -> IntArray:
    width = int(tolerance.total_seconds())
    return seconds if width <= 0 else seconds // width


def _factorize(values: np.ndarray) -> tuple[np.ndarray, IntArray]:
    """Sorted distinct strings and each row's index among them (dict lookups, no string sort)."""
    items = values.tolist()  # batch constructors store zone/location as str objects
    distinct = sorted(set(items))
    code_of = {v: i for i, v in enumerate(distinct)}
    codes = np.fromiter(map(code_of.__getitem__, items), dtype=np.int64, count=len(items))
    return np.asarray(distinct, dtype=object), codes


def _directions(stats: _RowStats) -> IntArray:
    """Per row: consumption (no lower bound below 0), production (no upper bound above 0), else mixed."""
    assert stats.negative_lower is not None and stats.positive_upper is not None
    consumes = stats.negative_lower == 0
    produces = stats.positive_upper == 0
    direction = np.where(consumes, Direction.CONSUMPTION, np.where(produces, Direction.PRODUCTION, Direction.MIXED))
    return direction.astype(np.int64)


def _place_codes(batch: FlexOfferBatch, params: AggregationParams) -> tuple[np.ndarray, IntArray]:
    """The distinct grouping places (sorted) and each row's index among them."""
    if params.group_by == "zone":
        return _factorize(batch.zone)
    if params.group_by == "location":
        return _factorize(batch.location)
    return np.array([""], dtype=object), np.zeros(len(batch), dtype=np.int64)


def _group_columns(
    batch: FlexOfferBatch,
    params: AggregationParams,
    direction: IntArray | None,
    places: tuple[np.ndarray, IntArray] | None = None,
) -> _Columns:
    """Grouping columns; ``direction`` (from :func:`_directions`) is needed only when grouping by it,
    ``places`` (from :func:`_place_codes`) is worked out here unless given."""
    step = batch.interval_seconds
    anchor = batch.earliest
    if params.alignment is Alignment.BASELINE:
        anchor = np.where(batch.baseline_start != NO_BASELINE, batch.baseline_start, batch.earliest)
    distinct, place_code = _place_codes(batch, params) if places is None else places
    if not params.by_direction:
        direction = np.full(len(batch), Direction.ANY, dtype=np.int64)
    assert direction is not None, "grouping by direction needs the rows' directions"
    flex = batch.latest - batch.earliest
    return _Columns(
        step=step,
        places=distinct,
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
        members = params.max_members
        sizes = np.diff(np.append(group_starts, n))
        per_group = -(-sizes // members)  # bins per group
        first_bin = np.cumsum(per_group) - per_group
        index_in_group = np.arange(int(per_group.sum())) - np.repeat(first_bin, per_group)
        return np.asarray(np.repeat(group_starts, per_group) + index_in_group * members, dtype=np.int64)
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


Derive = Callable[[IntArray, list[FloatArray]], list[FloatArray]]
"""Turns the gathered rows of the summed arrays into the cells to sum (tariff weights …)."""
Mix = Sequence[Sequence[tuple[int, FloatArray | None]]]
"""Per output cell, its terms: (index into the summed arrays, per-row weight or None for 1)."""
Inspect = Callable[[IntArray, IntArray, list[FloatArray]], None]


def _shifted_sums(
    order: IntArray,
    offsets: IntArray,
    bin_of: IntArray,
    n_bins: int,
    arrays: Sequence[FloatArray],
    derive: Derive | None = None,
    n_cells: int | None = None,
    mix: Mix | None = None,
    inspect: Inspect | None = None,
) -> list[FloatArray]:
    """Per-bin sums of rows ``order`` of each array, each row placed at its offset.

    ``bin_of`` (per entry of ``order``) must be non-decreasing. Rows sharing an offset
    keep that order, so each bin is one contiguous run: per distinct offset (a
    handful) and per block of ``_GATHER_ROWS`` rows, the rows are gathered into a
    reused buffer that stays in cache and reduced there. The bounds are read once
    and no temporary of the batch's size is made.

    With ``mix`` each output cell is a weighted sum of the arrays, reduced as one
    small matrix product per term (``runs x rows`` weights times the gathered
    block), so per-row weights such as the inner-totals shrink cost no elementwise
    pass. Otherwise ``derive`` (or the identity) gives the cells and
    ``np.add.reduceat`` sums them. ``inspect`` sees every gathered block first
    (source rows, their bins, the blocks), for checks that need the rows themselves.
    """
    width = arrays[0].shape[1]
    span = width + int(offsets.max(initial=0))
    count = len(mix) if mix is not None else n_cells if n_cells is not None else len(arrays)
    outs = [np.zeros((n_bins, span)) for _ in range(count)]
    buffers = [np.empty((min(_GATHER_ROWS, len(order)), a.shape[1])) for a in arrays]
    distinct = np.unique(offsets).tolist()
    for d in distinct:
        if len(distinct) == 1:
            rows, bins = order, bin_of
        else:
            sel = np.flatnonzero(offsets == d)
            rows, bins = order[sel], bin_of[sel]
        run_starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
        run_bins = bins[run_starts]
        for c0 in range(0, len(rows), _GATHER_ROWS):
            c1 = min(c0 + _GATHER_ROWS, len(rows))
            r0 = int(np.searchsorted(run_starts, c0, side="right")) - 1
            r1 = int(np.searchsorted(run_starts, c1, side="left"))
            local = run_starts[r0:r1] - c0
            local[0] = 0
            chunk = rows[c0:c1]
            m = c1 - c0
            got = [np.take(a, chunk, axis=0, out=buf[:m], mode="clip") for a, buf in zip(arrays, buffers, strict=True)]
            targets = run_bins[r0:r1]
            if inspect is not None:
                inspect(chunk, bins[c0:c1], got)
            if mix is not None:
                bounds = np.append(local, m).tolist()
                for out, terms in zip(outs, mix, strict=True):
                    for index, row_weight in terms:
                        w = np.ones(m) if row_weight is None else row_weight[chunk]
                        for k, (s, e) in enumerate(itertools.pairwise(bounds)):
                            out[targets[k], d : d + width] += np.dot(w[s:e], got[index][s:e])
                continue
            cells = got if derive is None else derive(chunk, got)
            for out, cell in zip(outs, cells, strict=True):
                out[targets, d : d + width] += np.add.reduceat(cell, local, axis=0)
    return outs


def shrink_fractions(
    lo_sum: FloatArray, hi_sum: FloatArray, t_lo: FloatArray, t_hi: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per row, the least uniform fractions (rise, fall) of each slice's range that make
    every point of the box meet the row's effective totals ``[t_lo, t_hi]``.

    Lower bounds rise by ``rise`` x range, just enough that their sum reaches the lower
    total; upper bounds fall by ``fall`` x range, just enough that their sum drops to
    the upper total. A side whose total does not bind gets 0: members with slack totals
    keep their bounds. The box keeps ``t_hi - t_lo`` of energy flexibility, the most
    any box inside the member's set can keep (its sums are pinned to the totals).
    """
    spread = hi_sum - lo_sum
    safe = np.where(spread > 0, spread, 1.0)
    rise = np.where(spread > 0, np.clip((t_lo - lo_sum) / safe, 0.0, 1.0), 0.0)
    fall = np.where(spread > 0, np.clip((hi_sum - t_hi) / safe, 0.0, 1.0 - rise), 0.0)
    return rise, fall


def _shrunk(lo: FloatArray, hi: FloatArray, rise: FloatArray, fall: FloatArray) -> tuple[FloatArray, FloatArray]:
    width = hi - lo
    new_lo = lo + width * rise[:, None]
    return new_lo, np.maximum(hi - width * fall[:, None], new_lo)


def inner_boxes(batch: FlexOfferBatch) -> FlexOfferBatch:
    """``batch`` with every row shrunk to the box :func:`shrink_fractions` gives, totals dropped."""
    t_lo, t_hi = batch.effective_totals()
    rise, fall = shrink_fractions(batch.lower.sum(axis=1), batch.upper.sum(axis=1), t_lo, t_hi)
    lower, upper = _shrunk(batch.lower, batch.upper, rise, fall)
    nan = np.full(len(batch), np.nan)
    return replace(batch, lower=lower, upper=upper, total_lower=nan, total_upper=nan.copy())


@dataclass(frozen=True)
class _RowStats:
    """Per-row reductions of the slice bounds, all taken in one cache-friendly pass.

    ``negative_lower``/``positive_upper`` (sums of the negative lower and positive upper
    bounds, zero exactly when the row never produces / never consumes) are taken only
    when grouping by direction.
    """

    lo_sum: FloatArray
    hi_sum: FloatArray
    projection: FloatArray
    """``(upper - lower) . PROBE`` per row: equal for rows whose widths are proportional
    and of the same sum, a cheap first filter for :func:`_share_homothetic_totals`."""
    ordered: bool
    negative_lower: FloatArray | None = None
    positive_upper: FloatArray | None = None


def _row_stats(batch: FlexOfferBatch, directions: bool = False) -> _RowStats:
    """Row sums as matrix-vector products on cache-sized blocks, plus the order check.

    A sum of non-positive (non-negative) numbers is zero only when every term is, so
    ``negative_lower == 0`` is exactly "every lower bound >= 0" without a per-row min.
    """
    n = len(batch)
    if jit_enabled():
        return _row_stats_jit(batch, directions)
    lo_sum, hi_sum, lo_probe, hi_probe = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    negative = np.empty(n) if directions else None
    positive = np.empty(n) if directions else None
    probe = _probe(batch.width)
    ones = np.ones(batch.width)
    buf = np.empty((min(_STATS_ROWS, n), batch.width))
    worst = np.inf
    for c0 in range(0, n, _STATS_ROWS):
        c1 = min(c0 + _STATS_ROWS, n)
        lo, hi, work = batch.lower[c0:c1], batch.upper[c0:c1], buf[: c1 - c0]
        # Four matrix-vector products beat one product with a two-column matrix here.
        np.dot(lo, ones, out=lo_sum[c0:c1])
        np.dot(hi, ones, out=hi_sum[c0:c1])
        np.dot(lo, probe, out=lo_probe[c0:c1])
        np.dot(hi, probe, out=hi_probe[c0:c1])
        worst = min(worst, float(np.fmin.reduce(np.subtract(hi, lo, out=work), axis=None)))
        if negative is not None and positive is not None:
            np.dot(np.minimum(lo, 0.0, out=work), ones, out=negative[c0:c1])
            np.dot(np.maximum(hi, 0.0, out=work), ones, out=positive[c0:c1])
    # fmin skips NaN, so a NaN bound cannot hide a crossed row; the row sums catch NaN.
    return _RowStats(
        lo_sum,
        hi_sum,
        hi_probe - lo_probe,
        not worst < -ENERGY_TOLERANCE_KWH,
        negative,
        positive,
    )


def _row_stats_jit(batch: FlexOfferBatch, directions: bool) -> _RowStats:
    """:func:`_row_stats` in one compiled pass that reads every bound once."""
    n = len(batch)
    lo_sum, hi_sum, projection = np.empty(n), np.empty(n), np.empty(n)
    negative, positive = (np.empty(n), np.empty(n)) if directions else (np.empty(0), np.empty(0))
    crossed = int(row_stats_kernel(batch.lower, batch.upper, _probe(batch.width), directions, ENERGY_TOLERANCE_KWH,
                                   lo_sum, hi_sum, projection, negative, positive))
    return _RowStats(
        lo_sum,
        hi_sum,
        projection,
        crossed == 0,  # a NaN counts too: the full check in _validate then runs, and agrees
        negative if directions else None,
        positive if directions else None,
    )


def _probe(width: int) -> FloatArray:
    """A fixed vector with no structure in common with real profiles (irrational frequency)."""
    return np.asarray(1.618033988749895 + np.cos(0.7548776662466927 * np.arange(width)), dtype=np.float64)


_HOMOTHETY_TOLERANCE = 1e-12
"""Largest difference of normalised slice widths still taken as the same shape."""
_TOTAL_RANGE_KEPT = 0.999
"""A bin shares one shrink only if that keeps this share of its members' total-energy range."""


class _InnerPlan:
    """Per-member boxes (``rise``/``fall``), except for bins of scaled copies of one shape.

    Every row whose total binds gets its box shrunk (:func:`shrink_fractions`), unless
    its bin is homothetic:

    Member ``i``'s set is ``l_i + W_i * Q(omega_i, rise_i, fall_i)`` with ``W_i`` its
    summed slice width, ``omega_i`` the normalised widths and ``Q`` the box
    ``[0, omega]`` cut by the total range ``[rise, 1 - fall]``. When every member
    of a bin with some width has the same offset and ``omega`` and we give them all
    the bin's largest ``rise`` and ``fall`` (which only tightens totals, so the result
    stays inside each member), their Minkowski sum is ``sum(l_i) + (sum W_i) * Q``:
    exactly the box of the summed bounds cut by the summed totals. Such a bin loses
    no slice width, only the small spread of its members' total fractions; it is
    used when it keeps ``_TOTAL_RANGE_KEPT`` of the per-member boxes' total range
    (fleets of one appliance model with totals proportional to size). Fixed members
    (no width) are translations and fit any bin. The rows' shrink is then the bin's
    ``(rise, fall)`` applied to the *total* only: their slice bounds stay.

    Candidates come from a cheap filter (same offset, same ``projection / W``); the
    exact check of the normalised widths runs on the blocks the summing pass gathers
    anyway (:meth:`inspect`), and bins that fail it are summed again per member.
    """

    def __init__(
        self,
        stats: _RowStats,
        order: IntArray,
        bin_starts: IntArray,
        bin_of: IntArray,
        offsets: IntArray,
        rise: FloatArray,
        fall: FloatArray,
    ) -> None:
        self.stats, self.rise, self.fall = stats, rise, fall
        self.order, self.bin_of = order, bin_of
        self.spread = stats.hi_sum - stats.lo_sum
        self.failed: set[int] = set()
        self._omega: FloatArray | None = None
        self._omega_index: IntArray | None = None
        if jit_enabled():
            n_bins = len(bin_starts)
            self.candidate = np.empty(n_bins, dtype=bool)
            self.rise_bin, self.fall_bin = np.empty(n_bins), np.empty(n_bins)
            ref_at = np.empty(n_bins, dtype=np.int64)
            shared_bins_kernel(order, bin_starts, offsets, self.spread, stats.projection, rise, fall,
                               _TOTAL_RANGE_KEPT, self.candidate, self.rise_bin, self.fall_bin, ref_at)
            self.ref_rows = order[ref_at]
            return
        spread = self.spread[order]
        moving = spread > 0
        n = len(order)
        first = np.minimum.reduceat(np.where(moving, np.arange(n), n), bin_starts)
        has_ref = first < n
        ref = np.where(has_ref, first, 0)
        ref_of_row = ref[bin_of]
        r, f = rise[order], fall[order]
        shape = np.where(moving, stats.projection[order] / np.where(moving, spread, 1.0), 0.0)
        row_ok = ~moving | (
            (offsets == offsets[ref_of_row])
            & (np.abs(shape - shape[ref_of_row]) <= 1e-9 * np.maximum(1.0, np.abs(shape[ref_of_row])))
        )
        binding = moving & ((r > 0) | (f > 0))
        self.rise_bin = np.maximum.reduceat(np.where(moving, r, 0.0), bin_starts)
        self.fall_bin = np.maximum.reduceat(np.where(moving, f, 0.0), bin_starts)
        kept = np.add.reduceat(spread * (1.0 - r - f), bin_starts)
        shared = np.add.reduceat(spread, bin_starts) * (1.0 - self.rise_bin - self.fall_bin)
        self.candidate = (
            has_ref
            & np.logical_and.reduceat(row_ok, bin_starts)
            & np.logical_or.reduceat(binding, bin_starts)
            & (self.rise_bin + self.fall_bin <= 1.0)
            & (shared >= _TOTAL_RANGE_KEPT * kept)
        )
        self.ref_rows = order[ref]

    def bounds(self) -> InnerBounds:
        """The rows' inner bounds with the current candidate bins sharing their fractions."""
        rise, fall, spread, stats = self.rise.copy(), self.fall.copy(), self.spread, self.stats
        box_lo = stats.lo_sum + rise * spread
        box_hi = stats.hi_sum - fall * spread
        same = self.candidate[self.bin_of] & (spread[self.order] > 0)
        rows = self.order[same]
        bins = self.bin_of[same]
        box_lo[rows] = stats.lo_sum[rows] + self.rise_bin[bins] * spread[rows]
        box_hi[rows] = stats.hi_sum[rows] - self.fall_bin[bins] * spread[rows]
        rise[rows] = 0.0
        fall[rows] = 0.0
        return InnerBounds(rise, fall, box_lo, box_hi)

    def prepare(self, batch: FlexOfferBatch) -> None:
        """Gather the candidate bins' reference shapes (one row per bin)."""
        bins = np.flatnonzero(self.candidate)
        refs = self.ref_rows[bins]
        self._omega = (batch.upper[refs] - batch.lower[refs]) / self.spread[refs, None]
        index = np.full(len(self.candidate), -1, dtype=np.int64)
        index[bins] = np.arange(len(bins))
        self._omega_index = index

    def reference_shapes(self) -> tuple[FloatArray, IntArray]:
        """After :meth:`prepare`: the candidate bins' normalised widths and each bin's row in them (-1: none)."""
        assert self._omega is not None and self._omega_index is not None
        return self._omega, self._omega_index

    def inspect(self, rows: IntArray, bins: IntArray, got: list[FloatArray]) -> None:
        """Exact check: every moving row of a candidate bin is ``W_i`` times the bin's shape."""
        assert self._omega is not None and self._omega_index is not None
        index = self._omega_index[bins]
        spread = self.spread[rows]
        sel = np.flatnonzero((index >= 0) & (spread > 0))
        if len(sel) == 0:
            return
        width = got[1][sel] - got[0][sel]
        width -= spread[sel, None] * self._omega[index[sel]]
        off = np.abs(width).max(axis=1) > _HOMOTHETY_TOLERANCE * spread[sel]
        if off.any():
            self.failed.update(bins[sel[off]].tolist())


def _validate(batch: FlexOfferBatch, stats: _RowStats) -> tuple[FloatArray, FloatArray]:
    """Refuse rows that admit no schedule; return the effective totals.

    NaN and infinite bounds fail too: NaN fails every comparison, and an infinite
    bound makes a row sum non-finite.
    """
    eps = ENERGY_TOLERANCE_KWH
    lo_sum, hi_sum = stats.lo_sum, stats.hi_sum
    t_lo, t_hi = batch.effective_totals(lo_sum, hi_sum)
    bad = ~np.isfinite(lo_sum) | ~np.isfinite(hi_sum) | (t_lo > t_hi + eps) | (batch.earliest > batch.latest)
    if not stats.ordered:
        bad |= (batch.lower > batch.upper + eps).any(axis=1)  # rare: only when some row is out of order
    if bad.any():
        ids = ", ".join(map(str, batch.ids[bad][:5].tolist()))
        raise ValueError(f"{int(bad.sum())} offers admit no schedule and cannot be aggregated (e.g. {ids})")
    return t_lo, t_hi


_PARALLEL_MIN_ROWS = 200_000
"""Below this a second thread costs more than it saves."""


def _run_halves(kernel: Callable[..., float], args: list[tuple[Any, ...]], n: int) -> list[float]:
    """Run a row-range kernel on each half's arguments, on two threads when there are two
    cores and enough rows.

    The pass is bound by reading the bounds from memory, and one core does not use all
    the memory bandwidth; the kernel releases the GIL, so plain threads run it in
    parallel. Each half has its own outputs, so who runs it changes nothing. ``n``: rows.
    """
    if n < _PARALLEL_MIN_ROWS or (os.cpu_count() or 1) < 2:
        return [kernel(*a) for a in args]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flexhub-aggregate") as pool:
        second = pool.submit(kernel, *args[1])
        return [kernel(*args[0]), second.result()]


def _id_ranks(ids: NDArray[np.object_]) -> IntArray:
    """Each row's rank in the string order of ``ids``; refuses missing and duplicate ids.

    One stable string sort serves both the canonical member order and the duplicate
    check (duplicates are neighbours in it), instead of a set of a million strings.
    """
    text = _fixed_width_text(ids)
    by_id = np.argsort(text, kind="stable")
    n = len(ids)
    if jit_enabled() and n:
        width = text.dtype.itemsize // 4
        if width >= 4:  # "None" padded with NULs
            none = np.zeros(width, dtype=np.uint32)
            none[:4] = [ord(c) for c in "None"]
        else:  # too narrow to hold "None": a pattern no text matches (no code point is 2**32 - 1)
            none = np.full(width, 2**32 - 1, dtype=np.uint32)
        ranks = np.empty(n, dtype=np.int64)
        if not sorted_text_kernel(text.view(np.uint32).reshape(n, width), by_id, none, ranks):
            return ranks
    ordered = text[by_id]
    maybe_none = ordered == "None"
    if maybe_none.any() and any(v is None for v in ids[by_id[maybe_none]].tolist()):
        raise ValueError("every offer needs an id to be aggregated")
    same = ordered[1:] == ordered[:-1]
    if same.any():
        dups = ordered[1:][same][:5].tolist()
        raise ValueError(f"duplicate offer ids: {', '.join(map(str, dups))}")
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[by_id] = np.arange(len(ids), dtype=np.int64)
    return ranks


_WIDTH_SAMPLE = 1_024
"""Ids whose lengths are sampled to guess the fixed width of their unicode copy."""


def _fixed_width_text(values: NDArray[np.object_]) -> np.ndarray:
    """``values.astype(str)`` (same strings, same fixed-width unicode ordering), faster.

    ``astype(str)`` first walks every object to find the widest; converting to a given
    width skips that walk and takes less than half the time. The width is guessed from
    a sample, plus one spare character: a value that fills the spare one may have been
    cut, and then the exact conversion is done after all.
    """
    n = len(values)
    if n == 0:
        return values.astype(str)
    sample = values[:: max(1, n // _WIDTH_SAMPLE)].astype(str)
    width = sample.dtype.itemsize // 4 + 1
    text = values.astype(f"U{width}")
    if text.view(np.uint32).reshape(n, width)[:, -1].any():
        return values.astype(str)
    return text


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


def _tariff_cells(tariff: FloatArray, energy_weight: FloatArray) -> list[FloatArray]:
    """Numerator, weight, plain sum and count of one gathered tariff block, for the shifted sums."""
    known = ~np.isnan(tariff)
    plain = np.where(known, tariff, 0.0)
    return [plain * energy_weight, known * energy_weight, plain, known.astype(np.float64)]


def _weighted_tariff(num: FloatArray, weight: FloatArray, plain: FloatArray, count: FloatArray) -> FloatArray:
    """Energy-weighted mean tariff per slice; plain mean where all weights are zero; NaN where none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(weight > 0, num / np.where(weight > 0, weight, 1), plain / np.where(count > 0, count, 1))
    return np.where(count > 0, out, np.nan)


def _tariff_list(values: FloatArray) -> list[float | None] | None:
    if np.isnan(values).all():
        return None
    return [None if np.isnan(v) else float(v) for v in values.tolist()]


def _aggregate_batch(
    batch: FlexOfferBatch, params: AggregationParams, id_ranks: IntArray | None = None
) -> list[Aggregate]:
    n = len(batch)
    if n == 0:
        return []
    tariffs = batch.tariff_lower is not None or batch.tariff_upper is not None
    use_baseline = params.alignment is Alignment.BASELINE and batch.baseline_energy is not None
    # The fused compiled path reads the bounds once, after grouping: grouping then needs
    # no row sums (an energy cap does: it packs bins by the members' clipped totals).
    fused = jit_enabled() and params.max_total_energy_kwh is None and not tariffs and not use_baseline
    if fused and params.by_direction and id_ranks is None and n >= _PARALLEL_MIN_ROWS and (os.cpu_count() or 1) >= 2:
        # The direction pass (compiled, GIL released) and the id ranking (mostly Python
        # string work) are independent: run them side by side.
        # The zone coding is Python work too, so it runs in the compiled pass's shadow as well.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flexhub-aggregate") as pool:
            pending = pool.submit(_directions_jit, batch)
            id_ranks = _id_ranks(batch.ids)
            places: tuple[np.ndarray, IntArray] | None = _place_codes(batch, params)
            early: tuple[IntArray, NDArray[np.bool_]] | None = pending.result()
    else:
        early = places = None
    if id_ranks is None:
        id_ranks = _id_ranks(batch.ids)
    fixed = np.zeros(0, dtype=bool)  # which rows are fixed, when the direction pass found out
    if fused:
        if early is None and params.by_direction:
            early = _directions_jit(batch)
        direction, fixed = (None, fixed) if early is None else early
        weight = np.empty(0)
    else:
        stats = _row_stats(batch, params.by_direction)
        t_lo, t_hi = _validate(batch, stats)
        direction = _directions(stats) if params.by_direction else None
    columns = _group_columns(batch, params, direction, places)
    order, group_starts = columns.sorted_groups(id_ranks)
    if not fused:
        weight = np.maximum(np.abs(t_lo), np.abs(t_hi))[order]
    bin_starts = _bins(group_starts, weight, n, params)
    n_bins = len(bin_starts)
    is_start = np.zeros(n, dtype=bool)
    is_start[bin_starts] = True
    bin_of = np.cumsum(is_start) - 1

    baseline_bins = np.zeros(n_bins, dtype=bool)
    if fused:
        bin_of_row = np.empty(n, dtype=np.int64)
        bin_of_row[order] = bin_of
        anchor0, shift_lo, shift_hi, span, accept, assign = (np.empty(n_bins, dtype=np.int64) for _ in range(6))
        offset_of_row = np.empty(n, dtype=np.int64)
        bin_frames_kernel(bin_of_row, columns.anchor, batch.earliest, batch.latest, batch.length,
                          batch.accept_before, batch.assignment_before, anchor0, shift_lo, shift_hi, span, accept,
                          assign, offset_of_row)
        span -= anchor0
        offsets = offset_of_row[order]
        sums, shrink, total_lo, total_hi = _fused_sums(batch, params, bin_of_row, offset_of_row, n_bins, fixed)
    else:
        anchor = columns.anchor[order]
        anchor0 = np.minimum.reduceat(anchor, bin_starts)
        shift_lo = np.maximum.reduceat(batch.earliest[order] - anchor, bin_starts)
        shift_hi = np.minimum.reduceat(batch.latest[order] - anchor, bin_starts)
        offsets = anchor - anchor0[bin_of]
        span = np.maximum.reduceat(offsets + batch.length[order], bin_starts)
        accept = np.minimum.reduceat(batch.accept_before[order], bin_starts)
        assign = np.minimum.reduceat(batch.assignment_before[order], bin_starts)
        sums, shrink, t_lo, t_hi, baseline_bins = _general_sums(
            batch, params, stats, t_lo, t_hi, order, bin_starts, offsets, bin_of, n_bins, tariffs, use_baseline
        )
        if shrink is not None:
            t_lo, t_hi = shrink.total_lower, shrink.total_upper
        total_lo = np.add.reduceat(t_lo[order], bin_starts)
        total_hi = np.add.reduceat(t_hi[order], bin_starts)
    lower, upper = sums[0], sums[1]
    tariff_lo = tariff_hi = None
    if tariffs:
        tariff_lo = _weighted_tariff(*sums[2:6])
        tariff_hi = _weighted_tariff(*sums[6:10])
        tariff_lo = np.where(np.isnan(tariff_hi), tariff_lo, np.fmin(tariff_lo, tariff_hi))
    baseline = sums[-1] if baseline_bins.any() else None

    group_of_bin = np.searchsorted(group_starts, bin_starts, side="right") - 1
    index_in_group = (np.arange(n_bins) - np.searchsorted(bin_starts, group_starts)[group_of_bin]).tolist()
    # Per-bin scalars as Python lists: indexing numpy arrays one scalar at a time costs more.
    keys = columns.keys_of(order[bin_starts])
    bin_ends = np.append(bin_starts[1:], n).tolist()
    starts_l, span_l, anchor0_l = bin_starts.tolist(), span.tolist(), anchor0.tolist()
    shift_lo_l, shift_hi_l, accept_l, assign_l = shift_lo.tolist(), shift_hi.tolist(), accept.tolist(), assign.tolist()
    total_lo_l, total_hi_l = total_lo.tolist(), total_hi.tolist()
    by_zone, by_location = params.group_by == "zone", params.group_by == "location"
    result: list[Aggregate] = []
    for b in range(n_bins):
        s, e = starts_l[b], bin_ends[b]
        key = keys[b]
        step = key[0]
        width = span_l[b]
        a0 = anchor0_l[b]
        default = None
        if baseline is not None and baseline_bins[b]:
            default = Schedule.model_construct(start=units_to_datetime(a0, step), energy=baseline[b, :width].tolist())
        index = index_in_group[b]
        place = key[1]
        # Built as pydantic's model_construct would (see _trusted): every field comes from
        # checked arrays, in the model's own types (UTC datetimes, Python floats,
        # equal-length columns), so validation would only repeat what is true by construction.
        offer = _trusted(FlexOffer, set(_OFFER_FIELDS_SET), {  # a copy: pydantic adds to it on assignment
            "id": f"agg-{step}-{place}-{_DIRECTION_NAMES[key[2]]}-{key[3]}-{key[4]}-{index}",
            "state": OfferState.INITIAL,
            "offered_by": params.aggregator_id,
            "location_id": place or None if by_location else None,
            "zone": place or None if by_zone else None,
            "creation_time": None,
            "accept_before": None if accept_l[b] == NO_DEADLINE else EPOCH + timedelta(seconds=accept_l[b]),
            "assignment_before": None if assign_l[b] == NO_DEADLINE else EPOCH + timedelta(seconds=assign_l[b]),
            "earliest_start": EPOCH + timedelta(seconds=(a0 + shift_lo_l[b]) * step),
            "latest_start": EPOCH + timedelta(seconds=(a0 + shift_hi_l[b]) * step),
            "start_before_duration": None,
            "interval_seconds": step,
            "profile": _trusted(Profile, set(_PROFILE_FIELDS_SET), {
                "energy_lower": lower[b, :width].tolist(),
                "energy_upper": upper[b, :width].tolist(),
                "min_duration": None,
                "max_duration": None,
                "tariff_lower": None if tariff_lo is None else _tariff_list(tariff_lo[b, :width]),
                "tariff_upper": None if tariff_hi is None else _tariff_list(tariff_hi[b, :width]),
            }),
            "xor_profiles": [],
            "total_energy": _trusted(EnergyBounds, set(_BOUNDS_FIELDS_SET), {
                "lower": total_lo_l[b], "upper": total_hi_l[b],
            }),
            "polytope": [],
            "default_schedule": default,
            "schedule": None,
            "extra": {},
        })
        rows = order[s:e]
        result.append(
            Aggregate(
                offer=offer,
                key=key,
                source=batch,
                rows=rows,
                offsets=offsets[s:e],
                shrink=shrink,
            )
        )
    return result


def _general_sums(
    batch: FlexOfferBatch,
    params: AggregationParams,
    stats: _RowStats,
    t_lo: FloatArray,
    t_hi: FloatArray,
    order: IntArray,
    bin_starts: IntArray,
    offsets: IntArray,
    bin_of: IntArray,
    n_bins: int,
    tariffs: bool,
    use_baseline: bool,
) -> tuple[list[FloatArray], InnerBounds | None, FloatArray, FloatArray, NDArray[np.bool_]]:
    """Per-bin sums (bounds, tariff cells, baselines) once the row statistics are known.

    Returns the sums, the inner shrink (None if nothing shrinks), the effective totals
    and which bins carry a summed baseline.
    """
    n = len(order)
    shrink: InnerBounds | None = None
    plan: _InnerPlan | None = None
    if params.totals == "inner":
        rise, fall = shrink_fractions(stats.lo_sum, stats.hi_sum, t_lo, t_hi)
        if rise.any() or fall.any():
            plan = _InnerPlan(stats, order, bin_starts, bin_of, offsets, rise, fall)
            shrink = plan.bounds()
    arrays: list[FloatArray] = [batch.lower, batch.upper]
    if tariffs:
        nan = np.full_like(batch.lower, np.nan)
        arrays += [nan if t is None else t for t in (batch.tariff_lower, batch.tariff_upper)]
    baseline_bins = np.zeros(n_bins, dtype=bool)
    base_energy = batch.baseline_energy
    if plan is not None and (tariffs or use_baseline):
        # The general path needs the final bounds up front: verify the shared bins first.
        plan.prepare(batch)
        _shifted_sums(order, offsets, bin_of, n_bins, arrays[:2], inspect=plan.inspect)
        plan.candidate[sorted(plan.failed)] = False
        shrink = plan.bounds()
    if use_baseline and base_energy is not None:
        fits = _baseline_fits(batch, base_energy, shrink, *_totals(t_lo, t_hi, shrink))
        has = ((batch.baseline_start != NO_BASELINE) & fits)[order]
        baseline_bins = np.add.reduceat(has.astype(np.int64), bin_starts) == np.diff(np.append(bin_starts, n))
        arrays.append(base_energy)

    def derive(rows: IntArray, got: list[FloatArray]) -> list[FloatArray]:
        """Shrink the gathered bounds in place (inner totals), then add the tariff cells."""
        lo, hi = got[0], got[1]
        if shrink is not None:
            rise, fall = shrink.rise[rows], shrink.fall[rows]
            if rise.any() or fall.any():
                width = hi - lo
                lo += width * rise[:, None]
                hi -= width * fall[:, None]
                np.maximum(hi, lo, out=hi)
        cells = [lo, hi]
        if tariffs:
            energy_weight = np.maximum(np.abs(lo), np.abs(hi))
            cells += _tariff_cells(got[2], energy_weight) + _tariff_cells(got[3], energy_weight)
        if use_baseline:
            cells.append(got[-1])
        return cells

    n_cells = 2 + (8 if tariffs else 0) + (1 if use_baseline else 0)
    if tariffs or use_baseline:
        sums = _shifted_sums(order, offsets, bin_of, n_bins, arrays, derive, n_cells)
    elif jit_enabled():
        sums, shrink = _box_sums_jit(batch, order, offsets, bin_of, n_bins, shrink, plan)
    elif shrink is None:
        sums = _shifted_sums(order, offsets, bin_of, n_bins, arrays)
    else:
        assert plan is not None
        plan.prepare(batch)
        sums = _shrunk_sums(order, offsets, bin_of, n_bins, arrays, shrink, plan.inspect)
        if plan.failed:  # rare: the filter let a bin of other shapes through; sum it per member
            failed = np.asarray(sorted(plan.failed), dtype=np.int64)
            plan.candidate[failed] = False
            shrink = plan.bounds()
            again = np.isin(bin_of, failed)
            redo = _shrunk_sums(order[again], offsets[again], bin_of[again], n_bins, arrays, shrink)
            for total, part in zip(sums, redo, strict=True):
                total[failed, : part.shape[1]] = part[failed]
                total[failed, part.shape[1] :] = 0.0
    return sums, shrink, t_lo, t_hi, baseline_bins


def _fused_sums(
    batch: FlexOfferBatch,
    params: AggregationParams,
    bin_of_row: IntArray,
    offset_of_row: IntArray,
    n_bins: int,
    fixed: NDArray[np.bool_],
) -> tuple[list[FloatArray], InnerBounds | None, FloatArray, FloatArray]:
    """Bound sums, validation and inner shrink from one compiled pass (no tariffs/baselines).

    Returns the bins' summed bounds, the inner shrink (None if nothing shrinks) and the
    bins' summed totals. ``fixed``: rows known to have no width (may be empty).

    Same result as :func:`_general_sums` (up to rounding). One difference in method:
    a bin's members are compared with its first moving member in memory order rather
    than in member order, and with the exact test only (no projection pre-filter);
    the two can only disagree on widths equal to within 1e-12 of one member's but not
    of another's.
    """
    n = len(bin_of_row)
    width = batch.width
    span = width + int(offset_of_row.max(initial=0))
    inner = params.totals == "inner"
    lo_sum, hi_sum, t_lo, t_hi, rise, fall = (np.empty(n) for _ in range(6))
    # Each bin's reference shape: the normalised widths of its first moving row.
    ref_row = np.full(n_bins, -1, dtype=np.int64)
    ref_width = np.ones(n_bins)
    if inner:
        first_moving_kernel(batch.lower, batch.upper, bin_of_row, fixed, ref_row, ref_width)
    has_ref = ref_row >= 0
    refs = np.where(has_ref, ref_row, 0)
    omega = (batch.upper[refs] - batch.lower[refs]) / ref_width[:, None] if inner else np.empty((0, width))
    halves = []
    for _ in range(2):
        bin_stats = _cache_lines(n_bins, 8)
        bin_stats[:, BIN_REF] = np.where(has_ref, offset_of_row[refs], NO_REF)
        halves.append((np.zeros((n_bins, span)), np.zeros((n_bins, span)), bin_stats))
    args = [
        (batch.lower, batch.upper, bin_of_row, offset_of_row, batch.total_lower, batch.total_upper, batch.earliest,
         batch.latest, inner, _HOMOTHETY_TOLERANCE, ENERGY_TOLERANCE_KWH, half[0], half[1], lo_sum, hi_sum, t_lo,
         t_hi, rise, fall, ref_row, omega, half[2], first, end)
        for half, (first, end) in zip(halves, ((0, n // 2), (n // 2, n)), strict=True)
    ]
    suspect = sum(int(c) for c in _run_halves(fused_sums_kernel, args, n))
    if suspect:  # some row may admit no schedule: the numpy check refuses it with the usual message
        t_lo, t_hi = _validate(batch, _RowStats(lo_sum, hi_sum, np.empty(0), False))
    (lower, upper, bin_stats), (lower_2, upper_2, stats_2) = halves
    lower += lower_2
    upper += upper_2
    for column in (BIN_KEPT, BIN_SPREAD, BIN_RISE_WIDTH, BIN_FALL_WIDTH):
        bin_stats[:, column] += stats_2[:, column]
    for column in (BIN_RISE, BIN_FALL, BIN_BINDING):
        np.maximum(bin_stats[:, column], stats_2[:, column], out=bin_stats[:, column])
    # NOT_SAME_SHAPE < NO_REF < any offset: a bin stays of one shape only if both halves say so.
    np.minimum(bin_stats[:, BIN_REF], stats_2[:, BIN_REF], out=bin_stats[:, BIN_REF])
    kept, spread_sum = bin_stats[:, BIN_KEPT], bin_stats[:, BIN_SPREAD]
    rise_bin = np.ascontiguousarray(bin_stats[:, BIN_RISE])
    fall_bin = np.ascontiguousarray(bin_stats[:, BIN_FALL])
    binding = bin_stats[:, BIN_BINDING] > 0.0
    total_lo, total_hi = np.zeros(n_bins), np.zeros(n_bins)
    if not inner or not binding.any():  # (rise/fall are nonzero only for moving rows, which set binding)
        bin_totals_kernel(bin_of_row, lo_sum, hi_sum, t_lo, t_hi, False, rise, fall, binding, rise_bin, fall_bin,
                          t_lo, t_hi, total_lo, total_hi)
        return [lower, upper], None, total_lo, total_hi
    candidate = (
        (bin_stats[:, BIN_REF] >= 0.0)  # a moving row, and every other one of the same shape
        & binding
        & (rise_bin + fall_bin <= 1.0)
        & (spread_sum * (1.0 - rise_bin - fall_bin) >= _TOTAL_RANGE_KEPT * kept)
    )
    # Such bins keep their members' boxes: take the shrink back out. Their moving rows'
    # widths are W_i * omega at one offset, so the shrink moved the summed bounds by
    # exactly omega * sum(rise_i W_i) (lower) and omega * sum(fall_i W_i) (upper).
    for b in np.flatnonzero(candidate).tolist():
        o = int(bin_stats[b, BIN_REF])
        lower[b, o : o + width] -= bin_stats[b, BIN_RISE_WIDTH] * omega[b]
        upper[b, o : o + width] += bin_stats[b, BIN_FALL_WIDTH] * omega[b]
    np.maximum(upper, lower, out=upper)  # rise + fall = 1 may leave rounding crossings
    # The rows' inner bounds (what _InnerPlan.bounds gives) and the bins' totals, in one pass.
    box_lo, box_hi = np.empty(n), np.empty(n)
    bin_totals_kernel(bin_of_row, lo_sum, hi_sum, t_lo, t_hi, True, rise, fall, candidate, rise_bin, fall_bin,
                      box_lo, box_hi, total_lo, total_hi)
    return [lower, upper], InnerBounds(rise, fall, box_lo, box_hi), total_lo, total_hi


def _cache_lines(rows: int, columns: int) -> FloatArray:
    """Zeros whose rows start on 64-byte boundaries: a row of 8 floats is one cache line."""
    buffer = np.zeros(rows * columns + 8)
    skip = (-buffer.ctypes.data % 64) // 8
    return buffer[skip : skip + rows * columns].reshape(rows, columns)


def _directions_jit(batch: FlexOfferBatch) -> tuple[IntArray, NDArray[np.bool_]]:
    """:func:`_directions` from one compiled pass, and which rows are fixed (no width)."""
    direction = np.empty(len(batch), dtype=np.int64)
    fixed = np.empty(len(batch), dtype=bool)
    direction_kernel(batch.lower, batch.upper, direction, fixed)
    return direction, fixed


_OFFER_FIELDS_SET = frozenset({
    "id", "offered_by", "zone", "location_id", "earliest_start", "latest_start", "interval_seconds", "accept_before",
    "assignment_before", "profile", "total_energy", "default_schedule", "xor_profiles", "polytope", "extra",
})
_PROFILE_FIELDS_SET = frozenset({"energy_lower", "energy_upper", "tariff_lower", "tariff_upper"})
_BOUNDS_FIELDS_SET = frozenset({"lower", "upper"})

_Model = TypeVar("_Model", bound=BaseModel)


def _plain_model(cls: type[BaseModel]) -> bool:
    """True when ``cls`` instances are nothing but their field dict (no extras, private
    attributes or post-init hook): exactly what :func:`_trusted` can build."""
    return (
        not cls.__pydantic_post_init__
        and not cls.__pydantic_root_model__
        and not cls.__private_attributes__
        and cls.model_config.get("extra") != "allow"
    )


_TRUSTED_CLASSES = frozenset(c for c in (FlexOffer, Profile, EnergyBounds) if _plain_model(c))


def _trusted(cls: type[_Model], fields_set: set[str], values: dict[str, Any]) -> _Model:
    """``cls.model_construct(fields_set, **values)`` for ``values`` that hold EVERY field in
    declaration order, without its per-field alias and default handling.

    That handling costs about 10 us per object, most of the time spent building an
    aggregate; with every field given it changes nothing (tests compare both builds).
    Classes with more state than the field dict go through ``model_construct``.
    """
    if cls not in _TRUSTED_CLASSES:
        return cls.model_construct(fields_set, **values)
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", fields_set)
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _baseline_fits(
    batch: FlexOfferBatch,
    base_energy: FloatArray,
    shrink: InnerBounds | None,
    t_lo: FloatArray,
    t_hi: FloatArray,
) -> NDArray[np.bool_]:
    """Rows whose baseline lies inside their (possibly shrunk) bounds and totals.

    Only such baselines add up to a feasible aggregate baseline; tested with a tiny
    tolerance, so that tolerated excesses cannot pile up in the sum.
    """
    eps = 1e-9
    n = len(batch)
    fits = np.empty(n, dtype=bool)
    for c0 in range(0, n, _STATS_ROWS):
        rows = slice(c0, min(c0 + _STATS_ROWS, n))
        lo, hi, base = batch.lower[rows], batch.upper[rows], base_energy[rows]
        if shrink is not None:
            lo, hi = _shrunk(lo, hi, shrink.rise[rows], shrink.fall[rows])
        fits[rows] = ((base >= lo - eps) & (base <= hi + eps)).all(axis=1)
    total = base_energy.sum(axis=1)
    return np.asarray(fits & (total >= t_lo - eps) & (total <= t_hi + eps), dtype=bool)


def _totals(t_lo: FloatArray, t_hi: FloatArray, shrink: InnerBounds | None) -> tuple[FloatArray, FloatArray]:
    return (t_lo, t_hi) if shrink is None else (shrink.total_lower, shrink.total_upper)


def _box_sums_jit(
    batch: FlexOfferBatch,
    order: IntArray,
    offsets: IntArray,
    bin_of: IntArray,
    n_bins: int,
    shrink: InnerBounds | None,
    plan: _InnerPlan | None,
) -> tuple[list[FloatArray], InnerBounds | None]:
    """The per-bin bound sums of :func:`_shifted_sums`/:func:`_shrunk_sums` in one compiled pass.

    Rows are visited in memory order and added straight into their bin (no gather,
    no copy); the homothety check of ``plan``'s candidate bins runs on the same read.
    Bins that fail it are summed again per member, as in the numpy path. Returns the
    sums and the final shrink.
    """
    n = len(order)
    width = batch.width
    span = width + int(offsets.max(initial=0))
    bin_of_row = np.empty(n, dtype=np.int64)
    bin_of_row[order] = bin_of
    offset_of_row = np.empty(n, dtype=np.int64)
    offset_of_row[order] = offsets
    out_lo, out_hi = np.zeros((n_bins, span)), np.zeros((n_bins, span))
    failed = np.zeros(n_bins, dtype=bool)
    no_check = np.full(n_bins, -1, dtype=np.int64)
    empty = np.empty(0)
    if shrink is None or plan is None:
        box_sums_kernel(batch.lower, batch.upper, np.arange(n, dtype=np.int64), bin_of_row, offset_of_row, False,
                        empty, empty, empty, empty, np.empty((0, width)), no_check, empty, 0.0, out_lo, out_hi, failed)
        return [out_lo, out_hi], shrink

    def run(rows: IntArray, bounds: InnerBounds, omega: FloatArray, omega_index: IntArray) -> None:
        rise, fall = bounds.rise, bounds.fall
        box_sums_kernel(batch.lower, batch.upper, rows, bin_of_row, offset_of_row, True, 1.0 - rise, rise, fall,
                        1.0 - fall, omega, omega_index, plan.spread, _HOMOTHETY_TOLERANCE, out_lo, out_hi, failed)

    plan.prepare(batch)
    omega, omega_index = plan.reference_shapes()
    run(np.arange(n, dtype=np.int64), shrink, omega, omega_index)
    if failed.any():  # rare: the filter let a bin of other shapes through; sum it per member
        bad = np.flatnonzero(failed)
        plan.failed.update(bad.tolist())
        plan.candidate[bad] = False
        shrink = plan.bounds()
        out_lo[bad] = 0.0
        out_hi[bad] = 0.0
        run(np.flatnonzero(failed[bin_of_row]), shrink, omega, no_check)
    np.maximum(out_hi, out_lo, out=out_hi)  # rise + fall = 1 may leave rounding crossings
    return [out_lo, out_hi], shrink


def _shrunk_sums(
    order: IntArray,
    offsets: IntArray,
    bin_of: IntArray,
    n_bins: int,
    arrays: Sequence[FloatArray],
    shrink: InnerBounds,
    inspect: Inspect | None = None,
) -> list[FloatArray]:
    """Per-bin sums of the shrunk bounds, as weighted sums of the bounds as offered.

    lower' = (1 - rise) lower + rise upper; upper' = fall lower + (1 - fall) upper.
    """
    rise, fall = shrink.rise, shrink.fall
    mix = [[(0, 1.0 - rise), (1, rise)], [(0, fall), (1, 1.0 - fall)]]
    sums = _shifted_sums(order, offsets, bin_of, n_bins, arrays, mix=mix, inspect=inspect)
    np.maximum(sums[1], sums[0], out=sums[1])  # rise + fall = 1 may leave rounding crossings
    return sums
