"""KPIs of a plan, checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.market.kpi import compute_kpis, hourly

T0 = datetime(2026, 3, 10, tzinfo=UTC)


def test_hourly_sums_slots_into_mwh_per_hour() -> None:
    assert hourly([250.0] * 4 + [100.0] * 2, 900).tolist() == pytest.approx([1.0, 0.2])
    with pytest.raises(ValueError):
        hourly([1.0], 7 * 60)


def test_adaptation_adaptability_and_money() -> None:
    # two hours of 15-min slots: 2 MWh moved from hour 0 (dear) into hour 1 (cheap)
    baseline = [1000.0] * 4 + [500.0] * 4  # 4 MWh/h then 2 MWh/h
    optimised = [500.0] * 4 + [1000.0] * 4
    prices = [0.30] * 4 + [0.10] * 4
    report = compute_kpis(T0, 900, baseline, optimised, prices_eur_kwh=prices, market_revenue_eur=100.0,
                          rewards_eur=50.0, participants=20)
    assert report.baseline_mwh_h == pytest.approx([4.0, 2.0])
    assert report.adaptation_mwh_h == pytest.approx([2.0, 2.0])
    assert report.peak_baseline_mwh_h == pytest.approx(4.0)
    assert report.adaptability_level == pytest.approx([0.5, 0.5])
    assert report.total_adaptation_mwh == pytest.approx(4.0)
    assert report.savings_eur == pytest.approx(2000 * 0.30 - 2000 * 0.10)
    assert report.revenue_eur == pytest.approx(400.0 + 100.0)
    assert report.net_eur == pytest.approx(450.0)
    assert [p.participants for p in report.projections] == [200, 2000, 20000]
    assert report.projections[2].savings_eur == pytest.approx(400_000.0)
    assert report.projections[0].adaptation_mwh == pytest.approx(40.0)


def test_no_baseline_load_means_zero_level_not_a_division_error() -> None:
    report = compute_kpis(T0, 3600, [0.0, 0.0], [1.0, -1.0])
    assert report.adaptability_level == [0.0, 0.0]
    assert report.adaptation_mwh_h == pytest.approx([0.001, 0.001])
    with pytest.raises(ValueError):
        compute_kpis(T0, 3600, [0.0], [1.0, 2.0])
