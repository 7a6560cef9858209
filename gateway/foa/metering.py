"""Metered energy per slice from a device's power readings, for settlement.

Settlement (``core.market.settlement``) compares metered energy per offer interval
with the baseline and the schedule; devices only report instantaneous power. The
agent therefore integrates ``power_w`` (load convention) into energy per aligned
slice and records each completed slice against the device's offer through the same
flex-offer measurement service the REST API uses.

Only whole slices are recorded: a slice the meter joined late, or one with a gap
longer than a slice between readings (device offline, agent stopped), is dropped
rather than reported short, so the bill falls back to the schedule (predicted) for
it instead of settling on a wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from core.flexoffer import FlexOffer, OfferState
from gateway.services import fman as fman_service
from gateway.services.timeseries import MeasuredInterval, record_measurements

POWER = "power_w"
JOULES_PER_KWH = 3.6e6
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SliceEnergy:
    start: datetime
    seconds: int
    energy_kwh: float


def slice_start(moment: datetime, seconds: int) -> datetime:
    offset = (moment - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=(offset // seconds) * seconds)


@dataclass
class SliceMeter:
    """Zero-order-hold integration: a reading's power holds until the next reading."""

    seconds: int = 900
    _last: tuple[datetime, float] | None = None
    _slice: datetime | None = None
    _joules: float = 0.0
    _whole: bool = False
    completed: list[SliceEnergy] = field(default_factory=list)

    def reset(self) -> None:
        """Forget the slice in progress (the device went away): it will not be reported."""
        self._last, self._slice, self._joules, self._whole = None, None, 0.0, False

    def add(self, moment: datetime, power_w: float) -> list[SliceEnergy]:
        """Take one reading; return the slices this reading completed (whole ones only)."""
        done: list[SliceEnergy] = []
        if self._last is None:
            self._slice = slice_start(moment, self.seconds)
            self._whole = moment == self._slice
            self._last, self._joules = (moment, power_w), 0.0
            return done
        then, held = self._last
        if moment <= then:
            return done
        if (moment - then).total_seconds() > self.seconds:
            self.reset()
            return self.add(moment, power_w)
        assert self._slice is not None
        cursor = then
        while True:
            end = self._slice + timedelta(seconds=self.seconds)
            upto = min(moment, end)
            self._joules += held * (upto - cursor).total_seconds()
            if moment < end:
                break
            if self._whole:
                done.append(SliceEnergy(self._slice, self.seconds, self._joules / JOULES_PER_KWH))
            self._slice, self._joules, self._whole, cursor = end, 0.0, True, end
        self._last = (moment, power_w)
        return done


def offer_for_slice(offers: list[FlexOffer], device_id: str, start: datetime, seconds: int) -> str | None:
    """The device's offer a slice belongs to: the one scheduled over it, else the newest live one around it.

    A scheduled offer is what settlement pays for; the fallback keeps the location's history
    (the characteristic-curve baseline) fed between schedules.
    """
    end = start + timedelta(seconds=seconds)
    mine = [o for o in offers if o.id and str(o.extra.get("device_id", "")) == device_id]
    for offer in reversed(mine):
        schedule = offer.schedule
        if offer.state in (OfferState.ASSIGNED, OfferState.EXECUTED) and schedule is not None:
            until = schedule.start + offer.interval * schedule.interval_count(offer.profile)
            if schedule.start <= start and end <= until:
                return offer.id
    for offer in reversed(mine):
        if offer.state in (OfferState.CANCELED, OfferState.REJECTED, OfferState.INVALID):
            continue
        latest_end = offer.effective_latest_start() + offer.interval * sum(offer.profile.max_durations())
        if offer.earliest_start <= start and end <= latest_end:
            return offer.id
    return None


def record_slices(session: Session, party: str, device_id: str, slices: list[SliceEnergy]) -> int:
    """Store each completed slice against its offer (committed); slices without an offer are skipped."""
    if not slices:
        return 0
    first, last = slices[0].start, slices[-1].start + timedelta(seconds=slices[-1].seconds)
    offers = fman_service.load_offers(session, [party], first - timedelta(days=2), last)
    series: dict[str, list[MeasuredInterval]] = {}
    for item in slices:
        offer_id = offer_for_slice(offers, device_id, item.start, item.seconds)
        if offer_id is not None:
            series.setdefault(offer_id, []).append(MeasuredInterval(item.start, item.seconds, item.energy_kwh))
    if not series:
        return 0
    return record_measurements(session, party, list(series.items()))
