"""`flexhub keys ...`: API keys for parties, created directly on the configured store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="API keys: create keys for parties")


@app.command("create")
def create(
    party: Annotated[str, typer.Option("--party", help="The party the key acts for")],
    scope: Annotated[
        list[str], typer.Option("--scope", help="read, write or admin; repeat for several")
    ] = ["read"],  # noqa: B006 - typer reads the default, it is never mutated
    label: Annotated[str | None, typer.Option(help="A note kept with the key")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML configuration file")] = None,
) -> None:
    """Print a new API key for PARTY. Only its hash is stored, so this is the one chance to copy it."""
    from gateway.config import load_settings
    from gateway.services.store import create_key_in_store

    try:
        key = create_key_in_store(load_settings(config), party, scope, label=label)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(key)
