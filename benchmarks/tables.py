"""The results tables of the README and the docs, generated from ``benchmarks/results/*.json``.

A generated table sits between two markers in a Markdown file; the name says which renderer fills it:

    <!-- results: serving -->
    (generated: never edit by hand)
    <!-- /results -->

``make results`` (this script) rewrites every block from the JSON files; ``--check`` only reports the
blocks that differ, and ``tests/test_results_tables.py`` fails on one, so a figure edited by hand, or a
benchmark re-run without ``make results``, cannot go unnoticed. Usage::

    .venv/bin/python benchmarks/tables.py [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DASH, TIMES = "\u2013", "\u00d7"
BLOCK = re.compile(r"<!-- results: (?P<name>[a-z0-9-]+) -->(?P<body>.*?)<!-- /results -->", re.DOTALL)

PEER_LABELS = {
    "ours": "**hatespeech** (default settings, micro-batching)",
    "ours-onnx": "hatespeech, `HATESPEECH_ENGINE=onnx` (the default before 0.7)",
    "ours-openvino-int8": "hatespeech, `HATESPEECH_ENGINE=openvino-int8` (the fastest engine under load here)",
    "ours-new-cpu": "hatespeech on a CPU `auto` has not measured (measuring in the background)",
    "infinity-onnx": "infinity-emb 0.0.78, ONNX engine, our int8 graph",
    "infinity-torch": "infinity-emb 0.0.78, torch engine",
    "bentoml": "BentoML 1.4 (adaptive batching, transformers pipeline)",
    "naive": "naive FastAPI + transformers pipeline",
}
SETUP_LABELS = {
    "tfidf": "TF-IDF word + char n-grams + logistic regression, `sampled_train` (baseline)",
    "0.6.0": "0.6.0 defaults: the forum + group swaps + generated frames, 4-fold cross-fit",
    "defaults": "**defaults (0.7)**: + HateXplain + Davidson et al., drawn by source (0.35 forum / 0.35 HateXplain / "
    "0.1 Davidson / 0.05 frames / 0.15 swaps), emoji as words, one hold-out split",
    "offensive-nohate": "defaults with the corpora's offensive posts as noHate (`--offensive noHate`)",
    "hatexplain-more": "defaults with more HateXplain (shares 0.3 / 0.45 / 0.1 / 0.05 / 0.1)",
    "frames-more": "defaults with more generated frames (shares 0.3 / 0.33 / 0.1 / 0.12 / 0.15)",
    "no-normalization": "defaults without the text normalisation (`--normalization none`: emoji are `[UNK]`)",
    "0.5.0": "0.5.0 defaults: `sampled_train` + natural noHate text + 200 contrast sentences",
    "no-quoting": "0.6.0 draft: + group-swapped variants + contrast set over 22 groups, no quoted hate",
    "davidson-hate": "defaults + Davidson et al. 2017's hate tweets (`--extra-labels hate`, their train part)",
    "identity": "defaults + identity-term regulariser (`--identity-weight 0.1`, Kennedy et al. 2020, occlusion)",
}
README_SETUPS = ("0.6.0", "defaults", "tfidf")
"""The rows the README shows; the arms' rows stay in the JSON and docs/experiments.md."""
CATEGORY_LABELS = {
    "identity_neutral": "identity groups named neutrally",
    "identity_positive": "identity groups named positively",
    "negated_hate": 'negated hate ("I would never say X are vermin")',
    "counter_speech": "counter-speech quoting or referring to hate",
    "reclaimed_slurs": "reclaimed slurs",
    "profanity_untargeted": "profanity without a target",
    "spelling_variants": "hate with spelling variants",
    "threats": "threats",
    "dehumanising": "dehumanising comparisons",
    "question_opinion": "hate as a question or an opinion",
    "explicit_dislike": 'explicit dislike ("I hate X")',
    "negative_generalisation": 'negative generalisations ("I don\'t trust X")',
    "emoji_hate": "hate carried by emoji (🔪, 🐒, 🤮)",
    "emoji_nohate": "emoji in ordinary and supportive posts",
}


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run benchmarks/{name}.py first")
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def cpu(record: dict[str, Any]) -> str:
    """The machine a record was measured on: cores, CPU model, bf16 and the vector flags when recorded."""
    machine = record["machine"]
    flags = f", {' '.join(machine['flags'])}" if machine.get("flags") else ""
    return f"{machine['cores']} cores ({machine['cpu']}, bf16: {'yes' if machine['bf16'] else 'no'}{flags})"


