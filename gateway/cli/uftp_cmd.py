"""`flexhub uftp ...`: keys, offline validation of message files, registry and outbox."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.file_checks import report_files

app = typer.Typer(no_args_is_help=True, help="UFTP (Shapeshifter): keys, validation, participants, outbox")


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="File for the private key (the public key goes to FILE.pub)")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files")] = False,
) -> None:
    """Create an Ed25519 signing key pair for UFTP (libsodium crypto_sign, base64)."""
    from adapters.usef import keys

    public = out.with_name(out.name + ".pub")
    if (out.exists() or public.exists()) and not force:
        typer.echo(f"{out} or {public} exists; use --force to overwrite", err=True)
        raise typer.Exit(1)
    pair = keys.generate()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(pair.private_key + "\n")
    public.write_text(pair.public_key + "\n", encoding="ascii")
    typer.echo(f"private key: {out}")
    typer.echo(f"public key:  {pair.public_key}")
    typer.echo(f"DNS/exchange form: {pair.cs1}")


def _validate_file(path: Path, schemas: object, rules: object, now: datetime, public_key: str | None) -> str | None:
    """None when valid, else the reason."""
    from adapters.usef import codec
    from adapters.usef.rules import semantic_reasons
    from adapters.usef.safexml import UnsafeXmlError, parse_xml

    data = path.read_bytes()
    try:
        root = parse_xml(data)
    except UnsafeXmlError as exc:
        return str(exc)
    inner = data
    if root.tag.rsplit("}", 1)[-1] == "SignedMessage":
        try:
            envelope = codec.read_envelope(data, schemas)  # type: ignore[arg-type]
        except codec.EnvelopeError as exc:
            return str(exc)
        if public_key is None:
            return None  # the envelope is valid; the body cannot be opened without the sender's key
        try:
            inner = codec.unseal(envelope.body, public_key)
        except codec.SignatureError as exc:
            return str(exc)
    try:
        payload = codec.read_payload(inner, schemas)  # type: ignore[arg-type]
    except codec.PayloadError as exc:
        return str(exc)
    found = semantic_reasons(payload.message, rules, now)  # type: ignore[arg-type]
    return "; ".join(found) if found else None


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="UFTP message files (payload messages or SignedMessages)")],
    xsd_dir: Annotated[Path | None, typer.Option("--xsd-dir", envvar="FLEXHUB_UFTP__XSD_DIR",
                                                 help="Directory with the official Shapeshifter XSDs")] = None,
    public_key: Annotated[str | None, typer.Option("--public-key", help="Sender key to open SignedMessages")] = None,
    time_zone: Annotated[str, typer.Option(help="Market time zone")] = "Europe/Amsterdam",
    isp_minutes: Annotated[int, typer.Option(help="Market ISP duration in minutes")] = 15,
    now: Annotated[str | None, typer.Option(help="Judge periods/expiry as of this ISO time (default: now)")] = None,
) -> None:
    """Print `valid` or `invalid: <reason>` per file; exit 0 only if every file is valid.

    Checks what needs no conversation state: safe parsing (DOCTYPE/entities are refused,
    never expanded or fetched), the XSDs, and the specification's stateless rules.
    """
    from adapters.usef.rules import MarketRules, to_datetime
    from adapters.usef.schema import load_schemas

    schemas = load_schemas(str(xsd_dir.resolve())) if xsd_dir else None
    if schemas is None:
        typer.echo("note: no --xsd-dir given, checking structure and rules without the XSDs", err=True)
    rules = MarketRules(isp_duration=timedelta(minutes=isp_minutes), time_zone=time_zone)
    moment = to_datetime(now) if now else datetime.now(UTC)
    report_files(files, lambda path: _validate_file(path, schemas, rules, moment, public_key))


@app.command("participant")
def participant(
    domain: Annotated[str, typer.Option(help="The participant's internet domain")],
    role: Annotated[str, typer.Option(help="AGR, DSO or CRO")],
    public_key: Annotated[str, typer.Option("--public-key", help="Ed25519 public key, base64 or cs1.…")],
    endpoint: Annotated[str, typer.Option(help="URL the participant receives SignedMessages on")],
    dialect: Annotated[str, typer.Option(help="official, or shapeshifter-uftp for 2.4 peers")] = "official",
    barred: Annotated[bool, typer.Option(help="Refuse this participant's messages")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="TOML configuration file")] = None,
) -> None:
    """Add or update a participant in the hub's UFTP registry."""
    from gateway.config import load_settings
    from gateway.services import uftp
    from gateway.services.store import open_store

    engine, factory = open_store(load_settings(config), migrate=True)
    try:
        with factory() as session:
            row = uftp.upsert_participant(session, domain=domain, role=role.upper(), public_key=public_key,
                                          endpoint=endpoint, dialect=dialect, barred=barred)
            session.commit()
            typer.echo(f"{row.domain} {row.role} -> {row.endpoint}")
    finally:
        engine.dispose()


@app.command("flush")
def flush(config: Annotated[Path | None, typer.Option("--config", help="TOML configuration file")] = None) -> None:
    """Deliver every queued outbound UFTP message that is due now."""
    from gateway.config import load_settings
    from gateway.services import uftp_outbox
    from gateway.services.store import open_store
    from gateway.services.uftp_config import UftpSettings, _from_env

    cfg = UftpSettings.model_validate(_from_env())
    engine, factory = open_store(load_settings(config), migrate=True)
    try:
        policy = uftp_outbox.DeliveryPolicy(cfg.retry_base_seconds, cfg.max_attempts, cfg.request_timeout_seconds)
        states = uftp_outbox.flush(factory, policy)
    finally:
        engine.dispose()
    counts: dict[str, int] = {}
    for state in states.values():
        counts[str(state)] = counts.get(str(state), 0) + 1
    typer.echo(f"attempted {len(states)}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
