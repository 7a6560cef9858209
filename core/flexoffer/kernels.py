"""Compiled single-pass kernels for the aggregation hot path, with numba when present.

Why the core takes numba (beyond DESIGN §1's numpy/highspy/pydantic): the issue asks
for a vectorised aggregation at least 50x faster per offer than a pure-Python one.
numpy can only sum the ``[n, slices]`` bounds per bin by first *gathering* the rows
into bin order (a second full copy through the cache) and by running several
separate reductions over every block; a compiled loop reads each row once, in the
order it lies in memory, and adds it straight into its bin's small (cache-resident)
aggregate arrays, computing the row statistics with one read as well. That roughly
halves the memory traffic of the two passes that dominate the run time.

numba stays optional at run time: :func:`jit_enabled` is False when it is not
installed or when ``FLEXHUB_NO_JIT=1`` is set (tests use that to compare both
paths), and the callers then take their pure-numpy path, which gives the same
aggregates (equal member lists, bounds equal up to rounding). Compilation happens
on a kernel's first call (1-2 s for all of them) and is cached on disk (numba's
``cache=True``), so later processes only load the machine code (~0.1 s); a
server warms up at start in a background thread (:func:`warm_up`).

Kernels hold no state; the compiled functions are module constants.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

numba: Any
try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the numpy path usable without it
    numba = None


def jit_enabled() -> bool:
    """True when the compiled kernels should be used (numba importable, not disabled)."""
    return numba is not None and os.environ.get("FLEXHUB_NO_JIT", "") not in ("1", "true", "yes")


_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
"""Reassociation lets LLVM vectorise the row reductions (else each sum is one latency-bound
chain); no ``nnan``/``ninf``, so NaN and infinite bounds still propagate and get refused.
Only for loops whose result may move by rounding: the fused kernel's decisions (is a
total binding, is a bin's kept range large enough) must be evaluated exactly as the
numpy path writes them, e.g. ``(1 - rise) - fall`` (exactly >= 0 after the clip), which
reassociation would turn into ``1 - (rise + fall)`` (possibly < 0)."""


def _compile(function: Callable[..., Any], fast: bool = True) -> Callable[..., Any]:
    if numba is None:  # pragma: no cover
        return function
    flags = _FASTMATH if fast else False
    options: dict[str, Any] = {"nogil": True, "fastmath": flags, "boundscheck": False}
    try:
        # On-disk cache: the machine code is kept in NUMBA_CACHE_DIR when set, else beside
        # the module (``__pycache__``), else (read-only package) in the user's cache dir;
        # a new process then loads it (~0.1 s) instead of compiling for 1.5-3 s.
        compiled: Callable[..., Any] = numba.njit(cache=True, **options)(function)
    except RuntimeError:  # no writable cache location at all: compile per process, in memory
        compiled = numba.njit(cache=False, **options)(function)
    return compiled


def _row_sums(lower: FloatArray, upper: FloatArray, order_tolerance: float) -> tuple[float, float, int]:
    """One row's sums and how many of its cells have upper < lower - tolerance (or NaN)."""
    s_lo = 0.0
    s_hi = 0.0
    crossed = 0
    for j in range(lower.shape[0]):
        lo = lower[j]
        hi = upper[j]
        s_lo += lo
        s_hi += hi
        crossed += not hi - lo >= -order_tolerance
    return s_lo, s_hi, crossed


def _width_misfits(lower: FloatArray, upper: FloatArray, scale: float, omega: FloatArray, limit: float) -> int:
    """How many j of one row have |(upper - lower)[j] - scale * omega[j]| > limit.

    A count rather than the largest misfit: an integer sum vectorises as it is, while a
    floating-point maximum is one long dependency chain unless NaN handling is given up.
    """
    off = 0
    for j in range(lower.shape[0]):
        off += abs((upper[j] - lower[j]) - scale * omega[j]) > limit
    return off


def _add_row(lower: FloatArray, upper: FloatArray, out_lower: FloatArray, out_upper: FloatArray) -> None:
    """Add one row's bounds into a bin's (equally long) slice of the sums."""
    for j in range(lower.shape[0]):
        out_lower[j] += lower[j]
        out_upper[j] += upper[j]


