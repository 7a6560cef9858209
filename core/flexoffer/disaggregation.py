"""Exact disaggregation of an aggregate's schedule into one schedule per member.

The split is a small transportation problem: cell ``(i, j)`` is member ``i``'s
energy in its slice ``j`` (aggregate slice ``offset_i + j``), bounded by the
member's slice bounds; every aggregate slice must be met exactly, and every
member's total must stay inside its total-energy bounds.

1. **Proportional fill** (vectorised): each aggregate slice puts every member at the
   same fraction between its slice bounds. This already meets every slice exactly.
2. **Balancing** (vectorised, a few dozen sweeps): members whose totals fall
   outside their bounds are moved along their own slice ranges, and the resulting
   slice residuals are handed to members with room and total slack.
3. **LP** (highspy), only when balancing has not converged: the exact feasibility
   problem. If the LP is infeasible a second LP with per-slice slack finds the
   slices that cannot be met, and ``DisaggregationError`` names them.

Every result is verified vectorised against the slice bounds, the slice sums and
the totals before it is returned; a violating member schedule is never emitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from core.flexoffer.aggregation import Aggregate
from core.flexoffer.batch import EPOCH, FlexOfferBatch, FloatArray, IntArray, units_to_datetime
from core.flexoffer.checks import check_schedule
from core.flexoffer.model import ENERGY_TOLERANCE_KWH, Schedule

_SUM_TOLERANCE = 1e-7
"""Slack we allow ourselves (kWh), ten times tighter than the checks' 1e-6."""
_BALANCE_SWEEPS = 60
_NEIGHBOURS = 64
"""Members besides the offenders that the polishing LP may move."""


class DisaggregationError(ValueError):
    """The aggregate schedule cannot be split into feasible member schedules."""

    def __init__(self, message: str, slices: list[int] | None = None) -> None:
        super().__init__(message)
        self.slices = slices or []


@dataclass(frozen=True)
class MemberSchedules:
    """Member schedules in columnar form: row ``i`` is member ``ids[i]``.

    ``energy[i, :length[i]]`` is the member's slice energy; ``start`` is in
    intervals of ``interval_seconds`` since the Unix epoch.
    """

    ids: list[str]
    start: IntArray
    interval_seconds: int
    energy: FloatArray
    length: IntArray

    def schedules(self) -> dict[str, Schedule]:
        return {
            member: Schedule(
                start=units_to_datetime(int(self.start[i]), self.interval_seconds),
                energy=self.energy[i, : int(self.length[i])].tolist(),
            )
            for i, member in enumerate(self.ids)
        }


def disaggregate(aggregate: Aggregate, schedule: Schedule) -> dict[str, Schedule]:
    """Split ``schedule`` of ``aggregate.offer`` into one feasible schedule per member."""
    if aggregate.single is not None:
        problems = check_schedule(aggregate.single, schedule)
        if problems:
            raise DisaggregationError("schedule is infeasible for the offer: " + "; ".join(problems))
        return {aggregate.members[0]: schedule.model_copy(update={"schedule_id": None, "update_id": None})}
    return disaggregate_arrays(aggregate, schedule).schedules()


def disaggregate_arrays(aggregate: Aggregate, schedule: Schedule) -> MemberSchedules:
    """Like :func:`disaggregate`, but returns arrays (no per-member Python objects)."""
    source, rows, offsets = aggregate.source, aggregate.rows, aggregate.offsets
    if source is None or rows is None or offsets is None:
        raise DisaggregationError("aggregate has no columnar members; use disaggregate()")
    offer = aggregate.offer
    if schedule.durations is not None and any(d != 1 for d in schedule.durations):
        raise DisaggregationError("aggregate slices last exactly one interval; the schedule has other durations")
    problems = check_schedule(offer, schedule)
    if problems:
        raise DisaggregationError(
            "schedule is infeasible for the aggregate: " + "; ".join(problems), _named_slices(problems)
        )
    step = offer.interval_seconds
    start_units = round((schedule.start - EPOCH).total_seconds() / step)

    target = np.asarray(schedule.energy, dtype=np.float64)
    lo = source.lower[rows]
    hi = source.upper[rows]
    t_lo_all, t_hi_all = _member_totals(source, rows)
    x = split(target, lo, hi, offsets, t_lo_all, t_hi_all)
    return MemberSchedules(
        ids=list(aggregate.members),
        start=start_units + offsets,
        interval_seconds=step,
        energy=x,
        length=source.length[rows],
    )