def portable(command: str) -> str:
    """A recorded command with no folder of the machine that ran it: an absolute path becomes ``<name>`` (its last
    part; paths in the repository are recorded relative to it, see harness.write), wherever the checkout is."""
    return re.sub(r"(?<![\w.<])/[^\s`'\"]+", lambda match: f"<{Path(match[0]).name}>", command)


def provenance(record: dict[str, Any]) -> str:
    return f"{record['date']}, {cpu(record)}, commit `{record['commit']}`, `{portable(record['command'])}`"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def block(*parts: str) -> str:
    return "\n" + "\n\n".join(parts) + "\n"


# --- serving: benchmarks/peers.py -----------------------------------------------------------------


def _peer_values(runs: list[dict[str, Any]], peer: str, cell: str, key: str) -> list[float]:
    return [run[peer]["cells"][cell][key] for run in runs if peer in run and cell in run[peer]["cells"]]


def _spread(values: list[float], digits: int = 0) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{min(values):.{digits}f}{DASH}{max(values):.{digits}f}"


SERVING_RECORDS = ("peers_vnni", "peers")
"""The README's serving table: one record per CPU kind (newest first); every row says which kind it is from."""


def cpu_kind(record: dict[str, Any]) -> str:
    """A CPU kind in a few words: the model and the flags that decide engine speed."""
    machine = record["machine"]
    flags = set(machine.get("flags", []))
    if flags & {"amx_bf16", "amx_int8"}:
        kind = "AMX"
    elif flags & {"avx512_vnni", "avx_vnni"}:
        kind = "AVX-512 VNNI" + (" + bf16" if machine["bf16"] else "")
    else:
        kind = "AVX2 only" if flags or not machine["bf16"] else "bf16"
    return f"{machine['cpu']}, {kind}"


def serving() -> str:
    """README: one row per server and CPU kind, the medians of each record's runs, and ours against each peer."""
    rows, notes = [], []
    for name in (n for n in SERVING_RECORDS if (RESULTS / f"{n}.json").is_file()):
        record = load(name)
        runs = record["figures"]["runs"]
        kind = cpu_kind(record)
        peers = [p for p in PEER_LABELS if any(p in run for run in runs)]
        for peer in peers:
            cells = []
            for cell, key in (("single/c1", "req_s"), ("single/c32", "req_s"), ("batch32/c32", "texts_s")):
                values = _peer_values(runs, peer, cell, key)
                cells.append(f"{statistics.median(values):.0f}" if values else DASH)
            rss = statistics.median(run[peer]["peak_rss_mb"] for run in runs if peer in run)
            ready = statistics.median(run[peer]["ready_s"] for run in runs if peer in run)
            label = PEER_LABELS[peer]
            served = _picked(runs, peer)
            if peer.startswith("ours"):  # records before 0.7 did not say: their default was ONNX Runtime int8
                label = f"{label}: served {served if served != 'None' else 'onnx-int8'}"
            row = [label, kind, *cells, f"{rss:.0f} MB", f"{ready:.1f} s"]
            rows.append([f"**{c}**" if peer == "ours" and i > 1 else c for i, c in enumerate(row)])
        ratios = [
            f"{_ratio(runs, 'ours', other, 'single/c32', 'req_s')} {other}"
            for other in ("infinity-onnx", "naive")
            if any(other in run for run in runs)
        ]
        versus = f" At 32 clients ours served {' and '.join(ratios)}." if ratios else ""
        notes.append(f"{kind}: medians of {len(runs)} runs.{versus} {provenance(record)}.")
    header = ["server", "CPU", "1 client, req/s", "32 clients, req/s", "32-text requests at 32 clients, texts/s",
              "peak RSS", "ready"]  # fmt: skip
    return block(table(header, rows), "\n\n".join(notes))


def _ratio(runs: list[dict[str, Any]], ours: str, other: str, cell: str, key: str) -> str:
    mine, theirs = (statistics.median(_peer_values(runs, name, cell, key)) for name in (ours, other))
    return f"{mine / theirs:.2f}{TIMES}"