def _add_mixed_row(
    lower: FloatArray,
    upper: FloatArray,
    keep_lo: float,
    rise: float,
    fall: float,
    keep_hi: float,
    out_lower: FloatArray,
    out_upper: FloatArray,
) -> None:
    """Add one row's shrunk bounds: ``keep_lo lower + rise upper`` and ``fall lower + keep_hi upper``."""
    for j in range(lower.shape[0]):
        lo = lower[j]
        hi = upper[j]
        out_lower[j] += keep_lo * lo + rise * hi
        out_upper[j] += fall * lo + keep_hi * hi


# The per-row helpers take 1-D row views: contiguous slices spare the compiled loops the
# 2-D index arithmetic and let them vectorise (the fused pass runs about 15 % faster).
# Adding is elementwise, so it needs no reassociation; it stays exact for bit-equal sums.
row_sums_kernel = _compile(_row_sums)
width_misfits_kernel = _compile(_width_misfits)
add_row_kernel = _compile(_add_row, fast=False)
add_mixed_row_kernel = _compile(_add_mixed_row, fast=False)


def _row_stats_kernel(
    lower: FloatArray,
    upper: FloatArray,
    probe: FloatArray,
    directions: bool,
    order_tolerance: float,
    lo_sum: FloatArray,
    hi_sum: FloatArray,
    projection: FloatArray,
    negative: FloatArray,
    positive: FloatArray,
) -> float:
    """Row sums, probe projection of the widths, direction sums.

    Returns how many cells have ``upper < lower - order_tolerance`` or a NaN (a count,
    not a minimum, so that the loop vectorises; NaN rows are refused by their sums).
    """
    n, width = lower.shape
    crossed = 0
    for i in range(n):
        s_lo = 0.0
        s_hi = 0.0
        p_lo = 0.0
        p_hi = 0.0
        neg = 0.0
        pos = 0.0
        for j in range(width):
            lo = lower[i, j]
            hi = upper[i, j]
            s_lo += lo
            s_hi += hi
            p_lo += lo * probe[j]
            p_hi += hi * probe[j]
            crossed += not hi - lo >= -order_tolerance
            if directions:
                neg += min(lo, 0.0)
                pos += max(hi, 0.0)
        lo_sum[i] = s_lo
        hi_sum[i] = s_hi
        projection[i] = p_hi - p_lo
        if directions:
            negative[i] = neg
            positive[i] = pos
    return crossed


def _box_sums_kernel(
    lower: FloatArray,
    upper: FloatArray,
    rows: IntArray,
    bin_of_row: IntArray,
    offset_of_row: IntArray,
    mixed: bool,
    lo_from_lo: FloatArray,
    lo_from_hi: FloatArray,
    hi_from_lo: FloatArray,
    hi_from_hi: FloatArray,
    omega: FloatArray,
    omega_index: IntArray,
    spread: FloatArray,
    tolerance: float,
    out_lower: FloatArray,
    out_upper: FloatArray,
    failed: BoolArray,
) -> None:
    """Add each of ``rows`` (ascending: memory order) into its bin at its offset.

    With ``mixed`` the summed bounds are per-row weighted mixes of the row's bounds
    (``lower' = a lower + b upper``, ``upper' = c lower + d upper``: the inner-totals
    shrink). A row whose bin has a reference shape (``omega_index >= 0``) and some
    width is checked to be a scaled copy of it; a bin with a row that is not is
    flagged in ``failed``.
    """
    width = lower.shape[1]
    for k in range(rows.shape[0]):
        i = rows[k]
        b = bin_of_row[i]
        o = offset_of_row[i]
        if mixed:
            a_lo = lo_from_lo[i]
            b_lo = lo_from_hi[i]
            a_hi = hi_from_lo[i]
            b_hi = hi_from_hi[i]
            for j in range(width):
                lo = lower[i, j]
                hi = upper[i, j]
                out_lower[b, o + j] += a_lo * lo + b_lo * hi
                out_upper[b, o + j] += a_hi * lo + b_hi * hi
        else:
            for j in range(width):
                out_lower[b, o + j] += lower[i, j]
                out_upper[b, o + j] += upper[i, j]
        q = omega_index[b]
        s = spread[i]
        if q >= 0 and s > 0.0 and not failed[b]:
            off = 0.0
            for j in range(width):
                off = max(off, abs((upper[i, j] - lower[i, j]) - s * omega[q, j]))
            if off > tolerance * s:
                failed[b] = True


