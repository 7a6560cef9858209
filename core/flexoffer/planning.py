"""Portfolio planning: choose a start and slice energies for every flex-offer at once.

Time flexibility is modelled exactly as a time-indexed MILP in the disjunctive
(convex-hull) form. Each offer has one *mode* per (XOR profile, feasible start);
mode ``m`` owns a binary ``z_m`` and one energy variable per slice that has energy
freedom. Writing a slice energy as ``x = lower·z + y`` with ``0 <= y <= (upper -
lower)·z`` ties every energy to its mode: a mode that is not chosen carries no
energy, and the chosen mode's energies are bounded exactly as the offer says. Total
energy and polytopic rows are written per mode and scaled by ``z`` too, so the LP
relaxation of one offer is the convex hull of its schedules. That keeps relaxations
tight, which is why HiGHS proves small gaps on portfolios of thousands of offers.

Slice durations are fixed at ``min_duration`` (the schedule's default); a slice of
several intervals spreads its energy evenly over them. Offers whose interval length
differs from the horizon's, or that cannot fit inside the horizon, are reported in
``PlanResult.unplanned`` instead of being silently moved.

The matrix is assembled column-wise with numpy (one Python iteration per offer
and profile, none per slice or start) and handed to HiGHS in one ``passModel``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import highspy
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.flexoffer.model import FlexOffer, Schedule, as_utc

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INF = highspy.kHighsInf


class PlanningError(ValueError):
    """The planning request itself is malformed (series length, horizon grid …)."""


@dataclass(frozen=True)
class Horizon:
    """The planning window: ``slots`` slots of ``slot_seconds`` from ``start`` (UTC)."""

    start: datetime
    slots: int
    slot_seconds: int = 900

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        if self.slots <= 0:
            raise PlanningError("a horizon needs at least one slot")
        if self.slot_seconds <= 0 or 3600 % self.slot_seconds != 0:
            raise PlanningError("slot length must be a positive divisor of 3600 seconds")
        try:
            self.start + self.slots * timedelta(seconds=self.slot_seconds)
        except OverflowError as exc:
            raise PlanningError("the horizon ends beyond the representable dates") from exc
        offset = (self.start - _EPOCH).total_seconds() % self.slot_seconds
        if abs(offset) > 1e-6:
            raise PlanningError(f"horizon start {self.start.isoformat()} is not on the {self.slot_seconds}s grid")

    @property
    def slot(self) -> timedelta:
        return timedelta(seconds=self.slot_seconds)

    @property
    def end(self) -> datetime:
        return self.start + self.slots * self.slot

    def slot_start(self, index: int) -> datetime:
        return self.start + index * self.slot


class _Objective(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MinimiseCost(_Objective):
    """Minimise Σ price·energy (EUR/kWh per slot; production earns the price).

    ``limit`` optionally caps the portfolio's net energy per slot (kWh), e.g. a zone's
    transformer limit; it is a hard constraint and couples the offers.
    """

    kind: Literal["cost"] = "cost"
    prices: list[float]
    limit: float | list[float] | None = None


class FollowTarget(_Objective):
    """Minimise Σ weight·|forecast + planned - target| (kWh): follow a profile.

    With ``target`` all zeros and ``forecast`` the uncontrolled net load this is
    imbalance reduction: the flexible portfolio absorbs the forecast's deviation.
    """

    kind: Literal["target"] = "target"
    target: list[float]
    forecast: list[float] | None = None
    weights: list[Annotated[float, Field(ge=0)]] | None = None


class PeakShaving(_Objective):
    """Minimise peak_weight·peak + excess_penalty·Σ max(0, load - limit) of the zone.

    ``load`` is ``forecast + planned`` per slot (kWh); ``limit`` is the zone limit.
    """

    kind: Literal["peak"] = "peak"
    limit: float | list[float]
    forecast: list[float] | None = None
    peak_weight: float = Field(default=1.0, ge=0)
    excess_penalty: float = Field(default=10.0, ge=0)


class MeetCommitments(_Objective):
    """Meet market commitments (kWh per slot, ``None`` = free) with least weighted deviation.

    Falling short of a commitment and overshooting it may cost differently (EUR/kWh).
    """

    kind: Literal["commitments"] = "commitments"
    commitments: list[float | None]
    forecast: list[float] | None = None
    shortfall_penalty: float = Field(default=1.0, ge=0)
    surplus_penalty: float = Field(default=1.0, ge=0)

    @model_validator(mode="after")
    def _some(self) -> MeetCommitments:
        if all(c is None for c in self.commitments):
            raise ValueError("no slot carries a commitment")
        return self


Objective = Annotated[MinimiseCost | FollowTarget | PeakShaving | MeetCommitments, Field(discriminator="kind")]


@dataclass
class PlanResult:
    """Schedules (offer id → Schedule), the objective and HiGHS' proven relative gap."""

    schedules: dict[str, Schedule]
    objective_value: float
    gap: float
    status: str
    slot_energy: list[float] = field(default_factory=list)
    """Planned net energy of the whole portfolio per horizon slot (kWh)."""
    unplanned: dict[str, str] = field(default_factory=dict)
    """Offers left out, with the reason (no feasible start inside the horizon …)."""
    dual_bound: float = float("nan")
    columns: int = 0
    rows: int = 0
    build_seconds: float = 0.0
    solve_seconds: float = 0.0

    @property
    def optimal(self) -> bool:
        return self.status == "Optimal"


