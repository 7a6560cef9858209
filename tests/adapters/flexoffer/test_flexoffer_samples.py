"""Real-world-shaped samples (GOFLEX FMAN, INEA, canonical AAU) through the codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.flexoffer.codec import dumps, loads, loads_with_warnings
from adapters.flexoffer.wire import parse_duration, parse_time
from core.flexoffer import OfferState, validate_offer

SAMPLES = Path(__file__).parent / "samples"
GOOD = sorted(SAMPLES.glob("*.json"))
DIALECT_OF = {"inea_heat_pump.json": "inea", "inea_pv_curtailment_list.json": "inea"}


def _dialect(path: Path) -> str:
    return DIALECT_OF.get(path.name, "aau")


def _same_value(key: str, original: Any, written: Any, where: str) -> None:
    """Values may change spelling (numbers given as strings, ``+0000`` offsets) but not meaning."""
    if isinstance(original, dict):
        assert isinstance(written, dict), where
        for k, v in original.items():
            assert k in written, f"{where}.{k} lost"
            _same_value(k, v, written[k], f"{where}.{k}")
    elif isinstance(original, list):
        assert isinstance(written, list) and len(written) == len(original), where
        for i, (a, b) in enumerate(zip(original, written, strict=True)):
            _same_value(key, a, b, f"{where}[{i}]")
    elif key.endswith("Time") and isinstance(original, str):
        assert parse_time(original, where) == parse_time(written, where), where
    elif key == "state":
        assert str(original).lower() == str(written).lower(), where
    elif key in ("startBeforeDuration",):
        assert parse_duration(original, where) == parse_duration(written, where), where
    elif isinstance(original, str) and not isinstance(written, str):
        assert float(original) == float(written), where
    elif isinstance(original, int | float) and not isinstance(original, bool):
        assert float(str(written)) == float(original), where
    else:
        assert original == written, where


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_sample_is_valid_and_written_back_with_every_field(path: Path) -> None:
    text = path.read_bytes()
    offers = loads(text)
    assert offers and all(validate_offer(o) == [] for o in offers)
    written = dumps(offers, _dialect(path))  # type: ignore[arg-type]
    original = orjson.loads(text)
    if isinstance(original, dict) and "flexOffer" in original:
        original = original["flexOffer"]
    if isinstance(original, dict):
        original = [original]
    _same_value("$", original, orjson.loads(written), "$")
    assert loads(written) == offers


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_sample_survives_the_other_dialect(path: Path) -> None:
    offers = loads(path.read_bytes())
    other = "aau" if _dialect(path) == "inea" else "inea"
    assert loads(dumps(offers, other)) == offers  # type: ignore[arg-type]


def test_fman_assigned_offer_maps_every_field() -> None:
    (offer,) = loads((SAMPLES / "fman_ev_assigned.json").read_bytes())
    assert offer.state is OfferState.ASSIGNED
    assert offer.accept_before == datetime(2019, 4, 2, 16, 0, tzinfo=UTC)
    assert offer.assignment_before == datetime(2019, 4, 2, 16, 30, tzinfo=UTC)
    assert offer.earliest_start == datetime(2019, 4, 2, 16, 0, tzinfo=UTC)
    assert offer.latest_start == datetime(2019, 4, 2, 18, 0, tzinfo=UTC)
    assert offer.creation_time == datetime(2019, 4, 2, 15, 45, tzinfo=UTC)
    assert offer.profile.energy_upper == [5, 5, 4.76, 0]
    assert offer.profile.tariff_lower == [0.03, 0.03, 0.03, 0]
    assert offer.profile.tariff_upper == [0.15, 0.15, 0.15, 0]
    assert offer.extra["locationId"] == {"userLocation": {"longitude": 9.990595, "latitude": 57.012293}}
    assert offer.location_id is not None and "userLocation" in offer.location_id
    assert offer.extra["assignment"] == "obligatory"
    assert offer.extra["flexOfferTariffConstraint"]["tariffSlices"][0]["duration"] == 3
    assert offer.default_schedule is not None and offer.default_schedule.energy == [2, 3, 3, 0]
    assert offer.default_schedule.prices == [0.05, 0.05, 0.05, 0]
    schedule = offer.schedule
    assert schedule is not None
    assert (schedule.schedule_id, schedule.update_id) == ("12345", 1)
    assert schedule.start == datetime(2019, 4, 2, 17, 0, tzinfo=UTC)
    written = orjson.loads(dumps(offer))
    assert written["flexOfferSchedule"]["scheduleId"] == 12345  # an integer, as FMAN declares it
    assert written["acceptanceBeforeInterval"] == 1726912


def test_envelope_with_messy_fields() -> None:
    offers, warnings = loads_with_warnings((SAMPLES / "fman_envelope_initial.json").read_bytes())
    assert warnings == []
    first, second = offers
    assert first.id is None and first.state is OfferState.INITIAL
    assert first.accept_before == datetime(2020, 2, 27, 20, 0, tzinfo=UTC)  # interval 1758704 x 900 s
    assert first.profile.energy_lower == [0.35, 0.1, 0.45]
    assert first.profile.max_duration == [1, 2, 1]
    assert first.extra["label"] == "dishwasher"
    assert first.location_id == "DK1-aalborg-feeder-07"
    assert first.schedule is None
    assert second.state is OfferState.OFFERED
    assert second.total_energy is not None and (second.total_energy.lower, second.total_energy.upper) == (10, 14)
    assert "flexOfferSchedule" in orjson.loads(dumps(first))  # the explicit null is kept


def test_inea_production_sign_is_turned_into_load_convention() -> None:
    (offer,) = loads((SAMPLES / "inea_heat_pump.json").read_bytes())
    # lowerBound -1.2 .. upperBound -0.4 of production is 0.4 .. 1.2 kWh of consumption.
    assert offer.profile.energy_lower[0] == pytest.approx(0.4)
    assert offer.profile.energy_upper[0] == pytest.approx(1.2)
    assert offer.profile.energy_lower[3] == 0 and offer.profile.energy_upper[3] == pytest.approx(0.8)
    assert offer.default_schedule is not None and offer.default_schedule.energy == [0.8, 0.8, 0.6, 0.4]
    assert offer.id == "90215" and offer.offered_by == "317"
    as_aau = orjson.loads(dumps(offer, "aau"))
    assert as_aau["flexOfferProfileConstraints"][0]["energyConstraintList"] == [{"lower": 0.4, "upper": 1.2}]


def test_inea_intervals_and_totals() -> None:
    (offer,), warnings = loads_with_warnings((SAMPLES / "inea_pv_curtailment_list.json").read_bytes())
    assert offer.interval_seconds == 1800
    assert offer.earliest_start == datetime(2020, 2, 25, 14, 0, tzinfo=UTC)
    assert offer.latest_start == offer.earliest_start + timedelta(hours=1)
    assert offer.total_energy is not None and (offer.total_energy.lower, offer.total_energy.upper) == (-5.0, -1.0)
    assert offer.profile.energy_lower == [-2.5, -2.8]
    assert offer.extra["meterSerial"] == "INEA-M-000177"
    assert warnings == ["$[0]: unknown field(s) meterSerial kept and passed through"]


def test_canonical_sample_carries_every_constraint_kind() -> None:
    (offer,) = loads((SAMPLES / "aau_battery_all_constraints.json").read_bytes())
    assert len(offer.xor_profiles) == 1 and offer.xor_profiles[0].min_duration == [2, 1, 1]
    assert [r.coefficients for r in offer.polytope] == [[1, 1, 0], [-1, -1, -1]]
    assert offer.start_before_duration == timedelta(hours=5)
    assert offer.profile.tariff_upper == [0.3, 0.3, None]
    assert offer.zone == "NL"
    assert offer.schedule is not None and offer.schedule.profile_index == 0
    assert offer.schedule.prices == [0.1, 0.1, 0.2]