def _shared_bins_kernel(
    order: IntArray,
    bin_starts: IntArray,
    offsets: IntArray,
    spread: FloatArray,
    projection: FloatArray,
    rise: FloatArray,
    fall: FloatArray,
    kept_share: float,
    candidate: BoolArray,
    rise_bin: FloatArray,
    fall_bin: FloatArray,
    ref: IntArray,
) -> None:
    """Per bin, the cheap filter for bins of scaled copies of one shape (see ``_InnerPlan``).

    ``order``/``offsets`` are in bin order, the per-row columns in row order. Fills the
    bin's largest rise/fall of its moving rows, its reference position (the first
    moving row, 0 if none) and whether it is a candidate for sharing one shrink.
    """
    n_bins = bin_starts.shape[0]
    n = order.shape[0]
    for b in range(n_bins):
        s = bin_starts[b]
        e = bin_starts[b + 1] if b + 1 < n_bins else n
        first = -1
        shape_ref = 0.0
        offset_ref = 0
        ok = True
        binding = False
        r_max = 0.0
        f_max = 0.0
        kept = 0.0
        spread_sum = 0.0
        for p in range(s, e):
            i = order[p]
            w = spread[i]
            r = rise[i]
            f = fall[i]
            kept += w * (1.0 - r - f)
            spread_sum += w
            if not w > 0.0:
                continue
            shape = projection[i] / w
            if first < 0:
                first = p
                shape_ref = shape
                offset_ref = offsets[p]
            elif offsets[p] != offset_ref or abs(shape - shape_ref) > 1e-9 * max(1.0, abs(shape_ref)):
                ok = False
            if r > 0.0 or f > 0.0:
                binding = True
            r_max = max(r_max, r)
            f_max = max(f_max, f)
        rise_bin[b] = r_max
        fall_bin[b] = f_max
        ref[b] = first if first >= 0 else 0
        candidate[b] = (
            first >= 0
            and ok
            and binding
            and r_max + f_max <= 1.0
            and spread_sum * (1.0 - r_max - f_max) >= kept_share * kept
        )


def _direction_kernel(lower: FloatArray, upper: FloatArray, direction: IntArray, fixed: BoolArray) -> None:
    """Per row 0 (every lower bound >= 0), else 1 (every upper bound <= 0), else 2; and
    whether the row is fixed (every upper bound equals its lower one).

    A fixed row's sums are equal, so it has no width: :func:`first_moving_kernel` then
    need not read it. NaN counts against all three (the row is refused later).
    """
    n, width = lower.shape
    for i in range(n):
        lo_row = lower[i]
        hi_row = upper[i]
        below = 0
        loose = 0
        for j in range(width):
            below += not lo_row[j] >= 0.0
            loose += not hi_row[j] == lo_row[j]
        fixed[i] = loose == 0
        if below == 0:
            direction[i] = 0
            continue
        above = 0
        for j in range(width):
            above += not hi_row[j] <= 0.0
        direction[i] = 1 if above == 0 else 2


BIN_KEPT, BIN_SPREAD, BIN_RISE, BIN_FALL, BIN_RISE_WIDTH, BIN_FALL_WIDTH, BIN_REF, BIN_BINDING = range(8)
"""Columns of the fused pass's per-bin figures: kept and total energy range of the moving
rows, largest rise and fall, sums of rise * W and fall * W, the reference offset (or
:data:`NO_REF`/:data:`NOT_SAME_SHAPE`) and whether any total binds (1.0)."""
NO_REF = -1.0
"""``BIN_REF`` of a bin without a moving row."""
NOT_SAME_SHAPE = -2.0
"""``BIN_REF`` of a bin with a moving row off its reference's offset or shape."""


