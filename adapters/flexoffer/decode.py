"""FlexOffer JSON (either dialect) -> native ``FlexOffer``.

Speed matters here (the REST ingest target is tens of thousands of 96-slice offers a
second), so profiles are read column-wise with C-level set and list operations in
the common shape, and a per-slice loop runs only for unusual shapes (aliases,
missing durations, vendor fields inside slices) or to locate an error precisely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from adapters.flexoffer import wire as w
from adapters.flexoffer.errors import CodecError
from core.flexoffer.model import (
    DEFAULT_INTERVAL_SECONDS,
    EnergyBounds,
    FlexOffer,
    LinearConstraint,
    OfferState,
    Profile,
    Schedule,
)

_DICT_ONLY = {dict}
_LIST_ONLY = {list}
_ONE = {1}
_AAU_BOUNDS = frozenset(w.BOUND_KEYS["aau"])
_INEA_BOUNDS = frozenset(w.BOUND_KEYS["inea"])


@dataclass
class _Reading:
    """What one offer's decoding collects besides the model fields."""

    path: str
    strict: bool
    warnings: list[str]
    inea: bool | None = None
    nested: dict[str, dict[str, Any]] = field(default_factory=dict)
    slice_forms: dict[str, str | None] = field(default_factory=dict)

    def unknown(self, path: str, rel: str, obj: dict[str, Any], known: frozenset[str]) -> None:
        """Keep fields we do not model inside a nested object, or reject them when strict."""
        leftovers = {k: v for k, v in obj.items() if k not in known}
        if not leftovers:
            return
        names = ", ".join(sorted(leftovers))
        if self.strict:
            raise CodecError(path, f"unknown field(s) {names}")
        self.warnings.append(f"{path}: unknown field(s) {names} kept and passed through")
        self.nested.setdefault(rel, {}).update(leftovers)

    def set_dialect(self, inea: bool, path: str) -> None:
        if self.inea is None:
            self.inea = inea
        elif self.inea != inea:
            raise CodecError(path, "mixes AAU lower/upper and INEA lowerBound/upperBound in one offer")


