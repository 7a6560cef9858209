"""`flexhub conformance uftp` against our own hub, in both roles, writing JUnit XML (as CI does)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest
from typer.testing import CliRunner

from adapters.usef import keys
from conformance.uftp.receiver import ThreadedServer
from gateway.app import create_app
from gateway.cli import app as cli
from gateway.services.uftp_config import UftpSettings
from gateway.testing import create_api_key, test_settings

pytestmark = pytest.mark.xdist_group("uftp-interop")

XSD_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "schemas" / "uftp").resolve()
HUB = "hub.example.com"
TESTER = "conformance.flexhub.example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, keys.KeyPair, str]]:
    hub_keys = keys.generate()
    app = create_app(test_settings(tmp_path))
    app.state.uftp_settings = UftpSettings(domain=HUB, private_key=hub_keys.private_key, xsd_dir=str(XSD_DIR),
                                           flush_interval_seconds=0.5, retry_base_seconds=0.2)
    with ThreadedServer(app) as server:
        yield server.base_url(), hub_keys, create_api_key(app, "admin", ["admin"])


@pytest.mark.parametrize("role", ["agr", "dso"])
def test_conformance_suite_passes_against_the_hub(served: tuple[str, keys.KeyPair, str], role: str,
                                                  tmp_path: Path) -> None:
    base, hub_keys, admin = served
    tester = keys.generate()
    key_file = tmp_path / "tester.key"
    key_file.write_text(tester.private_key)
    port = _free_port()
    tester_role = "DSO" if role == "agr" else "AGR"
    registered = httpx.put(f"{base}/api/v1/uftp/participants", headers={"X-API-Key": admin}, json={
        "domain": TESTER, "role": tester_role, "public_key": tester.public_key,
        "endpoint": f"http://127.0.0.1:{port}/uftp"})
    assert registered.status_code == 200, registered.text
    junit = tmp_path / "junit.xml"
    result = CliRunner().invoke(cli, [
        "conformance", "uftp", "--role", role, "--url", f"{base}/api/v1/uftp", "--key", str(key_file),
        "--target-domain", HUB, "--target-key", hub_keys.cs1, "--domain", TESTER, "--listen-port", str(port),
        "--junit", str(junit), "--xsd-dir", str(XSD_DIR), "--timeout", "15"])
    assert result.exit_code == 0, result.output
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0"
    assert int(suite.get("tests", "0")) >= 19
    assert {case.get("name") for case in suite} >= {"isp_conflict", "dst_spring_92", "already_submitted"}


def test_conformance_reports_failures_as_junit(served: tuple[str, keys.KeyPair, str], tmp_path: Path) -> None:
    """A participant that does not know us fails the suite, visibly, instead of crashing it."""
    base, hub_keys, _ = served
    key_file = tmp_path / "stranger.key"
    key_file.write_text(keys.generate().private_key)
    junit = tmp_path / "junit.xml"
    result = CliRunner().invoke(cli, [
        "conformance", "uftp", "--role", "agr", "--url", f"{base}/api/v1/uftp", "--key", str(key_file),
        "--target-domain", HUB, "--target-key", hub_keys.public_key, "--junit", str(junit), "--timeout", "1"])
    assert result.exit_code == 1
    suite = ET.parse(junit).getroot()
    assert int(suite.get("failures", "0")) > 0
    failed = {case.get("name") for case in suite if case.find("failure") is not None}
    assert "valid_accepted" in failed and "isp_conflict" in failed  # a stranger gets 401, not *Responses
    assert "unknown_sender" not in failed and "doctype_refused" not in failed
