"""Accuracy benchmark: the defaults and their variants against a TF-IDF baseline, one row per setup and seed.

A model is judged by its **ranking** first, since a change that only moves the threshold trades one error for
another. Every row has:

- ranking, threshold-free, per source: ROC-AUC, average precision and the false alarms at hate recall 0.8 of the
  Stormfront sample's hate against the ordinary forum sentences (natural noHate of ``all_files``), on scores of
  texts the model did not train on (out of fold, or the hold-out split: ``oof_*``), and the same on the texts of
  the default hold-out split of the model's seed for every model, cross-fit ones included (``holdout_*``:
  paired); the same on the held-out fifth of Davidson et al. 2017's tweets (``ood_*``); HateXplain's val and
  test splits (hatespeech against normal), overall and per platform (``hatexplain_val_*``,
  ``hatexplain_test_*``);
- the behaviour suite: every category, the mean of the hate categories and of the noHate ones, and their mean;
- at the threshold: ``sampled_test`` accuracy and macro-F1 (reported, never chosen on), and the share of
  ordinary forum sentences flagged (out of fold);
- the CPU training wall time (the JSON records the CPU model and its flags).

Setups: ``tfidf`` (word + char n-gram TF-IDF and logistic regression on ``sampled_train``, deterministic);
``defaults`` (``hatespeech train`` as shipped); ``NAME={...}``: the defaults with TrainConfig overrides, data
recipe fields among them (``"contrast": false``, ``"corpora": []``, ``"offensive": "noHate"``, ``"shares":
{...}``, ``"extra_data": [PATH]``, ...).
``--rescore DIR ...`` measures kept model dirs again (e.g. one trained by an earlier release).

Usage::

    .venv/bin/python benchmarks/accuracy.py [--data DIR] [--seeds 1 2 3] [--setups tfidf defaults] [--keep DIR]
    .venv/bin/python benchmarks/accuracy.py --rescore runs/defaults-seed1 [--json F]

The rows go to ``benchmarks/results/accuracy.json`` (README tables: ``make results``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from rich.console import Console
from rich.table import Table

from hatespeech.behaviour import load_cases, per_category
from hatespeech.config import DataRecipe, TrainConfig
from hatespeech.corpora import SHARED_DAVIDSON, SHARED_HATEXPLAIN, load_davidson, load_hatexplain
from hatespeech.data import Dataset, load_split, resolve_data_dir
from hatespeech.engines.base import predict_in_batches
from hatespeech.evaluation import compute_metrics, natural_false_alarms, ranking, tfidf_baseline
from hatespeech.model_card import weaknesses
from hatespeech.model_dir import DATA_FILE, VALIDATION_SCORES_FILE, ModelDir
from hatespeech.modeling import TorchEngine
from hatespeech.training import train
from hatespeech.training.data_mix import load_natural, load_recipe, load_training_data, plan_runs
from hatespeech.training.sources import available_corpora, report_sets

console = Console(width=160)
PLATFORMS = ("twitter", "gab")


def mean_sd(values: list[float], digits: int = 4) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def behaviour_figures(scores: list[float]) -> dict[str, Any]:
    """Behaviour-suite accuracy per category; the mean of all categories, of the hate ones and of the noHate
    ones (and the mean of those two halves: a model that flags everything scores 0.5 on it), and the lowest."""
    cases = load_cases()
    categories = per_category(cases, scores)
    gold = {c.category: c.label for c in cases}
    hate = statistics.mean(v for k, v in categories.items() if gold[k] == 1)
    nohate = statistics.mean(v for k, v in categories.items() if gold[k] == 0)
    return {
        "behaviour": categories,
        "behaviour_mean": statistics.mean(categories.values()),
        "behaviour_hate": hate,
        "behaviour_nohate": nohate,
        "behaviour_halves": (hate + nohate) / 2,
        "behaviour_min": min(categories.values()),
    }


def natural_fpr(natural: Dataset, scores: list[float]) -> float:
    fpr = natural_false_alarms(natural.examples, scores, 0.5)
    assert fpr is not None
    return float(fpr["false_positive_rate"])


def ranking_figures(prefix: str, figures: dict[str, Any]) -> dict[str, Any]:
    """The ranking figures of :func:`hatespeech.evaluation.ranking` under a row's column names."""
    return {
        f"{prefix}_roc_auc": figures["roc_auc"],
        f"{prefix}_average_precision": figures["average_precision"],
        f"{prefix}_false_alarms_at_recall": figures["false_alarms_at_recall"],
    }


