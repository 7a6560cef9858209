"""Opening the store: engine, schema migrations and the first-run admin key."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from gateway.config import Settings
from gateway.db.base import make_engine, make_sessionmaker
from gateway.db.flexoffer import ApiKey
from gateway.db.migrate import upgrade_heads

log = logging.getLogger("flexhub.store")

BOOTSTRAP_PARTY = "admin"


def ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def open_store(settings: Settings, migrate: bool | None = None) -> tuple[Engine, sessionmaker[Any]]:
    """Engine and session factory for ``settings.database_url``, migrated to every head."""
    ensure_sqlite_directory(settings.database_url)
    engine = make_engine(settings.database_url)
    if settings.migrate_on_start if migrate is None else migrate:
        upgrade_heads(engine)
    return engine, make_sessionmaker(engine)


def create_key_in_store(settings: Settings, party: str, scopes: Iterable[str], label: str | None = None) -> str:
    """Issue a key on the store ``settings`` names, migrating it first; for callers outside an app.

    ``flexhub keys create`` runs before the first ``make run``, and benchmarks and tests
    need a key for a server they start as a subprocess.
    """
    from gateway.security import issue_key

    engine, factory = open_store(settings, migrate=True)
    try:
        with factory() as session:
            key = issue_key(session, party, scopes, label=label)
            session.commit()
    finally:
        engine.dispose()
    return key


def bootstrap_admin_key(factory: sessionmaker[Any]) -> str | None:
    """On a store with no API key at all, create one admin key and return it (else None).

    This is the first-run story of ``make run``: the console shows the key once, and
    the operator then makes per-party keys with it or with ``flexhub keys create``.
    """
    from gateway.security import issue_key

    with factory() as session:
        if session.execute(select(func.count()).select_from(ApiKey)).scalar_one() > 0:
            return None
        key = issue_key(session, BOOTSTRAP_PARTY, ["admin", "read", "write"], label="bootstrap")
        session.commit()
    return key


def announce_bootstrap_key(key: str | None) -> None:
    """Print the first-run key: printed, not logged, so it reaches the console whatever the log config."""
    if key is not None:
        print(
            f"flexhub: no API keys yet - created an admin key for party '{BOOTSTRAP_PARTY}' (shown only now): {key}",
            flush=True,
        )
