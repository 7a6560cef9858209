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


def _balance(
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    columns: IntArray,
    t_lo: FloatArray,
    t_hi: FloatArray,
) -> FloatArray:
    flat = columns.ravel()
    n_cols = len(target)

    def column_sums(values: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(flat, weights=values.ravel(), minlength=n_cols), dtype=np.float64)

    col_lo, col_hi = column_sums(lower), column_sums(upper)
    room = col_hi - col_lo
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = np.where(room > 0, (target - col_lo) / np.where(room > 0, room, 1), 0.0)
    theta = np.clip(theta, 0.0, 1.0)
    x = lower + theta[columns] * (upper - lower)
    # Aim strictly inside the total bounds so rounding cannot push a total out.
    aim_lo = np.minimum(t_lo + 0.25 * _SUM_TOLERANCE, (t_lo + t_hi) / 2)
    aim_hi = np.maximum(t_hi - 0.25 * _SUM_TOLERANCE, (t_lo + t_hi) / 2)
    for _ in range(_BALANCE_SWEEPS):
        totals = x.sum(axis=1)
        need_up = np.maximum(aim_lo - totals, 0.0)
        need_down = np.maximum(totals - aim_hi, 0.0)
        if not need_up.any() and not need_down.any():
            break
        x = _shift_rows(x, lower, upper, need_up, need_down)
        x = _fix_columns(x, target, lower, upper, columns, aim_lo, aim_hi)
    return x


def _shift_rows(
    x: FloatArray, lower: FloatArray, upper: FloatArray, need_up: FloatArray, need_down: FloatArray
) -> FloatArray:
    """Move each member's total towards its bounds, spread over its own slice room."""
    up_room = upper - x
    down_room = x - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        f_up = np.clip(need_up / up_room.sum(axis=1), 0.0, 1.0)
        f_down = np.clip(need_down / down_room.sum(axis=1), 0.0, 1.0)
    f_up = np.nan_to_num(f_up)
    f_down = np.nan_to_num(f_down)
    return np.asarray(x + up_room * f_up[:, None] - down_room * f_down[:, None], dtype=np.float64)


def _fix_columns(
    x: FloatArray,
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    columns: IntArray,
    aim_lo: FloatArray,
    aim_hi: FloatArray,
) -> FloatArray:
    """Restore every slice sum, preferring members whose totals can absorb the change."""
    flat = columns.ravel()
    n_cols = len(target)

    def column_sums(values: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(flat, weights=values.ravel(), minlength=n_cols), dtype=np.float64)

    totals = x.sum(axis=1)
    residual = target - column_sums(x)
    slack_up = np.maximum(aim_hi - totals, 0.0)[:, None]
    slack_down = np.maximum(totals - aim_lo, 0.0)[:, None]
    for preferred in (True, False):
        up_room = upper - x
        down_room = x - lower
        if preferred:
            up_w = np.minimum(up_room, slack_up)
            down_w = np.minimum(down_room, slack_down)
        else:
            up_w, down_w = up_room, down_room
        up_cap, down_cap = column_sums(up_w), column_sums(down_w)
        with np.errstate(invalid="ignore", divide="ignore"):
            f_up = np.where(residual > 0, np.clip(residual / up_cap, 0.0, 1.0), 0.0)
            f_down = np.where(residual < 0, np.clip(-residual / down_cap, 0.0, 1.0), 0.0)
        f_up = np.nan_to_num(f_up)
        f_down = np.nan_to_num(f_down)
        x = x + up_w * f_up[columns] - down_w * f_down[columns]
        residual = target - column_sums(x)
    return np.asarray(np.clip(x, lower, upper), dtype=np.float64)


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
