"""Simulated devices and the flex-offer agent inside ``flexhub serve`` (``make run``).

The developers' guide promises that ``make run`` shows the whole chain with nothing
to install: simulated SunSpec, OPC UA and IEC 61850 devices on loopback, and the FOA
agent turning their state into offers and measurements in the hub's own store. The
same simulators back ``flexhub sim``; the agent is the one ``flexhub foa`` runs, here
on the app's session factory and bus so its offers reach subscribers at once.

Off unless ``simulate_devices`` is set: a production hub must never invent devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.config import Settings, SimulationSettings

log = logging.getLogger("flexhub.devices")

Stop = Callable[[], Awaitable[None]]


@dataclass
class SimulatedSite:
    """Running simulators and their endpoints (the JSON ``flexhub sim`` prints)."""

    endpoints: dict[str, Any] = field(default_factory=lambda: {"modbus": []})
    _stoppers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def stop(self) -> None:
        """Stop every simulator, newest first; one failing to stop does not keep the others running."""
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                await stopper()
            except Exception:
                log.exception("stopping a simulated device failed")


async def start_simulators(batteries: int, pvs: int, opcua: bool, iec61850: bool, host: str = "127.0.0.1",
                           base_port: int = 0, tick_s: float = 0.5) -> SimulatedSite:
    """Start the simulators (``base_port`` 0: ephemeral ports); on any failure, those started are stopped."""
    from adapters.iec61850.simulator import SimulatedDer
    from adapters.modbus.simulator import SimulatedSunSpec
    from adapters.opcua.simulator import SimulatedOpcUaBattery

    site = SimulatedSite()
    try:
        for index in range(batteries + pvs):
            kind = "battery" if index < batteries else "pv"
            sim = SimulatedSunSpec(kind, host=host, port=base_port + index if base_port else 0,
                                   serial=f"SIM{index:04d}")
            await sim.start(tick_s=tick_s)
            site._stoppers.append(sim.stop)
            site.endpoints["modbus"].append({"device_id": f"sim-{kind}-{index}", "kind": kind, "host": host,
                                             "port": sim.port, "unit": 1})
        if opcua:
            opcua_sim = SimulatedOpcUaBattery(host=host, port=base_port + batteries + pvs if base_port else 0)
            await opcua_sim.start(tick_s=tick_s)
            site._stoppers.append(opcua_sim.stop)
            site.endpoints["opcua"] = opcua_sim.config("sim-opcua-battery").model_dump(mode="json")
        if iec61850:
            der = SimulatedDer(host=host, port=base_port + batteries + pvs + 1 if base_port else 0)
            der.start()

            async def stop_der() -> None:
                der.stop()

            site._stoppers.append(stop_der)
            site.endpoints["iec61850"] = der.config("sim-der").model_dump(mode="json")
    except BaseException:
        await site.stop()
        raise
    return site


def agent_config(endpoints: dict[str, Any], sim: SimulationSettings) -> Any:
    """The FOA agent's configuration for a simulated site: batteries and PV offer, the DER reports."""
    from gateway.foa.config import AgentConfig

    devices: list[dict[str, Any]] = [
        {"protocol": "modbus", "device_id": e["device_id"], "host": e["host"], "port": e["port"], "unit": e["unit"],
         "offer": {"kind": e["kind"]}}
        for e in endpoints.get("modbus", [])
    ]
    if "opcua" in endpoints:
        devices.append({"protocol": "opcua", "config": endpoints["opcua"], "offer": {"kind": "battery"}})
    if "iec61850" in endpoints:
        devices.append({"protocol": "iec61850", "config": endpoints["iec61850"]})  # no state of charge: no offer
    return AgentConfig.model_validate({"party": sim.party, "poll_seconds": sim.poll_seconds,
                                       "measurement_seconds": sim.measurement_seconds, "devices": devices})


async def _nothing() -> None:
    return None


async def start(app: Any) -> Stop:
    """Start the simulated site and its agent when ``simulate_devices`` is on; return their stop.

    With several workers every process would simulate its own site and offer it twice,
    so simulation is single-process only.
    """
    from gateway.foa.runner import run_configured_agent

    settings: Settings = app.state.settings
    if not settings.simulate_devices or getattr(app.state, "simulated_site", None) is not None:
        return _nothing
    if settings.workers > 1:
        log.warning("simulate_devices ignored: it needs a single worker (workers=%d)", settings.workers)
        return _nothing
    sim = settings.simulation
    site = await start_simulators(sim.batteries, sim.pv, sim.opcua, sim.iec61850, tick_s=sim.tick_seconds)
    app.state.simulated_site = site
    stop_event = asyncio.Event()
    try:
        config = agent_config(site.endpoints, sim)
    except BaseException:
        await site.stop()
        app.state.simulated_site = None
        raise
    task = asyncio.create_task(
        run_configured_agent(config, app.state.sessionmaker, getattr(app.state, "bus", None), stop_event),
        name="foa-agent-simulated",
    )
    log.info("simulated devices for party %r: %s", sim.party, site.endpoints)

    async def stop() -> None:
        stop_event.set()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception:
            log.exception("the simulated site's agent failed")
        finally:
            await site.stop()
            app.state.simulated_site = None

    return stop