def out_of_fold_ranking(model_dir: Path, data_dir: Path, test: Dataset) -> dict[str, Any]:
    """Hate of the labelled sample against the natural noHate sentences, on the fold models' out-of-fold scores
    (``validation_scores.json``). A model dir of 0.5.0 records no text kinds: its mix (sample, natural, then
    the 200 contrast sentences at the end) is rebuilt and checked label by label."""
    record = ModelDir(model_dir).read(VALIDATION_SCORES_FILE)
    labels, scores = record["labels"], record["scores"]
    kinds = record.get("texts")
    if "sources" in record:  # 0.7 on: every text says where it is from
        mine = [k if s == "stormfront" else "other" for k, s in zip(kinds, record["sources"], strict=True)]
        hate = [x for x, y, k in zip(scores, labels, mine, strict=True) if k == "sample" and y == 1]
        ordinary = [x for x, y, k in zip(scores, labels, mine, strict=True) if k == "natural" and y == 0]
        return ranking(hate, ordinary)
    if kinds is None:
        plain = load_training_data(data_dir, contrast=False, counterfactual=False, test_texts=test.texts)
        kinds = ["natural" if e.natural else "sample" for e in plain.examples]
        kinds += ["contrast"] * (len(labels) - len(kinds))
        if plain.labels != labels[: len(plain)]:
            raise SystemExit(f"{model_dir}: cannot rebuild the kinds of its validation texts")
    # Only the forum's own labelled sample: it comes first in the mix, so extra rows (another corpus, which is
    # "sample" too but easy to tell from forum sentences by its style) never count here.
    own = len(load_training_data(data_dir, natural=False, contrast=False, counterfactual=False, test_texts=test.texts))
    positions = [i for i, k in enumerate(kinds) if k == "sample"][:own]
    hate = [scores[i] for i in positions if labels[i] == 1]
    ordinary = [s for s, y, k in zip(scores, labels, kinds, strict=True) if k == "natural" and y == 0]
    return ranking(hate, ordinary)


def holdout_ids(context: Context, seed: int) -> set[str]:
    """The forum sentences (sample and ordinary) of the default recipe's grouped hold-out split for ``seed``."""
    config = TrainConfig(seed=seed)
    data = load_recipe(context.data_dir, config.data, context.test.texts, warn=lambda _: None)
    _, runs = plan_runs(data.examples, config)
    return {e.id for e in runs[0].validation if e.source == "stormfront"}


def paired_holdout_ranking(model_dir: Path, context: Context, seed: int) -> dict[str, Any]:
    """The forum's ranking on the texts of the 0.7 hold-out split of the same seed, so that a cross-fit model (its
    out-of-fold scores, every text scored by a fold model that did not train on it) and a hold-out model are
    compared on the same texts. A 0.6 cross-fit model's mix is rebuilt in its order and checked label by label."""
    record = ModelDir(model_dir).read(VALIDATION_SCORES_FILE)
    labels, scores = record["labels"], record["scores"]
    if "sources" in record:
        return out_of_fold_ranking(model_dir, context.data_dir, context.test)
    mix = load_training_data(context.data_dir, test_texts=context.test.texts).examples
    if [e.label for e in mix] != labels:
        raise SystemExit(f"{model_dir}: cannot rebuild the order of its out-of-fold scores")
    wanted = holdout_ids(context, seed)
    chosen = [(x, e) for x, e in zip(scores, mix, strict=True) if e.source == "stormfront" and e.id in wanted]
    hate = [x for x, e in chosen if not e.natural and e.label == 1]
    ordinary = [x for x, e in chosen if e.natural and e.label == 0]
    return ranking(hate, ordinary)


