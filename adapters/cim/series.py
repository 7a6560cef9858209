"""Any quantity time series (activation, schedule, allocation, prognosis, metering) ⇄ kWh per slot.

Apart from bids, ESMP time series all say "this much power or energy per slot for
this resource/area, in this direction". :class:`SeriesSchedule` is that statement
in core units: energy in kWh per slot, positive = consumption, and it converts to
a core :class:`~core.flexoffer.model.Schedule`. The series' other attributes ride
along as JSON-safe data, so writing back reproduces the original series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from adapters.cim.errors import MappingError
from adapters.cim.layouts import LAYOUTS
from adapters.cim.quantities import business_sign, direction_sign, to_kwh_factor
from adapters.cim.timeseries import TimeSeriesError, format_decimal, join_periods, make_period
from adapters.cim.tree import from_json_fields, to_json_fields
from core.flexoffer.model import Schedule

PERIOD_KEYS = ("Period", "Series_Period")
UNIT_KEYS = ("measurement_Unit.name", "quantity_Measurement_Unit.name", "quantity_Measure_Unit.name")
QUANTITY_KEYS = ("quantity", "quantity.quantity")
RESOURCE_KEYS = ("registeredResource.mRID", "marketEvaluationPoint.mRID", "domain.mRID", "impacted_Domain.mRID")
_TOLERANCE = 1e-9


@dataclass
class SeriesSchedule:
    """One time series in core terms: kWh per slot from ``start``, every ``interval_seconds``."""

    mrid: str
    start: datetime
    interval_seconds: int
    energy: list[float]
    attributes: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, list[Any]] = field(default_factory=dict)
    """Other Point columns (``price.amount``, ``quality`` …) as text, one entry per slot."""

    @property
    def resource(self) -> str | None:
        for key in RESOURCE_KEYS:
            value = self.attributes.get(key)
            if value is not None:
                return str(value["value"] if isinstance(value, dict) else value)
        return None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.interval_seconds * len(self.energy))

    def to_schedule(self) -> Schedule:
        return Schedule(start=self.start, energy=list(self.energy), schedule_id=self.mrid)


def _first(fields: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in fields:
            return key, fields[key]
    return None, None


def _sign(attributes: dict[str, Any]) -> int:
    direction = attributes.get("flowDirection.direction")
    if direction is not None:
        return direction_sign(str(direction))
    business = attributes.get("businessType")
    return business_sign(str(business) if business is not None else None)


def read_series(fields: dict[str, Any]) -> SeriesSchedule:
    """A decoded series dict → :class:`SeriesSchedule` (curve A03 blocks are expanded)."""
    mrid = str(fields.get("mRID", ""))
    period_key, periods = _first(fields, PERIOD_KEYS)
    if not periods:
        raise MappingError(f"time series {mrid} has no Period", "A69")
    try:
        period = join_periods(periods)
        curve = fields.get("curveType")
        quantity_key = next((k for k in QUANTITY_KEYS if k in period.columns), None)
        raw = period.dense(quantity_key, curve) if quantity_key else [None] * period.slot_count()
        _unit_key, unit = _first(fields, UNIT_KEYS)
        factor = to_kwh_factor(str(unit), period.resolution) if unit is not None else 1.0
        sign = _sign(fields)
        energy = [0.0 if q is None else sign * float(q) * factor + 0.0 for q in raw]
        extras = {k: period.dense(k, curve) for k in period.columns if k not in QUANTITY_KEYS and k != "Reason"}
    except TimeSeriesError as exc:
        raise MappingError(f"time series {mrid}: {exc}", exc.code) from exc
    except ValueError as exc:
        raise MappingError(f"time series {mrid}: {exc}", "A42") from exc
    attributes = to_json_fields({k: v for k, v in fields.items() if k != period_key})
    if curve not in (None, "A01"):
        attributes.pop("curveType", None)  # written back expanded, as A01
        attributes["curveType"] = "A01"
    return SeriesSchedule(
        mrid=mrid,
        start=period.start,
        interval_seconds=int(period.resolution.total_seconds()),
        energy=energy,
        attributes=attributes,
        extras=extras,
    )


def write_series(series: SeriesSchedule, namespace: str, series_type: str) -> dict[str, Any]:
    """:class:`SeriesSchedule` → series fields of ``series_type`` in ``namespace``'s version.

    When the layout has a ``flowDirection`` and the attributes give none, the
    direction follows the energy's sign (all ≤ 0 → A01 up), so quantities stay unsigned.
    """
    rows = LAYOUTS[namespace]["types"][series_type]
    known = {row[0] for row in rows}
    fields = from_json_fields(series.attributes)
    fields["mRID"] = series.mrid
    required = {row[0] for row in rows if row[1]}
    if "flowDirection.direction" in required and "flowDirection.direction" not in fields:
        negative = any(e < -_TOLERANCE for e in series.energy)
        positive = any(e > _TOLERANCE for e in series.energy)
        if negative and positive:
            raise MappingError(f"time series {series.mrid} mixes up and down energy", "A42")
        fields["flowDirection.direction"] = "A01" if negative else "A02"
    unit_key = next((k for k in UNIT_KEYS if k in known), None)
    unit = next((str(fields[k]) for k in UNIT_KEYS if k in fields), "MAW")
    for key in UNIT_KEYS:
        fields.pop(key, None)
    if unit_key is not None:
        fields[unit_key] = unit
    period_key = next(k for k in PERIOD_KEYS if k in known)
    point_names = {row[0] for row in LAYOUTS[namespace]["types"]["Point"]}
    quantity_key = next(k for k in QUANTITY_KEYS if k in point_names)
    resolution = timedelta(seconds=series.interval_seconds)
    try:
        factor = to_kwh_factor(unit, resolution)
        sign = _sign(fields)
    except ValueError as exc:
        raise MappingError(f"time series {series.mrid}: {exc}", "A42") from exc
    columns: dict[str, list[Any]] = {quantity_key: [format_decimal(sign * e / factor) for e in series.energy]}
    columns.update({k: v for k, v in series.extras.items() if k in point_names})
    fields[period_key] = [make_period(series.start, resolution, columns)]
    return {k: v for k, v in fields.items() if k in known}
