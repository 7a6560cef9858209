"""The flex-offer agent: polls devices, posts their offers, executes their schedules.

One agent serves many devices on one asyncio loop. Each device is polled on its
own cadence; a device that fails is marked offline (an alarm in the store, its
open offers withdrawn) and retried with exponential backoff, and it is cleared as
soon as it answers again. Offers go to the hub's flex-offer store through the
same service functions the REST API uses, so they get the same validation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adapters.device_common import (
    Backoff,
    Capabilities,
    Clock,
    Device,
    DeviceOffline,
    ExecutionReport,
    Measurement,
    Setpoint,
    SystemClock,
    execute,
)
from core.flexoffer import FlexOffer, OfferState
from gateway.api.problems import ProblemError
from gateway.bus import EventBus
from gateway.foa import metering, records
from gateway.services import flexoffers

log = logging.getLogger("flexhub.foa")

OfferBuilder = Callable[[str, dict[str, Measurement], Capabilities, datetime], FlexOffer | None]
"""Builds a device's current offer from its latest readings; None when it has nothing to offer."""


@dataclass
class ManagedDevice:
    device: Device
    builder: OfferBuilder | None = None
    resend_threshold: float = 2.0
    """Re-offer when the value the offer depends on (``state_key``) moved this much."""
    state_key: str = "soc_pct"
    online: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    retry_at: float = 0.0
    offer_id: str | None = None
    offered_state: float | None = None
    latest: dict[str, Measurement] = field(default_factory=dict)
    last_stored: float = float("-inf")
    meter: metering.SliceMeter = field(default_factory=metering.SliceMeter)
    """Integrates ``power_w`` into energy per slice, recorded against the device's offer for settlement."""


