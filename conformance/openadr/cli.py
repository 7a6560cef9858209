"""`flexhub conformance openadr-vtn`: run the 2.0b VTN cases against a URL, print a summary, write JUnit."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

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
    table = Table(title=f"OpenADR 2.0b VTN conformance: {url}")
    for column in ("case", "result", "detail"):
        table.add_column(column)
    for r in report.results:
        table.add_row(r.name, "[green]PASS[/]" if r.passed else "[red]FAIL[/]", r.detail if not r.passed else "")
    console = Console()
    console.print(table)
    console.print(f"{len(report.results) - report.failures}/{len(report.results)} passed")
    if junit:
        junit.write_bytes(report.junit_xml())
    raise typer.Exit(1 if report.failures else 0)


def register(conformance_app: typer.Typer) -> None:
    """Add ``openadr-vtn`` to the ``flexhub conformance`` group."""
    conformance_app.command("openadr-vtn")(openadr_vtn)