@dataclass
class _Block:
    """The modes of one (offer, profile): starts x free slices, as column indices."""

    key: str
    offer_index: int
    profile_index: int
    starts: IntArray
    z_cols: IntArray
    y_cols: IntArray  # starts x free slices
    free: IntArray
    lower: FloatArray
    upper: FloatArray


def slot_series(
    values: Sequence[float | None] | float | None, horizon: Horizon, name: str, default: float
) -> FloatArray:
    if values is None:
        return np.full(horizon.slots, default)
    if isinstance(values, int | float):
        return np.full(horizon.slots, float(values))
    if len(values) != horizon.slots:
        raise PlanningError(f"{name} has {len(values)} values, the horizon has {horizon.slots} slots")
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def offer_of(item: Any) -> FlexOffer:
    """Aggregates (anything with ``.offer``) are planned through their aggregated offer."""
    offer = getattr(item, "offer", item)
    if not isinstance(offer, FlexOffer):
        raise PlanningError(f"cannot plan {type(item).__name__}: expected a FlexOffer or an aggregate")
    return offer


def feasible_starts(offer: FlexOffer, horizon: Horizon, length: int) -> IntArray:
    slot = horizon.slot_seconds
    first = (offer.earliest_start - horizon.start).total_seconds() / slot
    last = (offer.effective_latest_start() - horizon.start).total_seconds() / slot
    lo = max(0, int(np.ceil(first - 1e-9)))
    hi = min(horizon.slots - length, int(np.floor(last + 1e-9)))
    return np.arange(lo, hi + 1, dtype=np.int64) if hi >= lo else np.empty(0, dtype=np.int64)