@dataclass
class FlexOfferAgent:
    party: str
    sessions: sessionmaker[Session]
    bus: EventBus | None = None
    clock: Clock = field(default_factory=SystemClock)
    measurement_period_s: float = 60.0
    devices: dict[str, ManagedDevice] = field(default_factory=dict)

    def add(self, device: Device, builder: OfferBuilder | None = None, **options: Any) -> ManagedDevice:
        managed = ManagedDevice(device, builder, **options)
        self.devices[device.device_id] = managed
        return managed

    async def poll(self, device_id: str) -> bool:
        """One cycle for one device; returns whether it is online afterwards."""
        managed = self.devices[device_id]
        loop = asyncio.get_running_loop()
        if not managed.online and loop.time() < managed.retry_at:
            return False
        device = managed.device
        try:
            if not managed.online:
                await device.connect()
                await device.refresh_capabilities()
            readings = await device.read()
        except (DeviceOffline, OSError) as exc:
            await self._went_offline(managed, str(exc))
            managed.retry_at = loop.time() + managed.backoff.next_delay()
            return False
        now = self.clock.now()
        if not managed.online:
            managed.online = True
            managed.backoff.reset()
            with self.sessions() as session:
                records.clear_alarms(session, self.party, device_id, "offline", now)
        managed.latest = {m.name: m for m in readings}
        if loop.time() - managed.last_stored >= self.measurement_period_s:
            managed.last_stored = loop.time()
            with self.sessions() as session:
                records.store_measurements(session, self.party, device_id, readings)
        self._meter(managed, now)
        self._update_offer(managed, now)
        return True

    def _meter(self, managed: ManagedDevice, now: datetime) -> None:
        power = managed.latest.get(metering.POWER)
        if power is None or power.value != power.value or power.quality.value == "bad":
            managed.meter.reset()  # a hole in the readings: do not settle the slice on a guess
            return
        slices = managed.meter.add(now, power.value)
        if slices:
            with self.sessions() as session:
                try:
                    metering.record_slices(session, self.party, managed.device.device_id, slices)
                except ProblemError as exc:  # metering must never stop the device's polling
                    session.rollback()
                    log.warning("device %s: metered energy not recorded: %s", managed.device.device_id, exc.detail)

    async def poll_all(self) -> dict[str, bool]:
        ids = list(self.devices)
        results = await asyncio.gather(*(self.poll(i) for i in ids))
        return dict(zip(ids, results, strict=True))

    async def run(self, period_s: float = 1.0, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            await self.poll_all()
            try:
                await asyncio.wait_for(stop.wait(), period_s)
            except TimeoutError:
                pass

    async def _went_offline(self, managed: ManagedDevice, reason: str) -> None:
        device_id = managed.device.device_id
        was_online = managed.online
        managed.online = False
        managed.meter.reset()
        await managed.device.close()
        withdrawn: list[str] = []
        with self.sessions() as session:
            if managed.offer_id is not None:
                try:
                    offer = flexoffers.get_offer(session, self.party, managed.offer_id)
                    if offer.state in (OfferState.OFFERED, OfferState.ACCEPTED):
                        flexoffers.change_state(session, self.bus, self.party, managed.offer_id, "canceled")
                        managed.offer_id, managed.offered_state = None, None
                    withdrawn.append(offer.id or "")
                except ProblemError as exc:
                    log.warning("device %s: could not withdraw offer: %s", device_id, exc.detail)
            records.raise_alarm(session, self.party, device_id, "offline", f"device unreachable: {reason}",
                                self.clock.now(), [w for w in withdrawn if w])
        if was_online:
            log.warning("device %s went offline: %s", device_id, reason)

    def _update_offer(self, managed: ManagedDevice, now: datetime) -> None:
        if managed.builder is None:
            return
        state = managed.latest.get(managed.state_key)
        value = state.value if state is not None else None
        if managed.offer_id is not None and managed.offered_state is not None and value is not None \
                and abs(value - managed.offered_state) < managed.resend_threshold:
            return
        offer = managed.builder(managed.device.device_id, managed.latest, managed.device.capabilities, now)
        if offer is None:
            return
        offer = offer.model_copy(update={"offered_by": self.party})
        with self.sessions() as session:
            if managed.offer_id is not None:
                current = flexoffers.get_offer(session, self.party, managed.offer_id)
                if current.state is not OfferState.OFFERED:
                    return  # accepted or scheduled: the device is committed; keep it
                try:
                    flexoffers.replace_offer(session, self.bus, self.party, managed.offer_id, offer)
                    managed.offered_state = value
                    return
                except ProblemError as exc:
                    log.info("device %s: offer %s not replaced (%s); posting a new one",
                             managed.device.device_id, managed.offer_id, exc.detail)
            result = flexoffers.ingest(session, self.bus, self.party, [offer])
        managed.offer_id, managed.offered_state = result.ids[0], value

    async def execute_offer(self, offer_id: str, final: Setpoint | None = None) -> ExecutionReport:
        """Run the schedule assigned to ``offer_id`` on its device; the report is always stored."""
        with self.sessions() as session:
            offer = flexoffers.get_offer(session, self.party, offer_id)
        device_id = str(offer.extra.get("device_id", ""))
        managed = self.devices.get(device_id)
        if offer.schedule is None or offer.state is not OfferState.ASSIGNED:
            report = ExecutionReport(device_id, "rejected", reasons=[f"offer is {offer.state.value}, not assigned"])
        elif managed is None:
            report = ExecutionReport(device_id, "rejected", reasons=[f"no device {device_id!r} on this agent"])
        elif not managed.online:
            report = ExecutionReport(device_id, "failed", reasons=["device is offline"])
        else:
            try:
                report = await execute(managed.device, offer.schedule, offer.interval_seconds, self.clock, final)
            except DeviceOffline as exc:
                report = ExecutionReport(device_id, "failed", reasons=[str(exc)])
        now = self.clock.now()
        with self.sessions() as session:
            records.record_execution(session, self.party, report, offer_id, now)
            if report.status == "completed":
                flexoffers.change_state(session, self.bus, self.party, offer_id, "executed")
            else:
                records.raise_alarm(session, self.party, device_id or "unknown", "execution_failed",
                                    f"schedule of offer {offer_id} {report.status}: " + "; ".join(report.reasons),
                                    now, [offer_id])
        if managed is not None and managed.offer_id == offer_id:
            managed.offer_id, managed.offered_state = None, None
        return report
