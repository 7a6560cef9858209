"""Feasibility checks for schedules and for offers themselves.

Both return lists of human-readable violations instead of raising, because every
caller (REST, CLI, market, disaggregation tests) wants to report *all* problems
at once, and an empty list is the single notion of "valid".
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import repeat

import highspy
import numpy as np

from core.flexoffer.model import ENERGY_TOLERANCE_KWH, FlexOffer, Profile, Schedule

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPS = ENERGY_TOLERANCE_KWH


def _fmt(value: float) -> str:
    return f"{value:.6g}"


# Fast, C-level screens run before the per-slice loops: a sound 96-slice offer is checked
# without a Python loop (REST ingest validates tens of thousands a second), and only
# when a screen fails do the loops below run to word every violation exactly.


def _all_finite(values: Sequence[float]) -> bool:
    return all(map(math.isfinite, values))


def _all_within(values: Sequence[float], lower: Sequence[float], upper: Sequence[float]) -> bool:
    """Every ``lower[i] - eps <= values[i] <= upper[i] + eps`` (values finite)."""
    return not any(map(operator.lt, values, map(operator.sub, lower, repeat(_EPS)))) and not any(
        map(operator.gt, values, map(operator.add, upper, repeat(_EPS)))
    )


def _ordered(lower: Sequence[float], upper: Sequence[float]) -> bool:
    """No ``lower[i] > upper[i] + eps``."""
    return not any(map(operator.gt, lower, map(operator.add, upper, repeat(_EPS))))


def _is_aligned(moment: datetime, interval_seconds: int) -> bool:
    seconds = (moment - _EPOCH).total_seconds()
    return abs(seconds / interval_seconds - round(seconds / interval_seconds)) < 1e-9


def _profile_violations(offer: FlexOffer, profile: Profile, schedule: Schedule) -> list[str]:
    problems: list[str] = []
    n = profile.slice_count
    if len(schedule.energy) != n:
        return [f"schedule has {len(schedule.energy)} slice energies, profile has {n} slices"]
    durations = schedule.slice_durations(profile)
    if len(durations) != n:
        return [f"schedule has {len(durations)} slice durations, profile has {n} slices"]
    mins, maxs = profile.min_durations(), profile.max_durations()
    if not (all(map(operator.le, mins, durations)) and all(map(operator.le, durations, maxs))):
        for i, (d, lo, hi) in enumerate(zip(durations, mins, maxs, strict=True)):
            if d < lo or d > hi:
                problems.append(f"slice {i}: duration {d} intervals outside [{lo}, {hi}]")
    energy = schedule.energy
    if not (_all_finite(energy) and _all_within(energy, profile.energy_lower, profile.energy_upper)):
        for i, (e, elo, ehi) in enumerate(zip(energy, profile.energy_lower, profile.energy_upper, strict=True)):
            if not np.isfinite(e):
                problems.append(f"slice {i}: energy {e} is not a finite number")
            elif e < elo - _EPS or e > ehi + _EPS:
                problems.append(f"slice {i}: energy {_fmt(e)} kWh outside [{_fmt(elo)}, {_fmt(ehi)}]")
    total = float(sum(schedule.energy))
    if offer.total_energy is not None:
        te = offer.total_energy
        if total < te.lower - _EPS or total > te.upper + _EPS:
            problems.append(f"total energy {_fmt(total)} kWh outside [{_fmt(te.lower)}, {_fmt(te.upper)}]")
    for k, row in enumerate(offer.polytope):
        if len(row.coefficients) != n:
            problems.append(f"polytopic constraint {k} has {len(row.coefficients)} coefficients, expected {n}")
            continue
        lhs = float(np.dot(row.coefficients, schedule.energy))
        if lhs > row.bound + _EPS:
            problems.append(f"polytopic constraint {k}: A·x = {_fmt(lhs)} > b = {_fmt(row.bound)}")
    if schedule.prices is not None:
        if len(schedule.prices) != n:
            problems.append(f"schedule has {len(schedule.prices)} prices, profile has {n} slices")
        else:
            lows = profile.tariff_lower or [None] * n
            highs = profile.tariff_upper or [None] * n
            for i, (p, lo_t, hi_t) in enumerate(zip(schedule.prices, lows, highs, strict=True)):
                if lo_t is not None and p < lo_t - 1e-9:
                    problems.append(f"slice {i}: price {_fmt(p)} below minTariff {_fmt(lo_t)}")
                if hi_t is not None and p > hi_t + 1e-9:
                    problems.append(f"slice {i}: price {_fmt(p)} above maxTariff {_fmt(hi_t)}")
    return problems


def check_schedule(offer: FlexOffer, schedule: Schedule) -> list[str]:
    """Return every way ``schedule`` violates ``offer``; empty when it is feasible.

    Checks the start window (including ``startBeforeDuration``), alignment to the
    interval grid, slice durations and energy bounds, total energy, polytopic rows,
    tariff bounds and XOR alternatives (the schedule must fit at least one).
    """
    problems: list[str] = []
    start = schedule.start
    latest = offer.effective_latest_start()
    if start < offer.earliest_start:
        problems.append(f"start {start.isoformat()} is before startAfterTime {offer.earliest_start.isoformat()}")
    if start > latest:
        problems.append(f"start {start.isoformat()} is after startBeforeTime {latest.isoformat()}")
    if not _is_aligned(start, offer.interval_seconds):
        problems.append(f"start {start.isoformat()} is not on the {offer.interval_seconds}s interval grid")

    profiles = offer.profiles
    if schedule.profile_index is not None:
        if not 0 <= schedule.profile_index < len(profiles):
            return [*problems, f"profile index {schedule.profile_index} does not exist ({len(profiles)} profiles)"]
        return problems + _profile_violations(offer, profiles[schedule.profile_index], schedule)
    per_profile = [_profile_violations(offer, p, schedule) for p in profiles]
    if any(not v for v in per_profile):
        return problems
    if len(profiles) == 1:
        return problems + per_profile[0]
    for index, violations in enumerate(per_profile):
        problems.extend(f"XOR profile {index}: {v}" for v in violations)
    return problems


def _profile_feasible(offer: FlexOffer, profile: Profile) -> str | None:
    """Decide with an LP whether some energy vector meets every constraint at once."""
    n = profile.slice_count
    lower = np.asarray(profile.energy_lower, dtype=float)
    upper = np.asarray(profile.energy_upper, dtype=float)
    te = offer.total_energy
    if te is not None:
        if lower.sum() > te.upper + _EPS:
            return (
                f"total-energy upper bound {_fmt(te.upper)} kWh is below the sum of slice lower bounds "
                f"{_fmt(float(lower.sum()))} kWh"
            )
        if upper.sum() < te.lower - _EPS:
            return (
                f"total-energy lower bound {_fmt(te.lower)} kWh is above the sum of slice upper bounds "
                f"{_fmt(float(upper.sum()))} kWh"
            )
    rows = [r for r in offer.polytope if len(r.coefficients) == n]
    if not rows:
        return None
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    inf = highspy.kHighsInf
    for i in range(n):
        h.addVar(float(lower[i]), float(upper[i]))
    if te is not None:
        h.addRow(te.lower, te.upper, n, np.arange(n, dtype=np.int32), np.ones(n))
    for r in rows:
        coeffs = np.asarray(r.coefficients, dtype=float)
        h.addRow(-inf, r.bound, n, np.arange(n, dtype=np.int32), coeffs)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return "the polytopic constraints admit no energy vector within the slice and total bounds"
    return None


def validate_offer(offer: FlexOffer) -> list[str]:
    """Return why ``offer`` is malformed or admits no feasible schedule; empty when sound."""
    problems: list[str] = []
    latest = offer.effective_latest_start()
    if offer.latest_start is not None and offer.latest_start < offer.earliest_start:
        problems.append(
            f"time window ends before it starts: startBeforeTime {offer.latest_start.isoformat()} "
            f"< startAfterTime {offer.earliest_start.isoformat()}"
        )
    elif latest < offer.earliest_start:
        problems.append(f"startBeforeDuration ends the window at {latest.isoformat()}, before startAfterTime")
    if offer.start_before_duration is not None and offer.start_before_duration.total_seconds() < 0:
        problems.append("startBeforeDuration is negative")
    if offer.accept_before and offer.assignment_before and offer.assignment_before < offer.accept_before:
        problems.append("assignmentBeforeTime is before acceptBeforeTime")
    if offer.total_energy is not None and offer.total_energy.lower > offer.total_energy.upper + _EPS:
        te = offer.total_energy
        problems.append(f"totalEnergyConstraint lower {_fmt(te.lower)} > upper {_fmt(te.upper)}")

    feasible_profiles = 0
    for index, profile in enumerate(offer.profiles):
        prefix = "" if len(offer.profiles) == 1 else f"XOR profile {index}: "
        own: list[str] = []
        lows_e, highs_e = profile.energy_lower, profile.energy_upper
        if not (_all_finite(lows_e) and _all_finite(highs_e) and _ordered(lows_e, highs_e)):
            for i, (lo, hi) in enumerate(zip(lows_e, highs_e, strict=True)):
                if not (np.isfinite(lo) and np.isfinite(hi)):
                    own.append(f"slice {i}: energy bounds must be finite numbers")
                elif lo > hi + _EPS:
                    own.append(f"slice {i}: lower {_fmt(lo)} > upper {_fmt(hi)}")
        dmins, dmaxs = profile.min_durations(), profile.max_durations()
        if not (min(dmins) >= 1 and all(map(operator.le, dmins, dmaxs))):
            for i, (dmin, dmax) in enumerate(zip(dmins, dmaxs, strict=True)):
                if dmin < 1 or dmax < dmin:
                    own.append(f"slice {i}: minDuration {dmin} / maxDuration {dmax} are not 1 <= min <= max")
        lows, highs = profile.tariff_lower, profile.tariff_upper
        if lows is not None and highs is not None:
            for i, (lo_t, hi_t) in enumerate(zip(lows, highs, strict=True)):
                if lo_t is not None and hi_t is not None and lo_t > hi_t:
                    own.append(f"slice {i}: minTariff {_fmt(lo_t)} > maxTariff {_fmt(hi_t)}")
        for k, row in enumerate(offer.polytope):
            if len(row.coefficients) != profile.slice_count:
                own.append(f"polytopic constraint {k} has {len(row.coefficients)} coefficients, "
                           f"expected {profile.slice_count}")
        if not own:
            reason = _profile_feasible(offer, profile)
            if reason:
                own.append(f"no feasible schedule: {reason}")
        if not own:
            feasible_profiles += 1
        problems.extend(prefix + p for p in own)
    if feasible_profiles and len(offer.profiles) > 1:
        # One sound XOR alternative makes the offer usable; report nothing about the rest.
        problems = [p for p in problems if not p.startswith("XOR profile")]

    if offer.default_schedule is not None:
        problems.extend(f"defaultSchedule: {p}" for p in check_schedule(offer, offer.default_schedule))
    if offer.schedule is not None:
        problems.extend(f"flexOfferSchedule: {p}" for p in check_schedule(offer, offer.schedule))
    return problems
