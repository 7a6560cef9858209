"""Public API of the FlexOffer JSON codec: wire text <-> native ``FlexOffer`` (no I/O).

``loads`` reads both dialects (AAU/FMAN: ``lower``/``upper``, positive = consumption;
INEA/FMAR: ``lowerBound``/``upperBound``, positive = production) and the messy shapes
real senders emit; ``dumps`` writes the dialect asked for. Format: docs/flexoffer-json.md.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.flexoffer.decode import Columns, decode_offer, parse_document, split_offers
from adapters.flexoffer.encode import encode_offer
from adapters.flexoffer.errors import CodecError
from adapters.flexoffer.typed import typed_items
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
    "gc_paused",
    "loads",
    "loads_with_warnings",
]


_GC_PAUSE_BYTES = 64 * 1024


@contextmanager
def gc_paused(size: int) -> Iterator[None]:
    """Hold the cyclic garbage collector off while a large document is turned into offers.

    Decoding allocates millions of small objects that all stay alive; the collector would
    trace the growing tree again and again for nothing (measured: 3-6x slower ingest of a
    1,000-offer envelope). The decoded objects form no reference cycles, so the pause
    defers no real garbage for long.
    The collector is re-enabled only if it was enabled when we started. Callers that go
    on to validate and store the decoded offers hold it off over that work too.
    """
    if size < _GC_PAUSE_BYTES or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def loads(text: str | bytes, *, strict: bool = False) -> list[FlexOffer]:
    """Read one offer, a list of offers or the ``{"flexOffer": [...]}`` envelope.

    Lenient by default: unknown fields are kept in ``FlexOffer.extra``. With ``strict``
    they raise ``CodecError``. Any problem raises ``CodecError`` naming the JSON path.
    """
    return loads_with_warnings(text, strict=strict)[0]


def loads_with_warnings(text: str | bytes, *, strict: bool = False) -> tuple[list[FlexOffer], list[str]]:
    """Like ``loads``, also returning one warning per unknown field kept (lenient mode)."""
    warnings: list[str] = []
    with gc_paused(len(text)):
        offers = [
            decode_offer(obj, path, strict=strict, warnings=warnings, profile=profile)
            for path, obj, profile in _items(text, strict, warnings)
        ]
    return offers, warnings


def _items(text: str | bytes, strict: bool, warnings: list[str]) -> list[tuple[str, Any, Columns | None]]:
    """The typed single-pass reader when the document has the plain shape, else the general one."""
    typed = typed_items(text)
    if typed is not None:
        return typed
    return [(path, obj, None) for path, obj in split_offers(parse_document(text), strict, warnings)]


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
    results: list[DecodedItem] = []
    with gc_paused(len(text)):
        for path, obj, profile in _items(text, strict, envelope_warnings):
            warnings: list[str] = []
            try:
                offer: FlexOffer | None = decode_offer(obj, path, strict=strict, warnings=warnings, profile=profile)
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
        offers = list(offers)
        # ~100 small objects per slice are built and dropped again: same reasoning as loads.
        with gc_paused(len(offers) * _GC_PAUSE_BYTES // 16):
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