class _Builder:
    """Collects columns and COO entries; every add_* takes whole numpy arrays."""

    def __init__(self) -> None:
        self.cost: list[FloatArray] = []
        self.col_lo: list[FloatArray] = []
        self.col_hi: list[FloatArray] = []
        self.integer: list[NDArray[np.int32]] = []
        self.ncols = 0
        self.row_lo: list[FloatArray] = []
        self.row_hi: list[FloatArray] = []
        self.nrows = 0
        self.e_row: list[IntArray] = []
        self.e_col: list[IntArray] = []
        self.e_val: list[FloatArray] = []

    def columns(self, count: int, lower: float | FloatArray, upper: float | FloatArray, integer: bool) -> IntArray:
        self.cost.append(np.zeros(count))
        self.col_lo.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self.col_hi.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        self.integer.append(np.full(count, 1 if integer else 0, dtype=np.int32))
        first = self.ncols
        self.ncols += count
        return np.arange(first, first + count, dtype=np.int64)

    def rows(self, count: int, lower: float | FloatArray, upper: float | FloatArray) -> IntArray:
        self.row_lo.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self.row_hi.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        first = self.nrows
        self.nrows += count
        return np.arange(first, first + count, dtype=np.int64)

    def entries(self, rows: IntArray, cols: IntArray, values: FloatArray) -> None:
        rows, cols, values = np.broadcast_arrays(rows, cols, values)
        self.e_row.append(rows.ravel())
        self.e_col.append(cols.ravel())
        self.e_val.append(values.astype(float).ravel())

    def solve(
        self,
        cost_extra: list[tuple[IntArray, FloatArray]],
        offset: float,
        options: dict[str, Any],
        start: tuple[IntArray, FloatArray] | None = None,
    ) -> tuple[highspy.Highs, FloatArray]:
        cost = np.concatenate(self.cost) if self.cost else np.zeros(0)
        for cols, values in cost_extra:
            np.add.at(cost, cols, values)
        rows = np.concatenate(self.e_row) if self.e_row else np.zeros(0, dtype=np.int64)
        cols = np.concatenate(self.e_col) if self.e_col else np.zeros(0, dtype=np.int64)
        vals = np.concatenate(self.e_val) if self.e_val else np.zeros(0)
        keep = vals != 0.0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.lexsort((rows, cols))
        rows, cols, vals = rows[order], cols[order], vals[order]
        starts = np.searchsorted(cols, np.arange(self.ncols + 1)).astype(np.int32)
        integrality = np.concatenate(self.integer) if self.integer else np.zeros(0, dtype=np.int32)
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        for name, value in options.items():
            h.setOptionValue(name, value)
        h.passModel(
            self.ncols,
            self.nrows,
            len(vals),
            1,  # column-wise
            1,  # minimise
            float(offset),
            cost,
            np.concatenate(self.col_lo) if self.col_lo else np.zeros(0),
            np.concatenate(self.col_hi) if self.col_hi else np.zeros(0),
            np.concatenate(self.row_lo) if self.row_lo else np.zeros(0),
            np.concatenate(self.row_hi) if self.row_hi else np.zeros(0),
            starts,
            rows.astype(np.int32),
            vals,
            integrality,
        )
        if start is not None and start[0].size:
            h.setSolution(int(start[0].size), start[0].astype(np.int32), start[1])
        h.run()
        has_solution = h.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
        solution = np.asarray(h.getSolution().col_value, dtype=float) if has_solution else np.zeros(0)
        return h, solution


