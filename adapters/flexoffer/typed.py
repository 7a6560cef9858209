"""Single-pass typed reading of documents in the common shape (the ingest fast path).

Parsing dominates ingest: a 96-slice offer is ~9 kB of JSON, and building a Python
dict, list and float per slice costs more than everything else together. msgspec
decodes straight into slotted, untracked structs with the types checked in C, and the
profile columns come out with ``map``. Only documents whose every offer has the plain
shape (known fields only, numbers as numbers, one dialect) take this path; anything
else returns None and goes through the general reader, which accepts every shape and
names the path of every problem. Both produce identical offers (tested).
"""

from __future__ import annotations

import re
from itertools import compress, repeat
from operator import attrgetter, is_not, itemgetter, neg
from typing import Any

import msgspec

from adapters.flexoffer import wire as w
from adapters.flexoffer.decode import Columns

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class _AauBounds(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    lower: float
    upper: float


class _IneaBounds(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    lowerBound: float
    upperBound: float


class _Tariff(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    minTariff: float | Unset | None = UNSET
    maxTariff: float | Unset | None = UNSET


class _AauSlice(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    energyConstraintList: tuple[_AauBounds]
    minDuration: int | Unset = UNSET
    maxDuration: int | Unset = UNSET
    tariffConstraint: _Tariff | Unset = UNSET


class _IneaSlice(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    energyConstraintList: tuple[_IneaBounds]
    minDuration: int | Unset = UNSET
    maxDuration: int | Unset = UNSET
    tariffConstraint: _Tariff | Unset = UNSET


# Every other top-level key we know is decoded generically (Any) and checked by the
# general code; unknown keys make the typed decode fail, so they are never lost.
_OTHER_KEYS = sorted((w.MODELLED_KEYS | w.PASSTHROUGH_KEYS) - {w.SLICES})


def _offer_struct(name: str, slice_type: type) -> Any:
    fields = [(w.SLICES, list[slice_type])] + [(key, Any, UNSET) for key in _OTHER_KEYS]  # type: ignore[valid-type]
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True)


_AauOffer = _offer_struct("_AauOffer", _AauSlice)
_IneaOffer = _offer_struct("_IneaOffer", _IneaSlice)
_KEYS = (w.SLICES, *_OTHER_KEYS)


def _decoders(offer_type: Any) -> dict[str, msgspec.json.Decoder[Any]]:
    envelope = msgspec.defstruct("_Envelope", [(w.ENVELOPE, list[offer_type])], forbid_unknown_fields=True)
    return {
        "list": msgspec.json.Decoder(list[offer_type]),
        "envelope": msgspec.json.Decoder(envelope),
        "single": msgspec.json.Decoder(offer_type),
    }


_DECODERS = {False: _decoders(_AauOffer), True: _decoders(_IneaOffer)}
_FIRST_CHAR = re.compile(rb"\s*([\[{])")

_ENERGY_LIST = attrgetter("energyConstraintList")
_FIRST = itemgetter(0)
_MIN = attrgetter("minDuration")
_MAX = attrgetter("maxDuration")
_TARIFF = attrgetter("tariffConstraint")
_MIN_TARIFF = attrgetter("minTariff")
_MAX_TARIFF = attrgetter("maxTariff")
_AAU = (attrgetter("lower"), attrgetter("upper"))
_INEA = (attrgetter("upperBound"), attrgetter("lowerBound"))


def typed_items(text: str | bytes) -> list[tuple[str, dict[str, Any], Columns | None]] | None:
    """Offers as (path, other fields, profile columns), or None when the shape is not plain."""
    data = text.encode() if isinstance(text, str) else text
    first = _FIRST_CHAR.match(data)
    if first is None:
        return None
    inea = b'"lowerBound"' in data
    decoders = _DECODERS[inea]
    try:
        if first.group(1) == b"[":
            offers = decoders["list"].decode(data)
            prefix = "$"
        elif b'"flexOffer"' in data:
            offers = getattr(decoders["envelope"].decode(data), w.ENVELOPE)
            prefix = "$.flexOffer"
        else:
            offers = [decoders["single"].decode(data)]
            prefix = ""
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    items: list[tuple[str, dict[str, Any], Columns | None]] = []
    for index, offer in enumerate(offers):
        values = msgspec.structs.astuple(offer)
        obj = dict(compress(zip(_KEYS, values, strict=True), map(is_not, values, repeat(UNSET))))
        if None in obj.values() or obj.keys() & w.ALTERNATE_KEYS:
            # The sender's spelling must be remembered in document order, which structs
            # do not keep: let the general reader take the whole document.
            return None
        columns = _columns(values[0], inea)
        if columns is None:
            obj[w.SLICES] = msgspec.to_builtins(values[0])
        path = f"{prefix}[{index}]" if prefix else "$"
        items.append((path, obj, None if columns is None else Columns(columns, inea)))
    return items


def _columns(slices: list[Any], inea: bool) -> dict[str, Any] | None:
    """The profile column-wise, or None for shapes the general reader should judge."""
    if not slices:
        return None
    entries = list(map(_FIRST, map(_ENERGY_LIST, slices)))
    low_of, high_of = _INEA if inea else _AAU
    if inea:
        # Production-positive bounds: [lowerBound, upperBound] of production is
        # [-upperBound, -lowerBound] of consumption.
        columns: dict[str, Any] = {
            "energy_lower": list(map(neg, map(low_of, entries))),
            "energy_upper": list(map(neg, map(high_of, entries))),
        }
    else:
        columns = {"energy_lower": list(map(low_of, entries)), "energy_upper": list(map(high_of, entries))}
    n = len(slices)
    for name, getter in (("min_duration", _MIN), ("max_duration", _MAX)):
        column = list(map(getter, slices))
        unset = column.count(UNSET)
        if unset == 0:
            columns[name] = column
        elif unset != n:
            return None
    tariffs = list(map(_TARIFF, slices))
    unset = tariffs.count(UNSET)
    if unset:
        return columns if unset == n else None
    for name, getter in (("tariff_lower", _MIN_TARIFF), ("tariff_upper", _MAX_TARIFF)):
        column = list(map(getter, tariffs))
        unset = column.count(UNSET)
        if unset == 0:
            columns[name] = column
        elif unset != n:
            return None
    return columns