def parse_document(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CodecError("$", f"malformed JSON: {exc}") from None


def split_offers(document: Any, strict: bool, warnings: list[str]) -> list[tuple[str, Any]]:
    """A single offer, a list of offers, or the ``{"flexOffer": [...]}`` envelope."""
    if isinstance(document, list):
        return [(f"$[{i}]", item) for i, item in enumerate(document)]
    if isinstance(document, dict):
        if w.ENVELOPE in document and not (document.keys() & {w.SLICES, "startAfterTime", "startAfterInterval"}):
            others = sorted(k for k in document if k != w.ENVELOPE)
            if others:
                if strict:
                    raise CodecError("$", f"unknown envelope field(s) {', '.join(others)}")
                warnings.append(f"$: envelope field(s) {', '.join(others)} ignored")
            inner = document[w.ENVELOPE]
            if isinstance(inner, list):
                return [(f"$.flexOffer[{i}]", item) for i, item in enumerate(inner)]
            return [("$.flexOffer", inner)]
        return [("$", document)]
    raise CodecError("$", f"expected a flex-offer object, a list of them or an envelope, got {type(document).__name__}")


@dataclass(frozen=True)
class Columns:
    """A profile already read column-wise (by the typed reader), with its dialect."""

    columns: dict[str, Any]
    inea: bool


def decode_offer(
    obj: Any, path: str, *, strict: bool, warnings: list[str], profile: Columns | None = None
) -> FlexOffer:
    """One offer object -> ``FlexOffer``; ``profile`` skips reading the main profile again."""
    if type(obj) is not dict:
        raise CodecError(path, f"a flex-offer must be a JSON object, got {_json_type(obj)}")
    reading = _Reading(path=path, strict=strict, warnings=warnings)
    keys = obj.keys()

    extra_keys = keys - w.MODELLED_KEYS
    extra: dict[str, Any] = {}
    if extra_keys:
        unknown = sorted(extra_keys - w.PASSTHROUGH_KEYS)
        if unknown:
            if strict:
                raise CodecError(path, f"unknown field(s) {', '.join(unknown)}")
            warnings.append(f"{path}: unknown field(s) {', '.join(unknown)} kept and passed through")
        extra = {k: v for k, v in obj.items() if k in extra_keys}

    interval_seconds = DEFAULT_INTERVAL_SECONDS
    raw_interval = obj.get(w.INTERVAL)
    if raw_interval is not None:
        interval_seconds = w.parse_int(raw_interval, w.join(path, w.INTERVAL))

    fields: dict[str, Any] = {"interval_seconds": interval_seconds, "extra": extra}
    present = keys & w.TIME_KEYS
    if present:
        _read_times(obj, present, path, interval_seconds, fields)
    if "earliest_start" not in fields:
        # The specification: "In case it is not present, it is assumed to be equal to creationTime".
        if "creation_time" not in fields:
            raise CodecError(path, "startAfterTime (or startAfterInterval, or creationTime) is required")
        fields["earliest_start"] = fields["creation_time"]

    raw = obj.get("id")
    if raw is not None:
        fields["id"] = w.parse_text_id(raw, w.join(path, "id"))
    raw = obj.get("state")
    if raw is not None:
        fields["state"] = _state(raw, w.join(path, "state"))
    raw = obj.get("offeredById")
    if raw is not None:
        fields["offered_by"] = w.parse_text_id(raw, w.join(path, "offeredById"))
    raw = obj.get("zone")
    if raw is not None:
        fields["zone"] = w.parse_text_id(raw, w.join(path, "zone"))
    raw = obj.get("locationId")
    if raw is not None:
        if isinstance(raw, dict | list):
            # GOFLEX sends a map of named geo-locations; keep it whole and give the model a
            # stable textual id derived from it.
            extra["locationId"] = raw
            fields["location_id"] = canonical_json(raw)
        else:
            fields["location_id"] = w.parse_text_id(raw, w.join(path, "locationId"))
    raw = obj.get(w.START_BEFORE_DURATION)
    if raw is not None:
        fields["start_before_duration"] = _duration(raw, w.join(path, w.START_BEFORE_DURATION))

    if profile is not None:
        reading.set_dialect(profile.inea, path)
        # The typed reader has checked every type and length in C already, and JSON numbers
        # are always finite, so validating again would only cost time: the result is the
        # same Profile a validation would give (tested against the general reader).
        fields["profile"] = Profile.model_construct(**profile.columns)
    else:
        slices = obj.get(w.SLICES)
        if slices is None:
            raise CodecError(w.join(path, w.SLICES), "is required: an offer needs at least one profile slice")
        fields["profile"] = _profile(slices, w.join(path, w.SLICES), w.SLICES, reading)
    raw = obj.get(w.XOR_SLICES)
    if raw is not None:
        xor_path = w.join(path, w.XOR_SLICES)
        if not isinstance(raw, list):
            raise CodecError(xor_path, f"expected a list of profiles, got {_json_type(raw)}")
        fields["xor_profiles"] = [
            _profile(alt, w.join(xor_path, i), f"{w.XOR_SLICES}[{i}]", reading) for i, alt in enumerate(raw)
        ]
    inea = bool(reading.inea)
    raw = obj.get(w.TOTAL)
    if raw is not None:
        fields["total_energy"] = _total(raw, w.join(path, w.TOTAL), inea, reading)
    raw = obj.get(w.POLYTOPE)
    if raw is not None:
        fields["polytope"] = _polytope(raw, w.join(path, w.POLYTOPE), inea, reading)
    raw = obj.get(w.DEFAULT_SCHEDULE)
    if raw is not None:
        fields["default_schedule"] = _schedule(raw, w.DEFAULT_SCHEDULE, inea, reading)
    raw = obj.get(w.SCHEDULE)
    if raw is not None:
        fields["schedule"] = _schedule(raw, w.SCHEDULE, inea, reading)

    memo = _memo(obj, reading)
    if memo:
        extra[w.MEMO] = memo
    try:
        return FlexOffer.model_validate(fields)
    except ValidationError as exc:
        raise _validation_error(exc, path) from None


def canonical_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _memo(obj: dict[str, Any], reading: _Reading) -> dict[str, Any]:
    """Record the sender's spelling where it differs from what we would write by default.

    Alternative key names, ``*Interval`` forms and explicit nulls would otherwise vanish on
    the way back out; with this memo ``dumps(loads(sample))`` keeps every field of the sample.
    """
    memo: dict[str, Any] = {}
    if obj.keys() & w.ALTERNATE_KEYS or (
        None in obj.values() and any(obj[k] is None for k in obj.keys() & w.MODELLED_KEYS)
    ):
        memo["keys"] = list(obj)
    if reading.nested:
        memo["nested"] = reading.nested
    if reading.slice_forms:
        memo["scheduleSlices"] = reading.slice_forms
    return memo


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _read_times(
    obj: dict[str, Any], present: set[str], path: str, interval_seconds: int, fields: dict[str, Any]
) -> None:
    """Timestamps and ``*Interval`` forms; two spellings of one field must agree."""
    seen: dict[str, str] = {}
    # Document order when there are alternate spellings, so a contradiction names them stably.
    ordered = [k for k in obj if k in present] if present & w.ALTERNATE_KEYS else present
    for key in ordered:
        raw = obj[key]
        if raw is None:
            continue
        name, is_interval = w.TIME_KEY_FIELD[key]
        try:
            value = w.interval_time(raw, interval_seconds, "") if is_interval else w.parse_time(raw, "")
        except CodecError as exc:
            raise CodecError(w.join(path, key), exc.reason) from None
        except OverflowError:
            raise CodecError(w.join(path, key), f"{raw!r} is out of range") from None
        if name in seen and fields[name] != value:
            raise CodecError(
                w.join(path, key), f"{value.isoformat()} contradicts {seen[name]} = {fields[name].isoformat()}"
            )
        fields[name] = value
        seen[name] = key


def _state(raw: Any, path: str) -> OfferState:
    if not isinstance(raw, str):
        raise CodecError(path, f"expected a state name, got {_json_type(raw)}")
    try:
        return OfferState.parse(raw)
    except ValueError:
        names = ", ".join(s.value for s in OfferState)
        raise CodecError(path, f"unknown state {raw!r} (expected one of {names}, any letter case)") from None


def _duration(raw: Any, path: str) -> timedelta:
    try:
        return w.parse_duration(raw, path)
    except OverflowError:
        raise CodecError(path, f"duration {raw!r} is out of range") from None


def _profile(slices: Any, path: str, rel: str, reading: _Reading) -> Profile:
    if not isinstance(slices, list):
        raise CodecError(path, f"expected a list of slices, got {_json_type(slices)}")
    if not slices:
        raise CodecError(path, "has no slices (an empty profile offers no flexibility)")
    columns = _fast_columns(slices, reading, path) if set(map(type, slices)) == _DICT_ONLY else None
    if columns is None:
        columns = _slow_columns(slices, path, rel, reading)
    return _validated_profile(columns, path, reading)


def _validated_profile(columns: dict[str, Any], path: str, reading: _Reading) -> Profile:
    try:
        profile = Profile.model_validate(columns)
    except ValidationError as exc:
        raise _profile_error(exc, path, reading) from None
    for column in ("energy_lower", "energy_upper", "tariff_lower", "tariff_upper"):
        values = getattr(profile, column)
        bad = None if values is None else w.first_non_finite(values)
        if bad is not None:
            wire_path = _column_path(column, bad, path, reading)
            raise CodecError(wire_path, f"must be a finite number, got {values[bad]!r}")
    return profile


def _fast_columns(slices: list[dict[str, Any]], reading: _Reading, path: str) -> dict[str, Any] | None:
    """Columns for the common shape, or None to let the per-slice loop handle the rest."""
    slice_keys = set().union(*slices)
    if not slice_keys <= w.SLICE_KEYS or w.ENERGY_LIST not in slice_keys:
        return None
    try:
        lists = [s[w.ENERGY_LIST] for s in slices]
        if set(map(type, lists)) != _LIST_ONLY or set(map(len, lists)) != _ONE:
            return None
        entries = [e[0] for e in lists]
        if set(map(type, entries)) != _DICT_ONLY:
            return None
        entry_keys = set().union(*entries)
        if entry_keys == _AAU_BOUNDS:
            inea = False
            lower = [e["lower"] for e in entries]
            upper = [e["upper"] for e in entries]
        elif entry_keys == _INEA_BOUNDS:
            inea = True
            lower = [e["upperBound"] for e in entries]
            upper = [e["lowerBound"] for e in entries]
            try:
                lower = [-x for x in lower]
                upper = [-x for x in upper]
            except TypeError:
                return None
        else:
            return None
        columns: dict[str, Any] = {"energy_lower": lower, "energy_upper": upper}
        if "minDuration" in slice_keys:
            columns["min_duration"] = [s["minDuration"] for s in slices]
        if "maxDuration" in slice_keys:
            columns["max_duration"] = [s["maxDuration"] for s in slices]
        if w.TARIFF in slice_keys:
            tariffs = [s[w.TARIFF] for s in slices]
            if set(map(type, tariffs)) != _DICT_ONLY:
                return None
            tariff_keys = set().union(*tariffs)
            if not tariff_keys <= w.TARIFF_KEYS:
                return None
            if "minTariff" in tariff_keys:
                columns["tariff_lower"] = [t.get("minTariff") for t in tariffs]
            if "maxTariff" in tariff_keys:
                columns["tariff_upper"] = [t.get("maxTariff") for t in tariffs]
    except KeyError:
        return None
    reading.set_dialect(inea, path)
    return columns


def _slow_columns(slices: list[Any], path: str, rel: str, reading: _Reading) -> dict[str, Any]:
    """The general reader: every alias and shape, with the exact path of each problem."""
    n = len(slices)
    lower: list[float] = []
    upper: list[float] = []
    min_d: list[int] = []
    max_d: list[int] = []
    has_min = has_max = False
    t_low: list[float | None] = [None] * n
    t_high: list[float | None] = [None] * n
    has_t_low = has_t_high = False
    for i, item in enumerate(slices):
        sp = w.join(path, i)
        srel = f"{rel}[{i}]"
        if not isinstance(item, dict):
            raise CodecError(sp, f"a slice must be an object, got {_json_type(item)}")
        known = w.SLICE_KEYS
        if w.SLICE_ALIAS_PRICE in item and item.get(w.TARIFF) is None:
            known = known | {w.SLICE_ALIAS_PRICE}
        reading.unknown(sp, srel, item, known)
        entries = item.get(w.ENERGY_LIST)
        ep = w.join(sp, w.ENERGY_LIST)
        if not isinstance(entries, list | tuple) or len(entries) != 1:
            raise CodecError(ep, "must be a list holding exactly one {lower, upper} (or {lowerBound, upperBound})")
        entry = entries[0]
        ep = w.join(ep, 0)
        if not isinstance(entry, dict):
            raise CodecError(ep, f"expected an object, got {_json_type(entry)}")
        if "lowerBound" in entry or "upperBound" in entry:
            reading.set_dialect(True, ep)
            lo_key, hi_key = w.BOUND_KEYS["inea"]
        else:
            reading.set_dialect(False, ep)
            lo_key, hi_key = w.BOUND_KEYS["aau"]
        for key in (lo_key, hi_key):
            if entry.get(key) is None:
                raise CodecError(w.join(ep, key), "is required")
        reading.unknown(ep, f"{srel}.{w.ENERGY_LIST}[0]", entry, frozenset({lo_key, hi_key}))
        lo = w.parse_float(entry[lo_key], w.join(ep, lo_key))
        hi = w.parse_float(entry[hi_key], w.join(ep, hi_key))
        if reading.inea:
            lo, hi = -hi, -lo
        lower.append(lo)
        upper.append(hi)
        dmin = item.get("minDuration")
        dmax = item.get("maxDuration")
        has_min |= dmin is not None
        has_max |= dmax is not None
        dmin_v = 1 if dmin is None else w.parse_int(dmin, w.join(sp, "minDuration"))
        min_d.append(dmin_v)
        max_d.append(dmin_v if dmax is None else w.parse_int(dmax, w.join(sp, "maxDuration")))
        tariff, t_key, names = item.get(w.TARIFF), w.TARIFF, ("minTariff", "maxTariff")
        if tariff is None and item.get(w.SLICE_ALIAS_PRICE) is not None:
            tariff, t_key, names = item[w.SLICE_ALIAS_PRICE], w.SLICE_ALIAS_PRICE, ("minPrice", "maxPrice")
        if tariff is not None:
            tp = w.join(sp, t_key)
            if not isinstance(tariff, dict):
                raise CodecError(tp, f"expected an object, got {_json_type(tariff)}")
            reading.unknown(tp, f"{srel}.{t_key}", tariff, frozenset(names))
            if names[0] in tariff:
                has_t_low = True
                if tariff[names[0]] is not None:
                    t_low[i] = w.parse_float(tariff[names[0]], w.join(tp, names[0]))
            if names[1] in tariff:
                has_t_high = True
                if tariff[names[1]] is not None:
                    t_high[i] = w.parse_float(tariff[names[1]], w.join(tp, names[1]))
    columns: dict[str, Any] = {"energy_lower": lower, "energy_upper": upper}
    if has_min:
        columns["min_duration"] = min_d
    if has_max:
        columns["max_duration"] = max_d
    if has_t_low:
        columns["tariff_lower"] = t_low
    if has_t_high:
        columns["tariff_upper"] = t_high
    return columns


_PROFILE_WIRE = {
    "min_duration": "minDuration",
    "max_duration": "maxDuration",
    "tariff_lower": f"{w.TARIFF}.minTariff",
    "tariff_upper": f"{w.TARIFF}.maxTariff",
}


def _column_path(column: str, index: int, path: str, reading: _Reading) -> str:
    if column in ("energy_lower", "energy_upper"):
        lo_key, hi_key = w.BOUND_KEYS["inea" if reading.inea else "aau"]
        if reading.inea:
            lo_key, hi_key = hi_key, lo_key
        key = f"{w.ENERGY_LIST}[0].{lo_key if column == 'energy_lower' else hi_key}"
    else:
        key = _PROFILE_WIRE.get(column, column)
    return f"{path}[{index}].{key}"


def _profile_error(exc: ValidationError, path: str, reading: _Reading) -> CodecError:
    error = exc.errors()[0]
    loc = error.get("loc", ())
    if len(loc) >= 2 and isinstance(loc[1], int):
        return CodecError(_column_path(str(loc[0]), loc[1], path, reading), error["msg"])
    return CodecError(path, error["msg"])


def _validation_error(exc: ValidationError, path: str) -> CodecError:
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error.get("loc", ()))
    return CodecError(f"{path}.{loc}" if loc else path, error["msg"])


