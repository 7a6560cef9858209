"""`flexhub market ...`: clear a JSON order book offline.

The output is the same canonical JSON the hub stores, so a result produced here
can be compared byte for byte with one the hub published for the same book.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from core.market.clearing import clear
from core.market.models import OrderBook
from core.market.results import canonical_json

app = typer.Typer(no_args_is_help=True, help="Flex-offer market (FMAR) commands.")


@app.command("clear")
def clear_file(
    file: Annotated[Path, typer.Argument(help="JSON order book: {'market': {...}, 'bids': [...], 'requests': [...]}")],
    pretty: Annotated[bool, typer.Option("--pretty", help="indent the JSON (not canonical)")] = False,
) -> None:
    """Clear the order book in FILE and print the results as JSON."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    try:
        book = OrderBook.model_validate_json(text)
    except ValidationError as exc:
        typer.echo(f"error: {file} is not a valid order book:", err=True)
        for err in exc.errors(include_url=False)[:20]:
            typer.echo(f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    output = canonical_json(clear(book))
    typer.echo(json.dumps(json.loads(output), indent=2, sort_keys=True) if pretty else output)
