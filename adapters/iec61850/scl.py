"""SCL (ICD/CID/SCD) files, parsed safely, into open61850's server model.

open61850 reads SCL with the standard library; the file is first parsed here with
lxml's hardened settings (no DTD, no entities, no network) and a DOCTYPE is
refused, so a hostile file never reaches the less guarded parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from lxml import etree
from open61850.mms import ServerModel
from open61850.scl import ied_model, load_ieds

from adapters.common.safe_xml import XmlRejected, parse_xml

# Substation-wide SCD files run to tens of megabytes.
_MAX_SCL_BYTES = 256 * 1024 * 1024


class SclRejected(ValueError):
    """The SCL file is malformed or unsafe."""


def _safe_root(source: str | Path | bytes) -> etree._Element:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        return parse_xml(data, max_bytes=_MAX_SCL_BYTES)
    except XmlRejected as exc:
        raise SclRejected(f"SCL refused: {exc}") from exc


def load_scl_model(source: str | Path | bytes, ied_name: str | None = None) -> ServerModel:
    root = _safe_root(source)
    try:
        return ied_model(ET.fromstring(etree.tostring(root)), ied_name)
    except Exception as exc:  # open61850 raises SclError, KeyError... on incomplete files
        raise SclRejected(f"SCL does not describe IED {ied_name or '(first)'}: {exc}") from exc


def report_control_blocks(source: str | Path, ied_name: str | None = None) -> list[str]:
    """Every report control block instance the SCL declares, as ``<LD>/<LN>$RP|BR$<name>``."""
    _safe_root(source)  # vetted with the hardened parser before open61850 reads it
    try:
        ieds = load_ieds(source)
    except Exception as exc:
        raise SclRejected(f"SCL cannot be read: {exc}") from exc
    return sorted(f"{i.domain}/{i.item}" for ied in ieds if ied_name in (None, ied.name)
                  for block in ied.report_controls for i in block.instances())


def model_items(model: ServerModel) -> set[str]:
    """Every MMS variable name the model holds, ``<LD>/<LN>$<FC>$...``."""
    return {f"{ld.name}/{ln.name}${item}" for ld in model.logical_devices.values()
            for ln in ld.logical_nodes.values() for item in ln.items}
