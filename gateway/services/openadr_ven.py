"""The hub as a VEN toward an upstream VTN: events become planning targets.

Opt-in is decided from what the portfolio can deliver: the flex-offers in the
store (including availability reported by downstream VENs) bound the aggregate
energy per interval, and an event is accepted only if every LOAD_DISPATCH
setpoint lies inside those bounds. Price and SIMPLE events carry no quantity to
check and are accepted. Each event is stored with its decision before the
oadrCreatedEvent goes out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.openadr import codec
from adapters.openadr.ven import ReportRequest, VenClient
from core.flexoffer import ENERGY_TOLERANCE_KWH, FlexOffer
from gateway.db.flexoffer import StoredFlexOffer
from gateway.db.openadr import OadrMeasurement, OadrUpstreamEvent

PLANNABLE_STATES = ("offered", "accepted", "initial")


def portfolio_bounds(session: Session, start: datetime, end: datetime) -> tuple[float, float]:
    """Aggregate [lower, upper] kWh of the stored fixed-time offers over [start, end), prorated by overlap."""
    rows = session.scalars(select(StoredFlexOffer).where(
        StoredFlexOffer.state.in_(PLANNABLE_STATES), StoredFlexOffer.window_start < end,
        StoredFlexOffer.window_end > start)).all()
    lower = upper = 0.0
    for row in rows:
        offer = FlexOffer.model_validate_json(row.document)
        step = offer.interval
        moment = offer.earliest_start
        for low, high, count in zip(offer.profile.energy_lower, offer.profile.energy_upper,
                                    offer.profile.min_durations(), strict=True):
            length = step * count
            overlap = (min(end, moment + length) - max(start, moment)).total_seconds()
            if overlap > 0:
                share = overlap / length.total_seconds()
                lower += low * share
                upper += high * share
            moment += length
    return lower, upper


def deliverable(session: Session, target: codec.DispatchTarget) -> bool:
    if target.signal_name != codec.LOAD_DISPATCH or target.signal_type != "setpoint":
        return True
    for interval, energy in zip(target.intervals, target.energy_kwh(), strict=True):
        low, high = portfolio_bounds(session, interval.start, interval.start + interval.duration)
        if energy < low - ENERGY_TOLERANCE_KWH or energy > high + ENERGY_TOLERANCE_KWH:
            return False
    return True


def _targets_json(targets: list[codec.DispatchTarget]) -> list[dict[str, Any]]:
    return [{"signal_name": t.signal_name, "signal_type": t.signal_type,
             "intervals": [{"start": i.start.isoformat(), "duration_seconds": int(i.duration.total_seconds()),
                            "value": i.value} for i in t.intervals]} for t in targets]


def planning_targets(session: Session, vtn_id: str | None = None) -> list[tuple[str, codec.DispatchTarget]]:
    """``(vtnID, target)`` for every opted-in, live upstream event (of one upstream VTN, or of all)."""
    query = select(OadrUpstreamEvent).where(OadrUpstreamEvent.opt_type == "optIn",
                                            OadrUpstreamEvent.status.not_in(("cancelled", "completed")))
    if vtn_id is not None:
        query = query.where(OadrUpstreamEvent.vtn_id == vtn_id)
    return [
        (row.vtn_id, codec.DispatchTarget(row.event_id, row.modification_number, t["signal_name"], t["signal_type"], [
            codec.SignalInterval(datetime.fromisoformat(i["start"]), timedelta(seconds=i["duration_seconds"]),
                                 float(i["value"])) for i in t["intervals"]]))
        for row in session.scalars(query.order_by(OadrUpstreamEvent.id)) for t in row.targets
    ]


class UpstreamVen:
    """Glue between :class:`VenClient` and the store; pass :meth:`decide` as the client's ``on_event``."""

    def __init__(self, sessions: sessionmaker[Any], vtn_id: str) -> None:
        self.sessions = sessions
        self.vtn_id = vtn_id

    def decide(self, event: dict[str, Any]) -> str:
        targets = codec.dispatch_targets(event)
        descriptor = event["event_descriptor"]
        with self.sessions() as session:
            cancelled = descriptor.get("event_status") in ("cancelled", "completed")
            opt = "optIn" if cancelled or all(deliverable(session, t) for t in targets) else "optOut"
            row = session.scalar(select(OadrUpstreamEvent).where(
                OadrUpstreamEvent.vtn_id == self.vtn_id, OadrUpstreamEvent.event_id == descriptor["event_id"]))
            if row is None:
                row = OadrUpstreamEvent(vtn_id=self.vtn_id, event_id=descriptor["event_id"])
                session.add(row)
            row.modification_number = int(descriptor["modification_number"])
            row.status = str(descriptor.get("event_status"))
            row.targets = _targets_json(targets)
            row.opt_type = opt
            row.received_at = datetime.now(UTC)
            session.commit()
        return opt

    def planning_targets(self) -> list[codec.DispatchTarget]:
        """Opted-in, not cancelled upstream events: the demand-response requests FMAN plans for."""
        with self.sessions() as session:
            return [target for _, target in planning_targets(session, self.vtn_id)]

    def aggregated_usage(self, since: datetime, r_id: str) -> list[tuple[datetime, timedelta, str, float]]:
        """Downstream VENs' usage summed per reading start (what the hub reports upstream)."""
        with self.sessions() as session:
            rows = session.execute(
                select(OadrMeasurement.start, func.max(OadrMeasurement.duration_seconds),
                       func.sum(OadrMeasurement.value))
                .where(OadrMeasurement.start >= since, OadrMeasurement.report_type == "usage")
                .group_by(OadrMeasurement.start).order_by(OadrMeasurement.start)).all()
        return [(start if start.tzinfo else start.replace(tzinfo=UTC), timedelta(seconds=duration or 0), r_id,
                 float(total)) for start, duration, total in rows]

    async def report_usage(self, client: VenClient, request: ReportRequest, since: datetime) -> int:
        r_id = request.r_ids[0] if request.r_ids else "portfolio"
        values = self.aggregated_usage(since, r_id)
        if values:
            await client.update_report(request, values)
        return len(values)



