"""The hot-path reader/writer must agree with xsdata on everything they accept.

``fastread`` builds the payload models from lxml attributes and ``fastwrite`` writes flat
*Responses from text; both hand anything they do not understand exactly back to
xsdata. These tests hold them to xsdata's results, on valid messages of every type and
on mutated (often invalid) ones, and check that they are actually taken.
"""

from __future__ import annotations

import copy
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from shapeshifter_uftp.uftp import FlexOffer, FlexRequest, PayloadMessage
from sqlalchemy import text
from xsdata.exceptions import ParserError

from adapters.usef import build, codec, fastread, fastwrite
from adapters.usef.safexml import parse_xml
from adapters.usef.schema import SchemaSet
from gateway.db.base import make_engine, make_sessionmaker
from gateway.services.uftp_writer import SHARED_TRANSACTION, GroupWriter

# Mutated inputs make xsdata warn about values it cannot convert; that is what is being tested.
pytestmark = pytest.mark.filterwarnings("ignore::xsdata.exceptions.ConverterWarning")
DAY = build.tomorrow()


def _stamped(message: PayloadMessage) -> PayloadMessage:
    return codec.stamp(message, "dso.example.com", "agr.example.com")


def _samples() -> list[PayloadMessage]:
    request = _stamped(build.flex_request(DAY))
    offer = _stamped(build.flex_offer(DAY, flex_request_message_id=str(request.message_id),
                                      isps=[(33, -100_000), (34, -90_000)]))
    order = _stamped(build.flex_order_for(offer))
    messages: list[PayloadMessage] = [
        request, offer, order, _stamped(build.flex_offer(DAY, flex_request_message_id=None, isps=[(5, 1000)])),
        _stamped(build.flex_offer_revocation(str(offer.message_id))),
        _stamped(build.d_prognosis(DAY, [1000] * 96)),
        _stamped(build.flex_settlement([order], period_start=DAY.isoformat(), period_end=DAY.isoformat())),
        _stamped(build.test_message()),
    ]
    for request_message in list(messages):
        if type(request_message) in codec.RESPONSE_CLASSES and codec.message_type_name(
                type(request_message)) != "FlexSettlement":
            messages.append(codec.response_for(request_message, "agr.example.com", None))
            messages.append(codec.response_for(request_message, "agr.example.com", 'ISP conflict & "<odd>"'))
    return messages


def _prepared_root(xml: bytes) -> tuple[etree._Element, type]:
    """The tree both readers see in ``codec.read_payload``: official, then the models' dialect."""
    root = codec.to_official(parse_xml(xml))
    name = etree.QName(root).localname
    return codec.to_legacy(root), codec.MESSAGE_CLASSES[name]


def _with_xsdata(root: etree._Element, cls: type) -> object | Exception:
    try:
        return codec._PARSER.parse(root, cls)
    except (ParserError, TypeError, ValueError) as exc:
        return exc


def _fast(root: etree._Element, cls: type) -> object | None:
    return fastread.read_model(root, fastread.compile_plan(cls))


SAMPLES = _samples()


@pytest.mark.parametrize("message", SAMPLES, ids=[codec.message_type_name(type(m)) for m in SAMPLES])
def test_fast_reader_takes_every_valid_message_and_equals_xsdata(message: PayloadMessage,
                                                                 schemas: SchemaSet) -> None:
    xml = codec.to_xml(message)
    assert schemas.errors(codec.to_official(parse_xml(xml))) == []
    root, cls = _prepared_root(xml)
    fast = _fast(root, cls)
    assert fast is not None, "a valid message must take the fast path"
    assert fast == _with_xsdata(root, cls)
    assert codec.read_payload(xml).message == fast


