"""The envelope fast path must decide exactly as the full per-offer path does.

Ingest screens big submissions with numpy (``gateway.services.offer_screen``) and runs
``validate_offer`` only on the offers the screen cannot clear, and stores rows through
the driver directly on SQLite. These properties hold the fast path to the full one:
the screen never clears an offer the model rejects, it does clear the plain sound
offers (else it would be dead code), and a whole ingest with the screen on or off
answers the same (status, detail, every offer's reasons) and stores byte-identical rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.flexoffer import FlexOffer, OfferState, Profile, Schedule, validate_offer
from core.flexoffer.model import ENERGY_TOLERANCE_KWH, EnergyBounds, LinearConstraint
from gateway.api.problems import ProblemError
from gateway.db.base import make_engine, make_sessionmaker
from gateway.db.flexoffer import flex_offers_table
from gateway.db.migrate import upgrade_heads
from gateway.services import flexoffers as svc
from gateway.services.offer_records import row_values
from gateway.services.offer_screen import certainly_sound
from tests.adapters.flexoffer.strategies import flex_offers

EPS = ENERGY_TOLERANCE_KWH
BEGIN = datetime(2031, 3, 4, tzinfo=UTC)
NOW = datetime(2031, 3, 1, tzinfo=UTC)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

# Values near the checks' edges: exactly at, just inside and just outside the tolerance.
edges = st.sampled_from([0.0, EPS, -EPS, 2 * EPS, -2 * EPS, EPS / 2, 1e-12, -1e-12, 1e-3, -1e-3])
energies = st.floats(-50, 50, allow_nan=False) | st.sampled_from([0.1, 0.2, 0.3, 1.5, 1e-7, -0.0])
odd = st.sampled_from([math.inf, -math.inf, math.nan])


@st.composite
def near_valid_offers(draw: st.DrawFn) -> FlexOffer:
    """Mostly sound, plain offers in which, now and then, one check sits at or just across its limit."""

    def rarely() -> bool:
        return draw(st.integers(0, 9)) == 0

    n = draw(st.integers(1, 8))
    lower = draw(st.lists(energies, min_size=n, max_size=n))
    width = draw(st.lists(st.floats(0, 5) | edges, min_size=n, max_size=n))
    upper = [lo + w for lo, w in zip(lower, width, strict=True)]
    if rarely():
        (lower if draw(st.booleans()) else upper)[draw(st.integers(0, n - 1))] = draw(odd)
    mins = maxs = None
    if draw(st.booleans()):
        mins = draw(st.lists(st.integers(0 if rarely() else 1, 2), min_size=n, max_size=n))
    if draw(st.booleans()):
        base = mins or [1] * n
        maxs = [m + draw(st.integers(-1 if rarely() else 0, 2)) for m in base]
    tariffs = rarely()
    profile = Profile(energy_lower=lower, energy_upper=upper, min_duration=mins, max_duration=maxs,
                      tariff_lower=[0.1] * n if tariffs else None, tariff_upper=[0.2] * n if tariffs else None)
    finite = all(map(math.isfinite, lower + upper))
    total = None
    if draw(st.booleans()):
        low_sum = sum(lower) if finite else 0.0
        high_sum = sum(upper) if finite else 1.0
        total = EnergyBounds(lower=draw(st.sampled_from([low_sum, low_sum - 10, high_sum])) + draw(edges),
                             upper=draw(st.sampled_from([high_sum, high_sum + 10, low_sum])) + draw(edges))
    step = draw(st.sampled_from([900, 3600]))
    span = draw(st.integers(-1 if rarely() else 0, 12))
    latest = None if rarely() else BEGIN + timedelta(seconds=span * step)
    baseline = None
    if draw(st.integers(0, 3)):
        share = draw(st.lists(st.floats(0, 1) | st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
        energy = [lo + s * (hi - lo) if math.isfinite(lo + hi) else 0.0
                  for lo, hi, s in zip(lower, upper, share, strict=True)]
        if rarely():
            energy[draw(st.integers(0, n - 1))] += draw(edges)
        offset = draw(st.integers(-1 if rarely() else 0, max(span, 0) + (1 if rarely() else 0)))
        start = BEGIN + timedelta(seconds=offset * step + (1 if rarely() else 0))
        baseline = Schedule(start=start, energy=energy,
                            durations=(mins or [1] * n) if rarely() else None,
                            profile_index=draw(st.sampled_from([0, 1])) if rarely() else None,
                            prices=[0.15] * n if rarely() else None)
    accept = BEGIN - timedelta(hours=2) if draw(st.booleans()) else None
    return FlexOffer(
        id=f"o-{draw(st.integers(0, 10**9))}",
        state=OfferState.ACCEPTED if rarely() else draw(st.sampled_from([OfferState.INITIAL, OfferState.OFFERED])),
        creation_time=NOW,
        accept_before=accept,
        assignment_before=BEGIN - timedelta(hours=3 if rarely() else 1) if draw(st.booleans()) else None,
        earliest_start=BEGIN,
        latest_start=latest,
        start_before_duration=timedelta(hours=2) if rarely() else None,
        interval_seconds=step,
        profile=profile,
        xor_profiles=[profile] if rarely() else [],
        total_energy=total,
        polytope=[LinearConstraint(coefficients=[1.0] * n, bound=1e9)] if rarely() else [],
        default_schedule=baseline,
        extra=draw(st.sampled_from([{}, {"label": "heat pump"}])),
    )


@given(st.lists(near_valid_offers() | flex_offers(), min_size=1, max_size=12))
@PROPERTY
def test_the_screen_never_clears_an_offer_the_model_rejects(offers: list[FlexOffer]) -> None:
    verdicts = certainly_sound(offers)
    assert len(verdicts) == len(offers)
    for offer, sound in zip(offers, verdicts, strict=True):
        if sound:
            assert validate_offer(offer) == []
        event("screen cleared" if sound else "left to validate_offer")
    # An offer's verdict does not depend on the others of its envelope.
    assert verdicts == [certainly_sound([o])[0] for o in offers]


def _edge_offer(case: str, offset: float) -> FlexOffer:
    """A sound plain offer with one quantity moved to ``offset`` past its check's limit."""
    lower, upper = [0.2, 0.4, 0.1, 0.3], [1.2, 1.4, 1.1, 1.3]
    energy = [0.5, 0.5, 0.5, 0.5]
    total = EnergyBounds(lower=sum(lower) - 1, upper=sum(upper) + 1)
    baseline: Schedule | None = None
    if case == "slice bounds":
        upper[2] = lower[2] - EPS - offset
    elif case == "total upper":
        total = EnergyBounds(lower=0.0, upper=sum(lower) - EPS - offset)
    elif case == "total lower":
        total = EnergyBounds(lower=sum(upper) + EPS + offset, upper=sum(upper) + 5)
    elif case == "baseline above":
        energy[1] = upper[1] + EPS + offset
        baseline = Schedule(start=BEGIN, energy=energy)
    elif case == "baseline below":
        energy[3] = lower[3] - EPS - offset
        baseline = Schedule(start=BEGIN, energy=energy)
    return FlexOffer(earliest_start=BEGIN, latest_start=BEGIN + timedelta(hours=2),
                     profile=Profile(energy_lower=lower, energy_upper=upper), total_energy=total,
                     default_schedule=baseline)


