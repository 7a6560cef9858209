"""VTN events: create, modify, cancel, and render them for a VEN.

Operators (``POST /api/v1/openadr/events``) and the planners (FMAN assignments,
FMAR results via :func:`publish_schedule` / :func:`publish_prices`) all land here.
Each change bumps the modification number and marks the event pending for every
targeted VEN, so the next poll (or push) redistributes it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adapters.openadr import codec
from core.flexoffer import FlexOffer
from gateway.db.openadr import OadrDelivery, OadrEvent, OadrVen

DEFAULT_MARKET_CONTEXT = "http://flexhub/market-context/default"


class EventError(ValueError):
    """A request to create or change an event that cannot be honoured (unknown VENs, bad signals)."""


def signals_to_json(signals: list[codec.EventSignal]) -> list[dict[str, Any]]:
    return [
        {
            "signal_name": s.name,
            "signal_type": s.type,
            "unit": s.unit,
            "intervals": [
                {"start": i.start.isoformat(), "duration_seconds": int(i.duration.total_seconds()), "value": i.value}
                for i in s.intervals
            ],
        }
        for s in signals
    ]


def signals_from_json(data: list[dict[str, Any]]) -> list[codec.EventSignal]:
    return [
        codec.EventSignal(
            name=s["signal_name"],
            type=s["signal_type"],
            unit=s.get("unit"),
            intervals=[
                codec.SignalInterval(datetime.fromisoformat(i["start"]), timedelta(seconds=i["duration_seconds"]),
                                     float(i["value"]))
                for i in s["intervals"]
            ],
        )
        for s in data
    ]


def _check_signals(signals: list[codec.EventSignal]) -> None:
    if not signals:
        raise EventError("an event needs at least one signal")
    for signal in signals:
        allowed = codec.SIGNAL_TYPES.get(signal.name)
        if allowed is None:
            raise EventError(f"signal name {signal.name!r} is not one of {sorted(codec.SIGNAL_TYPES)}")
        if signal.type not in allowed:
            raise EventError(f"signal type {signal.type!r} is not valid for {signal.name} ({sorted(allowed)})")
        if not signal.intervals:
            raise EventError(f"signal {signal.name} has no intervals")
        try:
            codec.check_contiguous(signal.intervals)
        except ValueError as exc:
            raise EventError(f"signal {signal.name}: {exc}") from exc
        if any(i.duration.total_seconds() <= 0 for i in signal.intervals):
            raise EventError(f"signal {signal.name}: interval durations must be positive")
    starts = {s.intervals[0].start for s in signals}
    if len(starts) > 1:
        raise EventError("all signals of an event must start together")


def _resolve_targets(session: Session, ven_ids: list[str], group_ids: list[str]) -> list[str]:
    known = {v.ven_id: v for v in session.scalars(select(OadrVen))}
    missing = [v for v in ven_ids if v not in known]
    if missing:
        raise EventError(f"unknown venID(s): {', '.join(missing)}")
    targets = set(ven_ids)
    for ven in known.values():
        if set(ven.groups or []) & set(group_ids):
            targets.add(ven.ven_id)
    if not targets:
        raise EventError("the event targets no registered VEN")
    return sorted(targets)


def _mark_pending(session: Session, event_id: str, ven_ids: list[str]) -> None:
    existing = {d.ven_id: d for d in session.scalars(select(OadrDelivery).where(OadrDelivery.event_id == event_id))}
    for ven_id in ven_ids:
        delivery = existing.get(ven_id)
        if delivery is None:
            session.add(OadrDelivery(event_id=event_id, ven_id=ven_id, pending=True))
        else:
            delivery.pending = True


def create_event(
    session: Session,
    *,
    signals: list[codec.EventSignal],
    ven_ids: list[str] | None = None,
    group_ids: list[str] | None = None,
    event_id: str | None = None,
    market_context: str = DEFAULT_MARKET_CONTEXT,
    priority: int = 0,
    test_event: bool = False,
    response_required: str = "always",
    ramp_up: timedelta | None = None,
    source: str = "operator",
    created_by: str | None = None,
) -> OadrEvent:
    """Store a new event and queue it for every targeted VEN (the caller commits)."""
    _check_signals(signals)
    targets = _resolve_targets(session, ven_ids or [], group_ids or [])
    event_id = event_id or f"ev-{uuid.uuid4().hex[:16]}"
    if session.get(OadrEvent, event_id) is not None:
        raise EventError(f"event {event_id} already exists")
    start = min(s.intervals[0].start for s in signals)
    end = max(s.intervals[-1].start + s.intervals[-1].duration for s in signals)
    now = datetime.now(UTC)
    event = OadrEvent(
        event_id=event_id, modification_number=0, market_context=market_context, priority=priority,
        test_event=test_event, cancelled=False, dtstart=start, duration_seconds=int((end - start).total_seconds()),
        ramp_up_seconds=int(ramp_up.total_seconds()) if ramp_up else None, signals=signals_to_json(signals),
        ven_ids=list(ven_ids or []), group_ids=list(group_ids or []), response_required=response_required,
        source=source, created_by=created_by, created_at=now, updated_at=now,
    )
    session.add(event)
    session.flush()
    _mark_pending(session, event_id, targets)
    session.flush()
    return event


def modify_event(session: Session, event_id: str, *, signals: list[codec.EventSignal]) -> OadrEvent:
    """Replace an event's signals: the modification number goes up and every target hears again."""
    event = session.get(OadrEvent, event_id)
    if event is None:
        raise EventError(f"unknown event {event_id}")
    if event.cancelled:
        raise EventError(f"event {event_id} is cancelled")
    _check_signals(signals)
    start = min(s.intervals[0].start for s in signals)
    end = max(s.intervals[-1].start + s.intervals[-1].duration for s in signals)
    event.signals = signals_to_json(signals)
    event.dtstart = start
    event.duration_seconds = int((end - start).total_seconds())
    event.modification_number += 1
    event.updated_at = datetime.now(UTC)
    session.execute(update(OadrDelivery).where(OadrDelivery.event_id == event_id).values(pending=True))
    session.flush()
    return event


