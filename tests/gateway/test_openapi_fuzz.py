"""Schemathesis against the Flex-Offer Exchange's OpenAPI: no generated input may cause a 5xx.

Both valid (positive) and schema-violating (negative) inputs are generated, with a
key that holds every scope, so requests reach the route logic instead of stopping at 401.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from gateway.app import create_app
from gateway.config import Settings
from gateway.testing import create_api_key, make_test_client
from tests.gateway.samples import wire_offer

# Routes of this capability; the endless SSE stream cannot be fuzzed request/response style.
TAGS = {"flexoffer", "health"}
SKIP = {("GET", "/api/v1/flexoffer/stream")}


def _operations() -> list[tuple[str, str]]:
    spec = create_app(Settings(database_url="sqlite://")).openapi()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if set(operation.get("tags", ())) & TAGS and (method.upper(), path) not in SKIP
    )


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), _operations())
def test_generated_requests_never_cause_server_errors(tmp_path: Path, method: str, path: str) -> None:
    with make_test_client(tmp_path, max_body_bytes=256 * 1024) as client:
        key = create_api_key(client.app, "fuzzer", ["read", "write", "admin"])
        client.post("/api/v1/flexoffer", json=[wire_offer(id="fo-1"), wire_offer(id="fo-2")],
                    headers={"X-API-Key": key})
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
        operation = schema[path][method]
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(max_examples=20, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers={"X-API-Key": key})
            assert response.status_code < 500, (case.as_curl_command(), response.text[:500])

        check()
