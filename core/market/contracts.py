"""Open flexibility contracts between an aggregator and one prosumer (delegated trading).

In delegated trading a flex-offer carries no price: its value to the prosumer comes
from the contract. The contract pays for *offering* flexibility (per kWh of energy
flexibility, per hour of time flexibility), for *being scheduled* (per scheduled
offer and per kWh of delivered adaptation), plus a fixed monthly reward. Delivery
is only rewarded while the prosumer stays within the imbalance tolerance.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.flexoffer.model import FlexOffer, as_utc


class BaselineKind(StrEnum):
    DEFAULT_SCHEDULE = "default_schedule"
    CHARACTERISTIC_CURVE = "characteristic_curve"


class FlexContract(BaseModel):
    """Rewards in EUR; the tolerance is a share of the requested adaptation."""

    model_config = ConfigDict(extra="forbid")

    party: str = Field(min_length=1, max_length=128)
    contract_id: str | None = Field(default=None, max_length=128)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    fixed_reward_eur: float = Field(default=0.0, ge=0, description="paid once per billed month")
    reward_per_kwh_energy_flexibility: float = Field(default=0.0, ge=0)
    reward_per_hour_time_flexibility: float = Field(default=0.0, ge=0)
    scheduling_reward_per_offer: float = Field(default=0.0, ge=0)
    scheduling_reward_per_kwh: float = Field(default=0.0, ge=0, description="per kWh of delivered adaptation")
    imbalance_tolerance: float = Field(
        default=0.1, ge=0, description="allowed |metered - scheduled| as a share of |scheduled - baseline|"
    )
    imbalance_tolerance_kwh: float = Field(default=0.0, ge=0, description="absolute slack added to the share")
    baseline: BaselineKind = BaselineKind.DEFAULT_SCHEDULE
    baseline_weeks: int = Field(default=4, ge=1, le=52)

    @field_validator("valid_from", "valid_to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> FlexContract:
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self

    def covers(self, moment: datetime) -> bool:
        return (self.valid_from is None or moment >= self.valid_from) and (
            self.valid_to is None or moment < self.valid_to
        )


def energy_flexibility_kwh(offer: FlexOffer) -> float:
    """Σ (upper - lower) over the main profile's slices: the usual energy-flexibility measure."""
    profile = offer.profile
    return max(0.0, sum(hi - lo for lo, hi in zip(profile.energy_lower, profile.energy_upper, strict=True)))


def time_flexibility_hours(offer: FlexOffer) -> float:
    return max(0.0, offer.time_flexibility().total_seconds() / 3600.0)