def _member_totals(source: FlexOfferBatch, rows: IntArray) -> tuple[FloatArray, FloatArray]:
    lo = source.lower[rows]
    hi = source.upper[rows]
    lo_sum, hi_sum = lo.sum(axis=1), hi.sum(axis=1)
    t_lo, t_hi = source.total_lower[rows], source.total_upper[rows]
    return (
        np.where(np.isnan(t_lo), lo_sum, np.maximum(t_lo, lo_sum)),
        np.where(np.isnan(t_hi), hi_sum, np.minimum(t_hi, hi_sum)),
    )


def _named_slices(problems: list[str]) -> list[int]:
    out: list[int] = []
    for p in problems:
        if p.startswith("slice "):
            head = p.split(":", 1)[0].removeprefix("slice ")
            if head.isdigit():
                out.append(int(head))
    return out


def split(
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    offsets: IntArray,
    total_lower: FloatArray,
    total_upper: FloatArray,
) -> FloatArray:
    """Member energies ``x[i, j]`` that meet ``target`` slice by slice and every bound.

    ``target`` is indexed by aggregate slice; member ``i``'s slice ``j`` is aggregate
    slice ``offsets[i] + j``. Raises ``DisaggregationError`` naming the slices when
    no split exists.
    """
    width = lower.shape[1]
    span = len(target)
    columns = offsets[:, None] + np.arange(width)[None, :]
    padded = np.concatenate([target, np.zeros(width + int(offsets.max(initial=0)))])
    n_cols = len(padded)
    flat = columns.ravel()

    def column_sums(values: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(flat, weights=values.ravel(), minlength=n_cols), dtype=np.float64)

    col_lo, col_hi = column_sums(lower), column_sums(upper)
    beyond = np.flatnonzero((np.abs(col_lo[span:]) > 0) | (np.abs(col_hi[span:]) > 0))
    if beyond.size:
        raise DisaggregationError(f"members extend past the aggregate's {span} slices", [int(span + beyond[0])])
    bad = np.flatnonzero((padded < col_lo - ENERGY_TOLERANCE_KWH) | (padded > col_hi + ENERGY_TOLERANCE_KWH))
    if bad.size:
        t = int(bad[0])
        raise DisaggregationError(
            f"slice {t}: aggregate energy {padded[t]:.6g} kWh is outside the members' combined "
            f"bounds [{col_lo[t]:.6g}, {col_hi[t]:.6g}]",
            bad.tolist(),
        )
    padded = np.clip(padded, col_lo, col_hi)
    x = _balance(padded, lower, upper, columns, total_lower, total_upper)
    if not _valid(x, padded, lower, upper, columns, total_lower, total_upper):
        x = _polish(x, padded, lower, upper, columns, total_lower, total_upper)
    if not _valid(x, padded, lower, upper, columns, total_lower, total_upper):
        x = _solve_lp(padded, lower, upper, columns, total_lower, total_upper)
    if not _valid(x, padded, lower, upper, columns, total_lower, total_upper):
        raise DisaggregationError("internal error: the member split failed verification")
    return x


