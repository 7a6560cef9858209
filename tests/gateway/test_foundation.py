"""The hub's foundation: migrations on both stores, branch heads, hashed API keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from gateway.db.base import make_engine
from gateway.db.flexoffer import ApiKey
from gateway.db.migrate import MIGRATIONS_DIR, current_revisions, head_revisions, upgrade_heads
from gateway.security import hash_key
from gateway.testing import create_api_key, make_test_client

BRANCH = '''
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("{table}", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("{table}")
'''


def test_app_start_migrates_store_to_every_head(tmp_path: Path, fresh_database_url: str) -> None:
    database_url = fresh_database_url
    with make_test_client(tmp_path, database_url=database_url) as client:
        engine = client.app.state.engine
        assert current_revisions(engine) == head_revisions()
        tables = set(inspect(engine).get_table_names())
        assert {"parties", "api_keys", "flex_offers", "flex_offer_measurements"} <= tables
    # A second start on the same store is a no-op, not an error.
    with make_test_client(tmp_path, database_url=database_url) as client:
        assert client.get("/api/v1/health").json()["database"] == "ok"


def test_upgrade_applies_all_branches_off_0001(tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    for rev, table in (("9002", "branch_a"), ("9003", "branch_b")):
        (scripts / "versions" / f"{rev}_branch.py").write_text(BRANCH.format(rev=rev, table=table))
    assert head_revisions(scripts) >= {"9002", "9003"}
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade_heads(engine, scripts)
    assert current_revisions(engine) == head_revisions(scripts)
    assert {"branch_a", "branch_b", "flex_offers"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_api_keys_are_stored_only_as_hashes(tmp_path: Path, database_url: str) -> None:
    with make_test_client(tmp_path, database_url=database_url) as client:
        key = create_api_key(client.app, "alice", ["read", "write"])
        with client.app.state.sessionmaker() as session:
            rows = session.execute(select(ApiKey.key_hash, ApiKey.party, ApiKey.scopes)).all()
        assert [(r.party, r.scopes) for r in rows] == [("alice", "read,write")]
        assert rows[0].key_hash == hash_key(key)
        assert key not in rows[0].key_hash


def test_bootstrap_admin_key_is_created_once_and_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with make_test_client(tmp_path, bootstrap_admin_key=True):
        pass
    first = capsys.readouterr().out
    assert "admin key" in first
    key = first.strip().rsplit(" ", 1)[-1]
    with make_test_client(tmp_path, bootstrap_admin_key=True) as client:
        assert client.get("/api/v1/flexoffer", headers={"X-API-Key": key}).status_code == 200
    assert "admin key" not in capsys.readouterr().out


def test_unknown_route_and_wrong_method_answer_problem_documents(hub) -> None:  # type: ignore[no-untyped-def]
    missing = hub.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404
    wrong = hub.delete("/api/v1/health")
    assert wrong.status_code == 405
    assert wrong.json()["title"] == "Method Not Allowed"


def test_web_root_shows_status_page_with_links(hub) -> None:  # type: ignore[no-untyped-def]
    page = hub.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/api/v1/docs" in page.text and "/api/v1/health" in page.text


def test_unexpected_errors_answer_a_500_problem_and_the_hub_keeps_serving(tmp_path: Path) -> None:
    with make_test_client(tmp_path) as client:

        @client.app.get("/boom")
        def boom() -> None:
            raise RuntimeError("kaput")

        crashed = client.get("/boom")
        assert crashed.status_code == 500
        assert crashed.headers["content-type"] == "application/problem+json"
        assert crashed.json()["title"] == "Internal Server Error"
        assert "kaput" not in crashed.text  # internals stay in the log
        assert client.get("/api/v1/health").status_code == 200