@pytest.mark.parametrize("case", ["slice bounds", "total upper", "total lower", "baseline above", "baseline below"])
@pytest.mark.parametrize("offset", [-EPS / 2, -EPS / 10, EPS / 10, EPS / 2, 2 * EPS])
def test_the_screen_agrees_with_the_model_on_each_side_of_every_tolerance(case: str, offset: float) -> None:
    offer = _edge_offer(case, offset)
    # Inside the tolerance (offset < 0) the offer is sound; past it (offset > 0), it is not.
    assert (validate_offer(offer) == []) == (offset < 0)
    assert certainly_sound([offer]) == [offset < 0]


FLAWS: dict[str, dict[str, Any]] = {
    "baseline before the window": {"default_schedule": Schedule(start=BEGIN - timedelta(minutes=15), energy=[0.5])},
    "baseline after the window": {"default_schedule": Schedule(start=BEGIN + timedelta(hours=3), energy=[0.5])},
    "baseline off the grid": {"default_schedule": Schedule(start=BEGIN + timedelta(seconds=1), energy=[0.5])},
    "baseline of another length": {"default_schedule": Schedule(start=BEGIN, energy=[0.5, 0.5])},
    "baseline durations of another length": {
        "default_schedule": Schedule(start=BEGIN, energy=[0.5], durations=[1, 1])},
    "baseline durations too long": {"default_schedule": Schedule(start=BEGIN, energy=[0.5], durations=[2])},
    "baseline of a missing XOR profile": {"default_schedule": Schedule(start=BEGIN, energy=[0.5], profile_index=1)},
    "window ends before it starts": {"latest_start": BEGIN - timedelta(minutes=15)},
    "assignment deadline before acceptance": {"accept_before": BEGIN, "assignment_before": BEGIN - timedelta(hours=1)},
    "total energy reversed": {"total_energy": EnergyBounds(lower=1.0, upper=0.5)},
    "zero minDuration": {"profile": Profile(energy_lower=[0.2], energy_upper=[1.2], min_duration=[0])},
    "maxDuration below minDuration": {"profile": Profile(energy_lower=[0.2], energy_upper=[1.2], min_duration=[2],
                                                         max_duration=[1])},
    "infinite bound": {"profile": Profile(energy_lower=[0.2], energy_upper=[math.inf])},
}


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_the_screen_leaves_every_flawed_offer_to_the_model(flaw: str) -> None:
    sound = FlexOffer(earliest_start=BEGIN, latest_start=BEGIN + timedelta(hours=2),
                      profile=Profile(energy_lower=[0.2], energy_upper=[1.2]),
                      default_schedule=Schedule(start=BEGIN, energy=[0.5]))
    assert certainly_sound([sound]) == [True]
    flawed = sound.model_copy(update=FLAWS[flaw])
    assert validate_offer(flawed) != []
    assert certainly_sound([sound, flawed, sound]) == [True, False, True]


