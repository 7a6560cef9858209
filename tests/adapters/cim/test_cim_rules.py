"""Business rules: every violation is answered with an XSD-valid acknowledgement and its reason code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.cim.inbound import InboundResult, receive
from adapters.cim.rules import NoHistory, StaticParties
from adapters.cim.safe_xml import parse_xml
from adapters.cim.tree import decode

SAMPLES = Path(__file__).parent / "samples"
BID = (SAMPLES / "mfrr_bid_v7_4.xml").read_bytes()


@dataclass
class MemoryHistory:
    """An in-memory store of accepted documents, standing in for the database table."""

    seen: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)

    def revisions(self, sender: str, mrid: str) -> list[tuple[int, str]]:
        return list(self.seen.get((sender, mrid), []))

    def record(self, result: InboundResult) -> None:
        if result.status != "A02" and result.header is not None and result.digest is not None:
            key = (result.header.sender.mrid, result.header.mrid)
            self.seen.setdefault(key, []).append((result.header.revision, result.digest))


def ack_fields(result: InboundResult, xsd) -> dict:
    root = parse_xml(result.ack_xml)
    assert xsd.validate(root) == [], "every acknowledgement the hub writes is XSD-valid"
    return decode(root).fields


def codes(fields: dict) -> list[str]:
    return [r["code"] for r in fields["Reason"]]


def series_codes(fields: dict) -> dict[str, list[str]]:
    return {ts["mRID"]: [r["code"] for r in ts["Reason"]] for ts in fields.get("Rejected_TimeSeries", [])}


def judge(data: bytes, hub_identity, parties, xsd, history=None, use_xsd=True) -> tuple[InboundResult, dict]:
    """Receive ``data`` (validating against the XSDs unless ``use_xsd`` is False) and read the ack."""
    result = receive(data, hub_identity, parties, history or NoHistory(), xsd if use_xsd else None)
    return result, ack_fields(result, xsd)


def test_valid_document_is_fully_accepted(hub_identity, parties, xsd) -> None:
    result, fields = judge(BID, hub_identity, parties, xsd)
    assert result.status == "A01" and codes(fields) == ["A01"]
    assert fields["Reason"][0]["text"] == "Message fully accepted"
    assert fields["received_MarketDocument.mRID"] == "BSP-NO1-20240301-0001"
    assert fields["receiver_MarketParticipant.mRID"] == "46X-BSP-NORTH--1"
    assert result.message is not None and len(result.message.offers) == 4


def test_every_sample_is_accepted(hub_identity, parties, xsd) -> None:
    for path in sorted(SAMPLES.glob("*.xml")):
        if "acknowledgement" in path.name:
            continue  # addressed to a BSP, not to the hub
        data = path.read_bytes()
        if b'<receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A38Y' not in data:
            continue  # documents the hub sends (activations, results) are not addressed to it
        result, fields = judge(data, hub_identity, parties, xsd)
        assert result.status == "A01", (path.name, fields["Reason"])


def test_position_gap_rejects_only_that_series(hub_identity, parties, xsd) -> None:
    data = BID.replace(b"<position>2</position>", b"<position>3</position>", 1)
    result, fields = judge(data, hub_identity, parties, xsd)
    assert result.status == "B70"
    assert codes(fields) == ["B70", "A03"]
    assert series_codes(fields) == {"BID-UP-0001": ["A20", "A49"]}
    assert [o.id for o in result.message.offers] == ["BID-DOWN-0002", "BID-LINK-0003", "BID-LINK-0004"]


def test_point_count_must_match_interval_over_resolution(hub_identity, parties, xsd) -> None:
    data = BID.replace(b"<end>2024-03-01T10:15Z</end>", b"<end>2024-03-01T10:30Z</end>", 1)
    _result, fields = judge(data, hub_identity, parties, xsd)
    assert series_codes(fields) == {"BID-DOWN-0002": ["A20", "A42"]}
    assert "timeInterval" in fields["Rejected_TimeSeries"][0]["Reason"][1]["text"]


def test_interval_not_a_multiple_of_resolution(hub_identity, parties, xsd) -> None:
    data = BID.replace(b"<end>2024-03-01T10:15Z</end>", b"<end>2024-03-01T10:20Z</end>", 1)
    _result, fields = judge(data, hub_identity, parties, xsd)
    assert series_codes(fields) == {"BID-DOWN-0002": ["A20", "A41"]}


def test_period_outside_the_document_interval(hub_identity, parties, xsd) -> None:
    data = BID.replace(
        b"<start>2024-03-01T10:00Z</start>\n        <end>2024-03-01T10:15Z</end>",
        b"<start>2024-03-01T11:00Z</start>\n        <end>2024-03-01T11:15Z</end>",
    )
    _result, fields = judge(data, hub_identity, parties, xsd)
    assert series_codes(fields) == {"BID-DOWN-0002": ["A20", "A04"]}


def test_all_series_bad_is_a_full_rejection(hub_identity, parties, xsd) -> None:
    data = (SAMPLES / "fcr_bid_v7_1.xml").read_bytes().replace(b"<position>2</position>", b"<position>5</position>")
    result, fields = judge(data, hub_identity, parties, xsd)
    assert result.status == "A02" and codes(fields)[0] == "A02"
    assert result.message is None


def test_duplicate_series_mrid(hub_identity, parties, xsd) -> None:
    data = BID.replace(
        b"<mRID>BID-LINK-0004</mRID>\n    <businessType>", b"<mRID>BID-LINK-0003</mRID>\n    <businessType>"
    )
    result, fields = judge(data, hub_identity, parties, xsd)
    assert result.status == "B70"
    assert series_codes(fields)["BID-LINK-0003"][1] == "A55"


def test_unknown_sender_and_wrong_role(hub_identity, xsd) -> None:
    result, fields = judge(BID, hub_identity, StaticParties({}), xsd)
    assert result.status == "A02" and codes(fields) == ["A02", "A78"]
    result, fields = judge(BID, hub_identity, StaticParties({"46X-BSP-NORTH--1": frozenset({"A50"})}), xsd)
    assert codes(fields) == ["A02", "A78"] and "role A46" in fields["Reason"][1]["text"]


def test_document_for_another_receiver_or_role(hub_identity, parties, xsd) -> None:
    data = BID.replace(b">10X1001A1001A38Y<", b">10X-OTHER-TSO-1<")
    _result, fields = judge(data, hub_identity, parties, xsd)
    assert codes(fields) == ["A02", "A53"]
    data = BID.replace(
        b"<receiver_MarketParticipant.marketRole.type>A04<", b"<receiver_MarketParticipant.marketRole.type>A12<"
    )
    _result, fields = judge(data, hub_identity, parties, xsd)
    assert codes(fields) == ["A02", "A53"]


def test_revision_rules(hub_identity, parties, xsd) -> None:
    history = MemoryHistory()
    first, _ = judge(BID, hub_identity, parties, xsd, history)
    history.record(first)
    # The very same document again: acknowledged as accepted, flagged as a replay.
    again, fields = judge(BID, hub_identity, parties, xsd, history)
    assert again.status == "A01" and again.duplicate
    # Same mRID and revision, other content: conflict.
    changed = BID.replace(b"<price.amount>85.5<", b"<price.amount>86.5<", 1)
    result, fields = judge(changed, hub_identity, parties, xsd, history)
    assert codes(fields) == ["A02", "A51"] and "different content" in fields["Reason"][1]["text"]
    # A higher revision is fine, a lower one afterwards is not.
    rev3 = changed.replace(b"<revisionNumber>1<", b"<revisionNumber>3<")
    result, _ = judge(rev3, hub_identity, parties, xsd, history)
    assert result.status == "A01"
    history.record(result)
    rev2 = changed.replace(b"<revisionNumber>1<", b"<revisionNumber>2<")
    _result, fields = judge(rev2, hub_identity, parties, xsd, history)
    assert codes(fields) == ["A02", "A51"] and "lower than 3" in fields["Reason"][1]["text"]


def test_formatting_changes_are_not_a_content_change(hub_identity, parties, xsd) -> None:
    history = MemoryHistory()
    first, _ = judge(BID, hub_identity, parties, xsd, history)
    history.record(first)
    reformatted = BID.replace(b"\n      <Point>", b"<Point>")
    again, _ = judge(reformatted, hub_identity, parties, xsd, history)
    assert again.status == "A01" and again.duplicate


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (b"<type>A37</type>\n", b"", "A69"),  # mandatory element missing
        (b"<type>A37</type>", b"<type>A37</type><colour>blue</colour>", "999"),  # unknown element
        (b' codingScheme="A01">46X-BSP-NORTH--1</sender', b">46X-BSP-NORTH--1</sender", "999"),
    ],
)
def test_structural_problems_reject_the_document(old, new, code, hub_identity, parties, xsd) -> None:
    result, fields = judge(BID.replace(old, new, 1), hub_identity, parties, xsd, use_xsd=False)
    assert result.status == "A02" and code in codes(fields)


def test_xsd_catches_what_structure_alone_allows(hub_identity, parties, xsd) -> None:
    data = BID.replace(b"<businessType>B74</businessType>", b"<businessType>ZZZ</businessType>", 1)
    assert receive(data, hub_identity, parties, NoHistory(), None).status == "A01"
    result, fields = judge(data, hub_identity, parties, xsd)
    assert result.status == "A02" and any("XSD" in (r.get("text") or "") for r in fields["Reason"])


def test_unsupported_namespace_gets_a94(hub_identity, parties, xsd) -> None:
    data = BID.replace(b"reservebiddocument:7:4", b"reservebiddocument:9:9")
    _result, fields = judge(data, hub_identity, parties, xsd)
    assert codes(fields) == ["A02", "A94"]


def test_mapping_failure_is_a_series_rejection(hub_identity, parties, xsd) -> None:
    data = BID.replace(b"<quantity_Measurement_Unit.name>KWT<", b"<quantity_Measurement_Unit.name>MWH<")
    result, fields = judge(data, hub_identity, parties, xsd)
    assert result.status == "B70" and series_codes(fields) == {"BID-LINK-0004": ["A20", "A42"]}


VALUES = st.sampled_from(["", "0", "-1", "1000", "ZZZ", "A01", "x" * 80, "2024-13-45T99:99Z", "PT0M", "é€", "1e5"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_whatever_arrives_the_acknowledgement_is_schema_valid(data, hub_identity, parties, xsd) -> None:
    """Mutate element values of a real document at random: the hub still answers with a valid ack."""
    root = parse_xml(BID)
    leaves = [e for e in root.iter() if len(e) == 0]
    for _ in range(data.draw(st.integers(1, 4))):
        leaf = leaves[data.draw(st.integers(0, len(leaves) - 1))]
        leaf.text = data.draw(VALUES)
    mutated = etree.tostring(root)
    result = receive(mutated, hub_identity, parties, NoHistory(), xsd)
    assert xsd.validate(parse_xml(result.ack_xml)) == []
    assert result.status in ("A01", "A02", "B70")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<revisionNumber>1<", b"<revisionNumber>0<"),
        (b"<revisionNumber>1<", b"<revisionNumber>12345<"),
        (b"<type>A37<", b"<type>NOT-A-CODE<"),
        (b">46X-BSP-NORTH--1</sender", b">46X-BSP-NORTH--1-MUCH-TOO-LONG-FOR-A-PARTY</sender"),
        (b'codingScheme="A01">46X-BSP-NORTH--1</sender', b'codingScheme="??">46X-BSP-NORTH--1</sender'),
        (b"<sender_MarketParticipant.marketRole.type>A46<", b"<sender_MarketParticipant.marketRole.type>role<"),
    ],
)
def test_broken_header_values_still_get_a_valid_ack(old, new, hub_identity, parties, xsd) -> None:
    result = receive(BID.replace(old, new, 1), hub_identity, parties, NoHistory(), xsd)
    assert result.status == "A02"
    assert xsd.validate(parse_xml(result.ack_xml)) == []
