"""`flexhub conformance openadr-vtn`: run the 2.0b VTN cases against a URL, print a summary, write JUnit."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from conformance.openadr.report import Report
from conformance.openadr.ven_suite import run_ven_suite
from conformance.openadr.vtn_suite import run_suite

app = typer.Typer(no_args_is_help=True, help="OpenADR 2.0b conformance")


@app.callback()
def _group() -> None:
    """OpenADR 2.0b conformance suites."""


@app.command("openadr-vtn")
def openadr_vtn(
    url: Annotated[str, typer.Option(help="VTN base URL, e.g. https://vtn:8443/OpenADR2/Simple/2.0b")],
    cert: Annotated[Path | None, typer.Option(help="client certificate (PEM) for mTLS")] = None,
    key: Annotated[Path | None, typer.Option(help="client private key (PEM)")] = None,
    ca: Annotated[Path | None, typer.Option(help="CA bundle to verify the VTN")] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML here")] = None,
    only: Annotated[str | None, typer.Option(help="run cases whose name starts with this (e.g. R1)")] = None,
) -> None:
    """Run the N1/E1/P1/R1 cases against a VTN; exit 1 if any fails."""
    verify: ssl.SSLContext | bool = True
    if ca or cert:
        verify = ssl.create_default_context(cafile=str(ca) if ca else None)
        if cert:
            verify.load_cert_chain(str(cert), str(key) if key else None)
    with httpx.Client(timeout=30, verify=verify) as http:
        report = run_suite(url, http=http, only=only)
    _finish(report, f"OpenADR 2.0b VTN conformance: {url}", junit)


def _finish(report: Report, title: str, junit: Path | None) -> None:
    table = Table(title=title)
    for column in ("case", "result", "detail"):
        table.add_column(column)
    for r in report.results:
        verdict = "[yellow]SKIP[/]" if r.skipped else "[green]PASS[/]" if r.passed else "[red]FAIL[/]"
        table.add_row(r.name, verdict, r.detail if not r.passed else "")
    console = Console()
    console.print(table)
    ran = len(report.results) - report.skipped
    console.print(f"{ran - report.failures}/{ran} passed, {report.skipped} skipped")
    if junit:
        junit.write_bytes(report.junit_xml())
    raise typer.Exit(1 if report.failures else 0)


@app.command("openadr-ven")
def openadr_ven(
    listen: Annotated[str, typer.Option(help="HOST:PORT for the test VTN (port 0 picks a free one)")],
    timeout: Annotated[float, typer.Option(help="seconds to wait for the VEN to go through the script")] = 120.0,
    poll_seconds: Annotated[int, typer.Option(help="oadrPollFreq asked of the VEN")] = 1,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML here")] = None,
    only: Annotated[str | None, typer.Option(help="judge cases whose name starts with this (e.g. R1)")] = None,
) -> None:
    """Act as a test VTN for a VEN under test (pull model); exit 1 if any case fails."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter("expected HOST:PORT", param_hint="--listen")

    def announce(url: str) -> None:
        # one plain line first so scripts can read the URL (port 0 = the OS picked it)
        print(f"listening on {url}", flush=True)

    report = asyncio.run(run_ven_suite(host.strip("[]"), int(port), timeout=timeout, poll_seconds=poll_seconds,
                                       on_listening=announce, only=only))
    _finish(report, f"OpenADR 2.0b VEN conformance: {report.target}", junit)


def register(conformance_app: typer.Typer) -> None:
    """Add ``openadr-vtn`` and ``openadr-ven`` to the ``flexhub conformance`` group."""
    conformance_app.command("openadr-vtn")(openadr_vtn)
    conformance_app.command("openadr-ven")(openadr_ven)
