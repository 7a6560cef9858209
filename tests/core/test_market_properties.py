"""Hypothesis properties of FMAR clearing on random small books (issue 4)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.flexoffer import check_schedule
from core.market.builders import quantity_bid
from core.market.clearing import clear
from core.market.greedy import greedy_clear
from core.market.models import Bid, ClearingMode, Line, MarketConfig, OrderBook, PricingRule, Side
from core.market.orderbook import admit, compile_bids
from core.market.results import BidStatus, ClearingResult, canonical_json

T0 = datetime(2030, 5, 1, tzinfo=UTC)
TOL = 1e-6


@st.composite
def books(draw: st.DrawFn, allow_blocks: bool = True) -> OrderBook:
    n_zones = draw(st.integers(1, 3))
    zones = [f"Z{i}" for i in range(n_zones)]
    mtus = draw(st.integers(1, 4))
    mode = draw(st.sampled_from([ClearingMode.MANY_TO_MANY, ClearingMode.TWO_SIDED]))
    costs = {
        a: {b: draw(st.sampled_from([0.0, 0.01, 0.05, 0.2])) for b in zones if b != a}
        for a in zones
        if draw(st.booleans())
    }
    lines = []
    if n_zones > 1 and draw(st.booleans()):
        lines.append(
            Line(id="L", limit_kwh=draw(st.sampled_from([0.0, 2.0, 5.0])),
                 ptdf={z: draw(st.sampled_from([-0.5, 0.0, 0.5, 1.0])) for z in zones})
        )
    market = MarketConfig(
        start=T0, mtu_count=mtus, zones=zones, transport_cost=costs, lines=lines, mode=mode,
        pricing=PricingRule.UNIFORM, price_cap=5.0, mip_rel_gap=1e-9,
    )
    bids: list[Bid] = []
    for k in range(draw(st.integers(1, 8))):
        first = draw(st.integers(0, mtus - 1))
        length = draw(st.integers(1, mtus - first))
        qty = draw(st.lists(st.sampled_from([1.0, 2.5, 4.0, 7.0]), min_size=length, max_size=length))
        prices = draw(st.lists(st.sampled_from([0.05, 0.1, 0.2, 0.35, 0.5]), min_size=length, max_size=length))
        bids.append(
            quantity_bid(
                f"b{k}", draw(st.sampled_from([Side.SELL, Side.BUY])), market.mtu_start(first), qty, prices,
                zone=draw(st.sampled_from(zones)), block=allow_blocks and draw(st.booleans()), sequence=k,
            )
        )
    return OrderBook(market=market, bids=bids)


def zone_net(result: ClearingResult, book: OrderBook) -> np.ndarray:
    m = book.market
    net = np.zeros((len(m.zones), m.mtu_count))
    for item in result.bids:
        if item.status is BidStatus.INVALID or item.first_mtu is None:
            continue
        z = m.zones.index(item.zone or m.zones[0])
        sign = 1.0 if item.side is Side.SELL else -1.0
        for i, x in enumerate(item.quantities_kwh):
            net[z, item.first_mtu + i] += sign * x
    return net


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(books())
def test_zone_balance_and_line_limits_hold(book: OrderBook) -> None:
    r = clear(book)
    assert r.optimal
    net = zone_net(r, book)
    m = book.market
    if m.mode is ClearingMode.TWO_SIDED:
        assert np.allclose(net.sum(axis=0), 0.0, atol=TOL)
        return
    for name, flow in r.flows_kwh.items():
        a, b = name.split("->")
        net[m.zones.index(a)] -= np.asarray(flow)
        net[m.zones.index(b)] += np.asarray(flow)
    assert np.allclose(net, 0.0, atol=TOL)
    for line in m.lines:
        for value in r.line_flows_kwh.get(line.id, []):
            assert abs(value) <= line.limit_kwh + TOL


@FAST
@given(books(allow_blocks=False))
def test_no_divisible_bid_clears_beyond_its_limit_price_under_uniform_pricing(book: OrderBook) -> None:
    r = clear(book)
    for item in r.bids:
        for x, zone_price, limit in zip(item.quantities_kwh, item.prices, book.bids[int(item.bid_id[1:])].prices(),
                                        strict=True):
            if x <= TOL:
                continue
            if item.side is Side.SELL:
                assert zone_price >= limit - TOL, (item.bid_id, zone_price, limit)
            else:
                assert zone_price <= limit + TOL, (item.bid_id, zone_price, limit)


@FAST
@given(books())
def test_divisible_bids_respect_limit_prices_even_with_blocks(book: OrderBook) -> None:
    r = clear(book)
    for item in r.bids:
        bid = book.bids[int(item.bid_id[1:])]
        if bid.block:
            continue
        for x, zone_price, limit in zip(item.quantities_kwh, item.prices, bid.prices(), strict=True):
            if x > TOL:
                assert (zone_price >= limit - TOL) if item.side is Side.SELL else (zone_price <= limit + TOL)


@FAST
@given(books())
def test_welfare_at_least_greedy_merit_order(book: OrderBook) -> None:
    r = clear(book)
    admission = admit(book.market, book.all_bids())
    greedy = greedy_clear(book.market, compile_bids(book.market, admission.bids))
    assert r.welfare_eur >= greedy.welfare_eur - 1e-6


@FAST
@given(books())
def test_cleared_schedules_satisfy_their_offers(book: OrderBook) -> None:
    r = clear(book)
    offers = {b.id: b.offer for b in book.bids}
    for item in r.bids:
        if item.status in (BidStatus.ACCEPTED, BidStatus.PARTIAL):
            assert item.schedule is not None
            assert check_schedule(offers[item.bid_id], item.schedule) == []
        else:
            assert item.schedule is None
        if item.status is BidStatus.ACCEPTED:
            assert abs(item.cleared_kwh - item.offered_kwh) <= TOL
        bid = book.bids[int(item.bid_id[1:])]
        if bid.block:
            assert item.status in (BidStatus.ACCEPTED, BidStatus.REJECTED)


@settings(max_examples=25, deadline=None)
@given(books())
def test_reclearing_stored_inputs_is_byte_identical(book: OrderBook) -> None:
    first = canonical_json(clear(book))
    stored = OrderBook.model_validate_json(book.model_dump_json())
    assert canonical_json(clear(stored)) == first


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_sifted_solve_matches_the_direct_solve(book: OrderBook) -> None:
    """Large books are solved by sifting; forced on small ones it must reach the same optimum."""
    from core.market.clearing import _price_guess, build_model
    from core.market.lpmodel import solve

    market = book.market.model_copy(update={"mip_rel_gap": 1e-4})
    compiled = compile_bids(market, admit(market, book.all_bids()).bids)
    clearing = build_model(market, compiled)
    direct = solve(clearing.model, 1e-9, sift_min_cols=10**9)
    for guess in (None, _price_guess(market, compiled, clearing)):
        sifted = solve(clearing.model, 1e-4, dual_guess=guess, sift_min_cols=0)
        assert sifted.optimal
        bound = abs(direct.objective) * 1e-4 + 1e-7 if sifted.is_mip else 1e-7
        assert direct.objective - 1e-7 <= sifted.objective <= direct.objective + bound