def peers() -> str:
    """docs/benchmarks.md: every cell, median [min-max] over the runs, and ours / each peer."""
    record = load("peers")
    runs = record["figures"]["runs"]
    names = [p for p in PEER_LABELS if any(p in run for run in runs)]
    cells = sorted({c for run in runs for f in run.values() for c in f["cells"]},
                   key=lambda c: (c.split("/")[0] != "single", int(c.split("/c")[1])))  # fmt: skip
    rows = []
    for cell in cells:
        key = "texts_s" if cell.startswith("batch") else "req_s"
        ours = _peer_values(runs, "ours", cell, key)
        row = [cell.replace("/c", ", c=")]
        for name in names:
            values = _peer_values(runs, name, cell, key)
            text = f"{statistics.median(values):.0f} [{_spread(values)}]" if values else DASH
            if values and ours and name != "ours":
                text += f" {TIMES}{statistics.median(ours) / statistics.median(values):.2f}"
            row.append(text)
        rows.append(row)
    for label, key, digits in (("peak RSS (MB)", "peak_rss_mb", 0), ("ready (s)", "ready_s", 1)):
        rows.append([label, *(_spread([run[n][key] for run in runs if n in run], digits) for n in names)])
    latency = [
        f"{name} {_spread(_peer_values(runs, name, 'single/c1', 'p50_ms'), 1)} ms"
        for name in names
        if _peer_values(runs, name, "single/c1", "p50_ms")
    ]
    return block(
        table(["cell", *names], rows),
        f"- p50 at c=1: {'; '.join(latency)}.\n"
        f"- {len(runs)} runs in alternating orders, {record['figures']['seconds']} s per cell; "
        f"{provenance(record)}.",
    )


def ort_shapes() -> str:
    """docs/benchmarks.md: ONNX Runtime alone, ms per text by batch size, grouping and threads."""
    record = load("ort_shapes")
    rows_in = record["figures"]["rows"]
    columns = list(dict.fromkeys((r["threads"], r["grouping"]) for r in rows_in))
    cell = {(r["threads"], r["grouping"], r["batch"]): r for r in rows_in}
    rows = [
        [str(size), *(f"{cell[(t, g, size)]['ms_per_text']:.2f} ({cell[(t, g, size)]['padding']:.2f})"
                      for t, g in columns)]
        for size in dict.fromkeys(r["batch"] for r in rows_in)
    ]  # fmt: skip
    header = ["texts per batch", *(f"{t} thread{'s' if t > 1 else ''}, {g}" for t, g in columns)]
    return block(
        table(header, rows),
        f"ms per text, median of {record['figures']['rounds']} rounds over {record['figures']['texts']} texts "
        f"(padded / real tokens in brackets); {record['figures']['graph']} graph; {provenance(record)}.",
    )


def docker_image() -> str:
    """docs/deployment.md: the serving image's size, start-up and shutdown (benchmarks/docker.py)."""
    record = load("docker")
    f = record["figures"]
    stops = f["stops"]
    answered = all(s["answered"] == s["sent"] and s["exit_code"] == 0 for s in stops)
    rows = [
        ["model", f"`{f['model']}`"],
        ["runtime image", f"{f['image_mb']:.0f} MB"],
        [f"`docker run` to `/ready` ({len(f['ready_s'])} runs)", f"{_spread(f['ready_s'], 1)} s"],
        ["`deploy/docker/build.sh`, as run (cached layers reused)", f"{f['build_s']:.0f} s"],
        [f"`docker stop` with {stops[0]['sent']} requests queued ({len(stops)} runs)",
         f"{'all answered, exit 0' if answered else 'FAILED'} in {_spread([s['seconds'] for s in stops], 1)} s"],
    ]  # fmt: skip
    return block(table(["", "measured"], rows), f"Docker {f['docker']}; {provenance(record)}.")


def explain_cost() -> str:
    """docs/api.md: server CPU per request, plain and with explain=true, by text length."""
    record = load("explain")
    keys = ("plain_cpu_ms", "explain_cpu_ms", "plain_wall_ms", "explain_wall_ms")
    rows = []
    for r in record["figures"]["rows"]:
        plain_cpu, explain_cpu, plain_wall, explain_wall = (statistics.median(r[k]) for k in keys)
        rows.append([
            r["group"], str(r["texts"]), f"{plain_cpu:.1f}", f"{explain_cpu:.1f}", f"{TIMES}{r['cpu_ratio']:.1f}",
            f"{plain_wall:.1f} / {explain_wall:.1f}",
        ])  # fmt: skip
    header = ["text length", "texts", "server CPU ms, plain", "server CPU ms, explain", "ratio",
              "wall ms, plain / explain"]  # fmt: skip
    return block(
        table(header, rows),
        f"One request at a time; medians of {record['figures']['runs']} runs; {provenance(record)}.",
    )


