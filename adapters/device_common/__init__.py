"""The one device abstraction every field driver implements (Modbus, OPC UA, IEC 61850).

It lives in a neutral package because adapters never import each other: each driver
imports this, and the flex-offer agent in the gateway talks only to this interface.
"""

from adapters.device_common.device import (
    Capabilities,
    Device,
    DeviceKind,
    DeviceOffline,
    Measurement,
    Quality,
    Setpoint,
    SetpointNotConfirmed,
)
from adapters.device_common.execution import (
    AcceleratedClock,
    Clock,
    ExecutionReport,
    SliceOutcome,
    SystemClock,
    execute,
    slice_setpoints,
)
from adapters.device_common.reconnect import Backoff

__all__ = [
    "AcceleratedClock",
    "Backoff",
    "Capabilities",
    "Clock",
    "Device",
    "DeviceKind",
    "DeviceOffline",
    "ExecutionReport",
    "Measurement",
    "Quality",
    "Setpoint",
    "SetpointNotConfirmed",
    "SliceOutcome",
    "SystemClock",
    "execute",
    "slice_setpoints",
]