def _valid(
    x: FloatArray,
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    columns: IntArray,
    t_lo: FloatArray,
    t_hi: FloatArray,
) -> bool:
    if not np.isfinite(x).all():
        return False
    if (x < lower - 1e-9).any() or (x > upper + 1e-9).any():
        return False
    sums = np.bincount(columns.ravel(), weights=x.ravel(), minlength=len(target))
    if np.abs(sums - target).max(initial=0.0) > _SUM_TOLERANCE:
        return False
    totals = x.sum(axis=1)
    return bool(((totals >= t_lo - _SUM_TOLERANCE) & (totals <= t_hi + _SUM_TOLERANCE)).all())


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """``numerator / denominator`` clipped to [0, 1], and 0 where the denominator is not positive."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.asarray(np.where(denominator > 0, np.clip(numerator / safe, 0.0, 1.0), 0.0), dtype=np.float64)


def _balance(
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    columns: IntArray,
    t_lo: FloatArray,
    t_hi: FloatArray,
) -> FloatArray:
    """Proportional fill, then matched transfers inside each slice until the totals hold.

    A transfer raises some members and lowers others by the same amount in the same
    slice, so every slice sum stays exact throughout. Members whose totals are out
    of bounds ask for energy (or give it) in the slices where a counterpart exists;
    members with total slack serve as counterparts, each limited so that its own
    total cannot leave its bounds (room scaled by ``min(1, slack / sum of room)``).
    """
    flat = columns.ravel()
    n_cols = len(target)

    def column_sums(values: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(flat, weights=values.ravel(), minlength=n_cols), dtype=np.float64)

    col_lo, col_hi = column_sums(lower), column_sums(upper)
    theta = _ratio(target - col_lo, col_hi - col_lo)
    x = lower + theta[columns] * (upper - lower)
    # Aim strictly inside the total bounds so rounding cannot push a total out.
    middle = (t_lo + t_hi) / 2
    aim_lo = np.minimum(t_lo + 0.5 * _SUM_TOLERANCE, middle)
    aim_hi = np.maximum(t_hi - 0.5 * _SUM_TOLERANCE, middle)
    previous = np.inf
    for _ in range(_BALANCE_SWEEPS):
        totals = x.sum(axis=1)
        off_by = float(np.maximum(t_lo - totals, totals - t_hi).max(initial=0.0))
        if off_by <= 0.25 * _SUM_TOLERANCE or off_by > 0.7 * previous:
            break  # done, or stalled: what is left needs chains of transfers (see _polish)
        previous = off_by
        need_up = np.maximum(aim_lo - totals, 0.0)
        need_down = np.maximum(totals - aim_hi, 0.0)
        settled = (need_up == 0) & (need_down == 0)
        up_room = upper - x
        down_room = x - lower
        # Counterparts: settled members, within their slack.
        free_up = up_room * (_ratio(np.maximum(aim_hi - totals, 0.0), up_room.sum(axis=1)) * settled)[:, None]
        free_down = down_room * (_ratio(np.maximum(totals - aim_lo, 0.0), down_room.sum(axis=1)) * settled)[:, None]
        # Askers spread their need over slices in proportion to room x counterpart capacity there.
        give_cap = column_sums(free_down) + column_sums(down_room * (need_down > 0)[:, None])
        take_cap = column_sums(free_up) + column_sums(up_room * (need_up > 0)[:, None])
        ask_up = _spread(need_up, up_room, give_cap[columns])
        ask_down = _spread(need_down, down_room, take_cap[columns])
        col_up, col_down = column_sums(ask_up), column_sums(ask_down)
        col_free_up, col_free_down = column_sums(free_up), column_sums(free_down)
        # Per slice: match ups with downs; the excess side draws on the free counterparts.
        matched = np.minimum(col_up, col_down)
        extra_up = np.minimum(col_up - matched, col_free_down)
        extra_down = np.minimum(col_down - matched, col_free_up)
        f_ask_up = _ratio(matched + extra_up, col_up)
        f_ask_down = _ratio(matched + extra_down, col_down)
        f_free_down = _ratio(extra_up, col_free_down)
        f_free_up = _ratio(extra_down, col_free_up)
        x = (
            x
            + ask_up * f_ask_up[columns]
            - ask_down * f_ask_down[columns]
            + free_up * f_free_up[columns]
            - free_down * f_free_down[columns]
        )
        x = np.clip(x, lower, upper)
    return np.asarray(x, dtype=np.float64)


def _spread(need: FloatArray, room: FloatArray, capacity: FloatArray) -> FloatArray:
    """Split each row's ``need`` over its cells in proportion to ``room * capacity``, capped by room."""
    weight = room * capacity
    total = weight.sum(axis=1)
    blind = total <= 0
    if blind.any():  # no counterpart anywhere in this member's slices: spread over plain room
        weight[blind] = room[blind]
        total[blind] = room[blind].sum(axis=1)
    scale = np.where(total > 0, need / np.where(total > 0, total, 1.0), 0.0)
    return np.asarray(np.minimum(room, weight * scale[:, None]), dtype=np.float64)


