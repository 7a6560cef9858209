"""The compiled envelope scanner reads exactly what the general codec reads, or declines.

Whatever bytes it accepts must be valid JSON whose offers the codec decodes to the very
values in the scanner's arrays (bit for bit, the sign of zero included), and whose
document parts read back to those values. Anything it is not sure of it declines
(None), never misreads.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adapters.flexoffer import codec
from adapters.flexoffer import scan as sc

pytestmark = pytest.mark.skipif(not sc.available(), reason="the scanner needs numba")


def _bits(values: Any) -> list[int]:
    return [struct.unpack("<q", struct.pack("<d", float(v)))[0] for v in values]


def _agrees(body: bytes, found: sc.ScanResult) -> None:
    """The scanner's arrays and document parts hold what the general codec reads."""
    offers = codec.loads(body)
    assert len(offers) == found.count
    for k, offer in enumerate(offers):
        m = found.meta[k]
        first, count = int(m[sc.M_SLICE_START]), int(m[sc.M_SLICE_COUNT])
        profile = offer.profile
        assert _bits(found.lower[first:first + count]) == _bits(profile.energy_lower)
        assert _bits(found.upper[first:first + count]) == _bits(profile.energy_upper)
        stored = orjson.loads(found.part(k, sc.M_PROFILE_START))
        assert _bits(stored["energy_lower"]) == _bits(profile.energy_lower)
        assert _bits(stored["energy_upper"]) == _bits(profile.energy_upper)
        assert stored.get("min_duration") == profile.min_duration
        assert stored.get("max_duration") == profile.max_duration
        assert found.max_duration[first:first + count].tolist() == profile.max_durations()
        if offer.total_energy is None:
            assert not m[sc.M_HAS_TOTAL]
        else:
            assert _bits(found.totals[k]) == _bits([offer.total_energy.lower, offer.total_energy.upper])
            total = orjson.loads(found.part(k, sc.M_TOTAL_START))
            assert _bits([total["lower"], total["upper"]]) == _bits(found.totals[k])
        if offer.default_schedule is None:
            assert not m[sc.M_HAS_DEFAULT]
        else:
            start, n = int(m[sc.M_ENERGY_START]), int(m[sc.M_ENERGY_COUNT])
            assert _bits(found.energy[start:start + n]) == _bits(offer.default_schedule.energy)
            assert _bits(orjson.loads(found.part(k, sc.M_DEFAULT_START))) == _bits(offer.default_schedule.energy)
        for field, value in ((sc.ID, offer.id), (sc.ZONE, offer.zone), (sc.LOCATION, offer.location_id),
                             (sc.OFFERED_BY, offer.offered_by)):
            assert found.text(k, field) == value


# Number texts in every form JSON allows, including ones past the exact fast path.
_finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30)
_number_text = st.one_of(
    _finite.map(repr).filter(lambda t: "inf" not in t and "e" not in t),
    _finite.map(lambda x: f"{x:.17g}"),
    _finite.map(lambda x: f"{x:.3e}"),
    _finite.map(lambda x: f"{x:.15E}"),
    st.integers(-10**25, 10**25).map(str),
    st.sampled_from(["0", "-0", "0.0", "-0.0", "1E+2", "1e-2", "0.1000000000000000055511151231257827",
                     "9007199254740993", "123456789012345678901234567890", "1.7976931348623157e308",
                     "5e-324", "2.2250738585072014e-308", "0.30000000000000004", "48.099999999999994"]),
)


def _envelope(inea: bool, numbers: list[str], durations: bool, total: bool, default: bool) -> bytes:
    lo, hi = ("lowerBound", "upperBound") if inea else ("lower", "upper")
    slices = []
    for k in range(0, len(numbers) - 1, 2):
        item = f'{{"energyConstraintList":[{{"{lo}":{numbers[k]},"{hi}":{numbers[k + 1]}}}]'
        item += ',"minDuration":1,"maxDuration":2}' if durations else "}"
        slices.append(item)
    parts = ['"startAfterTime":"2030-01-01T00:00:00Z"', f'"flexOfferProfileConstraints":[{",".join(slices)}]']
    if total:
        parts.append(f'"totalEnergyConstraint":{{"{lo}":{numbers[0]},"{hi}":{numbers[-1]}}}')
    if default:
        energies = ",".join(numbers[: len(slices)])
        parts.append(f'"defaultSchedule":{{"startTime":"2030-01-01T00:00:00Z","energyAmounts":[{energies}]}}')
    return ('{"flexOffer":[{' + ",".join(parts) + "}]}").encode()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(inea=st.booleans(), numbers=st.lists(_number_text, min_size=2, max_size=12), durations=st.booleans(),
       total=st.booleans(), default=st.booleans())
