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
from operator import le

import numpy as np
from numpy.typing import NDArray

from core.flexoffer import FlexOffer
from core.flexoffer.model import ENERGY_TOLERANCE_KWH

_EPS = ENERGY_TOLERANCE_KWH
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# numpy's pairwise sums and ``reduceat`` may differ from the model's sums in the last
# bits; a sum closer to its limit than this is left to the exact check.
SUM_MARGIN = 1e-9


def _durations_sound(mins: list[int] | None, maxs: list[int] | None, n: int) -> bool:
    """``1 <= minDuration <= maxDuration`` for every slice, as ``validate_offer`` reads them."""
    if mins is None:
        return maxs is None or (len(maxs) == n and min(maxs) >= 1)
    if len(mins) != n or min(mins) < 1:
        return False
    return maxs is None or maxs == mins or (len(maxs) == n and all(map(le, mins, maxs)))


def _plain(offer: FlexOffer) -> bool:
    """The offer-level and duration checks of ``validate_offer``, for offers of the shape
    the screen handles; the per-slice energy checks are left to the vectorised pass."""
    if offer.xor_profiles or offer.polytope or offer.start_before_duration is not None or offer.schedule is not None:
        return False
    profile = offer.profile
    if profile.tariff_lower is not None and profile.tariff_upper is not None:
        return False
    n = len(profile.energy_lower)
    if n == 0 or len(profile.energy_upper) != n:
        return False
    if not _durations_sound(profile.min_duration, profile.max_duration, n):
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
    if baseline.prices is not None or baseline.profile_index not in (None, 0) or len(baseline.energy) != n:
        return False
    if baseline.durations is not None:
        durations, mins, maxs = baseline.durations, profile.min_durations(), profile.max_durations()
        if len(durations) != n or not (all(map(le, mins, durations)) and all(map(le, durations, maxs))):
            return False
    start = baseline.start
    if start < earliest or start > (latest if latest is not None else earliest):
        return False
    if not on_slice_grid(start, offer.interval_seconds):
        return False
    if te is not None:
        total = float(sum(baseline.energy))  # the very sum check_schedule takes
        if total < te.lower - _EPS or total > te.upper + _EPS:
            return False
    return True


def on_slice_grid(start: datetime, step: int) -> bool:
    """A default schedule starts on its offer's slice grid, as ``validate_offer`` tests it."""
    seconds = (start - _EPOCH).total_seconds()
    return abs(seconds / step - round(seconds / step)) < 1e-9


def slices_sound(lower: NDArray[np.float64], upper: NDArray[np.float64], energy: NDArray[np.float64],
                 starts: NDArray[np.intp], te_rows: NDArray[np.intp], bounds: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Per offer: every slice's bounds are finite and ordered, the schedule (``energy``) fits
    them, and the total-energy bounds of the offers ``te_rows`` are reachable.

    The slices of all offers lie back to back; offer k's start at ``starts[k]``. An offer
    without a default schedule stands in its lower bounds as ``energy``, which pass the
    schedule check whenever the bounds themselves pass.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        bad = (~np.isfinite(lower) | ~np.isfinite(upper) | (lower > upper + _EPS)
               | ~np.isfinite(energy) | (energy < lower - _EPS) | (energy > upper + _EPS))
        failed = np.logical_or.reduceat(bad, starts)
        # Total-energy reachability (``_profile_feasible`` without polytope rows).
        if len(te_rows):
            low_sum = np.add.reduceat(lower, starts)[te_rows]
            high_sum = np.add.reduceat(upper, starts)[te_rows]
            margin = SUM_MARGIN * (1.0 + np.add.reduceat(np.abs(lower) + np.abs(upper), starts)[te_rows])
            reachable = (low_sum + margin <= bounds[:, 1] + _EPS) & (high_sum - margin >= bounds[:, 0] - _EPS)
            failed[te_rows] |= ~reachable
    result: NDArray[np.bool_] = ~failed
    return result


def certainly_sound(offers: Sequence[FlexOffer]) -> list[bool]:
    """For each offer, True only if ``validate_offer(offer)`` is certainly ``[]``.

    The lean ingest (``ingest_fast``) screens its arrays with the same :func:`slices_sound`.
    """
    try:
        return _screen(offers)
    except (OverflowError, TypeError, ValueError):  # odd values: leave the whole lot to the model
        return [False] * len(offers)


def _screen(offers: Sequence[FlexOffer]) -> list[bool]:
    sound = [False] * len(offers)
    chosen = [i for i, offer in enumerate(offers) if _plain(offer)]
    if not chosen:
        return sound
    plain = [offers[i] for i in chosen]
    profiles = [offer.profile for offer in plain]
    counts = np.fromiter(map(len, (p.energy_lower for p in profiles)), dtype=np.intp, count=len(plain))
    starts = np.zeros(len(plain), dtype=np.intp)
    np.cumsum(counts[:-1], out=starts[1:])
    total = int(counts.sum())
    lower = np.fromiter(chain.from_iterable(p.energy_lower for p in profiles), dtype=float, count=total)
    upper = np.fromiter(chain.from_iterable(p.energy_upper for p in profiles), dtype=float, count=total)
    # An offer without a default schedule stands in its lower bounds, which pass the
    # schedule check whenever the bounds themselves pass.
    energy = np.fromiter(
        chain.from_iterable(p.energy_lower if o.default_schedule is None else o.default_schedule.energy
                            for o, p in zip(plain, profiles, strict=True)),
        dtype=float, count=total,
    )
    te_rows = np.array([k for k, offer in enumerate(plain) if offer.total_energy is not None], dtype=np.intp)
    bounds = np.array([(te.lower, te.upper) for o in plain if (te := o.total_energy) is not None]).reshape(-1, 2)
    passed_all = slices_sound(lower, upper, energy, starts, te_rows, bounds)
    for i, passed in zip(chosen, passed_all.tolist(), strict=True):
        sound[i] = passed
    return sound
