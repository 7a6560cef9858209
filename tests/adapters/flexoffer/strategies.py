"""Hypothesis strategies for native flex-offers exercising every field the codec maps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from adapters.flexoffer.wire import MEMO, MODELLED_KEYS
from core.flexoffer.model import EnergyBounds, FlexOffer, LinearConstraint, OfferState, Profile, Schedule

energies = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
texts = st.text(min_size=1, max_size=12)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | energies | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
vendor_keys = st.sampled_from(["label", "assignment", "stateReason", "meterSerial", "x-vendor", "comment"])


@st.composite
def profiles(draw: st.DrawFn, n: int | None = None) -> Profile:
    n = n if n is not None else draw(st.integers(1, 6))
    column = lambda s: st.lists(s, min_size=n, max_size=n)  # noqa: E731
    return Profile(
        energy_lower=draw(column(energies)),
        energy_upper=draw(column(energies)),
        min_duration=draw(st.none() | column(st.integers(1, 4))),
        max_duration=draw(st.none() | column(st.integers(1, 6))),
        tariff_lower=draw(st.none() | column(st.none() | energies)),
        tariff_upper=draw(st.none() | column(st.none() | energies)),
    )


@st.composite
def schedules(draw: st.DrawFn, n: int) -> Schedule:
    return Schedule(
        start=draw(moments),
        energy=draw(st.lists(energies, min_size=n, max_size=n)),
        durations=draw(st.none() | st.lists(st.integers(1, 6), min_size=n, max_size=n)),
        prices=draw(st.none() | st.lists(energies, min_size=n, max_size=n)),
        profile_index=draw(st.none() | st.integers(0, 3)),
        schedule_id=draw(st.none() | texts | st.integers(0, 10**9).map(str)),
        update_id=draw(st.none() | st.integers(0, 2**31)),
    )


@st.composite
def flex_offers(draw: st.DrawFn) -> FlexOffer:
    n = draw(st.integers(1, 6))
    optional = lambda s: draw(st.none() | s)  # noqa: E731
    extra: dict[str, Any] = draw(st.dictionaries(vendor_keys, json_values, max_size=3))
    assert not (extra.keys() & MODELLED_KEYS) and MEMO not in extra
    total = optional(st.tuples(energies, energies).map(lambda t: EnergyBounds(lower=t[0], upper=t[1])))
    return FlexOffer(
        id=optional(texts),
        state=draw(st.sampled_from(list(OfferState))),
        offered_by=optional(texts),
        location_id=optional(texts),
        zone=optional(texts),
        creation_time=optional(moments),
        accept_before=optional(moments),
        assignment_before=optional(moments),
        earliest_start=draw(moments),
        latest_start=optional(moments),
        start_before_duration=optional(st.timedeltas(min_value=-timedelta(days=3650), max_value=timedelta(days=3650))),
        interval_seconds=draw(st.sampled_from([60, 300, 600, 900, 1800, 3600])),
        profile=draw(profiles(n)),
        xor_profiles=draw(st.lists(profiles(), max_size=2)),
        total_energy=total,
        polytope=draw(
            st.lists(
                st.builds(
                    LinearConstraint,
                    coefficients=st.lists(energies, min_size=n, max_size=n),
                    bound=energies,
                ),
                max_size=3,
            )
        ),
        default_schedule=optional(schedules(n)),
        schedule=optional(schedules(n)),
        extra=extra,
    )