def test_numbers_read_exactly_as_the_codec_reads_them(inea: bool, numbers: list[str], durations: bool,
                                                       total: bool, default: bool) -> None:
    body = _envelope(inea, numbers, durations, total, default)
    assume(all(math.isfinite(float(t)) for t in numbers))
    found = sc.scan_envelope(body)
    if found is None:  # it may decline (a number near the double range), never misread
        assert any(abs(float(t)) > 1e299 or 0 < abs(float(t)) < 1e-280 for t in numbers)
        return
    _agrees(body, found)


@st.composite
def _offers(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    lows = draw(st.lists(st.floats(-50, 50).map(lambda x: 0.0 if abs(x) < 1e-200 else x), min_size=n, max_size=n))
    offer: dict[str, Any] = {
        "flexOfferProfileConstraints": [{"energyConstraintList": [{"lower": x, "upper": x + 1}]} for x in lows],
        "startAfterTime": "2030-01-01T00:00:00Z",
    }
    for key, value in (("id", "o-1"), ("zone", "DK1"), ("locationId", "feeder ä"), ("offeredById", "agg"),
                       ("numSecondsPerInterval", 900), ("state", "Initial"),
                       ("totalEnergyConstraint", {"lower": sum(lows), "upper": sum(lows) + n}),
                       ("defaultSchedule", {"startTime": "2030-01-01T00:00:00Z", "energyAmounts": lows})):
        if draw(st.booleans()):
            offer[key] = value
    return offer


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(offers=st.lists(_offers(), min_size=1, max_size=3), indent=st.sampled_from([None, 0, 2]),
       data=st.data())
def test_any_byte_edit_is_declined_or_read_exactly(offers: list[dict[str, Any]], indent: int | None,
                                                    data: st.DataObject) -> None:
    body = json.dumps({"flexOffer": offers}, indent=indent, ensure_ascii=False).encode()
    found = sc.scan_envelope(body)
    assert found is not None  # the plain shape, whitespace or not (it declines only numbers near the double range)
    _agrees(body, found)
    # One random edit: whatever the scanner still accepts must be JSON the codec reads the same.
    at = data.draw(st.integers(0, len(body) - 1))
    edit = data.draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
    byte = bytes([data.draw(st.sampled_from(list(b'{}[]":,.-+eE0123456789 \\\tnull')))])
    edited = {"delete": body[:at] + body[at + 1:], "insert": body[:at] + byte + body[at:],
              "replace": body[:at] + byte + body[at + 1:], "truncate": body[:at]}[edit]
    found = sc.scan_envelope(edited)
    if found is not None:
        orjson.loads(edited)  # valid JSON, or this raises
        try:
            _agrees(edited, found)
        except codec.CodecError as error:
            # The scanner hands timestamps and the state over as text; a bad one makes the
            # ingest decline (ingest_fast parses them, and returns None when it cannot).
            assert error.path.endswith(("Time", ".state")), error


@pytest.mark.parametrize("oddity", [
    '"id":null', '"id":"a\\"b"', '"label":"vendor"', '"numSecondsPerInterval":900.0',
    '"numSecondsPerInterval":"900"', '"zone":"x","zone":"y"',
])
def test_unusual_fields_are_declined(oddity: str) -> None:
    body = ('{"flexOffer":[{' + oddity + ',"startAfterTime":"2030-01-01T00:00:00Z",'
            '"flexOfferProfileConstraints":[{"energyConstraintList":[{"lower":0,"upper":1}]}]}]}').encode()
    assert sc.scan_envelope(body) is None


@pytest.mark.parametrize("slices", [
    '[]',  # no slices
    '[{"energyConstraintList":[{"lower":0,"upper":1}],"minDuration":1},'
    '{"energyConstraintList":[{"lower":0,"upper":1}]}]',  # a partial duration column
    '[{"energyConstraintList":[{"lower":0,"upper":1},{"lower":0,"upper":1}]}]',  # two bounds
    '[{"energyConstraintList":[{"lower":"0","upper":1}]}]',  # a number as a string
    '[{"energyConstraintList":[{"lower":0,"upper":1,"lowerBound":0}]}]',
    '[{"energyConstraintList":[{"lower":01,"upper":1}]}]',  # not JSON
])
def test_unusual_profiles_are_declined(slices: str) -> None:
    body = ('{"flexOffer":[{"startAfterTime":"2030-01-01T00:00:00Z","flexOfferProfileConstraints":'
            + slices + "}]}").encode()
    assert sc.scan_envelope(body) is None


def test_inea_values_are_negated_and_swapped() -> None:
    body = (b'{"flexOffer":[{"startAfterTime":"2030-01-01T00:00:00Z","flexOfferProfileConstraints":'
            b'[{"energyConstraintList":[{"lowerBound":-2,"upperBound":0}]}]}]}')
    found = sc.scan_envelope(body)
    assert found is not None
    assert found.lower.tolist() == [-0.0] and found.upper.tolist() == [2.0]
    assert np.signbit(found.lower[0])  # -(0) is -0.0, as the codec negates it
    assert found.part(0, sc.M_PROFILE_START) == '{"energy_lower":[-0.0],"energy_upper":[2.0]}'
