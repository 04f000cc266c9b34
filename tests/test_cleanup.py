"""Tests that clean up (issue 40, item 7): a test run stopped part-way by SIGTERM (a CI timeout) ends the processes
its tests started, a detached daemon like Ray's ``gcs_server`` included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from waiting import wait_until

TESTS = Path(__file__).resolve().parent

STARTS_A_DAEMON = """
import subprocess, sys, time
from pathlib import Path
import cleanup

def test_starts_a_daemon_and_hangs(tmp_path):
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    cleanup.track(daemon.pid)
    Path({pid_file!r}).write_text(str(daemon.pid))
    time.sleep(300)
"""


def test_a_run_stopped_by_sigterm_ends_what_its_tests_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    (tmp_path / "test_hangs.py").write_text(STARTS_A_DAEMON.format(pid_file=str(pid_file)))
    (tmp_path / "conftest.py").write_text(
        "import cleanup\n\ndef pytest_sessionstart(session):\n    cleanup.install()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                            str(tmp_path / "test_hangs.py")], cwd=tmp_path, env=env)  # fmt: skip
    try:
        wait_until(pid_file.exists, timeout=60, what="the test started its daemon")
        daemon = psutil.Process(int(pid_file.read_text()))
        assert daemon.is_running() and os.getpgid(daemon.pid) != os.getpgid(run.pid)  # out of the run's group
        run.send_signal(signal.SIGTERM)
        assert run.wait(30) == pytest.ExitCode.INTERRUPTED
        wait_until(lambda: not daemon.is_running() or daemon.status() == psutil.STATUS_ZOMBIE, timeout=15,
                   what="the daemon ended with the run")  # fmt: skip
    finally:
        if run.poll() is None:
            run.kill()
