"""The data mix by source: the public corpora read beside the dataset, each epoch drawn by each source's share
(half hate, half noHate per platform), and the hold-out split that keeps a corpus's official ``val`` for choosing.

Why per source and per platform: HateXplain's Gab posts are 72% hate and its tweets 11%; Stormfront's ordinary
sentences are all noHate. Drawn as they come, the platform or the forum's style would be the cue. Drawn half and
half within each, only the text itself tells hate from noHate.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hatespeech.config import DataRecipe
from hatespeech.corpora import CORPUS_FILES, load_davidson, load_hatexplain
from hatespeech.data import Dataset, Example
from hatespeech.errors import DataError

Stratum = tuple[str, str]  # (source, platform)


def corpus_path(data_path: Path, corpus: str) -> Path:
    """Where ``corpus`` lies for a dataset folder: beside it (``../shared/data/hatexplain/hatexplain.csv``)."""
    return data_path.resolve().parent / CORPUS_FILES[corpus]


def available_corpora(data_path: Path, recipe: DataRecipe) -> list[str]:
    """The recipe's corpora found beside the dataset, in its order."""
    return [name for name in recipe.corpora if corpus_path(data_path, name).is_file()]


def load_corpora(data_path: Path, recipe: DataRecipe, warn: Callable[[str], None] = print) -> list[Dataset]:
    """The recipe's public corpora: HateXplain's train and val splits (val only validates), Davidson et al.'s
    train four fifths (their dev fifth is for reporting). A corpus that is not beside the dataset is left out
    with a warning (the caller records the corpora actually used)."""
    loaders = {
        "hatexplain": lambda path: load_hatexplain(path, ("train", "val"), recipe.offensive),
        "davidson": lambda path: load_davidson(path, "train", recipe.offensive),
    }
    datasets = []
    for name in recipe.corpora:
        path = corpus_path(data_path, name)
        if not path.is_file():
            warn(f"{name}: no {path}; trained without it")
            continue
        datasets.append(loaders[name](path))
    return datasets


def report_sets(data_path: Path) -> dict[str, Dataset]:
    """The sets scored after training for the record only: HateXplain's test split, Davidson et al.'s held-out
    fifth (where they lie beside the dataset) and the behaviour suite (platform = category)."""
    from hatespeech.behaviour import load_cases
    from hatespeech.data import LoadReport

    sets: dict[str, Dataset] = {}
    hatexplain, davidson = corpus_path(data_path, "hatexplain"), corpus_path(data_path, "davidson")
    if hatexplain.is_file():
        sets["hatexplain test"] = load_hatexplain(hatexplain, ("test",))
    if davidson.is_file():
        sets["davidson held-out fifth"] = load_davidson(davidson, "dev")
    cases = [
        Example(f"behaviour-{i}", case.text, case.label, source="behaviour", platform=case.category)
        for i, case in enumerate(load_cases())
    ]
    sets["behaviour"] = Dataset(cases, LoadReport(source="behaviour suite", loaded=len(cases)))
    return sets


def named(dataset: Dataset, source: str) -> Dataset:
    """``dataset`` with every example's source set to ``source`` (where it has none yet)."""
    examples = [e if e.source else replace(e, source=source) for e in dataset.examples]
    return Dataset(examples, dataset.report)


def holdout_split(
    examples: Sequence[Example], validation_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Train and validation texts: a corpus's ``val`` rows validate, its other rows train; the rest (the forum,
    frames, swaps, corpora without a ``val``) is split stratified and grouped (by author, post or frame) so that no
    group sits on both sides."""
    from sklearn.model_selection import StratifiedGroupKFold

    with_val = {e.source for e in examples if e.split == "val"}
    fixed_validation = [e for e in examples if e.split == "val"]
    fixed_train = [e for e in examples if e.split != "val" and e.source in with_val]
    rest = [e for e in examples if e.source not in with_val]
    labels = [e.label for e in rest]
    folds = max(2, round(1 / validation_fraction))
    if min(labels.count(0), labels.count(1)) < folds:
        raise DataError(f"a hold-out split of {validation_fraction:g} needs at least {folds} texts of each class")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros(len(rest)), labels, [e.group or e.id for e in rest]))
    return fixed_train + [rest[i] for i in train_idx], [rest[i] for i in val_idx] + fixed_validation


@dataclass
class SourceEpochs:
    """Each epoch ``size`` texts, at most as many as the mix holds half and half.

    A source gets its share of them (the shares of sources absent from the data go to the others), split among
    its platforms by how many balanced texts each holds, and drawn half hate, half noHate within each platform,
    in turn from a shuffled cycle (all are used before any repeats). Sources without a share (reviewed texts,
    say) are in every epoch whole. Balanced by construction: no class weights, P(hate) on the balanced scale.
    """

    examples: Sequence[Example]
    rng: random.Random
    shares: dict[str, float]
    size: int
    _queues: dict[tuple[Stratum, int], list[Example]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pools: dict[Stratum, dict[int, list[Example]]] = defaultdict(lambda: {0: [], 1: []})
        for example in self.examples:
            pools[(example.source, example.platform)][example.label].append(example)
        self.pools = dict(pools)
        present = {source for source, _ in self.pools}
        self.fixed = [e for e in self.examples if e.source not in self.shares or not self.shares[e.source]]
        total = sum(share for source, share in self.shares.items() if source in present)
        shared = [s for s in self.pools if self.shares.get(s[0])]
        size = min(self.size, sum(_balanced_size(self.pools[s]) for s in shared))  # small data: one balanced pass
        self.draws: dict[tuple[Stratum, int], int] = {}
        for source in sorted(present & {s for s, share in self.shares.items() if share}):
            strata = sorted(s for s in self.pools if s[0] == source)
            weight = {s: _balanced_size(self.pools[s]) for s in strata}
            texts = size * self.shares[source] / total
            for stratum in strata:
                share = texts * weight[stratum] / sum(weight.values())
                by_label = self.pools[stratum]
                both = all(by_label.values())
                for label, pool in by_label.items():
                    if pool:
                        self.draws[(stratum, label)] = round(share / 2) if both else round(share)

    def __len__(self) -> int:
        return len(self.fixed) + sum(self.draws.values())

    @property
    def balanced(self) -> bool:
        return False

    def class_weights(self) -> list[float] | None:
        return None

    def next_epoch(self) -> list[Example]:
        drawn = list(self.fixed)
        for key, count in sorted(self.draws.items()):
            stratum, label = key
            taken: list[Example] = []
            while len(taken) < count:
                if not self._queues.get(key):
                    queue = list(self.pools[stratum][label])
                    self.rng.shuffle(queue)
                    self._queues[key] = queue
                take = min(count - len(taken), len(self._queues[key]))
                taken += self._queues[key][:take]
                del self._queues[key][:take]
            drawn += taken
        return drawn

    def per_source(self) -> dict[str, int]:
        """Texts per epoch by source (the record of what an epoch holds)."""
        counts: dict[str, int] = defaultdict(int)
        for (stratum, _), count in self.draws.items():
            counts[stratum[0]] += count
        for example in self.fixed:
            counts[example.source] += 1
        return dict(counts)


def _balanced_size(by_label: dict[int, list[Example]]) -> int:
    """How many texts a platform gives half and half (all of them when it holds one class only)."""
    sizes = [len(pool) for pool in by_label.values()]
    return 2 * min(sizes) if all(sizes) else max(sizes)
