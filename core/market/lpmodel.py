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
    rounds: int = 0


@dataclass
class _Problem:
    """The model as flat arrays (CSC matrix), ready for HiGHS or for column selection."""

    price_cost: FloatArray
    cost: FloatArray  # price_cost plus tie-breaks: what is optimised
    lower: FloatArray
    upper: FloatArray
    integer: npt.NDArray[np.bool_]
    row_lower: FloatArray
    row_upper: FloatArray
    start: npt.NDArray[np.int32]
    index: npt.NDArray[np.int32]
    value: FloatArray

    @classmethod
    def of(cls, model: LinearModel) -> _Problem:
        price_cost, lower, upper, integer = model.column_arrays()
        start, index, value = model.csc()
        row_lower, row_upper = model.row_bounds()
        return cls(price_cost, price_cost + model.tie_costs(), lower, upper, integer, row_lower, row_upper,
                   start, index, value)

    @property
    def num_cols(self) -> int:
        return int(self.cost.shape[0])

    def entry_cols(self) -> IntArray:
        return np.repeat(np.arange(self.num_cols, dtype=np.int64), np.diff(self.start))

    def submatrix(self, cols: IntArray) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], FloatArray]:
        """CSC arrays of the columns ``cols`` (``start`` has one entry per column plus the end)."""
        counts = np.diff(self.start)[cols].astype(np.int64)
        first = self.start[cols].astype(np.int64)
        offsets = np.repeat(first - (np.cumsum(counts) - counts), counts)
        take = offsets + np.arange(int(counts.sum()), dtype=np.int64)
        start = np.zeros(cols.shape[0] + 1, dtype=np.int32)
        np.cumsum(counts, out=start[1:])
        return start, self.index[take], self.value[take]

    def highs(self, cost: FloatArray, lower: FloatArray, upper: FloatArray, integer: bool = False,
              cols: IntArray | None = None, row_shift: FloatArray | None = None) -> highspy.Highs:
        """A HiGHS instance for all columns, or only ``cols`` with rows shifted by the others' fixed values."""
        start, index, value = self.start, self.index, self.value
        if cols is not None:
            start, index, value = self.submatrix(cols)
            cost, lower, upper = cost[cols], lower[cols], upper[cols]
        row_lower, row_upper = self.row_lower, self.row_upper
        if row_shift is not None:
            row_lower, row_upper = row_lower - row_shift, row_upper - row_shift
        flags = (self.integer if cols is None else self.integer[cols]) if integer else None
        return _passed(cost, lower, upper, flags, row_lower, row_upper, start, index, value)


OPTIMAL = highspy.HighsModelStatus.kOptimal
SIFT_MIN_COLS = 20_000
"""Below this many columns HiGHS solves the whole model (MIP included) directly."""
SIFT_BAND = 0.005
"""Reduced-cost band (objective units per column unit) kept in the working set around the price guess."""
REDUCED_COST_TOL = 1e-7


def solve(
    model: LinearModel,
    mip_rel_gap: float = 1e-4,
    time_limit_s: float | None = None,
    dual_guess: FloatArray | None = None,
    sift_min_cols: int = SIFT_MIN_COLS,
) -> Solution:
    """Solve ``model``; prices (row duals) come from the LP with any integers fixed.

    Large models are solved by sifting (a working set of columns whose reduced cost
    is near zero under ``dual_guess``, grown until no column outside prices in),
    and a MIP by rounding the sifted relaxation down and re-solving: its gap to the
    relaxation bound is proven. When that gap misses ``mip_rel_gap``, or rounding
    is infeasible, HiGHS's branch and bound solves the full model.
    """
    problem = _Problem.of(model)
    if problem.num_cols >= sift_min_cols:
        sifted = _solve_sifted(problem, mip_rel_gap, dual_guess)
        if sifted is not None:
            return sifted
    return _solve_direct(problem, mip_rel_gap, time_limit_s)


def _clean_duals(h: highspy.Highs, price_cost: FloatArray, tie_broken: FloatArray) -> FloatArray:
    """Duals of the optimal basis under the true costs: the tie-break leaves no trace in prices."""
    duals = np.asarray(h.getSolution().row_dual, dtype=np.float64)
    if not np.any(price_cost != tie_broken):
        return duals
    cols = np.arange(price_cost.shape[0], dtype=np.int32)
    h.changeColsCost(int(cols.shape[0]), cols, price_cost)
    h.setOptionValue("presolve", "off")
    h.run()
    if h.getModelStatus() == OPTIMAL:
        duals = np.asarray(h.getSolution().row_dual, dtype=np.float64)
    return duals


def _solve_direct(p: _Problem, mip_rel_gap: float, time_limit_s: float | None) -> Solution:
    is_mip = bool(p.integer.any())
    h = p.highs(p.cost, p.lower, p.upper, integer=is_mip)
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    has_solution = status == OPTIMAL or (is_mip and info.primal_solution_status == 2)  # 2: feasible
    if not has_solution:
        empty = np.zeros(0)
        return Solution(h.modelStatusToString(status), False, empty, empty, float("nan"), float("inf"), is_mip)
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    objective = float(info.objective_function_value)
    gap = float(info.mip_gap) if is_mip else 0.0
    if is_mip:
        lo, hi = p.lower.copy(), p.upper.copy()
        lo[p.integer] = hi[p.integer] = np.round(values[p.integer])
        fixed = p.highs(p.cost, lo, hi)
        fixed.run()
        if fixed.getModelStatus() != OPTIMAL:  # pragma: no cover - a MIP solution's fixing stays feasible
            return Solution(h.modelStatusToString(status), False, values, np.zeros(p.row_lower.shape[0]),
                            objective, gap, is_mip)
        values = np.asarray(fixed.getSolution().col_value, dtype=np.float64)
        h = fixed
    duals = _clean_duals(h, p.price_cost, p.cost)
    return Solution(h.modelStatusToString(status), status == OPTIMAL, values, duals, objective, gap, is_mip)


