"""Baselines: what a prosumer would have consumed without being asked to adapt.

Settlement pays for metered - baseline, so the baseline decides the money. Two
kinds, as the GOFLEX settlement does: the offer's own default schedule, or a
*characteristic curve* from metered history (the mean of the same weekday and
interval over the last N weeks), which a prosumer cannot game by declaring an
inflated default schedule.

Series are ``dict[datetime, float]``: interval start (UTC) → kWh in that interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from core.flexoffer.model import FlexOffer, Profile, Schedule

Series = dict[datetime, float]

WEEK = timedelta(days=7)


def schedule_series(offer: FlexOffer, schedule: Schedule) -> Series:
    """Energy per interval of ``schedule``: each slice spread evenly over its intervals."""
    profile = _profile_for(offer, schedule)
    series: Series = {}
    moment = schedule.start
    for energy, duration in zip(schedule.energy, schedule.slice_durations(profile), strict=True):
        for _ in range(duration):
            series[moment] = series.get(moment, 0.0) + energy / duration
            moment += offer.interval
    return series


def _profile_for(offer: FlexOffer, schedule: Schedule) -> Profile:
    profiles = offer.profiles
    if schedule.profile_index is not None and 0 <= schedule.profile_index < len(profiles):
        return profiles[schedule.profile_index]
    return next((p for p in profiles if p.slice_count == len(schedule.energy)), offer.profile)


def default_schedule_baseline(offer: FlexOffer) -> Series:
    """The offer's declared default schedule; no default means it would not have run (zero)."""
    if offer.default_schedule is None:
        return {}
    return schedule_series(offer, offer.default_schedule)


def characteristic_curve(history: Mapping[datetime, float], intervals: list[datetime], weeks: int = 4) -> Series:
    """Mean of the same weekday and interval over the ``weeks`` weeks before each interval.

    Weeks without a reading are skipped (a holiday gap must not pull the curve to
    zero); an interval with no reading in any of those weeks gets 0.
    """
    if weeks < 1:
        raise ValueError("a characteristic curve needs at least one week of history")
    curve: Series = {}
    for moment in intervals:
        readings = [history[moment - k * WEEK] for k in range(1, weeks + 1) if moment - k * WEEK in history]
        curve[moment] = sum(readings) / len(readings) if readings else 0.0
    return curve
