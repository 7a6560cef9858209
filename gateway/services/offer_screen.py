"""A vectorised pre-check of a whole submission: which offers are certainly sound.

``validate_offer`` words every problem exactly, one offer at a time, and for a 96-slice
offer that costs as much as decoding it: a quarter of envelope ingest. Nearly every
submitted offer is sound and plain (one profile, no polytope, no ``startBeforeDuration``,
no tariff pair, no assignment). For those, its per-slice checks reduce to a handful of
numpy operations over the bounds of every offer of the envelope at once.

The screen answers only "certainly sound" or "don't know". Anything unusual, anything
that fails a check, and any sum within a rounding margin of its limit is left to
``validate_offer``, so every reason the hub reports is the model's own wording, and an
offer the screen passes is one ``validate_offer`` passes too (a property test holds the
two together).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain

import numpy as np
from numpy.typing import NDArray

from core.flexoffer import FlexOffer
from core.flexoffer.model import ENERGY_TOLERANCE_KWH

_EPS = ENERGY_TOLERANCE_KWH
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# numpy's pairwise sums and ``reduceat`` may differ from the model's sums in the last
# bits; a sum closer to its limit than this is left to the exact check.
_SUM_MARGIN = 1e-9


def _plain(offer: FlexOffer) -> bool:
    """The offer-level checks of ``validate_offer``, for offers of the shape the screen handles."""
    if offer.xor_profiles or offer.polytope or offer.start_before_duration is not None or offer.schedule is not None:
        return False
    profile = offer.profile
    if profile.tariff_lower is not None and profile.tariff_upper is not None:
        return False
    n = len(profile.energy_lower)
    if n == 0 or len(profile.energy_upper) != n:
        return False
    earliest, latest = offer.earliest_start, offer.latest_start
    if latest is not None and latest < earliest:
        return False
    if offer.accept_before and offer.assignment_before and offer.assignment_before < offer.accept_before:
        return False
    te = offer.total_energy
    if te is not None and te.lower > te.upper + _EPS:
        return False
    baseline = offer.default_schedule
    if baseline is None:
        return True
    if baseline.prices is not None or baseline.profile_index not in (None, 0):
        return False
    if len(baseline.energy) != n or (baseline.durations is not None and len(baseline.durations) != n):
        return False
    start = baseline.start
    if start < earliest or start > (latest if latest is not None else earliest):
        return False
    seconds = (start - _EPOCH).total_seconds()
    step = offer.interval_seconds
    if abs(seconds / step - round(seconds / step)) >= 1e-9:
        return False
    if te is not None:
        total = float(sum(baseline.energy))  # the very sum check_schedule takes
        if total < te.lower - _EPS or total > te.upper + _EPS:
            return False
    return True


def _per_offer(bad: NDArray[np.bool_], starts: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Whether each offer's segment of a flat per-slice array holds any True."""
    return np.logical_or.reduceat(bad, starts) if len(bad) else np.zeros(len(starts), dtype=bool)


def certainly_sound(offers: Sequence[FlexOffer]) -> list[bool]:
    """For each offer, True only if ``validate_offer(offer)`` is certainly ``[]``."""
    sound = [False] * len(offers)
    try:
        plain = [i for i, offer in enumerate(offers) if _plain(offer)]
    except (OverflowError, TypeError, ValueError):  # odd values: leave the whole lot to the model
        return sound
    if not plain:
        return sound
    profiles = [offers[i].profile for i in plain]
    counts = np.fromiter((len(p.energy_lower) for p in profiles), dtype=np.intp, count=len(profiles))
    starts = np.zeros(len(profiles), dtype=np.intp)
    np.cumsum(counts[:-1], out=starts[1:])
    total = int(counts.sum())
    lower = np.fromiter(chain.from_iterable(p.energy_lower for p in profiles), dtype=float, count=total)
    upper = np.fromiter(chain.from_iterable(p.energy_upper for p in profiles), dtype=float, count=total)
    mins = np.fromiter(chain.from_iterable(p.min_durations() for p in profiles), dtype=np.int64, count=total)
    maxs = np.fromiter(chain.from_iterable(p.max_durations() for p in profiles), dtype=np.int64, count=total)

    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~np.isfinite(lower) | ~np.isfinite(upper) | (lower > upper + _EPS) | (mins < 1) | (maxs < mins)
        failed = _per_offer(bad, starts)

        # Total-energy reachability (``_profile_feasible`` without polytope rows).
        te_rows = [k for k, i in enumerate(plain) if offers[i].total_energy is not None]
        if te_rows:
            low_sum = np.add.reduceat(lower, starts)[te_rows]
            high_sum = np.add.reduceat(upper, starts)[te_rows]
            scale = 1.0 + np.add.reduceat(np.abs(lower) + np.abs(upper), starts)[te_rows]
            te_low = np.array([offers[plain[k]].total_energy.lower for k in te_rows])  # type: ignore[union-attr]
            te_high = np.array([offers[plain[k]].total_energy.upper for k in te_rows])  # type: ignore[union-attr]
            margin = _SUM_MARGIN * scale
            unreachable = ~((low_sum + margin <= te_high + _EPS) & (high_sum - margin >= te_low - _EPS))
            failed[te_rows] |= unreachable

        # The default schedule against the bounds and durations (``check_schedule``).
        with_baseline = [k for k, i in enumerate(plain) if offers[i].default_schedule is not None]
        if with_baseline:
            failed[with_baseline] |= _baseline_misfits(offers, plain, with_baseline, starts, counts,
                                                       lower, upper, mins, maxs)
    for k, i in enumerate(plain):
        sound[i] = not failed[k]
    return sound


def _baseline_misfits(offers: Sequence[FlexOffer], plain: list[int], rows: list[int],
                      starts: NDArray[np.intp], counts: NDArray[np.intp], lower: NDArray[np.float64],
                      upper: NDArray[np.float64], mins: NDArray[np.int64],
                      maxs: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Per offer in ``rows``: does its default schedule leave a slice's bounds or durations?"""
    schedules = [offers[plain[k]].default_schedule for k in rows]
    picked = np.concatenate([np.arange(starts[k], starts[k] + counts[k]) for k in rows])
    size = len(picked)
    energy = np.fromiter(chain.from_iterable(s.energy for s in schedules if s is not None), dtype=float, count=size)
    durations = np.fromiter(
        chain.from_iterable(
            s.durations if s.durations is not None else offers[plain[k]].profile.min_durations()
            for k, s in zip(rows, schedules, strict=True) if s is not None
        ),
        dtype=np.int64, count=size,
    )
    lo, hi = lower[picked], upper[picked]
    bad = (~np.isfinite(energy) | (energy < lo - _EPS) | (energy > hi + _EPS)
           | (durations < mins[picked]) | (durations > maxs[picked]))
    row_starts = np.zeros(len(rows), dtype=np.intp)
    np.cumsum(counts[rows][:-1], out=row_starts[1:])
    return _per_offer(bad, row_starts)
