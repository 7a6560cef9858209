"""The ``flexhub`` command line. Each capability adds its own sub-command module."""

from __future__ import annotations

import typer

from gateway.cli import flexoffer_cmd, keys_cmd, market_cmd, serve_cmd

app = typer.Typer(no_args_is_help=True, add_completion=False, help="flexhub: integration hub for energy flexibility")
serve_cmd.register(app)
app.add_typer(flexoffer_cmd.app, name="flexoffer")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(market_cmd.app, name="market")


def main() -> None:
    app()
