"""An IEC 61850 DER over MMS (open61850 client) behind the common device interface.

open61850's client is synchronous with its own receive thread; each request runs in
a worker thread so the agent's event loop never blocks on an IED. Measurements are
read with their quality and timestamp in one MMS read; set-points are operated as
controls (direct, normal security, or whatever ctlModel the IED declares) and
confirmed by reading the set-point the IED reports back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from open61850.data import (
    BitStringData,
    BoolData,
    FloatData,
    IntData,
    StructureData,
    TimestampData,
    UIntData,
    VisibleStringData,
)
from open61850.mms import (
    ControlError,
    DataAccessError,
    InformationReport,
    MmsClient,
    MmsError,
    ObjectName,
    decode_report,
    discover,
    is_report,
    operate,
    rcb,
)
from open61850.quality import Quality as MmsQuality

from adapters.device_common.device import (
    Capabilities,
    ConfiguredDevice,
    DeviceOffline,
    Measurement,
    Quality,
    Setpoint,
    SetpointNotConfirmed,
    utc_now,
)
from adapters.iec61850.config import Iec61850DeviceConfig
from adapters.iec61850.scl import load_scl_model, model_items


class ModelMismatch(ValueError):
    """A configured reference is not in the IED's model."""


def data_object_of(reference: str) -> str:
    """``LD/LN$FC$DO$...`` → ``LD/LN$FC$DO``: where the attribute's q and t live."""
    domain, _, item = reference.partition("/")
    parts = item.split("$")
    return f"{domain}/{'$'.join(parts[:3])}"


def _number(value: Any) -> float | None:
    if isinstance(value, FloatData | IntData | UIntData):
        return float(value.value)
    if isinstance(value, BoolData):
        return 1.0 if value.value else 0.0
    if isinstance(value, StructureData) and value.members:
        return _number(value.members[0])
    return None


_QUALITY = {"good": Quality.GOOD, "questionable": Quality.UNCERTAIN}


def _quality(q: Any) -> Quality:
    if not isinstance(q, BitStringData):
        return Quality.UNCERTAIN
    try:
        return _QUALITY.get(MmsQuality.from_bitstring(q).validity, Quality.BAD)
    except (AttributeError, IndexError, TypeError):
        return Quality.UNCERTAIN


def _stamp(t: Any, fallback: datetime) -> datetime:
    # An IED that never set t reports the epoch: that is "no timestamp", not 1970.
    stamp = t.value if isinstance(t, TimestampData) and t.value.timestamp() > 0 else fallback
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


