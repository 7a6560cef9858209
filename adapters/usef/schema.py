"""XSD validation of UFTP documents against a directory of Shapeshifter schemas.

The hub does not ship the XSDs (shapeshifter-uftp does not either): the operator
points ``xsd_dir`` at a copy, and tests use the project's shared copy. Both role
schemas are loaded because each declares only the messages its role exchanges.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import xmlschema
from lxml import etree

ROLE_SCHEMAS = ("UFTP-agr.xsd", "UFTP-dso.xsd", "UFTP-cro.xsd")


class SchemaSet:
    """The role schemas of one directory, validating any UFTP root element."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._schemas = [
            xmlschema.XMLSchema(str(self.directory / name))
            for name in ROLE_SCHEMAS
            if (self.directory / name).exists()
        ]
        if not self._schemas:
            raise FileNotFoundError(f"no UFTP role schema ({', '.join(ROLE_SCHEMAS)}) in {self.directory}")

    def errors(self, root: etree._Element) -> list[str]:
        """Schema violations of an already safely parsed document; empty when valid."""
        name = etree.QName(root).localname
        for schema in self._schemas:
            if name in schema.elements:
                return [f"{err.reason} (at {err.path})" for err in schema.iter_errors(root)][:5]
        return [f"'{name}' is not a UFTP message element"]


@lru_cache(maxsize=8)
def load_schemas(directory: str) -> SchemaSet:
    """Schemas are immutable once loaded, so one copy per directory is shared."""
    return SchemaSet(directory)
