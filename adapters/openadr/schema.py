"""Safe parsing and XSD validation of OpenADR 2.0b documents.

Nothing inbound reaches openleadr (or xmltodict) before passing here: openleadr
0.5.36's ``validate_xml_schema`` uses a default lxml parser and crashes the
process on entity-expansion payloads. We refuse any DOCTYPE outright, so neither
XXE nor billion-laughs documents are ever expanded.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

from adapters.common.safe_xml import XmlRejected, parse_xml, safe_parser

OADR_NS = "http://openadr.org/oadr-2.0b/2012/07"
MAX_DOCUMENT_BYTES = 1024 * 1024
"""Default ceiling for one message; real 2.0b payloads are a few kB."""

class SchemaInvalid(ValueError):
    """The document is well-formed but breaks ``oadr_20b.xsd``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def schema_path() -> Path:
    """The XSD set shipped inside the openleadr package (we do not copy it)."""
    import openleadr

    return Path(openleadr.__file__).parent / "schema" / "oadr_20b.xsd"


@functools.cache
def oadr_schema() -> etree.XMLSchema:
    """Compile the XSD once per process: compiling costs ~100 ms, validating microseconds.

    The compiled schema is immutable, so sharing it across requests keeps no mutable state.
    """
    with schema_path().open("rb") as fh:
        doc = etree.parse(fh, safe_parser())
    return etree.XMLSchema(doc)


def parse_safely(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """Parse one document, refusing DTDs, entities, external resources and oversize input."""
    return parse_xml(data, max_bytes=max_bytes, remove_comments=False)


def validate_tree(root: etree._Element) -> None:
    schema = oadr_schema()
    if not schema.validate(root):
        error = schema.error_log.last_error
        raise SchemaInvalid(f"line {error.line}: {error.message}" if error else "schema validation failed")


def parse_and_validate(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """The one entry point for inbound OpenADR XML: safe parse, then ``oadr_20b.xsd``."""
    root = parse_safely(data, max_bytes=max_bytes)
    validate_tree(root)
    return root


def check_document(data: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> str | None:
    """``None`` if the document is a valid 2.0b payload, else the reason it is not."""
    try:
        parse_and_validate(data, max_bytes=max_bytes)
    except (XmlRejected, SchemaInvalid) as exc:
        return str(exc)
    return None
