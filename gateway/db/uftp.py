"""UFTP tables: the participant registry, every message exchanged, and the outbound queue.

Conversation state is the message log itself: duplicate detection and reference
checks query ``uftp_messages``, so a restart forgets nothing. The outbox keeps each
sealed SignedMessage until the peer's endpoint answers 200 (or a final 4xx).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base
from gateway.db.flexoffer import UTCDateTime, utcnow


class UftpParticipant(Base):
    __tablename__ = "uftp_participants"
    __table_args__ = (UniqueConstraint("domain", "role", name="uq_uftp_participants_domain_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    domain: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(3), nullable=False)
    public_key: Mapped[str] = mapped_column(String(64), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(1000), nullable=False)
    dialect: Mapped[str] = mapped_column(String(32), nullable=False, default="official")
    barred: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class UftpMessage(Base):
    """One inbound or outbound payload message and its outcome."""

    __tablename__ = "uftp_messages"
    __table_args__ = (
        UniqueConstraint("direction", "sender_domain", "message_id", name="uq_uftp_messages_sender_id"),
        Index("ix_uftp_messages_message_id", "message_id"),
        Index("ix_uftp_messages_conversation", "conversation_id"),
        Index("ix_uftp_messages_type_counterparty", "message_type", "counterparty"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(3), nullable=False)  # "in" | "out"
    message_id: Mapped[str] = mapped_column(String(36), nullable=False)
    conversation_id: Mapped[str] = mapped_column(String(36), nullable=False)
    message_type: Mapped[str] = mapped_column(String(64), nullable=False)
    sender_domain: Mapped[str] = mapped_column(String(255), nullable=False)
    sender_role: Mapped[str] = mapped_column(String(3), nullable=False)
    counterparty: Mapped[str] = mapped_column(String(255), nullable=False)
    reference_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    business_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """OrderReference of a FlexOrder: what FlexSettlement items refer to."""
    period: Mapped[str | None] = mapped_column(String(10), nullable=True)
    congestion_point: Mapped[str | None] = mapped_column(String(255), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # accepted | rejected | sent | answered
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    xml: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class UftpOutbox(Base):
    """A sealed SignedMessage waiting for delivery, retried with exponential backoff."""

    __tablename__ = "uftp_outbox"
    __table_args__ = (Index("ix_uftp_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), nullable=False)
    message_type: Mapped[str] = mapped_column(String(64), nullable=False)
    recipient_domain: Mapped[str] = mapped_column(String(255), nullable=False)
    recipient_role: Mapped[str] = mapped_column(String(3), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(1000), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # pending | sending | delivered | failed
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
