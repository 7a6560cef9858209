"""Native ``FlexOffer`` -> FlexOffer JSON object (either dialect).

Writes the canonical shape (docs/flexoffer-json.md) unless the offer carries the
decoder's memo of how its sender spelled it; then the sender's key names, interval
forms, explicit nulls, schedule-slice form and nested vendor fields come back out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from adapters.flexoffer import wire as w
from core.flexoffer.model import DEFAULT_INTERVAL_SECONDS, FlexOffer, OfferState, Profile, Schedule

_ABSENT: Any = object()


def encode_offer(offer: FlexOffer, dialect: w.Dialect) -> dict[str, Any]:
    inea = dialect == "inea"
    memo = offer.extra.get(w.MEMO)
    memo = memo if isinstance(memo, dict) else {}
    out: dict[str, Any] = {}
    covered: set[str] = set()

    keys = memo.get("keys")
    if not isinstance(keys, list):
        keys = None
    else:
        for key in keys:
            if not isinstance(key, str) or key == w.MEMO:
                continue
            writer = _WRITERS.get(key)
            if writer is not None:
                value = writer(offer, key, inea)
                if value is _ABSENT:
                    continue
                out[key] = value
                if value is not None:
                    covered.add(_FIELD_OF_KEY.get(key, key))
            elif key in offer.extra:
                out[key] = offer.extra[key]

    for key, field in _CANONICAL:
        if field in covered or key in out:
            continue
        if keys is not None and _IMPLIED.get(key, _never)(offer):
            # The sender left it out and loads() infers the same value: keep it out, so the
            # memo (and the offer) stays the same through any number of round trips.
            continue
        value = _WRITERS[key](offer, key, inea)
        if value is not None and value is not _ABSENT:
            out[key] = value

    for key, value in offer.extra.items():
        if key not in out and key != w.MEMO and key not in w.MODELLED_KEYS:
            out[key] = value

    nested = memo.get("nested")
    if isinstance(nested, dict):
        for rel, fields in nested.items():
            target = _walk(out, rel)
            if isinstance(target, dict) and isinstance(fields, dict):
                for name, value in fields.items():
                    target.setdefault(name, value)
    return out


def dumps_offers(offers: list[FlexOffer], dialect: w.Dialect) -> bytes:
    return orjson.dumps([encode_offer(o, dialect) for o in offers])


# --- per-key writers -------------------------------------------------------------------------


def _time_writer(field: str, interval: bool) -> Callable[[FlexOffer, str, bool], Any]:
    def write(offer: FlexOffer, key: str, inea: bool) -> Any:
        moment: datetime | None = getattr(offer, field)
        if moment is None:
            return None
        if not interval:
            return w.format_time(moment)
        number = w.time_interval(moment, offer.interval_seconds)
        # Off the interval grid the interval form cannot say it; the canonical key will.
        return _ABSENT if number is None else number

    return write


def _simple(field: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[FlexOffer, str, bool], Any]:
    def write(offer: FlexOffer, key: str, inea: bool) -> Any:
        value = getattr(offer, field)
        return None if value is None else convert(value)

    return write


def _location(offer: FlexOffer, key: str, inea: bool) -> Any:
    if offer.location_id is None:
        return None
    original = offer.extra.get("locationId")
    if isinstance(original, dict | list) and _canonical(original) == offer.location_id:
        return original
    return offer.location_id


def _canonical(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _state(offer: FlexOffer, key: str, inea: bool) -> str:
    # The GOFLEX tools serialise their Java enum: "Initial", "Offered", ...
    return offer.state.value.capitalize()


def _interval(offer: FlexOffer, key: str, inea: bool) -> int:
    return offer.interval_seconds


def _start_before_duration(offer: FlexOffer, key: str, inea: bool) -> str | None:
    span = offer.start_before_duration
    return None if span is None else w.format_duration(span)


def _slices(offer: FlexOffer, key: str, inea: bool) -> list[dict[str, Any]]:
    return profile_slices(offer.profile, inea)


def _xor(offer: FlexOffer, key: str, inea: bool) -> list[list[dict[str, Any]]] | None:
    if not offer.xor_profiles:
        return None
    return [profile_slices(p, inea) for p in offer.xor_profiles]


def _total(offer: FlexOffer, key: str, inea: bool) -> dict[str, float] | None:
    te = offer.total_energy
    if te is None:
        return None
    if inea:
        return {"lower": -te.upper, "upper": -te.lower}
    return {"lower": te.lower, "upper": te.upper}


def _polytope(offer: FlexOffer, key: str, inea: bool) -> list[dict[str, Any]] | None:
    if not offer.polytope:
        return None
    if inea:
        return [{"coefficients": [-c for c in r.coefficients], "bound": r.bound} for r in offer.polytope]
    return [{"coefficients": r.coefficients, "bound": r.bound} for r in offer.polytope]


def _schedule_writer(field: str) -> Callable[[FlexOffer, str, bool], Any]:
    def write(offer: FlexOffer, key: str, inea: bool) -> Any:
        schedule: Schedule | None = getattr(offer, field)
        if schedule is None:
            return None
        forms = (
            offer.extra.get(w.MEMO, {}).get("scheduleSlices", {}) if isinstance(offer.extra.get(w.MEMO), dict) else {}
        )
        return schedule_object(schedule, inea, key in forms, forms.get(key) if key in forms else None)

    return write


_WRITERS: dict[str, Callable[[FlexOffer, str, bool], Any]] = {
    "id": _simple("id"),
    "state": _state,
    "offeredById": _simple("offered_by"),
    "locationId": _location,
    "zone": _simple("zone"),
    w.INTERVAL: _interval,
    w.START_BEFORE_DURATION: _start_before_duration,
    w.SLICES: _slices,
    w.XOR_SLICES: _xor,
    w.TOTAL: _total,
    w.POLYTOPE: _polytope,
    w.DEFAULT_SCHEDULE: _schedule_writer("default_schedule"),
    w.SCHEDULE: _schedule_writer("schedule"),
}
_FIELD_OF_KEY: dict[str, str] = {}
for _key, (_field, _is_interval) in w.TIME_KEY_FIELD.items():
    _WRITERS[_key] = _time_writer(_field, _is_interval)
    _FIELD_OF_KEY[_key] = _field


def _never(offer: FlexOffer) -> bool:
    return False


_IMPLIED: dict[str, Callable[[FlexOffer], bool]] = {
    "state": lambda o: o.state is OfferState.INITIAL,
    w.INTERVAL: lambda o: o.interval_seconds == DEFAULT_INTERVAL_SECONDS,
    "startAfterTime": lambda o: o.earliest_start == o.creation_time,
}

_CANONICAL: list[tuple[str, str]] = [
    ("id", "id"),
    ("state", "state"),
    ("offeredById", "offeredById"),
    ("locationId", "locationId"),
    ("zone", "zone"),
    *((times[0], field) for field, (times, _) in w.TIME_FIELDS.items()),
    (w.START_BEFORE_DURATION, w.START_BEFORE_DURATION),
    (w.INTERVAL, w.INTERVAL),
    (w.SLICES, w.SLICES),
    (w.XOR_SLICES, w.XOR_SLICES),
    (w.TOTAL, w.TOTAL),
    (w.POLYTOPE, w.POLYTOPE),
    (w.DEFAULT_SCHEDULE, w.DEFAULT_SCHEDULE),
    (w.SCHEDULE, w.SCHEDULE),
]


# --- nested objects ----------------------------------------------------------------------------


def profile_slices(profile: Profile, inea: bool) -> list[dict[str, Any]]:
    if inea:
        energy = [
            [{"lowerBound": 0.0 - hi, "upperBound": 0.0 - lo}]
            for lo, hi in zip(profile.energy_lower, profile.energy_upper, strict=True)
        ]
    else:
        energy = [
            [{"lower": lo, "upper": hi}] for lo, hi in zip(profile.energy_lower, profile.energy_upper, strict=True)
        ]
    slices: list[dict[str, Any]]
    if profile.min_duration is None and profile.max_duration is None:
        slices = [{w.ENERGY_LIST: e} for e in energy]
    elif profile.max_duration is None:
        slices = [{"minDuration": d, w.ENERGY_LIST: e} for d, e in zip(profile.min_duration or (), energy, strict=True)]
    elif profile.min_duration is None:
        slices = [{"maxDuration": d, w.ENERGY_LIST: e} for d, e in zip(profile.max_duration, energy, strict=True)]
    else:
        slices = [
            {"minDuration": a, "maxDuration": b, w.ENERGY_LIST: e}
            for a, b, e in zip(profile.min_durations(), profile.max_duration, energy, strict=True)
        ]
    low, high = profile.tariff_lower, profile.tariff_upper
    if low is not None and high is not None:
        for s, lo_t, hi_t in zip(slices, low, high, strict=True):
            s[w.TARIFF] = {"minTariff": lo_t, "maxTariff": hi_t}
    elif low is not None:
        for s, lo_t in zip(slices, low, strict=True):
            s[w.TARIFF] = {"minTariff": lo_t}
    elif high is not None:
        for s, hi_t in zip(slices, high, strict=True):
            s[w.TARIFF] = {"maxTariff": hi_t}
    return slices


def schedule_object(schedule: Schedule, inea: bool, as_slices: bool, price_key: str | None) -> dict[str, Any]:
    energy = [0.0 - x for x in schedule.energy] if inea else schedule.energy
    out: dict[str, Any] = {}
    if schedule.schedule_id is not None:
        out["scheduleId"] = w.format_number_id(schedule.schedule_id)
    if schedule.update_id is not None:
        out["updateId"] = schedule.update_id
    out["startTime"] = w.format_time(schedule.start)
    if as_slices and (schedule.prices is None or price_key is not None):
        rows: list[dict[str, Any]] = [{"energyAmount": e} for e in energy]
        if schedule.durations is not None:
            for row, d in zip(rows, schedule.durations, strict=False):
                row["duration"] = d
        if schedule.prices is not None and price_key is not None:
            for row, p in zip(rows, schedule.prices, strict=False):
                row[price_key] = p
        if (
            len(rows) == len(energy)
            and (schedule.durations is None or len(schedule.durations) == len(energy))
            and (schedule.prices is None or len(schedule.prices) == len(energy))
        ):
            out["scheduleSlices"] = rows
            if schedule.profile_index is not None:
                out["profileIndex"] = schedule.profile_index
            return out
    out["energyAmounts"] = energy
    if schedule.durations is not None:
        out["durations"] = schedule.durations
    if schedule.prices is not None:
        out["prices"] = schedule.prices
    if schedule.profile_index is not None:
        out["profileIndex"] = schedule.profile_index
    return out


_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _walk(root: Any, rel: str) -> Any:
    """Follow a decoder path such as ``flexOfferProfileConstraints[3].tariffConstraint``."""
    node = root
    for match in _STEP.finditer(rel):
        name, index = match.groups()
        if name is not None:
            node = node.get(name) if isinstance(node, dict) else None
        else:
            i = int(index)
            node = node[i] if isinstance(node, list) and i < len(node) else None
        if node is None:
            return None
    return node
