"""Build shapeshifter-uftp payload models straight from an lxml tree, without xsdata's parser.

xsdata's generic parser was most of the hub's CPU per inbound message. The models
themselves are cheap plain dataclasses, so this module reads the attributes and child
elements a class declares (its xsdata field metadata, compiled once into a plan) and
calls the constructor. It only takes the inputs it understands *exactly*: a strictly
formatted number, an exact enum value, no unknown attribute or element, no text, no
namespace. For anything else it returns None and the caller uses xsdata, so every
odd document gets precisely the old treatment (tests hold that wherever this returns a
model it equals xsdata's).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from lxml import etree
from xsdata.formats.converter import converter
from xsdata.models.datatype import XmlDate

_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DECIMAL = re.compile(r"-?[0-9]{1,28}(\.[0-9]{1,28})?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class _NotFast(Exception):
    """This input is left to xsdata."""


def _int(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise _NotFast
    return int(text)


def _decimal(text: str) -> Decimal:
    if not _DECIMAL.fullmatch(text):
        raise _NotFast
    return Decimal(text)


def _bool(text: str) -> bool:
    try:
        return _BOOLEANS[text]
    except KeyError:
        raise _NotFast from None


def _enum(kind: type[Enum]) -> Callable[[str], Any]:
    members = {str(member.value): member for member in kind}

    def read(text: str) -> Any:
        try:
            return members[text]
        except KeyError:
            raise _NotFast from None
    return read


def _date(text: str) -> XmlDate:
    """``YYYY-MM-DD`` (no zone) of a real calendar day; xsdata's converter costs ~20x more."""
    match = _DATE.fullmatch(text)
    if not match:
        raise _NotFast
    year, month, day = (int(part) for part in match.groups())
    try:
        date(year, month, day)
    except ValueError:
        raise _NotFast from None
    return XmlDate(year, month, day)


def _via_xsdata(kind: type) -> Callable[[str], Any]:
    """Rare types (XmlDate, XmlDuration): xsdata's own converter, so the value is identical."""
    def read(text: str) -> Any:
        try:
            return converter.deserialize(text, [kind])
        except Exception:
            raise _NotFast from None
    return read


def _leaf(kind: Any) -> Callable[[str], Any] | None:
    if kind is str:
        return str
    if kind is bool:
        return _bool
    if kind is int:
        return _int
    if kind is Decimal:
        return _decimal
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum(kind)
    if kind is XmlDate:
        return _date
    if isinstance(kind, type) and kind.__module__.startswith("xsdata.models.datatype"):
        return _via_xsdata(kind)
    return None


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How to read one element into one model class."""

    cls: type
    required: frozenset[str]
    """Python names of fields without a default: missing in the XML means 'ask xsdata'."""
    attributes: dict[str, tuple[str, Callable[[str], Any]]]
    """XML attribute -> (field, converter)"""
    elements: dict[str, tuple[str, bool, _Plan]]
    """child element name -> (field, is a list, plan of the child class)"""


def _strip_optional(kind: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return kind


def compile_plan(cls: type, _seen: dict[type, _Plan | None] | None = None) -> _Plan | None:
    """A reading plan for ``cls``, or None if it uses something this reader does not handle."""
    seen = {} if _seen is None else _seen
    if cls in seen:
        return seen[cls]
    seen[cls] = None  # recursion guard: a self-nesting model is left to xsdata
    hints = typing.get_type_hints(cls)
    attributes: dict[str, tuple[str, Callable[[str], Any]]] = {}
    elements: dict[str, tuple[str, bool, _Plan]] = {}
    required: set[str] = set()
    for item in dataclasses.fields(cls):
        if not item.init:
            return None
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            required.add(item.name)
        xml_name = item.metadata.get("name")
        kind = _strip_optional(hints[item.name])
        if not xml_name:
            return None
        if item.metadata.get("type") == "Attribute":
            read = _leaf(kind)
            if read is None:
                return None
            attributes[xml_name] = (item.name, read)
        elif item.metadata.get("type") == "Element":
            many = typing.get_origin(kind) in (list, typing.List)  # noqa: UP006 - models use typing.List
            child = typing.get_args(kind)[0] if many else kind
            if not dataclasses.is_dataclass(child):
                return None
            plan = compile_plan(child, seen)
            if plan is None:
                return None
            elements[xml_name] = (item.name, many, plan)
        else:
            return None
    plan = _Plan(cls, frozenset(required), attributes, elements)
    seen[cls] = plan
    return plan


def _read(element: etree._Element, plan: _Plan) -> Any:
    tag = element.tag
    if not isinstance(tag, str) or tag[0] == "{" or (element.text and element.text.strip()):
        raise _NotFast
    values: dict[str, Any] = {}
    for name, text in element.attrib.items():
        try:
            field_name, read = plan.attributes[name]
        except KeyError:
            raise _NotFast from None
        values[field_name] = read(text)
    for child in element:
        if child.tail and child.tail.strip():
            raise _NotFast
        try:
            field_name, many, child_plan = plan.elements[child.tag]
        except (KeyError, TypeError):
            raise _NotFast from None
        if many:
            values.setdefault(field_name, []).append(_read(child, child_plan))
        elif field_name in values:
            raise _NotFast
        else:
            values[field_name] = _read(child, child_plan)
    if not plan.required.issubset(values):
        raise _NotFast
    try:
        return plan.cls(**values)
    except (TypeError, ValueError):
        raise _NotFast from None


def read_model(root: etree._Element, plan: _Plan | None) -> Any | None:
    """The model for ``root`` (already in the models' attribute dialect), or None: use xsdata."""
    if plan is None:
        return None
    try:
        return _read(root, plan)
    except _NotFast:
        return None