def out_of_domain(dev: Dataset | None, scores: list[float]) -> dict[str, Any]:
    """Ranking on the held-out fifth of Davidson et al. 2017 (tweets: hate speech against neither)."""
    if dev is None:
        return {}
    hate = [s for s, e in zip(scores, dev.examples, strict=True) if e.label == 1]
    ordinary = [s for s, e in zip(scores, dev.examples, strict=True) if e.label == 0]
    return ranking_figures("ood", ranking(hate, ordinary))


def hatexplain_figures(data: Dataset | None, scores: list[float]) -> dict[str, Any]:
    """ROC-AUC on HateXplain's val and test splits (hatespeech against normal), overall and per platform."""
    figures: dict[str, Any] = {}
    for split in ("val", "test"):
        for platform in (None, *PLATFORMS):
            chosen = [(s, e.label) for s, e in zip(scores, data.examples if data else [], strict=True)
                      if e.split == split and platform in (None, e.platform)]  # fmt: skip
            hate = [s for s, y in chosen if y == 1]
            ordinary = [s for s, y in chosen if y == 0]
            if hate and ordinary:
                figures[f"hatexplain_{split}{f'_{platform}' if platform else ''}_roc_auc"] = ranking(hate, ordinary)[
                    "roc_auc"
                ]
    return figures


def model_figures(model_dir: Path, context: Context) -> dict[str, Any]:
    """Every figure of a trained (kept) model dir: test, out-of-fold ranking and false alarms, behaviour suite,
    the other platforms' rankings."""
    files = ModelDir(model_dir)
    metrics = files.metrics
    engine = TorchEngine(model_dir)
    cases = [c.text for c in load_cases()]
    dev, hatexplain = context.dev, context.hatexplain
    texts = cases + (dev.texts if dev else []) + (hatexplain.texts if hatexplain else [])
    scores = [p.score for p in predict_in_batches(engine, texts)]
    ends = (len(cases), len(cases) + (len(dev) if dev else 0))
    figures = behaviour_figures(scores[: ends[0]]) | out_of_domain(dev, scores[ends[0] : ends[1]])
    figures |= hatexplain_figures(hatexplain, scores[ends[1] :])
    figures["natural_fpr"] = metrics["natural"]["false_positive_rate"]
    figures |= ranking_figures("oof", out_of_fold_ranking(model_dir, context.data_dir, context.test))
    seed = int(files.training_args().seed)
    figures |= ranking_figures("holdout", paired_holdout_ranking(model_dir, context, seed))
    return {
        "accuracy": metrics["test"]["accuracy"],
        "macro_f1": metrics["test"]["macro_f1"],
        "test_roc_auc": metrics["test"]["roc_auc"],
        **figures,
        "validation_accuracy": metrics["validation"]["accuracy"],
        "selected": metrics["selected"],
        "train_texts": files.read(DATA_FILE)["examples"],
        "seconds": metrics["train_seconds"],
        "validation_kind": metrics["validation_kind"],
        "weaknesses": weaknesses(metrics | {"behaviour_categories": figures["behaviour"]}),
        "normalization": files.config.get("text_normalization", "none"),
    }


def setup_config(overrides: dict[str, Any]) -> TrainConfig:
    """The defaults with a setup's overrides; data recipe fields (``"corpora"``, ``"contrast"``...) go to ``data``."""
    overrides = dict(overrides)
    data = {key: overrides.pop(key) for key in list(overrides) if key in DataRecipe.model_fields}
    return TrainConfig(**{**overrides, "data": DataRecipe(**data)})


def run_model(name: str, config: TrainConfig, data: Dataset, context: Context, keep: Path | None) -> dict[str, Any]:
    """Train one setup for one seed and measure it (the model kept under ``keep``)."""
    seed = config.seed
    with tempfile.TemporaryDirectory() as tmp:
        out = keep / f"{name}-seed{seed}" if keep else Path(tmp) / "model"
        result = train(config, data, out, test_data=context.test, reports=report_sets(context.data_dir))
        figures = model_figures(result.model_dir, context)
    return {"setup": name, "seed": seed, **figures}


