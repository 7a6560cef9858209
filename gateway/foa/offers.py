"""Flex-offers per device kind, from live state and configuration. Pure: no I/O.

Each builder turns what a device can do over the next hours into the core model's
constraints: per-slice energy bounds from power limits, a total-energy constraint
where the end state matters, and polytopic rows where every intermediate state must
stay inside a band (a battery's SoC, a heat pump's comfort temperatures). Energies
are kWh per slice, positive for consumption, as everywhere in the core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.flexoffer import EnergyBounds, FlexOffer, LinearConstraint, Profile, Schedule

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """The slices an offer covers: ``slices`` intervals from ``start`` (on the grid)."""

    start: datetime
    slices: int
    interval_seconds: int = 900

    @property
    def hours_per_slice(self) -> float:
        return self.interval_seconds / 3600.0

    @classmethod
    def next_from(cls, now: datetime, slices: int, interval_seconds: int = 900) -> Window:
        """The window starting at the first grid boundary after ``now``."""
        elapsed = (now - _EPOCH).total_seconds()
        start = _EPOCH + timedelta(seconds=math.floor(elapsed / interval_seconds + 1) * interval_seconds)
        return cls(start, slices, interval_seconds)


def _base(device_id: str, kind: str, window: Window, profile: Profile, **fields: object) -> FlexOffer:
    return FlexOffer.model_validate({
        "earliest_start": window.start,
        "latest_start": window.start,
        "interval_seconds": window.interval_seconds,
        "profile": profile,
        "extra": {"device_id": device_id, "device_kind": kind},
        **fields,
    })


def _cumulative_rows(n: int, lower: list[float], upper: list[float]) -> list[LinearConstraint]:
    """Rows keeping every running sum x_0+...+x_k inside [lower[k], upper[k]]."""
    rows: list[LinearConstraint] = []
    for k in range(n):
        ones = [1.0] * (k + 1) + [0.0] * (n - k - 1)
        if math.isfinite(upper[k]):
            rows.append(LinearConstraint(coefficients=ones, bound=upper[k]))
        if math.isfinite(lower[k]):
            rows.append(LinearConstraint(coefficients=[-c for c in ones], bound=-lower[k]))
    return rows


def battery_offer(device_id: str, window: Window, *, soc_pct: float, capacity_kwh: float, max_charge_kw: float,
                  max_discharge_kw: float, min_soc_pct: float = 10.0, max_soc_pct: float = 95.0,
                  end_soc_pct: float | None = None) -> FlexOffer:
    """Charge or discharge within power limits while the SoC stays in [min, max] throughout.

    The per-slice bounds come from the power limits, the polytope keeps every
    intermediate SoC inside the band, and the total-energy constraint pins the end
    SoC (to ``end_soc_pct`` if given, else anywhere in the band).
    """
    n, h = window.slices, window.hours_per_slice
    soc = min(max(soc_pct, min_soc_pct), max_soc_pct)
    room_up = (max_soc_pct - soc) / 100.0 * capacity_kwh
    room_down = (soc - min_soc_pct) / 100.0 * capacity_kwh
    profile = Profile(energy_lower=[-max_discharge_kw * h] * n, energy_upper=[max_charge_kw * h] * n)
    if end_soc_pct is not None:
        target = (min(max(end_soc_pct, min_soc_pct), max_soc_pct) - soc) / 100.0 * capacity_kwh
        target = min(max(target, -max_discharge_kw * h * n), max_charge_kw * h * n)
        total = EnergyBounds(lower=target, upper=target)
    else:
        total = EnergyBounds(lower=max(-room_down, -max_discharge_kw * h * n),
                             upper=min(room_up, max_charge_kw * h * n))
    rows = _cumulative_rows(n, [-room_down] * n, [room_up] * n)
    return _base(device_id, "battery", window, profile, total_energy=total, polytope=rows,
                 default_schedule=Schedule(start=window.start, energy=[0.0] * n) if total.lower <= 0 <= total.upper
                 else None)


def ev_offer(device_id: str, *, arrival: datetime, departure: datetime, energy_needed_kwh: float,
             max_power_kw: float, interval_seconds: int = 900) -> FlexOffer:
    """Charge ``energy_needed_kwh`` between arrival and departure, starting when the FMAN likes.

    The profile is as short as the charger's power allows; its start may move anywhere
    that still finishes by departure. If even starting at once cannot deliver the
    energy, the offer asks for what can be delivered.
    """
    first = Window.next_from(arrival - timedelta(microseconds=1), 1, interval_seconds).start
    h = interval_seconds / 3600.0
    available = max(0, math.floor((departure - first).total_seconds() / interval_seconds))
    if available == 0:
        raise ValueError(f"EV {device_id}: no whole interval between arrival and departure")
    per_slice = max_power_kw * h
    slices = min(available, max(1, math.ceil(energy_needed_kwh / per_slice - 1e-9)))
    energy = min(energy_needed_kwh, per_slice * slices)
    latest = first + timedelta(seconds=(available - slices) * interval_seconds)
    profile = Profile(energy_lower=[0.0] * slices, energy_upper=[per_slice] * slices)
    return FlexOffer.model_validate({
        "earliest_start": first, "latest_start": latest, "interval_seconds": interval_seconds,
        "assignment_before": first, "profile": profile,
        "total_energy": EnergyBounds(lower=energy, upper=energy),
        "extra": {"device_id": device_id, "device_kind": "ev_charger"},
    })


def heat_pump_offer(device_id: str, window: Window, *, temperature_c: float, comfort_min_c: float,
                    comfort_max_c: float, heat_capacity_kwh_per_k: float, heat_loss_kw: float, cop: float,
                    max_power_kw: float) -> FlexOffer:
    """Electric energy bounds that keep the room inside its comfort band at every slice end.

    With a one-node thermal model T_k = T_0 + (cop·E_k - loss·t_k) / C, the band on
    T_k is a band on the cumulative electric energy E_k: polytopic rows. A band that
    the heat pump cannot reach in time is clipped to what its power allows.
    """
    n, h = window.slices, window.hours_per_slice
    t0 = temperature_c
    lower: list[float] = []
    upper: list[float] = []
    for k in range(1, n + 1):
        max_cumulative = max_power_kw * h * k
        lo = (heat_capacity_kwh_per_k * (comfort_min_c - t0) + heat_loss_kw * h * k) / cop
        hi = (heat_capacity_kwh_per_k * (comfort_max_c - t0) + heat_loss_kw * h * k) / cop
        hi = min(max(hi, 0.0), max_cumulative)
        lo = min(max(lo, 0.0), hi)
        lower.append(lo)
        upper.append(hi)
    profile = Profile(energy_lower=[0.0] * n, energy_upper=[max_power_kw * h] * n)
    return _base(device_id, "heat_pump", window, profile, total_energy=EnergyBounds(lower=lower[-1], upper=upper[-1]),
                 polytope=_cumulative_rows(n, lower, upper))


def pv_curtailment_offer(device_id: str, window: Window, *, forecast_kw: list[float]) -> FlexOffer:
    """Production may be cut from its forecast down to nothing, slice by slice.

    The default schedule is the uncurtailed forecast: the FMAN only moves away from
    it when curtailing is worth it.
    """
    if len(forecast_kw) != window.slices:
        raise ValueError(f"forecast has {len(forecast_kw)} values, window has {window.slices} slices")
    h = window.hours_per_slice
    produced = [-max(p, 0.0) * h for p in forecast_kw]
    profile = Profile(energy_lower=produced, energy_upper=[0.0] * window.slices)
    return _base(device_id, "pv", window, profile, default_schedule=Schedule(start=window.start, energy=produced))


def switchable_load_offer(device_id: str, *, earliest: datetime, latest: datetime, power_kw: float, run_slices: int,
                          interval_seconds: int = 900) -> FlexOffer:
    """A load that is either on at full power for its whole run or off: two XOR profiles."""
    h = interval_seconds / 3600.0
    on = power_kw * h
    start = Window.next_from(earliest - timedelta(microseconds=1), 1, interval_seconds).start
    return FlexOffer.model_validate({
        "earliest_start": start, "latest_start": max(start, latest), "interval_seconds": interval_seconds,
        "profile": Profile(energy_lower=[on] * run_slices, energy_upper=[on] * run_slices),
        "xor_profiles": [Profile(energy_lower=[0.0] * run_slices, energy_upper=[0.0] * run_slices)],
        "extra": {"device_id": device_id, "device_kind": "switchable_load"},
    })
