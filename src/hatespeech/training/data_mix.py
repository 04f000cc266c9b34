"""The training data mix and how it is cut: natural text, extra rows, author-grouped folds, balanced epochs.

The balanced sample (``sampled_train``: half hate) is joined by the ordinary forum sentences of ``all_files``
that lie outside both sampled splits (all noHate: the traffic a deployed model meets) and by any extra rows
the user gives. The mix is then about one text in five hate; :class:`BalancedEpochs` trains each epoch on
every hate text and as many noHate ones, drawn in turn, so the model's P(hate) stays on the balanced scale.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hatespeech.config import DataRecipe, TrainConfig
from hatespeech.data import (
    ANNOTATIONS_FILE,
    LABELS,
    Dataset,
    Example,
    LoadReport,
    load_split,
    load_table,
)
from hatespeech.errors import DataError

NATURAL_SPLIT = "all_files"
SAMPLED_SPLITS = ("sampled_train", "sampled_test")


def train_validation_split(
    examples: Sequence[Example], validation_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Stratified, seeded split of ``examples`` into train and validation."""
    from sklearn.model_selection import train_test_split

    labels = [e.label for e in examples]
    train, validation = train_test_split(
        list(examples), test_size=validation_fraction, random_state=seed, stratify=labels
    )
    return list(train), list(validation)


def load_natural(data_dir: Path) -> Dataset | None:
    """The sentences of ``all_files`` outside both sampled splits and outside every post with a test sentence.

    None when the dataset has no ``all_files``. Labels come from the annotations (``relation`` and
    ``idk/skip`` are skipped and counted); the examples are marked ``natural``.
    """
    folder = data_dir / NATURAL_SPLIT
    if not folder.is_dir():
        return None
    sampled = {name: {p.stem for p in (data_dir / name).glob("*.txt")} for name in SAMPLED_SPLITS}
    test_posts = {file_id.split("_")[0] for file_id in sampled["sampled_test"]}
    ids = [
        p.stem
        for p in folder.glob("*.txt")
        if p.stem not in sampled["sampled_train"]
        and p.stem not in sampled["sampled_test"]
        and p.stem.split("_")[0] not in test_posts
    ]
    return load_split(data_dir, NATURAL_SPLIT, ids, natural=True)


def load_extra(path: Path) -> Dataset:
    """A user's extra rows: a CSV/JSONL file, a folder of them, or a dataset folder (its ``all_files``); a public
    corpus in its upstream format (Davidson et al.'s ``labeled_data.csv``: its train part; HateXplain's CSV: its
    train split) is recognised."""
    from hatespeech.corpora import is_davidson, is_hatexplain, load_davidson, load_hatexplain

    if is_davidson(path):
        return load_davidson(path, "train")
    if is_hatexplain(path):
        return load_hatexplain(path, ("train",))
    if path.is_file():
        return load_table(path)
    if not path.is_dir():
        raise DataError(f"extra data {path} does not exist")
    if (path / ANNOTATIONS_FILE).is_file():
        split = NATURAL_SPLIT if (path / NATURAL_SPLIT).is_dir() else "sampled_train"
        return load_split(path, split)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".jsonl", ".ndjson"))
    if not files:
        raise DataError(f"extra data folder {path} holds no .csv or .jsonl file (or annotations_metadata.csv)")
    return merge([load_table(p) for p in files])


def load_contrast_set() -> Dataset:
    """The contrast set generated for this project (:mod:`hatespeech.training.frames`): hateful and non-hateful
    frames over every group, one fold group per frame; the examples are marked ``contrast``."""
    from hatespeech.training.frames import load_frames

    return load_frames()


def merge(datasets: Sequence[Dataset]) -> Dataset:
    """One dataset from several, with one report summing theirs."""
    report = LoadReport(source=" + ".join(d.report.source for d in datasets))
    for dataset in datasets:
        part = dataset.report
        report.skipped_labels.update(part.skipped_labels)
        for name in ("not_in_annotations", "missing_files", "empty", "unreadable", "malformed_rows", "duplicates"):
            setattr(report, name, getattr(report, name) + getattr(part, name))
        report.in_test_split += part.in_test_split
    examples = [e for d in datasets for e in d.examples]
    report.loaded = len(examples)
    return Dataset(examples, report)


