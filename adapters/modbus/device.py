"""A SunSpec device over Modbus TCP, behind the common device interface.

Discovery walks the model chain from 40000, so one driver serves any SunSpec
inverter, battery or meter: the models present decide the device's kind, limits
and which registers carry measurements and controls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from adapters.device_common.device import (
    Capabilities,
    Device,
    DeviceKind,
    DeviceOffline,
    Measurement,
    Quality,
    Setpoint,
    utc_now,
)
from adapters.modbus import sunspec
from adapters.modbus.sunspec import ModelInstance, SunSpecError

MAX_READ = 125  # registers per Modbus read request


@dataclass
class SunSpecDevice(Device):
    host: str = "127.0.0.1"
    port: int = 502
    unit: int = 1
    timeout_s: float = 2.0
    models: dict[int, ModelInstance] = field(default_factory=dict)
    common: dict[str, Any] = field(default_factory=dict)
    _client: AsyncModbusTcpClient | None = field(default=None, init=False, repr=False)

    async def connect(self) -> None:
        if self._client is not None and self._client.connected:
            return
        # The hub reconnects with its own backoff; pymodbus' own reconnect loop is disabled.
        client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0,
                                      reconnect_delay=0)
        try:
            ok = await client.connect()
        except (OSError, ModbusException) as exc:
            client.close()
            raise DeviceOffline(f"{self.device_id}: cannot connect to {self.host}:{self.port}: {exc}") from exc
        if not ok:
            client.close()
            raise DeviceOffline(f"{self.device_id}: cannot connect to {self.host}:{self.port}")
        self._client = client

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _read(self, address: int, count: int) -> list[int]:
        if self._client is None or not self._client.connected:
            raise DeviceOffline(f"{self.device_id}: not connected")
        words: list[int] = []
        try:
            while count > 0:
                n = min(count, MAX_READ)
                response = await self._client.read_holding_registers(address, count=n, device_id=self.unit)
                if response.isError():
                    raise SunSpecError(f"{self.device_id}: read of {n} registers at {address} failed: {response}")
                words.extend(response.registers)
                address += n
                count -= n
        except ModbusException as exc:
            await self.close()
            raise DeviceOffline(f"{self.device_id}: {exc}") from exc
        return words

    async def _write(self, address: int, values: Sequence[int]) -> None:
        if self._client is None or not self._client.connected:
            raise DeviceOffline(f"{self.device_id}: not connected")
        try:
            response = await self._client.write_registers(address, list(values), device_id=self.unit)
        except ModbusException as exc:
            await self.close()
            raise DeviceOffline(f"{self.device_id}: {exc}") from exc
        if response.isError():
            raise SunSpecError(f"{self.device_id}: write at {address} refused: {response}")

    async def read_model(self, model_id: int) -> dict[str, Any]:
        instance = self.models[model_id]
        registers = await self._read(instance.address, instance.length + 2)
        return sunspec.decode(registers, sunspec.layout(model_id))

    async def discover_chain(self) -> list[ModelInstance]:
        """Follow model headers from the 'SunS' marker; one small read per model."""
        marker = await self._read(sunspec.SUNSPEC_BASE, 2)
        if tuple(marker) != sunspec.SUNS_MARKER:
            raise SunSpecError(f"{self.device_id}: no SunSpec marker at {sunspec.SUNSPEC_BASE}")
        chain: list[ModelInstance] = []
        address = sunspec.SUNSPEC_BASE + 2
        for _ in range(256):
            model_id, length = await self._read(address, 2)
            if model_id == sunspec.END_MODEL_ID:
                self.models = {m.model_id: m for m in chain}
                return chain
            chain.append(ModelInstance(model_id, address, length))
            address += 2 + length
        raise SunSpecError(f"{self.device_id}: model chain has no end model")

    def _first(self, candidates: Sequence[int]) -> int | None:
        return next((m for m in candidates if m in self.models), None)

    async def discover(self) -> Capabilities:
        await self.discover_chain()
        if 1 in self.models:
            self.common = await self.read_model(1)
        plate = await self.read_model(sunspec.NAMEPLATE_MODEL) if sunspec.NAMEPLATE_MODEL in self.models else {}
        rated_w = float(plate.get("WRtg") or 0.0)
        storage = self._first(sunspec.STORAGE_MODELS)
        if storage is not None:
            controls = await self.read_model(124) if 124 in self.models else {}
            charge_w = float(controls.get("WChaMax") or plate.get("MaxChaRte") or rated_w)
            discharge_w = float(plate.get("MaxDisChaRte") or charge_w)
            return Capabilities(DeviceKind.BATTERY, charge_w, discharge_w, controllable=124 in self.models,
                                energy_capacity_wh=float(plate.get("WHRtg") or 0.0) or None)
        if self._first(sunspec.INVERTER_MODELS) is not None:
            return Capabilities(DeviceKind.PV, 0.0, rated_w,
                                controllable=self._first(sunspec.CONTROL_MODELS) is not None)
        if self._first(sunspec.METER_MODELS) is not None:
            return Capabilities(DeviceKind.METER, 0.0, 0.0, controllable=False)
        raise SunSpecError(f"{self.device_id}: no inverter, storage or meter model in the chain")

    async def read(self) -> list[Measurement]:
        """Inverter, storage and meter points, in the load convention (+ = consumption)."""
        now = utc_now()
        out: list[Measurement] = []

        def add(name: str, value: Any, unit: str, sign: float = 1.0) -> None:
            if isinstance(value, int | float):
                out.append(Measurement(name, sign * float(value), unit, now))
            else:
                out.append(Measurement(name, float("nan"), unit, now, Quality.BAD))

        inverter = self._first(sunspec.INVERTER_MODELS)
        if inverter is not None:
            values = await self.read_model(inverter)
            # Inverter models count AC output (feed-in) as positive.
            add("power_w", values.get("W"), "W", -1.0)
            add("frequency_hz", values.get("Hz"), "Hz")
            add("energy_wh", values.get("WH") if inverter < 700 else values.get("TotWhInj"), "Wh")
        if 124 in self.models:
            add("soc_pct", (await self.read_model(124)).get("ChaState"), "%")
        elif 802 in self.models:
            add("soc_pct", (await self.read_model(802)).get("SoC"), "%")
        meter = self._first(sunspec.METER_MODELS)
        if meter is not None:
            values = await self.read_model(meter)
            add("meter_power_w", values.get("W"), "W")
            add("meter_import_wh", values.get("TotWhImp"), "Wh")
            add("meter_export_wh", values.get("TotWhExp"), "Wh")
        return out

    async def write_setpoint(self, setpoint: Setpoint) -> None:
        caps = self.capabilities
        if caps.kind is DeviceKind.BATTERY:
            await self._write_storage(setpoint.power_w)
        elif caps.kind is DeviceKind.PV:
            await self._write_curtailment(-setpoint.power_w)
        else:
            raise SunSpecError(f"{self.device_id}: a {caps.kind} takes no setpoints")

    async def _write_storage(self, power_w: float) -> None:
        """Model 124: a charge (or discharge) rate in % of WChaMax, and the mode bits."""
        values = await self.read_model(124)
        layout = sunspec.layout(124)
        base = self.models[124].address
        sf = int(values.get("InOutWRte_SF") or 0)
        pct = abs(power_w) / float(values["WChaMax"]) * 100.0 if values.get("WChaMax") else 0.0
        raw = sunspec.scaled_to_raw(pct, sf)
        charge, discharge = (raw, -raw) if power_w >= 0 else (-raw, raw)
        out_p, in_p = layout.point("OutWRte"), layout.point("InWRte")
        assert in_p.offset == out_p.offset + 1  # contiguous in every 124 definition
        await self._write(base + out_p.offset, [*sunspec.encode_point(discharge, out_p),
                                                *sunspec.encode_point(charge, in_p)])
        mode = 0b11 if power_w == 0 else (0b01 if power_w > 0 else 0b10)
        await self._write(base + layout.point("StorCtl_Mod").offset, [mode])

    async def _write_curtailment(self, limit_w: float) -> None:
        """Model 123 or 704: a production cap in % of WRtg, enabled."""
        rated = self.capabilities.max_production_w
        model = self._first(sunspec.CONTROL_MODELS)
        if model is None or rated <= 0:
            raise SunSpecError(f"{self.device_id}: no control model or no rating")
        values = await self.read_model(model)
        layout = sunspec.layout(model)
        base = self.models[model].address
        raw = sunspec.scaled_to_raw(max(limit_w, 0.0) / rated * 100.0, int(values.get("WMaxLimPct_SF") or 0))
        pct_point = layout.point("WMaxLimPct")
        await self._write(base + pct_point.offset, sunspec.encode_point(raw, pct_point))
        enable = layout.point("WMaxLim_Ena" if model == 123 else "WMaxLimPctEna")
        await self._write(base + enable.offset, [1])

    async def read_setpoint(self) -> float | None:
        caps = self.capabilities
        if caps.kind is DeviceKind.BATTERY:
            values = await self.read_model(124)
            mode, cap = values.get("StorCtl_Mod"), values.get("WChaMax")
            if not isinstance(mode, int) or not cap:
                return None
            if mode & 0b11 == 0b11:
                return 0.0
            if mode & 0b01:
                return float(values.get("InWRte") or 0.0) / 100.0 * float(cap)
            if mode & 0b10:
                return -float(values.get("OutWRte") or 0.0) / 100.0 * float(cap)
            return None
        model = self._first(sunspec.CONTROL_MODELS)
        if caps.kind is DeviceKind.PV and model is not None:
            pct = (await self.read_model(model)).get("WMaxLimPct")
            return None if pct is None else -float(pct) / 100.0 * caps.max_production_w
        return None