# Values that stress number/enum/date parsing: Python and xsdata accept some of these, the XSD few.
ODD_VALUES = st.sampled_from([
    "", " ", "12", " 12", "12 ", "+5", "-0", "1_000", "٣", "1e3", "0x10", "99999999999999999999999",
    "Requested", "requested", "Available ", "true", "1", "false", "0", "True", "2026-02-29", "2028-02-29",
    "2026-13-01", "2026-1-01", "PT15M", "P1D", "-PT15M", "12.50", "12.", ".5", "NaN", "Infinity", "1,5",
    "\u00e9t\u00e9", "a&b", "Europe/Amsterdam",
])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid FlexRequest/FlexOffer with attributes replaced, dropped or added, or stray content."""
    base = draw(st.sampled_from([m for m in SAMPLES if isinstance(m, (FlexRequest, FlexOffer))]))
    root = parse_xml(codec.to_xml(base))
    elements = list(root.iter())[:12]
    for _ in range(draw(st.integers(1, 4))):
        element = draw(st.sampled_from(elements))
        action = draw(st.sampled_from(["replace", "drop", "add", "child", "text"]))
        names = list(element.attrib)
        if action == "replace" and names:
            element.set(draw(st.sampled_from(names)), draw(ODD_VALUES | st.text(max_size=8).filter(
                lambda t: all(c.isprintable() for c in t))))
        elif action == "drop" and names:
            del element.attrib[draw(st.sampled_from(names))]
        elif action == "add":
            element.set(draw(st.sampled_from(["Extra", "Start", "Price", "Revision"])), draw(ODD_VALUES))
        elif action == "child":
            etree.SubElement(element, draw(st.sampled_from(["ISP", "OfferOption", "Unknown"])),
                             Start="1", Duration="1", Power="5")
        else:
            element.text = draw(st.sampled_from(["x", " "]))
    return etree.tostring(root)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fast_reader_never_disagrees_with_xsdata(xml: bytes) -> None:
    root, cls = _prepared_root(xml)
    fast = _fast(root, cls)
    slow = _with_xsdata(root, cls)
    if isinstance(slow, Exception):
        assert fast is None, f"xsdata refuses this ({slow}); the fast reader must not accept it"
    elif fast is not None:
        assert fast == slow


def test_fast_reader_leaves_namespaces_and_unknown_content_to_xsdata() -> None:
    xml = codec.to_xml(SAMPLES[0])
    namespaced = xml.replace(b"<FlexRequest ", b'<FlexRequest xmlns="urn:other" ')
    root, cls = _prepared_root(namespaced)
    assert _fast(root, cls) is None
    root, cls = _prepared_root(xml.replace(b"<ISP ", b"<ISP Bogus=\"1\" ", 1))
    assert _fast(root, cls) is None


FLAT = [m for m in SAMPLES if codec._FLAT_SHAPES.get(type(m)) is not None]


def test_flat_writer_covers_the_answers_the_hub_sends_per_message() -> None:
    assert {codec.message_type_name(type(m)) for m in FLAT} >= {
        "FlexRequestResponse", "FlexOfferResponse", "FlexOrderResponse", "D-PrognosisResponse",
        "TestMessageResponse", "FlexOfferRevocationResponse"}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FLAT), st.one_of(st.none(), st.text(max_size=40)))
def test_flat_writer_is_byte_equal_to_xsdata(message: PayloadMessage, reason: str | None) -> None:
    message = copy.deepcopy(message)
    if hasattr(message, "rejection_reason"):
        message.rejection_reason = reason
    else:
        message.conversation_id = reason or message.conversation_id
    written = fastwrite.write(message, codec._FLAT_SHAPES[type(message)])
    try:
        slow = codec.render_with_xsdata(message)
    except ValueError:  # not XML characters: the fast writer must leave them to xsdata, which refuses them
        assert written is None
        with pytest.raises(ValueError):
            codec.render(message)
        return
    assert written is not None
    fast = codec.render(message)
    assert fast.xml == slow.xml
    assert fast.digest == slow.digest
    for name in (codec.OFFICIAL, codec.LEGACY):
        assert fast.for_dialect(name) == slow.for_dialect(name)


def test_flat_writer_output_is_schema_valid(schemas: SchemaSet) -> None:
    for message in FLAT:
        assert schemas.errors(codec.render(message).root) == [], codec.message_type_name(type(message))


def test_decimal_and_enum_fields_come_out_typed() -> None:
    offer = next(m for m in SAMPLES if isinstance(m, FlexOffer))
    root, cls = _prepared_root(codec.to_xml(offer))
    fast = _fast(root, cls)
    assert isinstance(fast, FlexOffer)
    assert fast.offer_options[0].price == Decimal("12.50")
    assert isinstance(fast.offer_options[0].isps[0].power, int)


def _writer_store(tmp_path: Path) -> tuple[GroupWriter, object]:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE items (name TEXT PRIMARY KEY)"))
    return GroupWriter(make_sessionmaker(engine), threading.Lock()), engine


def test_group_writer_isolates_a_failing_job(tmp_path: Path) -> None:
    writer, engine = _writer_store(tmp_path)

    def insert(name: str):  # type: ignore[no-untyped-def]
        return lambda session, _checked: session.execute(text("INSERT INTO items VALUES (:n)"), {"n": name})

    def refuse(_session: object) -> None:
        raise LookupError("unknown sender")

    try:
        futures = {name: writer.submit(lambda _s: None, insert(name)) for name in ("a", "b")}
        futures["dup"] = writer.submit(lambda _s: None, insert("a"))  # violates the key: its write fails
        futures["refused"] = writer.submit(refuse, insert("never"))
        futures["c"] = writer.submit(lambda _s: None, insert("c"))
        for name in ("a", "b", "c"):
            futures[name].result(timeout=10)
        with pytest.raises(Exception, match="UNIQUE"):
            futures["dup"].result(timeout=10)
        with pytest.raises(LookupError):
            futures["refused"].result(timeout=10)
    finally:
        writer.close()
    with engine.connect() as connection:
        stored = sorted(row[0] for row in connection.execute(text("SELECT name FROM items")))
    assert stored == ["a", "b", "c"]


def test_group_writer_resolves_only_after_commit(tmp_path: Path) -> None:
    writer, engine = _writer_store(tmp_path)
    try:
        future = writer.submit(lambda _s: "checked", lambda session, checked: session.execute(
            text("INSERT INTO items VALUES (:n)"), {"n": checked}))
        future.result(timeout=10)
        with engine.connect() as connection:  # another connection sees it: it was committed
            assert connection.execute(text("SELECT count(*) FROM items")).scalar() == 1
    finally:
        writer.close()


def test_jobs_know_when_they_share_a_transaction(tmp_path: Path) -> None:
    """A shared transaction must not be rolled back by one job; a job re-run alone may do so."""
    writer, _engine = _writer_store(tmp_path)
    seen: list[bool] = []

    def write(session, _checked):  # type: ignore[no-untyped-def]
        seen.append(bool(session.info.get(SHARED_TRANSACTION)))
        if seen[-1]:
            raise RuntimeError("a race only a transaction of its own can resolve")
        return "done"

    try:
        assert writer.submit(lambda _s: None, write).result(timeout=10) == "done"
    finally:
        writer.close()
    assert seen == [True, False]
