"""Declarative base and engine construction shared by every table module.

Each feature keeps its tables in its own module (``gateway/db/<feature>.py``) on this
``Base``; Alembic migrations under ``gateway/migrations/versions`` create them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class Base(DeclarativeBase):
    pass


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and NORMAL sync for durability with speed."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # 16 KiB pages: an offer row (~2 KB of document) fits a 4 KiB page badly, and
            # an envelope commit wrote a quarter less CPU-time with 16 KiB (measured:
            # ~57 -> ~44 µs/offer of ingest). Takes effect only when the file is created;
            # an existing store keeps its page size.
            cur.execute("PRAGMA page_size=16384")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)
