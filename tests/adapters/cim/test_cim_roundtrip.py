"""Every document type and version: samples are XSD-valid, and hub objects write them back exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.cim.codec import digest, dumps_message, dumps_offers, loads
from adapters.cim.header import Header, Party
from adapters.cim.layouts import LAYOUTS
from adapters.cim.safe_xml import parse_xml
from adapters.cim.tree import Coded, decode, encode, supported_kinds
from core.flexoffer.model import FlexOffer, Profile, Schedule
from tests.adapters.cim.conftest import XSD_DIR, sample_paths

# Tests that compile ENTSO-E schemas with xmlschema share one xdist worker: compiled once.
pytestmark = pytest.mark.xdist_group("cim_xmlschema")


SAMPLES = sample_paths()
# Curve A03 (variable-sized blocks) is written back expanded as A01: same values, other form.
EXPANDED = {"planned_resource_schedule_v6_3.xml"}


def test_every_xsd_version_is_supported_and_has_a_sample() -> None:
    xsd_namespaces = set()
    for path in XSD_DIR.glob("iec62325-*.xsd"):
        text = path.read_text(encoding="utf-8")
        xsd_namespaces.add(text.split('targetNamespace="', 1)[1].split('"', 1)[0])
    assert xsd_namespaces == set(LAYOUTS)
    sampled = {decode(parse_xml(p.read_bytes())).kind.namespace for p in SAMPLES}
    assert sampled == set(LAYOUTS), f"versions without a sample: {set(LAYOUTS) - sampled}"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_is_valid_against_the_official_xsd(path: Path, xsd, xsd_strict) -> None:
    root = parse_xml(path.read_bytes())
    assert xsd.validate(root) == []
    assert xsd_strict.validate(root) == []
    assert decode(root).problems == []


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_generic_tree_round_trip_is_canonically_identical(path: Path) -> None:
    root = parse_xml(path.read_bytes())
    doc = decode(root)
    assert digest(encode(doc.kind.namespace, doc.fields)) == digest(root)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_hub_objects_write_the_document_back(path: Path, xsd, xsd_strict) -> None:
    message = loads(path.read_bytes(), xsd)
    written = dumps_message(message)
    root = parse_xml(written)
    assert xsd.validate(root) == []
    assert xsd_strict.validate(root) == []
    again = loads(written, xsd)
    assert again.header == message.header
    assert again.offers == message.offers
    assert again.series == message.series
    assert again.availability == message.availability
    if path.name not in EXPANDED:
        assert digest(root) == digest(parse_xml(path.read_bytes()))


@pytest.mark.parametrize("version", ["7.1", "7.2", "7.4"])
@pytest.mark.parametrize("name", ["mfrr_bid_v7_4.xml", "afrr_bid_v7_2.xml", "fcr_bid_v7_1.xml"])
def test_reserve_bids_convert_between_versions(name: str, version: str, xsd, xsd_strict) -> None:
    message = loads((Path(__file__).parent / "samples" / name).read_bytes())
    written = dumps_message(message, version)
    root = parse_xml(written)
    assert decode(root).kind.version == version
    assert xsd.validate(root) == [] and xsd_strict.validate(root) == []
    again = loads(written)
    for before, after in zip(message.offers, again.offers, strict=True):
        assert after.profile == before.profile
        assert after.xor_profiles == before.xor_profiles
        assert after.earliest_start == before.earliest_start


def test_supported_kinds_cover_every_document_named_in_the_design() -> None:
    roots = {k.root for k in supported_kinds()}
    for root in (
        "ReserveBid_MarketDocument",
        "Activation_MarketDocument",
        "ReserveAllocationResult_MarketDocument",
        "PlannedResourceSchedule_MarketDocument",
        "Schedule_MarketDocument",
        "BidAvailability_MarketDocument",
        "EnergyPrognosis_MarketDocument",
        "Acknowledgement_MarketDocument",
    ):
        assert root in roots


START = datetime(2024, 3, 1, 10, tzinfo=UTC)


@st.composite
def offers(draw: st.DrawFn) -> list[FlexOffer]:
    count = draw(st.integers(1, 3))
    out = []
    for i in range(count):
        seconds = draw(st.sampled_from([900, 1800, 3600]))
        n = draw(st.integers(1, 8))
        up = draw(st.booleans())
        divisible = draw(st.booleans())
        full = [draw(st.integers(1, 40000)) * 0.25 for _ in range(n)]
        sign = -1.0 if up else 1.0
        ends = [sign * f for f in full]
        lower = [min(e, 0.0) if divisible else e for e in ends]
        upper = [max(e, 0.0) if divisible else e for e in ends]
        priced = draw(st.booleans())
        out.append(
            FlexOffer(
                id=f"BID-{i}",
                offered_by="46X-BSP-NORTH--1",
                zone="10YNO-1--------2",
                earliest_start=START,
                latest_start=START,
                interval_seconds=seconds,
                profile=Profile(
                    energy_lower=lower,
                    energy_upper=upper,
                    tariff_lower=[draw(st.integers(-500, 5000)) / 1000 for _ in range(n)] if priced else None,
                ),
                xor_profiles=[] if divisible else [Profile(energy_lower=[0.0] * n, energy_upper=[0.0] * n)],
                default_schedule=Schedule(start=START, energy=[0.0] * n),
            )
        )
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=offers(), version=st.sampled_from(["7.1", "7.2", "7.4"]))
def test_any_offer_set_writes_a_valid_reserve_bid_that_reads_back(items: list[FlexOffer], version: str, xsd) -> None:
    header = Header(
        mrid="PROP-1",
        revision=1,
        doc_type="A37",
        sender=Party("46X-BSP-NORTH--1", "A46"),
        receiver=Party("10X1001A1001A38Y", "A04"),
        created=START,
        start=START,
        end=START + timedelta(hours=8),
        process_type="A47",
        domain=Coded("10Y1001A1001A91G"),
    )
    written = dumps_offers(items, header, version)
    assert xsd.validate(parse_xml(written)) == []
    back = loads(written).offers
    for before, after in zip(items, back, strict=True):
        assert after.interval_seconds == before.interval_seconds
        assert after.profile.energy_lower == pytest.approx(before.profile.energy_lower, abs=1e-6)
        assert after.profile.energy_upper == pytest.approx(before.profile.energy_upper, abs=1e-6)
        assert len(after.xor_profiles) == len(before.xor_profiles)
        if before.profile.tariff_lower:
            assert after.profile.tariff_lower == pytest.approx(before.profile.tariff_lower, abs=1e-9)


def test_irregular_points_are_read_point_by_point() -> None:
    data = (Path(__file__).parent / "samples" / "afrr_bid_v7_2.xml").read_bytes()
    regular = decode(parse_xml(data)).fields["Bid_TimeSeries"][0]["Period"][0]
    assert regular.columns["price.amount"] == ["12.4", "11.9", "11.9"]
    # One point without its optional price: the column keeps its alignment with a gap.
    gap = data.replace(b"<price.amount>11.9</price.amount></Point>", b"</Point>", 1)
    period = decode(parse_xml(gap)).fields["Bid_TimeSeries"][0]["Period"][0]
    assert period.positions == [1, 2, 3]
    assert period.columns["price.amount"] == ["12.4", None, "11.9"]
    assert period.columns["quantity.quantity"] == ["1500", "1500", "1200"]
    # Something foreign inside a point is reported, not silently dropped.
    foreign = data.replace(b"<price.amount>8</price.amount>", b"<price.amount>8</price.amount><x>1</x>", 1)
    assert any("unexpected element x" in p for p in decode(parse_xml(foreign)).problems)
    missing = data.replace(b"<quantity.quantity>900</quantity.quantity>", b"", 1)
    assert any("required element quantity.quantity" in p for p in decode(parse_xml(missing)).problems)
