"""Batch scoring with Ray Data: text files in, JSONL or Parquet out, one row per input record.

Files are parsed by Ray tasks (``read_records``, the same reader as the local ``predict --input``) into
Arrow blocks of ``BLOCK_ROWS`` records, then scored by a pool of actors, each holding the ONNX engine
(``map_batches`` with a callable class), one block per call. Every output row keeps its input line/row
number (``id``) and, for several inputs, its file (``source``). Data stays columnar from parse to write:
per-row Python objects cost the same cores that the actors score on.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hatespeech.engines.registry import DEFAULT_ENGINE
from hatespeech.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

SUFFIXES = (".txt", ".csv", ".jsonl", ".ndjson", ".parquet")
BLOCK_ROWS = 512
BLOCK_BYTES = 256 * 1024


@dataclass
class BatchResult:
    """What a batch job did."""

    files: int
    predicted: int = 0
    hate: int = 0
    malformed: int = 0
    seconds: float = 0.0  # the job, from planning to the last row written (connection to Ray excluded)
    engine: str = ""  # the exact engine every actor ran


def expand_inputs(spec: str) -> list[Path]:
    """A file, a directory (its texts files, sorted) or a glob pattern -> the input files."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
    if not files:
        raise InputError(f"no input files match {spec} (give a .txt, .csv, .jsonl or .parquet file, folder or glob)")
    unknown = [f for f in files if f.suffix.lower() not in SUFFIXES]
    if unknown:
        raise InputError(f"{unknown[0]}: unsupported input type (use {', '.join(SUFFIXES)})")
    return [f.resolve() for f in files]


def parse_files(batch: dict[str, np.ndarray]) -> Iterator[dict[str, list[Any]]]:
    """Ray task: input files -> columns of ``BLOCK_ROWS`` records each (id = line or row number).

    Columns, not one dict per record: a block is built from a few lists, which costs the cluster's CPUs
    far less than rows would.
    """
    from hatespeech.records import read_records

    for source in batch["path"]:
        columns: dict[str, list[Any]] = {"id": [], "source": [], "text": [], "error": []}
        for number, text, error in read_records(Path(str(source))):
            columns["id"].append(number)
            columns["source"].append(str(source))
            columns["text"].append(text)
            columns["error"].append(error)
            if len(columns["id"]) == BLOCK_ROWS:
                yield columns
                columns = {"id": [], "source": [], "text": [], "error": []}
        if columns["id"]:
            yield columns


def limit_threads(threads: int) -> None:
    """Hold this process to ``threads`` threads of compute, as its CPU reservation says.

    ONNX Runtime takes its count from the engine; the tokenizer's batch encoding runs on a Rayon pool that
    otherwise spans every core, so a "one-CPU" actor would tokenize on all of them and its neighbours
    would fight over the cores. Rayon reads its size once, when the pool is first used (not yet, here).
    """
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    if threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"


class Scorer:
    """Ray actor: one engine (an exact name, resolved by the driver), loaded once per worker, scoring Arrow blocks
    (malformed rows pass through)."""

    def __init__(self, model_dir: str, engine: str, threads: int) -> None:
        from hatespeech.engines.registry import open_engine

        limit_threads(threads)
        self.engine = open_engine(Path(model_dir), engine, threads)

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        from hatespeech.engines.base import predict_in_batches

        texts = batch.column("text").to_pylist()
        valid = [i for i, error in enumerate(batch.column("error").to_pylist()) if error is None]
        labels: list[str | None] = [None] * len(texts)
        scores: list[float | None] = [None] * len(texts)
        truncated: list[bool | None] = [None] * len(texts)
        parts: list[int | None] = [None] * len(texts)
        starts: list[int | None] = [None] * len(texts)  # the worst part's characters, for a text scored in parts
        ends: list[int | None] = [None] * len(texts)
        for i, prediction in zip(valid, predict_in_batches(self.engine, [texts[i] for i in valid]), strict=True):
            labels[i], scores[i], truncated[i] = prediction.label, prediction.score, prediction.truncated
            parts[i] = prediction.parts
            if prediction.part is not None:
                starts[i], ends[i] = prediction.part
        return (
            batch.append_column("label", pa.array(labels, pa.string()))
            .append_column("score", pa.array(scores, pa.float64()))
            .append_column("truncated", pa.array(truncated, pa.bool_()))
            .append_column("parts", pa.array(parts, pa.int64()))
            .append_column("part_start", pa.array(starts, pa.int64()))
            .append_column("part_end", pa.array(ends, pa.int64()))
        )


