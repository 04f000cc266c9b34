"""The moderation loop on the command line: ``feedback export`` / ``feedback purge`` and ``compare``.

Reviewers label texts through the API (``POST /feedback``); ``feedback export`` writes their labels as
JSONL for ``train --feedback``, and ``compare OLD NEW`` sets two model dirs side by side so a team can decide
whether to promote the new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hatespeech.cli.app import DataOption, EngineOption, app, console, fail, open_checked
from hatespeech.engines.registry import DEFAULT_ENGINE

feedback_app = typer.Typer(
    help="Reviewers' feedback in the database: export it, purge old records.", no_args_is_help=True
)
app.add_typer(feedback_app, name="feedback")

DatabaseOption = Annotated[
    str | None,
    typer.Option(help="Database URL (default: $HATESPEECH_DATABASE_URL, else SQLite in $HATESPEECH_STATE_DIR)."),
]


def _open(database: str | None, *, migrate_schema: bool = False) -> Any:
    """The feedback database; only ``feedback upgrade`` (and ``purge``, a writer) may change its schema."""
    from hatespeech.settings import Settings
    from hatespeech.store import Store

    return Store.open(database or Settings().store_url(), migrate_schema=migrate_schema)


@feedback_app.command("upgrade")
def upgrade(database: DatabaseOption = None) -> None:
    """Create or migrate the feedback database's schema to this version's (the server does it at start too)."""
    store = _open(database, migrate_schema=True)
    try:
        revision = store.revision()
    finally:
        store.close()
    console.print(f"the feedback database is at schema revision {revision}", highlight=False)


@feedback_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write (one record per line).")],
    database: DatabaseOption = None,
) -> None:
    """Write every feedback record as JSONL: text, label (what `train --feedback` reads), reviewer, note, ..."""
    from hatespeech.store import as_utc

    if output.is_dir():
        raise fail(f"{output} is a folder: give a file name", 2)
    store = _open(database)
    written = 0
    try:
        with output.open("w", encoding="utf-8") as out:
            for record in store.iter_feedback():
                row = {"id": record.id, "text": record.text, "label": record.label, "reviewer": record.reviewer,
                       "note": record.note, "request_id": record.request_id, "model_score": record.model_score,
                       "created_at": as_utc(record.created_at).isoformat()}  # fmt: skip
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
    finally:
        store.close()
    console.print(f"wrote {written} feedback records to {output}", highlight=False)


@feedback_app.command("purge")
def purge(
    days: Annotated[float, typer.Option(min=0.0, help="Delete records older than this many days.")] = 30.0,
    database: DatabaseOption = None,
) -> None:
    """Delete stored predictions and feedback older than the retention (the server also does this hourly)."""
    store = _open(database, migrate_schema=True)
    try:
        predictions, feedback = store.purge(days)
    finally:
        store.close()
    console.print(f"deleted {predictions} stored predictions and {feedback} feedback records older than {days:g} days")


@app.command()
def compare(
    old: Annotated[Path, typer.Argument(help="The model dir in use.")],
    new: Annotated[Path, typer.Argument(help="The candidate model dir.")],
    data: DataOption = None,
    feedback: Annotated[
        str | None, typer.Option(help="Reviewed texts (export file or database URL): each model's agreement.")
    ] = None,
    behaviour: Annotated[
        Path | None,
        typer.Option(help="The behaviour suite's cases (JSONL: text, label, category) (default: the package's)."),
    ] = None,
    engine: EngineOption = DEFAULT_ENGINE.value,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
) -> None:
    """Two model dirs side by side: sampled_test, natural-text false alarms, behaviour suite, reviewed texts."""
    from rich.table import Table

    from hatespeech.behaviour import CASES, load_cases, score_model
    from hatespeech.data import load_split, resolve_data_dir
    from hatespeech.engines.base import predict_in_batches
    from hatespeech.evaluation import compute_metrics
    from hatespeech.training.data_mix import load_natural
    from hatespeech.training.feedback import load_feedback

    data_path = resolve_data_dir(data)
    test = load_split(data_path, "sampled_test")
    natural = load_natural(data_path)
    reviewed = load_feedback(feedback) if feedback else None
    cases = load_cases(behaviour or CASES)
    figures: dict[str, dict[str, float | None]] = {}
    for name, directory in (("old", old), ("new", new)):
        runner = open_checked(directory, engine)
        threshold = runner.info.threshold

        def flagged(texts: list[str]) -> list[bool]:
            return [p.score >= threshold for p in predict_in_batches(runner, texts)]  # noqa: B023 (used at once)

        scores = [p.score for p in predict_in_batches(runner, test.texts)]
        row: dict[str, float | None] = {
            "sampled_test accuracy": compute_metrics(test.labels, scores, threshold)["accuracy"]
        }
        if natural is not None:
            row["natural false-alarm rate"] = sum(flagged(natural.texts)) / len(natural.texts)
        per_category = score_model(runner, cases)
        row["behaviour suite, mean of categories"] = sum(per_category.values()) / len(per_category)
        if reviewed is not None and reviewed.examples:
            agree = sum(
                hate == bool(e.label) for hate, e in zip(flagged(reviewed.texts), reviewed.examples, strict=True)
            )
            row[f"agreement with {len(reviewed.examples)} reviewed texts"] = agree / len(reviewed.examples)
        figures[name] = row
    if as_json:
        typer.echo(json.dumps({"old": str(old), "new": str(new), "figures": figures}))
        return
    table = Table(title=f"compare ({engine}): {old} -> {new}")
    for column in ("figure", "old", "new", "change"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for key, before in figures["old"].items():
        after = figures["new"].get(key)
        change = f"{after - before:+.4f}" if before is not None and after is not None else "-"
        table.add_row(key, *(f"{v:.4f}" if v is not None else "-" for v in (before, after)), change)
    console.print(table)
    console.print(
        "false-alarm rate: lower is better; the others: higher is better. The natural texts are in the default "
        "training mix, so their rate here is in-sample; the out-of-fold rate is in each model's metrics.json."
    )
