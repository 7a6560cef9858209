"""`flexhub openadr ...` sub-commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters.openadr.schema import check_document
from gateway.cli.file_checks import report_files

app = typer.Typer(no_args_is_help=True, help="OpenADR 2.0b commands")


@app.callback()
def _group() -> None:
    """OpenADR 2.0b: validate payloads (the VTN itself runs inside `flexhub serve`)."""


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="XML payloads")],
) -> None:
    """Validate payloads against oadr_20b.xsd (safely: DTDs and entities are refused).

    Prints ``valid`` or ``invalid: <reason>`` per file; exits 0 only if all are valid.
    """
    report_files(files, lambda path: check_document(path.read_bytes()))


@app.command("serve-vtn")
def serve_vtn(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0 picks a free one)")] = 8443,
    cert: Annotated[Path | None, typer.Option(help="server certificate (PEM); enables TLS")] = None,
    key: Annotated[Path | None, typer.Option(help="server private key (PEM)")] = None,
    client_ca: Annotated[Path | None, typer.Option(help="CA for VEN client certificates (mTLS)")] = None,
    config: Annotated[Path | None, typer.Option(help="hub TOML configuration")] = None,
) -> None:
    """Run the dedicated OpenADR 2.0b VTN listener (TLS 1.2+, venID = client-certificate fingerprint)."""

    from gateway.config import load_settings
    from gateway.services import openadr_listener
    from gateway.services.openadr_vtn import VtnService, openadr_settings
    from gateway.services.store import open_store

    settings = load_settings(config)
    _, factory = open_store(settings)
    context = None
    if cert and key:
        context = openadr_listener.server_ssl_context(str(cert), str(key), str(client_ca) if client_ca else None)
    elif cert or key or client_ca:
        raise typer.BadParameter("TLS needs both --cert and --key")

    def started(bound: int) -> None:
        scheme = "https" if context else "http"
        typer.echo(f"OpenADR 2.0b VTN listening on {scheme}://{host}:{bound}{openadr_listener.PREFIX}", err=True)

    openadr_listener.serve_forever(VtnService(factory, openadr_settings(settings)), host, port, context, started)


@app.command("ven")
def run_ven(
    vtn_url: Annotated[str, typer.Option(help="upstream VTN, e.g. https://utility/OpenADR2/Simple/2.0b")],
    ven_name: Annotated[str, typer.Option(help="our venName")] = "flexhub",
    ven_id: Annotated[str | None, typer.Option(help="venID, if the utility assigned one")] = None,
    cert: Annotated[Path | None, typer.Option(help="client certificate (PEM)")] = None,
    key: Annotated[Path | None, typer.Option(help="client key (PEM)")] = None,
    ca: Annotated[Path | None, typer.Option(help="CA bundle for the VTN's certificate")] = None,
    config: Annotated[Path | None, typer.Option(help="hub TOML configuration")] = None,
) -> None:
    """Run the hub as a VEN toward an upstream VTN: events become planning targets, usage is reported."""
    import asyncio
    import ssl

    import httpx

    from adapters.openadr.ven import VenClient
    from gateway.config import load_settings
    from gateway.services.openadr_ven import UpstreamVen, run_upstream
    from gateway.services.store import open_store

    settings = load_settings(config)
    _, factory = open_store(settings)
    verify: ssl.SSLContext | bool = True
    if ca or cert:
        verify = ssl.create_default_context(cafile=str(ca) if ca else None)
        if cert:
            verify.load_cert_chain(str(cert), str(key) if key else None)

    async def run() -> None:
        upstream = UpstreamVen(factory, vtn_url)
        client = VenClient(vtn_url, ven_name, ven_id=ven_id, on_event=upstream.decide,
                           http=httpx.AsyncClient(timeout=30, verify=verify))
        try:
            await run_upstream(client, upstream, asyncio.Event())
        finally:
            await client.close()

    asyncio.run(run())