def _fused_sums_kernel(
    lower: FloatArray,
    upper: FloatArray,
    bin_of_row: IntArray,
    offset_of_row: IntArray,
    total_lower: FloatArray,
    total_upper: FloatArray,
    earliest: IntArray,
    latest: IntArray,
    inner: bool,
    tolerance: float,
    order_tolerance: float,
    out_lower: FloatArray,
    out_upper: FloatArray,
    lo_sum: FloatArray,
    hi_sum: FloatArray,
    t_lower: FloatArray,
    t_upper: FloatArray,
    rise: FloatArray,
    fall: FloatArray,
    ref_row: IntArray,
    omega: FloatArray,
    bin_stats: FloatArray,
    first_row: int,
    end_row: int,
) -> float:
    """The per-row work of an aggregation without tariffs/baselines in ONE read of the bounds.

    Only rows ``first_row <= i < end_row`` are handled, into the sums and figures given:
    the caller splits the rows in two halves with their own sums and figures and adds
    them up after, so two threads (the kernel releases the GIL) each stream through one
    contiguous half of the bounds, and one thread gives the same result bit for bit.

    Each row, in memory order, is summed (the row stays in L1 meanwhile), its
    effective totals (as ``clipped_totals``) and inner-totals fractions are worked out
    (as ``shrink_fractions``; zero unless ``inner``), and its shrunk bounds are added
    into its bin at its offset.

    A bin whose moving members are scaled copies of one shape keeps their boxes
    instead; that is only known once all its rows are seen, so the pass also keeps,
    per bin, what the caller needs to undo the shrink exactly for such bins: whether
    every moving row sits at the offset of the bin's reference row ``ref_row`` (its
    first moving row in memory order, from :func:`first_moving_kernel`) with widths
    within ``tolerance`` of the reference's normalised widths ``omega``, and
    ``sum(rise * W)``/``sum(fall * W)`` (the shrink removed ``omega * sum(rise * W)``
    from the lower sums of such a bin). Plus the largest fractions, the kept and total
    ranges and whether any total binds. These running figures share one row of
    ``bin_stats`` per bin (columns ``BIN_*``; the caller starts ``BIN_REF`` at the
    reference's offset, or ``NO_REF``, and the rest at 0): one cache line per row
    visited instead of one per figure.
    Returns how many cells have ``upper < lower - order_tolerance`` or a NaN (a count,
    not a minimum, so that the loop vectorises) plus how many rows admit no schedule
    by their sums, totals or start window (the checks of ``_validate``): zero when
    every row passes.
    """
    width = lower.shape[1]
    crossed = 0
    for i in range(first_row, end_row):
        b = bin_of_row[i]
        o = offset_of_row[i]
        lo_row = lower[i]
        hi_row = upper[i]
        s_lo, s_hi, bad = row_sums_kernel(lo_row, hi_row, order_tolerance)
        crossed += bad
        lo_sum[i] = s_lo
        hi_sum[i] = s_hi
        w = s_hi - s_lo
        t_lo = total_lower[i]
        t_lo = s_lo if np.isnan(t_lo) else max(t_lo, s_lo)
        t_hi = total_upper[i]
        t_hi = s_hi if np.isnan(t_hi) else min(t_hi, s_hi)
        t_lower[i] = t_lo
        t_upper[i] = t_hi
        if not (np.isfinite(s_lo) and np.isfinite(s_hi)) or t_lo > t_hi + order_tolerance or earliest[i] > latest[i]:
            crossed += 1
        r = 0.0
        f = 0.0
        if inner and w > 0.0:
            r = min(max((t_lo - s_lo) / w, 0.0), 1.0)
            f = min(max((s_hi - t_hi) / w, 0.0), 1.0 - r)
        rise[i] = r
        fall[i] = f
        if r > 0.0 or f > 0.0:
            add_mixed_row_kernel(lo_row, hi_row, 1.0 - r, r, f, 1.0 - f, out_lower[b, o : o + width],
                                 out_upper[b, o : o + width])
        else:
            add_row_kernel(lo_row, hi_row, out_lower[b, o : o + width], out_upper[b, o : o + width])
        if not inner:
            continue
        stats = bin_stats[b]  # one cache line per bin for all its running figures
        stats[BIN_KEPT] += w * (1.0 - r - f)
        stats[BIN_SPREAD] += w
        if not w > 0.0:
            continue
        stats[BIN_RISE] = max(stats[BIN_RISE], r)
        stats[BIN_FALL] = max(stats[BIN_FALL], f)
        stats[BIN_RISE_WIDTH] += r * w
        stats[BIN_FALL_WIDTH] += f * w
        if r > 0.0 or f > 0.0:
            stats[BIN_BINDING] = 1.0
        ref = stats[BIN_REF]
        if ref >= 0.0 and i != ref_row[b] and (
            o != ref or width_misfits_kernel(lo_row, hi_row, w, omega[b], tolerance * w) > 0
        ):
            stats[BIN_REF] = NOT_SAME_SHAPE
    return crossed