@st.composite
def plain_sound_offers(draw: st.DrawFn) -> FlexOffer:
    """Plain offers that are sound with room to spare: the screen must clear them."""
    n = draw(st.integers(1, 96))
    lower = draw(st.lists(st.floats(-20, 20), min_size=n, max_size=n))
    upper = [lo + draw(st.floats(0, 3)) for lo in lower]
    energy = [(lo + hi) / 2 for lo, hi in zip(lower, upper, strict=True)]
    total = EnergyBounds(lower=sum(lower) - 1, upper=sum(upper) + 1) if draw(st.booleans()) else None
    return FlexOffer(
        earliest_start=BEGIN, latest_start=BEGIN + timedelta(hours=draw(st.integers(0, 6))),
        profile=Profile(energy_lower=lower, energy_upper=upper, min_duration=draw(st.none() | st.just([1] * n)),
                        max_duration=draw(st.none() | st.just([2] * n))),
        total_energy=total,
        default_schedule=draw(st.none() | st.just(Schedule(start=BEGIN, energy=energy))),
    )


@given(st.lists(plain_sound_offers(), min_size=1, max_size=5))
@PROPERTY
def test_the_screen_clears_plain_sound_offers(offers: list[FlexOffer]) -> None:
    assert all(validate_offer(o) == [] for o in offers)
    assert certainly_sound(offers) == [True] * len(offers)


# --- whole ingest: screened against unscreened ---------------------------------------------------


