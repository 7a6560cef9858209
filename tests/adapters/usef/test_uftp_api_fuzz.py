"""Schemathesis over the UFTP management routes: no generated input may cause a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from adapters.usef import keys
from gateway.app import create_app
from gateway.config import Settings
from gateway.services.uftp_config import UftpSettings
from gateway.testing import create_api_key, make_test_client


def _operations() -> list[tuple[str, str]]:
    spec = create_app(Settings(database_url="sqlite://")).openapi()
    return sorted((method.upper(), path) for path, item in spec["paths"].items()
                  for method, operation in item.items() if "uftp" in operation.get("tags", ()))


@pytest.mark.slow
@pytest.mark.parametrize("configured", [True, False])
def test_generated_requests_never_cause_server_errors(tmp_path: Path, configured: bool) -> None:
    with make_test_client(tmp_path) as client:
        if configured:
            client.app.state.uftp_settings = UftpSettings(private_key=keys.generate().private_key)
        else:
            client.app.state.uftp_settings = UftpSettings()  # no key: role actions must answer 503
        key = create_api_key(client.app, "fuzzer", ["read", "write", "admin"])
        client.put("/api/v1/uftp/participants", headers={"X-API-Key": key}, json={
            "domain": "agr.example.com", "role": "AGR", "public_key": keys.generate().public_key,
            "endpoint": "http://127.0.0.1:9/uftp"})
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
        operations = _operations()
        calls: list[int] = []
        assert ("POST", "/api/v1/uftp") in operations
        for method, path in operations:
            operation = schema[path][method]
            strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                                 operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

            @given(case=strategy)
            @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def check(case: schemathesis.Case) -> None:
                response = case.call(headers={"X-API-Key": key})
                calls.append(response.status_code)
                assert response.status_code < 500, (case.as_curl_command(), response.text[:500])

            check()
        assert len(calls) >= 5 * len(operations)  # the fuzzer really ran
        assert {200, 202, 404, 422} & set(calls)