def deduplicate(dataset: Dataset, test_texts: Sequence[str] = ()) -> Dataset:
    """Drop repeated texts (the first copy stays) and texts of the test split, counting both."""
    test_keys = {_key(t) for t in test_texts}
    seen: set[str] = set()
    kept: list[Example] = []
    report = dataset.report
    for example in dataset.examples:
        key = _key(example.text)
        if key in test_keys:
            report.in_test_split += 1
        elif key in seen:
            report.duplicates += 1
        else:
            seen.add(key)
            kept.append(example)
    report.loaded = len(kept)
    return Dataset(kept, report)


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def load_training_data(
    data_path: Path,
    split: str = "sampled_train",
    *,
    natural: bool = True,
    contrast: bool = True,
    counterfactual: bool = True,
    extra: Sequence[Path] = (),
    extra_labels: Sequence[str] = LABELS,
    feedback: Sequence[str] = (),
    test_texts: Sequence[str] = (),
    corpora: Sequence[Dataset] = (),
) -> Dataset:
    """The training mix: ``split`` of a dataset folder (or a CSV/JSONL file), its natural noHate sentences
    when ``natural`` and the folder has ``all_files``, the contrast set when ``contrast``, every ``extra``
    path (only its rows labelled one of ``extra_labels``), and when ``counterfactual`` group-swapped variants
    of the split's and the natural sentences that name a group (:func:`hatespeech.training.groups.counterfactuals`);
    duplicates and texts of the test split are dropped and counted. Reviewed texts (``feedback``: export files or
    database URLs) go first, so their labels win, and one in the test split is an error. ``corpora`` (public
    corpora, :func:`hatespeech.training.sources.load_corpora`) come last. Every example is named by its source."""
    from hatespeech.training.feedback import load_feedback, refuse_test_texts
    from hatespeech.training.sources import named

    reviewed = [named(load_feedback(source), "feedback") for source in feedback]
    for part in reviewed:
        refuse_test_texts(part, test_texts)
    if data_path.is_dir():
        parts = [load_split(data_path, split)]
        natural_data = load_natural(data_path) if natural else None
        if natural_data is not None:
            parts.append(natural_data)
    else:
        parts = [load_table(data_path)]
    parts = [named(part, "stormfront") for part in parts]
    if counterfactual:
        parts.append(named(_counterfactual_set(merge(parts), test_texts), "swaps"))
    if contrast:
        parts.append(named(load_contrast_set(), "frames"))
    parts += [named(_only_labels(load_extra(path), extra_labels), "extra") for path in extra]
    return deduplicate(merge(reviewed + parts + list(corpora)), test_texts)


def load_recipe(
    data_path: Path, recipe: DataRecipe, test_texts: Sequence[str] = (), warn: Callable[[str], None] = print
) -> Dataset:
    """The training mix a :class:`DataRecipe` (saved in the model's training arguments) describes; a public
    corpus it names that is not beside the dataset is left out with a warning."""
    from hatespeech.training.sources import load_corpora

    corpora = load_corpora(data_path, recipe, warn) if data_path.is_dir() else []
    return load_training_data(
        data_path,
        recipe.split,
        natural=recipe.natural,
        contrast=recipe.contrast,
        counterfactual=recipe.counterfactual,
        extra=[Path(path) for path in recipe.extra_data],
        extra_labels=recipe.extra_labels,
        feedback=recipe.feedback,
        test_texts=test_texts,
        corpora=corpora,
    )


def _only_labels(data: Dataset, labels: Sequence[str]) -> Dataset:
    """``data``'s rows labelled one of ``labels`` (names in :data:`LABELS`); the others are counted as skipped."""
    unknown = sorted(set(labels) - set(LABELS))
    if unknown or not labels:
        raise DataError(f"extra labels must be among {', '.join(LABELS)}, got {', '.join(unknown) or 'none'}")
    kept = [e for e in data.examples if LABELS[e.label] in labels]
    for example in data.examples:
        if LABELS[example.label] not in labels:
            data.report.skipped_labels[f"{LABELS[example.label]} (not in --extra-labels)"] += 1
    data.report.loaded = len(kept)
    return Dataset(kept, data.report)


def _counterfactual_set(data: Dataset, test_texts: Sequence[str]) -> Dataset:
    """Group-swapped variants of ``data``'s sentences (its test-split texts left out first)."""
    from hatespeech.training.groups import counterfactuals

    test_keys = {_key(t) for t in test_texts}
    variants = [
        replace(variant, source="swaps", platform="")
        for variant in counterfactuals([e for e in data.examples if _key(e.text) not in test_keys])
    ]
    return Dataset(variants, LoadReport(source="group-swapped variants", loaded=len(variants)))