def plan(
    offers_or_aggregates: Sequence[Any],
    objective: MinimiseCost | FollowTarget | PeakShaving | MeetCommitments,
    horizon: Horizon,
    *,
    time_limit: float | None = None,
    mip_rel_gap: float = 1e-4,
    threads: int | None = None,
    highs_options: dict[str, Any] | None = None,
    block_size: int = 200,
    initial: Mapping[str, Schedule] | None = None,
) -> PlanResult:
    """Plan every offer (or aggregate) exactly; see the module docstring for the model.

    A separable objective (cost without a zone limit) couples no two offers, so the
    MILP is block-diagonal: it is solved in independent blocks of ``block_size``
    offers, whose optima add up to the portfolio optimum and whose dual bounds add up
    to a proven bound. Simplex work grows faster than linearly with the model, so this
    keeps 10,000 offers well inside a minute. Every other objective is one model.

    HiGHS' presolve and feasibility jump are off by default: the disjunctive model is
    already tight, and on portfolios of thousands of offers they cost more than half
    of the solve time without shrinking it (measured; ``highs_options`` overrides).

    ``initial`` (offer id → Schedule) is handed to HiGHS as a starting solution. For
    a coupled objective without one, the direct-trading greedy plan is used (against
    zero prices when the objective has none), so that a time-limited solve of a large
    coupled portfolio still returns feasible schedules and a proven gap.
    """
    items = list(offers_or_aggregates)
    keys: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        offer = offer_of(item)
        key = offer.id if offer.id is not None else f"#{index}"
        if key in seen:
            raise PlanningError(f"offer id {key!r} appears twice")
        seen.add(key)
        keys.append(key)
    options: dict[str, Any] = {
        "output_flag": False,
        "mip_rel_gap": float(mip_rel_gap),
        "presolve": "off",
        "mip_heuristic_run_feasibility_jump": False,
    }
    if threads is not None:
        options["threads"] = int(threads)
    options.update(highs_options or {})
    separable = isinstance(objective, MinimiseCost) and objective.limit is None
    if not separable or len(items) <= block_size:
        if time_limit is not None:
            options["time_limit"] = float(time_limit)
        if initial is None and not separable:
            initial = _greedy_start(items, objective, horizon)
        return _plan_model(items, keys, objective, horizon, options, initial)

    deadline = None if time_limit is None else time.perf_counter() + time_limit
    parts: list[PlanResult] = []
    for first in range(0, len(items), block_size):
        if deadline is not None:
            options["time_limit"] = max(0.0, deadline - time.perf_counter())
        chunk = slice(first, first + block_size)
        parts.append(_plan_model(items[chunk], keys[chunk], objective, horizon, options, initial))
    return _combine(parts)


def _greedy_start(
    items: list[Any], objective: MinimiseCost | FollowTarget | PeakShaving | MeetCommitments, horizon: Horizon
) -> dict[str, Schedule]:
    """A feasible starting point for a coupled model: greedy placement of every offer."""
    from core.flexoffer.greedy import greedy_plan  # greedy builds on this module

    if isinstance(objective, MinimiseCost):
        # Offers greedy could not fit under the limit are left for HiGHS to complete.
        return greedy_plan(items, objective, horizon).schedules
    return greedy_plan(items, MinimiseCost(prices=[0.0] * horizon.slots), horizon).schedules


def _combine(parts: list[PlanResult]) -> PlanResult:
    """Merge the results of independent blocks; the gap is that of the summed bounds."""
    primal = sum(p.objective_value for p in parts)
    dual = sum(p.dual_bound for p in parts)
    statuses = {p.status for p in parts}
    status = statuses.pop() if len(statuses) == 1 else next(s for s in (p.status for p in parts) if s != "Optimal")
    schedules: dict[str, Schedule] = {}
    unplanned: dict[str, str] = {}
    for p in parts:
        schedules.update(p.schedules)
        unplanned.update(p.unplanned)
    solved = all(p.schedules or not p.columns for p in parts)
    gap = abs(primal - dual) / max(abs(primal), 1e-9) if solved and np.isfinite(primal + dual) else float("inf")
    if all(p.gap == 0.0 for p in parts):
        gap = 0.0
    return PlanResult(
        schedules=schedules if solved else {},
        objective_value=primal if solved else float("nan"),
        gap=gap,
        status=status,
        slot_energy=[float(sum(values)) for values in zip(*(p.slot_energy for p in parts if p.slot_energy),
                                                           strict=True)],
        unplanned=unplanned,
        dual_bound=dual,
        columns=sum(p.columns for p in parts),
        rows=sum(p.rows for p in parts),
        build_seconds=sum(p.build_seconds for p in parts),
        solve_seconds=sum(p.solve_seconds for p in parts),
    )


