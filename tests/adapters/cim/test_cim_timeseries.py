"""The shared Period/Point rules, as properties over arbitrary periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.cim.timeseries import (
    Period,
    TimeSeriesError,
    format_decimal,
    format_duration,
    join_periods,
    make_period,
    parse_duration,
)

START = datetime(2024, 3, 31, 0, tzinfo=UTC)
RESOLUTIONS = st.sampled_from([timedelta(minutes=15), timedelta(minutes=30), timedelta(minutes=60)])


@settings(max_examples=60, deadline=None)
@given(resolution=RESOLUTIONS, values=st.lists(st.integers(0, 10**6), min_size=1, max_size=100))
def test_a_made_period_obeys_every_rule(resolution: timedelta, values: list[int]) -> None:
    period = make_period(START, resolution, {"quantity": [str(v) for v in values]})
    assert period.problems() == []
    assert period.slot_count() == len(values)
    assert parse_duration(format_duration(resolution)) == resolution


@settings(max_examples=60, deadline=None)
@given(resolution=RESOLUTIONS, values=st.lists(st.integers(0, 99), min_size=2, max_size=50), data=st.data())
def test_dropping_a_point_is_always_caught(resolution: timedelta, values: list[int], data: st.DataObject) -> None:
    period = make_period(START, resolution, {"quantity": values})
    drop = data.draw(st.integers(0, len(values) - 1))
    del period.positions[drop]
    del period.columns["quantity"][drop]
    codes = {code for code, _ in period.problems()}
    assert "A42" in codes  # one point short of timeInterval ÷ resolution
    if drop < len(values) - 1:
        assert "A49" in codes  # and a gap unless the last point went


def test_variable_blocks_repeat_until_the_next_position() -> None:
    period = Period(START, START + timedelta(hours=2), timedelta(minutes=30), [1, 3], {"quantity": ["5", "7"]})
    assert period.problems("A03") == []
    assert period.dense("quantity", "A03") == ["5", "5", "7", "7"]
    bad = Period(START, START + timedelta(hours=1), timedelta(minutes=30), [2, 3], {"quantity": ["5", "7"]})
    assert {c for c, _ in bad.problems("A03")} == {"A49"}


def test_join_renumbers_contiguous_periods_and_refuses_gaps() -> None:
    first = make_period(START, timedelta(minutes=15), {"quantity": ["1", "2"]})
    second = make_period(first.end, timedelta(minutes=15), {"quantity": ["3"]})
    joined = join_periods([first, second])
    assert joined.positions == [1, 2, 3] and joined.columns["quantity"] == ["1", "2", "3"]
    later = make_period(first.end + timedelta(minutes=15), timedelta(minutes=15), {"quantity": ["3"]})
    with pytest.raises(TimeSeriesError):
        join_periods([first, later])


@pytest.mark.parametrize(("value", "text"), [(1e-05, "0.00001"), (-0.0, "0"), (1500.0, "1500"), (12.25, "12.25")])
def test_decimals_never_use_exponents(value: float, text: str) -> None:
    assert format_decimal(value) == text
