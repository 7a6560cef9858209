"""Layout-driven conversion between ESMP XML and plain field dicts, with structural checks.

One generic walker serves every document type and version: the generated
``LAYOUTS`` say which children a type has, in which order and how often. Reading
collects structural problems (unknown, missing, repeated or misplaced elements,
missing ``codingScheme``) in the same pass, which is what the hub falls back on when
no XSD directory is configured. Writing emits children in layout order, so every
document the hub produces follows the sequence its XSD demands.

Field dicts map the element's local name to a ``str`` (a :class:`Coded` one when
the element carries a ``codingScheme``), a nested dict, a :class:`Period`, or a list
of those for repeatable elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lxml import etree

from adapters.cim.layouts import LAYOUTS
from adapters.cim.timeseries import Period, TimeSeriesError, parse_duration, parse_time

PERIOD_TYPE = "Series_Period"
DEFAULT_CODING_SCHEME = "A01"  # EIC


class Coded(str):
    """A string value with the ``codingScheme`` attribute it travelled with (A01 EIC, A10 GS1 …)."""

    __slots__ = ("scheme",)
    scheme: str

    def __new__(cls, value: str, scheme: str | None = None) -> Coded:
        obj = super().__new__(cls, value)
        obj.scheme = scheme or DEFAULT_CODING_SCHEME
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Coded, (str(self), self.scheme))


@dataclass(frozen=True, slots=True)
class DocumentKind:
    """What a namespace says about a document: its root element and version."""

    namespace: str
    root: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.root} v{self.version}"


@dataclass
class CimDocument:
    """A decoded ESMP document: its kind and root fields, plus what was structurally wrong."""

    kind: DocumentKind
    fields: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def mrid(self) -> str:
        return str(self.fields.get("mRID", ""))

    @property
    def revision(self) -> int:
        try:
            return int(self.fields.get("revisionNumber", "1"))
        except ValueError:
            return 0

    def series(self) -> list[dict[str, Any]]:
        """Every time series of the document, whatever its container is called."""
        out: list[dict[str, Any]] = []
        for name, _lo, hi, ctype, _coded in LAYOUTS[self.kind.namespace]["types"][_root_type(self.kind.namespace)]:
            if hi is None and ctype is not None and ctype not in ("Reason", "Time_Period"):
                out.extend(self.fields.get(name, []))
        return out


def kind_of(namespace: str) -> DocumentKind | None:
    entry = LAYOUTS.get(namespace)
    if entry is None:
        return None
    major, minor = namespace.rsplit(":", 2)[1:]
    return DocumentKind(namespace, entry["root"], f"{major}.{minor}")


def supported_kinds() -> list[DocumentKind]:
    return [k for ns in sorted(LAYOUTS) if (k := kind_of(ns)) is not None]


def namespace_for(root: str, version: str | None = None) -> str:
    """The namespace of ``root`` at ``version`` (``"7.4"``), or its newest supported version."""
    candidates = [k for k in supported_kinds() if k.root == root]
    if version is not None:
        candidates = [k for k in candidates if k.version == version]
    if not candidates:
        raise KeyError(f"no supported {root} version {version or ''}".strip())
    return max(candidates, key=lambda k: tuple(int(p) for p in k.version.split("."))).namespace


def _root_type(namespace: str) -> str:
    return str(LAYOUTS[namespace]["root_type"])


@lru_cache(maxsize=64)
def _child_index(namespace: str, type_name: str) -> dict[str, tuple[int, tuple[Any, ...]]]:
    """Qualified child tag → (order index, layout row), computed once per type."""
    rows = LAYOUTS[namespace]["types"][type_name]
    return {f"{{{namespace}}}{row[0]}": (i, row) for i, row in enumerate(rows)}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def decode(root: etree._Element) -> CimDocument:
    """Read a parsed document; raise ``KeyError`` when its namespace is not a supported ESMP one."""
    tag = root.tag if isinstance(root.tag, str) else ""
    namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
    kind = kind_of(namespace)
    if kind is None:
        raise KeyError(f"unsupported document namespace {namespace!r} (root {_local(tag)})")
    if _local(tag) != kind.root:
        raise KeyError(f"root element {_local(tag)} does not belong to namespace {namespace}")
    problems: list[str] = []
    fields = _decode(root, namespace, _root_type(namespace), problems, kind.root)
    return CimDocument(kind, fields, problems)


def _decode(elem: etree._Element, namespace: str, type_name: str, problems: list[str], path: str) -> dict[str, Any]:
    index = _child_index(namespace, type_name)
    out: dict[str, Any] = {}
    last = -1
    for child in elem:
        entry = index.get(child.tag)
        if entry is None:
            problems.append(f"{path}: unexpected element {_local(str(child.tag))}")
            continue
        order, (name, _lo, hi, ctype, coded) = entry
        if order < last:
            problems.append(f"{path}: element {name} is out of order")
        last = order
        value: Any
        if ctype is None:
            text = (child.text or "").strip()
            if coded:
                scheme = child.get("codingScheme")
                if not scheme:
                    problems.append(f"{path}/{name}: codingScheme attribute is missing")
                value = Coded(text, scheme)
            else:
                value = text
            if len(child):
                problems.append(f"{path}/{name}: a simple element must not have children")
        elif ctype == PERIOD_TYPE:
            value = _decode_period(child, namespace, problems, f"{path}/{name}")
        else:
            value = _decode(child, namespace, ctype, problems, f"{path}/{name}")
        if hi == 1:
            if name in out:
                problems.append(f"{path}: element {name} appears more than once")
            out[name] = value
        else:
            out.setdefault(name, []).append(value)
    for name, lo, _hi, _ctype, _coded in LAYOUTS[namespace]["types"][type_name]:
        if lo and name not in out:
            problems.append(f"{path}: required element {name} is missing")
    return out


def _decode_period(elem: etree._Element, namespace: str, problems: list[str], path: str) -> Period:
    q = f"{{{namespace}}}"
    interval = elem.find(f"{q}timeInterval")
    resolution = elem.findtext(f"{q}resolution")
    try:
        if interval is None or resolution is None:
            raise TimeSeriesError("Period needs timeInterval and resolution")
        period = Period(
            start=parse_time(interval.findtext(f"{q}start") or ""),
            end=parse_time(interval.findtext(f"{q}end") or ""),
            resolution=parse_duration(resolution),
        )
    except TimeSeriesError as exc:
        problems.append(f"{path}: {exc}")
        return Period(start=_EPOCH, end=_EPOCH, resolution=_ZERO)
    point_rows = LAYOUTS[namespace]["types"]["Point"]
    simple = {f"{q}{row[0]}": row[0] for row in point_rows if row[3] is None and row[0] != "position"}
    nested = {f"{q}{row[0]}": row for row in point_rows if row[3] is not None}
    required = [row[0] for row in point_rows if row[1] >= 1 and row[0] != "position"]
    columns: dict[str, list[Any]] = {row[0]: [] for row in point_rows if row[0] != "position"}
    points = list(elem.iterchildren(f"{q}Point"))
    fast = _fast_columns(elem, points, q, point_rows)
    if fast is not None:
        period.positions, columns = fast
    else:
        _slow_columns(points, q, point_rows, columns, period.positions, simple, nested, problems, path, namespace)
    positions = period.positions
    for name in required:
        if any(v is None for v in columns[name]):
            problems.append(f"{path}/Point: required element {name} is missing")
    period.columns = {k: v for k, v in columns.items() if any(x is not None for x in v)}
    if not positions:
        problems.append(f"{path}: required element Point is missing")
    return period


def _fast_columns(
    elem: etree._Element, points: list[etree._Element], q: str, point_rows: list[tuple[Any, ...]]
) -> tuple[list[int], dict[str, list[Any]]] | None:
    """Columns gathered per element name in C (lxml ``iter``) when the points are regular.

    Regular: no nested Point children, every optional column either on every point or
    on none, and nothing else inside the points. Anything else returns None and goes
    through the per-point reader, which reports what is wrong. (Element order inside
    a Point is left to the XSD here.)
    """
    n = len(points)
    if any(True for row in point_rows if row[3] is not None for _ in elem.iter(q + row[0])):
        return None
    columns: dict[str, list[Any]] = {}
    seen = 0
    for name, lo, _hi, _ctype, _coded in point_rows:
        texts = [e.text for e in elem.iter(q + name)]
        if len(texts) not in (0, n) or (lo and len(texts) != n):
            return None
        seen += len(texts)
        columns[name] = texts if texts else [None] * n
    if seen != sum(map(len, points)):
        return None
    try:
        positions = [int(t or "") for t in columns.pop("position")]
    except ValueError:
        return None
    return positions, columns


def _slow_columns(
    points: list[etree._Element],
    q: str,
    point_rows: list[tuple[Any, ...]],
    columns: dict[str, list[Any]],
    positions: list[int],
    simple: dict[str, str],
    nested: dict[str, tuple[Any, ...]],
    problems: list[str],
    path: str,
    namespace: str,
) -> None:
    position_tag = f"{q}position"
    for point in points:
        values: dict[str, Any] = {}
        position = 0
        for child in point:
            ctag = child.tag
            if ctag == position_tag:
                try:
                    position = int(child.text or "")
                except ValueError:
                    problems.append(f"{path}/Point: position {child.text!r} is not an integer")
            elif ctag in simple:
                values[simple[ctag]] = child.text
            elif ctag in nested:
                row = nested[ctag]
                item = _decode(child, namespace, row[3], problems, f"{path}/Point/{row[0]}")
                values.setdefault(row[0], []).append(item)
            else:
                problems.append(f"{path}/Point: unexpected element {_local(str(ctag))}")
        positions.append(position)
        for name, column in columns.items():
            column.append(values.get(name))


def encode(namespace: str, fields: dict[str, Any]) -> etree._Element:
    """Build the document element for ``fields`` in ``namespace``'s element order."""
    kind = kind_of(namespace)
    if kind is None:
        raise KeyError(f"unsupported document namespace {namespace!r}")
    root = etree.Element(f"{{{namespace}}}{kind.root}", nsmap={None: namespace})
    _encode(root, namespace, _root_type(namespace), fields, kind.root)
    return root


