"""A simulated DER IED on open61850's MMS server, for `flexhub sim`.

Its model comes from the SCL file shipped next to this module (LLN0 with a
measurement data set and report control block, MMXU1.TotW, DRCC1.OutWSet as a
direct-control APC). An operated set-point is echoed in OutWSet.mxVal and the
simulated inverter follows it at once, so TotW shows what was commanded. The
tests use an independent libiec61850 server instead; this one is for demos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from open61850.data import FloatData, IntData, StructureData, TimestampData
from open61850.server import IedModel, MmsServer

from adapters.device_common import DeviceKind
from adapters.iec61850.config import Iec61850Control, Iec61850DeviceConfig

DOMAIN = "SIMDER"


def _scl_path() -> str:
    return str(resources.files("adapters.iec61850") / "sim_der.scl.xml")


@dataclass
class SimulatedDer:
    host: str = "127.0.0.1"
    port: int = 0
    max_w: float = 5000.0
    setpoints: list[float] = field(default_factory=list)
    _server: MmsServer | None = field(default=None, init=False, repr=False)
    _model: IedModel | None = field(default=None, init=False, repr=False)

    def config(self, device_id: str = "sim-der") -> Iec61850DeviceConfig:
        """How a hub is configured for this IED (generation counted positive: sign -1)."""
        return Iec61850DeviceConfig(
            device_id=device_id, host=self.host, port=self.port, kind=DeviceKind.BATTERY,
            max_consumption_w=self.max_w, max_production_w=self.max_w, power_sign=-1.0,
            measurements={"power_w": f"{DOMAIN}/MMXU1$MX$TotW$mag$f"}, units={"power_w": "W"},
            setpoint=Iec61850Control(object=f"{DOMAIN}/DRCC1.OutWSet", readback=f"{DOMAIN}/DRCC1$MX$OutWSet$mxVal$f"),
            report_control=f"{DOMAIN}/LLN0$RP$urcbMeas01",
        )

    def start(self) -> int:
        self._model = IedModel.from_scl(_scl_path())
        self._server = MmsServer(self._model, self.host, self.port)
        self._server.start()
        self.port = self._server.port
        assert self._server.controls is not None
        self._server.controls.set_handler(f"{DOMAIN}/DRCC1.OutWSet", self._operate)
        self.set_power(0.0)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _set_float(self, data_object: str, attribute: str, value: float) -> None:
        assert self._model is not None
        with self._model.batch():
            self._model.set(f"{data_object}${attribute}", FloatData(value))
            self._model.set(f"{data_object}$t", TimestampData(datetime.now(UTC)))

    def set_power(self, watts: float) -> None:
        self._set_float(f"{DOMAIN}/MMXU1$MX$TotW", "mag$f", watts)

    def _operate(self, command: Any) -> int | None:
        value = command.ctl_val
        if isinstance(value, StructureData) and value.members:
            value = value.members[0]
        if not isinstance(value, FloatData | IntData):
            return 1  # not a number: refused
        watts = float(value.value)
        if abs(watts) > self.max_w:
            return 1  # AddCause "not-supported"... any non-None refuses the command
        self.setpoints.append(watts)
        self._set_float(f"{DOMAIN}/DRCC1$MX$OutWSet", "mxVal$f", watts)
        self.set_power(watts)
        return None