def cancel_event(session: Session, event_id: str) -> OadrEvent:
    event = session.get(OadrEvent, event_id)
    if event is None:
        raise EventError(f"unknown event {event_id}")
    if not event.cancelled:
        event.cancelled = True
        event.modification_number += 1
        event.updated_at = datetime.now(UTC)
        session.execute(update(OadrDelivery).where(OadrDelivery.event_id == event_id).values(pending=True))
        session.flush()
    return event


def event_status(event: OadrEvent, now: datetime | None = None) -> str:
    """far / near / active / completed / cancelled, as 2.0b defines them (near = within ramp-up)."""
    if event.cancelled:
        return "cancelled"
    now = now or datetime.now(UTC)
    start = event.dtstart
    end = start + timedelta(seconds=event.duration_seconds)
    if now >= end:
        return "completed"
    if now >= start:
        return "active"
    if event.ramp_up_seconds and now >= start - timedelta(seconds=event.ramp_up_seconds):
        return "near"
    return "far"


def render_event(event: OadrEvent, ven_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The event as openleadr's dict for one VEN (targets name that VEN, so no other is leaked)."""
    return codec.event_dict(
        event_id=event.event_id,
        modification_number=event.modification_number,
        market_context=event.market_context,
        signals=signals_from_json(event.signals),
        created=event.created_at,
        status=event_status(event, now),
        ven_ids=[ven_id],
        priority=event.priority,
        test_event=event.test_event,
        response_required=event.response_required,
        ramp_up=timedelta(seconds=event.ramp_up_seconds) if event.ramp_up_seconds else None,
    )


def publish_schedule(session: Session, offer: FlexOffer, ven_ids: list[str], **options: Any) -> OadrEvent:
    """A flex-offer assignment (FMAN/FMAR) as a LOAD_DISPATCH event to the VENs that offered it."""
    return create_event(session, signals=[codec.schedule_signal(offer)], ven_ids=ven_ids,
                        source=options.pop("source", "fman"), **options)


def publish_prices(session: Session, start: datetime, prices: list[float], *, interval_seconds: int,
                   currency: str = "EUR", ven_ids: list[str] | None = None, group_ids: list[str] | None = None,
                   **options: Any) -> OadrEvent:
    """A price series (currency/kWh) as an ELECTRICITY_PRICE event."""
    signal = codec.price_signal(start, prices, interval_seconds, currency)
    return create_event(session, signals=[signal], ven_ids=ven_ids, group_ids=group_ids,
                        source=options.pop("source", "fmar"), **options)
