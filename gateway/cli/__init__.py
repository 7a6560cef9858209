"""The ``flexhub`` command line. Each capability owns one ``*_cmd`` module here."""

from __future__ import annotations

import typer

from gateway.cli import (
    cim_cmd,
    conformance_cmd,
    flexoffer_cmd,
    fman_cmd,
    keys_cmd,
    market_cmd,
    openadr_cmd,
    serve_cmd,
    sim_cmd,
    translate_cmd,
    uftp_cmd,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help="flexhub: integration hub for energy flexibility")
serve_cmd.register(app)
translate_cmd.register(app)
sim_cmd.register(app)
app.add_typer(flexoffer_cmd.app, name="flexoffer")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(fman_cmd.app, name="fman")
app.add_typer(market_cmd.app, name="market")
app.add_typer(openadr_cmd.app, name="openadr")
app.add_typer(cim_cmd.app, name="cim")
app.add_typer(uftp_cmd.app, name="uftp")
app.add_typer(conformance_cmd.app, name="conformance")


def main() -> None:
    app()
