"""Every engine this CPU can run for a model, measured as ``HATESPEECH_ENGINE=auto`` measures them: texts per
second over the model's parity sentences in length-sorted batches of 32, accuracy and label agreement against
ONNX Runtime fp32, and which one auto would serve. Repeated ``--runs`` times (fresh engines each run) to show the
spread. A model dir exported before parity.jsonl existed gets one in a temporary copy. Usage::

    .venv/bin/python benchmarks/engines.py [--model models/current] [--threads 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from dataclasses import asdict
from pathlib import Path

import record
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hatespeech import artifact
from hatespeech.engine_choice import calibrate, cpu_description

console = Console(width=140)


def with_parity(model: Path, scratch: Path) -> Path:
    """``model`` itself when it has parity sentences, else a re-published copy that does."""
    if (model / artifact.PARITY_FILE).is_file():
        return model
    from hatespeech.export import write_parity_texts

    copy = scratch / "model"
    shutil.copytree(model.resolve(), copy)
    write_parity_texts(copy)
    artifact.write_manifest(copy)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/current"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-drop", type=float, default=0.01)
    parser.add_argument("--json", type=Path, default=None, help="default benchmarks/results/engines.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = with_parity(args.model, Path(scratch))
        runs = [calibrate(model, args.threads, args.max_drop) for _ in range(args.runs)]
    title = f"Engines on {cpu_description()}, {args.threads} threads, {runs[0].texts} parity sentences"
    table = Table(title=escape(title))
    for column in ("engine", "texts/s median [min-max]", "x onnx-fp32", "accuracy", "agreement", "passes"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    rows = []
    reference = statistics.median(r.trials[0].texts_per_s for r in runs)
    for index, trial in enumerate(runs[0].trials):
        speeds = [r.trials[index].texts_per_s for r in runs]
        median = statistics.median(speeds)
        rows.append({**asdict(trial), "texts_per_s": median, "runs": speeds})
        table.add_row(trial.engine, f"{median:.0f} [{min(speeds):.0f}-{max(speeds):.0f}]", f"{median / reference:.2f}",
                      f"{trial.accuracy:.4f}", f"{trial.agreement:.4f}", "yes" if trial.passed else "no")  # fmt: skip
    console.print(table)
    chosen = [r.chosen for r in runs]
    console.print(escape(f"auto chose: {', '.join(chosen)} ({runs[0].reason})"), highlight=False)
    figures = {"cpu": cpu_description(), "threads": args.threads, "texts": runs[0].texts, "rows": rows,
               "chosen": chosen}  # fmt: skip
    console.print(f"written: {record.write('engines', figures, args.json)}")


if __name__ == "__main__":
    main()
