"""Exact disaggregation of an aggregate's schedule into one schedule per member.

The split is a small transportation problem: cell ``(i, j)`` is member ``i``'s
energy in its slice ``j`` (aggregate slice ``offset_i + j``), bounded by the
member's slice bounds; every aggregate slice must be met exactly, and every
member's total must stay inside its total-energy bounds.

1. **Proportional fill** (vectorised): each aggregate slice puts every member at the
   same fraction between its slice bounds. This already meets every slice exactly.
2. **Matched transfers** (vectorised sweeps): members whose totals fall outside
   their bounds take or give energy inside a slice against members with total
   slack, so slice sums stay exact; converges fast but cannot route energy through
   members without slack.
3. **Relay sweeps** (vectorised): offenders to their bounds, then slices restored
   from everyone's room; this passes energy along chains, converging linearly.
4. **LP** (highspy), only for what is left: first over the offenders and a few
   well-placed neighbours, then over the whole aggregate. If that is infeasible, a
   second LP with per-slice slack finds the slices that cannot be met, and
   ``DisaggregationError`` names them.

Every result is verified vectorised against the slice bounds, the slice sums and
the totals before it is returned; a violating member schedule is never emitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from core.flexoffer.aggregation import Aggregate
from core.flexoffer.batch import EPOCH, FloatArray, IntArray, units_to_datetime
from core.flexoffer.checks import check_schedule
from core.flexoffer.model import ENERGY_TOLERANCE_KWH, Schedule

_SUM_TOLERANCE = 1e-7
"""Slack we allow ourselves (kWh), ten times tighter than the checks' 1e-6."""
_BALANCE_SWEEPS = 60
_RELAY_SWEEPS = 40
_NEIGHBOURS = 24
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
    # The bounds the aggregate summed (shrunk boxes under totals="inner"): any split
    # inside them is inside the members' own bounds and totals too.
    lo, hi, t_lo, t_hi = aggregate.member_bounds()
    x = split(target, lo, hi, offsets, t_lo, t_hi)
    return MemberSchedules(
        ids=list(aggregate.members),
        start=start_units + offsets,
        interval_seconds=step,
        energy=x,
        length=source.length[rows],
    )


def _named_slices(problems: list[str]) -> list[int]:
    out: list[int] = []
    for p in problems:
        if p.startswith("slice "):
            head = p.split(":", 1)[0].removeprefix("slice ")
            if head.isdigit():
                out.append(int(head))
    return out


class _Layout:
    """Where each member row sits among the aggregate's slices, for fast slice sums.

    Rows are sorted by offset, so the rows sharing an offset are one contiguous
    block: a slice sum is one ``np.add.reduceat`` plus a shifted add per distinct
    offset (a handful), instead of a scatter over every cell.
    """

    def __init__(self, offsets: IntArray, width: int, n_cols: int) -> None:
        self.width = width
        self.n_cols = n_cols
        self.columns = offsets[:, None] + np.arange(width)[None, :]
        change = np.flatnonzero(np.r_[True, offsets[1:] != offsets[:-1]]) if len(offsets) else np.zeros(0, int)
        self.starts = change
        self.ends = np.append(change[1:], len(offsets))
        self.shifts = offsets[change].tolist()

    def sums(self, values: FloatArray) -> FloatArray:
        out = np.zeros(self.n_cols)
        if len(self.starts) == 0:
            return out
        blocks = np.add.reduceat(values, self.starts, axis=0)
        for block, d in zip(blocks, self.shifts, strict=True):
            out[d : d + self.width] += block
        return out

    def expand(self, per_slice: FloatArray) -> FloatArray:
        """The per-cell view of a per-slice vector (row i gets ``per_slice[offset_i:][:width]``)."""
        out = np.empty((int(self.ends[-1]) if len(self.ends) else 0, self.width))
        for s, e, d in zip(self.starts.tolist(), self.ends.tolist(), self.shifts, strict=True):
            out[s:e] = per_slice[d : d + self.width]
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
    order = np.argsort(offsets, kind="stable")
    lower, upper = lower[order], upper[order]
    total_lower, total_upper = total_lower[order], total_upper[order]
    padded = np.concatenate([target, np.zeros(width + int(offsets.max(initial=0)))])
    layout = _Layout(offsets[order], width, len(padded))
    col_lo, col_hi = layout.sums(lower), layout.sums(upper)
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
    x = _balance(padded, lower, upper, layout, total_lower, total_upper)
    if not _valid(x, padded, lower, upper, layout, total_lower, total_upper):
        x = _polish(x, padded, lower, upper, layout.columns, total_lower, total_upper)
    if not _valid(x, padded, lower, upper, layout, total_lower, total_upper):
        x = _solve_lp(padded, lower, upper, layout.columns, total_lower, total_upper)
    if not _valid(x, padded, lower, upper, layout, total_lower, total_upper):
        raise DisaggregationError("internal error: the member split failed verification")
    out = np.empty_like(x)
    out[order] = x
    return out


def _valid(
    x: FloatArray,
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    layout: _Layout,
    t_lo: FloatArray,
    t_hi: FloatArray,
) -> bool:
    if not np.isfinite(x).all():
        return False
    if (x < lower - 1e-9).any() or (x > upper + 1e-9).any():
        return False
    sums = layout.sums(x)
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
    layout: _Layout,
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
    column_sums = layout.sums
    col_lo, col_hi = column_sums(lower), column_sums(upper)
    theta = _ratio(target - col_lo, col_hi - col_lo)
    x = lower + layout.expand(theta) * (upper - lower)
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
        ask_up = _spread(need_up, up_room, layout.expand(give_cap))
        ask_down = _spread(need_down, down_room, layout.expand(take_cap))
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
            + ask_up * layout.expand(f_ask_up)
            - ask_down * layout.expand(f_ask_down)
            + free_up * layout.expand(f_free_up)
            - free_down * layout.expand(f_free_down)
        )
        x = np.clip(x, lower, upper)
    return _relay(x, target, lower, upper, layout, t_lo, t_hi, aim_lo, aim_hi)


