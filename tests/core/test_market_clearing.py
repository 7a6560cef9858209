"""Hand-checked markets, one per clearing mode and feature (issue 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.flexoffer import EnergyBounds, check_schedule
from core.market.builders import quantity_bid
from core.market.clearing import clear
from core.market.models import (
    Bid,
    ClearingMode,
    GroupKind,
    Line,
    MarketConfig,
    OrderBook,
    PricingRule,
    Request,
    Side,
)
from core.market.results import BidStatus, ClearingResult

T0 = datetime(2030, 5, 1, tzinfo=UTC)
SELL, BUY = Side.SELL, Side.BUY


def market(**kw: object) -> MarketConfig:
    base: dict[str, object] = {"start": T0, "mtu_count": 4, "zones": ["A"]}
    base.update(kw)
    return MarketConfig.model_validate(base)


def run(m: MarketConfig, bids: list[Bid], requests: list[Request] | None = None) -> ClearingResult:
    result = clear(OrderBook(market=m, bids=bids, requests=requests or []))
    assert result.optimal, result.status
    return result


def q(result: ClearingResult, bid_id: str) -> list[float]:
    return [round(x, 9) for x in result.bid(bid_id).quantities_kwh]


def test_one_sided_pool_covers_fixed_demand_at_minimum_cost() -> None:
    m = market(mode=ClearingMode.ONE_SIDED, mtu_count=1, pricing=PricingRule.PAY_AS_BID)
    dso = Request(id="dso", bidder="dso-1", zone="A", start=T0, quantities_kwh=[10.0], limit_price=0.5)
    bids = [
        quantity_bid("s1", SELL, T0, [6.0], 0.1, zone="A"),
        quantity_bid("s2", SELL, T0, [6.0], 0.2, zone="A"),
        quantity_bid("s3", SELL, T0, [6.0], 0.6, zone="A"),
    ]
    r = run(m, bids, [dso])
    assert q(r, "s1") == [6.0] and q(r, "s2") == [4.0] and q(r, "s3") == [0.0]
    assert r.bid("dso").status is BidStatus.ACCEPTED and q(r, "dso") == [10.0]
    assert r.bid("s2").status is BidStatus.PARTIAL and r.bid("s3").status is BidStatus.REJECTED
    # Pay-as-bid: each seller is paid its own price; the marginal price is still reported.
    assert r.bid("s1").amount_eur == pytest.approx(0.6)
    assert r.bid("s2").amount_eur == pytest.approx(0.8)
    assert r.prices["A"] == [pytest.approx(0.2)]
    assert r.welfare_eur == pytest.approx(10 * 0.5 - 0.6 - 0.8)


def test_one_sided_pool_refuses_a_second_buyer() -> None:
    m = market(mode=ClearingMode.ONE_SIDED, mtu_count=1)
    bids = [
        quantity_bid("b1", BUY, T0, [5.0], 0.5, zone="A", bidder="dso"),
        quantity_bid("b2", BUY, T0, [5.0], 0.9, zone="A", bidder="brp"),
        quantity_bid("s1", SELL, T0, [5.0], 0.1, zone="A"),
    ]
    r = run(m, bids)
    assert r.bid("b2").status is BidStatus.INVALID and "single buyer" in (r.bid("b2").reason or "")
    assert q(r, "b1") == [5.0]


def test_one_sided_shortfall_leaves_demand_partly_unmet() -> None:
    m = market(mode=ClearingMode.ONE_SIDED, mtu_count=2)
    dso = Request(id="dso", bidder="dso", zone="A", start=T0, quantities_kwh=[10.0, 10.0], limit_price=0.5)
    r = run(m, [quantity_bid("s1", SELL, T0, [4.0, 12.0], 0.2, zone="A")], [dso])
    assert q(r, "dso") == [4.0, 10.0]
    assert r.bid("dso").status is BidStatus.PARTIAL
    # Scarce MTU: the buyer's limit sets the price; surplus MTU: the seller's ask does.
    assert r.prices["A"] == [pytest.approx(0.5), pytest.approx(0.2)]


def test_two_sided_pool_competing_buyers_uniform_price() -> None:
    m = market(mode=ClearingMode.TWO_SIDED, mtu_count=1, zones=["A", "B"])
    bids = [
        quantity_bid("s1", SELL, T0, [8.0], 0.1, zone="A"),
        quantity_bid("b1", BUY, T0, [5.0], 0.4, zone="B"),
        quantity_bid("b2", BUY, T0, [5.0], 0.25, zone="B"),
    ]
    r = run(m, bids)
    assert q(r, "b1") == [5.0] and q(r, "b2") == [3.0] and q(r, "s1") == [8.0]
    assert r.prices == {"A": [pytest.approx(0.25)], "B": [pytest.approx(0.25)]}
    assert r.welfare_eur == pytest.approx(5 * 0.4 + 3 * 0.25 - 8 * 0.1)
    assert r.bid("s1").amount_eur == pytest.approx(8 * 0.25)
    assert r.bid("b2").amount_eur == pytest.approx(3 * 0.25)


def test_block_bid_that_cannot_be_matched_in_full_is_rejected() -> None:
    m = market(mtu_count=1)
    bids = [
        quantity_bid("blk", SELL, T0, [15.0], 0.1, zone="A", block=True),
        quantity_bid("s2", SELL, T0, [10.0], 0.3, zone="A"),
        quantity_bid("b1", BUY, T0, [10.0], 0.5, zone="A"),
    ]
    r = run(m, bids)
    blk = r.bid("blk")
    assert blk.status is BidStatus.REJECTED and blk.schedule is None and q(r, "blk") == [0.0]
    assert q(r, "s2") == [10.0] and r.prices["A"] == [pytest.approx(0.3)]
    assert r.welfare_eur == pytest.approx(10 * (0.5 - 0.3))


def test_block_bid_that_fits_is_accepted_whole() -> None:
    m = market(mtu_count=2)
    bids = [
        quantity_bid("blk", SELL, T0, [8.0, 8.0], 0.1, zone="A", block=True),
        quantity_bid("s2", SELL, T0, [10.0, 10.0], 0.3, zone="A"),
        quantity_bid("b1", BUY, T0, [10.0, 10.0], 0.5, zone="A"),
    ]
    r = run(m, bids)
    assert r.bid("blk").status is BidStatus.ACCEPTED and q(r, "blk") == [8.0, 8.0]
    assert q(r, "s2") == [2.0, 2.0]
    assert r.welfare_eur == pytest.approx(2 * (8 * 0.4 + 2 * 0.2))


def two_zones(cost_ab: float, **kw: object) -> MarketConfig:
    return market(mtu_count=1, zones=["A", "B"], transport_cost={"A": {"B": cost_ab}, "B": {"A": cost_ab}}, **kw)


def test_transport_cost_changes_the_winner() -> None:
    bids = [
        quantity_bid("far", SELL, T0, [12.0], 0.20, zone="A"),
        quantity_bid("near", SELL, T0, [12.0], 0.25, zone="B"),
        quantity_bid("buyer", BUY, T0, [10.0], 1.0, zone="B"),
    ]
    dear = run(two_zones(0.10), bids)
    assert q(dear, "near") == [10.0] and q(dear, "far") == [0.0]
    assert dear.prices["B"] == [pytest.approx(0.25)]
    cheap = run(two_zones(0.02), bids)
    assert q(cheap, "far") == [10.0] and q(cheap, "near") == [0.0]
    assert cheap.prices["A"] == [pytest.approx(0.20)] and cheap.prices["B"] == [pytest.approx(0.22)]
    assert cheap.flows_kwh == {"A->B": [pytest.approx(10.0)]}
    assert cheap.transport_cost_eur == pytest.approx(0.2)
    assert cheap.congestion_rent_eur == pytest.approx(0.0, abs=1e-9)
    assert cheap.welfare_eur == pytest.approx(10 * (1.0 - 0.22))


def test_binding_line_splits_prices() -> None:
    bids = [
        quantity_bid("sa", SELL, T0, [20.0], 0.1, zone="A"),
        quantity_bid("sb", SELL, T0, [20.0], 0.3, zone="B"),
        quantity_bid("bb", BUY, T0, [10.0], 1.0, zone="B"),
    ]
    free = run(two_zones(0.0), bids)
    assert free.prices["A"] == free.prices["B"] == [pytest.approx(0.1)]
    line = Line(id="A-B", limit_kwh=5.0, ptdf={"A": 1.0, "B": 0.0})
    r = run(two_zones(0.0, lines=[line]), bids)
    assert q(r, "sa") == [5.0] and q(r, "sb") == [5.0]
    assert r.prices["A"] == [pytest.approx(0.1)] and r.prices["B"] == [pytest.approx(0.3)]
    assert r.line_flows_kwh["A-B"] == [pytest.approx(5.0)]
    assert r.congestion_rent_eur == pytest.approx(5 * (0.3 - 0.1))


def test_time_priority_breaks_price_ties() -> None:
    m = market(mtu_count=1)
    first = quantity_bid("first", SELL, T0, [10.0], 0.2, zone="A", sequence=0)
    second = quantity_bid("second", SELL, T0, [10.0], 0.2, zone="A", sequence=1)
    buyer = quantity_bid("buyer", BUY, T0, [10.0], 0.5, zone="A", sequence=2)
    r = run(m, [second, buyer, first])
    assert q(r, "first") == [10.0] and q(r, "second") == [0.0]
    assert r.prices["A"] == [pytest.approx(0.2, abs=1e-12)]
    swapped = run(m, [first.model_copy(update={"sequence": 5}), second, buyer])
    assert q(swapped, "second") == [10.0] and q(swapped, "first") == [0.0]


def test_linked_group_is_accepted_in_one_proportion() -> None:
    m = market(mtu_count=2)
    bids = [
        quantity_bid("x", SELL, T0, [10.0], 0.1, zone="A", group="g", group_kind=GroupKind.LINKED),
        quantity_bid("y", SELL, m.mtu_start(1), [10.0], 0.1, zone="A", group="g", group_kind=GroupKind.LINKED),
        quantity_bid("z", SELL, T0, [10.0], 0.4, zone="A"),
        quantity_bid("b0", BUY, T0, [10.0], 1.0, zone="A"),
        quantity_bid("b1", BUY, m.mtu_start(1), [4.0], 1.0, zone="A"),
    ]
    r = run(m, bids)
    # y can only sell 4 in MTU 1, so x is held to the same 40 %.
    assert q(r, "x") == [4.0] and q(r, "y") == [4.0] and q(r, "z") == [6.0]


def test_exclusive_group_accepts_at_most_one_member() -> None:
    m = market(mtu_count=1)
    bids = [
        quantity_bid("e1", SELL, T0, [10.0], 0.1, zone="A", group="g", group_kind=GroupKind.EXCLUSIVE),
        quantity_bid("e2", SELL, T0, [10.0], 0.2, zone="A", group="g", group_kind=GroupKind.EXCLUSIVE, block=True),
        quantity_bid("s3", SELL, T0, [10.0], 0.4, zone="A"),
        quantity_bid("b", BUY, T0, [20.0], 0.5, zone="A"),
    ]
    r = run(m, bids)
    assert q(r, "e1") == [10.0] and q(r, "e2") == [0.0] and q(r, "s3") == [10.0]


def test_min_activation_blocks_a_too_short_run() -> None:
    m = market(mtu_count=4)
    bids = [
        quantity_bid("act", SELL, T0, [10.0] * 4, 0.1, zone="A", min_activation=3),
        quantity_bid("alt", SELL, T0, [10.0] * 4, 0.3, zone="A"),
        quantity_bid("b", BUY, T0, [10.0, 10.0], 0.5, zone="A"),
    ]
    r = run(m, bids)
    assert r.bid("act").status is BidStatus.REJECTED
    assert q(r, "alt") == [10.0, 10.0, 0.0, 0.0]


def test_max_activation_limits_the_run_length() -> None:
    m = market(mtu_count=4)
    bids = [
        quantity_bid("act", SELL, T0, [10.0] * 4, 0.1, zone="A", max_activation=2),
        quantity_bid("alt", SELL, T0, [10.0] * 4, 0.3, zone="A"),
        quantity_bid("b", BUY, T0, [10.0] * 4, [0.5, 0.9, 0.9, 0.5], zone="A"),
    ]
    r = run(m, bids)
    assert q(r, "act") == [0.0, 10.0, 10.0, 0.0]
    assert q(r, "alt") == [10.0, 0.0, 0.0, 10.0]
    assert check_schedule(bids[0].offer, r.bid("act").schedule) == []  # type: ignore[arg-type]


def test_total_energy_constraint_limits_a_divisible_bid() -> None:
    m = market(mtu_count=2)
    bid = quantity_bid("s", SELL, T0, [10.0, 10.0], 0.1, zone="A")
    offer = bid.offer.model_copy(update={"total_energy": EnergyBounds(lower=-12.0, upper=0.0)})
    bid = bid.model_copy(update={"offer": offer})
    r = run(m, [bid, quantity_bid("b", BUY, T0, [10.0, 10.0], 0.5, zone="A")])
    assert sum(q(r, "s")) == pytest.approx(12.0)
    assert check_schedule(offer, r.bid("s").schedule) == []  # type: ignore[arg-type]


def test_every_zone_and_mtu_gets_a_price() -> None:
    m = market(mtu_count=3, zones=["A", "B", "C"])
    r = run(m, [quantity_bid("s", SELL, T0, [1.0], 0.1, zone="A")])
    assert set(r.prices) == {"A", "B", "C"} and all(len(v) == 3 for v in r.prices.values())


def test_large_book_is_sifted_and_reclears_byte_identically() -> None:
    import numpy as np

    from core.market.lpmodel import SIFT_MIN_COLS
    from core.market.results import canonical_json

    rng = np.random.default_rng(3)
    zones = ["A", "B", "C"]
    m = market(mtu_count=96, zones=zones, transport_cost={a: {b: 0.01 for b in zones if b != a} for a in zones},
               lines=[Line(id="L", limit_kwh=20.0, ptdf={"A": 0.5, "B": -0.5})])
    bids = [
        quantity_bid(f"b{k}", SELL if k % 2 else BUY, T0, np.round(rng.uniform(1, 5, 96), 2).tolist(),
                     np.round(rng.uniform(0.1, 0.3, 96), 3).tolist(), zone=zones[k % 3], block=k % 10 == 0)
        for k in range(240)
    ]
    book = OrderBook(market=m, bids=bids)
    assert 240 * 96 >= SIFT_MIN_COLS  # the sifted path is the one under test
    first = clear(book)
    assert first.optimal and first.mip_gap <= 1e-4
    assert canonical_json(clear(OrderBook.model_validate_json(book.model_dump_json()))) == canonical_json(first)
    for item in first.bids:
        if item.schedule is not None:
            assert check_schedule(bids[int(item.bid_id[1:])].offer, item.schedule) == []
