"""Units and signs: ESMP quantities (MW/kW per slot, up/down) ⇄ core kWh (positive = consumption).

The sign mapping, in one place so every codec agrees:

* ``flowDirection`` A01 (**up**) means more power into the grid: a producer raises
  output or a consumer sheds load. In the load convention that is *less*
  consumption, so up-regulation energy is **negative** kWh.
* A02 (**down**) is the opposite: **positive** kWh.
* Schedules without a direction use ``businessType``: A01 (production) is negative,
  everything else (consumption A04, exchanges, aggregated data) positive.

Power units (MAW, KWT) are averages over the slot, so energy = power x resolution.
Energy units (MWH, KWH) are already energy per slot.
"""

from __future__ import annotations

from datetime import timedelta

DIRECTION_UP = "A01"
DIRECTION_DOWN = "A02"
BUSINESS_PRODUCTION = "A01"

_POWER_KW = {"MAW": 1000.0, "KWT": 1.0}
_ENERGY_KWH = {"MWH": 1000.0, "KWH": 1.0}


class UnitError(ValueError):
    """A unit the hub cannot turn into energy."""


def direction_sign(direction: str | None) -> int:
    if direction == DIRECTION_UP:
        return -1
    if direction == DIRECTION_DOWN or direction is None:
        return 1
    raise UnitError(f"unsupported flowDirection {direction!r} (expected A01 up or A02 down)")


def business_sign(business_type: str | None) -> int:
    return -1 if business_type == BUSINESS_PRODUCTION else 1


def to_kwh_factor(unit: str, resolution: timedelta) -> float:
    """kWh per unit quantity in one slot of ``resolution``."""
    if unit in _POWER_KW:
        return _POWER_KW[unit] * resolution.total_seconds() / 3600.0
    if unit in _ENERGY_KWH:
        return _ENERGY_KWH[unit]
    raise UnitError(f"unsupported unit {unit!r} (expected MAW, KWT, MWH or KWH)")


def price_per_kwh(price: float, price_unit: str | None) -> float:
    """Prices are per MWH unless the document says KWH; the core works in EUR/kWh."""
    return price if price_unit == "KWH" else price / 1000.0


def price_per_unit(price_kwh: float, price_unit: str | None) -> float:
    return price_kwh if price_unit == "KWH" else price_kwh * 1000.0
