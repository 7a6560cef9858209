"""`flexhub flexoffer ...`: check and convert FlexOffer JSON files offline.

Validity here is the same notion the REST API applies: the codec accepts the offer
and ``core.flexoffer.validate_offer`` finds no problem. Each offer is judged on its
own so that one bad offer in an envelope does not hide the state of the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from adapters.flexoffer.codec import DIALECTS, CodecError, decode_each, dumps_bytes, loads_with_warnings
from core.flexoffer import validate_offer

app = typer.Typer(no_args_is_help=True, help="Validate and convert FlexOffer JSON files (AAU/FMAN and INEA dialects).")


@dataclass
class OfferVerdict:
    index: int
    path: str
    id: str | None
    problems: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def label(self) -> str:
        return f"#{self.index}" + (f" (id {self.id})" if self.id else "")


@dataclass
class FileVerdict:
    file: str
    error: str | None
    offers: list[OfferVerdict]

    @property
    def valid(self) -> bool:
        return self.error is None and all(o.valid for o in self.offers)


def check_file(path: Path, strict: bool) -> FileVerdict:
    """Judge every offer in one file; a file-level problem (unreadable, malformed) is one reason."""
    name = str(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        return FileVerdict(name, f"cannot read file: {exc.strerror or exc}", [])
    try:
        items = decode_each(text, strict=strict)
    except CodecError as exc:
        return FileVerdict(name, str(exc), [])
    if not items:
        return FileVerdict(name, "contains no flex-offers", [])
    verdicts: list[OfferVerdict] = []
    for index, item in enumerate(items):
        if item.offer is None:
            problems = [str(item.error)]
            offer_id = None
        else:
            problems = validate_offer(item.offer)
            offer_id = item.offer.id
        verdicts.append(OfferVerdict(index, item.path, offer_id, problems, item.warnings))
    return FileVerdict(name, None, verdicts)


def _as_json(verdicts: list[FileVerdict]) -> dict[str, Any]:
    return {
        "valid": all(v.valid for v in verdicts),
        "files": [
            {
                "file": v.file,
                "valid": v.valid,
                "error": v.error,
                "offers": [
                    {
                        "index": o.index,
                        "path": o.path,
                        "id": o.id,
                        "valid": o.valid,
                        "problems": o.problems,
                        "warnings": o.warnings,
                    }
                    for o in v.offers
                ],
            }
            for v in verdicts
        ],
    }


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="FlexOffer JSON files: one offer, a list, or an envelope.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON document.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Reject unknown fields instead of warning.")] = False,
) -> None:
    """Print `valid` or `invalid: <reasons>` per offer; exit 0 only if every offer is valid."""
    verdicts = [check_file(path, strict) for path in files]
    if as_json:
        typer.echo(orjson.dumps(_as_json(verdicts), option=orjson.OPT_INDENT_2).decode())
    else:
        for verdict in verdicts:
            if verdict.error is not None:
                typer.echo(f"{verdict.file}: invalid: {verdict.error}")
                continue
            for offer in verdict.offers:
                for warning in offer.warnings:
                    typer.echo(f"{verdict.file}: {offer.label()}: warning: {warning}", err=True)
                if offer.valid:
                    typer.echo(f"{verdict.file}: {offer.label()}: valid")
                else:
                    typer.echo(f"{verdict.file}: {offer.label()}: invalid: {'; '.join(offer.problems)}")
    if not all(v.valid for v in verdicts):
        raise typer.Exit(code=1)


@app.command()
def convert(
    file: Annotated[Path, typer.Argument(help="FlexOffer JSON file in either dialect.")],
    to: Annotated[str, typer.Option("--to", help="Dialect to write: aau or inea.")],
    strict: Annotated[bool, typer.Option("--strict", help="Reject unknown fields instead of warning.")] = False,
    compact: Annotated[bool, typer.Option("--compact", help="One line instead of indented JSON.")] = False,
) -> None:
    """Print FILE converted to the dialect given by --to, keeping its shape (object, list or envelope)."""
    dialect = to.strip().lower()
    if dialect not in DIALECTS:
        typer.echo(f"error: --to must be one of {', '.join(DIALECTS)}, not {to!r}", err=True)
        raise typer.Exit(code=2)
    try:
        text = file.read_bytes()
    except OSError as exc:
        typer.echo(f"{file}: cannot read file: {exc.strerror or exc}", err=True)
        raise typer.Exit(code=1) from None
    try:
        offers, warnings = loads_with_warnings(text, strict=strict)
        document = orjson.loads(text)
    except CodecError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    for warning in warnings:
        typer.echo(f"{file}: warning: {warning}", err=True)
    is_envelope = (
        isinstance(document, dict) and "flexOffer" in document and "flexOfferProfileConstraints" not in document
    )
    single = isinstance(document, dict) and not is_envelope
    body = dumps_bytes(offers[0] if single else offers, dialect, envelope=is_envelope)
    if not compact:
        body = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    typer.echo(body.decode())
