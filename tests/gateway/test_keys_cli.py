"""`flexhub keys create`: prints a working key, on the configured store, migrating it first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app as cli
from gateway.testing import make_test_client
from tests.gateway.samples import wire_offer

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_created_key_works_with_its_scopes(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXHUB_DATABASE_URL", database_url)
    runner = CliRunner()
    writer = runner.invoke(cli, ["keys", "create", "--party", "P", "--scope", "write", "--scope", "read"])
    assert writer.exit_code == 0, writer.output
    key = writer.output.strip()
    assert UUID.match(key)
    reader = runner.invoke(cli, ["keys", "create", "--party", "P"]).output.strip()
    assert reader != key
    with make_test_client(tmp_path, database_url=database_url) as client:
        assert client.post("/api/v1/flexoffer", json=wire_offer(), headers={"X-API-Key": key}).status_code == 201
        assert client.post("/api/v1/flexoffer", json=wire_offer(), headers={"X-API-Key": reader}).status_code == 403
        assert client.get("/api/v1/flexoffer", headers={"X-API-Key": reader}).json()["count"] == 1


def test_unknown_scope_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    result = CliRunner().invoke(cli, ["keys", "create", "--party", "P", "--scope", "root"])
    assert result.exit_code == 2
    assert "scopes must be" in result.output


def test_config_file_names_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEXHUB_DATABASE_URL", raising=False)
    store = tmp_path / "from-config.db"
    config = tmp_path / "hub.toml"
    config.write_text(f'database_url = "sqlite:///{store}"\n')
    result = CliRunner().invoke(cli, ["keys", "create", "--party", "Q", "--config", str(config)])
    assert result.exit_code == 0, result.output
    with make_test_client(tmp_path, database_url=f"sqlite:///{store}") as client:
        assert client.get("/api/v1/flexoffer", headers={"X-API-Key": result.output.strip()}).status_code == 200
