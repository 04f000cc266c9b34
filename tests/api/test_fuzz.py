"""schemathesis against /openapi.json of the real server: no 5xx, every response matches the schema.

Fuzzing: cases from each operation's hypothesis strategy (schemathesis' own pytest plugin is not used).
Coverage: the schemathesis CLI's coverage phase with every check, as a user would run it; it sends requests
that break the schema one constraint at a time, and each must be refused.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from api.live_server import SHARED_ADMIN_KEY, RunningServer

EXAMPLES_PER_OPERATION = 40


def test_api_conforms_to_its_schema(server: RunningServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {"/predict", "/health", "/ready", "/model", "/metrics", "/feedback", "/review"}
    assert {op.path for op in operations} >= paths
    tried = 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,  # the same cases on every CI run; widen locally with more examples
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            nonlocal tried
            response = case.call(base_url=server.url, timeout=30)
            tried += 1
            assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text}"
            case.validate_response(response)

        check()
    assert tried >= len(operations)
    print(f"schemathesis: {tried} cases over {len(operations)} operations, 0 failures")


def test_coverage_phase_with_every_check(server: RunningServer, tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    config = Path(__file__).with_name("schemathesis.toml")
    command = [str(cli), "--config-file", str(config), "run", f"{server.url}/openapi.json"]
    command += ["--phases", "coverage", "--checks", "all"]
    # With the admin key: every route's own checks run, not the key check in front of them (tests/security has it).
    command += ["--header", f"Authorization: Bearer {SHARED_ADMIN_KEY}"]
    # cwd: the CLI keeps a cache dir (.schemathesis/) where it runs, which must not land in the repo.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[result.stdout.find("FAILURES") :][:6000]
    assert "passed" in result.stdout and "failed" not in result.stdout
