"""One schemathesis driver for every fuzz test: generated requests must never cause a 5xx.

Both valid (positive) and schema-violating (negative) inputs are generated, sent with a
key holding every scope so requests reach the route logic instead of stopping at 401.
"""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode


def assert_no_server_errors(client: TestClient, key: str, method: str, path: str, max_examples: int = 20) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    operation = schema[path][method]
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers={"X-API-Key": key})
        assert response.status_code < 500, (case.as_curl_command(), response.text[:500])

    check()
