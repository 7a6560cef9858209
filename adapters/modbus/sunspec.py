"""SunSpec register codec: model layouts from pysunspec2's definitions, no I/O.

Point offsets, types and scale-factor links come from the SunSpec Alliance's JSON
model definitions shipped in pysunspec2, so this module holds no hand-copied register
tables. Only a model's fixed block (its top-level points) is laid out: that is where
every measurement and control the hub uses lives, and repeating groups vary in count.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

SUNSPEC_BASE = 40000
SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL_ID = 0xFFFF

INVERTER_MODELS = (101, 102, 103, 701)
CONTROL_MODELS = (123, 704)
STORAGE_MODELS = (124, 802)
METER_MODELS = (201, 202, 203, 204)
NAMEPLATE_MODEL = 120

_SIZES = {"uint16": 1, "int16": 1, "sunssf": 1, "enum16": 1, "bitfield16": 1, "acc16": 1, "count": 1, "pad": 1,
          "uint32": 2, "int32": 2, "acc32": 2, "enum32": 2, "bitfield32": 2, "float32": 2, "ipaddr": 2,
          "uint64": 4, "int64": 4, "acc64": 4}
_NOT_IMPLEMENTED = {"uint16": 0xFFFF, "enum16": 0xFFFF, "bitfield16": 0xFFFF, "int16": 0x8000, "sunssf": 0x8000,
                    "uint32": 0xFFFFFFFF, "enum32": 0xFFFFFFFF, "bitfield32": 0xFFFFFFFF, "int32": 0x80000000,
                    "uint64": 0xFFFFFFFFFFFFFFFF, "int64": 0x8000000000000000}
_SIGNED = {"int16": 16, "sunssf": 16, "int32": 32, "int64": 64}


class SunSpecError(ValueError):
    """The registers do not hold what SunSpec says they should."""


@dataclass(frozen=True)
class Point:
    name: str
    offset: int  # registers after the model's ID register
    type: str
    size: int
    sf: str | None


@dataclass(frozen=True)
class ModelLayout:
    model_id: int
    name: str
    points: Mapping[str, Point]
    fixed_length: int  # registers after ID and L

    def point(self, name: str) -> Point:
        try:
            return self.points[name]
        except KeyError:
            raise SunSpecError(f"model {self.model_id} has no point {name!r}") from None


@dataclass(frozen=True)
class ModelInstance:
    """One model found in a device's chain: where its ID register sits and its length."""

    model_id: int
    address: int  # register address of the model's ID
    length: int  # L: registers following the L register


@cache
def layout(model_id: int) -> ModelLayout:
    """The fixed-block layout of ``model_id`` from the pysunspec2 JSON definition."""
    source = resources.files("sunspec2") / "models" / "json" / f"model_{model_id}.json"
    try:
        definition = json.loads(source.read_text())
    except FileNotFoundError:
        raise SunSpecError(f"no SunSpec definition for model {model_id}") from None
    group = definition["group"]
    points: dict[str, Point] = {}
    offset = 0
    for p in group["points"]:
        size = int(p.get("size") or _SIZES.get(p["type"], 1))
        points[p["name"]] = Point(p["name"], offset, p["type"], size, p.get("sf"))
        offset += size
    return ModelLayout(model_id, group["name"], points, offset - 2)


def parse_chain(read: Sequence[int], base: int = SUNSPEC_BASE) -> list[ModelInstance]:
    """Walk a register image starting at ``base`` (the 'SunS' marker) into model instances."""
    if tuple(read[0:2]) != SUNS_MARKER:
        raise SunSpecError(f"no SunSpec marker 'SunS' at {base}")
    models: list[ModelInstance] = []
    index = 2
    while index < len(read):
        model_id = read[index]
        if model_id == END_MODEL_ID:
            return models
        if index + 1 >= len(read):
            break
        length = read[index + 1]
        models.append(ModelInstance(model_id, base + index, length))
        index += 2 + length
    raise SunSpecError("model chain runs past the registers read without an end model (0xFFFF)")


def _raw(registers: Sequence[int], point: Point) -> int:
    value = 0
    for r in registers[point.offset:point.offset + point.size]:
        value = (value << 16) | (r & 0xFFFF)
    return value


def decode_raw(registers: Sequence[int], point: Point) -> float | int | str | None:
    """The unscaled value of ``point`` in a model's registers (starting at its ID)."""
    if point.offset + point.size > len(registers):
        return None
    if point.type == "string":
        data = b"".join(struct.pack(">H", r) for r in registers[point.offset:point.offset + point.size])
        return data.split(b"\0", 1)[0].decode("ascii", errors="replace")
    raw = _raw(registers, point)
    if point.type == "float32":
        value = struct.unpack(">f", struct.pack(">I", raw))[0]
        return None if value != value else value
    if point.type.startswith("acc") and raw == 0:
        return None
    if _NOT_IMPLEMENTED.get(point.type) == raw:
        return None
    bits = _SIGNED.get(point.type)
    if bits and raw >= 1 << (bits - 1):
        raw -= 1 << bits
    return raw


def decode(registers: Sequence[int], model: ModelLayout) -> dict[str, float | int | str | None]:
    """Every point of the fixed block, scaled by its scale factor where it has one."""
    raw = {name: decode_raw(registers, p) for name, p in model.points.items()}
    values: dict[str, float | int | str | None] = {}
    for name, p in model.points.items():
        value = raw[name]
        if p.sf and isinstance(value, int) and p.type != "sunssf":
            sf = raw.get(p.sf)
            value = None if not isinstance(sf, int) else value * 10.0**sf
        values[name] = value
    return values


def encode_point(value: int, point: Point) -> list[int]:
    """Registers for an unscaled integer ``value`` of ``point`` (big-endian words)."""
    if point.type in ("string", "float32"):
        raise SunSpecError(f"encode_point handles integer points, not {point.type}")
    bits = 16 * point.size
    if value < 0:
        if point.type not in _SIGNED:
            raise SunSpecError(f"{point.name} is {point.type}; {value} is negative")
        value += 1 << bits
    if not 0 <= value < 1 << bits:
        raise SunSpecError(f"{value} does not fit {point.name} ({point.type})")
    return [(value >> (16 * (point.size - 1 - i))) & 0xFFFF for i in range(point.size)]


def scaled_to_raw(value: float, sf: int) -> int:
    return round(value / 10.0**sf)


def encode_string(text: str, point: Point) -> list[int]:
    data = text.encode("ascii")[: 2 * point.size].ljust(2 * point.size, b"\0")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def build_model(model_id: int, raw_values: Mapping[str, int | str]) -> list[int]:
    """Registers of a whole model (ID, L, fixed block); unset points are 'not implemented'."""
    model = layout(model_id)
    registers = [0] * (model.fixed_length + 2)
    for name, p in model.points.items():
        if name in ("ID", "L"):
            continue
        if name in raw_values:
            v = raw_values[name]
            words = encode_string(v, p) if isinstance(v, str) else encode_point(int(v), p)
        elif p.type in _NOT_IMPLEMENTED:
            words = encode_point(_NOT_IMPLEMENTED[p.type], p)
        else:
            words = [0] * p.size
        registers[p.offset:p.offset + p.size] = words
    registers[0], registers[1] = model_id, model.fixed_length
    return registers


def build_image(models: Sequence[list[int]]) -> list[int]:
    """A full SunSpec register image from 40000: marker, models, end model."""
    image: list[int] = list(SUNS_MARKER)
    for m in models:
        image.extend(m)
    image.extend([END_MODEL_ID, 0])
    return image