@contextmanager
def _store(path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade_heads(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@dataclass
class TwinStores:
    """Two stores that live across hypothesis examples (migrating one per example is slow)."""

    fast: sessionmaker[Session]
    full: sessionmaker[Session]
    runs: Iterator[int]


@pytest.fixture
def twin_stores(tmp_path: Path) -> Iterator[TwinStores]:
    with _store(tmp_path / "fast.db") as fast, _store(tmp_path / "full.db") as full:
        yield TwinStores(fast, full, count())


def _ingest(factory: sessionmaker[Session], offers: list[FlexOffer | None], screen_from: int) -> tuple[Any, ...]:
    """The outcome of one ingest: the stored rows, or the problem with every reason."""
    with mock.patch.object(svc, "SCREEN_FROM", screen_from), mock.patch.object(svc, "utc_now", lambda: NOW):
        with factory() as session:
            try:
                result = svc.ingest(session, None, "alice", offers, ["w"], {1: "broken"})
            except ProblemError as exc:
                return ("problem", exc.status, exc.title, exc.detail, exc.extensions)
            table = flex_offers_table
            rows = session.execute(select(table).where(table.c.id.in_(result.ids))).all()
    order = {offer_id: k for k, offer_id in enumerate(result.ids)}
    stored = sorted((dict(row._mapping) for row in rows), key=lambda row: order[row["id"]])
    return ("stored", len(result.ids), result.warnings, stored)


@given(offers=st.lists(near_valid_offers(), min_size=1, max_size=6) | st.lists(
    plain_sound_offers() | near_valid_offers(), min_size=1, max_size=8),
    unreadable=st.sampled_from([False, False, False, True]), data=st.data())
@PROPERTY
def test_screened_ingest_answers_and_stores_exactly_as_the_full_path(
        twin_stores: TwinStores, offers: list[FlexOffer], unreadable: bool, data: st.DataObject) -> None:
    run = next(twin_stores.runs)  # ids unique across examples, as both stores keep every example's rows
    keep = data.draw(st.lists(st.booleans(), min_size=len(offers), max_size=len(offers)), label="keep ids")
    batch: list[FlexOffer | None] = [
        o.model_copy(update={"id": f"given-{run}-{k}"}) if kept else o.model_copy(update={"id": None})
        for k, (o, kept) in enumerate(zip(offers, keep, strict=True))
    ]
    if unreadable and len(batch) > 1:
        batch[1] = None
    screened = _ingest(twin_stores.fast, batch, screen_from=1)
    unscreened = _ingest(twin_stores.full, batch, screen_from=10**9)
    event(f"outcome: {screened[0]}")
    if screened[0] == "stored":
        # Ids the hub assigns are random; everything else must match byte for byte.
        screened, unscreened = _without_assigned_ids(screened), _without_assigned_ids(unscreened)
    assert screened == unscreened


def _without_assigned_ids(outcome: tuple[Any, ...]) -> tuple[Any, ...]:
    def mask(row: dict[str, Any]) -> dict[str, Any]:
        if not row["id"].startswith("given-"):
            return {**row, "id": "*", "document": row["document"].replace(row["id"], "*")}
        return row

    return (*outcome[:-1], [mask(row) for row in outcome[-1]])


def test_driver_insert_stores_the_same_rows_as_core_executemany(tmp_path: Path) -> None:
    offers = [
        FlexOffer(id=f"r{k}", state=OfferState.OFFERED, creation_time=NOW, location_id="loc",
                  earliest_start=BEGIN + timedelta(minutes=15 * k, microseconds=k),
                  latest_start=BEGIN + timedelta(hours=3), zone=None if k % 2 else "NL",
                  profile=Profile(energy_lower=[0.1 * k, 0.2], energy_upper=[1.0 + k, 1e-7]))
        for k in range(5)
    ]
    rows = [row_values(o, "alice", NOW) for o in offers]
    with _store(tmp_path / "core.db") as core, _store(tmp_path / "driver.db") as driver:
        with core() as session:
            session.execute(insert(flex_offers_table), rows)
            session.commit()
            by_core = session.execute(text("SELECT * FROM flex_offers ORDER BY id")).all()
        with driver() as session:
            svc.insert_rows(session, rows)
            session.commit()
            by_driver = session.execute(text("SELECT * FROM flex_offers ORDER BY id")).all()
    assert len(by_core) == 5
    assert [tuple(r) for r in by_driver] == [tuple(r) for r in by_core]
