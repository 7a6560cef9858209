"""`flexhub cim ...`: validate ESMP documents, manage CIM parties, drain the inbox, send documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.file_checks import report_files

app = typer.Typer(no_args_is_help=True, help="CIM-market (IEC 62325-451 ESMP) documents")
party_app = typer.Typer(no_args_is_help=True, help="CIM market participants the hub accepts")
app.add_typer(party_app, name="party")

ConfigOption = Annotated[Path | None, typer.Option("--config", help="TOML configuration file")]


def check_file(path: Path, xsd_dir: str | None) -> str | None:
    """None when ``path`` is a valid supported document, else the first reason it is not."""
    from adapters.cim.codec import CimError, loads
    from adapters.cim.safe_xml import XmlRejected
    from adapters.cim.xsd import XsdCatalog

    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    try:
        catalog = XsdCatalog(xsd_dir, "xmlschema") if xsd_dir else None
        loads(data, catalog)
    except (CimError, XmlRejected) as exc:
        return str(exc)
    except FileNotFoundError as exc:
        return str(exc)
    return None


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="ESMP XML documents")],
    xsd_dir: Annotated[
        str | None, typer.Option("--xsd-dir", help="Directory of ENTSO-E XSDs (default: cim.xsd_dir setting)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print `valid` or `invalid: <reason>` per FILE; exit 0 only when every file is valid.

    Checks: safe parsing (no DOCTYPE/entities), the element layout of the document's
    version, the XSD when a directory is given, positions and point counts, and the
    mapping into the hub's model.
    """
    if xsd_dir is None:
        from gateway.config import load_settings

        xsd_dir = load_settings(config).cim.xsd_dir
    report_files(files, lambda path: check_file(path, xsd_dir))


@party_app.command("add")
def party_add(
    mrid: Annotated[str, typer.Argument(help="The party's mRID (EIC), at most 16 characters")],
    role: Annotated[list[str], typer.Option("--role", help="Market role code (A46 BSP, A50 DSO …); repeatable")],
    name: Annotated[str | None, typer.Option(help="A readable name")] = None,
    hub: Annotated[bool, typer.Option("--hub", help="This is the hub's own identity")] = False,
    config: ConfigOption = None,
) -> None:
    """Register (or update) a party and the roles it may send documents in."""
    from gateway.config import load_settings
    from gateway.db.cim import upsert_party
    from gateway.services.store import open_store

    if len(mrid) > 16:
        typer.echo("error: a CIM party mRID has at most 16 characters", err=True)
        raise typer.Exit(2)
    engine, factory = open_store(load_settings(config), migrate=True)
    try:
        with factory() as session:
            row = upsert_party(session, mrid, role, name, hub)
            session.commit()
            typer.echo(f"{row.mrid} roles={','.join(sorted(row.role_set()))}{' (hub)' if row.is_hub else ''}")
    finally:
        engine.dispose()


@party_app.command("list")
def party_list(config: ConfigOption = None) -> None:
    from sqlalchemy import select

    from gateway.config import load_settings
    from gateway.db.cim import CimParty
    from gateway.services.store import open_store

    engine, factory = open_store(load_settings(config), migrate=True)
    try:
        with factory() as session:
            for row in session.execute(select(CimParty).order_by(CimParty.mrid)).scalars():
                typer.echo(f"{row.mrid}\t{','.join(sorted(row.role_set()))}\t{'hub' if row.is_hub else ''}")
    finally:
        engine.dispose()


@app.command("inbox")
def inbox(
    once: Annotated[bool, typer.Option("--once", help="Process what is there and exit")] = False,
    interval: Annotated[float, typer.Option(help="Polling interval in seconds")] = 2.0,
    config: ConfigOption = None,
) -> None:
    """Process documents dropped into cim.inbox_dir (acks go beside them and to cim.outbox_dir)."""
    import asyncio

    from gateway.config import load_settings
    from gateway.services.cim_runtime import make_watcher
    from gateway.services.store import open_store

    settings = load_settings(config)
    if not settings.cim.inbox_dir:
        typer.echo("error: cim.inbox_dir is not configured", err=True)
        raise typer.Exit(2)
    engine, factory = open_store(settings, migrate=True)
    watcher = make_watcher(factory, settings, interval)
    try:
        if once:
            for item in watcher.scan_once():
                typer.echo(f"{item.name}: {item.status}")
            return
        stop = asyncio.Event()
        try:
            asyncio.run(watcher.run(stop))
        except KeyboardInterrupt:
            stop.set()
    finally:
        engine.dispose()


@app.command("send")
def send(
    file: Annotated[Path, typer.Argument(help="Document to deliver")],
    to: Annotated[str | None, typer.Option("--to", help="http(s) URL or directory (default: cim.outbox_dir)")] = None,
    config: ConfigOption = None,
) -> None:
    """Deliver a document by HTTP POST or into an outbox directory, recording the attempt."""
    from adapters.cim.outbound import deliver
    from gateway.config import load_settings
    from gateway.db.cim import CimOutbound
    from gateway.services.store import open_store

    settings = load_settings(config)
    target = to or settings.cim.outbox_dir
    if not target:
        typer.echo("error: give --to or configure cim.outbox_dir", err=True)
        raise typer.Exit(2)
    reason = check_file(file, settings.cim.xsd_dir)
    if reason is not None:
        typer.echo(f"error: {file} is not a valid document: {reason}", err=True)
        raise typer.Exit(1)
    data = file.read_bytes()
    result = deliver(target, file.stem, data)
    engine, factory = open_store(settings, migrate=True)
    try:
        with factory() as session:
            session.add(
                CimOutbound(
                    target=target,
                    mrid=file.stem[:64],
                    content=data,
                    attempts=1,
                    delivered=result.ok,
                    last_error=None if result.ok else result.detail,
                )
            )
            session.commit()
    finally:
        engine.dispose()
    status = f" ack={result.acknowledgement.status}" if result.acknowledgement else ""
    typer.echo(f"{'delivered' if result.ok else 'failed'}: {result.detail}{status}")
    raise typer.Exit(0 if result.ok else 1)
