"""Validation against an operator-supplied directory of ENTSO-E XSDs.

The hub does not ship ENTSO-E's schemas; operators point ``cim.xsd_dir`` (or
``--xsd-dir``) at their copy. Documents are matched to a schema by target
namespace, so several versions can sit side by side. Each XSD is compiled once per
process (compiling the 600 kB codelist takes most of a second with xmlschema) and
the cache is keyed on path and modification time so an updated file is picked up.

Two engines: ``xmlschema`` (pure Python, the clearest error messages, used by the
CLI) and ``lxml`` (libxml2, an order of magnitude faster, used on the hot path).
Both see only trees that :mod:`adapters.cim.safe_xml` has already parsed safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import xmlschema
from lxml import etree

from adapters.common.safe_xml import safe_parser

Engine = Literal["lxml", "xmlschema"]
_TARGET_NS = re.compile(rb'targetNamespace="([^"]+)"')
_MAX_ERRORS = 5


@lru_cache(maxsize=32)
def _namespaces(directory: str, stamp: float) -> dict[str, str]:
    """Target namespace → XSD path for every schema in ``directory``."""
    out: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.xsd")):
        match = _TARGET_NS.search(path.read_bytes()[:4096])
        if match:
            out.setdefault(match.group(1).decode(), str(path))
    return out


@lru_cache(maxsize=64)
def _lxml_schema(path: str, stamp: float) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path, parser=safe_parser()))


@lru_cache(maxsize=64)
def _xmlschema_schema(path: str, stamp: float) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(path)


def _mtime(path: str) -> float:
    return Path(path).stat().st_mtime


@dataclass(frozen=True)
class XsdCatalog:
    """The XSDs of one directory, looked up by the document's namespace."""

    directory: str
    engine: Engine = "lxml"

    def __post_init__(self) -> None:
        if not Path(self.directory).is_dir():
            raise FileNotFoundError(f"XSD directory {self.directory} does not exist")

    def schema_path(self, namespace: str) -> str | None:
        return _namespaces(self.directory, _mtime(self.directory)).get(namespace)

    def namespaces(self) -> list[str]:
        return sorted(_namespaces(self.directory, _mtime(self.directory)))

    def validate(self, root: etree._Element) -> list[str]:
        """Schema errors for ``root`` (empty when valid); raises ``KeyError`` without a schema."""
        tag = str(root.tag)
        namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
        path = self.schema_path(namespace)
        if path is None:
            raise KeyError(f"no XSD for namespace {namespace!r} in {self.directory}")
        if self.engine == "lxml":
            schema = _lxml_schema(path, _mtime(path))
            if schema.validate(root):
                return []
            return [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:_MAX_ERRORS]]
        xs = _xmlschema_schema(path, _mtime(path))
        errors = []
        for error in xs.iter_errors(root):
            errors.append(f"{error.path}: {error.reason or error.message}")
            if len(errors) >= _MAX_ERRORS:
                break
        return errors
