"""An OPC UA device behind the common device interface (asyncua client).

Measurements arrive by subscription: the server pushes changes and ``read()``
returns the latest value of each with the server's timestamp and status, so polling
a thousand nodes costs nothing on the wire. A node that has not reported yet is read
directly once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from asyncua import ua
from asyncua.client import Client
from asyncua.common.subscription import Subscription
from asyncua.ua.uaerrors import UaError

from adapters.device_common.device import (
    Capabilities,
    ConfiguredDevice,
    DeviceOffline,
    Measurement,
    Quality,
    Setpoint,
    utc_now,
)
from adapters.opcua.config import OpcUaDeviceConfig

_CONNECT_ERRORS = (OSError, asyncio.TimeoutError, UaError, ConnectionError)


def quality_of(status: ua.StatusCode | None) -> Quality:
    """OPC UA severity bits (Part 4, 7.34): 00 good, 01 uncertain, 10/11 bad."""
    if status is None:
        return Quality.GOOD
    severity = (status.value >> 30) & 0b11
    return Quality.GOOD if severity == 0 else Quality.UNCERTAIN if severity == 1 else Quality.BAD


@dataclass
class _Latest:
    """asyncua subscription handler: keeps the last data value per measurement name."""

    names: dict[str, str]  # node id string → measurement name
    units: dict[str, str]
    values: dict[str, Measurement] = field(default_factory=dict)

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        name = self.names.get(node.nodeid.to_string())
        if name is None:
            return
        value = data.monitored_item.Value
        self.values[name] = _measurement(name, self.units.get(name, ""), value)


def _measurement(name: str, unit: str, value: ua.DataValue) -> Measurement:
    raw = value.Value.Value if value.Value is not None else None
    quality = quality_of(value.StatusCode)
    if not isinstance(raw, int | float):
        return Measurement(name, float("nan"), unit, value.SourceTimestamp or utc_now(), Quality.BAD)
    stamp = value.SourceTimestamp or value.ServerTimestamp or utc_now()
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return Measurement(name, float(raw), unit, stamp, quality)


@dataclass
class OpcUaDevice(ConfiguredDevice[OpcUaDeviceConfig]):
    timeout_s: float = 4.0
    _client: Client | None = field(default=None, init=False, repr=False)
    _subscription: Subscription | None = field(default=None, init=False, repr=False)
    _latest: _Latest | None = field(default=None, init=False, repr=False)

    async def connect(self) -> None:
        if self._client is not None:
            return
        cfg = self.cfg
        client = Client(cfg.endpoint, timeout=self.timeout_s)
        if cfg.security:
            await client.set_security_string(cfg.security)
        if cfg.username:
            client.set_user(cfg.username)
            client.set_password(cfg.password or "")
        try:
            await client.connect()
        except _CONNECT_ERRORS as exc:
            raise DeviceOffline(f"{self.device_id}: cannot connect to {cfg.endpoint}: {exc!r}") from exc
        self._client = client
        latest = _Latest({client.get_node(n).nodeid.to_string(): name for name, n in cfg.measurements.items()},
                         cfg.units)
        try:
            self._subscription = await client.create_subscription(cfg.publishing_interval_ms, latest)
            await self._subscription.subscribe_data_change([client.get_node(n) for n in cfg.measurements.values()])
        except _CONNECT_ERRORS as exc:
            await self.close()
            raise DeviceOffline(f"{self.device_id}: subscription failed: {exc!r}") from exc
        self._latest = latest

    async def close(self) -> None:
        client, self._client, self._subscription, self._latest = self._client, None, None, None
        if client is not None:
            try:
                await client.disconnect()
            except _CONNECT_ERRORS:
                client.disconnect_socket()

    def _connected(self) -> Client:
        if self._client is None:
            raise DeviceOffline(f"{self.device_id}: not connected")
        return self._client

    async def discover(self) -> Capabilities:
        cfg = self.cfg
        return Capabilities(cfg.kind, cfg.max_consumption_w, cfg.max_production_w,
                            controllable=cfg.setpoint_node is not None, energy_capacity_wh=cfg.capacity_wh)

    async def read(self) -> list[Measurement]:
        client = self._connected()
        await self._check_alive(client)
        assert self._latest is not None
        out: list[Measurement] = []
        for name, node_id in self.cfg.measurements.items():
            latest = self._latest.values.get(name)
            if latest is None:
                try:
                    value = await client.get_node(node_id).read_data_value()
                except _CONNECT_ERRORS as exc:
                    await self.close()
                    raise DeviceOffline(f"{self.device_id}: {exc!r}") from exc
                latest = _measurement(name, self.cfg.units.get(name, ""), value)
            out.append(latest)
        return out

    async def _check_alive(self, client: Client) -> None:
        """Subscriptions go quiet when the link dies; asyncua's keep-alive notices first."""
        try:
            await client.check_connection()
        except _CONNECT_ERRORS as exc:
            await self.close()
            raise DeviceOffline(f"{self.device_id}: connection lost: {exc!r}") from exc

    async def write_setpoint(self, setpoint: Setpoint) -> None:
        client = self._connected()
        node = self.cfg.setpoint_node
        if node is None:
            raise ValueError(f"{self.device_id}: no setpoint node configured")
        try:
            await client.get_node(node).write_value(ua.Variant(float(setpoint.power_w), ua.VariantType.Double))
        except _CONNECT_ERRORS as exc:
            await self.close()
            raise DeviceOffline(f"{self.device_id}: {exc!r}") from exc

    async def read_setpoint(self) -> float | None:
        client = self._connected()
        node = self.cfg.setpoint_readback_node or self.cfg.setpoint_node
        if node is None:
            return None
        try:
            value = await client.get_node(node).read_value()
        except _CONNECT_ERRORS as exc:
            await self.close()
            raise DeviceOffline(f"{self.device_id}: {exc!r}") from exc
        return float(value) if isinstance(value, int | float) else None