def engines() -> str:
    """docs/engines.md: every engine this CPU runs, as auto measures them (benchmarks/engines.py)."""
    record = load("engines")
    figures = record["figures"]
    reference = figures["rows"][0]["rank"]
    rows = [
        [f"`{r['engine']}`", f"{r['texts_per_s']:.0f} ({_spread(r['runs'])})", f"{r['single_per_s']:.0f}",
         f"{r['rank'] / reference:.2f}", f"{r['accuracy']:.4f}", f"{r['agreement']:.4f}",
         "yes" if r["passed"] else "no"]
        for r in figures["rows"]
    ]  # fmt: skip
    header = ["engine", "texts/s under load, median (range)", "one at a time", f"auto's rank, {TIMES} onnx-fp32",
              "accuracy", "agreement with fp32", "passes"]  # fmt: skip
    if all("engine_mb" in r for r in figures["rows"]):
        header.append("resident MB")
        for row, r in zip(rows, figures["rows"], strict=True):
            row.append(f"{r['engine_mb']:.0f}")
    if all("test_accuracy" in r for r in figures["rows"]):
        header.append("`sampled_test` accuracy (reporting only)")
        for row, r in zip(rows, figures["rows"], strict=True):
            row.append(f"{r['test_accuracy']:.4f}")
    seconds = figures.get("calibration_s")
    took = f"; a calibration took {_spread(seconds)} s" if seconds else ""
    return block(
        table(header, rows),
        f"{figures['texts']} parity sentences, {figures['threads']} threads, {len(figures['chosen'])} runs; auto "
        f"chose {', '.join(sorted(set(figures['chosen'])))} on `{figures['cpu']}`{took}; {provenance(record)}.",
    )


def _engine_servers(record: dict[str, Any]) -> list[str]:
    runs = record["figures"]["runs"]
    return [name for name in runs[0] if name.startswith("ours")]


def _picked(runs: list[dict[str, Any]], name: str) -> str:
    return ", ".join(sorted({str(run[name].get("engine")) for run in runs if name in run}))


def engine_serving() -> str:
    """docs/engines.md: our server once per engine, same texts and load (benchmarks/peers.py)."""
    record = load("peers_engines")
    runs = record["figures"]["runs"]
    rows = []
    for name in [*_engine_servers(record), *(n for n in runs[0] if not n.startswith("ours"))]:
        cells = []
        for cell, key in (("single/c1", "req_s"), ("single/c1", "p50_ms"), ("single/c32", "req_s"),
                          ("batch32/c32", "texts_s")):  # fmt: skip
            values = _peer_values(runs, name, cell, key)
            cells.append(f"{statistics.median(values):.{1 if key == 'p50_ms' else 0}f}" if values else DASH)
        rss = statistics.median(run[name]["peak_rss_mb"] for run in runs if name in run)
        ready = statistics.median(run[name]["ready_s"] for run in runs if name in run)
        label = f"`{name}`" + (f" (served {_picked(runs, name)})" if name in ("ours", "ours-auto") else "")
        rows.append([label, *cells, f"{rss:.0f} MB", f"{ready:.1f} s"])
    header = ["server", "1 client, req/s", "p50 at 1 client, ms", "32 clients, req/s",
              "32-text requests at 32 clients, texts/s", "peak RSS", "ready"]  # fmt: skip
    return block(table(header, rows), f"Medians of {len(runs)} runs; {provenance(record)}.")


def ort_fusion() -> str:
    """docs/engines.md: ONNX Runtime with fused attention against our graphs (benchmarks/ort_fusion.py)."""
    record = load("ort_fusion")
    figures = record["figures"]
    rows = []
    for row in figures["rows"]:
        base = next(r for r in figures["rows"] if r["texts"] == row["texts"] and r["graph"] == "ours fp32")
        rows.append([row["texts"], row["graph"], f"{row['texts_per_s']:.0f}",
                     f"{row['texts_per_s'] / base['texts_per_s']:.2f}", f"{row['agreement']:.4f}"])  # fmt: skip
    fused = ", ".join(f"{name} {count}" for name, count in figures["fused_operators"].items())
    return block(
        table(["texts", "graph", "texts/s", f"{TIMES} ours fp32", "label agreement with ours fp32"], rows),
        f"Fused operators: {fused}. {figures['threads']} threads, best of {figures['rounds']}; {provenance(record)}.",
    )