PORTFOLIO_METADATA: dict[str, Any] = {
    "report_specifier_id": "flexhub-portfolio-usage", "report_name": "METADATA_TELEMETRY_USAGE",
    "duration": timedelta(hours=24),
    "report_descriptions": [{
        "r_id": "portfolio-power", "report_type": "usage", "reading_type": "Direct Read",
        "report_data_source": {"resource_id": "portfolio"},
        "measurement": {"name": "powerReal", "description": "RealPower", "unit": "W", "scale": "k", "ns": "power",
                        "power_attributes": {"hertz": 50, "voltage": 230, "ac": True}},
        "sampling_rate": {"min_period": timedelta(minutes=1), "max_period": timedelta(hours=1), "on_change": False},
    }],
}


async def run_upstream(client: VenClient, upstream: UpstreamVen, stop: Any, *, rounds: int | None = None) -> None:
    """Register, offer the portfolio usage report, then poll and report until ``stop`` (an asyncio.Event) is set."""
    import asyncio

    await client.register()
    await client.register_reports([dict(PORTFOLIO_METADATA)])
    last_report = datetime.now(UTC) - timedelta(hours=1)
    done = 0
    while not stop.is_set() and (rounds is None or done < rounds):
        while await client.poll() not in (None, "oadrResponse"):
            pass  # drain: every poll returns one waiting message
        now = datetime.now(UTC)
        for request in list(client.state.report_requests.values()):
            await upstream.report_usage(client, request, last_report)
        last_report = now
        done += 1
        try:
            await asyncio.wait_for(stop.wait(), client.state.poll_interval.total_seconds())
        except TimeoutError:
            pass
