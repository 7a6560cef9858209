"""`flexhub translate`: convert a document between protocols through the native model.

Every translation is wire → native model → wire (never wire → wire), so a pair is
available exactly when both sides have a codec for the same native concept. Pairs
and their status live in one table (``PAIRS``) that ``docs/translate.md`` mirrors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Protocol(StrEnum):
    cim = "cim"
    uftp = "uftp"
    flexoffer = "flexoffer"
    openadr = "openadr"


IMPLEMENTED = "implemented"
PLANNED = "planned"
NOT_MEANINGFUL = "not meaningful"

# (from, to) -> (status, explanation). Missing pairs are the identity (same protocol).
PAIRS: dict[tuple[str, str], tuple[str, str]] = {
    ("cim", "flexoffer"): (IMPLEMENTED, "ReserveBid_MarketDocument bids become flex-offers"),
    ("flexoffer", "cim"): (IMPLEMENTED, "flex-offers become a ReserveBid_MarketDocument"),
    ("cim", "cim"): (IMPLEMENTED, "re-written in another document version (--cim-version)"),
    ("flexoffer", "flexoffer"): (IMPLEMENTED, "re-written in another dialect (--dialect)"),
    ("cim", "uftp"): (PLANNED, "ReserveBid offers/needs ⇄ UFTP FlexOffer/FlexRequest need the UFTP codec's offer API"),
    ("uftp", "cim"): (PLANNED, "UFTP FlexOffer/FlexRequest → ReserveBid needs the UFTP codec's offer API"),
    ("uftp", "flexoffer"): (PLANNED, "UFTP FlexOffer → flex-offer belongs to the UFTP codec"),
    ("flexoffer", "uftp"): (PLANNED, "flex-offer → UFTP FlexOffer belongs to the UFTP codec"),
    ("uftp", "uftp"): (PLANNED, "no UFTP re-writer yet"),
    ("cim", "openadr"): (PLANNED, "Activation/Schedule documents → oadrDistributeEvent needs the OpenADR event codec"),
    ("openadr", "cim"): (
        NOT_MEANINGFUL,
        "OpenADR events and reports carry no bids or market documents the hub could put in CIM",
    ),
    ("flexoffer", "openadr"): (
        NOT_MEANINGFUL,
        "OpenADR 2.0b has no flex-offer; only an assigned schedule can become an event (translate the schedule)",
    ),
    ("openadr", "flexoffer"): (NOT_MEANINGFUL, "OpenADR events are orders, not offers of flexibility"),
    ("openadr", "uftp"): (NOT_MEANINGFUL, "OpenADR events have no UFTP counterpart the hub could derive"),
    ("uftp", "openadr"): (PLANNED, "UFTP FlexOrder → OpenADR event needs both codecs' order APIs"),
    ("openadr", "openadr"): (PLANNED, "no OpenADR re-writer yet"),
}


class TranslateError(ValueError):
    pass


def translate(
    source: str,
    target: str,
    data: bytes,
    cim_version: str | None = None,
    dialect: str = "aau",
    sender: str | None = None,
    receiver: str = "10X1001A1001A38Y",
) -> bytes:
    """Translate ``data`` from ``source`` to ``target`` protocol; raise :class:`TranslateError`."""
    status, why = PAIRS[(source, target)]
    if status != IMPLEMENTED:
        raise TranslateError(f"{source} → {target} is {status}: {why}")
    if source == "cim":
        from adapters.cim.codec import CimError, dumps_message, loads
        from adapters.cim.safe_xml import XmlRejected

        try:
            message = loads(data)
        except (CimError, XmlRejected) as exc:
            raise TranslateError(f"input is not a valid CIM document: {exc}") from exc
        if target == "cim":
            return dumps_message(message, cim_version)
        if message.kind != "ReserveBid_MarketDocument":
            raise TranslateError(
                f"{message.kind} carries no offers; only ReserveBid_MarketDocument translates to flex-offers"
            )
        from adapters.flexoffer.codec import dumps_bytes

        return dumps_bytes(message.offers, dialect)  # type: ignore[arg-type]
    from adapters.flexoffer.codec import dumps_bytes as fo_dumps
    from adapters.flexoffer.codec import loads as fo_loads
    from adapters.flexoffer.errors import CodecError

    try:
        offers = fo_loads(data)
    except CodecError as exc:
        raise TranslateError(f"input is not a valid flex-offer document: {exc}") from exc
    if target == "flexoffer":
        return fo_dumps(offers, dialect)  # type: ignore[arg-type]
    from adapters.cim.codec import dumps_offers
    from adapters.cim.errors import MappingError
    from adapters.cim.header import Header, Party

    if not offers:
        raise TranslateError("the flex-offer document holds no offers")
    start = min(o.earliest_start for o in offers)
    end = max(o.earliest_start + o.interval * o.profile.slice_count for o in offers)
    party = (sender or offers[0].offered_by or "FLEXHUB")[:16]
    header = Header(
        mrid=f"FO-{start:%Y%m%d%H%M}-{len(offers)}",
        revision=1,
        doc_type="A37",
        sender=Party(party, "A46"),
        receiver=Party(receiver[:16], "A04"),
        created=datetime.now(UTC),
        start=start,
        end=end,
        process_type="A47",
        domain=None,
    )
    from adapters.cim.tree import Coded

    header.domain = Coded(offers[0].zone or "10Y1001A1001A91G")
    try:
        return dumps_offers(offers, header, cim_version)
    except (MappingError, KeyError) as exc:
        raise TranslateError(f"cannot express the offers as a ReserveBid: {exc}") from exc


def register(app: typer.Typer) -> None:
    """Add the top-level ``translate`` command to ``app``."""

    @app.command("translate")
    def translate_command(
        file: Annotated[Path, typer.Argument(help="Input document ('-' for standard input)")],
        source: Annotated[Protocol, typer.Option("--from", help="Protocol of the input")],
        target: Annotated[Protocol, typer.Option("--to", help="Protocol to write")],
        cim_version: Annotated[
            str | None, typer.Option("--cim-version", help="CIM document version to write, e.g. 7.4")
        ] = None,
        dialect: Annotated[str, typer.Option(help="Flex-offer JSON dialect: aau or inea")] = "aau",
        sender: Annotated[str | None, typer.Option(help="CIM sender mRID when writing CIM")] = None,
        receiver: Annotated[str, typer.Option(help="CIM receiver mRID when writing CIM")] = "10X1001A1001A38Y",
    ) -> None:
        """Print FILE translated from one protocol to another, through the native model."""
        import sys

        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        try:
            out = translate(source.value, target.value, data, cim_version, dialect, sender, receiver)
        except TranslateError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        sys.stdout.buffer.write(out if out.endswith(b"\n") else out + b"\n")