def auto_pick() -> str:
    """README: what HATESPEECH_ENGINE=auto served on the benchmark machine, against the default, same run."""
    record = load("peers_engines")
    runs = record["figures"]["runs"]

    def median(name: str, cell: str, key: str) -> float:
        return statistics.median(_peer_values(runs, name, cell, key))

    auto, default = "ours-auto", "ours"
    ratios = [f"{median(auto, c, k) / median(default, c, k):.2f}{TIMES} {what}"
              for c, k, what in (("single/c1", "req_s", "at 1 client"), ("single/c32", "req_s", "at 32 clients"),
                                 ("batch32/c32", "texts_s", "with 32-text requests"))]  # fmt: skip
    return block(
        f"On the AVX2-only machine `auto` served **{_picked(runs, auto)}** "
        f"({', '.join(ratios)}, against `onnx`'s {_picked(runs, default)} in the same run); "
        f"per engine: [docs/engines.md](docs/engines.md). {provenance(record)}."
    )


def lifecycle() -> str:
    """docs/models.md: hot-reload swap time and memory under load, and the shadow model's cost at c=1."""
    record = load("lifecycle")
    swap, shadow = record["figures"]["swap"], record["figures"]["shadow"]
    rows = [[str(number), f"{s['first_answer_s']:.2f} s", f"{s['reload_s']:.2f} s",
             f"{s['rss_before_mb']:.0f} / {s['rss_peak_mb']:.0f} / {s['rss_after_mb']:.0f} MB"]
            for number, s in enumerate(swap["swaps"], start=1)]  # fmt: skip
    medians = shadow["p50_ms"]
    phases = len(medians["plain"])
    quartiles = shadow["pair_ratio_quartiles"]
    header = ["swap", "reload request to first answer of the new version", "verify + load + warm + swap",
              "RSS before / peak / 4 s after"]  # fmt: skip
    return block(
        table(header, rows),
        f"Under {swap['clients']} clients sending distinct texts: {swap['requests']:,} requests during the swaps, "
        f"{swap['failed']} failed.",
        f"Shadow model (the same model again, so as much work as the primary): p50 at c=1 "
        f"{statistics.median(medians['plain']):.2f} ms without it, {statistics.median(medians['shadow']):.2f} ms "
        f"with it (medians of {phases} alternating phases of {shadow['requests_per_phase']} requests each); ratio "
        f"{shadow['ratio']:.2f}, and phase pair by phase pair {DASH.join(f'{q:.2f}' for q in quartiles[::2])} "
        f"(quartiles, median {quartiles[1]:.2f}). The shadow compared {shadow['shadow_compared']:,} texts and "
        f"dropped {shadow['shadow_dropped']:,} (its queue was full).",
        f"{provenance(record)}.",
    )


# --- the first answer and the background training: first_answer.py, background.py ------------------


def first_answer() -> str:
    """README: the quick first model beside the full recipe, and a clean clone's time to the first answer."""
    record, full = load("first_answer"), load("accuracy")
    quick = record["figures"]
    runs = [r for r in full["figures"]["rows"] if r["setup"] == "defaults"]
    best = min(runs, key=lambda r: r["seconds"])  # the run least disturbed by anything else on the machine
    rows = [
        ["training (the export not included)", f"{quick['quick_train_s'] / 60:.1f} min",
         f"{best['seconds'] / 60:.0f} min"],
        ["`sampled_test` accuracy / ROC-AUC (reported only)",
         f"{quick['sampled_test']['accuracy']:.3f} / {quick['sampled_test']['roc_auc']:.3f}",
         f"{best['accuracy']:.3f} / {best['test_roc_auc']:.3f}"],
    ]  # fmt: skip
    return block(
        table(["", "quick first model", "full recipe (trained behind it, then swapped in)"], rows),
        f"From a clean clone: `make install` {quick['install_s']:.0f} s (pip, {quick['pip_cache']} cache), then "
        f"`make run` answered its first `/predict` after {quick['first_answer_s']:.0f} s "
        f"({quick['first_answer_s'] / 60:.1f} min), training and export included; {provenance(record)}. The full "
        f"recipe: the fastest default run of `benchmarks/accuracy.py`, {full['date']}, {cpu(full)}, commit "
        f"`{full['commit']}`.",
    )


def _change(ratio: float) -> str:
    return "0%" if round(100 * (ratio - 1)) == 0 else f"{ratio - 1:+.0%}"