@dataclass
class _Sifted:
    values: FloatArray
    objective: float
    highs: highspy.Highs
    work: IntArray
    duals: FloatArray
    rounds: int


def _sift(p: _Problem, lower: FloatArray, upper: FloatArray, guess: FloatArray,
          keep: npt.NDArray[np.bool_]) -> _Sifted | None:
    """Optimal LP over all columns by solving it on a growing working set (None if infeasible).

    One HiGHS instance lives through all rounds: new columns are appended and the
    rows re-shifted, so every round warm-starts from the previous basis.
    """
    entry_cols = p.entry_cols()
    n_rows = p.row_lower.shape[0]

    def reduced(y: FloatArray) -> FloatArray:
        return p.cost - np.bincount(entry_cols, weights=p.value * y[p.index], minlength=p.num_cols)

    rc = reduced(guess)
    band = SIFT_BAND
    work = keep | ~np.isfinite(upper) | (np.abs(rc) <= band) | (lower == upper)
    in_model = np.zeros(p.num_cols, dtype=np.bool_)
    order = np.zeros(0, dtype=np.int64)
    h: highspy.Highs | None = None
    all_rows = np.arange(n_rows, dtype=np.int32)
    for rounds in range(1, 100):
        at_ub = ~work & (rc < 0)
        fixed_x = np.where(at_ub, upper, lower)
        fixed_x[work] = 0.0
        shift = np.asarray(np.bincount(p.index, weights=p.value * fixed_x[entry_cols], minlength=n_rows),
                           dtype=np.float64)
        new = np.nonzero(work & ~in_model)[0]
        if h is None:
            h = p.highs(p.cost, lower, upper, cols=new, row_shift=shift)
        else:
            h.changeRowsBounds(n_rows, all_rows, p.row_lower - shift, p.row_upper - shift)  # type: ignore[attr-defined]
            if new.size:
                start, index, value = p.submatrix(new)
                h.addCols(int(new.size), p.cost[new], lower[new], upper[new], int(index.size),
                          start[:-1], index, value)
        in_model[new] = True
        order = np.concatenate((order, new))
        h.run()
        if h.getModelStatus() != OPTIMAL:
            if at_ub.any():  # the guess fixed too much at its upper bound: widen the band, at last free it all
                band *= 4
                work |= (np.abs(rc) <= band) if band < 1.0 else at_ub
                continue
            return None
        solution = h.getSolution()
        y = np.asarray(solution.row_dual, dtype=np.float64)
        rc = reduced(y)
        wrong = ~work & (((rc < -REDUCED_COST_TOL) & ~at_ub) | ((rc > REDUCED_COST_TOL) & at_ub))
        if not wrong.any():
            x = fixed_x
            x[order] = np.asarray(solution.col_value, dtype=np.float64)
            return _Sifted(x, float(p.cost @ x), h, order, y, rounds)
        work |= wrong | (np.abs(rc) <= band / 4)
    return None  # pragma: no cover - the working set only grows, so this is not reached in practice


def _solve_sifted(p: _Problem, mip_rel_gap: float, dual_guess: FloatArray | None) -> Solution | None:
    guess = dual_guess if dual_guess is not None else np.zeros(p.row_lower.shape[0])
    relaxed = _sift(p, p.lower, p.upper, guess, p.integer)
    if relaxed is None:
        return None
    if not p.integer.any():
        duals = _full_duals(p, relaxed)
        return Solution("Optimal", True, relaxed.values, duals, relaxed.objective, 0.0, False, relaxed.rounds)
    lo, hi = p.lower.copy(), p.upper.copy()
    lo[p.integer] = hi[p.integer] = np.floor(relaxed.values[p.integer] + 1e-9)
    fixed = _sift(p, lo, hi, relaxed.duals, p.integer)
    if fixed is None:
        return None
    gap = (fixed.objective - relaxed.objective) / max(abs(fixed.objective), 1e-9)
    if gap > mip_rel_gap:
        return None
    duals = _full_duals(p, fixed)
    return Solution("Optimal", True, fixed.values, duals, fixed.objective, max(gap, 0.0), True,
                    relaxed.rounds + fixed.rounds)


def _full_duals(p: _Problem, sifted: _Sifted) -> FloatArray:
    return _clean_duals(sifted.highs, p.price_cost[sifted.work], p.cost[sifted.work])


def _passed(
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
    num_cols = int(cost.shape[0])
    # An empty integrality array makes passModel build an empty model: always pass one per column.
    integrality = integer.astype(np.int32) if integer is not None else np.zeros(num_cols, dtype=np.int32)
    h.passModel(
        num_cols,
        int(row_lower.shape[0]),
        int(index.shape[0]),
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        cost,
        lower,
        upper,
        row_lower,
        row_upper,
        start.astype(np.int32),
        index.astype(np.int32),
        value,
        integrality,
    )
    return h
