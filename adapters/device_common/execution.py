"""Executing an assigned schedule on a device: one setpoint per slice, at slice boundaries.

A schedule gives energy per slice (kWh, load convention); a device takes power. The
slice's energy spread evenly over its duration is the setpoint. A schedule any slice
of which the device cannot follow is rejected before anything is sent, and a slice
the device does not confirm marks the whole execution failed: both come back in the
report, so the hub can tell the FMAN, and nothing is silently dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from adapters.device_common.device import Device, DeviceOffline, Setpoint, SetpointNotConfirmed
from core.flexoffer import Schedule


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, moment: datetime) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(frozen=True)
class SliceSetpoint:
    start: datetime
    end: datetime
    power_w: float


@dataclass
class SliceOutcome:
    index: int
    start: datetime
    power_w: float
    confirmed_w: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ExecutionReport:
    device_id: str
    status: str  # "completed" | "failed" | "rejected"
    slices: list[SliceOutcome] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "device_id": self.device_id,
            "status": self.status,
            "reasons": self.reasons,
            "slices": [
                {"index": s.index, "start": s.start.isoformat(), "power_w": s.power_w,
                 "confirmed_w": s.confirmed_w, "error": s.error}
                for s in self.slices
            ],
        }


def slice_setpoints(schedule: Schedule, interval_seconds: int) -> list[SliceSetpoint]:
    """Turn per-slice energies (kWh) into per-slice power setpoints (W)."""
    durations = schedule.durations or [1] * len(schedule.energy)
    result: list[SliceSetpoint] = []
    start = schedule.start
    for energy_kwh, intervals in zip(schedule.energy, durations, strict=True):
        seconds = intervals * interval_seconds
        end = start + timedelta(seconds=seconds)
        result.append(SliceSetpoint(start, end, energy_kwh * 3_600_000.0 / seconds))
        start = end
    return result


async def execute(device: Device, schedule: Schedule, interval_seconds: int, clock: Clock,
                  final: Setpoint | None = None) -> ExecutionReport:
    """Follow ``schedule`` on ``device``; return what happened slice by slice.

    Slices whose end has already passed are reported as missed (a late schedule is a
    failure the FMAN must hear about); the current slice starts at once.
    """
    plan = slice_setpoints(schedule, interval_seconds)
    caps = device.capabilities
    reasons = [
        f"slice {i}: {s.power_w:.1f} W outside the device's limits "
        f"[-{caps.max_production_w:.1f}, {caps.max_consumption_w:.1f}] W"
        for i, s in enumerate(plan) if not caps.allows(s.power_w, tolerance_w=0.5)
    ]
    if not caps.controllable:
        reasons.insert(0, "the device is not controllable")
    if reasons:
        return ExecutionReport(device.device_id, "rejected", reasons=reasons)

    report = ExecutionReport(device.device_id, "completed")
    for index, step in enumerate(plan):
        outcome = SliceOutcome(index, step.start, step.power_w)
        report.slices.append(outcome)
        if clock.now() >= step.end:
            outcome.error = "slice ended before it could be executed"
            continue
        await clock.sleep_until(step.start)
        try:
            outcome.confirmed_w = await device.apply(Setpoint(caps.clamp(step.power_w)))
        except (DeviceOffline, SetpointNotConfirmed, ValueError) as exc:
            outcome.error = str(exc) or type(exc).__name__
    if plan:
        await clock.sleep_until(plan[-1].end)
    if final is not None:
        try:
            await device.apply(final)
        except (DeviceOffline, SetpointNotConfirmed, ValueError) as exc:
            report.reasons.append(f"final setpoint: {exc}")
    failed = [o for o in report.slices if not o.ok]
    if failed:
        report.status = "failed"
        report.reasons.extend(f"slice {o.index}: {o.error}" for o in failed)
    return report


class AcceleratedClock:
    """Time that runs ``speedup`` times faster than the wall clock, from ``origin``.

    Lets a simulation (and the tests) run a day of 15-minute slices in seconds while
    every setpoint still goes over the wire to a real device.
    """

    def __init__(self, origin: datetime, speedup: float) -> None:
        self._origin = origin
        self._speedup = speedup
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=(time.monotonic() - self._started) * self._speedup)

    async def sleep_until(self, moment: datetime) -> None:
        delay = (moment - self.now()).total_seconds() / self._speedup
        if delay > 0:
            await asyncio.sleep(delay)
