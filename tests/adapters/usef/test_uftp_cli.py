"""`flexhub uftp keygen` and `flexhub uftp validate` through the real CLI app."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

from typer.testing import CliRunner

from adapters.usef import build as m
from adapters.usef import codec, keys
from gateway.cli import app
from tests.adapters.usef.conftest import XSD_DIR

RUNNER = CliRunner()
DAY = m.tomorrow()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_keygen_writes_a_usable_pair(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "hub.key"
    result = RUNNER.invoke(app, ["uftp", "keygen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pair = keys.read_key_file(out)
    assert (out.parent / "hub.key.pub").read_text().strip() == pair.public_key
    assert f"cs1.{pair.public_key}" in result.output
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert RUNNER.invoke(app, ["uftp", "keygen", "--out", str(out)]).exit_code == 1  # no silent overwrite


def test_validate_reports_each_file(tmp_path: Path) -> None:
    good = codec.stamp(m.flex_request(DAY), "dso.example.com", "agr.example.com")
    bad = codec.stamp(m.flex_request(DAY), "dso.example.com", "agr.example.com")
    bad.isps[3].start = 3
    pair = keys.generate()
    files = [
        _write(tmp_path / "good.xml", codec.to_xml(good)),
        _write(tmp_path / "conflict.xml", codec.to_xml(bad)),
        _write(tmp_path / "signed.xml", codec.signed_message_xml(good, "DSO", pair.private_key)),
        _write(tmp_path / "schema.xml", codec.to_xml(good).replace(b'Revision="1"', b'Revision="x"')),
    ]
    result = RUNNER.invoke(app, ["uftp", "validate", "--xsd-dir", str(XSD_DIR), "--public-key", pair.public_key,
                                 *map(str, files)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1
    assert lines[0] == f"{files[0]}: valid"
    assert lines[1] == f"{files[1]}: invalid: ISP conflict"
    assert lines[2] == f"{files[2]}: valid"
    assert lines[3].startswith(f"{files[3]}: invalid: ") and "Revision" in lines[3]
    only_good = RUNNER.invoke(app, ["uftp", "validate", "--xsd-dir", str(XSD_DIR), str(files[0])])
    assert only_good.exit_code == 0


def test_validate_never_fetches_or_expands_entities(tmp_path: Path) -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<!ENTITY x 'boom'>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/evil.dtd"
        external = _write(tmp_path / "xxe.xml", (
            f'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY % d SYSTEM "{url}"> %d;]>'
            '<TestMessage Version="3.1.0"/>').encode())
        laughs = _write(tmp_path / "laughs.xml", (
            b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b'<TestMessage Version="&b;"/>'))
        result = RUNNER.invoke(app, ["uftp", "validate", "--xsd-dir", str(XSD_DIR), str(external), str(laughs)])
    finally:
        server.shutdown()
        thread.join()
    assert result.exit_code == 1
    assert all(": invalid: DOCTYPE" in line for line in result.output.strip().splitlines())
    assert hits == []


def test_participant_and_flush_commands_use_the_configured_store(tmp_path: Path, monkeypatch) -> None:
    from sqlalchemy import select

    from gateway.config import load_settings
    from gateway.db.uftp import UftpParticipant
    from gateway.services.store import open_store

    monkeypatch.setenv("FLEXHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    pair = keys.generate()
    added = RUNNER.invoke(app, ["uftp", "participant", "--domain", "dso.example.com", "--role", "dso",
                                "--public-key", pair.cs1, "--endpoint", "https://dso.example.com/uftp"])
    assert added.exit_code == 0, added.output
    assert RUNNER.invoke(app, ["uftp", "participant", "--domain", "x.example.com", "--role", "BRP",
                               "--public-key", pair.public_key, "--endpoint", "https://x"]).exit_code != 0
    engine, factory = open_store(load_settings(), migrate=False)
    try:
        with factory() as session:
            rows = session.scalars(select(UftpParticipant)).all()
            assert [(r.domain, r.role, r.public_key) for r in rows] == [("dso.example.com", "DSO", pair.public_key)]
    finally:
        engine.dispose()
    flushed = RUNNER.invoke(app, ["uftp", "flush"])
    assert flushed.exit_code == 0 and "attempted 0" in flushed.output
