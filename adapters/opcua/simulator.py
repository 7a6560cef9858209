"""A simulated battery behind a real asyncua server, for `flexhub sim` and the tests.

The battery follows its setpoint within its power limit, its SoC follows the power,
and it stops at empty and full; Power and SoC are published as variables whose
changes OPC UA clients receive by subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from asyncua import ua
from asyncua.server import Server

from adapters.device_common import DeviceKind
from adapters.device_common.physics import run_physics
from adapters.opcua.config import OpcUaDeviceConfig

NAMESPACE_URI = "urn:flexhub:sim"


@dataclass
class SimulatedOpcUaBattery:
    rated_w: float = 5000.0
    capacity_wh: float = 10000.0
    soc_pct: float = 50.0
    host: str = "127.0.0.1"
    port: int = 0
    power_w: float = 0.0
    certificate: Path | None = None
    private_key: Path | None = None
    """With both, the server offers only Basic256Sha256 Sign&Encrypt (no unsecured endpoint)."""
    _server: Server | None = field(default=None, init=False, repr=False)
    _nodes: dict[str, object] = field(default_factory=dict, init=False, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _ns: int = field(default=2, init=False)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/flexhub/"

    def config(self, device_id: str = "opcua-battery") -> OpcUaDeviceConfig:
        """The node map a hub would be configured with for this device."""
        ns = self._ns
        return OpcUaDeviceConfig(
            device_id=device_id, endpoint=self.endpoint, kind=DeviceKind.BATTERY,
            max_consumption_w=self.rated_w, max_production_w=self.rated_w, capacity_wh=self.capacity_wh,
            measurements={"power_w": f"ns={ns};s=Battery.Power", "soc_pct": f"ns={ns};s=Battery.SoC"},
            units={"power_w": "W", "soc_pct": "%"},
            setpoint_node=f"ns={ns};s=Battery.Setpoint", publishing_interval_ms=100,
        )

    async def start(self, tick_s: float = 0.2) -> int:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://{self.host}:{self.port}/flexhub/")
        if self.certificate is not None and self.private_key is not None:
            await server.load_certificate(str(self.certificate))
            await server.load_private_key(str(self.private_key))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace(NAMESPACE_URI)
        self._ns = ns
        battery = await server.nodes.objects.add_object(ua.NodeId("Battery", ns), "Battery")
        for name, value in (("Power", 0.0), ("SoC", self.soc_pct), ("Setpoint", 0.0)):
            node = await battery.add_variable(ua.NodeId(f"Battery.{name}", ns), name,
                                              ua.Variant(value, ua.VariantType.Double))
            self._nodes[name] = node
        await self._nodes["Setpoint"].set_writable()  # type: ignore[attr-defined]
        await server.start()
        self._server = server
        self.port = server.bserver._server.sockets[0].getsockname()[1]
        if tick_s > 0:
            self._task = asyncio.create_task(run_physics(self.step, tick_s))
        return self.port

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def reset(self, soc_pct: float) -> None:
        """Back to idle at ``soc_pct`` (between test cases, or on `flexhub sim` restart)."""
        self.soc_pct = soc_pct
        await self._nodes["Setpoint"].write_value(ua.Variant(0.0, ua.VariantType.Double))  # type: ignore[attr-defined]
        await self.step(0.0)

    async def step(self, dt_s: float) -> None:
        setpoint = float(await self._nodes["Setpoint"].read_value())  # type: ignore[attr-defined]
        power = max(-self.rated_w, min(self.rated_w, setpoint))
        if (power > 0 and self.soc_pct >= 100.0) or (power < 0 and self.soc_pct <= 0.0):
            power = 0.0
        self.soc_pct = min(100.0, max(0.0, self.soc_pct + power * dt_s / 3600.0 / self.capacity_wh * 100.0))
        self.power_w = power
        await self._nodes["Power"].write_value(ua.Variant(power, ua.VariantType.Double))  # type: ignore[attr-defined]
        await self._nodes["SoC"].write_value(ua.Variant(self.soc_pct, ua.VariantType.Double))  # type: ignore[attr-defined]
