"""`flexhub conformance openadr-ven`: the test VTN against real VENs (openleadr's client, the hub's VenClient).

The suite must pass against both, and it must fail a VEN that gets the known
pitfalls wrong (so its verdicts are not free passes).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from openleadr import OpenADRClient

from adapters.openadr.schema import check_document
from adapters.openadr.ven import VenClient
from conformance.openadr.report import Report
from conformance.openadr.ven_suite import CASES, run_ven_suite

pytestmark = pytest.mark.xdist_group("openadr-interop")

METADATA: dict[str, Any] = {
    "report_specifier_id": "hub-usage", "report_name": "METADATA_TELEMETRY_USAGE", "duration": timedelta(hours=1),
    "report_descriptions": [{
        "r_id": rid, "report_type": "usage", "reading_type": "Direct Read",
        "measurement": {"name": "powerReal", "description": "RealPower", "unit": "W", "scale": "k", "ns": "power",
                        "power_attributes": {"hertz": 50, "voltage": 230, "ac": True}},
        "sampling_rate": {"min_period": timedelta(seconds=1), "max_period": timedelta(minutes=15),
                          "on_change": False},
    } for rid in ("hub-power-a", "hub-power-b")],
}


def _verdicts(report: Report) -> dict[str, str]:
    return {r.name: "skip" if r.skipped else "pass" if r.passed else f"FAIL {r.detail}" for r in report.results}


async def _drive_hub_ven(url: str, stop: asyncio.Event, *, all_rids: bool = False) -> list[str]:
    """The hub's VEN client run the way the gateway runs it: register, reports, opt, then poll."""
    invalid: list[str] = []

    def check(xml: str | bytes) -> None:
        if xml and (reason := check_document(xml)) is not None:
            invalid.append(reason)

    client = VenClient(url, "hub-ven", on_event=lambda event: "optIn", sent=check, received=check)
    try:
        await client.register()
        await client.register_reports([dict(METADATA)])
        await client.request_events()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        await client.create_opt("optOut", "participating", windows=[(start, timedelta(hours=1))])
        reported: set[str] = set()
        while not stop.is_set():
            try:
                await client.poll()
                for request in list(client.state.report_requests.values()):
                    if request.report_request_id in reported:
                        continue
                    r_ids = [d["r_id"] for d in METADATA["report_descriptions"]] if all_rids else request.r_ids
                    now = datetime.now(UTC).replace(microsecond=0)
                    await client.update_report(request, [(now, timedelta(seconds=1), r, 3.5) for r in r_ids])
                    reported.add(request.report_request_id)
            except httpx.TransportError:
                # The test VTN shuts down as soon as its suite ends, possibly during a poll; that
                # ends the run only if the test then says stop. Any other transport error fails.
                await asyncio.wait_for(stop.wait(), 5)
                break
            await asyncio.sleep(client.state.poll_interval.total_seconds())
    finally:
        await client.close()
    return invalid


async def test_hub_ven_passes_the_ven_suite() -> None:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[list[str]]] = []

    def start_ven(url: str) -> None:
        tasks.append(asyncio.get_running_loop().create_task(_drive_hub_ven(url, stop)))

    report = await run_ven_suite("127.0.0.1", 0, timeout=60, on_listening=start_ven)
    stop.set()
    invalid = await asyncio.wait_for(tasks[0], 30)
    verdicts = _verdicts(report)
    assert len(verdicts) == len(CASES)
    assert {name: v for name, v in verdicts.items() if v.startswith("FAIL")} == {}
    assert verdicts["P1_0020_CreateOpt"] == "pass"
    assert invalid == []


async def test_suite_fails_a_ven_that_reports_unrequested_rids() -> None:
    """The rID-count pitfall: the suite asks for one of two rIDs; sending both must fail R1_0040."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[list[str]]] = []

    def start_ven(url: str) -> None:
        tasks.append(asyncio.get_running_loop().create_task(_drive_hub_ven(url, stop, all_rids=True)))

    report = await run_ven_suite("127.0.0.1", 0, timeout=60, on_listening=start_ven, only="R1")
    stop.set()
    await asyncio.wait_for(tasks[0], 30)
    verdicts = _verdicts(report)
    assert set(verdicts) == {name for name, _, _ in CASES if name.startswith("R1")}
    assert "rIDs sent but not requested" in verdicts["R1_0040_UpdateReport"]
    assert verdicts["R1_0010_RegisterReport"] == "pass"


async def test_suite_fails_a_ven_that_never_answers() -> None:
    """A VEN that registers and then goes silent fails the event and report cases (no hang)."""

    async def register_only(url: str) -> None:
        client = VenClient(url, "silent-ven")
        await client.register()
        await client.close()

    report = await run_ven_suite("127.0.0.1", 0, timeout=3, on_listening=register_only)
    verdicts = _verdicts(report)
    assert verdicts["N1_0010_CreatePartyRegistration"] == "pass"
    for name in ("N1_0020_PullModelPolls", "E1_0010_CreatedEvent", "R1_0010_RegisterReport"):
        assert verdicts[name].startswith("FAIL"), name


async def test_cli_against_openleadr_client_writes_junit(tmp_path: Path) -> None:
    """`flexhub conformance openadr-ven --listen 127.0.0.1:0` as a subprocess, openleadr's OpenADRClient as VEN."""
    junit = tmp_path / "ven.xml"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from gateway.cli import main; main()", "conformance", "openadr-ven",
        "--listen", "127.0.0.1:0", "--timeout", "60", "--junit", str(junit),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    client: OpenADRClient | None = None
    try:
        line = (await asyncio.wait_for(child.stdout.readline(), 60)).decode()
        assert line.startswith("listening on "), line
        url = line.removeprefix("listening on ").strip()
        invalid: list[str] = []

        def check(xml: str) -> None:
            if xml and (reason := check_document(xml)) is not None:
                invalid.append(reason)

        client = OpenADRClient(ven_name="ol-ven", vtn_url=url)
        client.add_hook("before_send_xml", check)
        client.add_hook("after_receive_xml", check)
        client.add_handler("on_event", lambda event: "optIn")
        for rid in ("ol-power-a", "ol-power-b"):
            client.add_report(callback=lambda: 7.25, resource_id="device-1", measurement="power_real",
                              report_specifier_id="ol-usage", r_id=rid, unit="W", scale="k",
                              sampling_rate=timedelta(seconds=1), report_duration=timedelta(hours=1))
        await client.run()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        opt_id = await client.create_opt("optOut", "participating", targets=[{"ven_id": client.ven_id}],
                                         vavailability={"components": [{"dtstart": start,
                                                                        "duration": timedelta(hours=1)}]})
        assert opt_id
        await client.cancel_opt(opt_id)
        output = (await asyncio.wait_for(child.stdout.read(), 90)).decode()
        code = await child.wait()
    finally:
        if client is not None:
            await client.stop()
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert code == 0, output
    suite = ET.parse(junit).getroot()
    assert suite.get("name") == "openadr-ven"
    assert suite.get("tests") == str(len(CASES))
    assert suite.get("failures") == "0", output
    assert suite.get("skipped") == "0", output  # openleadr sent both oadrCreateOpt and oadrCancelOpt
    assert {case.get("name", "")[:2] for case in suite} >= {"N1", "E1", "P1", "R1"}
    assert invalid == []