@dataclass
class Iec61850Device(ConfiguredDevice[Iec61850DeviceConfig]):
    _client: MmsClient | None = field(default=None, init=False, repr=False)
    _members: dict[int, list[str]] = field(default_factory=dict, init=False, repr=False)
    """Data-set member index → the measurement names it carries (report decoding)."""
    _reported: dict[str, Measurement] = field(default_factory=dict, init=False, repr=False)

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._client is None:
            raise DeviceOffline(f"{self.device_id}: not associated")
        try:
            return await asyncio.to_thread(fn, self._client, *args, **kwargs)
        except ControlError:
            raise
        except (MmsError, OSError) as exc:
            if isinstance(exc, DataAccessError):
                raise
            await self.close()
            raise DeviceOffline(f"{self.device_id}: {exc}") from exc

    async def connect(self) -> None:
        if self._client is not None:
            return
        cfg = self.cfg
        try:
            self._client = await asyncio.to_thread(MmsClient.connect, cfg.host, cfg.port, timeout=cfg.timeout_s,
                                                   on_information_report=self._on_report)
        except (MmsError, OSError) as exc:
            raise DeviceOffline(f"{self.device_id}: cannot associate with {cfg.host}:{cfg.port}: {exc}") from exc
        if cfg.report_control:
            try:
                await self._enable_reports(cfg.report_control)
            except (MmsError, ValueError) as exc:
                await self.close()
                raise DeviceOffline(f"{self.device_id}: cannot enable {cfg.report_control}: {exc}") from exc

    async def _enable_reports(self, reference: str) -> None:
        """Map the block's data-set members to measurements, then enable it (with a GI)."""
        domain, _, item = reference.partition("/")
        data_set = await self._call(lambda client: client.read(ObjectName(f"{item}$DatSet", domain)))
        if not isinstance(data_set, VisibleStringData) or not data_set.value:
            raise ValueError("the report control block names no data set")
        members = await self._call(lambda client: client.get_data_set_members(data_set.value))
        by_object = {f"{m.domain}/{m.item}": index for index, m in enumerate(members)}
        self._members = {}
        for name, attribute in self.cfg.measurements.items():
            index = by_object.get(data_object_of(attribute))
            if index is not None:
                self._members.setdefault(index, []).append(name)
        await self._call(lambda client: rcb.enable(client, ObjectName(item, domain)))

    def _on_report(self, message: InformationReport) -> None:
        """On open61850's receive thread: decode and keep the latest value per measurement."""
        if not is_report(message):
            return
        try:
            report = decode_report(message)
        except MmsError:
            return
        now = utc_now()
        for entry in report.entries:
            value = entry.value
            if not isinstance(value, StructureData):
                continue
            members = value.members
            number = _number(members[0]) if members else None
            if number is None:
                continue
            q = next((m for m in members[1:] if isinstance(m, BitStringData)), None)
            t = next((m for m in members[1:] if isinstance(m, TimestampData)), None)
            for name in self._members.get(entry.index, []):
                signed = number * self.cfg.power_sign if name == "power_w" else number
                self._reported[name] = Measurement(name, signed, self.cfg.units.get(name, ""), _stamp(t, now),
                                                   _quality(q))

    async def close(self) -> None:
        client, self._client = self._client, None
        self._reported = {}
        if client is not None:
            await asyncio.to_thread(client.close)

    def _references(self) -> set[str]:
        cfg = self.cfg
        refs = set(cfg.measurements.values())
        if cfg.setpoint is not None:
            refs.add(cfg.setpoint.readback)
        return refs

    async def discover(self) -> Capabilities:
        """Check every configured reference against the IED's model (from SCL, or read online)."""
        cfg = self.cfg
        if cfg.scl_file:
            model = await asyncio.to_thread(load_scl_model, cfg.scl_file)
        else:
            domains = sorted({r.partition("/")[0] for r in self._references()})
            model = await self._call(lambda client: discover(client, domains))
        known = model_items(model)
        missing = sorted(r for r in self._references() if r not in known)
        if missing:
            raise ModelMismatch(f"{self.device_id}: not in the IED's model: {missing}")
        return Capabilities(cfg.kind, cfg.max_consumption_w, cfg.max_production_w,
                            controllable=cfg.setpoint is not None, energy_capacity_wh=cfg.capacity_wh)

    async def read(self) -> list[Measurement]:
        """Reported values when every measurement has one; otherwise one MMS read of all."""
        cfg = self.cfg
        if self._client is not None and not self._client.is_connected:
            await self.close()
            raise DeviceOffline(f"{self.device_id}: association lost")
        if cfg.report_control and all(name in self._reported for name in cfg.measurements):
            return [self._reported[name] for name in cfg.measurements]
        names: list[str] = []
        for reference in cfg.measurements.values():
            do = data_object_of(reference)
            names += [reference, f"{do}$q", f"{do}$t"]
        results = await self._call(lambda client: client.read_many(names))
        now = utc_now()
        out: list[Measurement] = []
        for index, name in enumerate(cfg.measurements):
            value, q, t = results[3 * index:3 * index + 3]
            unit = cfg.units.get(name, "")
            number = None if isinstance(value, DataAccessError) else _number(value)
            if number is None:
                out.append(Measurement(name, float("nan"), unit, now, Quality.BAD))
                continue
            if name == "power_w":
                number *= cfg.power_sign
            out.append(Measurement(name, number, unit, _stamp(t, now), _quality(q)))
        return out

    async def write_setpoint(self, setpoint: Setpoint) -> None:
        control = self.cfg.setpoint
        if control is None:
            raise ValueError(f"{self.device_id}: no set-point control configured")
        device_value = setpoint.power_w * self.cfg.power_sign
        value: Any
        if control.value_kind == "analogue":
            value = StructureData([FloatData(device_value)])
        elif control.value_kind == "int":
            value = IntData(round(device_value))
        else:
            value = FloatData(device_value)
        try:
            await self._call(lambda client: operate(client, control.object, value))
        except ControlError as exc:
            raise SetpointNotConfirmed(f"{self.device_id}: IED refused the set-point: {exc}") from exc

    async def read_setpoint(self) -> float | None:
        control = self.cfg.setpoint
        if control is None:
            return None
        try:
            value = await self._call(lambda client: client.read(control.readback))
        except DataAccessError:
            return None
        number = _number(value)
        return None if number is None else number * self.cfg.power_sign