def _total(raw: Any, path: str, inea: bool, reading: _Reading) -> EnergyBounds:
    if not isinstance(raw, dict):
        raise CodecError(path, f"expected an object with lower and upper, got {_json_type(raw)}")
    lo_key = "lowerBound" if "lowerBound" in raw else "lower"
    hi_key = "upperBound" if "upperBound" in raw else "upper"
    reading.unknown(path, w.TOTAL, raw, frozenset({lo_key, hi_key}))
    for key in (lo_key, hi_key):
        if raw.get(key) is None:
            raise CodecError(w.join(path, key), "is required")
    lo = w.parse_float(raw[lo_key], w.join(path, lo_key))
    hi = w.parse_float(raw[hi_key], w.join(path, hi_key))
    if inea:
        lo, hi = -hi, -lo
    return EnergyBounds(lower=lo, upper=hi)


def _polytope(raw: Any, path: str, inea: bool, reading: _Reading) -> list[LinearConstraint]:
    if not isinstance(raw, list):
        raise CodecError(path, f"expected a list of {{coefficients, bound}} rows, got {_json_type(raw)}")
    rows: list[LinearConstraint] = []
    for k, row in enumerate(raw):
        rp = w.join(path, k)
        if not isinstance(row, dict):
            raise CodecError(rp, f"expected an object, got {_json_type(row)}")
        reading.unknown(rp, f"{w.POLYTOPE}[{k}]", row, w.ROW_KEYS)
        coefficients = row.get("coefficients")
        if not isinstance(coefficients, list):
            raise CodecError(w.join(rp, "coefficients"), "must be a list of numbers")
        values = [w.parse_float(c, w.join(w.join(rp, "coefficients"), i)) for i, c in enumerate(coefficients)]
        if inea:
            # A·x_production <= b  with  x_production = -x_load  is  (-A)·x_load <= b.
            values = [-c for c in values]
        if row.get("bound") is None:
            raise CodecError(w.join(rp, "bound"), "is required")
        rows.append(LinearConstraint(coefficients=values, bound=w.parse_float(row["bound"], w.join(rp, "bound"))))
    return rows


