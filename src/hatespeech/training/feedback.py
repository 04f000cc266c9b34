"""Reviewers' labels as training data: a ``hatespeech feedback export`` file or the feedback database itself.

Reviewed texts go first in the mix, so a reviewer's label wins over the same text elsewhere in it (the
de-duplication keeps the first copy). A reviewed text that is also in the test split is refused, not
dropped: a reviewer who labelled it has seen it, and training on it would leak the test into the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hatespeech.data import Dataset, Example, LoadReport, load_table, normalise_label
from hatespeech.errors import DataError


def load_feedback(source: str) -> Dataset:
    """Reviewed texts from a JSONL/CSV export (``text``, ``label``) or a database URL (``scheme://...``)."""
    if "://" not in source:
        dataset = load_table(Path(source))
        dataset.report.source = f"feedback {source}"
        examples = [Example(f"feedback:{e.id}", e.text, e.label, group=f"feedback:{e.id}") for e in dataset.examples]
        return Dataset(examples, dataset.report)
    from hatespeech.store import Store

    store = Store.open(source, migrate_schema=False)  # a reader never changes a schema
    try:
        records = list(store.iter_feedback())
    finally:
        store.close()
    report = LoadReport(source="feedback database")
    examples = []
    for record in records:
        label = normalise_label(record.label)
        if label is None:
            report.skipped_labels[record.label] += 1
            continue
        examples.append(Example(f"feedback:{record.id}", record.text, label, group=f"feedback:{record.id}"))
    report.loaded = len(examples)
    return Dataset(examples, report)


def refuse_test_texts(feedback: Dataset, test_texts: Sequence[str]) -> None:
    """DataError when reviewed texts are in the test split (compared as the de-duplication does)."""
    test = {" ".join(t.lower().split()) for t in test_texts}
    leaked = [e.text for e in feedback.examples if " ".join(e.text.lower().split()) in test]
    if leaked:
        sample = "; ".join(repr(t[:60]) for t in leaked[:3])
        raise DataError(
            f"{len(leaked)} reviewed text(s) from {feedback.report.source} are in the test split, e.g. {sample}: "
            "remove them from the feedback (training on them would leak the test split into the model)"
        )