def _relay(
    x: FloatArray,
    target: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    layout: _Layout,
    t_lo: FloatArray,
    t_hi: FloatArray,
    aim_lo: FloatArray,
    aim_hi: FloatArray,
) -> FloatArray:
    """Alternate "offenders to their bounds" with "restore the slices from everyone's room".

    Unlike the matched transfers this lets members without total slack pass energy
    from one slice to another (a chain of transfers), at the price of linear
    convergence; it runs only on what the matched transfers left.
    """
    column_sums = layout.sums
    previous = np.inf
    for _ in range(_RELAY_SWEEPS):
        totals = x.sum(axis=1)
        off_by = float(np.maximum(t_lo - totals, totals - t_hi).max(initial=0.0))
        if off_by <= 0.25 * _SUM_TOLERANCE or off_by > 0.95 * previous:
            break
        previous = off_by
        up_room = upper - x
        down_room = x - lower
        f_up = _ratio(np.maximum(aim_lo - totals, 0.0), up_room.sum(axis=1))
        f_down = _ratio(np.maximum(totals - aim_hi, 0.0), down_room.sum(axis=1))
        x = x + up_room * f_up[:, None] - down_room * f_down[:, None]
        totals = x.sum(axis=1)
        residual = target - column_sums(x)
        up_room = upper - x
        down_room = x - lower
        # Prefer members whose totals can absorb the change, then anyone with room.
        weighted = (
            up_room * _ratio(np.maximum(aim_hi - totals, 0.0), up_room.sum(axis=1))[:, None],
            down_room * _ratio(np.maximum(totals - aim_lo, 0.0), down_room.sum(axis=1))[:, None],
        )
        for up_w, down_w in (weighted, (up_room, down_room)):
            f_up_t = np.where(residual > 0, _ratio(residual, column_sums(up_w)), 0.0)
            f_down_t = np.where(residual < 0, _ratio(-residual, column_sums(down_w)), 0.0)
            x = x + up_w * layout.expand(f_up_t) - down_w * layout.expand(f_down_t)
            residual = target - column_sums(x)
            up_room = upper - x
            down_room = x - lower
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
    """The exact split as an LP over the cells that are not fixed; on infeasibility, name the slices."""
    m = lower.shape[0]
    n_cols = len(target)
    free = upper > lower
    cell_member, cell_slot = np.nonzero(free)
    cell_column = columns[cell_member, cell_slot]
    n_vars = len(cell_member)
    fixed_columns = np.bincount(columns[~free], weights=lower[~free], minlength=n_cols)
    fixed_rows = np.where(free, 0.0, lower).sum(axis=1)
    rhs = target - fixed_columns
    used = np.flatnonzero(np.bincount(cell_column, minlength=n_cols) > 0)
    unmet = np.ones(n_cols, dtype=bool)
    unmet[used] = False
    unmet &= np.abs(rhs) > _SUM_TOLERANCE
    k = len(used)

    def build(with_slack: bool) -> highspy.Highs:
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        lp = highspy.HighsLp()
        n_slack = 2 * k if with_slack else 0
        lp.num_col_ = n_vars + n_slack
        lp.num_row_ = k + m
        lp.col_cost_ = np.concatenate([np.zeros(n_vars), np.ones(n_slack)])
        lp.col_lower_ = np.concatenate([lower[free], np.zeros(n_slack)])
        lp.col_upper_ = np.concatenate([upper[free], np.full(n_slack, highspy.kHighsInf)])
        slice_row = np.full(n_cols, -1, dtype=np.int64)
        slice_row[used] = np.arange(k)
        index = np.stack([slice_row[cell_column], k + cell_member], axis=1).ravel()
        value = np.ones(2 * n_vars)
        starts = np.arange(0, 2 * n_vars + 1, 2)
        if with_slack:
            index = np.concatenate([index, np.arange(k), np.arange(k)])
            value = np.concatenate([value, np.ones(k), -np.ones(k)])
            starts = np.concatenate([starts, 2 * n_vars + 1 + np.arange(2 * k)])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = starts.astype(np.int32)
        lp.a_matrix_.index_ = index.astype(np.int32)
        lp.a_matrix_.value_ = value
        lp.row_lower_ = np.concatenate([rhs[used], t_lo - fixed_rows])
        lp.row_upper_ = np.concatenate([rhs[used], t_hi - fixed_rows])
        h.passModel(lp)
        return h

    if not unmet.any():
        h = build(with_slack=False)
        h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            x = np.where(free, 0.0, lower)
            x[cell_member, cell_slot] = np.asarray(h.getSolution().col_value)[:n_vars]
            return np.asarray(np.clip(x, lower, upper), dtype=np.float64)
    named = np.flatnonzero(unmet).tolist()
    if not named:
        h = build(with_slack=True)
        h.run()
        slack = np.asarray(h.getSolution().col_value)[n_vars:]
        named = [int(used[i]) for i in np.flatnonzero(slack[:k] + slack[k:] > _SUM_TOLERANCE)]
    listing = ", ".join(map(str, named[:10])) or "unknown"
    raise DisaggregationError(
        f"slice {listing}: no split of the aggregate energy in these slices meets every member's "
        "total-energy constraint",
        named,
    )
