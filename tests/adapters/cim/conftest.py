"""Shared fixtures for the CIM tests: the official XSDs (never copied into the repo) and samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.cim.rules import HubIdentity, StaticParties
from adapters.cim.xsd import XsdCatalog

# The ENTSO-E XSDs live in shared/ next to the repository checkout (CI clones it beside).
XSD_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "schemas" / "cim"
SAMPLES = Path(__file__).resolve().parent / "samples"
HUB_MRID = "10X1001A1001A38Y"
PARTIES = {
    "46X-BSP-NORTH--1": frozenset({"A46", "A27"}),
    "46X-AGG-SE3----7": frozenset({"A46", "A39"}),
    "46X-BSP-FINLAND": frozenset({"A46"}),
    "11X-DSO-EXAMPLE": frozenset({"A50", "A08", "A26"}),
    HUB_MRID: frozenset({"A04", "A34"}),
}


def sample_paths() -> list[Path]:
    return sorted(SAMPLES.glob("*.xml"))


@pytest.fixture(scope="session")
def xsd() -> XsdCatalog:
    if not XSD_DIR.is_dir():
        pytest.fail(f"the official CIM XSDs are expected in {XSD_DIR.resolve()}")
    return XsdCatalog(str(XSD_DIR), "lxml")


@pytest.fixture(scope="session")
def xsd_strict() -> XsdCatalog:
    """The pure-Python xmlschema engine: a second, independent opinion on validity."""
    return XsdCatalog(str(XSD_DIR), "xmlschema")


@pytest.fixture
def hub_identity() -> HubIdentity:
    return HubIdentity(HUB_MRID, "A04", frozenset({"A04", "A34", "A50"}))


@pytest.fixture
def parties() -> StaticParties:
    return StaticParties(dict(PARTIES))
