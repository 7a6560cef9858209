"""Developer tool: derive the element layouts in ``layouts.py`` from ENTSO-E XSDs.

The hub does not ship ENTSO-E's XSDs, yet it must write documents in the exact
element order each version demands and check structure when no XSD directory is
configured. So the facts it needs (element names, order, cardinality, which carry a
``codingScheme``) are extracted once from the XSDs with this tool and kept as
plain data. Re-run it when a new version is added::

    python -m adapters.cim.layouts_gen ../shared/schemas/cim > adapters/cim/layouts.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import xmlschema

HEADER = '''"""Element layouts of every supported ESMP document version (generated, do not edit).

Produced by ``python -m adapters.cim.layouts_gen <xsd dir>``. Per target namespace:
the root element, its complex type, and for every complex type the ordered children
as ``(name, min_occurs, max_occurs or None for unbounded, child type or None for a
simple value, True when the value carries a codingScheme attribute)``.
"""

from typing import Any

# fmt: off
LAYOUTS: dict[str, dict[str, Any]] = '''


def _walk(xsd_type: Any, types: dict[str, list[tuple[Any, ...]]]) -> str:
    name = xsd_type.local_name
    if name in types:
        return str(name)
    types[name] = []
    rows: list[tuple[Any, ...]] = []
    for child in xsd_type.content.iter_elements():
        ctype = child.type
        if ctype.is_simple() or ctype.has_simple_content():
            coded = (not ctype.is_simple()) and "codingScheme" in ctype.attributes
            rows.append((child.local_name, child.min_occurs, child.max_occurs, None, coded))
        else:
            rows.append((child.local_name, child.min_occurs, child.max_occurs, _walk(ctype, types), False))
    types[name] = rows
    return str(name)


def layouts(xsd_dir: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(xsd_dir.glob("iec62325-*.xsd")):
        schema = xmlschema.XMLSchema(str(path))
        ((root_name, root),) = schema.elements.items()
        types: dict[str, list[tuple[Any, ...]]] = {}
        root_type = _walk(root.type, types)
        ns = schema.target_namespace
        out[ns] = {"file": path.name, "root": root_name, "root_type": root_type, "types": types}
    return out


def render(data: dict[str, dict[str, Any]]) -> str:
    """One row per line so the generated module stays readable and diffable."""
    lines = [HEADER + "{"]
    for ns in sorted(data):
        entry = data[ns]
        lines.append(f"    {ns!r}: {{")
        for key in ("file", "root", "root_type"):
            lines.append(f"        {key!r}: {entry[key]!r},")
        lines.append("        'types': {")
        for type_name in sorted(entry["types"]):
            lines.append(f"            {type_name!r}: [")
            lines.extend(f"                {row!r}," for row in entry["types"][type_name])
            lines.append("            ],")
        lines.append("        },")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n# fmt: on\n"


def main() -> None:
    sys.stdout.write(render(layouts(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
