"""ReserveBid ⇄ flex-offer mapping: signs, units, resolutions, divisibility, prices, links."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.cim.codec import CimError, loads
from core.flexoffer.checks import check_schedule
from core.flexoffer.model import Schedule

SAMPLES = Path(__file__).parent / "samples"


def offers_by_id(name: str) -> dict:
    return {o.id: o for o in loads((SAMPLES / name).read_bytes()).offers}


def test_up_bid_in_mw_is_negative_kwh_with_minimum_as_xor_zero() -> None:
    offer = offers_by_id("mfrr_bid_v7_4.xml")["BID-UP-0001"]
    # 25 MW for 15 min = 6250 kWh of less consumption; minimum 10 MW = 2500 kWh.
    assert offer.interval_seconds == 900
    assert offer.profile.energy_lower == [-6250.0, -6250.0, -5000.0, -5000.0]
    assert offer.profile.energy_upper == [-2500.0] * 4
    assert [p.energy_upper for p in offer.xor_profiles] == [[0.0] * 4]
    assert offer.profile.tariff_lower == pytest.approx([0.0855, 0.0855, 0.09, 0.09])
    assert offer.location_id == "NOKG00123" and offer.zone == "10YNO-1--------2"
    series = offer.extra["cim"]["series"]
    assert series["minimum_ConstraintDuration.duration"] == "PT15M"
    assert series["maximum_ConstraintDuration.duration"] == "PT60M"
    # The offer allows "not activated" and any activation between the minimum and the bid.
    start = offer.earliest_start
    assert check_schedule(offer, Schedule(start=start, energy=[0.0] * 4)) == []
    assert check_schedule(offer, Schedule(start=start, energy=[-3000.0, -6250.0, -5000.0, -2500.0])) == []
    assert check_schedule(offer, Schedule(start=start, energy=[-1000.0, -1000.0, -1000.0, -1000.0])) != []


def test_down_bid_is_positive_and_indivisible_means_all_or_nothing() -> None:
    offer = offers_by_id("mfrr_bid_v7_4.xml")["BID-DOWN-0002"]
    assert offer.profile.energy_lower == offer.profile.energy_upper == [1250.0]
    start = offer.earliest_start
    assert check_schedule(offer, Schedule(start=start, energy=[1250.0])) == []
    assert check_schedule(offer, Schedule(start=start, energy=[0.0])) == []
    assert check_schedule(offer, Schedule(start=start, energy=[600.0])) != []
    assert offer.profile.tariff_lower == [-0.01225]


def test_kilowatt_block_bid_at_pt30m_and_linked_bids_are_kept() -> None:
    offers = offers_by_id("mfrr_bid_v7_4.xml")
    block = offers["BID-LINK-0004"]
    assert block.interval_seconds == 1800
    assert block.profile.energy_lower == [-400.0, -400.0]  # 800 kW for 30 min
    assert block.xor_profiles
    links = offers["BID-LINK-0003"].extra["cim"]["series"]["Linked_BidTimeSeries"]
    assert links == [{"mRID": "BID-LINK-0004", "status": {"value": "A55"}}]


def test_hourly_kw_bids_of_version_7_2_use_the_old_unit_element() -> None:
    offers = offers_by_id("afrr_bid_v7_2.xml")
    up, down = offers["AFRR-UP-1"], offers["AFRR-DOWN-1"]
    assert up.interval_seconds == 3600
    assert up.profile.energy_lower == [-1500.0, -1500.0, -1200.0]
    assert up.profile.energy_upper == [0.0, 0.0, 0.0] and not up.xor_profiles
    assert down.profile.energy_lower == down.profile.energy_upper == [900.0] * 3
    assert up.extra["cim"]["series"]["linkedBidsIdentification"] == "AFRR-PAIR-1"


def test_need_prices_are_the_buyers_ceiling() -> None:
    data = (
        (SAMPLES / "afrr_bid_v7_2.xml")
        .read_bytes()
        .replace(b"<businessType>B74</businessType>", b"<businessType>B75</businessType>", 1)
    )
    need = loads(data).offers[0]
    assert need.profile.tariff_upper == pytest.approx([0.0124, 0.0119, 0.0119])
    assert need.profile.tariff_lower is None


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"<quantity_Measure_Unit.name>KWT<", b"<quantity_Measure_Unit.name>MWH<", "unit"),
        (b"<resolution>PT60M</resolution>", b"<resolution>PT45M</resolution>", "resolution"),
        (b"<flowDirection.direction>A01<", b"<flowDirection.direction>A03<", "flowDirection"),
        (b"<quantity.quantity>1500<", b"<quantity.quantity>-1500<", "signed"),
    ],
)
def test_bids_the_model_cannot_express_are_refused(old: bytes, new: bytes, reason: str) -> None:
    data = (SAMPLES / "afrr_bid_v7_2.xml").read_bytes().replace(old, new, 1)
    with pytest.raises(CimError, match=reason):
        loads(data)
