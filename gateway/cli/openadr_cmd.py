"""`flexhub openadr ...` sub-commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters.openadr.schema import check_document

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
    failures = 0
    for path in files:
        reason = check_document(path.read_bytes())
        if reason is None:
            typer.echo(f"{path}: valid")
        else:
            failures += 1
            typer.echo(f"{path}: invalid: {reason}")
    raise typer.Exit(1 if failures else 0)
