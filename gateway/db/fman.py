"""FMAN tables: each prosumer's flexibility contract, and the price series plans used.

A contract is kept whole as its native JSON (``FlexContract``) next to the party it
belongs to: contracts are read one party at a time, never filtered by their terms.
Price series are stored when a cost plan runs, so ``GET /kpi`` can value the
adaptation at the prices the portfolio was actually planned against.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base
from gateway.db.flexoffer import UTCDateTime


class StoredContract(Base):
    __tablename__ = "fman_contracts"

    party: Mapped[str] = mapped_column(String(128), primary_key=True)
    contract_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StoredPriceSeries(Base):
    """EUR/kWh per slot from ``start``; the newest row wins where two overlap."""

    __tablename__ = "fman_price_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String(128))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    slot_seconds: Mapped[int] = mapped_column(Integer)
    prices: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_fman_price_series_party_window", "party", "start", "end"),)