def _encode(parent: etree._Element, namespace: str, type_name: str, fields: dict[str, Any], path: str) -> None:
    rows = LAYOUTS[namespace]["types"][type_name]
    known = {row[0] for row in rows}
    unknown = set(fields) - known
    if unknown:
        raise KeyError(f"{path}: {sorted(unknown)} are not elements of {type_name} in {namespace}")
    q = f"{{{namespace}}}"
    for name, lo, hi, ctype, coded in rows:
        value = fields.get(name)
        if value is None:
            if lo:
                raise KeyError(f"{path}: required element {name} has no value")
            continue
        values = value if hi != 1 else [value]
        for item in values:
            if ctype is None:
                child = etree.SubElement(parent, q + name)
                child.text = str(item)
                if coded:
                    child.set("codingScheme", getattr(item, "scheme", DEFAULT_CODING_SCHEME))
            elif ctype == PERIOD_TYPE:
                _encode_period(etree.SubElement(parent, q + name), namespace, item)
            else:
                _encode(etree.SubElement(parent, q + name), namespace, ctype, item, f"{path}/{name}")


def _encode_period(elem: etree._Element, namespace: str, period: Period) -> None:
    from adapters.cim.timeseries import format_duration, format_minute

    q = f"{{{namespace}}}"
    interval = etree.SubElement(elem, f"{q}timeInterval")
    etree.SubElement(interval, f"{q}start").text = format_minute(period.start)
    etree.SubElement(interval, f"{q}end").text = format_minute(period.end)
    etree.SubElement(elem, f"{q}resolution").text = format_duration(period.resolution)
    point_rows = LAYOUTS[namespace]["types"]["Point"]
    unknown = set(period.columns) - {row[0] for row in point_rows}
    if unknown:
        raise KeyError(f"Point has no elements {sorted(unknown)} in {namespace}")
    present = [row for row in point_rows if row[0] in period.columns]
    missing = [row[0] for row in point_rows if row[1] and row[0] != "position" and row[0] not in period.columns]
    if missing:
        raise KeyError(f"Point requires {missing} in {namespace}")
    point_tag = f"{q}Point"
    position_tag = f"{q}position"
    for i, position in enumerate(period.positions):
        point = etree.SubElement(elem, point_tag)
        etree.SubElement(point, position_tag).text = str(position)
        for name, _lo, _hi, ctype, _coded in present:
            value = period.columns[name][i]
            if value is None:
                continue
            if ctype is None:
                etree.SubElement(point, q + name).text = str(value)
            else:
                for item in value:
                    _encode(etree.SubElement(point, q + name), namespace, ctype, item, f"Point/{name}")


def to_json_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Series fields as JSON-safe data: a coded value becomes ``{"value", "codingScheme"}``."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, Coded):
            out[key] = {"value": str(value), "codingScheme": value.scheme}
        elif isinstance(value, list):
            out[key] = [to_json_fields(v) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, dict):
            out[key] = to_json_fields(value)
        else:
            out[key] = value
    return out


def from_json_fields(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and set(value) == {"value", "codingScheme"}:
            out[key] = Coded(value["value"], value["codingScheme"])
        elif isinstance(value, dict):
            out[key] = from_json_fields(value)
        elif isinstance(value, list):
            out[key] = [from_json_fields(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


_EPOCH = parse_time("1970-01-01T00:00Z")
_ZERO = parse_duration("PT0M")


def to_bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
