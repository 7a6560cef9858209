"""Wire names and scalar conversions of the FlexOffer JSON format.

Shared by the decoder and the encoder so that both agree, in one place, on what
each key is called and how times, durations and numbers look on the wire.
See ``docs/flexoffer-json.md`` for the format and its two dialects.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from adapters.flexoffer.errors import CodecError

Dialect = Literal["aau", "inea"]
DIALECTS: tuple[Dialect, ...] = ("aau", "inea")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ENVELOPE = "flexOffer"
MEMO = "x-flexhub-wire"
"""Key in ``FlexOffer.extra`` holding how the sender spelled the offer (see docs)."""

SLICES = "flexOfferProfileConstraints"
XOR_SLICES = "xorProfileConstraints"
ENERGY_LIST = "energyConstraintList"
TARIFF = "tariffConstraint"
TOTAL = "totalEnergyConstraint"
POLYTOPE = "polytopicConstraints"
DEFAULT_SCHEDULE = "defaultSchedule"
SCHEDULE = "flexOfferSchedule"
INTERVAL = "numSecondsPerInterval"
START_BEFORE_DURATION = "startBeforeDuration"

# Energy-bound names per dialect: AAU positive = consumption, INEA positive = production.
BOUND_KEYS: dict[Dialect, tuple[str, str]] = {"aau": ("lower", "upper"), "inea": ("lowerBound", "upperBound")}

# Time fields: model attribute -> (wire keys holding a timestamp, wire keys holding an interval
# number since the epoch). The first timestamp key is what we write by default.
TIME_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "creation_time": (("creationTime",), ("creationInterval",)),
    "accept_before": (
        ("acceptBeforeTime", "acceptanceBeforeTime"),
        ("acceptBeforeInterval", "acceptanceBeforeInterval"),
    ),
    "assignment_before": (("assignmentBeforeTime",), ("assignmentBeforeInterval",)),
    "earliest_start": (("startAfterTime",), ("startAfterInterval",)),
    "latest_start": (("startBeforeTime",), ("startBeforeInterval",)),
}
TIME_KEY_FIELD: dict[str, tuple[str, bool]] = {
    key: (field, is_interval)
    for field, (times, intervals) in TIME_FIELDS.items()
    for keys, is_interval in ((times, False), (intervals, True))
    for key in keys
}
TIME_KEYS = frozenset(TIME_KEY_FIELD)
CANONICAL_TIME_KEYS = frozenset(times[0] for times, _ in TIME_FIELDS.values())
ALTERNATE_KEYS = frozenset(TIME_KEY_FIELD) - CANONICAL_TIME_KEYS

SIMPLE_KEYS = ("id", "state", "offeredById", "locationId", "zone")
MODELLED_KEYS = frozenset(
    {
        *SIMPLE_KEYS,
        *TIME_KEY_FIELD,
        START_BEFORE_DURATION,
        INTERVAL,
        SLICES,
        XOR_SLICES,
        TOTAL,
        POLYTOPE,
        DEFAULT_SCHEDULE,
        SCHEDULE,
    }
)
PASSTHROUGH_KEYS = frozenset(
    {
        # Fields of the public specification and of the GOFLEX FMAN/INEA classes that the
        # native model does not interpret: kept verbatim in ``FlexOffer.extra``, no warning.
        "stateReason",
        "label",
        "assignment",
        "flexOfferTariffConstraint",
        "FlexOfferPriceConstraints",
        "subTotalEnergyConstraint",
        "powerFactorConstraint",
        "totalCostConstraint",
        "endAfterTime",
        "endBeforeTime",
        "endAfterInterval",
        "endBeforeInterval",
        "assignmentBeforeDurationSeconds",
        "assignmentBeforeDurationIntervals",
        "currency",
        "flexOfferType",
        "accountId",
        "unit",
        "multiplier",
        "functionTest",
        "correct",
    }
)

SLICE_KEYS = frozenset({"minDuration", "maxDuration", ENERGY_LIST, TARIFF})
SLICE_ALIAS_PRICE = "priceConstraint"  # the specification's per-slice name for tariff bounds
TARIFF_KEYS = frozenset({"minTariff", "maxTariff"})
TOTAL_KEYS = frozenset({"lower", "upper", "lowerBound", "upperBound"})
ROW_KEYS = frozenset({"coefficients", "bound"})
SCHEDULE_KEYS = frozenset(
    {"startTime", "energyAmounts", "scheduleSlices", "durations", "prices", "profileIndex", "scheduleId", "updateId"}
)
SCHEDULE_SLICE_KEYS = frozenset({"duration", "energyAmount", "price", "tariff"})


def join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def parse_time(value: Any, path: str) -> datetime:
    """Timestamps: ISO 8601 with any offset form (``+0000``, ``Z``), naive = UTC, or epoch ms.

    Integers are epoch milliseconds because that is how Jackson writes a ``java.util.Date``
    that has no ``@JsonFormat``, and the GOFLEX tools are Java.
    """
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise CodecError(path, f"not an ISO 8601 timestamp: {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        moment = EPOCH + timedelta(milliseconds=value)
    else:
        raise CodecError(path, f"expected a timestamp string, got {type(value).__name__}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """``2020-02-27T20:00:00Z`` as the GOFLEX tools write it; sub-seconds only when present."""
    moment = moment.astimezone(UTC)
    text = moment.replace(tzinfo=None, microsecond=0).isoformat()
    if moment.microsecond:
        fraction = f"{moment.microsecond:06d}"
        text += "." + (fraction[:3] if fraction.endswith("000") else fraction)
    return text + "Z"


def parse_int(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise CodecError(path, "expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if number.is_finite() and number == number.to_integral_value():
            return int(number)
    raise CodecError(path, f"expected an integer, got {value!r}")


def parse_float(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise CodecError(path, "expected a number, got a boolean")
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
    if number is None:
        raise CodecError(path, f"expected a number, got {value!r}")
    if not math.isfinite(number):
        raise CodecError(path, f"must be a finite number, got {value!r}")
    return number


def first_non_finite(values: list[float | None] | list[float]) -> int | None:
    """Index of the first NaN/infinity, or None. JSON numbers cannot be non-finite, but
    strings ("NaN", "inf") can, and such a value could not be written back out."""
    try:
        try:
            total = math.fsum(values)  # type: ignore[arg-type]
        except TypeError:  # None entries (tariff columns)
            total = math.fsum(v for v in values if v is not None)
        if math.isfinite(total):
            return None
    except (OverflowError, ValueError):
        pass
    for i, v in enumerate(values):
        if v is not None and not math.isfinite(v):
            return i
    return None


def interval_time(value: Any, interval_seconds: int, path: str) -> datetime:
    """``*Interval`` fields count intervals of ``numSecondsPerInterval`` since the epoch."""
    return EPOCH + timedelta(seconds=parse_int(value, path) * interval_seconds)


def time_interval(moment: datetime, interval_seconds: int) -> int | None:
    """The interval number of ``moment``, or None when it is not on the interval grid."""
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    whole, rest = divmod(micros, interval_seconds * 1_000_000)
    return None if rest else whole


_DURATION = re.compile(
    r"^(?P<sign>[-+])?P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?$"
)


def parse_duration(value: Any, path: str) -> timedelta:
    """``startBeforeDuration``: ISO 8601 (``PT2H``) or a number of seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value.strip().upper())
        if match and value.strip().upper() not in ("P", "PT", "-P", "-PT", "+P", "+PT"):
            seconds = Decimal(match["s"].replace(",", ".")) if match["s"] else Decimal(0)
            micros = int(seconds * 1_000_000)
            micros += (int(match["d"] or 0) * 86400 + int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60) * 10**6
            return timedelta(microseconds=-micros if match["sign"] == "-" else micros)
        try:
            return timedelta(microseconds=int(Decimal(value.strip()) * 1_000_000))
        except (InvalidOperation, ValueError):
            raise CodecError(path, f"not an ISO 8601 duration or a number of seconds: {value!r}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(microseconds=round(Decimal(repr(value)) * 1_000_000))
    raise CodecError(path, f"expected a duration, got {type(value).__name__}")


def format_duration(span: timedelta) -> str:
    micros = span // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    text = f"{sign}PT{seconds}"
    if fraction:
        text += "." + f"{fraction:06d}".rstrip("0")
    return text + "S"


def parse_text_id(value: Any, path: str) -> str:
    """Identifiers may arrive as numbers (INEA uses ``long`` ids); inside they are strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise CodecError(path, f"expected a string or integer identifier, got {type(value).__name__}")


def format_number_id(value: str) -> str | int:
    """Write digit-only ids back as JSON integers, as the Java tools declare them."""
    if value.isascii() and value.isdigit() and len(value) <= 18 and str(int(value)) == value:
        return int(value)
    return value
