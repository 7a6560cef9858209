"""Device tables: alarms, measurements and schedule executions of the flex-offer agent.

Alarms are rows, not log lines, so an operator sees an offline device through the
API from any replica; measurements feed settlement; execution reports make every
schedule's fate (completed, failed, rejected) visible instead of silently dropped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base
from gateway.db.flexoffer import UTCDateTime


class DeviceAlarm(Base):
    __tablename__ = "device_alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))  # "offline" | "execution_failed" | ...
    message: Mapped[str] = mapped_column(Text)
    offer_ids: Mapped[list[str]] = mapped_column(JSON)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_device_alarms_device_open", "party", "device_id", "kind", "cleared_at"),)


class DeviceMeasurement(Base):
    __tablename__ = "device_measurements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(16))
    quality: Mapped[str] = mapped_column(String(16))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_device_measurements_device_time", "party", "device_id", "measured_at"),)


class DeviceExecution(Base):
    __tablename__ = "device_executions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[str] = mapped_column(String(128))
    offer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    report: Mapped[dict[str, object]] = mapped_column(JSON)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_device_executions_device", "party", "device_id", "finished_at"),)
