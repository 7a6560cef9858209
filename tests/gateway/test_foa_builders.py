"""Offer builders: live readings and capabilities in, a sound offer (or none) out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.device_common import Capabilities, DeviceKind, Measurement, Quality
from core.flexoffer import validate_offer
from gateway.foa.builders import (
    battery_builder,
    ev_builder,
    heat_pump_builder,
    pv_builder,
    switchable_load_builder,
)

NOW = datetime(2026, 3, 1, 10, 7, tzinfo=UTC)


def _readings(**values: float) -> dict[str, Measurement]:
    return {k: Measurement(k, v, "", NOW) for k, v in values.items()}


def test_battery_builder_uses_soc_and_limits() -> None:
    caps = Capabilities(DeviceKind.BATTERY, 5000, 4000, True, energy_capacity_wh=10000)
    offer = battery_builder(slices=4)("bat", _readings(soc_pct=50), caps, NOW)
    assert offer is not None and validate_offer(offer) == []
    assert offer.profile.energy_upper[0] == 1.25 and offer.profile.energy_lower[0] == -1.0
    assert offer.extra["device_id"] == "bat"
    bad = {"soc_pct": Measurement("soc_pct", float("nan"), "%", NOW, Quality.BAD)}
    assert battery_builder()("bat", bad, caps, NOW) is None


def test_pv_builder_offers_curtailment_of_current_production() -> None:
    caps = Capabilities(DeviceKind.PV, 0, 5000, True)
    offer = pv_builder(slices=2)("pv", _readings(power_w=-3000), caps, NOW)
    assert offer is not None and offer.profile.energy_lower == [-0.75, -0.75]


def test_heat_pump_builder_needs_a_good_temperature() -> None:
    caps = Capabilities(DeviceKind.HEAT_PUMP, 3000, 0, True)
    build = heat_pump_builder(comfort_min_c=19, comfort_max_c=22, heat_capacity_kwh_per_k=2, heat_loss_kw=1.5, cop=3)
    offer = build("hp", _readings(temperature_c=20.5), caps, NOW)
    assert offer is not None and validate_offer(offer) == [] and offer.polytope
    bad = {"temperature_c": Measurement("temperature_c", 20.0, "C", NOW, Quality.BAD)}
    assert build("hp", bad, caps, NOW) is None


def test_ev_builder_only_offers_a_connected_session() -> None:
    caps = Capabilities(DeviceKind.EV_CHARGER, 11000, 0, True)
    departure = (NOW + timedelta(hours=5)).timestamp()
    offer = ev_builder()("ev", _readings(ev_connected=1, ev_energy_needed_kwh=20, ev_departure_ts=departure), caps, NOW)
    assert offer is not None and validate_offer(offer) == []
    assert offer.total_energy is not None and offer.total_energy.lower == 20
    assert ev_builder()("ev", _readings(ev_connected=0, ev_energy_needed_kwh=20, ev_departure_ts=departure),
                        caps, NOW) is None


def test_switchable_load_builder() -> None:
    caps = Capabilities(DeviceKind.SWITCHABLE_LOAD, 2000, 0, True)
    offer = switchable_load_builder(run_slices=3, window=timedelta(hours=3))("sw", {}, caps, NOW)
    assert offer is not None and validate_offer(offer) == [] and len(offer.xor_profiles) == 1
