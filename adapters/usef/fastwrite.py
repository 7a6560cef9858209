"""Write flat payload models (every *Response the hub sends per inbound message) as text.

Serialising a one-element response through xsdata, re-parsing it to rename the
reference attribute and canonicalising it for the digest cost more than the rest of
the reply. A flat model is one element whose fields are string/integer/enum attributes
(child lists may exist but must be empty), so its official wire form and its C14N form are short, fully determined
strings. Tests hold them byte-equal to ``codec.render``'s output; anything outside
the flat shape (nested items, odd characters) returns None and takes xsdata's path.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from enum import Enum
from typing import Any

DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WIRE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;",
                       "\r": "&#13;"})
_C14N = str.maketrans({"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"})


@dataclasses.dataclass(frozen=True)
class FlatShape:
    """Element name and (field, XML attribute) pairs in the models' declared order."""

    element: str
    attributes: tuple[tuple[str, str], ...]
    children: tuple[str, ...] = ()
    """Fields holding child elements: the message is flat only while they are empty."""


def flat_shape(cls: type, element: str, renamed: dict[str, str]) -> FlatShape | None:
    """The shape of ``cls`` if every field is a plain attribute; ``renamed`` maps attribute -> wire name.

    A renamed attribute is written last, which is where renaming it in an lxml tree
    (``codec.to_official``) puts it.
    """
    hints = typing.get_type_hints(cls)
    plain: list[tuple[str, str]] = []
    moved: list[tuple[str, str]] = []
    children: list[str] = []
    for item in dataclasses.fields(cls):
        if item.metadata.get("type") == "Element":
            children.append(item.name)
            continue
        if item.metadata.get("type") != "Attribute" or not item.metadata.get("name"):
            return None
        kinds = [k for k in typing.get_args(hints[item.name]) or (hints[item.name],) if k is not type(None)]
        if not all(k in (str, int) or (isinstance(k, type) and issubclass(k, Enum)) for k in kinds):
            return None
        name = str(item.metadata["name"])
        if name in renamed:
            moved.append((item.name, renamed[name]))
        else:
            plain.append((item.name, name))
    return FlatShape(element, tuple(plain + moved), tuple(children))


def _text(value: Any) -> str | None:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return None if _XML_CHARS.search(text) else text


def write(message: Any, shape: FlatShape) -> tuple[bytes, bytes] | None:
    """(wire document, its C14N form) or None when a value is outside the flat shape."""
    if any(getattr(message, name) for name in shape.children):
        return None
    pairs: list[tuple[str, str]] = []
    for field_name, attribute in shape.attributes:
        value = getattr(message, field_name)
        if value is None:
            continue
        text = _text(value)
        if text is None:
            return None
        pairs.append((attribute, text))
    wire = "".join(f' {name}="{text.translate(_WIRE)}"' for name, text in pairs)
    canonical = "".join(f' {name}="{text.translate(_C14N)}"' for name, text in sorted(pairs))
    return ((DECLARATION + f"<{shape.element}{wire}/>").encode("utf-8"),
            f"<{shape.element}{canonical}></{shape.element}>".encode())
