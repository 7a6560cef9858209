"""Portfolio KPIs of the FMAN: how much load moved, how adaptable it is, what it earned.

* adaptation (MWh/h) per hour: |optimised - baseline| energy of the hour;
* load adaptability level per hour: adaptation ÷ the baseline's peak hourly load;
* savings (EUR): baseline cost - optimised cost at the given prices; revenue adds
  what the flexibility earned on markets; net subtracts the prosumers' rewards;
* projections at 10x, 100x, 1000x participants scale the extensive quantities
  linearly. That assumes the same mix of prosumers and a price-taking portfolio; the
  adaptability level, a ratio, does not scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

SCALES = (10, 100, 1000)


@dataclass
class Projection:
    participants: int
    adaptation_mwh: float
    savings_eur: float
    revenue_eur: float
    rewards_eur: float
    net_eur: float


@dataclass
class KpiReport:
    start: datetime
    hours: list[datetime]
    baseline_mwh_h: list[float]
    optimised_mwh_h: list[float]
    adaptation_mwh_h: list[float]
    adaptability_level: list[float]
    peak_baseline_mwh_h: float
    total_adaptation_mwh: float
    mean_adaptability_level: float
    max_adaptability_level: float
    savings_eur: float
    revenue_eur: float
    rewards_eur: float
    net_eur: float
    participants: int
    projections: list[Projection] = field(default_factory=list)


def hourly(series_kwh: Sequence[float], slot_seconds: int) -> np.ndarray:
    """kWh per slot → MWh per hour (the last, partial hour keeps what it has)."""
    if 3600 % slot_seconds:
        raise ValueError("slot length must divide an hour")
    per_hour = 3600 // slot_seconds
    values = np.asarray(series_kwh, dtype=float)
    padded = np.concatenate([values, np.zeros((-values.size) % per_hour)])
    hours: np.ndarray = padded.reshape(-1, per_hour).sum(axis=1) / 1000.0
    return hours


def compute_kpis(
    start: datetime,
    slot_seconds: int,
    baseline_kwh: Sequence[float],
    optimised_kwh: Sequence[float],
    *,
    prices_eur_kwh: Sequence[float] | None = None,
    market_revenue_eur: float = 0.0,
    rewards_eur: float = 0.0,
    participants: int = 0,
    scales: Sequence[int] = SCALES,
) -> KpiReport:
    """KPIs of a plan over one window; all series are kWh per slot of ``slot_seconds``."""
    if len(baseline_kwh) != len(optimised_kwh):
        raise ValueError("baseline and optimised series differ in length")
    base = hourly(baseline_kwh, slot_seconds)
    opt = hourly(optimised_kwh, slot_seconds)
    adaptation = np.abs(opt - base)
    peak = float(np.max(np.abs(base))) if base.size else 0.0
    level = adaptation / peak if peak > 0 else np.zeros_like(adaptation)
    savings = 0.0
    if prices_eur_kwh is not None:
        if len(prices_eur_kwh) != len(baseline_kwh):
            raise ValueError("prices and energy series differ in length")
        prices = np.asarray(prices_eur_kwh, dtype=float)
        savings = float(prices @ (np.asarray(baseline_kwh, dtype=float) - np.asarray(optimised_kwh, dtype=float)))
    revenue = savings + market_revenue_eur
    total = float(adaptation.sum())
    report = KpiReport(
        start=start,
        hours=[start + timedelta(hours=h) for h in range(base.size)],
        baseline_mwh_h=base.tolist(),
        optimised_mwh_h=opt.tolist(),
        adaptation_mwh_h=adaptation.tolist(),
        adaptability_level=level.tolist(),
        peak_baseline_mwh_h=peak,
        total_adaptation_mwh=total,
        mean_adaptability_level=float(level.mean()) if level.size else 0.0,
        max_adaptability_level=float(level.max()) if level.size else 0.0,
        savings_eur=savings,
        revenue_eur=revenue,
        rewards_eur=rewards_eur,
        net_eur=revenue - rewards_eur,
        participants=participants,
    )
    report.projections = [
        Projection(
            participants=participants * k,
            adaptation_mwh=total * k,
            savings_eur=savings * k,
            revenue_eur=revenue * k,
            rewards_eur=rewards_eur * k,
            net_eur=(revenue - rewards_eur) * k,
        )
        for k in scales
    ]
    return report
