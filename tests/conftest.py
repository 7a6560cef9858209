"""Fixtures shared by the whole suite: hub clients on SQLite or PostgreSQL, and API keys."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gateway.testing import HubTestClient

POSTGRES_ADMIN_URL = os.environ.get("FLEXHUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL whose connections live in a private, fresh schema (dropped afterwards).

    One schema per test keeps parallel xdist workers from ever seeing each other's rows.
    """
    if not _postgres_available():
        if os.environ.get("FLEXHUB_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_ADMIN_URL}")
        pytest.skip("local PostgreSQL server is not reachable")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _schema_url(schema)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store (no tables at all), on SQLite and on PostgreSQL: for migration tests."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test process, copied for each test (migrating is the slow part)."""
    from gateway.db.base import make_engine
    from gateway.db.migrate import upgrade_heads

    path = tmp_path_factory.mktemp("template") / "flexhub.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_heads(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def _postgres_worker_schema() -> Iterator[str]:
    """One migrated schema per test process; tests in it run one after another."""
    if not _postgres_available():
        if os.environ.get("FLEXHUB_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_ADMIN_URL}")
        pytest.skip("local PostgreSQL server is not reachable")
    import psycopg

    from gateway.db.base import make_engine
    from gateway.db.migrate import upgrade_heads

    schema = f"w_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = _schema_url(schema)
    engine = make_engine(url)
    upgrade_heads(engine)
    engine.dispose()
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _schema_url(schema: str) -> str:
    base = POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty store; each storage test runs twice: on SQLite and on PostgreSQL.

    SQLite: a private copy of a migrated template file. PostgreSQL: this test process's
    schema with every table emptied first, so parallel xdist workers never meet.
    """
    if request.param == "sqlite":
        path = tmp_path / "flexhub.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    schema = request.getfixturevalue("_postgres_worker_schema")
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> 'alembic_version'", (schema,))]
        if tables:
            conn.execute("SET lock_timeout = '10s'")  # a leaked connection fails the test, not hangs it
            names = ", ".join(f'"{schema}"."{t}"' for t in tables)
            conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return _schema_url(schema)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubTestClient]:
    """A started hub client on fresh SQLite, closed after the test."""
    from gateway.testing import make_test_client

    client = make_test_client(tmp_path)
    try:
        yield client
    finally:
        client.close()