def tfidf_row(context: Context, sample: Dataset) -> dict[str, Any]:
    """The TF-IDF baseline on ``sampled_train``; its hate texts scored out of fold (4 folds grouped by author)
    for the ranking against natural text, which it never trained on."""
    from sklearn.model_selection import GroupKFold

    started = time.perf_counter()
    natural, test, dev, hatexplain = context.natural, context.test, context.dev, context.hatexplain
    texts = test.texts + natural.texts + [c.text for c in load_cases()] + (dev.texts if dev else [])
    texts += hatexplain.texts if hatexplain else []
    scores = tfidf_baseline(sample.texts, sample.labels, texts)
    seconds = time.perf_counter() - started
    oof = [0.0] * len(sample)
    groups = [e.group for e in sample.examples]
    for train_idx, val_idx in GroupKFold(n_splits=4).split(sample.texts, sample.labels, groups):
        fold = tfidf_baseline([sample.texts[i] for i in train_idx], [sample.labels[i] for i in train_idx],
                              [sample.texts[i] for i in val_idx])  # fmt: skip
        for i, score in zip(val_idx, fold, strict=True):
            oof[i] = score
    n_test, n_natural, n_cases = len(test), len(natural), len(load_cases())
    natural_scores = scores[n_test : n_test + n_natural]
    hate = [s for s, y in zip(oof, sample.labels, strict=True) if y == 1]
    figures = behaviour_figures(scores[n_test + n_natural : n_test + n_natural + n_cases])
    n_dev = len(dev) if dev else 0
    figures |= out_of_domain(dev, scores[n_test + n_natural + n_cases : n_test + n_natural + n_cases + n_dev])
    figures |= hatexplain_figures(hatexplain, scores[n_test + n_natural + n_cases + n_dev :])
    figures |= ranking_figures("oof", ranking(hate, natural_scores))
    figures["natural_fpr"] = natural_fpr(natural, natural_scores)
    test_metrics = compute_metrics(test.labels, scores[:n_test])
    figures |= {"accuracy": test_metrics["accuracy"], "macro_f1": test_metrics["macro_f1"]}
    figures["test_roc_auc"] = test_metrics["roc_auc"]
    return {"setup": "tfidf", "seed": None, **figures, "train_texts": len(sample), "seconds": round(seconds, 1)}


@dataclass
class Context:
    """What every setup is measured on."""

    data_dir: Path
    test: Dataset
    natural: Dataset
    dev: Dataset | None  # Davidson et al.'s held-out fifth
    hatexplain: Dataset | None  # HateXplain's val and test splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--davidson", type=Path, default=SHARED_DAVIDSON, help="labeled_data.csv (its dev fifth)")
    parser.add_argument("--hatexplain", type=Path, default=SHARED_HATEXPLAIN, help="hatexplain.csv (val and test)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--setups", nargs="+", default=None, help="default: tfidf defaults (none with --rescore)")
    parser.add_argument("--json", type=Path, default=None, help="default: results/accuracy.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep each model as KEEP/SETUP-seedN")
    parser.add_argument(
        "--rescore", type=Path, nargs="+", default=None, help="measure kept model dirs (KEEP/SETUP-seedN) again"
    )
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, help="only print the table of saved rows")
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=None,
        help="add the rows of these saved runs to --json's (each keeps its command, commit and date in 'from')",
    )  # fmt: skip
    args = parser.parse_args()
    if args.from_json:
        print_table([row for path in args.from_json for row in json.loads(path.read_text())["figures"]["rows"]])
        return
    if args.merge:
        merge(args.json or harness.RESULTS / "accuracy.json", args.merge)
        return

    data_dir = resolve_data_dir(args.data)
    sample = load_split(data_dir, "sampled_train")
    test = load_split(data_dir, "sampled_test")
    natural = load_natural(data_dir)
    if natural is None:
        raise SystemExit(f"{data_dir} has no all_files/: the natural-text figures need it")
    dev = load_davidson(args.davidson, "dev") if args.davidson.is_file() else None
    hatexplain = load_hatexplain(args.hatexplain, ("val", "test")) if args.hatexplain.is_file() else None
    context = Context(data_dir, test, natural, dev, hatexplain)

    rows: list[dict[str, Any]] = []
    for model_dir in args.rescore or []:
        name, _, seed = model_dir.name.rpartition("-seed")
        rows.append({"setup": name or model_dir.name, "seed": int(seed) if seed.isdigit() else None,
                     **model_figures(model_dir, context)})  # fmt: skip
        console.print(json.dumps(rows[-1]))
    for setup in args.setups or ([] if args.rescore else ["tfidf", "defaults"]):
        if setup == "tfidf":
            rows.append(tfidf_row(context, sample))
            console.print(json.dumps(rows[-1]))
            continue
        name, _, spec = setup.partition("=")
        config = setup_config({"device": "cpu", **json.loads(spec or "{}")})
        data = load_recipe(data_dir, config.data, test.texts)
        found = config.data.model_copy(update={"corpora": available_corpora(data_dir, config.data)})
        for seed in args.seeds:
            seeded = config.model_copy(update={"seed": seed, "data": found})
            rows.append(run_model(name, seeded, data, context, args.keep))
            console.print(json.dumps(rows[-1]))

    print_table(rows)
    console.print(f"written: {harness.write('accuracy', {'rows': rows}, args.json)}")


