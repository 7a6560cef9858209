"""The hub's VEN client against openleadr's OpenADRServer (a real VTN) on loopback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from openleadr import OpenADRServer

from adapters.openadr import codec
from adapters.openadr.schema import check_document
from adapters.openadr.ven import VenClient
from gateway.testing import free_port

pytestmark = pytest.mark.xdist_group("openadr-interop")

METADATA = {
    "report_specifier_id": "hub-usage", "report_name": "METADATA_TELEMETRY_USAGE", "duration": timedelta(hours=1),
    "report_descriptions": [{
        "r_id": "hub-power", "report_type": "usage", "reading_type": "Direct Read",
        "report_data_source": {"resource_id": "portfolio"},
        "measurement": {"name": "powerReal", "description": "RealPower", "unit": "W", "scale": "k", "ns": "power",
                        "power_attributes": {"hertz": 50, "voltage": 230, "ac": True}},
        "sampling_rate": {"min_period": timedelta(seconds=10), "max_period": timedelta(minutes=15),
                          "on_change": False},
    }],
}


async def test_hub_ven_registers_takes_event_opts_in_and_reports() -> None:
    port = free_port()
    server = OpenADRServer(vtn_id="OL-VTN", http_host="127.0.0.1", http_port=port,
                           requested_poll_freq=timedelta(seconds=1), show_fingerprint=False)
    opt_answers: list[tuple[str, str, str]] = []
    readings: list[tuple[datetime, float]] = []

    def on_create_party_registration(info: dict) -> tuple[str, str]:
        return "ven-hub", "reg-hub"

    def on_register_report(ven_id, resource_id, measurement, unit, scale, min_sampling_interval,
                           max_sampling_interval):
        return readings.extend, timedelta(seconds=10)

    server.add_handler("on_create_party_registration", on_create_party_registration)
    server.add_handler("on_register_report", on_register_report)
    start = datetime.now(UTC) + timedelta(hours=1)
    server.add_event(ven_id="ven-hub", signal_name="LOAD_DISPATCH", signal_type="setpoint", event_id="ol-ev-1",
                     intervals=[{"dtstart": start, "duration": timedelta(minutes=15), "signal_payload": 6.0}],
                     callback=lambda ven_id, event_id, opt_type: opt_answers.append((ven_id, event_id, opt_type)))
    await server.run()
    invalid: list[str] = []
    checked: list[int] = []

    def check(xml: str | bytes) -> None:
        checked.append(1)
        if (reason := check_document(xml)) is not None:
            invalid.append(reason)

    targets: list[codec.DispatchTarget] = []

    def on_event(event: dict) -> str:
        targets.extend(codec.dispatch_targets(event))
        return "optIn"

    ven = VenClient(f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", "flexhub", on_event=on_event,
                    sent=check, received=check)
    try:
        state = await ven.register()
        assert (state.ven_id, state.registration_id, state.vtn_id) == ("ven-hub", "reg-hub", "OL-VTN")
        assert state.poll_interval == timedelta(seconds=1)
        [request] = await ven.register_reports([dict(METADATA)])
        assert request.report_specifier_id == "hub-usage"
        assert request.r_ids == ["hub-power"]
        kinds = [await ven.poll() for _ in range(3)]
        assert "oadrDistributeEvent" in kinds
        for _ in range(50):
            if opt_answers:
                break
            await asyncio.sleep(0.1)
        assert opt_answers == [("ven-hub", "ol-ev-1", "optIn")]
        [target] = targets
        assert target.signal_name == "LOAD_DISPATCH"
        assert target.intervals[0].value == 6.0
        assert codec.schedule_from_target(target).energy == [1.5]  # 6 kW for 15 min
        now = datetime.now(UTC).replace(microsecond=0)
        await ven.update_report(request, [(now, timedelta(seconds=10), "hub-power", 42.0)])
        for _ in range(50):
            if readings:
                break
            await asyncio.sleep(0.1)
        assert [value for _, value in readings] == [42.0]
    finally:
        await ven.close()
        await server.stop()
    assert invalid == []
    assert len(checked) >= 10
