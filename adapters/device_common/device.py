"""Device capabilities, measurements, setpoints, and the base class drivers fill in.

Power is in watts with the core's load convention: positive means the device takes
energy from the grid (a charging battery), negative means it feeds in (PV, a
discharging battery). Drivers translate to whatever sign their protocol uses.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, Self, TypeVar


class DeviceKind(StrEnum):
    BATTERY = "battery"
    PV = "pv"
    EV_CHARGER = "ev_charger"
    HEAT_PUMP = "heat_pump"
    SWITCHABLE_LOAD = "switchable_load"
    METER = "meter"


class Quality(StrEnum):
    """OPC UA / IEC 61850 style quality, reduced to the three states the hub acts on."""

    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


class DeviceOffline(ConnectionError):
    """The device cannot be reached; callers raise an alarm and reconnect with backoff."""


class SetpointNotConfirmed(RuntimeError):
    """The device did not report the commanded setpoint back after every retry."""


@dataclass(frozen=True)
class Capabilities:
    """What a device can do; the agent never commands outside these limits.

    ``max_consumption_w`` and ``max_production_w`` are magnitudes (>= 0): a battery
    charging at up to 5 kW and discharging at up to 4 kW has 5000 and 4000.
    """

    kind: DeviceKind
    max_consumption_w: float
    max_production_w: float
    controllable: bool
    energy_capacity_wh: float | None = None

    def clamp(self, power_w: float) -> float:
        return min(max(power_w, -self.max_production_w), self.max_consumption_w)

    def allows(self, power_w: float, tolerance_w: float = 1e-6) -> bool:
        return -self.max_production_w - tolerance_w <= power_w <= self.max_consumption_w + tolerance_w


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float
    unit: str
    timestamp: datetime
    quality: Quality = Quality.GOOD


@dataclass(frozen=True)
class Setpoint:
    """An active-power setpoint in W (load convention)."""

    power_w: float


@dataclass
class Device(ABC):
    """A field device behind one driver.

    Drivers implement the four protocol hooks; ``apply`` adds what every driver needs
    the same way: the limits check, read-back confirmation and retries.
    """

    device_id: str
    retries: int = 3
    retry_delay_s: float = 0.2
    readback_tolerance_w: float = 1.0
    _capabilities: Capabilities | None = field(default=None, init=False, repr=False)

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def discover(self) -> Capabilities:
        """Learn the device's kind and limits from the device itself (or its config)."""

    @abstractmethod
    async def read(self) -> list[Measurement]: ...

    @abstractmethod
    async def write_setpoint(self, setpoint: Setpoint) -> None:
        """Send the setpoint; no confirmation."""

    @abstractmethod
    async def read_setpoint(self) -> float | None:
        """The active-power setpoint the device reports it is following, in W."""

    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            raise RuntimeError(f"device {self.device_id}: capabilities unknown; call discover() first")
        return self._capabilities

    async def refresh_capabilities(self) -> Capabilities:
        self._capabilities = await self.discover()
        return self._capabilities

    async def apply(self, setpoint: Setpoint) -> float:
        """Command ``setpoint``, confirm it by read-back, retry; return the confirmed power.

        A setpoint outside the device's limits is refused rather than clamped: the
        caller (a schedule) asked for something the device cannot do, and that has to
        be reported, not quietly changed.
        """
        caps = self.capabilities
        if not caps.controllable:
            raise ValueError(f"device {self.device_id} is not controllable")
        if not caps.allows(setpoint.power_w):
            raise ValueError(
                f"device {self.device_id}: setpoint {setpoint.power_w:.1f} W outside "
                f"[-{caps.max_production_w:.1f}, {caps.max_consumption_w:.1f}] W"
            )
        last: float | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_delay_s * (2 ** (attempt - 1)))
            try:
                await self.write_setpoint(setpoint)
                last = await self.read_setpoint()
            except DeviceOffline:
                if attempt == self.retries:
                    raise
                continue
            if last is not None and abs(last - setpoint.power_w) <= self.readback_tolerance_w:
                return last
        raise SetpointNotConfirmed(
            f"device {self.device_id}: commanded {setpoint.power_w:.1f} W, device reports {last} W "
            f"after {self.retries + 1} attempts"
        )


class _Identified(Protocol):
    @property
    def device_id(self) -> str: ...


ConfigT = TypeVar("ConfigT", bound=_Identified)


@dataclass
class ConfiguredDevice(Device, Generic[ConfigT]):
    """A device driven from its own configuration record (OPC UA, IEC 61850).

    The record is optional at construction so tests can build a bare driver; any
    protocol call needs it, through ``cfg``.
    """

    config: ConfigT | None = None

    @classmethod
    def from_config(cls, config: ConfigT, **kwargs: Any) -> Self:
        return cls(device_id=config.device_id, config=config, **kwargs)

    @property
    def cfg(self) -> ConfigT:
        if self.config is None:
            raise RuntimeError(f"{self.device_id}: no configuration")
        return self.config


def utc_now() -> datetime:
    return datetime.now(UTC)
