"""`flexhub openadr serve-vtn` as a real process: it starts, serves a VEN, and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from adapters.openadr.messages import decode, encode

ROOT = Path(__file__).resolve().parents[3]


def test_serve_vtn_answers_registration_and_poll(tmp_path: Path) -> None:
    env = {**os.environ, "FLEXHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", "from gateway.cli.openadr_cmd import app; app()", "serve-vtn", "--port", "0"],
        env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        while line and "listening on" not in line:
            line = child.stderr.readline()
        match = re.search(r"(http://\S+)", line)
        assert match, f"no listening line; exit code {child.poll()}"
        url = match.group(1)
        with httpx.Client(timeout=10) as http:
            reply = http.post(f"{url}/EiRegisterParty", content=encode(
                "oadrCreatePartyRegistration", request_id="r", ven_name="cli-ven", ven_id="cli-ven",
                http_pull_model=True, xml_signature=False, report_only=False, profile_name="2.0b",
                transport_name="simpleHttp", transport_address=""))
            assert decode(reply.content).payload["registration_id"]
            poll = decode(http.post(f"{url}/OadrPoll", content=encode("oadrPoll", ven_id="cli-ven")).content)
            assert poll.payload["response"]["response_code"] == 200
            assert http.post(f"{url}/OadrPoll", content=b"<broken").status_code == 400
    finally:
        child.terminate()
        child.wait(timeout=15)
