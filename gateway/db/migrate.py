"""Bring a database to the newest schema: ``alembic upgrade heads`` from inside the package.

Feature migrations branch off ``0001``, so there are several heads; upgrading to
``heads`` applies every branch. The script location is resolved from this file so it
works from a wheel and from any working directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None, script_location: Path = MIGRATIONS_DIR) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_heads(engine: Engine, script_location: Path = MIGRATIONS_DIR) -> None:
    """Apply every pending migration of every branch, in one transaction where the DB allows."""
    config = alembic_config(script_location=script_location)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def head_revisions(script_location: Path = MIGRATIONS_DIR) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(script_location=script_location)).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())