def _first_moving_kernel(
    lower: FloatArray,
    upper: FloatArray,
    bin_of_row: IntArray,
    fixed: BoolArray,
    ref_row: IntArray,
    ref_width: FloatArray,
) -> None:
    """Per bin its first row in memory order with some width (``sum(upper - lower) > 0``)
    and that width; ``ref_row`` starts at -1, which stays for a bin of fixed rows.

    Only rows of bins still without one are summed, and none known to be ``fixed`` (an
    empty ``fixed``: none known), so this pass reads little more than ``bin_of_row``.
    """
    known = fixed.shape[0] > 0
    for i in range(bin_of_row.shape[0]):
        b = bin_of_row[i]
        if ref_row[b] >= 0 or (known and fixed[i]):
            continue
        s_lo, s_hi, _ = row_sums_kernel(lower[i], upper[i], 0.0)
        if s_hi - s_lo > 0.0:
            ref_row[b] = i
            ref_width[b] = s_hi - s_lo


def _sorted_text_kernel(codes: NDArray[np.uint32], by_text: IntArray, none: NDArray[np.uint32], ranks: IntArray) -> int:
    """Each row's rank from the sort permutation ``by_text`` of fixed-width text rows ``codes``.

    Returns 1 if some row reads ``none`` ("None": maybe a missing id), 2 if two neighbours
    in sorted order are equal (a duplicate), 3 if both, else 0: the checks of ``_id_ranks``
    without gathering the sorted text.
    """
    n, width = codes.shape
    flags = 0
    previous = -1
    for k in range(n):
        i = by_text[k]
        ranks[i] = k
        is_none = True
        for j in range(width):
            if codes[i, j] != none[j]:
                is_none = False
                break
        if is_none:
            flags |= 1
        if previous >= 0:
            same = True
            for j in range(width):
                if codes[i, j] != codes[previous, j]:
                    same = False
                    break
            if same:
                flags |= 2
        previous = i
    return flags


def _bin_totals_kernel(
    bin_of_row: IntArray,
    lo_sum: FloatArray,
    hi_sum: FloatArray,
    t_lower: FloatArray,
    t_upper: FloatArray,
    inner: bool,
    rise: FloatArray,
    fall: FloatArray,
    shared: BoolArray,
    rise_bin: FloatArray,
    fall_bin: FloatArray,
    box_lower: FloatArray,
    box_upper: FloatArray,
    total_lower: FloatArray,
    total_upper: FloatArray,
) -> None:
    """Per bin the sum of its rows' totals, in memory order (as ``np.bincount`` adds them).

    Without ``inner`` the rows' totals are ``t_lower``/``t_upper``. With it they are the
    inner boxes' totals (``_InnerPlan.bounds``): a moving row of a ``shared`` bin takes
    its bin's largest fractions and keeps its box (its ``rise``/``fall`` are zeroed in
    place), any other row its own fractions; ``box_lower``/``box_upper`` get them.
    """
    for i in range(bin_of_row.shape[0]):
        b = bin_of_row[i]
        if inner:
            spread = hi_sum[i] - lo_sum[i]
            if shared[b] and spread > 0.0:
                lo = lo_sum[i] + rise_bin[b] * spread
                hi = hi_sum[i] - fall_bin[b] * spread
                rise[i] = 0.0
                fall[i] = 0.0
            else:
                lo = lo_sum[i] + rise[i] * spread
                hi = hi_sum[i] - fall[i] * spread
            box_lower[i] = lo
            box_upper[i] = hi
        else:
            lo = t_lower[i]
            hi = t_upper[i]
        total_lower[b] += lo
        total_upper[b] += hi


