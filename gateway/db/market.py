"""Tables of the flex-offer market (FMAR): markets, bids, results, audit, DSO zones.

Configurations, bids and results are stored as JSON documents: clearing must be
re-runnable from exactly what was stored, so the stored text *is* the input. The
columns beside each document are only what queries filter on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base
from gateway.db.flexoffer import UTCDateTime, utcnow


class Market(Base):
    __tablename__ = "markets"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))  # open | clearing | cleared | failed
    gate_closure: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    next_sequence: Mapped[int] = mapped_column(Integer, default=0)
    config: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MarketBid(Base):
    __tablename__ = "market_bids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    market_id: Mapped[str] = mapped_column(String(128), index=True)
    bid_id: Mapped[str] = mapped_column(String(128))
    party: Mapped[str] = mapped_column(String(128), index=True)
    side: Mapped[str] = mapped_column(String(8))
    zone: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(24))  # open | canceled | accepted | partially_accepted | rejected
    sequence: Mapped[int] = mapped_column(Integer)
    offer_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    document: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("market_id", "bid_id", name="uq_market_bids_market_bid"),
        Index("ix_market_bids_zone_status", "zone", "status"),
    )


class MarketResult(Base):
    __tablename__ = "market_results"

    market_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    cleared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    input_sha256: Mapped[str] = mapped_column(String(64))
    result_sha256: Mapped[str] = mapped_column(String(64))
    input_document: Mapped[str] = mapped_column(Text)
    result_document: Mapped[str] = mapped_column(Text)


class MarketAudit(Base):
    __tablename__ = "market_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    market_id: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    party: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)


class CongestionZone(Base):
    """A congestion point or feeder a DSO registered, so it can follow the bids there."""

    __tablename__ = "market_congestion_zones"

    zone: Mapped[str] = mapped_column(String(100), primary_key=True)
    party: Mapped[str] = mapped_column(String(128), index=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
