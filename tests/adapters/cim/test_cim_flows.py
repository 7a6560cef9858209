"""CIM documents through the market (FMAR) and toward FMAN: bids in, allocation results out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.cim.availability import apply_availability
from adapters.cim.codec import dumps_series, loads
from adapters.cim.flows import AllocationRef, activation_orders, allocation_series, baseline_offer, market_order
from adapters.cim.header import Header, Party
from adapters.cim.safe_xml import parse_xml
from adapters.cim.tree import decode
from core.flexoffer.checks import check_schedule
from core.market.clearing import clear
from core.market.models import Bid, ClearingMode, GroupKind, MarketConfig, OrderBook, Request, Side
from core.market.results import BidStatus

# Tests that compile ENTSO-E schemas with xmlschema share one xdist worker: compiled once.
pytestmark = pytest.mark.xdist_group("cim_xmlschema")


SAMPLES = Path(__file__).parent / "samples"
ZONE = "10YNO-1--------2"
START = datetime(2024, 3, 1, 10, tzinfo=UTC)


def bid_offers() -> dict:
    return {o.id: o for o in loads((SAMPLES / "mfrr_bid_v7_4.xml").read_bytes()).offers}


def test_reserve_bids_become_market_orders() -> None:
    orders = {o.id: market_order(o) for o in bid_offers().values()}
    up, down, first, second = (orders[k] for k in ("BID-UP-0001", "BID-DOWN-0002", "BID-LINK-0003", "BID-LINK-0004"))
    assert isinstance(up, Bid) and up.side is Side.SELL and up.block  # minimum quantity: all or nothing
    assert up.slice_prices == pytest.approx([0.0855, 0.0855, 0.09, 0.09])
    assert up.min_activation == 1 and up.max_activation == 4
    assert isinstance(down, Bid) and down.side is Side.BUY and down.block
    assert first.group == second.group and first.group_kind is second.group_kind is GroupKind.EXCLUSIVE
    assert not first.block


def test_afrr_linked_bids_share_a_linked_group() -> None:
    offers = loads((SAMPLES / "afrr_bid_v7_2.xml").read_bytes()).offers
    orders = [market_order(o) for o in offers]
    assert {o.group for o in orders} == {"AFRR-PAIR-1"}
    assert {o.group_kind for o in orders} == {GroupKind.LINKED}


def test_a_dso_need_becomes_a_market_request() -> None:
    data = (SAMPLES / "mfrr_bid_v7_4.xml").read_bytes().replace(b"<businessType>B74<", b"<businessType>B75<", 1)
    need = loads(data).offers[0]
    order = market_order(need, bidder="dso")
    assert isinstance(order, Request)
    assert order.quantities_kwh == [6250.0, 6250.0, 5000.0, 5000.0]
    assert order.limit_price == pytest.approx(0.09) and order.zone == ZONE


def test_cleared_market_goes_back_as_a_valid_allocation_result(xsd, xsd_strict) -> None:
    offers = bid_offers()
    bids = [
        o for o in (market_order(x) for x in offers.values()) if isinstance(o, Bid) and o.offer.interval_seconds == 900
    ]
    market = MarketConfig(
        id="mfrr", start=START, mtu_seconds=900, mtu_count=4, zones=[ZONE], mode=ClearingMode.MANY_TO_MANY
    )
    need = Request(
        id="need-1", bidder="dso", zone=ZONE, start=START, quantities_kwh=[2000, 3000, 0, 0], limit_price=0.2
    )
    result = clear(OrderBook(market=market, bids=bids, requests=[need]))
    accepted = [r for r in result.bids if r.bid_id in offers and r.status is not BidStatus.REJECTED]
    assert accepted, "the cheapest divisible up bid must be selected"
    series = [allocation_series(AllocationRef(offers[r.bid_id], r)) for r in result.bids if r.bid_id in offers]
    header = Header(
        mrid="RAR-TEST-1",
        revision=1,
        doc_type="A38",
        process_type="A47",
        sender=Party("10X1001A1001A38Y", "A34"),
        receiver=Party("46X-BSP-NORTH--1", "A46"),
        created=START,
        start=START,
        end=market.end,
        domain=None,
    )
    from adapters.cim.tree import Coded

    header.domain = Coded("10Y1001A1001A91G")
    xml = dumps_series("ReserveAllocationResult_MarketDocument", header, series)
    root = parse_xml(xml)
    assert xsd.validate(root) == [] and xsd_strict.validate(root) == []
    fields = decode(root).fields
    by_bid = {ts["bid_Original_MarketDocument.bid_BidTimeSeries.mRID"]: ts for ts in fields["TimeSeries"]}
    for outcome in result.bids:
        if outcome.bid_id not in offers:
            continue
        ts = by_bid[outcome.bid_id]
        assert ts["bid_Original_MarketDocument.mRID"] == "BSP-NO1-20240301-0001"
        period = ts["Period"][0]
        factor = 250.0 if offers[outcome.bid_id].interval_seconds == 900 else 500.0
        assert [float(q) * factor for q in period.columns["quantity"]] == pytest.approx(outcome.quantities_kwh)
        expected = {"accepted": "A73", "partially_accepted": "A72"}.get(outcome.status.value, "B09")
        assert ts["Reason"][0]["code"] == expected


def test_activation_becomes_a_feasible_schedule_of_the_bid() -> None:
    message = loads((SAMPLES / "mfrr_activation_v6_3.xml").read_bytes())
    (order,) = activation_orders(message.series["TimeSeries"])
    assert order.resource == "NOKG00123" and order.provider == "46X-BSP-NORTH--1" and order.status == "A10"
    assert order.schedule.energy == [-6250.0]  # 25 MW up for 15 minutes = 6250 kWh less consumption
    bid = bid_offers()["BID-UP-0001"]
    # The activation (10:15-10:30) is the bid's second slot and within what it offered there.
    slot = int((order.schedule.start - bid.earliest_start).total_seconds() // bid.interval_seconds)
    assert slot == 1
    assert bid.profile.energy_lower[slot] <= order.schedule.energy[0] <= bid.profile.energy_upper[slot]


def test_redispatch_down_is_more_consumption() -> None:
    message = loads((SAMPLES / "redispatch_v6_1.xml").read_bytes())
    (order,) = activation_orders(message.series["TimeSeries"])
    assert order.resource == "NOWF00007" and order.schedule.energy == [750.0, 750.0]


def test_prognosis_becomes_the_offers_baseline() -> None:
    forecast = loads((SAMPLES / "energy_prognosis_v1_2.xml").read_bytes()).series["Area_TimeSeries"][0]
    assert forecast.energy == [100.0, 105.0, 95.0, 90.0]  # kW over 15 minutes, consumption positive
    assert forecast.extras["quality"] == ["A03"] * 4
    offer = bid_offers()["BID-UP-0001"]
    based = baseline_offer(offer, forecast)
    assert based.default_schedule.energy == [100.0, 105.0, 95.0, 90.0]
    assert based.profile.energy_lower == [100.0 - 6250.0, 105.0 - 6250.0, 95.0 - 5000.0, 90.0 - 5000.0]
    assert check_schedule(based, based.default_schedule) == []


def test_planned_schedule_blocks_expand_and_production_is_negative() -> None:
    series = loads((SAMPLES / "planned_resource_schedule_v6_3.xml").read_bytes()).series
    (plan,) = series["PlannedResource_TimeSeries"]
    assert plan.energy == [-10000.0, -13875.0, -13875.0, -13875.0]
    assert plan.to_schedule().start == START


def test_bid_availability_caps_the_offer() -> None:
    availability = loads((SAMPLES / "bid_availability_v1_1.xml").read_bytes()).availability[0]
    offers = bid_offers()
    capped = apply_availability(offers["BID-UP-0001"], availability)
    assert capped.profile.energy_lower == [-2500.0] * 4  # 10 MW over 15 minutes
    assert apply_availability(offers["BID-DOWN-0002"], availability) == offers["BID-DOWN-0002"]  # other resource
