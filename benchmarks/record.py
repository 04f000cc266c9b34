"""Where every benchmark writes its figures: ``benchmarks/results/NAME.json``, with the command, the
commit, the date and the machine, so the tables in the README and the docs are generated, never typed."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Cores, CPU model and bf16 support (from /proc/cpuinfo's flags where there is one)."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {"cores": os.cpu_count(), "cpu": model, "bf16": bool(flags & {"avx512_bf16", "amx_bf16"})}


def commit() -> str:
    """The commit the figures came from; ``+dirty`` when the code that made them (src/, benchmarks/,
    the Dockerfile and requirements) had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=RESULTS.parent).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    code = ["src", "benchmarks", "Dockerfile", "deploy", "requirements.txt", "requirements-serve.txt"]
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no", "--", *code) else "")


def write(name: str, figures: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``figures`` with their provenance to ``path`` (default ``benchmarks/results/NAME.json``)."""
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "command": " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "figures": figures,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path
