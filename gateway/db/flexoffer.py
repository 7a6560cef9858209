"""Tables of the Flex-Offer Exchange: parties, API keys, flex-offers and measurements.

An offer is stored as one row: the normalized native-model JSON in ``document`` plus
the few columns every query filters on (party, state, window, location). Keeping the
96 slices inside the document, not in child rows, makes ingest one INSERT per offer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the column, aware UTC in Python: identical on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - raw SQLite text
            value = datetime.fromisoformat(value)
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Party(Base):
    __tablename__ = "parties"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    """One API key: only its SHA-256 is kept, so a leaked table leaks no usable key."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    party: Mapped[str] = mapped_column(String(128), ForeignKey("parties.id"), index=True)
    scopes: Mapped[str] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StoredFlexOffer(Base):
    __tablename__ = "flex_offers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    party: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    latest_start: Mapped[datetime] = mapped_column(UTCDateTime())
    location_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    zone: Mapped[str | None] = mapped_column(String(100), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_flex_offers_party_window", "party", "window_start", "window_end"),
        Index("ix_flex_offers_party_state", "party", "state"),
    )


class FlexOfferMeasurement(Base):
    """Metered energy of one offer for one interval (kWh, load convention)."""

    __tablename__ = "flex_offer_measurements"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    offer_id: Mapped[str] = mapped_column(String(128), ForeignKey("flex_offers.id", ondelete="CASCADE"))
    party: Mapped[str] = mapped_column(String(128))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    interval_seconds: Mapped[int] = mapped_column(Integer)
    energy_kwh: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_flex_offer_measurements_party_start", "party", "start"),
        Index("ix_flex_offer_measurements_offer", "offer_id", "start"),
    )


# The Core tables, for executemany INSERTs that skip the ORM on hot paths.
flex_offers_table = cast(Table, StoredFlexOffer.__table__)
measurements_table = cast(Table, FlexOfferMeasurement.__table__)
