"""Hypothesis strategies for random *feasible* flex-offers and schedules.

Shared by the FMAN tests (aggregation, disaggregation, flexibility, planning …).
Every offer drawn here passes ``validate_offer``; every schedule drawn by
``feasible_schedules`` passes ``check_schedule`` for its offer. Energies are
rounded to 1e-3 kWh so failures shrink to readable examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

from core.flexoffer import EnergyBounds, FlexOffer, Profile, Schedule

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
"""Base time of every drawn offer (on the 15-minute grid)."""

energies = st.floats(min_value=-5.0, max_value=5.0, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def slice_bounds(draw: st.DrawFn, count: int, direction: str = "any") -> tuple[list[float], list[float]]:
    """Per-slice ``lower <= upper``; ``direction`` 'consumption'/'production' fixes the sign."""
    lower: list[float] = []
    upper: list[float] = []
    for _ in range(count):
        a, b = sorted((draw(energies), draw(energies)))
        if direction == "consumption":
            a, b = abs(a), abs(b)
        elif direction == "production":
            a, b = -abs(a), -abs(b)
        lo, hi = sorted((a, b))
        lower.append(lo)
        upper.append(hi)
    return lower, upper


@st.composite
def flex_offers(
    draw: st.DrawFn,
    offer_id: str | None = None,
    *,
    min_slices: int = 1,
    max_slices: int = 6,
    zones: Sequence[str] = ("north", "south"),
    interval_seconds: int = 900,
    max_start_delay: int = 8,
    max_time_flex: int = 8,
    total_energy: bool | None = None,
    tariffs: bool | None = False,
    baseline: bool | None = False,
    direction: str | None = None,
) -> FlexOffer:
    """One feasible, single-profile flex-offer with one-interval slices.

    ``None`` for an optional feature means "sometimes"; ``True``/``False`` forces it.
    Start delay and time flexibility are counted in intervals from ``T0``.
    """
    n = draw(st.integers(min_slices, max_slices))
    chosen_direction = direction or draw(st.sampled_from(["any", "consumption", "production"]))
    lower, upper = draw(slice_bounds(n, chosen_direction))
    step = timedelta(seconds=interval_seconds)
    earliest = T0 + step * draw(st.integers(0, max_start_delay))
    latest = earliest + step * draw(st.integers(0, max_time_flex))
    total = None
    if total_energy if total_energy is not None else draw(st.booleans()):
        lo_sum, hi_sum = sum(lower), sum(upper)
        a = draw(st.floats(min_value=0, max_value=1)) * (hi_sum - lo_sum) + lo_sum
        b = draw(st.floats(min_value=0, max_value=1)) * (hi_sum - lo_sum) + lo_sum
        # Sometimes an exact-energy constraint (EV style), sometimes a range.
        if draw(st.booleans()):
            b = a
        a, b = sorted(min(max(round(v, 3), lo_sum), hi_sum) for v in (a, b))
        total = EnergyBounds(lower=a, upper=b)
    tariff_lower = tariff_upper = None
    if tariffs if tariffs is not None else draw(st.booleans()):
        prices = [sorted((draw(st.integers(0, 50)) / 100, draw(st.integers(0, 50)) / 100)) for _ in range(n)]
        tariff_lower = [p[0] for p in prices]
        tariff_upper = [p[1] for p in prices]
    offer = FlexOffer(
        id=offer_id or f"fo-{draw(st.integers(0, 10**9))}",
        zone=draw(st.sampled_from(list(zones))) if zones else None,
        earliest_start=earliest,
        latest_start=latest,
        interval_seconds=interval_seconds,
        profile=Profile(energy_lower=lower, energy_upper=upper, tariff_lower=tariff_lower, tariff_upper=tariff_upper),
        total_energy=total,
    )
    if baseline if baseline is not None else draw(st.booleans()):
        offer = offer.model_copy(update={"default_schedule": draw(feasible_schedules(offer))})
    return offer


@st.composite
def offer_lists(draw: st.DrawFn, /, min_size: int = 1, max_size: int = 12, **kwargs: object) -> list[FlexOffer]:
    """Offers with unique ids ``o0``, ``o1`` …; ``kwargs`` go to :func:`flex_offers`."""
    size = draw(st.integers(min_size, max_size))
    return [draw(flex_offers(f"o{i}", **kwargs)) for i in range(size)]  # type: ignore[arg-type,unused-ignore]


def fill_to_total(
    lower: NDArray[np.float64], upper: NDArray[np.float64], x: NDArray[np.float64], t_lo: float, t_hi: float
) -> NDArray[np.float64]:
    """Move ``x`` (inside the box) the least uniform fraction needed to reach ``[t_lo, t_hi]``."""
    total = float(x.sum())
    if total < t_lo:
        room = upper - x
        x = x + room * min(1.0, (t_lo - total) / max(float(room.sum()), 1e-300))
    elif total > t_hi:
        room = x - lower
        x = x - room * min(1.0, (total - t_hi) / max(float(room.sum()), 1e-300))
    return np.asarray(np.clip(x, lower, upper), dtype=np.float64)


@st.composite
def feasible_schedules(draw: st.DrawFn, offer: FlexOffer, shift: int | None = None) -> Schedule:
    """A random schedule of ``offer`` (main profile, unit slices) that passes ``check_schedule``.

    ``shift`` fixes the start as ``earliest + shift`` intervals; otherwise it is drawn.
    """
    step = offer.interval
    window = int(offer.time_flexibility() / step)
    k = draw(st.integers(0, window)) if shift is None else shift
    lower = np.asarray(offer.profile.energy_lower)
    upper = np.asarray(offer.profile.energy_upper)
    fractions = np.asarray(draw(st.lists(st.floats(0, 1), min_size=len(lower), max_size=len(lower))))
    x = lower + fractions * (upper - lower)
    if offer.total_energy is not None:
        x = fill_to_total(lower, upper, x, offer.total_energy.lower, offer.total_energy.upper)
    return Schedule(start=offer.earliest_start + step * k, energy=x.tolist())
