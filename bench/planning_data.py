"""A reproducible portfolio of household flex-offers and a day-ahead price curve.

Shared by ``bench/planning.py`` and the planning tests' scale smoke check so both
plan the same kind of portfolio: EV charging, heat pumps, home batteries and wet
appliances, 15-minute slices, one day of 96 slots.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from core.flexoffer import EnergyBounds, FlexOffer, Profile, Schedule

DAY_START = datetime(2026, 11, 23, tzinfo=UTC)
SLOTS = 96
SLOT = timedelta(minutes=15)


def day_ahead_prices(seed: int = 7) -> list[float]:
    """EUR/kWh: night trough, morning and evening peaks, a sunny (sometimes negative) noon."""
    rng = np.random.default_rng(seed)
    hours = np.arange(SLOTS) / 4.0
    curve = (
        0.11
        + 0.06 * np.exp(-((hours - 8.0) ** 2) / 3.0)
        + 0.10 * np.exp(-((hours - 19.0) ** 2) / 4.0)
        - 0.09 * np.exp(-((hours - 13.0) ** 2) / 5.0)
        - 0.03 * np.exp(-((hours - 3.0) ** 2) / 6.0)
    )
    return [round(float(v), 5) for v in curve + rng.normal(0.0, 0.004, SLOTS)]


def _offer(
    index: int,
    kind: str,
    earliest: int,
    flex: int,
    lower: np.ndarray,
    upper: np.ndarray,
    total: tuple[float, float] | None,
) -> FlexOffer:
    n = lower.size
    latest = min(earliest + flex, SLOTS - n)
    earliest = min(earliest, latest)
    default = Schedule(start=DAY_START + earliest * SLOT, energy=np.clip(
        np.full(n, (total[0] if total else float(lower.sum())) / n), lower, upper).tolist())
    return FlexOffer(
        id=f"{kind}-{index}",
        offered_by=f"prosumer-{index % 997}",
        zone="zone-1",
        earliest_start=DAY_START + earliest * SLOT,
        latest_start=DAY_START + latest * SLOT,
        profile=Profile(energy_lower=lower.tolist(), energy_upper=upper.tolist()),
        total_energy=EnergyBounds(lower=total[0], upper=total[1]) if total else None,
        default_schedule=default,
    )


def portfolio(count: int, seed: int = 1) -> list[FlexOffer]:
    """``count`` offers in a realistic mix; every one has time flexibility."""
    rng = np.random.default_rng(seed)
    offers: list[FlexOffer] = []
    for i in range(count):
        draw = rng.random()
        if draw < 0.40:  # EV: 11 kW charger, needs 55-90 % of what the window allows
            n = int(rng.integers(8, 25))
            upper = np.full(n, 2.75)
            need = float(upper.sum() * rng.uniform(0.55, 0.9))
            offers.append(_offer(i, "ev", int(rng.integers(56, 80)), int(rng.integers(4, 33)), np.zeros(n), upper,
                                 (need, need + 2.0)))
        elif draw < 0.70:  # heat pump: runs at 30-100 % for 1-2 h, shiftable a few hours
            n = int(rng.integers(4, 9))
            offers.append(_offer(i, "hp", int(rng.integers(0, 80)), int(rng.integers(2, 13)), np.full(n, 0.3),
                                 np.full(n, 1.0), (0.6 * n, 0.8 * n)))
        elif draw < 0.85:  # home battery: charge or discharge 5 kW, roughly energy-neutral
            n = 8
            offers.append(_offer(i, "bat", int(rng.integers(0, 80)), int(rng.integers(4, 17)), np.full(n, -1.25),
                                 np.full(n, 1.25), (-1.0, 1.0)))
        else:  # wet appliance: fixed programme, only the start moves
            n = int(rng.integers(4, 9))
            programme = np.round(rng.uniform(0.1, 0.5, n), 3)
            offers.append(_offer(i, "wet", int(rng.integers(24, 80)), int(rng.integers(8, 41)), programme, programme,
                                 None))
    return offers