def _schedule(raw: Any, key: str, inea: bool, reading: _Reading) -> Schedule:
    path = w.join(reading.path, key)
    if not isinstance(raw, dict):
        raise CodecError(path, f"expected a schedule object, got {_json_type(raw)}")
    reading.unknown(path, key, raw, w.SCHEDULE_KEYS)
    if raw.get("startTime") is None:
        raise CodecError(w.join(path, "startTime"), "is required")
    fields: dict[str, Any] = {"start": w.parse_time(raw["startTime"], w.join(path, "startTime"))}
    amounts = raw.get("energyAmounts")
    if amounts is not None:
        if not isinstance(amounts, list):
            raise CodecError(w.join(path, "energyAmounts"), f"expected a list of numbers, got {_json_type(amounts)}")
        energy = amounts
        for name, target in (("durations", "durations"), ("prices", "prices")):
            if raw.get(name) is not None:
                fields[target] = raw[name]
    elif raw.get("scheduleSlices") is not None:
        energy = _schedule_slices(raw["scheduleSlices"], w.join(path, "scheduleSlices"), key, fields, reading)
    else:
        raise CodecError(path, "needs energyAmounts (or scheduleSlices)")
    if inea:
        energy = [-w.parse_float(x, w.join(w.join(path, "energyAmounts"), i)) for i, x in enumerate(energy)]
    fields["energy"] = energy
    if raw.get("profileIndex") is not None:
        fields["profile_index"] = raw["profileIndex"]
    if raw.get("scheduleId") is not None:
        fields["schedule_id"] = w.parse_text_id(raw["scheduleId"], w.join(path, "scheduleId"))
    if raw.get("updateId") is not None:
        fields["update_id"] = w.parse_int(raw["updateId"], w.join(path, "updateId"))
    try:
        schedule = Schedule.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        names = {"energy": "energyAmounts", "profile_index": "profileIndex"}
        loc = [names.get(str(p), str(p)) if isinstance(p, str) else p for p in error.get("loc", ())]
        where = path
        for part in loc:
            where = w.join(where, part)
        raise CodecError(where, error["msg"]) from None
    for name, values in (("energyAmounts", schedule.energy), ("prices", schedule.prices or [])):
        bad = w.first_non_finite(values)
        if bad is not None:
            raise CodecError(w.join(w.join(path, name), bad), f"must be a finite number, got {values[bad]!r}")
    return schedule


