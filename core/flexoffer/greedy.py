"""The direct-trading greedy planner: the baseline every MILP plan is measured against.

Direct trading (GOFLEX FMAN) walks the offers in merit order: production cheapest
first, consumption dearest first, where an offer's price is its tariff bound
(``minTariff`` for production, ``maxTariff`` for consumption). Each offer in turn
takes the start and energies that are cheapest against the price series and the
zone headroom the offers before it left. An offer that carries a price is only
traded when that raises profit (its price beats the market cost); otherwise it
keeps its default schedule. Offers without a price are always placed.

It is myopic by design: it never revisits an earlier offer, which is exactly what
the MILP improves on when a zone limit couples the offers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import highspy
import numpy as np

from core.flexoffer.model import FlexOffer, Profile, Schedule
from core.flexoffer.planning import (
    FloatArray,
    Horizon,
    MinimiseCost,
    PlanningError,
    PlanResult,
    feasible_starts,
    offer_of,
    slot_series,
)


def _direction_and_price(offer: FlexOffer) -> tuple[bool, float | None]:
    """(is production, reservation price EUR/kWh or None)."""
    profile = offer.profile
    midpoint = float(np.sum(profile.energy_lower) + np.sum(profile.energy_upper)) / 2.0
    production = midpoint < 0
    column = profile.tariff_lower if production else profile.tariff_upper
    prices = [p for p in (column or []) if p is not None]
    return production, (float(np.mean(prices)) if prices else None)


def merit_order(offers: Sequence[FlexOffer]) -> list[int]:
    """Indices in direct-trading order: production cheapest first, then consumption dearest first."""
    production: list[tuple[float, int]] = []
    consumption: list[tuple[float, int]] = []
    for index, offer in enumerate(offers):
        is_production, price = _direction_and_price(offer)
        if is_production:
            production.append((np.inf if price is None else price, index))
        else:
            consumption.append((np.inf if price is None else -price, index))
    return [i for _, i in sorted(production)] + [i for _, i in sorted(consumption)]


def _fill(prices: FloatArray, lower: FloatArray, upper: FloatArray, total_lo: float, total_hi: float) -> FloatArray:
    """Cheapest energies per start (rows): min Σ p·x, lower <= x <= upper, Σx in [total_lo, total_hi].

    A fractional knapsack: start at the lower bounds, buy the mandatory remainder in
    the cheapest slices, then take extra energy only where the price is negative.
    Rows that cannot reach ``total_lo`` come back with NaN.
    """
    order = np.argsort(prices, axis=1, kind="stable")
    room = np.take_along_axis(upper - lower, order, axis=1)
    sorted_prices = np.take_along_axis(prices, order, axis=1)
    base = lower.sum(axis=1)
    need = np.clip(total_lo - base, 0.0, None)
    before = np.cumsum(room, axis=1) - room
    take = np.clip(need[:, None] - before, 0.0, room)
    optional = np.clip(total_hi - base - need, 0.0, None)
    spare = np.where(sorted_prices < 0, room - take, 0.0)
    before_spare = np.cumsum(spare, axis=1) - spare
    take += np.clip(optional[:, None] - before_spare, 0.0, spare)
    energy = lower.copy()
    np.put_along_axis(energy, order, np.take_along_axis(energy, order, axis=1) + take, axis=1)
    energy[room.sum(axis=1) + 1e-9 < need] = np.nan
    return energy


def _lp_fill(offer: FlexOffer, prices: FloatArray, lower: FloatArray, upper: FloatArray) -> FloatArray:
    """Offers with polytopic rows: one small LP per start (rare, so not vectorised)."""
    out = np.full(prices.shape, np.nan)
    n = prices.shape[1]
    te = offer.total_energy
    for s in range(prices.shape[0]):
        if np.any(lower[s] > upper[s] + 1e-12):
            continue
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        idx = np.arange(n, dtype=np.int32)
        h.addVars(n, lower[s], upper[s])
        h.changeColsCost(n, idx, prices[s])
        if te is not None:
            h.addRow(te.lower, te.upper, n, idx, np.ones(n))
        for row in offer.polytope:
            if len(row.coefficients) == n:
                h.addRow(-highspy.kHighsInf, row.bound, n, idx, np.asarray(row.coefficients, dtype=float))
        h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            out[s] = np.clip(np.asarray(h.getSolution().col_value[:n]), lower[s], upper[s])
    return out


def _best_placement(
    offer: FlexOffer, profile: Profile, horizon: Horizon, prices: FloatArray, headroom: FloatArray
) -> tuple[float, int, FloatArray] | None:
    """(cost, start slot, energies) of the cheapest placement of ``profile`` within the headroom."""
    durations = np.asarray(profile.min_durations(), dtype=np.int64)
    starts = feasible_starts(offer, horizon, int(durations.sum()))
    if starts.size == 0:
        return None
    offsets = np.concatenate([[0], np.cumsum(durations)[:-1]])
    slot_idx = starts[:, None] + np.arange(int(durations.sum()))[None, :]
    slot_prices = prices[slot_idx]
    slot_room = headroom[slot_idx]
    slice_price = np.add.reduceat(slot_prices, offsets, axis=1) / durations
    slice_room = np.minimum.reduceat(slot_room, offsets, axis=1) * durations
    lower = np.broadcast_to(np.asarray(profile.energy_lower, dtype=float), slice_price.shape).copy()
    upper = np.minimum(np.asarray(profile.energy_upper, dtype=float)[None, :], slice_room)
    te = offer.total_energy
    total_lo = -np.inf if te is None else te.lower
    total_hi = np.inf if te is None else te.upper
    if offer.polytope:
        energy = _lp_fill(offer, slice_price, lower, upper)
    else:
        energy = _fill(slice_price, lower, upper, total_lo, total_hi)
        feasible = (lower <= upper + 1e-12).all(axis=1) & (energy.sum(axis=1) <= total_hi + 1e-9)
        energy[~feasible] = np.nan
    cost = np.where(np.isnan(energy).any(axis=1), np.inf, np.nansum(energy * slice_price, axis=1))
    best = int(np.argmin(cost))
    if not np.isfinite(cost[best]):
        return None
    return float(cost[best]), int(starts[best]), energy[best]


def greedy_plan(offers_or_aggregates: Sequence[Any], objective: MinimiseCost, horizon: Horizon) -> PlanResult:
    """Plan with the direct-trading greedy rule; ``gap`` is NaN (nothing is proven)."""
    started = time.perf_counter()
    offers = [offer_of(item) for item in offers_or_aggregates]
    prices = slot_series(objective.prices, horizon, "prices", 0.0)
    limit = slot_series(objective.limit, horizon, "limit", np.inf)
    load = np.zeros(horizon.slots)
    schedules: dict[str, Schedule] = {}
    unplanned: dict[str, str] = {}
    for index in merit_order(offers):
        offer = offers[index]
        key = offer.id if offer.id is not None else f"#{index}"
        if key in schedules:
            raise PlanningError(f"offer id {key!r} appears twice")
        if offer.interval_seconds != horizon.slot_seconds:
            unplanned[key] = f"interval {offer.interval_seconds}s differs from the horizon's {horizon.slot_seconds}s"
            continue
        _, reservation = _direction_and_price(offer)
        headroom = limit - load
        choices = []
        for p_index, profile in enumerate(offer.profiles):
            placed = _best_placement(offer, profile, horizon, prices, headroom)
            if placed is not None:
                choices.append((placed[0], p_index, placed[1], placed[2]))
        if not choices:
            unplanned[key] = "no start fits the horizon and the zone headroom left"
            continue
        cost, p_index, start, energy = min(choices, key=lambda c: c[0])
        if reservation is not None and offer.default_schedule is not None:
            profit = reservation * float(energy.sum()) - cost
            if profit <= 0:
                schedules[key] = offer.default_schedule
                _add_load(load, offer.profiles[p_index], horizon, offer.default_schedule)
                continue
        schedule = Schedule(
            start=horizon.slot_start(start),
            energy=energy.tolist(),
            profile_index=p_index if offer.xor_profiles else None,
        )
        schedules[key] = schedule
        _add_load(load, offer.profiles[p_index], horizon, schedule)
    return PlanResult(
        schedules=schedules,
        objective_value=float(prices @ load),
        gap=float("nan"),
        status="Heuristic",
        slot_energy=load.tolist(),
        unplanned=unplanned,
        solve_seconds=time.perf_counter() - started,
    )


def _add_load(load: FloatArray, profile: Profile, horizon: Horizon, schedule: Schedule) -> None:
    durations = np.asarray(schedule.slice_durations(profile), dtype=np.int64)
    first = round((schedule.start - horizon.start) / horizon.slot)
    per_slot = np.repeat(np.asarray(schedule.energy, dtype=float) / durations, durations)
    slots = first + np.arange(per_slot.size)
    inside = (slots >= 0) & (slots < horizon.slots)
    np.add.at(load, slots[inside], per_slot[inside])
