"""Flex-offers per device kind: every offer is sound, and its constraints mean what they say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.flexoffer import Schedule, check_schedule, validate_offer
from gateway.foa.offers import (
    Window,
    battery_offer,
    ev_offer,
    heat_pump_offer,
    pv_curtailment_offer,
    switchable_load_offer,
)

NOW = datetime(2026, 3, 1, 10, 7, tzinfo=UTC)


def test_window_starts_on_the_next_grid_boundary() -> None:
    assert Window.next_from(NOW, 4).start == datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    assert Window.next_from(datetime(2026, 3, 1, 10, 15, tzinfo=UTC), 4).start.minute == 30


@given(soc=st.floats(0, 100), capacity=st.floats(1, 100), charge=st.floats(0.5, 20), discharge=st.floats(0.5, 20),
       slices=st.integers(1, 24))
@settings(max_examples=40, deadline=None)
def test_battery_offers_are_always_sound(soc: float, capacity: float, charge: float, discharge: float,
                                         slices: int) -> None:
    offer = battery_offer("b", Window.next_from(NOW, slices), soc_pct=soc, capacity_kwh=capacity,
                          max_charge_kw=charge, max_discharge_kw=discharge)
    assert validate_offer(offer) == []


def test_battery_soc_band_holds_at_every_slice() -> None:
    window = Window.next_from(NOW, 4)
    offer = battery_offer("b", window, soc_pct=50, capacity_kwh=10, max_charge_kw=10, max_discharge_kw=10,
                          min_soc_pct=10, max_soc_pct=90)
    assert offer.profile.energy_upper == [2.5] * 4  # 10 kW for a quarter hour
    assert check_schedule(offer, Schedule(start=window.start, energy=[2.5, 1.5, 0, 0])) == []
    # 4.5 kWh of charge would take a 10 kWh battery from 50 % to 95 %: above the band.
    assert check_schedule(offer, Schedule(start=window.start, energy=[2.5, 2.0, -2.5, 0]))
    # Discharging 4 kWh then charging back ends in the band but dips below 10 % on the way.
    assert check_schedule(offer, Schedule(start=window.start, energy=[-2.5, -2.5, 2.5, 2.5]))


def test_battery_end_soc_pins_total_energy() -> None:
    offer = battery_offer("b", Window.next_from(NOW, 8), soc_pct=20, capacity_kwh=10, max_charge_kw=5,
                          max_discharge_kw=5, end_soc_pct=80)
    assert offer.total_energy is not None
    assert offer.total_energy.lower == offer.total_energy.upper == pytest.approx(6.0)
    assert validate_offer(offer) == []


def test_ev_offer_window_and_energy() -> None:
    arrival, departure = NOW, NOW + timedelta(hours=4)
    offer = ev_offer("ev", arrival=arrival, departure=departure, energy_needed_kwh=10, max_power_kw=11)
    assert validate_offer(offer) == []
    assert offer.earliest_start == datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    assert offer.profile.slice_count == 4  # 10 kWh at 2.75 kWh per quarter hour
    end = offer.effective_latest_start() + offer.profile.slice_count * offer.interval
    assert end <= departure
    assert offer.total_energy is not None and offer.total_energy.lower == 10


def test_ev_offer_asks_for_what_can_be_delivered() -> None:
    offer = ev_offer("ev", arrival=NOW, departure=NOW + timedelta(minutes=40), energy_needed_kwh=50, max_power_kw=7)
    assert validate_offer(offer) == []
    assert offer.total_energy is not None and offer.total_energy.upper == pytest.approx(3.5)
    with pytest.raises(ValueError):
        ev_offer("ev", arrival=NOW, departure=NOW + timedelta(minutes=5), energy_needed_kwh=5, max_power_kw=7)


@given(t0=st.floats(15, 26), low=st.floats(18, 21), width=st.floats(0.5, 4), loss=st.floats(0, 3),
       cop=st.floats(1.5, 5), power=st.floats(1, 6), slices=st.integers(1, 16))
@settings(max_examples=40, deadline=None)
def test_heat_pump_offers_are_always_sound(t0: float, low: float, width: float, loss: float, cop: float,
                                           power: float, slices: int) -> None:
    offer = heat_pump_offer("hp", Window.next_from(NOW, slices), temperature_c=t0, comfort_min_c=low,
                            comfort_max_c=low + width, heat_capacity_kwh_per_k=2.0, heat_loss_kw=loss, cop=cop,
                            max_power_kw=power)
    assert validate_offer(offer) == []


def test_heat_pump_comfort_band_bounds_energy() -> None:
    window = Window.next_from(NOW, 4)
    offer = heat_pump_offer("hp", window, temperature_c=20, comfort_min_c=19, comfort_max_c=22,
                            heat_capacity_kwh_per_k=2.0, heat_loss_kw=2.0, cop=4.0, max_power_kw=4.0)
    # Off for an hour: loses 2 kWh_th = 1 K, ends at exactly 19 degC: allowed.
    assert check_schedule(offer, Schedule(start=window.start, energy=[0, 0, 0, 0])) == []
    # Full power for an hour: +4 kWh_el * 4 - 2 = 14 kWh_th = +7 K: far above 22 degC.
    assert check_schedule(offer, Schedule(start=window.start, energy=[1, 1, 1, 1]))


def test_pv_curtailment_offer() -> None:
    window = Window.next_from(NOW, 3)
    offer = pv_curtailment_offer("pv", window, forecast_kw=[4.0, 2.0, 0.0])
    assert validate_offer(offer) == []
    assert offer.profile.energy_lower == [-1.0, -0.5, 0.0]
    assert offer.default_schedule is not None and offer.default_schedule.energy == [-1.0, -0.5, 0.0]
    assert check_schedule(offer, Schedule(start=window.start, energy=[-0.2, 0, 0])) == []
    assert check_schedule(offer, Schedule(start=window.start, energy=[0.1, 0, 0]))  # PV cannot consume
    with pytest.raises(ValueError):
        pv_curtailment_offer("pv", window, forecast_kw=[1.0])


def test_switchable_load_is_all_or_nothing() -> None:
    offer = switchable_load_offer("sw", earliest=NOW, latest=NOW + timedelta(hours=2), power_kw=2, run_slices=2)
    assert validate_offer(offer) == []
    start = offer.earliest_start
    assert check_schedule(offer, Schedule(start=start, energy=[0.5, 0.5])) == []
    assert check_schedule(offer, Schedule(start=start, energy=[0, 0])) == []
    assert check_schedule(offer, Schedule(start=start, energy=[0.5, 0]))