@dataclass
class BalancedEpochs:
    """Each epoch: every text of the rarer class and ``ratio`` times as many of the commoner one, drawn in
    turn from a shuffled cycle (each is used once before any is used twice; never more than there are).
    Contrast-set texts of the commoner class are in every epoch and count towards its share (they are few,
    and a negation seen less often than the hate it negates would teach the wrong lesson).
    :meth:`class_weights` weights the commoner class's loss by the inverse, so the scores stay on the
    balanced scale. Balanced data (or ``enabled`` False) passes through unchanged."""

    examples: Sequence[Example]
    rng: random.Random
    ratio: float = 1.0
    enabled: bool = True
    _queue: list[Example] = field(default_factory=list)

    def __post_init__(self) -> None:
        counts = Counter(e.label for e in self.examples)
        self.balanced = not self.enabled or len(counts) < 2 or len(set(counts.values())) == 1
        self.rare_label = min(counts, key=lambda label: (counts[label], label)) if counts else 0
        rare = [e for e in self.examples if e.label == self.rare_label]
        self.fixed = rare + [e for e in self.examples if e.label != self.rare_label and e.contrast]
        self.common = [e for e in self.examples if e.label != self.rare_label and not e.contrast]
        fixed_common = len(self.fixed) - len(rare)
        self.draw = max(0, min(len(self.common), round(self.ratio * len(rare)) - fixed_common))
        self.rare_count, self.common_count = len(rare), fixed_common + self.draw

    def __len__(self) -> int:
        return len(self.examples) if self.balanced else len(self.fixed) + self.draw

    def class_weights(self) -> list[float] | None:
        """Loss weight per class id (None: all 1): the commoner class weighs rare / its count per epoch."""
        if self.balanced or self.common_count == self.rare_count:
            return None
        weights = [self.rare_count / self.common_count] * 2
        weights[self.rare_label] = 1.0
        return weights

    def next_epoch(self) -> list[Example]:
        if self.balanced:
            return list(self.examples)
        drawn: list[Example] = []
        while len(drawn) < self.draw:
            if not self._queue:
                self._queue = list(self.common)
                self.rng.shuffle(self._queue)
            take = min(self.draw - len(drawn), len(self._queue))
            drawn += self._queue[:take]
            del self._queue[:take]
        return list(self.fixed) + drawn


def score_prior(examples: Sequence[Example], balanced_epochs: bool) -> float:
    """The share of hate the model's scores assume: 0.5 with balanced epochs, else the data's share."""
    if balanced_epochs or not examples:
        return 0.5
    return sum(e.label for e in examples) / len(examples)


@dataclass
class Run:
    """One stage-2 run: the texts it trains on, the texts that select its epoch, its data-order seed."""

    name: str
    train: list[Example]
    validation: list[Example]
    seed: int
    validation_index: list[int] = field(default_factory=list)
    """Cross-fit: positions of ``validation`` in the training data (to gather out-of-fold scores)."""


def plan_runs(examples: Sequence[Example], config: TrainConfig) -> tuple[list[Example], list[Run]]:
    """Stage-1 data and the stage-2 runs.

    Hold-out (``folds`` = 0): every run trains on the same split and is validated on the same held-out texts
    (:func:`hatespeech.training.sources.holdout_split`: grouped, and a corpus's own ``val`` split validates).
    Cross-fit (``folds`` = K): run k trains on all folds but k and is validated on fold k, so every text is
    trained on by K-1 runs and validates exactly one; the validation scores are out-of-fold. Folds are
    stratified and grouped by author (``Example.group``): neighbouring sentences of one user never sit on
    both sides.
    """
    if config.folds >= 2:
        from sklearn.model_selection import StratifiedGroupKFold

        # Cross-fit folds every text; a corpus's own val split (for choosing in hold-out mode) is left out.
        examples = [e for e in examples if e.split != "val"]

        labels = [e.label for e in examples]
        smallest = min(labels.count(0), labels.count(1))
        if smallest < config.folds:
            raise DataError(
                f"--folds {config.folds} needs at least {config.folds} texts of each class ({smallest} here)"
            )
        groups = [e.group or e.id for e in examples]
        splitter = StratifiedGroupKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
        runs = [
            Run(
                f"fold {k + 1}/{config.folds}",
                [examples[i] for i in train_idx],
                [examples[i] for i in val_idx],
                config.seed * 1000 + k + 1,
                [int(i) for i in val_idx],
            )
            for k, (train_idx, val_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups))
        ]
        return list(examples), runs
    from hatespeech.training.sources import holdout_split

    train_examples, validation = holdout_split(examples, config.validation_fraction, config.seed)
    runs = [
        Run(f"run {r + 1}/{config.soup_runs}", train_examples, validation, config.seed * 1000 + r + 1)
        for r in range(config.soup_runs)
    ]
    return train_examples, runs