def _bin_frames_kernel(
    bin_of_row: IntArray,
    anchor: IntArray,
    earliest: IntArray,
    latest: IntArray,
    length: IntArray,
    accept: IntArray,
    assign: IntArray,
    anchor0: IntArray,
    shift_lo: IntArray,
    shift_hi: IntArray,
    end: IntArray,
    accept_bin: IntArray,
    assign_bin: IntArray,
    offset_of_row: IntArray,
) -> None:
    """Per bin the time frame (least anchor, start-window shifts, last slice end, deadlines),
    then each row's offset from its bin's anchor; rows read in memory order, no gathers."""
    n = bin_of_row.shape[0]
    big = np.iinfo(np.int64).max
    small = np.iinfo(np.int64).min
    anchor0[:] = big
    shift_lo[:] = small
    shift_hi[:] = big
    end[:] = small
    accept_bin[:] = big
    assign_bin[:] = big
    for i in range(n):
        b = bin_of_row[i]
        a = anchor[i]
        anchor0[b] = min(anchor0[b], a)
        shift_lo[b] = max(shift_lo[b], earliest[i] - a)
        shift_hi[b] = min(shift_hi[b], latest[i] - a)
        end[b] = max(end[b], a + length[i])
        accept_bin[b] = min(accept_bin[b], accept[i])
        assign_bin[b] = min(assign_bin[b], assign[i])
    for i in range(n):
        offset_of_row[i] = anchor[i] - anchor0[bin_of_row[i]]


row_stats_kernel = _compile(_row_stats_kernel)
bin_frames_kernel = _compile(_bin_frames_kernel)
direction_kernel = _compile(_direction_kernel)
fused_sums_kernel = _compile(_fused_sums_kernel, fast=False)
bin_totals_kernel = _compile(_bin_totals_kernel, fast=False)
first_moving_kernel = _compile(_first_moving_kernel, fast=False)
sorted_text_kernel = _compile(_sorted_text_kernel)
box_sums_kernel = _compile(_box_sums_kernel)
shared_bins_kernel = _compile(_shared_bins_kernel, fast=False)


def warm_up() -> None:
    """Compile the kernels for the dtypes/layouts the aggregation uses, with a tiny call."""
    if not jit_enabled():
        return
    lower = np.zeros((2, 3))
    upper = np.ones((2, 3))
    one = np.ones(2)
    row_stats_kernel(lower, upper, np.ones(3), True, 1e-6, one.copy(), one.copy(), one.copy(), one.copy(), one.copy())
    zeros = np.zeros(2, dtype=np.int64)
    box_sums_kernel(
        lower, upper, np.arange(2, dtype=np.int64), zeros, zeros, True, one, one, one, one,
        np.ones((1, 3)), np.full(1, -1, dtype=np.int64), one, 1e-12, np.zeros((1, 3)), np.zeros((1, 3)),
        np.zeros(1, dtype=bool),
    )
    shared_bins_kernel(
        np.arange(2, dtype=np.int64), zeros[:1], zeros, one, one, one, one, 0.999, np.zeros(1, dtype=bool),
        np.zeros(1), np.zeros(1), np.zeros(1, dtype=np.int64),
    )
    direction_kernel(lower, upper, np.zeros(2, dtype=np.int64), np.zeros(2, dtype=bool))
    ints = np.zeros(2, dtype=np.int64)
    bin_frames_kernel(zeros, ints, ints, ints, ints, ints, ints, *(np.zeros(1, dtype=np.int64) for _ in range(6)),
                      ints.copy())
    flags = np.zeros(1, dtype=bool)
    fused_sums_kernel(
        lower, upper, zeros, zeros, one, one, ints, ints, True, 1e-12, 1e-6, np.zeros((1, 3)), np.zeros((1, 3)),
        one.copy(), one.copy(), one.copy(), one.copy(), one.copy(), one.copy(), np.zeros(1, dtype=np.int64),
        np.zeros((1, 3)), np.full((1, 8), NO_REF), 0, 2,
    )
    first_moving_kernel(lower, upper, zeros, np.zeros(2, dtype=bool), np.full(1, -1, dtype=np.int64), np.zeros(1))
    text = np.zeros((2, 4), dtype=np.uint32)
    sorted_text_kernel(text, np.arange(2, dtype=np.int64), text[0], np.zeros(2, dtype=np.int64))
    bin_totals_kernel(zeros, one, one, one, one, True, one.copy(), one.copy(), flags, np.zeros(1), np.zeros(1),
                      one.copy(), one.copy(), np.zeros(1), np.zeros(1))
