"""The agent's device list, from a JSON or TOML file: which devices, how to reach them, what to offer.

Example (TOML)::

    party = "site-1"
    poll_seconds = 1.0
    measurement_seconds = 60

    [[devices]]
    protocol = "modbus"
    device_id = "battery-1"
    host = "10.0.0.5"
    port = 502
    offer = { kind = "battery", slices = 8, min_soc_pct = 10, max_soc_pct = 95 }

    [[devices]]
    protocol = "opcua"
    offer = { kind = "heat_pump", comfort_min_c = 19, comfort_max_c = 22,
              heat_capacity_kwh_per_k = 2, heat_loss_kw = 1.5, cop = 3 }
    [devices.config]   # an OpcUaDeviceConfig
    ...
"""

from __future__ import annotations

import json
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from adapters.device_common import Device
from adapters.iec61850.config import Iec61850DeviceConfig
from adapters.iec61850.device import Iec61850Device
from adapters.modbus.device import SunSpecDevice
from adapters.opcua.config import OpcUaDeviceConfig
from adapters.opcua.device import OpcUaDevice
from gateway.bus import EventBus
from gateway.foa import builders
from gateway.foa.agent import FlexOfferAgent, OfferBuilder


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatteryOffer(_Strict):
    kind: Literal["battery"]
    slices: int = Field(default=8, ge=1)
    interval_seconds: int = 900
    min_soc_pct: float = 10.0
    max_soc_pct: float = 95.0
    energy_neutral: bool = False


class PvOffer(_Strict):
    kind: Literal["pv"]
    slices: int = Field(default=8, ge=1)
    interval_seconds: int = 900


class HeatPumpOffer(_Strict):
    kind: Literal["heat_pump"]
    comfort_min_c: float
    comfort_max_c: float
    heat_capacity_kwh_per_k: float = Field(gt=0)
    heat_loss_kw: float = Field(ge=0)
    cop: float = Field(gt=0)
    slices: int = Field(default=8, ge=1)
    interval_seconds: int = 900


class EvOffer(_Strict):
    kind: Literal["ev_charger"]
    interval_seconds: int = 900


class SwitchableOffer(_Strict):
    kind: Literal["switchable_load"]
    run_slices: int = Field(ge=1)
    window_hours: float = Field(gt=0)
    interval_seconds: int = 900


OfferConfig = Annotated[BatteryOffer | PvOffer | HeatPumpOffer | EvOffer | SwitchableOffer,
                        Field(discriminator="kind")]


class ModbusEntry(_Strict):
    protocol: Literal["modbus"]
    device_id: str
    host: str
    port: int = 502
    unit: int = 1
    offer: OfferConfig | None = None


class OpcUaEntry(_Strict):
    protocol: Literal["opcua"]
    config: OpcUaDeviceConfig
    offer: OfferConfig | None = None


class Iec61850Entry(_Strict):
    protocol: Literal["iec61850"]
    config: Iec61850DeviceConfig
    offer: OfferConfig | None = None


DeviceEntry = Annotated[ModbusEntry | OpcUaEntry | Iec61850Entry, Field(discriminator="protocol")]


class AgentConfig(_Strict):
    party: str
    poll_seconds: float = Field(default=1.0, gt=0)
    measurement_seconds: float = Field(default=60.0, ge=0)
    devices: list[DeviceEntry]

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        text = path.read_text()
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        return cls.model_validate(data)


def make_device(entry: ModbusEntry | OpcUaEntry | Iec61850Entry) -> Device:
    if isinstance(entry, ModbusEntry):
        return SunSpecDevice(entry.device_id, host=entry.host, port=entry.port, unit=entry.unit)
    if isinstance(entry, OpcUaEntry):
        return OpcUaDevice.from_config(entry.config)
    return Iec61850Device.from_config(entry.config)


def make_builder(offer: OfferConfig | None) -> OfferBuilder | None:
    if offer is None:
        return None
    if isinstance(offer, BatteryOffer):
        return builders.battery_builder(offer.slices, offer.interval_seconds, offer.min_soc_pct, offer.max_soc_pct,
                                        offer.energy_neutral)
    if isinstance(offer, PvOffer):
        return builders.pv_builder(offer.slices, offer.interval_seconds)
    if isinstance(offer, HeatPumpOffer):
        return builders.heat_pump_builder(
            comfort_min_c=offer.comfort_min_c, comfort_max_c=offer.comfort_max_c,
            heat_capacity_kwh_per_k=offer.heat_capacity_kwh_per_k, heat_loss_kw=offer.heat_loss_kw, cop=offer.cop,
            slices=offer.slices, interval_seconds=offer.interval_seconds)
    if isinstance(offer, EvOffer):
        return builders.ev_builder(offer.interval_seconds)
    return builders.switchable_load_builder(run_slices=offer.run_slices, window=timedelta(hours=offer.window_hours),
                                            interval_seconds=offer.interval_seconds)


def build_agent(config: AgentConfig, sessions: sessionmaker[Session], bus: EventBus | None = None) -> FlexOfferAgent:
    agent = FlexOfferAgent(config.party, sessions, bus, measurement_period_s=config.measurement_seconds)
    for entry in config.devices:
        options: dict[str, Any] = {}
        if entry.offer is not None and entry.offer.kind == "heat_pump":
            options["state_key"] = "temperature_c"
            options["resend_threshold"] = 0.5
        agent.add(make_device(entry), make_builder(entry.offer), **options)
    return agent
