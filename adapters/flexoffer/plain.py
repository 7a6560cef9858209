"""Lean reading of envelopes whose every offer has the plain common shape (the lean ingest path).

Building a pydantic ``FlexOffer`` per offer costs as much as parsing its 9 kB of JSON.
For the shape nearly every real submission has (one profile of per-slice bounds with
optional durations, optional total energy, optional default schedule, canonical time
keys, numbers as numbers, one dialect, no vendor fields) msgspec checks every type in C
and this module turns the structs into light, slotted ``PlainOffer`` views in the native
conventions (load-positive kWh, aware UTC times). Anything else returns None, and the
caller uses the full codec, which accepts every shape and words every problem.
"""

from __future__ import annotations

from datetime import datetime
from itertools import repeat
from operator import attrgetter, itemgetter, neg
from typing import Any

import msgspec

from adapters.flexoffer import wire as w
from adapters.flexoffer.errors import CodecError
from core.flexoffer.model import DEFAULT_INTERVAL_SECONDS, OfferState

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType
_SUBMITTABLE = frozenset({OfferState.INITIAL, OfferState.OFFERED})


class PlainBounds(msgspec.Struct, gc=False):
    """Total-energy bounds, load convention (the attributes of ``EnergyBounds``)."""

    lower: float
    upper: float


class PlainProfile(msgspec.Struct, gc=False):
    """One profile column-wise, with the attributes of ``Profile`` the screen and store read."""

    energy_lower: list[float]
    energy_upper: list[float]
    min_duration: list[int] | None = None
    max_duration: list[int] | None = None
    tariff_lower: None = None
    tariff_upper: None = None

    def min_durations(self) -> list[int]:
        return self.min_duration if self.min_duration is not None else [1] * len(self.energy_lower)

    def max_durations(self) -> list[int]:
        return self.max_duration if self.max_duration is not None else self.min_durations()


class PlainSchedule(msgspec.Struct, gc=False):
    """A default schedule of just a start and energies (the attributes of ``Schedule`` read)."""

    start: datetime
    energy: list[float]
    durations: None = None
    prices: None = None
    profile_index: None = None


class PlainOffer(msgspec.Struct, gc=False):
    """A plain offer with the attribute names of ``FlexOffer``, so the offer screen and the
    row helpers read it exactly as they read the model."""

    id: str | None
    state: OfferState
    offered_by: str | None
    location_id: str | None
    zone: str | None
    creation_time: datetime | None
    accept_before: datetime | None
    assignment_before: datetime | None
    earliest_start: datetime
    latest_start: datetime | None
    interval_seconds: int
    profile: PlainProfile
    total_energy: PlainBounds | None
    default_schedule: PlainSchedule | None
    start_before_duration: None = None
    schedule: None = None
    xor_profiles: tuple[()] = ()
    polytope: tuple[()] = ()

    @property
    def profiles(self) -> list[PlainProfile]:
        return [self.profile]

    def effective_latest_start(self) -> datetime:
        return self.latest_start if self.latest_start is not None else self.earliest_start


# --- the wire shape: everything not listed here makes the decode fail (-> full codec) ----------

def _bounds(lo: str, hi: str) -> Any:
    return msgspec.defstruct(f"_{lo}", [(lo, float), (hi, float)], forbid_unknown_fields=True, gc=False)


