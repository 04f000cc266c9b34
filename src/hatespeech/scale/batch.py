"""Batch scoring with Ray Data: text files in, JSONL or Parquet out, one row per input record.

Files are parsed by Ray tasks (``read_records``, the same reader as the local ``predict --input``), then
scored by a pool of actors, each holding the ONNX engine (``map_batches`` with a callable class). Every
output row keeps its input line/row number (``id``) and, for several inputs, its file (``source``).
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hatespeech.errors import InputError

SUFFIXES = (".txt", ".csv", ".jsonl", ".ndjson", ".parquet")
BLOCK_BYTES = 256 * 1024


@dataclass
class BatchResult:
    """What a batch job did."""

    files: int
    predicted: int = 0
    hate: int = 0
    malformed: int = 0
    seconds: float = 0.0  # the job, from planning to the last row written (connection to Ray excluded)


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


def parse_file(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Ray task: one input file -> one row per record (id = line or row number)."""
    from hatespeech.data import read_records

    source = row["path"]
    return [
        {"id": number, "source": source, "text": text, "error": error}
        for number, text, error in read_records(Path(source))
    ]


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
    """Ray actor: the ONNX engine, loaded once per worker, scoring pandas batches."""

    def __init__(self, model_dir: str, quantized: bool, threads: int) -> None:
        from hatespeech.onnx_engine import OnnxEngine

        limit_threads(threads)
        self.engine = OnnxEngine(Path(model_dir), quantized=quantized, threads=threads)

    def __call__(self, batch: Any) -> Any:
        from hatespeech.engine import predict_in_batches

        valid = batch["error"].isna().to_numpy()
        predictions = predict_in_batches(self.engine, batch["text"][valid].tolist())
        labels = np.full(len(batch), None, dtype=object)
        scores = np.full(len(batch), np.nan)
        truncated = np.zeros(len(batch), dtype=bool)
        labels[valid] = [p.label for p in predictions]
        scores[valid] = [p.score for p in predictions]
        truncated[valid] = [p.truncated for p in predictions]
        return batch.assign(label=labels, score=scores, truncated=truncated)


def score_files(
    spec: str,
    output: Path,
    model_dir: Path,
    *,
    workers: int = 2,
    threads: int = 1,
    quantized: bool = False,
    batch_size: int = 64,
    address: str | None = None,
) -> BatchResult:
    """Score every record of the input files on Ray and write ``output`` (.jsonl or .parquet), in input order."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    from hatespeech import artifact

    if output.suffix.lower() not in (".jsonl", ".parquet"):
        raise InputError(f"--output {output}: use a .jsonl or .parquet file")
    files = expand_inputs(spec)
    artifact.verify(model_dir)
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, include_dashboard=False, configure_logging=False)
    started = time.perf_counter()
    context = DataContext.get_current()
    context.execution_options.preserve_order = True  # rows come out in input order: no sort needed
    context.enable_progress_bars = False
    # Small blocks (~2,000 short texts): a big file is cut as it is parsed, so every actor gets work and a
    # block lost with a node is cheap to recompute (from its parse task, by lineage). No shuffle needed.
    context.target_max_block_size = BLOCK_BYTES
    # Parsing is light I/O and reserves no CPU: the scoring actors may hold every CPU of the cluster
    # (--workers = cores), and a parse task waiting for a CPU would then wait forever.
    # Each actor call gets 8 batches' worth, which the engine groups by length (as the local path does).
    rows = ray.data.from_items([{"path": str(f)} for f in files]).flat_map(parse_file, num_cpus=0)
    scored = rows.map_batches(
        Scorer,
        fn_constructor_kwargs={"model_dir": str(model_dir.resolve()), "quantized": quantized, "threads": threads},
        batch_size=batch_size * 8,
        batch_format="pandas",
        # A fixed pool of actors, spread over the nodes. Ray Data's defaults restart an actor lost with its
        # node (max_restarts=-1) and run its batch again (max_task_retries=-1): every row comes out once.
        compute=ActorPoolStrategy(size=workers),
        num_cpus=threads,
    )
    result = BatchResult(files=len(files))
    writer = _ParquetWriter(output) if output.suffix.lower() == ".parquet" else _JsonlWriter(output, len(files) > 1)
    try:
        for batch in scored.iter_batches(batch_format="pandas", batch_size=batch_size):
            frame: Any = batch
            valid = frame["error"].isna()
            result.predicted += int(valid.sum())
            result.malformed += int((~valid).sum())
            result.hate += int((frame["label"] == "hate").sum())
            writer.write(frame)
    finally:
        writer.close()
    result.seconds = time.perf_counter() - started
    return result


class _JsonlWriter:
    def __init__(self, path: Path, with_source: bool) -> None:
        self.handle = path.open("w", encoding="utf-8")
        self.with_source = with_source

    def write(self, batch: Any) -> None:
        for row in batch.itertuples(index=False):
            record: dict[str, Any] = {"id": int(row.id)}
            if self.with_source:
                record["source"] = row.source
            record["text"] = row.text if isinstance(row.text, str) else None
            if isinstance(row.error, str):
                record["error"] = row.error
            else:
                record.update(label=row.label, score=float(row.score), truncated=bool(row.truncated))
            self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.handle.close()


class _ParquetWriter:
    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        self.path = path
        self.schema = pa.schema(
            [("id", pa.int64()), ("source", pa.string()), ("text", pa.string()), ("label", pa.string()),
             ("score", pa.float64()), ("truncated", pa.bool_()), ("error", pa.string())]
        )  # fmt: skip
        self.writer: Any = None

    def write(self, batch: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema)
        frame = batch[list(self.schema.names)]
        self.writer.write_table(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