def _plan_model(
    items: Sequence[Any],
    keys: list[str],
    objective: MinimiseCost | FollowTarget | PeakShaving | MeetCommitments,
    horizon: Horizon,
    options: dict[str, Any],
    initial: Mapping[str, Schedule] | None = None,
) -> PlanResult:
    """Build and solve one MILP over ``items`` (keys give their result ids)."""
    started = time.perf_counter()
    slots = horizon.slots
    b = _Builder()
    blocks: list[_Block] = []
    unplanned: dict[str, str] = {}
    # Per-column contributions to the portfolio's energy in each slot (COO).
    c_col: list[IntArray] = []
    c_slot: list[IntArray] = []
    c_val: list[FloatArray] = []

    for index, item in enumerate(items):
        offer = offer_of(item)
        key = keys[index]
        if offer.interval_seconds != horizon.slot_seconds:
            unplanned[key] = f"interval {offer.interval_seconds}s differs from the horizon's slot"
            continue
        offer_blocks: list[_Block] = []
        for p_index, profile in enumerate(offer.profiles):
            durations = np.asarray(profile.min_durations(), dtype=np.int64)
            length = int(durations.sum())
            starts = feasible_starts(offer, horizon, length)
            if starts.size == 0:
                continue
            lower = np.asarray(profile.energy_lower, dtype=float)
            upper = np.maximum(np.asarray(profile.energy_upper, dtype=float), lower)
            free = np.flatnonzero(upper - lower > 1e-12)
            n_starts, n_free = starts.size, free.size
            te = offer.total_energy
            base_total = float(lower.sum())
            if te is not None and not n_free and not te.lower - 1e-9 <= base_total <= te.upper + 1e-9:
                continue  # a fixed profile that misses the total: no mode of this profile is feasible
            cols = b.columns(n_starts * (1 + n_free), 0.0, 1.0, False).reshape(n_starts, 1 + n_free)
            z_cols = cols[:, 0]
            y_cols = cols[:, 1:]
            b.integer[-1].reshape(n_starts, 1 + n_free)[:, 0] = 1
            b.col_hi[-1].reshape(n_starts, 1 + n_free)[:, 1:] = (upper - lower)[free]
            # y <= (upper - lower)·z
            if n_free:
                vub = b.rows(n_starts * n_free, -_INF, 0.0).reshape(n_starts, n_free)
                b.entries(vub, y_cols, np.ones((n_starts, n_free)))
                b.entries(vub, z_cols[:, None], -(upper - lower)[free][None, :])
            if te is not None and n_free:
                if te.upper < float(upper.sum()) - 1e-12:
                    r = b.rows(n_starts, -_INF, 0.0)
                    b.entries(r[:, None], y_cols, np.ones((1, n_free)))
                    b.entries(r, z_cols, np.full(n_starts, base_total - te.upper))
                if te.lower > base_total + 1e-12:
                    r = b.rows(n_starts, 0.0, _INF)
                    b.entries(r[:, None], y_cols, np.ones((1, n_free)))
                    b.entries(r, z_cols, np.full(n_starts, base_total - te.lower))
            for row in offer.polytope:
                coefficients = np.asarray(row.coefficients, dtype=float)
                if coefficients.size != profile.slice_count:
                    continue
                r = b.rows(n_starts, -_INF, 0.0)
                if n_free:
                    b.entries(r[:, None], y_cols, coefficients[free][None, :])
                b.entries(r, z_cols, np.full(n_starts, float(coefficients @ lower) - row.bound))
            # Contribution to slots: slice i spreads over durations[i] slots.
            slice_of_slot = np.repeat(np.arange(profile.slice_count), durations)
            weight = 1.0 / durations[slice_of_slot]
            slot_idx = starts[:, None] + np.arange(length)[None, :]
            c_col.append(np.broadcast_to(z_cols[:, None], slot_idx.shape).ravel())
            c_slot.append(slot_idx.ravel())
            c_val.append(np.broadcast_to((lower[slice_of_slot] * weight)[None, :], slot_idx.shape).ravel())
            if n_free:
                position = np.full(profile.slice_count, -1, dtype=np.int64)
                position[free] = np.arange(n_free)
                free_slots = np.flatnonzero(position[slice_of_slot] >= 0)
                c_col.append(y_cols[:, position[slice_of_slot[free_slots]]].ravel())
                c_slot.append(slot_idx[:, free_slots].ravel())
                c_val.append(np.broadcast_to(weight[free_slots][None, :], (n_starts, free_slots.size)).ravel())
            offer_blocks.append(_Block(key, index, p_index, starts, z_cols, y_cols, free, lower, upper))
        if not offer_blocks:
            unplanned[key] = "no feasible start inside the horizon"
            continue
        assign = b.rows(1, 1.0, 1.0)
        for block in offer_blocks:
            b.entries(np.broadcast_to(assign, block.z_cols.shape), block.z_cols, np.ones(block.z_cols.size))
        blocks.extend(offer_blocks)

    contrib_col = np.concatenate(c_col) if c_col else np.zeros(0, dtype=np.int64)
    contrib_slot = np.concatenate(c_slot) if c_slot else np.zeros(0, dtype=np.int64)
    contrib_val = np.concatenate(c_val) if c_val else np.zeros(0)
    cost_extra: list[tuple[IntArray, FloatArray]] = []
    offset = 0.0

    def slot_energy_columns(upper: FloatArray | None = None) -> IntArray:
        """Free columns P_t with rows Σ contributions - P_t = 0."""
        p_cols = b.columns(slots, -_INF, _INF if upper is None else upper, False)
        p_rows = b.rows(slots, 0.0, 0.0)
        b.entries(p_rows[contrib_slot], contrib_col, contrib_val)
        b.entries(p_rows, p_cols, -np.ones(slots))
        return p_cols

    def deviation(p_cols: IntArray, reference: FloatArray, under_cost: FloatArray, over_cost: FloatArray) -> None:
        """P_t - over_t + under_t = reference_t on the slots where reference is a number."""
        active = np.flatnonzero(~np.isnan(reference))
        count = active.size
        over = b.columns(count, 0.0, _INF, False)
        under = b.columns(count, 0.0, _INF, False)
        r = b.rows(count, reference[active], reference[active])
        b.entries(r, p_cols[active], np.ones(count))
        b.entries(r, over, -np.ones(count))
        b.entries(r, under, np.ones(count))
        cost_extra.append((over, over_cost[active]))
        cost_extra.append((under, under_cost[active]))

    if isinstance(objective, MinimiseCost):
        prices = slot_series(objective.prices, horizon, "prices", 0.0)
        if objective.limit is None:
            cost_extra.append((contrib_col, contrib_val * prices[contrib_slot]))
        else:
            p_cols = slot_energy_columns(slot_series(objective.limit, horizon, "limit", _INF))
            cost_extra.append((p_cols, prices))
    elif isinstance(objective, FollowTarget):
        target = slot_series(objective.target, horizon, "target", 0.0)
        forecast = slot_series(objective.forecast, horizon, "forecast", 0.0)
        weights = slot_series(objective.weights, horizon, "weights", 1.0)
        p_cols = slot_energy_columns()
        deviation(p_cols, target - forecast, weights, weights)
    elif isinstance(objective, PeakShaving):
        limit = slot_series(objective.limit, horizon, "limit", _INF)
        forecast = slot_series(objective.forecast, horizon, "forecast", 0.0)
        p_cols = slot_energy_columns()
        peak = b.columns(1, -_INF, _INF, False)
        excess = b.columns(slots, 0.0, _INF, False)
        r = b.rows(slots, -_INF, -forecast)  # P_t - peak <= -forecast_t
        b.entries(r, p_cols, np.ones(slots))
        b.entries(r, np.broadcast_to(peak, (slots,)), -np.ones(slots))
        r = b.rows(slots, -_INF, limit - forecast)  # P_t - excess_t <= limit_t - forecast_t
        b.entries(r, p_cols, np.ones(slots))
        b.entries(r, excess, -np.ones(slots))
        cost_extra.append((peak, np.array([objective.peak_weight])))
        cost_extra.append((excess, np.full(slots, objective.excess_penalty)))
    elif isinstance(objective, MeetCommitments):
        commitments = slot_series(objective.commitments, horizon, "commitments", np.nan)
        forecast = slot_series(objective.forecast, horizon, "forecast", 0.0)
        p_cols = slot_energy_columns()
        deviation(
            p_cols,
            commitments - forecast,
            np.full(slots, objective.shortfall_penalty),
            np.full(slots, objective.surplus_penalty),
        )
    else:  # pragma: no cover - the type union is closed
        raise PlanningError(f"unknown objective {objective!r}")

    built = time.perf_counter()
    if b.ncols == 0:
        return PlanResult({}, 0.0, 0.0, "Optimal", [0.0] * slots, unplanned, dual_bound=0.0,
                          build_seconds=built - started)
    h, solution = b.solve(cost_extra, offset, options, _warm_start(blocks, initial or {}, horizon))
    solved = time.perf_counter()

    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    result = PlanResult(
        schedules={},
        objective_value=float("nan"),
        gap=float("inf"),
        status=status,
        unplanned=unplanned,
        columns=b.ncols,
        rows=b.nrows,
        build_seconds=built - started,
        solve_seconds=solved - built,
    )
    if solution.size == 0:
        return result
    result.objective_value = float(info.objective_function_value)
    gap = float(info.mip_gap)
    result.gap = max(0.0, gap) if np.isfinite(gap) else (0.0 if status == "Optimal" else float("inf"))
    result.dual_bound = float(info.mip_dual_bound)
    result.schedules = _extract(items, blocks, solution, horizon)
    result.slot_energy = np.bincount(
        contrib_slot, weights=contrib_val * solution[contrib_col], minlength=slots
    ).tolist()
    return result