def score_files(
    spec: str,
    output: Path,
    model_dir: Path,
    *,
    workers: int = 2,
    threads: int = 1,
    engine: str = DEFAULT_ENGINE,
    batch_size: int = 64,
    address: str | None = None,
) -> BatchResult:
    """Score every record of the input files on Ray and write ``output`` (.jsonl or .parquet), in input order.
    ``engine`` is resolved here, once, for the actors' thread count (``auto``: as measured on this CPU for it, else
    what ``onnx`` serves), so every actor runs the same one."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    from hatespeech import artifact
    from hatespeech.engines.choice import decide

    if output.suffix.lower() not in (".jsonl", ".parquet"):
        raise InputError(f"--output {output}: use a .jsonl or .parquet file")
    files = expand_inputs(spec)
    artifact.verify(model_dir)
    exact = decide(model_dir, engine, threads=threads).name
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, include_dashboard=False, configure_logging=False)
    started = time.perf_counter()
    context = DataContext.get_current()
    context.execution_options.preserve_order = True  # rows come out in input order: no sort needed
    context.enable_progress_bars = False
    # Small blocks (BLOCK_ROWS texts, or BLOCK_BYTES for long ones): a big file is cut as it is parsed, so
    # every actor gets work, the last blocks share out evenly, and a block lost with a node is cheap to
    # recompute (from its parse task, by lineage). No shuffle needed.
    context.target_max_block_size = BLOCK_BYTES
    # Parsing is light I/O and reserves no CPU: the scoring actors may hold every CPU of the cluster
    # (--workers = cores), and a parse task waiting for a CPU would then wait forever.
    rows = ray.data.from_items([{"path": str(f)} for f in files]).map_batches(
        parse_files, batch_size=1, batch_format="numpy", num_cpus=0
    )
    scored = rows.map_batches(
        Scorer,
        fn_constructor_kwargs={"model_dir": str(model_dir.resolve()), "engine": exact, "threads": threads},
        batch_size=BLOCK_ROWS,  # one block a call, which the engine groups by length (as the local path does)
        batch_format="pyarrow",
        # A fixed pool of actors, spread over the nodes. Ray Data's defaults restart an actor lost with its
        # node (max_restarts=-1) and run its batch again (max_task_retries=-1): every row comes out once.
        # One call in flight per actor: a call queued behind a busy actor would leave another idle at the end.
        compute=ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
        num_cpus=threads,
    )
    result = BatchResult(files=len(files), engine=exact.value)
    writer = _ParquetWriter(output) if output.suffix.lower() == ".parquet" else _JsonlWriter(output, len(files) > 1)
    try:
        for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):  # whole blocks, in order
            table: pa.Table = batch
            valid = table.column("error").null_count  # a scored row has no error
            result.predicted += valid
            result.malformed += table.num_rows - valid
            result.hate += table.column("label").to_pylist().count("hate")
            writer.write(table)
    finally:
        writer.close()
    result.seconds = time.perf_counter() - started
    return result


class _JsonlWriter:
    def __init__(self, path: Path, with_source: bool) -> None:
        self.handle = path.open("w", encoding="utf-8")
        self.with_source = with_source

    def write(self, table: pa.Table) -> None:
        columns = table.to_pydict()
        lines = []
        for i, number in enumerate(columns["id"]):
            record: dict[str, Any] = {"id": number}
            if self.with_source:
                record["source"] = columns["source"][i]
            record["text"] = columns["text"][i]
            if columns["error"][i] is not None:
                record["error"] = columns["error"][i]
            else:
                record.update({key: columns[key][i] for key in ("label", "score", "truncated", "parts")})
                if columns["part_start"][i] is not None:
                    record["part"] = {"start": columns["part_start"][i], "end": columns["part_end"][i]}
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        self.handle.write("".join(lines))

    def close(self) -> None:
        self.handle.close()


class _ParquetWriter:
    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        self.path = path
        self.schema = pa.schema(
            [("id", pa.int64()), ("source", pa.string()), ("text", pa.string()), ("label", pa.string()),
             ("score", pa.float64()), ("truncated", pa.bool_()), ("parts", pa.int64()), ("part_start", pa.int64()),
             ("part_end", pa.int64()), ("error", pa.string())]
        )  # fmt: skip
        self.writer: Any = None

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(table.select(self.schema.names).cast(self.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
