"""Devices seen through the flex-offer agent: alarms, measurements, execution reports.

Read-only: the agent writes these rows; operators and settlement read them here.
A party sees its own devices; an admin key sees every party's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.deps import Principal, get_db, require_scope
from gateway.db.devices import DeviceAlarm, DeviceExecution, DeviceMeasurement

router = APIRouter(tags=["devices"])

Reader = Annotated[Principal, Depends(require_scope("read"))]
Db = Annotated[Session, Depends(get_db)]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _own(principal: Principal, column: Any) -> Any:
    return True if principal.has("admin") else column == principal.party


@router.get("/devices/alarms")
def list_alarms(principal: Reader, db: Db, device_id: str | None = None,
                include_cleared: bool = False) -> dict[str, Any]:
    query = select(DeviceAlarm).where(_own(principal, DeviceAlarm.party)).order_by(DeviceAlarm.raised_at.desc())
    if device_id is not None:
        query = query.where(DeviceAlarm.device_id == device_id)
    if not include_cleared:
        query = query.where(DeviceAlarm.cleared_at.is_(None))
    return {"alarms": [
        {"id": a.id, "party": a.party, "device_id": a.device_id, "kind": a.kind, "message": a.message,
         "offer_ids": a.offer_ids, "raised_at": _iso(a.raised_at), "cleared_at": _iso(a.cleared_at)}
        for a in db.scalars(query.limit(1000))
    ]}


@router.get("/devices/executions")
def list_executions(principal: Reader, db: Db, device_id: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    query = select(DeviceExecution).where(_own(principal, DeviceExecution.party)) \
        .order_by(DeviceExecution.finished_at.desc())
    if device_id is not None:
        query = query.where(DeviceExecution.device_id == device_id)
    return {"executions": [
        {"id": e.id, "device_id": e.device_id, "offer_id": e.offer_id, "status": e.status,
         "finished_at": _iso(e.finished_at), "report": e.report}
        for e in db.scalars(query.limit(limit))
    ]}


@router.get("/devices/{device_id}/measurements")
def list_measurements(device_id: str, principal: Reader, db: Db, name: str | None = None,
                      since: datetime | None = None,
                      limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> dict[str, Any]:
    query = select(DeviceMeasurement).where(
        _own(principal, DeviceMeasurement.party), DeviceMeasurement.device_id == device_id,
    ).order_by(DeviceMeasurement.measured_at.desc())
    if name is not None:
        query = query.where(DeviceMeasurement.name == name)
    if since is not None:
        query = query.where(DeviceMeasurement.measured_at >= since)
    return {"device_id": device_id, "measurements": [
        {"name": m.name, "value": m.value, "unit": m.unit, "quality": m.quality, "timestamp": _iso(m.measured_at)}
        for m in db.scalars(query.limit(limit))
    ]}
