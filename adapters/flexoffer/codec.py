"""Public API of the FlexOffer JSON codec: wire text <-> native ``FlexOffer`` (no I/O).

``loads`` reads both dialects (AAU/FMAN: ``lower``/``upper``, positive = consumption;
INEA/FMAR: ``lowerBound``/``upperBound``, positive = production) and the messy shapes
real senders emit; ``dumps`` writes the dialect asked for. Format: docs/flexoffer-json.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from adapters.flexoffer.decode import decode_offer, parse_document, split_offers
from adapters.flexoffer.encode import encode_offer
from adapters.flexoffer.errors import CodecError
from adapters.flexoffer.wire import DIALECTS, Dialect
from core.flexoffer.model import FlexOffer

__all__ = [
    "DIALECTS",
    "CodecError",
    "DecodedItem",
    "Dialect",
    "decode_each",
    "dumps",
    "dumps_bytes",
    "loads",
    "loads_with_warnings",
]


def loads(text: str | bytes, *, strict: bool = False) -> list[FlexOffer]:
    """Read one offer, a list of offers or the ``{"flexOffer": [...]}`` envelope.

    Lenient by default: unknown fields are kept in ``FlexOffer.extra``. With ``strict``
    they raise ``CodecError``. Any problem raises ``CodecError`` naming the JSON path.
    """
    return loads_with_warnings(text, strict=strict)[0]


def loads_with_warnings(text: str | bytes, *, strict: bool = False) -> tuple[list[FlexOffer], list[str]]:
    """Like ``loads``, also returning one warning per unknown field kept (lenient mode)."""
    warnings: list[str] = []
    items = split_offers(parse_document(text), strict, warnings)
    offers = [decode_offer(obj, path, strict=strict, warnings=warnings) for path, obj in items]
    return offers, warnings


@dataclass(frozen=True)
class DecodedItem:
    """One offer of a document decoded on its own, so one bad offer does not hide the rest."""

    path: str
    offer: FlexOffer | None
    error: CodecError | None
    warnings: list[str]


def decode_each(text: str | bytes, *, strict: bool = False) -> list[DecodedItem]:
    """Decode every offer separately; a document-level problem raises ``CodecError``."""
    envelope_warnings: list[str] = []
    items = split_offers(parse_document(text), strict, envelope_warnings)
    results: list[DecodedItem] = []
    for path, obj in items:
        warnings: list[str] = []
        try:
            offer: FlexOffer | None = decode_offer(obj, path, strict=strict, warnings=warnings)
            error = None
        except CodecError as exc:
            offer, error = None, exc
        results.append(DecodedItem(path, offer, error, warnings))
    if results and envelope_warnings:
        first = results[0]
        results[0] = DecodedItem(first.path, first.offer, first.error, envelope_warnings + first.warnings)
    return results


def dumps_bytes(offers: FlexOffer | Iterable[FlexOffer], dialect: Dialect = "aau", *, envelope: bool = False) -> bytes:
    """``dumps`` as UTF-8 bytes, skipping a decode for HTTP bodies."""
    if dialect not in DIALECTS:
        raise CodecError("$", f"unknown dialect {dialect!r} (expected one of {', '.join(DIALECTS)})")
    if isinstance(offers, FlexOffer):
        body: object = encode_offer(offers, dialect)
        if envelope:
            body = {"flexOffer": [body]}
    else:
        encoded = [encode_offer(o, dialect) for o in offers]
        body = {"flexOffer": encoded} if envelope else encoded
    try:
        return orjson.dumps(body)
    except TypeError as exc:  # e.g. a non-JSON value someone put into ``extra``
        raise CodecError("$", f"cannot encode: {exc}") from None


def dumps(offers: FlexOffer | Iterable[FlexOffer], dialect: Dialect = "aau", *, envelope: bool = False) -> str:
    """Write offers in ``dialect``: a single offer gives an object, a list gives an array.

    ``envelope=True`` wraps them as ``{"flexOffer": [...]}``. ``loads(dumps(x, d)) == x``.
    """
    return dumps_bytes(offers, dialect, envelope=envelope).decode()
