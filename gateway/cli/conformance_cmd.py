"""`flexhub conformance ...`: run a conformance suite against another implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conformance.openadr.cli import register as register_openadr

app = typer.Typer(no_args_is_help=True, help="Conformance suites for other implementations (JUnit XML out)")
register_openadr(app)


@app.command("uftp")
def uftp(
    role: Annotated[str, typer.Option("--role", help="Role of the participant under test: dso or agr")],
    url: Annotated[str, typer.Option("--url", help="The participant's SignedMessage endpoint")],
    key: Annotated[Path, typer.Option("--key", help="Our private key file (flexhub uftp keygen)")],
    target_domain: Annotated[str, typer.Option("--target-domain", help="The participant's domain")],
    target_key: Annotated[str, typer.Option("--target-key", help="The participant's public key (base64 or cs1.)")],
    domain: Annotated[str, typer.Option("--domain", help="Our domain, as registered at the participant")] =
        "conformance.flexhub.example.com",
    listen_host: Annotated[str, typer.Option(help="Where we receive the asynchronous responses")] = "127.0.0.1",
    listen_port: Annotated[int, typer.Option(help="Port for responses; register http://HOST:PORT/uftp")] = 0,
    junit: Annotated[Path, typer.Option("--junit", help="JUnit XML report file")] = Path("uftp-conformance.xml"),
    xsd_dir: Annotated[Path | None, typer.Option("--xsd-dir", envvar="FLEXHUB_UFTP__XSD_DIR",
                                                 help="Validate every response against these XSDs")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each asynchronous response")] = 10.0,
) -> None:
    """Send valid and invalid UFTP messages to a participant and check its answers.

    The participant must know us beforehand: our domain, the public key of --key, and
    the endpoint http://LISTEN_HOST:LISTEN_PORT/uftp in the role opposite to --role.
    """
    import httpx

    from adapters.usef import keys
    from adapters.usef.schema import load_schemas
    from conformance.uftp.peer import Peer
    from conformance.uftp.receiver import Receiver
    from conformance.uftp.suite import run_suite

    target_role = role.upper()
    if target_role not in ("AGR", "DSO"):
        raise typer.BadParameter("--role must be dso or agr")
    our_role = "DSO" if target_role == "AGR" else "AGR"
    pair = keys.read_key_file(key)
    schemas = load_schemas(str(xsd_dir.resolve())) if xsd_dir else None
    receiver = Receiver({(target_domain, target_role): keys.normalize_public_key(target_key)}, schemas,
                        host=listen_host, port=listen_port)
    with receiver, httpx.Client(timeout=30) as http:
        typer.echo(f"receiving responses on {receiver.url}", err=True)
        peer = Peer(domain, our_role, pair, target_domain, url, receiver, http)
        report = run_suite(peer, target_role, timeout)
        if receiver.errors:
            typer.echo("responses that failed validation:\n  " + "\n  ".join(receiver.errors), err=True)
    junit.write_bytes(report.junit_xml())
    typer.echo(report.text())
    typer.echo(f"JUnit XML: {junit}")
    raise typer.Exit(1 if report.failures or receiver.errors else 0)
