"""Offer builders: from a device's latest readings to its offer, per device kind.

They glue live state (SoC, forecast) to the pure constructors in ``offers``; the
agent calls one per device after every successful poll.
"""

from __future__ import annotations

from datetime import datetime

from adapters.device_common import Capabilities, Measurement
from core.flexoffer import FlexOffer
from gateway.foa.agent import OfferBuilder
from gateway.foa.offers import Window, battery_offer, pv_curtailment_offer


def battery_builder(slices: int = 8, interval_seconds: int = 900, min_soc_pct: float = 10.0,
                    max_soc_pct: float = 95.0, energy_neutral: bool = False) -> OfferBuilder:
    """``energy_neutral`` offers only shifts: the battery must end where it started."""

    def build(device_id: str, latest: dict[str, Measurement], caps: Capabilities, now: datetime) -> FlexOffer | None:
        soc = latest.get("soc_pct")
        if soc is None or soc.value != soc.value or not caps.energy_capacity_wh:
            return None
        return battery_offer(device_id, Window.next_from(now, slices, interval_seconds), soc_pct=soc.value,
                             capacity_kwh=caps.energy_capacity_wh / 1000.0,
                             max_charge_kw=caps.max_consumption_w / 1000.0,
                             max_discharge_kw=caps.max_production_w / 1000.0,
                             min_soc_pct=min_soc_pct, max_soc_pct=max_soc_pct,
                             end_soc_pct=soc.value if energy_neutral else None)

    return build


def pv_builder(slices: int = 8, interval_seconds: int = 900) -> OfferBuilder:
    """Persistence forecast: the current production holds for the whole window."""

    def build(device_id: str, latest: dict[str, Measurement], caps: Capabilities, now: datetime) -> FlexOffer | None:
        power = latest.get("power_w")
        if power is None or power.value != power.value:
            return None
        produced_kw = max(-power.value, 0.0) / 1000.0
        return pv_curtailment_offer(device_id, Window.next_from(now, slices, interval_seconds),
                                    forecast_kw=[produced_kw] * slices)

    return build
