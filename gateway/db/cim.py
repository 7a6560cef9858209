"""Tables of the CIM capability: every document in or out, the outbound queue, the party registry.

Inbound documents are stored whole (bytes as received) with the acknowledgement the
hub returned, *before* the acknowledgement leaves, so an acknowledged document is
never lost. ``(sender, mrid, revision)`` lets the revision rule and replays be
answered from the store alone, which keeps gateway replicas stateless.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from gateway.db.base import Base
from gateway.db.flexoffer import UTCDateTime


def _now() -> datetime:
    return datetime.now(UTC)


class CimDocument(Base):
    __tablename__ = "cim_documents"
    __table_args__ = (Index("ix_cim_documents_sender_mrid", "sender", "mrid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out"
    channel: Mapped[str] = mapped_column(String(16))  # http, inbox, outbox, cli
    party: Mapped[str | None] = mapped_column(String(128), nullable=True)  # authenticated caller
    kind: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[str | None] = mapped_column(String(8), nullable=True)
    sender: Mapped[str | None] = mapped_column(String(64), nullable=True)
    receiver: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mrid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(4))  # A01, A02, B70 (ack reason of the verdict)
    reasons: Mapped[str | None] = mapped_column(Text, nullable=True)
    ack_mrid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    ack: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class CimOutbound(Base):
    """A document waiting for (or done with) delivery to an HTTP endpoint or the outbox."""

    __tablename__ = "cim_outbound"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(500))
    mrid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CimParty(Base):
    """A CIM market participant the hub accepts documents from, with its allowed roles.

    The row with ``is_hub`` is the hub itself: documents must be addressed to it.
    """

    __tablename__ = "cim_parties"

    mrid: Mapped[str] = mapped_column(String(64), primary_key=True)
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated role codes, e.g. "A46,A27"
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    coding_scheme: Mapped[str] = mapped_column(String(3), default="A01")
    is_hub: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(",") if r)


class DbParties:
    """The registry the business rules consult, backed by ``cim_parties``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def roles(self, mrid: str) -> frozenset[str] | None:
        row = self.session.get(CimParty, mrid)
        return None if row is None else row.role_set()


class DbHistory:
    """Earlier revisions of a document (same sender and mRID) that were not rejected outright."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def revisions(self, sender: str, mrid: str) -> list[tuple[int, str]]:
        rows = self.session.execute(
            select(CimDocument.revision, CimDocument.digest).where(
                CimDocument.direction == "in",
                CimDocument.sender == sender,
                CimDocument.mrid == mrid,
                CimDocument.status != "A02",
            )
        ).all()
        return [(int(r.revision or 0), str(r.digest or "")) for r in rows]


def hub_party(session: Session) -> CimParty | None:
    return session.execute(select(CimParty).where(CimParty.is_hub.is_(True))).scalars().first()


def upsert_party(
    session: Session, mrid: str, roles: list[str], name: str | None = None, is_hub: bool = False, scheme: str = "A01"
) -> CimParty:
    row = session.get(CimParty, mrid)
    if row is None:
        row = CimParty(mrid=mrid, roles=",".join(sorted(set(roles))), name=name, is_hub=is_hub, coding_scheme=scheme)
        session.add(row)
    else:
        row.roles = ",".join(sorted(set(roles)))
        row.name = name or row.name
        row.is_hub = is_hub or row.is_hub
        row.coding_scheme = scheme
    if is_hub:
        for other in session.execute(select(CimParty).where(CimParty.is_hub.is_(True))).scalars():
            if other.mrid != mrid:
                other.is_hub = False
    session.flush()
    return row
