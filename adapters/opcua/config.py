"""What an OPC UA device looks like to the hub: endpoint, security and node map.

OPC UA has no DER information model the hub can rely on across vendors, so the
node IDs that carry each measurement and the setpoint come from configuration.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from adapters.device_common import DeviceKind


class OpcUaDeviceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str
    endpoint: str  # opc.tcp://host:port/path
    security: str | None = None
    """asyncua security string, e.g. ``Basic256Sha256,SignAndEncrypt,client.der,client.pem``;
    None for SecurityPolicy None (loopback and test rigs only)."""
    username: str | None = None
    password: str | None = None
    kind: DeviceKind
    max_consumption_w: float = Field(ge=0)
    max_production_w: float = Field(ge=0)
    capacity_wh: float | None = None
    measurements: dict[str, str]
    """Measurement name → node ID, e.g. ``{"power_w": "ns=2;s=Battery.Power"}``."""
    units: dict[str, str] = Field(default_factory=dict)
    setpoint_node: str | None = None
    """Node the active-power setpoint (W, load convention) is written to; None: not controllable."""
    setpoint_readback_node: str | None = None
    """Node where the device reports the setpoint it follows; defaults to ``setpoint_node``."""
    publishing_interval_ms: int = Field(default=500, gt=0)
