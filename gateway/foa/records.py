"""Storing what the agent learns: measurements, alarms, execution reports.

Each function commits before it returns (persist first, then act), so a replica
that crashes right after never loses an alarm or a failed execution.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adapters.device_common import ExecutionReport, Measurement
from gateway.db.devices import DeviceAlarm, DeviceExecution, DeviceMeasurement


def store_measurements(session: Session, party: str, device_id: str, measurements: Sequence[Measurement]) -> None:
    session.add_all([
        DeviceMeasurement(party=party, device_id=device_id, name=m.name, value=m.value if m.value == m.value else None,
                          unit=m.unit, quality=m.quality.value, measured_at=m.timestamp)
        for m in measurements
    ])
    session.commit()


def _open(party: str, device_id: str, kind: str) -> tuple[Any, ...]:
    return (DeviceAlarm.party == party, DeviceAlarm.device_id == device_id, DeviceAlarm.kind == kind,
            DeviceAlarm.cleared_at.is_(None))


def raise_alarm(session: Session, party: str, device_id: str, kind: str, message: str, now: datetime,
                offer_ids: Sequence[str] = ()) -> DeviceAlarm:
    """Open an alarm, or refresh the message of the one already open for this device and kind."""
    open_alarm = session.scalars(select(DeviceAlarm).where(*_open(party, device_id, kind))).first()
    if open_alarm is None:
        open_alarm = DeviceAlarm(party=party, device_id=device_id, kind=kind, message=message,
                                 offer_ids=list(offer_ids), raised_at=now)
        session.add(open_alarm)
    else:
        open_alarm.message = message
        open_alarm.offer_ids = sorted({*open_alarm.offer_ids, *offer_ids})
    session.commit()
    return open_alarm


def clear_alarms(session: Session, party: str, device_id: str, kind: str, now: datetime) -> int:
    result = session.execute(update(DeviceAlarm).where(*_open(party, device_id, kind)).values(cleared_at=now))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def record_execution(session: Session, party: str, report: ExecutionReport, offer_id: str | None,
                     now: datetime) -> None:
    session.add(DeviceExecution(party=party, device_id=report.device_id, offer_id=offer_id, status=report.status,
                                report=report.as_json(), finished_at=now))
    session.commit()