def background() -> str:
    """docs/training.md: what the background full training costs the server, and what the server leaves it."""
    record = load("background")
    f = record["figures"]
    conditions = f["conditions"]
    rows = []
    for name, c in conditions.items():
        if name == "none":
            rows.append(["no training", f"{c['steady_p50_ms']:.1f} / {c['steady_p99_ms']:.1f} ms",
                         f"{c['saturated_rps']:.1f} /s, p99 {c['saturated_p99_ms']:.0f} ms", DASH])  # fmt: skip
            continue
        ratio = c["vs_none"]
        minutes = c["full_training_minutes"]

        def cell(key: str, ratio: dict[str, Any] = ratio) -> str:
            r = ratio[key]
            return f"{_change(r['median'])} ({_change(r['min'])} to {_change(r['max'])})"

        rows.append([
            f"training, {name}, nice 19",
            f"p50 {cell('steady_p50_ms')}, p99 {cell('steady_p99_ms')}",
            f"{cell('saturated_rps')}, p99 {cell('saturated_p99_ms')}",
            " / ".join(f"{m:,.0f} min" if m < 10_000 else "stalls" for m in minutes.values()),
        ])  # fmt: skip
    header = [
        "beside the server", f"{f['rate']:g} requests/s (p50 / p99, or change)",
        f"saturated, {f['concurrency']} connections (throughput, or change)",
        "full training at that pace: idle / steady / saturated",
    ]  # fmt: skip
    return block(
        table(header, rows),
        f"Changes are pair by pair against no training: median (range) of {f['repeats']} rotations of "
        f"{f['seconds']:g}-s phases; every request a distinct text. Training minutes: the run's planned work "
        f"({f['planned_work']:,.0f} units, `hatespeech.progress`) at the work rate measured in each phase, "
        f"loading and export not included. {provenance(record)}.",
    )


# --- accuracy: benchmarks/accuracy.py and benchmarks/behaviour.py ---------------------------------


