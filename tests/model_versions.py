"""Extra versions of a published model for the lifecycle tests: same weights (hard-linked), another
threshold, or a broken copy."""

from __future__ import annotations

import json
from pathlib import Path

from hatespeech import artifact, versions


def new_version(current: Path, threshold: float, **config_changes: object) -> str:
    """Publish a copy of the current model with another threshold (and other config.json values, e.g.
    ``hate_prior``, which shifts its scores); it becomes current."""

    def change(staged: Path) -> None:
        config = json.loads((staged / "config.json").read_text())
        config.update(decision_threshold=threshold, **config_changes)
        (staged / "config.json.new").write_text(json.dumps(config))
        (staged / "config.json.new").replace(staged / "config.json")

    return versions.version_id(artifact.revise(current, change))


def broken_version(current: Path) -> str:
    """A version whose tokenizer does not match its manifest (changed after publishing, as a bad copy would
    be); it becomes current, as a hand-made link would make it."""
    directory = artifact.revise(current, lambda staged: None)
    (directory / "tokenizer.json.new").write_text("{}")
    (directory / "tokenizer.json.new").replace(directory / "tokenizer.json")
    return versions.version_id(directory)