class _Baseline(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    startTime: str
    energyAmounts: list[float]


_TIME_FIELDS = ("creationTime", "acceptBeforeTime", "assignmentBeforeTime", "startBeforeTime")
_TEXT_FIELDS = ("id", "state", "offeredById", "locationId", "zone")


def _wire_types(lo: str, hi: str) -> Any:
    bounds = _bounds(lo, hi)
    slice_type = msgspec.defstruct(
        f"_Slice_{lo}",
        [(w.ENERGY_LIST, tuple[bounds]), ("minDuration", int | Unset, UNSET), ("maxDuration", int | Unset, UNSET)],
        forbid_unknown_fields=True, gc=False,
    )
    offer_fields: list[Any] = [(w.SLICES, list[slice_type]), ("startAfterTime", str)]
    offer_fields += [(name, str | Unset, UNSET) for name in _TEXT_FIELDS + _TIME_FIELDS]
    offer_fields += [(w.INTERVAL, int | Unset, UNSET), (w.TOTAL, bounds | Unset, UNSET),
                     (w.DEFAULT_SCHEDULE, _Baseline | Unset, UNSET)]
    offer = msgspec.defstruct(f"_Offer_{lo}", offer_fields, forbid_unknown_fields=True, gc=False)
    envelope = msgspec.defstruct(f"_Envelope_{lo}", [(w.ENVELOPE, list[offer])], forbid_unknown_fields=True)
    return msgspec.json.Decoder(envelope)


_AAU_DECODER = _wire_types("lower", "upper")
_INEA_DECODER = _wire_types("lowerBound", "upperBound")
_ENTRY = itemgetter(0)
_ENERGY_LIST = attrgetter(w.ENERGY_LIST)
_MIN = attrgetter("minDuration")
_MAX = attrgetter("maxDuration")
_AAU_GET = (attrgetter("lower"), attrgetter("upper"))
_INEA_GET = (attrgetter("lowerBound"), attrgetter("upperBound"))


def _time(raw: str | Unset) -> datetime | None:
    return None if raw is UNSET else w.parse_time(raw, "")


def _column(slices: list[Any], getter: Any) -> list[int] | Unset | None:
    """A duration column; UNSET when only some slices give it (the full codec fills those)."""
    column = list(map(getter, slices))
    try:
        sum(column)  # ints only: the quickest way to learn that no slice left it out
        return column
    except TypeError:
        return None if column.count(UNSET) == len(column) else UNSET


def _offer(raw: Any, inea: bool) -> PlainOffer | None:
    slices = getattr(raw, w.SLICES)
    if not slices:
        return None
    entries = list(map(_ENTRY, map(_ENERGY_LIST, slices)))
    lo_get, hi_get = _INEA_GET if inea else _AAU_GET
    if inea:
        # Production-positive [lowerBound, upperBound] is [-upperBound, -lowerBound] of load.
        lower, upper = list(map(neg, map(hi_get, entries))), list(map(neg, map(lo_get, entries)))
    else:
        lower, upper = list(map(lo_get, entries)), list(map(hi_get, entries))
    mins, maxs = _column(slices, _MIN), _column(slices, _MAX)
    if mins is UNSET or maxs is UNSET:
        return None
    interval = getattr(raw, w.INTERVAL)
    interval = DEFAULT_INTERVAL_SECONDS if interval is UNSET else interval
    if interval <= 0 or 3600 % interval:
        return None
    state = OfferState.INITIAL if raw.state is UNSET else OfferState.parse(raw.state)
    total = getattr(raw, w.TOTAL)
    bounds = None
    if total is not UNSET:
        lo, hi = (-total.upperBound, -total.lowerBound) if inea else (total.lower, total.upper)
        bounds = PlainBounds(lo, hi)
    baseline = getattr(raw, w.DEFAULT_SCHEDULE)
    schedule = None
    if baseline is not UNSET:
        energy = list(map(neg, map(float, baseline.energyAmounts))) if inea else baseline.energyAmounts
        schedule = PlainSchedule(w.parse_time(baseline.startTime, ""), energy)
    return PlainOffer(
        id=None if raw.id is UNSET else raw.id,
        state=state,
        offered_by=None if raw.offeredById is UNSET else raw.offeredById,
        location_id=None if raw.locationId is UNSET else raw.locationId,
        zone=None if raw.zone is UNSET else raw.zone,
        creation_time=_time(raw.creationTime),
        accept_before=_time(raw.acceptBeforeTime),
        assignment_before=_time(raw.assignmentBeforeTime),
        earliest_start=w.parse_time(raw.startAfterTime, ""),
        latest_start=_time(raw.startBeforeTime),
        interval_seconds=interval,
        profile=PlainProfile(lower, upper, mins, maxs),  # type: ignore[arg-type]
        total_energy=bounds,
        default_schedule=schedule,
    )


def plain_envelope(body: bytes) -> list[PlainOffer] | None:
    """The offers of a ``{"flexOffer": [...]}`` body when every one has the plain shape, else None."""
    inea = b'"lowerBound"' in body  # the full codec's typed reader picks the dialect the same way
    try:
        raw_offers = getattr((_INEA_DECODER if inea else _AAU_DECODER).decode(body), w.ENVELOPE)
        offers = list(map(_offer, raw_offers, repeat(inea)))
    except (msgspec.ValidationError, msgspec.DecodeError, CodecError, ValueError, OverflowError):
        return None
    if not offers or None in offers or any(o.state not in _SUBMITTABLE for o in offers):  # type: ignore[union-attr]
        return None
    return offers  # type: ignore[return-value]
