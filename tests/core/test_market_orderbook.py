"""Admission of bids (bad input gets a reason, the market keeps running) and result flow-back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from core.flexoffer import EnergyBounds, OfferState, Profile, Schedule, check_schedule
from core.market.builders import quantity_bid
from core.market.clearing import clear
from core.market.models import Bid, ClearingMode, MarketConfig, OrderBook, Request, Side, request_to_bid
from core.market.orderbook import admit, bid_problems
from core.market.results import BidStatus, canonical_json, offer_outcome

T0 = datetime(2030, 5, 1, tzinfo=UTC)
GATE = T0 - timedelta(hours=1)


def market(**kw: object) -> MarketConfig:
    base: dict[str, object] = {"start": T0, "mtu_count": 4, "zones": ["A", "B"], "gate_closure": GATE,
                               "price_cap": 1.0}
    base.update(kw)
    return MarketConfig.model_validate(base)


def good(bid_id: str = "ok", side: Side = Side.SELL, price: float = 0.2) -> Bid:
    return quantity_bid(bid_id, side, T0, [5.0, 5.0], price, zone="A")


def test_a_sound_bid_before_the_gate_has_no_problems() -> None:
    assert bid_problems(market(), good(), now=GATE - timedelta(seconds=1)) == []


def test_bid_at_or_after_gate_closure_is_refused() -> None:
    problems = bid_problems(market(), good(), now=GATE)
    assert len(problems) == 1 and problems[0].startswith("gate closed at 2030-04-30T23:00:00+00:00")


def test_unknown_zone_is_refused_with_the_known_zones() -> None:
    bid = quantity_bid("z", Side.SELL, T0, [1.0], 0.1, zone="Q")
    assert bid_problems(market(), bid) == ["unknown zone 'Q'; the market has ['A', 'B']"]


def test_bid_without_zone_in_a_multi_zone_market_is_refused() -> None:
    assert "names no zone" in bid_problems(market(), quantity_bid("z", Side.SELL, T0, [1.0], 0.1))[0]
    assert bid_problems(market(zones=["only"]), quantity_bid("z", Side.SELL, T0, [1.0], 0.1)) == []


def test_price_outside_the_cap_is_refused() -> None:
    problems = bid_problems(market(), quantity_bid("p", Side.BUY, T0, [1.0, 1.0], [0.5, -1.5], zone="A"))
    assert problems == ["slice 1: price -1.5 EUR/kWh is outside the market cap ±1"]


def test_negative_quantities_are_refused() -> None:
    with pytest.raises(ValidationError, match="negative quantity"):
        Request(id="r", bidder="dso", zone="A", start=T0, quantities_kwh=[1.0, -2.0], limit_price=0.3)
    bid = good()
    inverted = bid.offer.model_copy(update={"profile": Profile(energy_lower=[0.0, 0.0], energy_upper=[-1.0, 0.0])})
    assert "negative quantity" in bid_problems(market(), bid.model_copy(update={"offer": inverted}))[0]
    # A sell bid whose baseline lies below its lower bound could only deliver a negative quantity.
    low = bid.offer.model_copy(update={"default_schedule": Schedule(start=T0, energy=[-9.0, 0.0])})
    assert any("outside" in p for p in bid_problems(market(), bid.model_copy(update={"offer": low})))


def test_offer_that_runs_past_the_horizon_or_off_the_mtu_grid_is_refused() -> None:
    late = quantity_bid("late", Side.SELL, T0 + timedelta(hours=0.75), [1.0, 1.0], 0.1, zone="A")
    assert "past the market horizon" in bid_problems(market(), late)[0]
    other_grid = quantity_bid("grid", Side.SELL, T0, [1.0], 0.1, zone="A", mtu_seconds=1800)
    assert "differs from the market MTU" in bid_problems(market(), other_grid)[0]


def test_zero_quantity_bid_is_refused() -> None:
    assert "no quantity" in bid_problems(market(), quantity_bid("zero", Side.SELL, T0, [0.0], 0.1, zone="A"))[0]


def test_total_energy_needs_a_baseline_and_a_feasible_full_block() -> None:
    bid = good()
    no_base = bid.offer.model_copy(update={"total_energy": EnergyBounds(lower=-6.0, upper=0.0),
                                           "default_schedule": None})
    problems = bid_problems(market(), bid.model_copy(update={"offer": no_base}))
    assert any("needs a defaultSchedule" in p for p in problems)
    capped = bid.offer.model_copy(update={"total_energy": EnergyBounds(lower=-6.0, upper=0.0)})
    block = bid.model_copy(update={"offer": capped, "block": True})
    assert any("full activation infeasible" in p for p in bid_problems(market(), block))


def test_bad_bids_are_reported_and_the_rest_still_clears() -> None:
    book = OrderBook(
        market=market(),
        bids=[
            good("s", Side.SELL, 0.2),
            quantity_bid("bad-zone", Side.SELL, T0, [9.0, 9.0], 0.01, zone="Q"),
            quantity_bid("bad-price", Side.SELL, T0, [9.0, 9.0], 7.0, zone="A"),
            good("s", Side.SELL, 0.1),
        ],
        requests=[Request(id="r", bidder="dso", zone="A", start=T0, quantities_kwh=[5.0, 5.0], limit_price=0.5)],
    )
    result = clear(book)
    by_id = {(b.bid_id, b.status) for b in result.bids}
    assert ("s", BidStatus.ACCEPTED) in by_id and ("r", BidStatus.ACCEPTED) in by_id
    invalid = {b.bid_id: b.reason for b in result.bids if b.status is BidStatus.INVALID}
    assert set(invalid) == {"bad-zone", "bad-price", "s"}
    assert "duplicate bid id" in (invalid["s"] or "")


def test_admission_keeps_stored_sequences_and_numbers_new_bids_after_them() -> None:
    bids = [good("a").model_copy(update={"sequence": 7}), good("b"), good("c")]
    admitted = admit(market(), bids)
    assert [(b.id, b.sequence) for b in admitted.bids] == [("a", 7), ("b", 8), ("c", 9)]


def test_request_becomes_a_buy_bid_whose_schedule_is_the_cleared_quantity() -> None:
    request = Request(id="r", bidder="dso", zone="B", start=T0, quantities_kwh=[3.0, 4.0], limit_price=0.4)
    bid = request_to_bid(request)
    assert bid.side is Side.BUY and bid.linear_price == 0.4 and bid.bid_zone == "B"
    assert check_schedule(bid.offer, Schedule(start=T0, energy=[3.0, 4.0])) == []


def test_one_sided_market_allows_several_bids_of_its_one_buyer() -> None:
    m = market(mode=ClearingMode.ONE_SIDED, zones=["A"])
    bids = [quantity_bid("b1", Side.BUY, T0, [1.0], 0.5, zone="A", bidder="dso"),
            quantity_bid("b2", Side.BUY, T0, [1.0], 0.5, zone="A", bidder="dso")]
    assert admit(m, bids).rejected == {}


def test_outcomes_move_the_offer_through_the_flexoffer_lifecycle() -> None:
    book = OrderBook(market=market(), bids=[good("s", Side.SELL, 0.1), good("dear", Side.SELL, 0.9),
                                            good("b", Side.BUY, 0.5)])
    result = clear(book)
    now = GATE - timedelta(minutes=5)
    won = offer_outcome(book.bids[0].offer, result.bid("s"), now)
    assert won.state is OfferState.ASSIGNED and won.schedule == result.bid("s").schedule
    lost = offer_outcome(book.bids[1].offer, result.bid("dear"), now)
    assert lost.state is OfferState.REJECTED and lost.schedule is None


def test_canonical_json_is_stable_and_has_no_negative_zero() -> None:
    book = OrderBook(market=market(), bids=[good("s", Side.SELL, 0.1), good("b", Side.BUY, 0.5)])
    text = canonical_json(clear(book))
    assert text == canonical_json(clear(OrderBook.model_validate_json(book.model_dump_json())))
    assert "-0.0," not in text and ": " not in text
