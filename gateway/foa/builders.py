"""Offer builders: from a device's latest readings to its offer, per device kind.

They glue live state (SoC, forecast) to the pure constructors in ``offers``; the
agent calls one per device after every successful poll.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.device_common import Capabilities, Measurement
from core.flexoffer import FlexOffer
from gateway.foa.agent import OfferBuilder
from gateway.foa.offers import (
    Window,
    battery_offer,
    ev_offer,
    heat_pump_offer,
    pv_curtailment_offer,
    switchable_load_offer,
)


def _value(latest: dict[str, Measurement], name: str) -> float | None:
    """A usable reading: present, a number, and not of bad quality."""
    m = latest.get(name)
    if m is None or m.value != m.value or m.quality.value == "bad":
        return None
    return m.value


def battery_builder(slices: int = 8, interval_seconds: int = 900, min_soc_pct: float = 10.0,
                    max_soc_pct: float = 95.0, energy_neutral: bool = False) -> OfferBuilder:
    """``energy_neutral`` offers only shifts: the battery must end where it started."""

    def build(device_id: str, latest: dict[str, Measurement], caps: Capabilities, now: datetime) -> FlexOffer | None:
        soc = _value(latest, "soc_pct")
        if soc is None or not caps.energy_capacity_wh:
            return None
        return battery_offer(device_id, Window.next_from(now, slices, interval_seconds), soc_pct=soc,
                             capacity_kwh=caps.energy_capacity_wh / 1000.0,
                             max_charge_kw=caps.max_consumption_w / 1000.0,
                             max_discharge_kw=caps.max_production_w / 1000.0,
                             min_soc_pct=min_soc_pct, max_soc_pct=max_soc_pct,
                             end_soc_pct=soc if energy_neutral else None)

    return build


def pv_builder(slices: int = 8, interval_seconds: int = 900) -> OfferBuilder:
    """Persistence forecast: the current production holds for the whole window."""

    def build(device_id: str, latest: dict[str, Measurement], caps: Capabilities, now: datetime) -> FlexOffer | None:
        power = _value(latest, "power_w")
        if power is None:
            return None
        produced_kw = max(-power, 0.0) / 1000.0
        return pv_curtailment_offer(device_id, Window.next_from(now, slices, interval_seconds),
                                    forecast_kw=[produced_kw] * slices)

    return build


def heat_pump_builder(*, comfort_min_c: float, comfort_max_c: float, heat_capacity_kwh_per_k: float,
                      heat_loss_kw: float, cop: float, slices: int = 8, interval_seconds: int = 900) -> OfferBuilder:
    """From the measured room temperature (``temperature_c``) and the configured band."""

    def build(device_id: str, latest: dict[str, Measurement], caps: Capabilities, now: datetime) -> FlexOffer | None:
        temperature = _value(latest, "temperature_c")
        if temperature is None:
            return None
        return heat_pump_offer(device_id, Window.next_from(now, slices, interval_seconds), temperature_c=temperature,
                               comfort_min_c=comfort_min_c, comfort_max_c=comfort_max_c,
                               heat_capacity_kwh_per_k=heat_capacity_kwh_per_k, heat_loss_kw=heat_loss_kw, cop=cop,
                               max_power_kw=caps.max_consumption_w / 1000.0)

    return build


def ev_builder(interval_seconds: int = 900) -> OfferBuilder:
    """From the charger's session: ``ev_connected``, ``ev_energy_needed_kwh``, ``ev_departure_ts`` (Unix s)."""

    def build(device_id: str, latest: dict[str, Measurement], caps: Capabilities, now: datetime) -> FlexOffer | None:
        connected = _value(latest, "ev_connected")
        needed = _value(latest, "ev_energy_needed_kwh")
        departure = _value(latest, "ev_departure_ts")
        if not connected or needed is None or needed <= 0 or departure is None:
            return None
        leaving = datetime.fromtimestamp(departure, UTC)
        if leaving - now < timedelta(seconds=2 * interval_seconds):
            return None  # less than a whole interval after the next boundary: nothing to shift
        return ev_offer(device_id, arrival=now, departure=leaving, energy_needed_kwh=needed,
                        max_power_kw=caps.max_consumption_w / 1000.0, interval_seconds=interval_seconds)

    return build


def switchable_load_builder(*, run_slices: int, window: timedelta, interval_seconds: int = 900) -> OfferBuilder:
    """A load that may run once, at full power, any time within ``window`` from now."""

    def build(device_id: str, latest: dict[str, Measurement], caps: Capabilities, now: datetime) -> FlexOffer | None:
        return switchable_load_offer(device_id, earliest=now, latest=now + window,
                                     power_kw=caps.max_consumption_w / 1000.0, run_slices=run_slices,
                                     interval_seconds=interval_seconds)

    return build
