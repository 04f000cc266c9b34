"""schemathesis against /openapi.json of the real server, as a user would run it: the CLI with every phase
(examples, coverage, fuzzing, stateful) and every check (no 5xx, every response matches the schema, every request
that breaks the schema refused, undeclared methods 405, ...).

Twice: with the admin key, so that every route's own checks run (not the key check in front of them), and with no
key, as an anonymous client meets the server. Anonymous requests to a protected route are refused before their
body or query is read (401/403), so for that run those statuses count as refusing bad data too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.live_server import SHARED_ADMIN_KEY, RunningServer

EXAMPLES_PER_OPERATION = 40
CONFIGS = {"admin": "schemathesis.toml", "anonymous": "schemathesis-anonymous.toml"}


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_every_phase_with_every_check(server: RunningServer, tmp_path: Path, who: str) -> None:
    if who == "anonymous" and server.engine == "ray":
        pytest.skip("the same app code answers in the replicas; the admin run covers the Ray path, this saves 30 s")
    cli = Path(sys.executable).with_name("schemathesis")
    config = Path(__file__).with_name(CONFIGS[who])
    command = [str(cli), "--config-file", str(config), "run", f"{server.url}/openapi.json"]
    command += ["--phases", "examples,coverage,fuzzing,stateful", "--checks", "all"]
    command += ["--max-examples", str(EXAMPLES_PER_OPERATION), "--generation-deterministic"]  # same cases each run
    if who == "admin":
        command += ["--header", f"Authorization: Bearer {SHARED_ADMIN_KEY}"]
    # cwd: the CLI keeps a cache dir (.schemathesis/) where it runs, which must not land in the repo.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[result.stdout.find("FAILURES") :][:6000]
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    assert "Selected: 11/11" in summary and "Tested: 11" in summary, summary
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in summary, summary
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) > 500, summary
    print(summary)