def merge(target: Path, saved: list[Path]) -> None:
    """Add saved runs' rows to ``target``'s (a row of the same setup and seed is replaced); each added row records
    where it came from, so the file still says which command made every figure."""
    record = json.loads(target.read_text())
    rows: list[dict[str, Any]] = record["figures"]["rows"]
    for path in saved:
        run = json.loads(path.read_text())
        origin = {key: run[key] for key in ("command", "commit", "date", "machine")}
        for row in run["figures"]["rows"]:
            rows = [r for r in rows if (r["setup"], r["seed"]) != (row["setup"], row["seed"])]
            rows.append({**row, "from": origin})
    record["figures"]["rows"] = rows
    record.setdefault("merged", []).append(" ".join(["benchmarks/accuracy.py --merge", *map(str, saved)]))
    target.write_text(json.dumps(record, indent=1) + "\n")
    console.print(f"merged {len(saved)} runs into {target}")


COLUMNS = (  # (header, row key, digits)
    ("OOF ROC-AUC", "oof_roc_auc", 3),
    ("OOF AP", "oof_average_precision", 3),
    ("OOF false alarms @ recall 0.8", "oof_false_alarms_at_recall", 3),
    ("Davidson fifth ROC-AUC", "ood_roc_auc", 3),
    ("HateXplain val", "hatexplain_val_roc_auc", 3),
    ("HateXplain test", "hatexplain_test_roc_auc", 3),
    ("HateXplain test Twitter", "hatexplain_test_twitter_roc_auc", 3),
    ("HateXplain test Gab", "hatexplain_test_gab_roc_auc", 3),
    ("behaviour hate", "behaviour_hate", 3),
    ("behaviour noHate", "behaviour_nohate", 3),
    ("behaviour halves' mean", "behaviour_halves", 3),
    ("test accuracy", "accuracy", 4),
    ("natural flagged", "natural_fpr", 3),
    ("train s", "seconds", 0),
)


def print_table(rows: list[dict[str, Any]]) -> None:
    """Mean ± sd over seeds per setup; ranking first."""
    table = Table(title="Ranking per source (forum out of fold, other platforms), behaviour suite, then thresholds")
    for column in ("setup", *(header for header, _, _ in COLUMNS), "lowest category", "runs"):
        table.add_column(column)
    for name in dict.fromkeys(r["setup"] for r in rows):
        mine = [r for r in rows if r["setup"] == name]
        cells = [mean_sd([r[key] for r in mine], digits) if key in mine[0] else "-" for _, key, digits in COLUMNS]
        runs = "1 (deterministic)" if mine[0]["seed"] is None else f"{len(mine)} seeds"
        table.add_row(name, *cells, f"{min(r['behaviour_min'] for r in mine):.2f}", runs)
    console.print(table)


if __name__ == "__main__":
    main()
