"""The only way CIM bytes become an element tree: the adapters' shared hardened parser.

ESMP documents never need a DTD; see :mod:`adapters.common.safe_xml` for why any
DOCTYPE is refused outright. Kept as a module so CIM code names one import.
"""

from __future__ import annotations

from adapters.common.safe_xml import DEFAULT_MAX_BYTES, XmlRejected, parse_xml

__all__ = ["DEFAULT_MAX_BYTES", "XmlRejected", "parse_xml"]
