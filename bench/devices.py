"""Benchmark: N simulated SunSpec devices polled every second over loopback.

The devices run in a separate process (`flexhub sim`: one pymodbus server per
device, physics ticking every second), so the hub's CPU figure is the hub's alone.
The hub connects, discovers each model chain, then polls every device once a
second: each poll reads the inverter, storage and meter models (three Modbus
requests) and decodes them with their scale factors into measurements.

Figures: the achieved poll-cycle time p50/p99 (start of a cycle until the last
device's reading arrived) against the 1-second cycle, and the hub's CPU share in
cores (process CPU time / wall time) against the one-core target.

Prints ONE final JSON line. Smoke-test with ``--quick``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.device_common import DeviceOffline  # noqa: E402
from adapters.modbus.device import SunSpecDevice  # noqa: E402
from adapters.modbus.sunspec import SunSpecError  # noqa: E402


async def _connect_all(endpoints: list[dict[str, object]], concurrency: int = 50) -> list[SunSpecDevice]:
    gate = asyncio.Semaphore(concurrency)

    async def one(entry: dict[str, object]) -> SunSpecDevice:
        async with gate:
            device = SunSpecDevice(str(entry["device_id"]), host=str(entry["host"]), port=int(entry["port"]))  # type: ignore[call-overload]
            await device.connect()
            await device.refresh_capabilities()
            return device

    return list(await asyncio.gather(*(one(e) for e in endpoints)))


async def _poll(devices: list[SunSpecDevice], cycles: int, period: float) -> dict[str, float | int | bool]:
    loop = asyncio.get_running_loop()
    durations: list[float] = []
    errors = 0
    readings = 0

    async def read(device: SunSpecDevice) -> int:
        try:
            return len(await device.read())
        except (DeviceOffline, SunSpecError):
            return -1

    cpu_start, wall_start = time.process_time(), time.perf_counter()
    next_cycle = loop.time()
    for _ in range(cycles):
        start = loop.time()
        counts = await asyncio.gather(*(read(d) for d in devices))
        durations.append(loop.time() - start)
        errors += sum(1 for c in counts if c < 0)
        readings += sum(c for c in counts if c > 0)
        next_cycle += period
        await asyncio.sleep(max(0.0, next_cycle - loop.time()))
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    print("cycle durations (s):", " ".join(f"{d:.3f}" for d in durations), file=sys.stderr)
    p50, p99 = (float(v) for v in np.percentile(durations, [50, 99]))
    return {
        "cycles": cycles,
        "cycle_p50_s": round(p50, 4),
        "cycle_p99_s": round(p99, 4),
        "cycle_max_s": round(max(durations), 4),
        "cycle_target_s": period,
        "cycle_held_at_p99": p99 <= period,
        "hub_cpu_cores": round(cpu / wall, 3),
        "cpu_target_cores": 1.0,
        "under_one_core": cpu / wall < 1.0,
        "measurements_per_s": round(readings / wall, 1),
        "modbus_requests_per_s": round(3 * len(devices) * cycles / wall, 1),
        "read_errors": errors,
    }


async def _bench(devices_n: int, cycles: int, period: float) -> dict[str, object]:
    sim = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.sim_cmd", "--batteries", str(devices_n // 2),
         "--pv", str(devices_n - devices_n // 2), "--no-opcua", "--no-iec61850", "--tick", "1.0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert sim.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, sim.stdout.readline)
        endpoints = json.loads(line)["modbus"]
        t0 = time.perf_counter()
        devices = await _connect_all(endpoints)
        connect_s = time.perf_counter() - t0
        try:
            figures = await _poll(devices, cycles, period)
        finally:
            for d in devices:
                await d.close()
        sim_cpu = None
        try:
            with open(f"/proc/{sim.pid}/stat") as stat:
                fields = stat.read().split(")")[1].split()
                sim_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
        return {"bench": "devices", "devices": devices_n, "connect_and_discover_s": round(connect_s, 2),
                **figures, "simulator_cpu_s_total": sim_cpu, "cpu_count": os.cpu_count()}
    finally:
        sim.terminate()
        sim.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="20 devices, 5 cycles (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.cycles = 20, 5
    result = asyncio.run(_bench(args.devices, args.cycles, args.period))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
