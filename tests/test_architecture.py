"""The import rules of docs/architecture.md are import-linter contracts in pyproject.toml (`lint-imports`, run by
`make lint`). These tests show that the contracts hold, and that they catch what they are meant to catch: a lazy
torch import on the serving side, a type-only import of a higher part, a module that belongs to no part."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    """Run the project's contracts over the package found under ``source_root``."""
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(REPO / "pyproject.toml")],
        capture_output=True, text=True, env=env, cwd=source_root, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO / "src" / "hatespeech", root / "hatespeech", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_package_keeps_every_contract() -> None:
    result = lint_imports(REPO / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "added", "broken"),
    [
        # a lazy import counts: the serving process must never load torch, even in a rarely used branch
        ("api/routes.py", "def _leak() -> None:\n    import torch\n", "hatespeech.api is not allowed to import torch"),
        # a type-only import counts too: the engine knows nothing of the HTTP layer
        (
            "engines/base.py",
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from hatespeech.api.service import ModelService\n",
            "hatespeech.engines.base -> hatespeech.api.service",
        ),
        ("scale/serve.py", "from hatespeech import export\n", "scale is not allowed to import hatespeech.export"),
        ("stray.py", "X = 1\n", "hatespeech.stray"),  # every module belongs to a part (exhaustive)
    ],
    ids=["lazy-torch-in-api", "type-only-upward", "scale-to-training", "module-outside-parts"],
)
def test_a_broken_rule_fails(package_copy: Path, module: str, added: str, broken: str) -> None:
    target = package_copy / "hatespeech" / module
    original = target.read_text() if target.exists() else None
    target.write_text((original or "") + "\n" + added)
    try:
        result = lint_imports(package_copy)
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_text(original)
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout


def test_no_benchmark_script_imports_another() -> None:
    """The scripts share the harness (and the package), never each other's code."""
    scripts = {path.stem for path in (REPO / "benchmarks").glob("*.py")}
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        imported = {
            name.split(".")[0]
            for node in ast.walk(ast.parse(path.read_text()))
            for name in (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
        }  # fmt: skip
        wrong = sorted(imported & scripts - {"harness", path.stem})
        assert not wrong, f"benchmarks/{path.name} imports {wrong}: move what they share into harness.py"
