"""Device power becomes metered energy per offer slice, and the FMAN bill settles on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.device_common import Setpoint
from adapters.modbus.device import SunSpecDevice
from adapters.modbus.simulator import SimulatedSunSpec
from core.flexoffer import Schedule
from gateway.foa.agent import FlexOfferAgent
from gateway.foa.builders import battery_builder
from gateway.foa.metering import JOULES_PER_KWH, SliceMeter, slice_start
from gateway.services import flexoffers
from gateway.testing import HubTestClient, create_api_key

PARTY = "site-1"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class SteppedClock:
    """The agent's time, moved by the test (the device is real; only time is ours)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    async def sleep_until(self, moment: datetime) -> None:
        self.moment = max(self.moment, moment)


def test_constant_power_over_whole_slices() -> None:
    meter = SliceMeter(900)
    assert meter.add(T0, 4000.0) == []
    assert meter.add(T0 + timedelta(seconds=300), 4000.0) == []
    done = meter.add(T0 + timedelta(seconds=900), -2000.0)
    assert [(s.start, s.energy_kwh) for s in done] == [(T0, pytest.approx(1.0))]
    done = meter.add(T0 + timedelta(seconds=1800), 0.0)
    assert [(s.start, s.energy_kwh) for s in done] == [(T0 + timedelta(seconds=900), pytest.approx(-0.5))]


def test_partial_slices_and_gaps_are_not_reported() -> None:
    meter = SliceMeter(900)
    meter.add(T0 + timedelta(seconds=60), 1000.0)  # joined late: the first slice is partial
    assert meter.add(T0 + timedelta(seconds=900), 1000.0) == []
    meter.add(T0 + timedelta(seconds=1000), 1000.0)
    # 1000 s without a reading (longer than a slice): the slice in progress is dropped, as is the next
    assert meter.add(T0 + timedelta(seconds=2000), 1000.0) == []
    assert meter.add(T0 + timedelta(seconds=2700), 1000.0) == []
    done = meter.add(T0 + timedelta(seconds=3600), 1000.0)
    assert [s.start for s in done] == [T0 + timedelta(seconds=2700)]
    meter.reset()
    assert meter.add(T0 + timedelta(seconds=4500), 1000.0) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 900), st.floats(-5000, 5000)), min_size=1, max_size=40))
def test_whole_slices_add_up_to_the_integral(steps: list[tuple[int, float]]) -> None:
    """Energy of the reported slices equals the zero-order-hold integral over exactly those slices."""
    meter = SliceMeter(900)
    moment, power = T0, 0.0
    meter.add(moment, power)
    held: list[tuple[datetime, datetime, float]] = []
    reported = []
    for gap, next_power in steps:
        held.append((moment, moment + timedelta(seconds=gap), power))
        moment += timedelta(seconds=gap)
        power = next_power
        reported += meter.add(moment, power)
    for item in reported:
        end = item.start + timedelta(seconds=item.seconds)
        joules = sum(p * (min(b, end) - max(a, item.start)).total_seconds()
                     for a, b, p in held if b > item.start and a < end)
        assert item.energy_kwh == pytest.approx(joules / JOULES_PER_KWH, abs=1e-9)
        assert slice_start(item.start, 900) == item.start
    assert len({s.start for s in reported}) == len(reported)


async def test_bill_settles_on_the_devices_metered_energy(hub: HubTestClient, battery: SimulatedSunSpec) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    clock = SteppedClock(now)
    agent = FlexOfferAgent(PARTY, hub.app.state.sessionmaker, hub.app.state.bus, clock=clock,
                           measurement_period_s=0)
    managed = agent.add(SunSpecDevice("bat-1", port=battery.port, retry_delay_s=0.01), battery_builder(slices=2))
    assert await agent.poll("bat-1")
    with hub.app.state.sessionmaker() as session:
        offer = flexoffers.get_offer(session, PARTY, managed.offer_id or "")
        start = offer.earliest_start
        flexoffers.assign_schedule(session, None, PARTY, offer.id or "", Schedule(start=start, energy=[1.0, -0.5]))

    async def run_at(offset_s: int, power_w: float | None = None) -> None:
        if power_w is not None:
            await managed.device.apply(Setpoint(power_w))
            await battery.step(0.0)
        clock.moment = start + timedelta(seconds=offset_s)
        assert await agent.poll("bat-1")

    # The device charges 4 kW through the first slice as scheduled, then idles through the
    # second instead of discharging 2 kW.
    await run_at(0, 4000.0)
    await run_at(450)
    await run_at(900, 0.0)
    await run_at(1350)
    await run_at(1800)

    admin = {"X-API-Key": create_api_key(hub.app, "ops", ["admin"])}
    contract = {"party": PARTY, "contract_id": "c-site", "fixed_reward_eur": 0.0,
                "reward_per_kwh_energy_flexibility": 0.0, "reward_per_hour_time_flexibility": 0.0,
                "scheduling_reward_per_offer": 0.5, "scheduling_reward_per_kwh": 0.2, "imbalance_tolerance": 0.1}
    assert hub.put(f"/api/v1/contract/{PARTY}", json=contract, headers=admin).status_code == 201
    reader = {"X-API-Key": create_api_key(hub.app, PARTY, ["read"])}
    month = f"{start.year:04d}-{start.month:02d}"
    bill = hub.get("/api/v1/bill", params={"month": month}, headers=reader)
    assert bill.status_code == 200, bill.text
    (line,) = [item for item in bill.json()["lines"] if item["offer_id"] == offer.id]
    assert line["basis"] == "factual"  # every scheduled slice was metered
    assert line["scheduled_kwh"] == pytest.approx(0.5)
    assert line["metered_kwh"] == pytest.approx(1.0, abs=0.01)  # 4 kW x 15 min, then nothing
    assert line["imbalance_kwh"] == pytest.approx(0.5, abs=0.01)
    assert not line["within_tolerance"] and line["reward_scheduling_eur"] == 0.0
    # The same readings are visible as the offer's measurements on the flex-offer API.
    end = start + timedelta(seconds=1800)
    series = hub.get(f"/api/v1/timeseries/measurement/{start.isoformat()}/{end.isoformat()}",
                     params={"resolution": 900}, headers=reader)
    assert series.status_code == 200, series.text
    assert series.json()["energyAmounts"] == pytest.approx([1.0, 0.0], abs=0.01)
