"""SunSpec register codec: layouts from pysunspec2, scale factors, model chains."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.modbus import sunspec
from adapters.modbus.sunspec import SunSpecError


def test_layout_offsets_follow_the_sunspec_definitions() -> None:
    # Model 103: W is the 15th register after ID/L (offset 14), WH an acc32 at 24.
    inverter = sunspec.layout(103)
    assert inverter.point("W").offset == 14
    assert inverter.point("WH").size == 2
    assert inverter.fixed_length == 50
    assert sunspec.layout(124).point("InWRte").offset == sunspec.layout(124).point("OutWRte").offset + 1
    with pytest.raises(SunSpecError):
        sunspec.layout(99999)


@given(watts=st.integers(-32767, 32767), sf=st.integers(-3, 3))
@settings(max_examples=60, deadline=None)
def test_signed_points_round_trip_with_scale_factor(watts: int, sf: int) -> None:
    registers = sunspec.build_model(103, {"W": watts, "W_SF": sf})
    assert sunspec.decode(registers, sunspec.layout(103))["W"] == pytest.approx(watts * 10.0**sf)


def test_unimplemented_points_decode_to_none() -> None:
    values = sunspec.decode(sunspec.build_model(103, {"W": 10, "W_SF": 0}), sunspec.layout(103))
    assert values["W"] == 10
    assert values["A"] is None  # never set: 0xFFFF
    assert values["WH"] is None  # accumulators: 0 means not implemented


def test_encode_rejects_values_that_do_not_fit() -> None:
    point = sunspec.layout(103).point("A")  # uint16
    with pytest.raises(SunSpecError):
        sunspec.encode_point(-1, point)
    with pytest.raises(SunSpecError):
        sunspec.encode_point(70000, point)


def test_chain_is_parsed_from_the_marker_to_the_end_model() -> None:
    image = sunspec.build_image([sunspec.build_model(1, {"Mn": "x"}), sunspec.build_model(124, {})])
    chain = sunspec.parse_chain(image)
    assert [m.model_id for m in chain] == [1, 124]
    assert chain[1].address == sunspec.SUNSPEC_BASE + 2 + 68
    assert sunspec.decode(image[2:70], sunspec.layout(1))["Mn"] == "x"


def test_chain_without_marker_or_end_is_an_error() -> None:
    with pytest.raises(SunSpecError):
        sunspec.parse_chain([0, 0, 1, 66])
    with pytest.raises(SunSpecError):
        sunspec.parse_chain(list(sunspec.SUNS_MARKER) + sunspec.build_model(1, {}))
