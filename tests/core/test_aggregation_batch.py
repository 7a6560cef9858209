"""The columnar batch: conversion to and from pydantic offers, and its edge cases."""

from __future__ import annotations

import copy
import pickle
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from core.flexoffer import Aggregate, FlexOffer, FlexOfferBatch, Profile, aggregate
from tests.core.strategies import T0, offer_lists


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=offer_lists(max_size=8, tariffs=None, baseline=None))
def test_rows_convert_back_to_the_same_offers(offers: list[FlexOffer]) -> None:
    batch, rest = FlexOfferBatch.from_offers(offers)
    assert rest == []
    assert len(batch) == len(offers)
    for i, original in enumerate(offers):
        again = batch.offer(i)
        assert again.model_dump(exclude={"total_energy"}) == original.model_dump(exclude={"total_energy"})
        assert again.total_energy == original.total_energy


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=offer_lists(max_size=5, tariffs=None), second=offer_lists(max_size=5, max_slices=2))
def test_concat_pads_narrow_profiles_with_zero_slices(first: list[FlexOffer], second: list[FlexOffer]) -> None:
    a, _ = FlexOfferBatch.from_offers(first)
    b, _ = FlexOfferBatch.from_offers([o.model_copy(update={"id": f"b{o.id}"}) for o in second])
    both = FlexOfferBatch.concat([a, b])
    assert len(both) == len(a) + len(b)
    assert both.width == max(a.width, b.width)
    for i in range(len(both)):
        k = int(both.length[i])
        assert (both.lower[i, k:] == 0).all() and (both.upper[i, k:] == 0).all()
    assert [both.offer(i).profile for i in range(len(a))] == [a.offer(i).profile for i in range(len(a))]


def test_start_window_is_rounded_inwards_onto_the_grid() -> None:
    offer = FlexOffer(
        id="x",
        earliest_start=T0 + timedelta(minutes=5),
        latest_start=T0 + timedelta(minutes=40),
        profile=Profile(energy_lower=[0], energy_upper=[1]),
    )
    batch, rest = FlexOfferBatch.from_offers([offer])
    assert rest == []
    assert batch.offer(0).earliest_start == T0 + timedelta(minutes=15)
    assert batch.offer(0).latest_start == T0 + timedelta(minutes=30)
    no_grid_start = offer.model_copy(update={"latest_start": T0 + timedelta(minutes=10)})
    batch, rest = FlexOfferBatch.from_offers([no_grid_start])
    assert len(batch) == 0 and rest == [no_grid_start]


def test_arrays_with_impossible_rows_are_refused() -> None:
    batch = FlexOfferBatch.from_arrays(
        ids=["ok", "nan", "crossed"],
        lower=np.array([[0.0, 0.0], [np.nan, 0.0], [2.0, 0.0]]),
        upper=np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),
        earliest=np.array([0, 0, 0]),
        latest=np.array([4, 4, 4]),
    )
    with pytest.raises(ValueError, match="2 offers admit no schedule") as info:
        aggregate(batch)
    assert "nan" in str(info.value) and "crossed" in str(info.value)


def test_member_ids_are_built_on_first_access_and_aggregates_stay_immutable() -> None:
    batch = FlexOfferBatch.from_arrays(
        ids=["c", "a", "b"],
        lower=np.zeros((3, 2)),
        upper=np.ones((3, 2)),
        earliest=np.zeros(3, dtype=np.int64),
        latest=np.zeros(3, dtype=np.int64),
    )
    (agg,) = aggregate(batch)
    assert agg.rows is not None and agg.source is batch
    assert agg.members == ["a", "b", "c"]  # member order: id, as the rows say
    assert agg.members is agg.members  # built once
    assert "members=['a', 'b', 'c']" in repr(agg)
    with pytest.raises(AttributeError):
        agg.offer = agg.offer  # type: ignore[misc]
    with pytest.raises(ValueError, match="member ids or the rows"):
        Aggregate(offer=agg.offer)
    again = pickle.loads(pickle.dumps(agg))
    assert again.members == agg.members and again.offer == agg.offer and (again.rows == agg.rows).all()
    assert copy.deepcopy(agg).members == ["a", "b", "c"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offers=offer_lists(max_size=8, tariffs=None, baseline=None))
def test_aggregate_offers_are_the_objects_model_construct_would_build(offers: list[FlexOffer]) -> None:
    """Aggregate offers skip pydantic's model_construct; they must not differ from its result
    in anything (field values and their order, fields set, extra and private state), and
    must pass full validation unchanged."""
    for agg in aggregate(offers):
        if agg.single is not None:
            continue
        built = [agg.offer, agg.offer.profile, agg.offer.total_energy]
        for model in built:
            assert model is not None
            again = type(model).model_construct(set(model.model_fields_set), **model.__dict__)
            assert list(model.__dict__.items()) == list(again.__dict__.items())
            assert model.model_fields_set == again.model_fields_set
            assert (model.__pydantic_extra__, model.__pydantic_private__) == (
                again.__pydantic_extra__, again.__pydantic_private__)
        assert FlexOffer.model_validate(agg.offer.model_dump()) == agg.offer


def test_fixed_width_id_text_equals_astype_str() -> None:
    """Ids are converted at a width guessed from a sample; an id longer than any sampled one
    (or a non-str id) must give exactly what ``astype(str)`` gives."""
    from core.flexoffer.aggregation import _fixed_width_text

    short = np.array([f"o{i}" for i in range(5000)], dtype=object)
    cases = [short, short.copy(), np.array([None, 7, "x"], dtype=object), np.array([], dtype=object)]
    cases[1][1] = "a-much-longer-id-than-any-in-the-sample"  # row 1 is not in the sample
    for ids in cases:
        text = _fixed_width_text(ids)
        assert text.tolist() == ids.astype(str).tolist()
        assert (np.argsort(text, kind="stable") == np.argsort(ids.astype(str), kind="stable")).all()