def _polish(
    x: FloatArray,
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    columns: IntArray,
    t_lo: FloatArray,
    t_hi: FloatArray,
) -> FloatArray:
    """Repair the few members balancing left out of bounds with an LP over a small neighbourhood.

    The neighbourhood is the offending members plus the members with the most
    slice room where the offenders have room; everyone else keeps their energies.
    Falls back to returning ``x`` unchanged when that small LP has no solution.
    """
    totals = x.sum(axis=1)
    bad = (totals < t_lo - 0.25 * _SUM_TOLERANCE) | (totals > t_hi + 0.25 * _SUM_TOLERANCE)
    touched = np.zeros(len(target), dtype=bool)
    touched[columns[bad][(upper - lower)[bad] > 0]] = True
    score = ((upper - lower) * touched[columns]).sum(axis=1)
    score[bad] = np.inf
    chosen = np.sort(np.argsort(-score, kind="stable")[: int(bad.sum()) + _NEIGHBOURS])
    others = np.ones(len(x), dtype=bool)
    others[chosen] = False
    rest = np.bincount(columns[others].ravel(), weights=x[others].ravel(), minlength=len(target))
    try:
        part = _solve_lp(target - rest, lower[chosen], upper[chosen], columns[chosen], t_lo[chosen], t_hi[chosen])
    except DisaggregationError:
        return x
    out = x.copy()
    out[chosen] = part
    return out


def _solve_lp(
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    columns: IntArray,
    t_lo: FloatArray,
    t_hi: FloatArray,
) -> FloatArray:
    """The exact split as an LP; on infeasibility, name the slices that cannot be met."""
    m, width = lower.shape
    n_vars = m * width
    n_cols = len(target)
    used = np.flatnonzero(np.bincount(columns.ravel(), minlength=n_cols) > 0)

    def build(with_slack: bool) -> highspy.Highs:
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        lp = highspy.HighsLp()
        n_slack = 2 * len(used) if with_slack else 0
        lp.num_col_ = n_vars + n_slack
        lp.num_row_ = len(used) + m
        cost = np.zeros(n_vars + n_slack)
        cost[n_vars:] = 1.0
        lp.col_cost_ = cost
        lp.col_lower_ = np.concatenate([lower.ravel(), np.zeros(n_slack)])
        lp.col_upper_ = np.concatenate([upper.ravel(), np.full(n_slack, highspy.kHighsInf)])
        slice_row = np.full(n_cols, -1, dtype=np.int64)
        slice_row[used] = np.arange(len(used))
        var_rows = np.stack([slice_row[columns.ravel()], len(used) + np.repeat(np.arange(m), width)], axis=1)
        var_vals = np.ones((n_vars, 2))
        parts_rows = [var_rows]
        parts_vals = [var_vals]
        if with_slack:
            k = np.arange(len(used))
            slack_rows = np.stack([np.concatenate([k, k]), np.full(2 * len(used), -1)], axis=1)
            slack_vals = np.stack([np.concatenate([np.ones(len(used)), -np.ones(len(used))]),
                                   np.zeros(2 * len(used))], axis=1)
            parts_rows.append(slack_rows)
            parts_vals.append(slack_vals)
        rows = np.concatenate(parts_rows)
        vals = np.concatenate(parts_vals)
        keep = rows >= 0
        counts = keep.sum(axis=1)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        lp.a_matrix_.index_ = rows[keep].astype(np.int32)
        lp.a_matrix_.value_ = vals[keep]
        lp.row_lower_ = np.concatenate([target[used], t_lo])
        lp.row_upper_ = np.concatenate([target[used], t_hi])
        h.passModel(lp)
        return h

    h = build(with_slack=False)
    h.run()
    if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
        x = np.asarray(h.getSolution().col_value[:n_vars]).reshape(m, width)
        return np.asarray(np.clip(x, lower, upper), dtype=np.float64)
    h = build(with_slack=True)
    h.run()
    slack = np.asarray(h.getSolution().col_value[n_vars:])
    k = len(used)
    short = np.flatnonzero(slack[:k] + slack[k:] > _SUM_TOLERANCE)
    named = [int(used[i]) for i in short]
    listing = ", ".join(map(str, named[:10])) or "unknown"
    raise DisaggregationError(
        f"slice {listing}: no split of the aggregate energy in these slices meets every member's "
        "total-energy constraint",
        named,
    )
