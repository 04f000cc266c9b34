"""The model card: ``README.md`` in every model dir, in the Hugging Face card's format (a YAML header with
licence, datasets, base model and metrics, then prose), written by the export from what the training recorded.

Nothing in it is typed by hand: the sources and their licences come from :data:`SOURCE_CARDS`, the recipe from
``training_args.json``, the counts from ``data.json`` and every figure from ``metrics.json``. Where it is weak
is derived from the same figures (:func:`weaknesses`), so the README's section and the card agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hatespeech.config import TRAINING_ARGS_FILE
from hatespeech.model_dir import CARD_FILE, DATA_FILE, ModelDir

WEAK_ROC_AUC = 0.85
"""A source or platform whose ROC-AUC is below this is listed as a weakness."""
WEAK_CATEGORY = 0.7
"""A behaviour category whose accuracy is below this is listed as a weakness."""


@dataclass(frozen=True)
class SourceCard:
    """What the card says of one source of training data."""

    title: str
    licence: str
    hub_id: str  # the dataset's id on the Hugging Face hub, for the header ("" when it has none)


SOURCE_CARDS = {
    "stormfront": SourceCard(
        "Hate speech from a white-supremacist forum (de Gibert et al. 2018): sentences of Stormfront, "
        "its labelled sample and its ordinary sentences",
        "CC BY-SA 3.0 ES",
        "hate_speech18",
    ),
    "hatexplain": SourceCard(
        "HateXplain (Mathew et al. 2021): Twitter and Gab posts, official train split (val chooses)",
        "MIT",
        "hatexplain",
    ),
    "davidson": SourceCard(
        "Hate speech and offensive language (Davidson et al. 2017): tweets, four fifths (one fifth held out)",
        "MIT",
        "hate_speech_offensive",
    ),
    "frames": SourceCard("Generated hateful and non-hateful frames over 22 groups (this project)", "Apache-2.0", ""),
    "swaps": SourceCard("Group-swapped copies of the forum's sentences (this project)", "Apache-2.0", ""),
    "extra": SourceCard("Extra rows given with --extra-data", "the user's", ""),
    "feedback": SourceCard("Reviewers' labels (feedback)", "the user's", ""),
}


def report_figures(metrics: dict[str, Any]) -> dict[str, float]:
    """The headline figures, by name: ``sampled_test`` accuracy and ROC-AUC, the forum's ranking on texts not
    trained on, the validation ROC-AUC of each corpus and platform, and the reported sets (``reports``)."""
    figures: dict[str, float] = {}
    test = metrics.get("test") or {}
    if test:
        figures["sampled_test accuracy"] = test["accuracy"]
        if test.get("roc_auc") is not None:
            figures["sampled_test ROC-AUC"] = test["roc_auc"]
    ranking = metrics.get("ranking") or {}
    if ranking:
        figures["Stormfront hate vs ordinary sentences ROC-AUC (not trained on)"] = ranking["roc_auc"]
        figures["Stormfront false alarms at hate recall 0.8"] = ranking["false_alarms_at_recall"]
    for name, entry in (metrics.get("sources") or {}).items():
        figures[f"{name} validation ROC-AUC"] = entry["roc_auc"]
    for name, entry in (metrics.get("reports") or {}).items():
        for key, value in entry.items():
            figures[f"{name} {key}"] = value
    return figures


def weaknesses(metrics: dict[str, Any]) -> list[str]:
    """Where the model is weak, from its figures: sources or platforms ranked below :data:`WEAK_ROC_AUC`,
    behaviour categories below :data:`WEAK_CATEGORY`, and what no figure can show."""
    found = []
    for name, value in report_figures(metrics).items():
        if "ROC-AUC" in name and value < WEAK_ROC_AUC:
            found.append(f"{name}: {value:.3f}")
    for category, value in sorted((metrics.get("behaviour_categories") or {}).items()):
        if value < WEAK_CATEGORY:
            found.append(f"behaviour category {category}: {value:.2f} correct")
    found.append(
        "English only; posts of 2010-2019 from one forum, Twitter and Gab: slang, platforms and targets it never saw "
        "will be read less well"
    )
    found.append(
        "group names and slurs can still act as cues both ways: counter-speech that quotes hate is sometimes "
        "flagged, and hate without a group name or slur is sometimes missed"
    )
    return found


def write_card(directory: Path) -> Path:
    """Write ``README.md`` into the model dir from its recorded arguments, data counts and metrics."""
    files = ModelDir(directory)
    args = files.read(TRAINING_ARGS_FILE)
    metrics = files.metrics
    data = files.read(DATA_FILE)
    recipe = args.get("data", {})
    counts: dict[str, dict[str, int]] = data.get("per_source") or {"stormfront": data.get("per_label", {})}
    sources = [name for name in counts if name in SOURCE_CARDS]
    figures = report_figures(metrics)
    name = f"hatespeech-{files.fingerprint[:12] or 'model'}"  # the staging dir's name is not the version's
    header = {
        "license": "other",
        "license_name": "apache-2.0-weights-cc-by-sa-3.0-training-data",
        "language": ["en"],
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "base_model": _hub_base(files.base_model),
        "tags": ["hate-speech", "content-moderation", "onnx"],
        "datasets": [SOURCE_CARDS[s].hub_id for s in sources if SOURCE_CARDS[s].hub_id],
        "metrics": ["accuracy", "roc_auc"],
        "model-index": [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "text-classification", "name": "hate speech detection"},
                        "dataset": {"name": "Stormfront sampled_test", "type": "hate_speech18", "split": "test"},
                        "metrics": [_metric(name, value) for name, value in figures.items() if "sampled_test" in name],
                    }
                ],
            }
        ],
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    lines += [f"# {name}: hate speech or not", ""]
    lines += [
        "A BERT-family encoder fine-tuned to tell hate speech (`hate`) from everything else (`noHate`), served by "
        "`hatespeech serve` (ONNX, no torch). P(hate) is the `score`; the decision threshold is "
        f"{files.config.get('decision_threshold', 0.5)}.",
        "",
        "## Intended use",
        "",
        "A first pass for human moderators: it ranks posts by how likely they are to attack people for who they "
        "are (race, religion, origin, gender, sexuality, disability). It is not a judge: act on its flags after a "
        "person has read the post, tune the threshold on your own traffic (`hatespeech calibrate`), and send "
        "reviewers' labels back (`/feedback`). Not for decisions about people without review.",
        "",
        "## Training data",
        "",
        "| source | texts (hate / noHate) | share of an epoch | licence |",
        "|---|---|---|---|",
    ]
    shares = recipe.get("shares") or {}
    for name in sources:
        card, count = SOURCE_CARDS[name], counts[name]
        share = f"{shares[name]:g}" if name in shares else ("every text" if shares else "-")
        lines.append(
            f"| {card.title} | {count.get('hate', 0):,} / {count.get('noHate', 0):,} | {share} | {card.licence} |"
        )
    lines += [
        "",
        f"Offensive posts (insults the annotators did not call hate): {recipe.get('offensive', 'skip')}. "
        f"Text normalisation: `{files.config.get('text_normalization', 'none')}` (emoji as words, @user, http, "
        "HTML entities; the engines apply it, a plain `transformers` pipeline does not). "
        f"Recipe: {_recipe(args, metrics)}.",
        "",
        "The Stormfront sentences are CC BY-SA 3.0: whether share-alike reaches the weights is for your lawyers; the "
        "code and the weights' other sources are Apache-2.0 or MIT.",
        "",
        "## Figures",
        "",
        "Measured at training time on texts the model did not train on; `sampled_test` and HateXplain's test split "
        "are reported only, never chosen on.",
        "",
        "| figure | value |",
        "|---|---|",
        *[f"| {name} | {value:.3f} |" for name, value in figures.items()],
        "",
        "## Where it is weak",
        "",
        *[f"- {item}" for item in weaknesses(metrics)],
        "",
    ]
    path = directory / CARD_FILE
    path.write_text("\n".join(lines))
    return path


def _metric(name: str, value: float) -> dict[str, Any]:
    return {"type": "accuracy" if "accuracy" in name else "roc_auc", "value": round(value, 4), "name": name}


def _recipe(args: dict[str, Any], metrics: dict[str, Any]) -> str:
    if args.get("quick"):
        return "the quick first model (head, then one fine-tuning epoch)"
    folds = args.get("folds", 0)
    split = f"{folds}-fold cross-fit" if folds and folds >= 2 else "one grouped hold-out split"
    drawn = metrics.get("epoch_texts") or args.get("epoch_texts")
    per_epoch = f", {drawn:,} texts per epoch" if drawn else ""
    return f"head, then {args.get('epochs')} fine-tuning epochs on {split}{per_epoch}, seed {args.get('seed')}"


def _hub_base(base_model: str) -> str:
    return "sentence-transformers/all-MiniLM-L6-v2" if "minilm" in base_model.lower() else base_model
