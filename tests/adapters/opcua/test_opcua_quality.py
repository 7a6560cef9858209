"""OPC UA status codes reduced to the hub's three qualities."""

from __future__ import annotations

from asyncua import ua

from adapters.device_common import Quality
from adapters.opcua.device import quality_of


def test_quality_follows_status_code_severity() -> None:
    assert quality_of(ua.StatusCode(0)) is Quality.GOOD
    assert quality_of(ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)) is Quality.UNCERTAIN
    assert quality_of(ua.StatusCode(ua.StatusCodes.BadCommunicationError)) is Quality.BAD
