"""Fixtures shared by the whole suite: hub clients on SQLite or PostgreSQL, and API keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    base = POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs twice: on a SQLite file and on a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flexhub.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[object]:
    """A started hub client on fresh SQLite, closed after the test."""
    from gateway.testing import make_test_client

    client = make_test_client(tmp_path)
    try:
        yield client
    finally:
        client.close()