def _warm_start(
    blocks: list[_Block], initial: Mapping[str, Schedule], horizon: Horizon
) -> tuple[IntArray, FloatArray] | None:
    """Column values of known schedules (binaries and energies); HiGHS completes the rest."""
    if not initial:
        return None
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    for block in blocks:
        schedule = initial.get(block.key)
        if schedule is None:
            continue
        z = np.zeros(block.z_cols.size)
        chosen = (schedule.profile_index or 0) == block.profile_index
        k = round((schedule.start - horizon.start) / horizon.slot)
        position = int(np.searchsorted(block.starts, k))
        if chosen and position < block.starts.size and block.starts[position] == k:
            z[position] = 1.0
            if block.free.size and len(schedule.energy) == block.lower.size:
                energy = np.asarray(schedule.energy, dtype=float)[block.free]
                cols.append(block.y_cols[position])
                vals.append(np.clip(energy - block.lower[block.free], 0.0, (block.upper - block.lower)[block.free]))
        cols.append(block.z_cols)
        vals.append(z)
    if not cols:
        return None
    return np.concatenate(cols), np.concatenate(vals)


def _extract(items: Sequence[Any], blocks: list[_Block], solution: FloatArray, horizon: Horizon) -> dict[str, Schedule]:
    """Read the chosen mode of each offer (the one whose binary is largest)."""
    best: dict[str, tuple[float, _Block, int]] = {}
    for block in blocks:
        z = solution[block.z_cols]
        k = int(np.argmax(z))
        if block.key not in best or z[k] > best[block.key][0]:
            best[block.key] = (float(z[k]), block, k)
    schedules: dict[str, Schedule] = {}
    for key, (_, block, k) in best.items():
        offer = offer_of(items[block.offer_index])
        energy = block.lower.copy()
        if block.free.size:
            # Every row of a mode is homogeneous in (y, z), so y/z is feasible exactly even
            # when HiGHS leaves z a hair below 1 within its integrality tolerance.
            z_value = max(float(solution[block.z_cols[k]]), 0.5)
            spread = solution[block.y_cols[k]] / z_value
            energy[block.free] += np.clip(spread, 0.0, (block.upper - block.lower)[block.free])
        schedules[key] = Schedule(
            start=horizon.slot_start(int(block.starts[k])),
            energy=energy.tolist(),
            profile_index=block.profile_index if offer.xor_profiles else None,
        )
    return schedules
