"""Messy real-world input, strictness, and the errors the codec gives for bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from adapters.flexoffer.codec import CodecError, decode_each, dumps, loads, loads_with_warnings
from adapters.flexoffer.wire import MEMO
from core.flexoffer import OfferState

START = "2020-02-27T20:00:00.000+0000"


def offer(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "startAfterTime": START,
        "flexOfferProfileConstraints": [{"energyConstraintList": [{"lower": 0, "upper": 1}]}],
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def one(doc: Any, **kwargs: Any) -> Any:
    (result,) = loads(orjson.dumps(doc), **kwargs)
    return result


@pytest.mark.parametrize("name", ["Initial", "INITIAL", "initial", " iNiTiAl "])
def test_state_in_any_letter_case(name: str) -> None:
    assert one(offer(state=name)).state is OfferState.INITIAL


@pytest.mark.parametrize(
    "stamp",
    [
        "2020-02-27T20:00:00.000+0000",
        "2020-02-27T20:00:00Z",
        "2020-02-27T21:00:00+01:00",
        "2020-02-27T20:00:00",
        1582833600000,
    ],
)
def test_timestamp_forms(stamp: Any) -> None:
    assert one(offer(startAfterTime=stamp)).earliest_start == datetime(2020, 2, 27, 20, 0, tzinfo=UTC)


def test_interval_forms_use_num_seconds_per_interval() -> None:
    doc = offer(
        startAfterTime=...,
        numSecondsPerInterval=3600,
        startAfterInterval=439676,
        startBeforeInterval="439678",
        acceptanceBeforeInterval=439675,
        assignmentBeforeInterval=439675,
        creationInterval=439674,
    )
    got = one(doc)
    assert got.earliest_start == datetime(2020, 2, 27, 20, 0, tzinfo=UTC)
    assert got.latest_start == datetime(2020, 2, 27, 22, 0, tzinfo=UTC)
    assert got.accept_before == got.assignment_before == datetime(2020, 2, 27, 19, 0, tzinfo=UTC)
    assert got.creation_time == datetime(2020, 2, 27, 18, 0, tzinfo=UTC)
    written = orjson.loads(dumps(got))
    assert written["startAfterInterval"] == 439676 and "startAfterTime" not in written


def test_interval_and_time_must_agree() -> None:
    with pytest.raises(CodecError, match=r"\$\.startAfterInterval: .*contradicts startAfterTime"):
        one(offer(startAfterInterval=1))


@pytest.mark.parametrize(
    ("wire", "span"),
    [
        ("PT2H", timedelta(hours=2)),
        ("P1DT30M", timedelta(days=1, minutes=30)),
        (5400, timedelta(minutes=90)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("-PT15M", timedelta(minutes=-15)),
        ("3600", timedelta(hours=1)),
    ],
)
def test_start_before_duration(wire: Any, span: timedelta) -> None:
    got = one(offer(startBeforeDuration=wire))
    assert got.start_before_duration == span
    assert loads(dumps(got)) == [got]


def test_id_null_absent_or_number() -> None:
    assert one(offer(id=None)).id is None
    assert one(offer()).id is None
    assert one(offer(id=17)).id == "17"


def test_start_after_defaults_to_creation_time() -> None:
    got = one(offer(startAfterTime=..., creationTime=START))
    assert got.earliest_start == got.creation_time


def test_location_as_string_or_object() -> None:
    assert one(offer(locationId="feeder-7")).location_id == "feeder-7"
    geo = {"userLocation": {"longitude": 9.99, "latitude": 57.01}}
    got = one(offer(locationId=geo))
    assert got.extra["locationId"] == geo and got.location_id
    assert orjson.loads(dumps(got))["locationId"] == geo
    # A location changed inside the hub wins over the stale object.
    moved = got.model_copy(update={"location_id": "feeder-9"})
    assert orjson.loads(dumps(moved))["locationId"] == "feeder-9"


def test_numbers_as_strings() -> None:
    got = one(
        offer(
            numSecondsPerInterval="900",
            totalEnergyConstraint={"lower": "0.5", "upper": "1"},
            flexOfferProfileConstraints=[
                {
                    "minDuration": "1",
                    "maxDuration": "2",
                    "energyConstraintList": [{"lower": "0.25", "upper": "1e0"}],
                    "tariffConstraint": {"minTariff": "0.1", "maxTariff": "0.2"},
                }
            ],
            defaultSchedule={"startTime": START, "energyAmounts": ["0.5"], "updateId": "3"},
        )
    )
    assert got.profile.energy_lower == [0.25] and got.profile.energy_upper == [1.0]
    assert got.profile.max_duration == [2] and got.profile.tariff_upper == [0.2]
    assert got.total_energy.lower == 0.5
    assert got.default_schedule.energy == [0.5] and got.default_schedule.update_id == 3


def test_inea_strings_are_negated_too() -> None:
    got = one(offer(flexOfferProfileConstraints=[{"energyConstraintList": [{"lowerBound": "-2", "upperBound": "1"}]}]))
    assert (got.profile.energy_lower, got.profile.energy_upper) == ([-1.0], [2.0])


def test_spec_price_constraint_and_schedule_slices_are_read() -> None:
    got = one(
        offer(
            flexOfferProfileConstraints=[
                {
                    "energyConstraintList": [{"lower": 0, "upper": 5}],
                    "priceConstraint": {"minPrice": 0.03, "maxPrice": 0.15},
                }
            ],
            flexOfferSchedule={
                "scheduleId": 3,
                "startTime": START,
                "scheduleSlices": [{"duration": 1, "energyAmount": 2, "price": 0.5}],
            },
        )
    )
    assert (got.profile.tariff_lower, got.profile.tariff_upper) == ([0.03], [0.15])
    assert got.schedule.energy == [2] and got.schedule.prices == [0.5] and got.schedule.durations == [1]
    assert orjson.loads(dumps(got))["flexOfferSchedule"]["scheduleSlices"] == [
        {"energyAmount": 2.0, "duration": 1, "price": 0.5}
    ]


def test_unknown_fields_are_kept_and_reported() -> None:
    doc = offer(label="ev-charger", vendorScore=7)
    doc["flexOfferProfileConstraints"][0]["phases"] = "L1"
    offers, warnings = loads_with_warnings(orjson.dumps([doc]))
    (got,) = offers
    assert got.extra["label"] == "ev-charger" and got.extra["vendorScore"] == 7
    assert warnings == [
        "$[0]: unknown field(s) vendorScore kept and passed through",
        "$[0].flexOfferProfileConstraints[0]: unknown field(s) phases kept and passed through",
    ]
    written = orjson.loads(dumps(got))
    assert written["vendorScore"] == 7 and written["label"] == "ev-charger"
    assert written["flexOfferProfileConstraints"][0]["phases"] == "L1"


def test_strict_rejects_unknown_fields_but_accepts_known_vendor_ones() -> None:
    assert one(offer(label="x", assignment="obligatory"), strict=True).extra == {
        "label": "x",
        "assignment": "obligatory",
    }
    with pytest.raises(CodecError, match=r"^\$: unknown field\(s\) vendorScore$"):
        one(offer(vendorScore=1), strict=True)
    nested = offer()
    nested["flexOfferProfileConstraints"][0]["energyConstraintList"][0]["phase"] = 1
    with pytest.raises(CodecError, match=r"flexOfferProfileConstraints\[0\]\.energyConstraintList\[0\]: unknown"):
        one(nested, strict=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'{"startAfterTime": ', r"^\$: malformed JSON"),
        (b"", r"^\$: malformed JSON"),
        (b'"just a string"', r"^\$: expected a flex-offer object"),
        (b"[1]", r"^\$\[0\]: a flex-offer must be a JSON object, got number"),
        (orjson.dumps(offer(flexOfferProfileConstraints=[])), r"flexOfferProfileConstraints: has no slices"),
        (orjson.dumps(offer(flexOfferProfileConstraints=...)), r"flexOfferProfileConstraints: is required"),
        (orjson.dumps(offer(startAfterTime=...)), r"startAfterTime .* is required"),
        (orjson.dumps(offer(state="pending")), r"\$\.state: unknown state 'pending'"),
        (orjson.dumps(offer(numSecondsPerInterval=7)), r"interval_seconds.*divisor of 3600"),
        (orjson.dumps(offer(numSecondsPerInterval=True)), r"numSecondsPerInterval: expected an integer"),
        (
            orjson.dumps(offer(flexOfferProfileConstraints=[{"energyConstraintList": [{"lower": "x", "upper": 1}]}])),
            r"flexOfferProfileConstraints\[0\]\.energyConstraintList\[0\]\.lower: ",
        ),
        (
            orjson.dumps(offer(flexOfferProfileConstraints=[{"energyConstraintList": [{"lower": 0}]}])),
            r"energyConstraintList\[0\]\.upper: is required",
        ),
        (
            orjson.dumps(
                offer(
                    flexOfferProfileConstraints=[
                        {"minDuration": 1.5, "energyConstraintList": [{"lower": 0, "upper": 1}]}
                    ]
                )
            ),
            r"flexOfferProfileConstraints\[0\]\.minDuration: ",
        ),
        (
            orjson.dumps(
                offer(
                    flexOfferProfileConstraints=[
                        {"energyConstraintList": [{"lower": 0, "upper": 1}]},
                        {"energyConstraintList": [{"lowerBound": 0, "upperBound": 1}]},
                    ]
                )
            ),
            r"mixes AAU lower/upper and INEA",
        ),
        (orjson.dumps(offer(defaultSchedule={"energyAmounts": [1]})), r"defaultSchedule\.startTime: is required"),
        (
            orjson.dumps(offer(defaultSchedule={"startTime": START, "energyAmounts": ["a"]})),
            r"defaultSchedule\.energyAmounts\[0\]: ",
        ),
        (orjson.dumps(offer(totalEnergyConstraint=[1, 2])), r"totalEnergyConstraint: expected an object"),
        (orjson.dumps({"flexOffer": [offer(), offer(startAfterTime="soon")]}), r"^\$\.flexOffer\[1\]\.startAfterTime"),
        (
            orjson.dumps(offer(flexOfferProfileConstraints=[{"energyConstraintList": [{"lower": 0, "upper": "NaN"}]}])),
            r"flexOfferProfileConstraints\[0\]\.energyConstraintList\[0\]\.upper: must be a finite number",
        ),
        (
            orjson.dumps(
                offer(flexOfferProfileConstraints=[{"energyConstraintList": [{"lowerBound": "-inf", "upperBound": 1}]}])
            ),
            r"flexOfferProfileConstraints\[0\]\.energyConstraintList\[0\]\.lowerBound: must be a finite number",
        ),
        (
            orjson.dumps(offer(totalEnergyConstraint={"lower": "nan", "upper": 1})),
            r"totalEnergyConstraint\.lower: must be a finite",
        ),
        (
            orjson.dumps(offer(defaultSchedule={"startTime": START, "energyAmounts": [0, "Infinity"]})),
            r"defaultSchedule\.energyAmounts\[1\]: must be a finite number",
        ),
    ],
)
def test_bad_input_names_the_path(text: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message) as info:
        loads(text)
    assert isinstance(info.value, ValueError) and info.value.path.startswith("$")


def test_decode_each_isolates_bad_offers() -> None:
    items = decode_each(orjson.dumps([offer(id="a"), offer(id="b", state="nope"), offer(id="c")]))
    assert [i.offer.id if i.offer else None for i in items] == ["a", None, "c"]
    assert items[1].error is not None and items[1].error.path == "$[1].state"


def test_explicit_nulls_and_alternate_names_survive() -> None:
    doc = offer(id=None, flexOfferSchedule=None, acceptanceBeforeTime="2020-02-27T19:00:00Z")
    (got,) = loads(orjson.dumps(doc))
    assert got.accept_before == datetime(2020, 2, 27, 19, 0, tzinfo=UTC)
    written = orjson.loads(dumps(got))
    assert list(written) == list(doc) and written["id"] is None and written["flexOfferSchedule"] is None
    assert loads(dumps(got)) == [got]
    assert MEMO in got.extra and MEMO not in written


def test_memo_is_stable_when_implied_fields_are_absent() -> None:
    doc = offer(startAfterTime=..., creationInterval=1758703, id=None)
    (got,) = loads(orjson.dumps(doc))
    assert got.earliest_start == got.creation_time
    assert orjson.loads(dumps(got)) == {**doc, "creationInterval": 1758703}
    assert loads(dumps(got)) == [got]
    changed = got.model_copy(update={"state": OfferState.OFFERED})
    assert orjson.loads(dumps(changed))["state"] == "Offered"


def test_dumps_rejects_unknown_dialect() -> None:
    with pytest.raises(CodecError, match="unknown dialect"):
        dumps([one(offer())], "xml")  # type: ignore[arg-type]
