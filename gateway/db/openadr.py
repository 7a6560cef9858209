"""Tables of the OpenADR 2.0b VTN and VEN roles.

Events are resolved to one delivery row per targeted VEN when created, so a poll
is two indexed look-ups (outbox, pending deliveries) and the VEN's opt-in/opt-out
lands on the same row that says what it was sent. Every accepted inbound message
is kept in ``oadr_inbound`` before the reply goes out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base
from gateway.db.flexoffer import UTCDateTime, utcnow


class OadrVen(Base):
    __tablename__ = "oadr_vens"

    ven_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    registration_id: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    ven_name: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    profile_name: Mapped[str] = mapped_column(String(16), default="2.0b")
    transport_name: Mapped[str] = mapped_column(String(16), default="simpleHttp")
    transport_address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    http_pull_model: Mapped[bool] = mapped_column(Boolean, default=True)
    xml_signature: Mapped[bool] = mapped_column(Boolean, default=False)
    report_only: Mapped[bool] = mapped_column(Boolean, default=False)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OadrEvent(Base):
    __tablename__ = "oadr_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    modification_number: Mapped[int] = mapped_column(Integer, default=0)
    market_context: Mapped[str] = mapped_column(String(300))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    test_event: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    dtstart: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[int] = mapped_column(Integer)
    ramp_up_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    ven_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    group_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    response_required: Mapped[str] = mapped_column(String(16), default="always")
    source: Mapped[str] = mapped_column(String(64), default="operator")
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OadrDelivery(Base):
    """One event for one VEN: what was sent last, and the VEN's answer (oadrCreatedEvent)."""

    __tablename__ = "oadr_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), index=True)
    ven_id: Mapped[str] = mapped_column(String(128))
    pending: Mapped[bool] = mapped_column(Boolean, default=True)
    sent_modification: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opt_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    responded_modification: Mapped[int | None] = mapped_column(Integer, nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("event_id", "ven_id", name="uq_oadr_deliveries_event_ven"),
        Index("ix_oadr_deliveries_ven_pending", "ven_id", "pending"),
    )


class OadrOutbox(Base):
    """Messages queued for a VEN (pull: returned by oadrPoll; push: posted to its transport address)."""

    __tablename__ = "oadr_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ven_id: Mapped[str] = mapped_column(String(128))
    message_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_oadr_outbox_ven_delivered", "ven_id", "delivered_at"),)


class OadrOpt(Base):
    """A VEN's opt schedule (EiOpt): it reduces the VEN's availability for planning."""

    __tablename__ = "oadr_opts"

    opt_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ven_id: Mapped[str] = mapped_column(String(128), index=True)
    opt_type: Mapped[str] = mapped_column(String(16))
    opt_reason: Mapped[str] = mapped_column(String(64))
    market_context: Mapped[str | None] = mapped_column(String(300), nullable=True)
    event_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    resource_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    windows: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OadrReportRegistration(Base):
    """A METADATA report a VEN registered: its rIDs with their types and units."""

    __tablename__ = "oadr_report_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ven_id: Mapped[str] = mapped_column(String(128))
    report_specifier_id: Mapped[str] = mapped_column(String(128))
    report_name: Mapped[str] = mapped_column(String(64))
    descriptions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("ven_id", "report_specifier_id", name="uq_oadr_report_reg_ven_spec"),)


class OadrReportRequest(Base):
    """A report the VTN asked a VEN for; ``created`` once the VEN answered oadrCreatedReport."""

    __tablename__ = "oadr_report_requests"

    report_request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ven_id: Mapped[str] = mapped_column(String(128), index=True)
    report_specifier_id: Mapped[str] = mapped_column(String(128))
    r_ids: Mapped[list[str]] = mapped_column(JSON)
    granularity_seconds: Mapped[int] = mapped_column(Integer)
    report_back_seconds: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="requested")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OadrMeasurement(Base):
    __tablename__ = "oadr_measurements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ven_id: Mapped[str] = mapped_column(String(128))
    report_request_id: Mapped[str] = mapped_column(String(128))
    report_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    report_type: Mapped[str] = mapped_column(String(64))
    reading_type: Mapped[str] = mapped_column(String(64))
    r_id: Mapped[str] = mapped_column(String(128))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_oadr_measurements_ven_start", "ven_id", "start"),)


class OadrInbound(Base):
    """Every accepted inbound message except polls, stored before it is acknowledged."""

    __tablename__ = "oadr_inbound"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(8))
    peer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    message_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OadrNonce(Base):
    """Replay protection for signed messages: each nonce is accepted once."""

    __tablename__ = "oadr_nonces"

    nonce: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OadrUpstreamEvent(Base):
    """An event the hub received as a VEN from an upstream VTN: a planning target."""

    __tablename__ = "oadr_upstream_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vtn_id: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(128))
    modification_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    opt_type: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("vtn_id", "event_id", name="uq_oadr_upstream_vtn_event"),)
