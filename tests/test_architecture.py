"""The import rules of docs/architecture.md: each part imports only the parts to its left, and the serving
side (foundation, engine, api) imports no torch, transformers or scikit-learn at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "hatespeech"
PARTS = {
    "foundation": [
        "errors",
        "config",
        "data",
        "corpora",
        "records",
        "artifact",
        "versions",
        "base_models",
        "calibration",
        "store",
        "migrations",
        "keys",
        "logs",
    ],
    "engine": [
        "engine",
        "parts",
        "onnx_engine",
        "openvino_engine",
        "ctranslate2_engine",
        "engine_choice",
        "batching",
        "explain",
    ],
    "api": ["api"],
    "training": ["modeling", "training", "evaluation", "report", "export"],
    "scale": ["scale"],
    "cli": ["cli", "__main__"],
}
ALLOWED = {
    "foundation": {"foundation"},
    "engine": {"foundation", "engine"},
    "api": {"foundation", "engine", "api"},
    "training": {"foundation", "engine", "training"},
    "scale": {"foundation", "engine", "api", "scale"},
    "cli": set(PARTS),
}
SERVING = {"foundation", "engine", "api"}
HEAVY = {"torch", "transformers", "sklearn"}


def part_of(module: str) -> str | None:
    """``hatespeech.api.routes`` -> ``api``; the package root and its attributes (``hatespeech.__version__``)
    belong to no part."""
    names = module.split(".")
    if names[0] != "hatespeech" or len(names) == 1:
        return None
    return next((part for part, heads in PARTS.items() if names[1] in heads), None)


def module_level_imports(tree: ast.Module) -> list[str]:
    """Imports that run on import: module body, also inside if/try, but not functions or TYPE_CHECKING."""
    found: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append(node.module)
                found.extend(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])

    visit(tree.body)
    return found


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def test_every_module_belongs_to_a_part() -> None:
    assert all(part_of(name) for name, _ in modules() if name != "hatespeech")


@pytest.mark.parametrize(("module", "path"), modules(), ids=[name for name, _ in modules()])
def test_imports_follow_the_parts(module: str, path: Path) -> None:
    mine = part_of(module)
    imported = module_level_imports(ast.parse(path.read_text()))
    if mine is None:  # the package root re-exports Prediction from the engine
        assert {part_of(name) for name in imported if name.startswith("hatespeech.")} <= {"engine", None}
        return
    wrong = sorted(name for name in imported if (other := part_of(name)) is not None and other not in ALLOWED[mine])
    assert not wrong, f"{module} ({mine}) imports {wrong}: docs/architecture.md says {sorted(ALLOWED[mine])}"
    if mine in SERVING:
        heavy = sorted(name for name in imported if name.split(".")[0] in HEAVY)
        assert not heavy, f"{module} is on the serving side and imports {heavy} at module level"


def test_the_checker_sees_a_forbidden_import() -> None:
    tree = ast.parse("import os\ntry:\n    import torch\nexcept ImportError:\n    pass\n"
                     "from hatespeech.training import train\ndef f():\n    import transformers\n")  # fmt: skip
    assert module_level_imports(tree) == ["os", "torch", "hatespeech.training", "hatespeech.training.train"]
    assert part_of("hatespeech.training.train") == "training" not in ALLOWED["api"]