def _mean_sd(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def accuracy() -> str:
    """README: the ranking per source (the forum on texts not trained on, the other platforms), the behaviour
    suite's halves and its emoji cases, then ``sampled_test`` at the threshold, per setup, mean ± sd over seeds
    ("-" where a row predates a figure)."""
    record = load("accuracy")
    rows_in = record["figures"]["rows"]
    columns = (  # (header, key, digits); "A / B" headers pair two keys
        ("forum: hate vs ordinary sentences, ROC-AUC (the seed's hold-out texts)", "holdout_roc_auc", 3),
        ("forum: false alarms at hate recall 0.8 (same texts)", "holdout_false_alarms_at_recall", 3),
        ("HateXplain test ROC-AUC: all / Twitter / Gab", "hatexplain_test_roc_auc", 3),
        ("Davidson et al. held-out fifth ROC-AUC", "ood_roc_auc", 3),
        ("behaviour suite: hate / noHate", "behaviour_hate", 3),
        ("emoji cases: hate / noHate", "emoji", 2),
        ("`sampled_test` accuracy", "accuracy", 4),
    )
    groups = {
        "hatexplain_test_roc_auc": ("hatexplain_test_roc_auc", "hatexplain_test_twitter_roc_auc",
                                    "hatexplain_test_gab_roc_auc"),
        "behaviour_hate": ("behaviour_hate", "behaviour_nohate"),
    }  # fmt: skip
    rows, notes = [], []
    shown = [setup for setup in dict.fromkeys(r["setup"] for r in rows_in) if setup in README_SETUPS]
    for setup in shown or dict.fromkeys(r["setup"] for r in rows_in):
        mine = [r for r in rows_in if r["setup"] == setup]
        label = SETUP_LABELS.get(setup, f"`{setup}`")
        seeds = "deterministic" if mine[0]["seed"] is None else "seeds " + ", ".join(str(r["seed"]) for r in mine)
        cells = []
        for _, key, digits in columns:
            if key == "emoji":
                emoji = ("emoji_hate", "emoji_nohate")
                present = all("emoji_hate" in r.get("behaviour", {}) for r in mine)
                halves = [_mean_sd([r["behaviour"][c] for r in mine], digits) for c in emoji] if present else [DASH]
                cells.append(" / ".join(halves))
            elif key not in mine[0]:
                cells.append(DASH)
            else:
                cells.append(" / ".join(_mean_sd([r[k] for r in mine], digits) for k in groups.get(key, (key,))))
        rows.append([f"{label} ({seeds})", *cells])
        if mine[0]["seed"] is not None:
            minutes = [r["seconds"] / 60 for r in mine]
            accuracies = ", ".join(f"{r['accuracy']:.4f}" for r in mine)
            notes.append(f"- {setup}, per seed: `sampled_test` accuracy {accuracies}; "
                         f"training {_spread(minutes, 1)} min a run.")  # fmt: skip
    header = ["model", *(name for name, _, _ in columns)]
    return block(table(header, rows), "\n".join(notes), f"Source: {provenance(record)}.")


def normalization_cost() -> str:
    """docs/benchmarks.md: the text normalisation's cost per text against the forward pass."""
    record = load("normalization")
    f = record["figures"]
    rows = [
        [name, f"{f[key]['median']:.1f} ({f[key]['min']:.1f} to {f[key]['max']:.1f})"]
        for name, key in (("tokenize, normalised (`social-v1`)", "tokenize_normalised_us"),
                          ("tokenize, not normalised", "tokenize_plain_us"),
                          (f"forward pass ({f['engine']}, batches of 32)", "forward_us"))
    ]  # fmt: skip
    return block(
        table(["step", "µs per text, median (range)"], rows),
        f"The normalisation costs {f['normalisation_us_per_text']:.1f} µs per text, {f['share_of_forward']:.1%} of "
        f"the forward pass; {f['texts']:,} distinct texts, {f['runs']} runs. Source: {provenance(record)}.",
    )


SHARES = ("elongated", "elongated_in_hate", "spaced", "spaced_in_hate")


def text_variants() -> str:
    """docs/benchmarks.md: how often each corpus elongates or spaces out its words."""
    record = load("text_variants")
    rows = [
        [name, f"{row['texts']:,}", *(f"{row[key]:.1%}" for key in SHARES),
         ", ".join(f"`{word}`" for word in row["elongated_examples"][:4])]
        for name, row in record["figures"]["corpora"].items()
    ]  # fmt: skip
    header = ["corpus", "texts", "elongated", "of hateful", "spaced", "of hateful", "elongated, e.g."]
    return block(table(header, rows), f"Source: {provenance(record)}.")


def weaknesses() -> str:
    """README: where the default model is weak, from the same figures and function as its model card."""
    from hatespeech.model_card import WEAK_ROC_AUC

    rows = [r for r in load("accuracy")["figures"]["rows"] if r["setup"] == "defaults" and "weaknesses" in r]
    if not rows:
        return block("- (no defaults row with weaknesses in benchmarks/results/accuracy.json)")
    items = "\n".join(f"- {item}" for item in rows[0]["weaknesses"])
    return block(
        f"From the model card of `defaults-seed{rows[0]['seed']}` (`src/hatespeech/model_card.py`: ROC-AUC under "
        f"{WEAK_ROC_AUC} and behaviour categories under 0.7 are listed):\n\n{items}"
    )


def behaviour() -> str:
    """README: the served model and the TF-IDF baseline on each category of the behaviour suite."""
    record = load("behaviour")
    figures = record["figures"]
    columns = figures["results"]
    names = sorted(columns, key=lambda n: n.startswith("TF-IDF"))  # the models first, the baseline last
    rows = [
        [CATEGORY_LABELS.get(c, c), gold, str(figures["counts"][c]), *(f"{columns[n][c]:.2f}" for n in names)]
        for c, gold in figures["gold"].items()
    ]
    rows.append(["**mean of categories**", "", "", *(f"{statistics.mean(columns[n].values()):.3f}" for n in names)])
    header = ["category", "gold", "cases", *(f"`{n}` ({figures['engine']})" if "/" in n else n for n in names)]
    return block(table(header, rows), f"Source: {provenance(record)}.")


def load_test() -> str:
    """docs/operations.md: steady load and overload against a real server (benchmarks/load.py)."""
    record = load("load")
    f = record["figures"]
    steady, overload, after = f["steady"], f["overload"], f["after"]

    def statuses(run: dict[str, Any]) -> str:
        return ", ".join(f"{count:,} x {code}" for code, count in sorted(run["statuses"].items()))

    growth = (f["rss_end_mb"] - f["rss_warm_mb"]) / f["rss_warm_mb"]
    return block(
        f"- Steady load, {f['clients']} clients for {f['seconds']:.0f} s: {steady['requests']:,} requests "
        f"({statuses(steady)}), {steady['rps']:.0f} req/s, p50 {steady['p50_ms']:.0f} ms, p99 "
        f"{steady['p99_ms']:.0f} ms. RSS {f['rss_warm_mb']:.0f} MB after warm-up, {f['rss_end_mb']:.0f} MB at "
        f"the end ({growth:+.1%}).\n"
        f"- Overload, {f['overload_clients']} clients against a queue of {f['overload_queue']} texts: "
        f"{overload['requests']:,} requests answered {statuses(overload)}. Right after: {statuses(after)} "
        f"(p50 {after['p50_ms']:.1f} ms).\n"
        f"- {'PASS' if not f['failures'] else 'FAIL: ' + '; '.join(f['failures'])}; {provenance(record)}."
    )


# --- reference: the server's settings, from the Settings model itself ------------------------------


def settings() -> str:
    """docs/api.md: every ``HATESPEECH_*`` variable with its default and meaning."""
    from hatespeech.settings import Settings

    rows = []
    for name, field in Settings.model_fields.items():
        default = "empty" if field.default in ("", None) else f"`{field.default}`"
        rows.append([f"`HATESPEECH_{name.upper()}`", default, (field.description or "").replace("|", "/")])
    return block(table(["variable", "default", "meaning"], rows))


def floods() -> str:
    """docs/benchmarks.md: /health probes answered within 1 s while the public port is flooded (floods.py)."""
    record = load("floods")
    rows = []
    for run in record["figures"]["runs"]:
        public, management = run["probes"]["public"], run["probes"]["management"]
        rows.append([run["flood"], f"{public['answered_1s']}/{public['asked']}",
                     f"{management['answered_1s']}/{management['asked']}",
                     f"{public['slowest_s']:.2f} / {management['slowest_s']:.2f} s"])  # fmt: skip
    seconds = record["figures"]["seconds"]
    header = [f"flood (each for {seconds:g} s)", "public port", "management port",
              "slowest answer (public / management)"]  # fmt: skip
    return block(table(header, rows), f"Default limits, one run; {provenance(record)}.")


def roles() -> str:
    """docs/security.md: every route of the app, its methods and the role it declares (api/security.py)."""
    from hatespeech.api.app import create_app
    from hatespeech.api.security import ANYONE, route_roles
    from hatespeech.settings import Settings

    rows = [[f"`{r.path}`", ", ".join(r.methods), r.access if r.access == ANYONE else r.access.name]
            for r in route_roles(create_app(Settings(engine="onnx")).routes)]  # fmt: skip
    return block(table(["route", "methods", "role"], rows))


RENDERERS: dict[str, Callable[[], str]] = {
    "serving": serving,
    "peers": peers,
    "accuracy": accuracy,
    "weaknesses": weaknesses,
    "normalization": normalization_cost,
    "text-variants": text_variants,
    "behaviour": behaviour,
    "first-answer": first_answer,
    "background": background,
    "settings": settings,
    "roles": roles,
    "floods": floods,
    "load": load_test,
    "ort-shapes": ort_shapes,
    "docker": docker_image,
    "explain": explain_cost,
    "lifecycle": lifecycle,
    "engines": engines,
    "engine-serving": engine_serving,
    "auto-pick": auto_pick,
    "ort-fusion": ort_fusion,
}


def refresh(text: str) -> str:
    """``text`` with every results block rendered afresh from its JSON."""

    def render(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise SystemExit(f"unknown results block {name!r}: one of {', '.join(RENDERERS)}")
        return f"<!-- results: {name} -->{RENDERERS[name]()}<!-- /results -->"

    return BLOCK.sub(render, text)


def stale(documents: list[Path] = DOCUMENTS) -> list[str]:
    """The blocks whose text differs from what their JSON gives, as ``FILE: NAME``."""
    found = []
    for path in documents:
        text = path.read_text()
        for old, new in zip(BLOCK.finditer(text), BLOCK.finditer(refresh(text)), strict=True):
            if old.group(0) != new.group(0):
                found.append(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {old['name']}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale blocks, change nothing")
    args = parser.parse_args()
    if args.check:
        found = stale()
        for item in found:
            print(f"stale: {item} (run `make results`)")
        sys.exit(1 if found else 0)
    for path in DOCUMENTS:
        text = path.read_text()
        new = refresh(text)
        if new != text:
            path.write_text(new)
            print(f"updated {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
