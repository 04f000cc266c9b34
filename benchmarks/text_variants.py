"""How often the training corpora write words in ways a normalisation could undo: elongated letters ("soooo",
"LMFAOOOO") and character spacing ("n i g g e r", "k.i.s.s"), per corpus and per class.

Decides whether an elongation or spacing step belongs in the text normalisation: a rewrite that touches a
fraction of a percent of the hateful texts cannot move their ranking, and each rule is one more way for the
server and training to drift apart. No model is needed; the figures depend on the data only.

Usage::

    .venv/bin/python benchmarks/text_variants.py
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import harness

from hatespeech.corpora import SHARED_DAVIDSON, SHARED_HATEXPLAIN, load_davidson, load_hatexplain
from hatespeech.data import Dataset, load_split, resolve_data_dir

ELONGATED = re.compile(r"\b\w*([a-z])\1{2,}\w*\b", re.IGNORECASE)
"""A letter three or more times in a row inside a word ("www" in a link counts: the figure is an upper bound)."""
SPACED = re.compile(r"(?<!\w)(?:[a-z][ .*_-]){3,}[a-z](?!\w)", re.IGNORECASE)
"""Four or more single letters joined by a space or a mark ("n i g g a", "k.i.s.s")."""


def prevalence(data: Dataset) -> dict[str, object]:
    """Texts in ``data`` with an elongated or a spaced word, overall and among the hateful ones, and examples."""
    hateful = [e for e in data.examples if e.label == 1]
    figures: dict[str, object] = {"texts": len(data.examples), "hate_texts": len(hateful)}
    for name, pattern in (("elongated", ELONGATED), ("spaced", SPACED)):
        found = [e for e in data.examples if pattern.search(e.text)]
        figures[name] = len(found) / max(len(data.examples), 1)
        figures[f"{name}_in_hate"] = sum(e.label for e in found) / max(len(hateful), 1)
        figures[f"{name}_examples"] = sorted({m.group(0) for e in found[:40] if (m := pattern.search(e.text))})[:8]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="default: results/text_variants.json")
    args = parser.parse_args()
    corpora = {"stormfront": load_split(resolve_data_dir(None), "all_files")}
    if SHARED_HATEXPLAIN.is_file():
        corpora["hatexplain"] = load_hatexplain(SHARED_HATEXPLAIN, ("train", "val"))
    if SHARED_DAVIDSON.is_file():
        corpora["davidson"] = load_davidson(SHARED_DAVIDSON, "train")
    figures = {name: prevalence(data) for name, data in corpora.items()}
    for name, row in figures.items():
        shares = {key: f"{value:.1%}" for key, value in row.items() if isinstance(value, float)}
        print(
            f"{name:11} {row['texts']:6} texts: elongated {shares['elongated']}"
            f" (of hate {shares['elongated_in_hate']}), spaced {shares['spaced']} (of hate {shares['spaced_in_hate']})"
        )
    print(f"written: {harness.write('text_variants', {'corpora': figures}, args.json)}")


if __name__ == "__main__":
    main()