def _schedule_slices(raw: Any, path: str, key: str, fields: dict[str, Any], reading: _Reading) -> list[Any]:
    """The specification's per-slice schedule form ``[{duration, energyAmount, price}]``."""
    if not isinstance(raw, list):
        raise CodecError(path, f"expected a list of slices, got {_json_type(raw)}")
    energy: list[Any] = []
    durations: list[Any] = []
    prices: list[Any] = []
    price_key: str | None = None
    for i, item in enumerate(raw):
        sp = w.join(path, i)
        if not isinstance(item, dict):
            raise CodecError(sp, f"expected an object, got {_json_type(item)}")
        reading.unknown(sp, f"{key}.scheduleSlices[{i}]", item, w.SCHEDULE_SLICE_KEYS)
        if item.get("energyAmount") is None:
            raise CodecError(w.join(sp, "energyAmount"), "is required")
        energy.append(item["energyAmount"])
        durations.append(item.get("duration"))
        this_key = "price" if "price" in item else "tariff" if "tariff" in item else None
        price_key = price_key or this_key
        prices.append(item.get(this_key) if this_key else None)
    if any(d is not None for d in durations):
        fields["durations"] = [1 if d is None else d for d in durations]
    if price_key is not None:
        if any(p is None for p in prices):
            raise CodecError(path, f"every slice needs a {price_key} when one has it")
        fields["prices"] = prices
    reading.slice_forms[key] = price_key
    return energy
