"""Property tests: the codec loses nothing, in either dialect, on any native offer."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.flexoffer.codec import dumps, loads
from adapters.flexoffer.decode import decode_offer, split_offers
from adapters.flexoffer.typed import typed_items
from adapters.flexoffer.wire import MEMO, PASSTHROUGH_KEYS, SLICES, XOR_SLICES
from core.flexoffer.model import FlexOffer
from tests.adapters.flexoffer.strategies import flex_offers

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(offers=st.lists(flex_offers(), min_size=1, max_size=3), dialect=st.sampled_from(["aau", "inea"]))
def test_loads_inverts_dumps(offers: list[FlexOffer], dialect: str) -> None:
    assert loads(dumps(offers, dialect)) == offers  # type: ignore[arg-type]


@SETTINGS
@given(offer=flex_offers(), dialect=st.sampled_from(["aau", "inea"]))
def test_single_offer_and_envelope(offer: FlexOffer, dialect: str) -> None:
    assert loads(dumps(offer, dialect)) == [offer]  # type: ignore[arg-type]
    assert loads(dumps([offer], dialect, envelope=True)) == [offer]  # type: ignore[arg-type]


@SETTINGS
@given(offer=flex_offers(), dialect=st.sampled_from(["aau", "inea"]))
def test_dialects_convert_into_each_other(offer: FlexOffer, dialect: str) -> None:
    other = "inea" if dialect == "aau" else "aau"
    through_other = loads(dumps(loads(dumps(offer, dialect)), other))  # type: ignore[arg-type]
    assert through_other == [offer]


@SETTINGS
@given(offer=flex_offers(), dialect=st.sampled_from(["aau", "inea"]))
def test_general_slice_reader_agrees_with_the_fast_one(offer: FlexOffer, dialect: str) -> None:
    """A vendor field in every slice forces the per-slice reader; the model must not change."""
    document = orjson.loads(dumps(offer, dialect))  # type: ignore[arg-type]
    for profile in [document[SLICES], *document.get(XOR_SLICES, [])]:
        for i, item in enumerate(profile):
            item["vendorSliceNote"] = f"slice {i}"
    (slow,) = loads(orjson.dumps(document))
    assert slow.model_copy(update={"extra": offer.extra}) == offer
    assert slow.extra[MEMO]["nested"][f"{SLICES}[0]"] == {"vendorSliceNote": "slice 0"}
    # ...and the vendor fields come back out where they were.
    again = orjson.loads(dumps(slow, dialect))  # type: ignore[arg-type]
    assert [s["vendorSliceNote"] for s in again[SLICES]] == [f"slice {i}" for i in range(len(again[SLICES]))]


def _general_reader(text: bytes) -> list[FlexOffer]:
    return [
        decode_offer(obj, path, strict=False, warnings=[])
        for path, obj in split_offers(orjson.loads(text), strict=False, warnings=[])
    ]


@SETTINGS
@given(offers=st.lists(flex_offers(), min_size=1, max_size=3), dialect=st.sampled_from(["aau", "inea"]))
def test_typed_reader_agrees_with_the_general_reader(offers: list[FlexOffer], dialect: str) -> None:
    text = dumps(offers, dialect).encode()  # type: ignore[arg-type]
    assert _general_reader(text) == offers
    plain = all(o.extra.keys() <= PASSTHROUGH_KEYS and None not in o.extra.values() for o in offers)
    typed = typed_items(text)
    assert (typed is not None) == plain
    assert loads(text) == offers


def test_typed_reader_hands_unusual_profiles_to_the_general_reader() -> None:
    document = {
        "startAfterTime": "2020-02-27T20:00:00Z",
        SLICES: [
            {"minDuration": 2, "energyConstraintList": [{"lower": 0, "upper": 1}]},
            {"energyConstraintList": [{"lower": 0, "upper": 2}], "tariffConstraint": {"maxTariff": 0.2}},
        ],
    }
    text = orjson.dumps([document])
    typed = typed_items(text)
    assert typed is not None and typed[0][2] is None  # the per-offer fallback, not the typed columns
    (offer,) = loads(text)
    assert offer == _general_reader(text)[0]
    assert offer.profile.min_duration == [2, 1] and offer.profile.tariff_upper == [None, 0.2]
