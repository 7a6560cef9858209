"""An IEC 61850 DER as the hub is told to see it: address, references and sign.

Logical nodes per IEC 61850-7-420 differ by vendor and edition (DRCC/DOPM/DWMX for
set-points, MMXU for measurements), so which data attribute carries what is
configuration, in MMS form ``<IED><LD>/<LN>$<FC>$<DO>$<DA>...``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.device_common import DeviceKind


class Iec61850Control(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object: str
    """The controllable data object, e.g. ``SIMDER/DRCC1.OutWSet`` (APC) or ``.../DWMX1.WMaxSpt``."""
    readback: str
    """Where the device reports the set-point it follows, e.g. ``SIMDER/DRCC1$MX$OutWSet$mxVal$f``."""
    value_kind: Literal["analogue", "float", "int"] = "analogue"
    """APC ctlVal is an AnalogueValue structure {f}; other CDCs take a plain value."""


class Iec61850DeviceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str
    host: str
    port: int = 102
    kind: DeviceKind
    max_consumption_w: float = Field(ge=0)
    max_production_w: float = Field(ge=0)
    capacity_wh: float | None = None
    power_sign: float = 1.0
    """Multiplier from the device's active-power sign to the hub's load convention
    (-1 for an IED that counts generation positive)."""
    measurements: dict[str, str]
    """Measurement name → data attribute, e.g. ``{"power_w": "SIMDER/MMXU1$MX$TotW$mag$f"}``."""
    units: dict[str, str] = Field(default_factory=dict)
    setpoint: Iec61850Control | None = None
    report_control: str | None = None
    """A report control block over the measurements' data objects, e.g.
    ``SIMDER/LLN0$RP$urcbMeas01``: enabled at connect, its reports keep the readings
    current without polling (spontaneous updates)."""
    scl_file: str | None = None
    """ICD/CID file; when given, the references above are checked against it at discovery."""
    timeout_s: float = 5.0
