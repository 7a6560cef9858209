"""A tiny bulk model builder for HiGHS: columns and rows arrive as numpy blocks.

Clearing models have a million columns; adding them one Python call at a time is
far too slow, so every block is kept as arrays and the whole matrix is handed to
``Highs.passModel`` once, in compressed-column form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
INF = float(highspy.kHighsInf)


def _floats(parts: list[FloatArray]) -> FloatArray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)


def _ints(parts: list[IntArray]) -> IntArray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


@dataclass
class LinearModel:
    """Minimise ``cost·x`` subject to ``row_lower <= A x <= row_upper`` and column bounds."""

    costs: list[FloatArray] = field(default_factory=list)
    ties: list[FloatArray] = field(default_factory=list)
    lowers: list[FloatArray] = field(default_factory=list)
    uppers: list[FloatArray] = field(default_factory=list)
    integer: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    row_lowers: list[FloatArray] = field(default_factory=list)
    row_uppers: list[FloatArray] = field(default_factory=list)
    entry_rows: list[IntArray] = field(default_factory=list)
    entry_cols: list[IntArray] = field(default_factory=list)
    entry_vals: list[FloatArray] = field(default_factory=list)
    num_cols: int = 0
    num_rows: int = 0

    def add_cols(
        self,
        cost: npt.ArrayLike,
        lower: npt.ArrayLike,
        upper: npt.ArrayLike,
        integer: bool = False,
        tie: npt.ArrayLike | None = None,
    ) -> IntArray:
        """Append columns; returns their indices.

        ``tie`` is a tiny extra cost that only breaks ties between equal costs: it
        steers the solution but is left out when the duals (prices) are computed.
        """
        c = np.asarray(cost, dtype=np.float64)
        n = c.shape[0]
        self.costs.append(c)
        self.ties.append(np.zeros(n) if tie is None else np.broadcast_to(np.asarray(tie, dtype=np.float64), (n,)))
        self.lowers.append(np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)).copy())
        self.uppers.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)).copy())
        self.integer.append(np.full(n, integer, dtype=np.bool_))
        idx = np.arange(self.num_cols, self.num_cols + n, dtype=np.int64)
        self.num_cols += n
        return idx

    def add_rows(self, lower: npt.ArrayLike, upper: npt.ArrayLike, count: int | None = None) -> IntArray:
        lo = np.atleast_1d(np.asarray(lower, dtype=np.float64))
        n = count if count is not None else lo.shape[0]
        self.row_lowers.append(np.broadcast_to(lo, (n,)).copy())
        self.row_uppers.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)).copy())
        idx = np.arange(self.num_rows, self.num_rows + n, dtype=np.int64)
        self.num_rows += n
        return idx

    def add_entries(self, rows: npt.ArrayLike, cols: npt.ArrayLike, vals: npt.ArrayLike) -> None:
        r = np.asarray(rows, dtype=np.int64)
        c = np.asarray(cols, dtype=np.int64)
        v = np.broadcast_to(np.asarray(vals, dtype=np.float64), r.shape).copy()
        self.entry_rows.append(r)
        self.entry_cols.append(c)
        self.entry_vals.append(v)

    def column_arrays(self) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        integer = np.concatenate(self.integer) if self.integer else np.zeros(0, dtype=np.bool_)
        return _floats(self.costs), _floats(self.lowers), _floats(self.uppers), integer

    def tie_costs(self) -> FloatArray:
        return _floats(self.ties)

    def row_bounds(self) -> tuple[FloatArray, FloatArray]:
        return _floats(self.row_lowers), _floats(self.row_uppers)

    def csc(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], FloatArray]:
        """Column-wise matrix with duplicate (row, col) entries summed and zeros dropped."""
        rows = _ints(self.entry_rows)
        cols = _ints(self.entry_cols)
        vals = _floats(self.entry_vals)
        key = cols * max(self.num_rows, 1) + rows
        order = np.argsort(key, kind="stable")
        key, vals = key[order], vals[order]
        unique, first = np.unique(key, return_index=True)
        summed = np.add.reduceat(vals, first) if vals.size else vals
        keep = summed != 0.0
        unique, summed = unique[keep], summed[keep]
        ucols = unique // max(self.num_rows, 1)
        urows = unique % max(self.num_rows, 1)
        start = np.zeros(self.num_cols + 1, dtype=np.int64)
        np.cumsum(np.bincount(ucols, minlength=self.num_cols), out=start[1:])
        return start.astype(np.int32), urows.astype(np.int32), summed.astype(np.float64)


@dataclass
class Solution:
    status: str
    optimal: bool
    values: FloatArray
    row_duals: FloatArray
    objective: float
    mip_gap: float
    is_mip: bool


def solve(
    model: LinearModel, mip_rel_gap: float = 1e-4, time_limit_s: float | None = None
) -> Solution:
    """Solve ``model``; for a MIP, re-solve the LP with integers fixed to get prices (duals)."""
    price_cost, lower, upper, integer = model.column_arrays()
    cost = price_cost + model.tie_costs()
    start, index, value = model.csc()
    row_lower, row_upper = model.row_bounds()
    is_mip = bool(integer.any())
    h = _passed(model, cost, lower, upper, integer if is_mip else None, row_lower, row_upper, start, index, value)
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    has_solution = status == highspy.HighsModelStatus.kOptimal or (
        is_mip and info.primal_solution_status == 2  # kSolutionStatusFeasible
    )
    if not has_solution:
        empty = np.zeros(0)
        return Solution(h.modelStatusToString(status), False, empty, empty, float("nan"), float("inf"), is_mip)
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    objective = float(info.objective_function_value)
    gap = float(info.mip_gap) if is_mip else 0.0
    if is_mip:
        lo, hi = lower.copy(), upper.copy()
        lo[integer] = hi[integer] = np.round(values[integer])
        fixed = _passed(model, cost, lo, hi, None, row_lower, row_upper, start, index, value)
        fixed.run()
        if fixed.getModelStatus() != highspy.HighsModelStatus.kOptimal:  # pragma: no cover
            return Solution(h.modelStatusToString(status), False, values, np.zeros(model.num_rows), objective,
                            gap, is_mip)
        values = np.asarray(fixed.getSolution().col_value, dtype=np.float64)
        h, lower, upper = fixed, lo, hi
    duals = np.asarray(h.getSolution().row_dual, dtype=np.float64)
    if np.any(cost != price_cost):
        # Re-price from the tie-broken optimal basis with the true costs: same quantities,
        # prices without the tie-break's traces.
        clean = _passed(model, price_cost, lower, upper, None, row_lower, row_upper, start, index, value)
        clean.setOptionValue("presolve", "off")
        clean.setBasis(h.getBasis())
        clean.run()
        if clean.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            duals = np.asarray(clean.getSolution().row_dual, dtype=np.float64)
    optimal = status == highspy.HighsModelStatus.kOptimal
    return Solution(h.modelStatusToString(status), optimal, values, duals, objective, gap, is_mip)


def _passed(
    model: LinearModel,
    cost: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    integer: npt.NDArray[np.bool_] | None,
    row_lower: FloatArray,
    row_upper: FloatArray,
    start: npt.NDArray[np.int32],
    index: npt.NDArray[np.int32],
    value: FloatArray,
) -> highspy.Highs:
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    # An empty integrality array makes passModel build an empty model: always pass one per column.
    integrality = integer.astype(np.int32) if integer is not None else np.zeros(model.num_cols, dtype=np.int32)
    h.passModel(
        int(model.num_cols),
        int(model.num_rows),
        int(index.shape[0]),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        cost,
        lower,
        upper,
        row_lower,
        row_upper,
        start,
        index,
        value,
        integrality,
    )
    return h
