"""Simulated SunSpec devices on a real pymodbus server, for `flexhub sim`, tests and the bench.

The physics are simple but consistent: a battery's state of charge follows the
power it is commanded to (capped by its limits and by empty/full), and a PV
inverter produces its available power unless curtailed by WMaxLimPct.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from adapters.device_common.physics import run_physics
from adapters.modbus import sunspec

_FC_READ, _FC_WRITE = 3, 16


@dataclass
class SimulatedSunSpec:
    """One device behind one Modbus TCP server on loopback (port 0 picks a free port)."""

    kind: str  # "battery" | "pv"
    rated_w: float = 5000.0
    capacity_wh: float = 10000.0
    soc_pct: float = 50.0
    available_pv_w: float = 4000.0
    host: str = "127.0.0.1"
    port: int = 0
    serial: str = "SIM0001"
    power_w: float = 0.0  # load convention, as the physics last computed it
    energy_wh: float = 0.0
    _server: ModbusTcpServer | None = field(default=None, init=False, repr=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False, repr=False)
    _models: dict[int, int] = field(default_factory=dict, init=False, repr=False)

    def _image(self) -> list[int]:
        rated = int(self.rated_w)
        models = [
            sunspec.build_model(1, {"Mn": "flexhub", "Md": f"sim-{self.kind}", "Vr": "1.0", "SN": self.serial,
                                    "DA": 1}),
            sunspec.build_model(120, {"DERTyp": 82 if self.kind == "battery" else 4, "WRtg": rated, "WRtg_SF": 0,
                                      "WHRtg": int(self.capacity_wh), "WHRtg_SF": 0, "MaxChaRte": rated,
                                      "MaxChaRte_SF": 0, "MaxDisChaRte": rated, "MaxDisChaRte_SF": 0}),
            sunspec.build_model(103, {"W": 0, "W_SF": 0, "Hz": 5000, "Hz_SF": -2, "WH": 1, "WH_SF": 0, "St": 4}),
        ]
        if self.kind == "battery":
            models.append(sunspec.build_model(124, {
                "WChaMax": rated, "WChaMax_SF": 0, "StorCtl_Mod": 0, "ChaState": round(self.soc_pct * 100),
                "ChaState_SF": -2, "OutWRte": 0, "InWRte": 0, "InOutWRte_SF": -2, "ChaSt": 6,
                "MinRsvPct": 0, "MinRsvPct_SF": 0}))
        else:
            models.append(sunspec.build_model(123, {"WMaxLimPct": 10000, "WMaxLimPct_SF": -2, "WMaxLim_Ena": 0}))
        models.append(sunspec.build_model(203, {"W": 0, "W_SF": 0, "Hz": 5000, "Hz_SF": -2, "TotWhImp": 1,
                                                "TotWhExp": 1, "TotWh_SF": 0}))
        address = sunspec.SUNSPEC_BASE + 2
        for m in models:
            self._models[m[0]] = address
            address += len(m)
        return sunspec.build_image(models)

    async def start(self, tick_s: float = 0.2) -> int:
        image = self._image()
        device = SimDevice(id=1, simdata=[SimData(address=sunspec.SUNSPEC_BASE, values=image,
                                                  datatype=DataType.REGISTERS)])
        self._server = ModbusTcpServer(device, address=(self.host, self.port))
        self._tasks.append(asyncio.create_task(self._server.serve_forever()))
        for _ in range(200):
            transport = getattr(self._server, "transport", None)
            if transport is not None and getattr(transport, "sockets", None):
                self.port = transport.sockets[0].getsockname()[1]
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("simulated SunSpec server did not start listening")
        if tick_s > 0:
            self._tasks.append(asyncio.create_task(run_physics(self.step, tick_s)))
        return self.port

    async def stop(self) -> None:
        for task in self._tasks[1:]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        if self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._tasks[0], 2)
        self._tasks.clear()

    async def _get(self, model_id: int, point: str) -> int:
        p = sunspec.layout(model_id).point(point)
        words = await self._server_values(self._models[model_id] + p.offset, p.size)
        return int(sunspec.decode_raw(words, sunspec.Point(p.name, 0, p.type, p.size, None)) or 0)

    async def _server_values(self, address: int, count: int) -> list[int]:
        assert self._server is not None
        return [int(v) for v in await self._server.async_getValues(1, _FC_READ, address, count)]

    async def _set(self, model_id: int, point: str, raw: int) -> None:
        assert self._server is not None
        p = sunspec.layout(model_id).point(point)
        await self._server.async_setValues(1, _FC_WRITE, self._models[model_id] + p.offset,
                                           sunspec.encode_point(raw, p))

    async def step(self, dt_s: float) -> None:
        """Advance the physics by ``dt_s`` seconds from the control registers."""
        if self.kind == "battery":
            mode = await self._get(124, "StorCtl_Mod")
            charge_pct = await self._get(124, "InWRte") / 100.0
            discharge_pct = await self._get(124, "OutWRte") / 100.0
            power = 0.0
            if mode & 0b01 and charge_pct > 0:
                power = charge_pct / 100.0 * self.rated_w
            elif mode & 0b10 and discharge_pct > 0:
                power = -discharge_pct / 100.0 * self.rated_w
            power = max(-self.rated_w, min(self.rated_w, power))
            if (power > 0 and self.soc_pct >= 100.0) or (power < 0 and self.soc_pct <= 0.0):
                power = 0.0
            self.soc_pct = min(100.0, max(0.0, self.soc_pct + power * dt_s / 3600.0 / self.capacity_wh * 100.0))
            await self._set(124, "ChaState", round(self.soc_pct * 100))
            await self._set(124, "ChaSt", 4 if power > 0 else 3 if power < 0 else 6)
        else:
            enabled = await self._get(123, "WMaxLim_Ena") == 1
            cap = await self._get(123, "WMaxLimPct") / 100.0 / 100.0 * self.rated_w if enabled else self.rated_w
            power = -min(self.available_pv_w, cap)
        self.power_w = power
        self.energy_wh += abs(power) * dt_s / 3600.0
        await self._set(103, "W", round(-power))
        await self._set(103, "WH", max(1, round(self.energy_wh)))
        await self._set(203, "W", round(power))
        meter = "TotWhImp" if power > 0 else "TotWhExp"
        await self._set(203, meter, max(1, await self._get(203, meter) + round(abs(power) * dt_s / 3600.0)))
