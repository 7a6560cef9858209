"""`flexhub sim`: simulated devices on loopback for `make run`, demos and tests.

Starts SunSpec batteries and PV inverters (each its own pymodbus server), an
OPC UA battery (asyncua) and an IEC 61850 DER IED (open61850 MMS server), prints
one JSON line with every endpoint, and keeps the physics running until
interrupted or ``--duration`` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from typing import Annotated

import typer


async def _run(batteries: int, pvs: int, opcua: bool, iec61850: bool, host: str, base_port: int, duration: float,
               tick: float) -> None:
    from gateway.services.devices_runtime import start_simulators

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    site = await start_simulators(batteries, pvs, opcua, iec61850, host, base_port, tick)
    try:
        print(json.dumps(site.endpoints), flush=True)
        if duration > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        else:
            await stop.wait()
    finally:
        await site.stop()


def register(app: typer.Typer) -> None:
    @app.command()
    def sim(
        batteries: Annotated[int, typer.Option(min=0, help="SunSpec batteries (models 1, 120, 103, 124, 203)")] = 1,
        pv: Annotated[int, typer.Option(min=0, help="SunSpec PV inverters (models 1, 120, 103, 123, 203)")] = 1,
        opcua: Annotated[bool, typer.Option(help="Also start an OPC UA battery (asyncua server)")] = True,
        iec61850: Annotated[bool, typer.Option(help="Also start an IEC 61850 DER IED (open61850 server)")] = True,
        host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="First TCP port (0: free ephemeral ports)")] = 0,
        duration: Annotated[float, typer.Option(help="Seconds to run (0: until interrupted)")] = 0.0,
        tick: Annotated[float, typer.Option(help="Physics time step in seconds")] = 0.5,
    ) -> None:
        """Run simulated devices on loopback; prints their endpoints as one JSON line."""
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(batteries, pv, opcua, iec61850, host, port, duration, tick))


def main(argv: list[str] | None = None) -> None:
    """Run `sim` on its own (``python -m gateway.cli.sim_cmd``), before the CLI registers it."""
    standalone = typer.Typer(add_completion=False)
    register(standalone)
    standalone(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
