"""The native flex-offer model (DESIGN §2).

Every adapter translates to and from these classes, so they carry the union of
what the wire formats can say. Conventions that hold everywhere inside the core:

* energy is kWh per slice, **positive means consumption** (load convention);
* times are timezone-aware UTC;
* a profile is stored column-wise (one list per attribute) rather than as a list
  of slice objects: a million 96-slice offers must fit in memory and convert to
  numpy without a Python loop per slice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

DEFAULT_INTERVAL_SECONDS = 900
ENERGY_TOLERANCE_KWH = 1e-6


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC: real-world feeds often omit the offset."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class OfferState(StrEnum):
    INITIAL = "initial"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ASSIGNED = "assigned"
    EXECUTED = "executed"
    INVALID = "invalid"
    CANCELED = "canceled"

    @classmethod
    def parse(cls, value: str | OfferState) -> OfferState:
        """Accept any letter case ('Initial', 'ASSIGNED') and the British 'cancelled'."""
        if isinstance(value, OfferState):
            return value
        text = str(value).strip().lower()
        if text == "cancelled":
            text = "canceled"
        return cls(text)


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", validate_assignment=False)


class EnergyBounds(_Model):
    """A closed interval [lower, upper] of energy in kWh (load convention)."""

    lower: float
    upper: float


class LinearConstraint(_Model):
    """One row of a polytopic constraint ``coefficients · x <= bound`` over slice energies."""

    coefficients: list[float]
    bound: float


class Profile(_Model):
    """The per-slice constraints of one profile, column-wise.

    ``energy_lower[i]``/``energy_upper[i]`` bound the energy of slice ``i`` as a whole;
    the slice lasts between ``min_duration[i]`` and ``max_duration[i]`` intervals of
    ``numSecondsPerInterval``. Tariff bounds (EUR/kWh) are optional per slice.
    """

    energy_lower: list[float]
    energy_upper: list[float]
    min_duration: list[int] | None = None
    max_duration: list[int] | None = None
    tariff_lower: list[float | None] | None = None
    tariff_upper: list[float | None] | None = None

    @model_validator(mode="after")
    def _same_lengths(self) -> Profile:
        n = len(self.energy_lower)
        for name in ("energy_upper", "min_duration", "max_duration", "tariff_lower", "tariff_upper"):
            column = getattr(self, name)
            if column is not None and len(column) != n:
                raise ValueError(f"profile column {name} has {len(column)} entries, expected {n}")
        if n == 0:
            raise ValueError("profile has no slices")
        return self

    @property
    def slice_count(self) -> int:
        return len(self.energy_lower)

    def min_durations(self) -> list[int]:
        return self.min_duration if self.min_duration is not None else [1] * self.slice_count

    def max_durations(self) -> list[int]:
        if self.max_duration is not None:
            return self.max_duration
        return self.min_durations()

    def min_intervals(self) -> int:
        """Shortest possible length of a schedule of this profile, in intervals."""
        return sum(self.min_durations())


class Schedule(_Model):
    """A default schedule (baseline) or an assignment: a start and an energy per slice.

    ``durations`` gives the intervals each slice lasts; omitted, every slice takes its
    minimum duration. ``prices`` (EUR/kWh per slice) is checked against tariff bounds.
    ``profile_index`` picks the XOR alternative (0 is the main profile); omitted, the
    schedule is feasible if it fits any alternative.
    """

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    start: datetime = Field(validation_alias=AliasChoices("start", "startTime", "start_time"))
    energy: list[float] = Field(
        validation_alias=AliasChoices("energy", "energyAmounts", "energy_amounts", "energy_kwh")
    )
    durations: list[int] | None = None
    prices: list[float] | None = None
    profile_index: int | None = None
    schedule_id: str | None = Field(default=None, validation_alias=AliasChoices("schedule_id", "scheduleId"))
    update_id: int | None = Field(default=None, validation_alias=AliasChoices("update_id", "updateId"))

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    def slice_durations(self, profile: Profile) -> list[int]:
        return self.durations if self.durations is not None else profile.min_durations()

    def interval_count(self, profile: Profile) -> int:
        return sum(self.slice_durations(profile))


class FlexOffer(_Model):
    """A flex-offer: when a load may run, how much energy it may take, and at what price.

    Field names are Python's; the standard's names (``startAfterTime``,
    ``flexOfferProfileConstraints`` …) live in the wire codecs.
    """

    id: str | None = None
    state: OfferState = OfferState.INITIAL
    offered_by: str | None = None
    location_id: str | None = None
    zone: str | None = None

    creation_time: datetime | None = None
    accept_before: datetime | None = None
    assignment_before: datetime | None = None
    earliest_start: datetime
    latest_start: datetime | None = None
    start_before_duration: timedelta | None = None
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS

    profile: Profile
    xor_profiles: list[Profile] = Field(default_factory=list)
    total_energy: EnergyBounds | None = None
    polytope: list[LinearConstraint] = Field(default_factory=list)

    default_schedule: Schedule | None = None
    schedule: Schedule | None = None

    extra: dict[str, Any] = Field(default_factory=dict)
    """Vendor fields (``label``, ``assignment`` …) passed through unchanged."""

    @field_validator("creation_time", "accept_before", "assignment_before", "earliest_start", "latest_start")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: Any) -> Any:
        return OfferState.parse(value) if isinstance(value, str) else value

    @field_validator("interval_seconds")
    @classmethod
    def _divides_hour(cls, value: int) -> int:
        if value <= 0 or 3600 % value != 0:
            raise ValueError("numSecondsPerInterval must be a positive divisor of 3600")
        return value

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.interval_seconds)

    @property
    def profiles(self) -> list[Profile]:
        """The main profile followed by its XOR alternatives."""
        return [self.profile, *self.xor_profiles]

    def effective_latest_start(self) -> datetime:
        """``startBeforeTime``, tightened by ``startBeforeDuration`` when that is given."""
        candidates: list[datetime] = []
        if self.latest_start is not None:
            candidates.append(self.latest_start)
        if self.start_before_duration is not None:
            anchor = self.creation_time or self.earliest_start
            candidates.append(anchor + self.start_before_duration)
        return min(candidates) if candidates else self.earliest_start

    def time_flexibility(self) -> timedelta:
        return self.effective_latest_start() - self.earliest_start
