"""schemathesis against /openapi.json of the real server: no 5xx, every response matches the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.conftest import RunningServer


@pytest.fixture(scope="module")
def api_schema(server: RunningServer) -> object:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, server: RunningServer) -> None:
    response = case.call(base_url=server.url, timeout=30)
    assert response.status_code < 500, response.text
    case.validate_response(response)
