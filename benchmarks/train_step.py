"""Training-step benchmark: one stage-2 step (forward, backward, AdamW) per precision and regulariser.

Prints the median seconds per step for 32 texts of 48 tokens on a base model (the default one unless
``--base-model``), so the cost of R-Drop and adversarial training (FGM), the gain of bf16 mixed precision
and the cost of a larger encoder can be checked on any machine. Usage::

    .venv/bin/python benchmarks/train_step.py [--steps 8] [--base-model all-mpnet-base-v2] [--only-plain]
"""

from __future__ import annotations

import argparse
import statistics
import time

import harness
import torch

from hatespeech.config import DEFAULT_BASE_MODEL
from hatespeech.modeling import load_base
from hatespeech.training.batches import TrainBatch
from hatespeech.training.recipe import use_bf16
from hatespeech.training.step import Stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--only-plain", action="store_true", help="fp32 without regularisers only")
    args = parser.parse_args()
    _, model = load_base(args.base_model)
    torch.manual_seed(0)
    batch = {"input_ids": torch.randint(1000, 20000, (32, 48)), "attention_mask": torch.ones(32, 48, dtype=torch.long)}
    labels = torch.randint(0, 2, (32,))
    train_batch = TrainBatch(batch, labels)
    print(
        f"{args.base_model}: threads {torch.get_num_threads()}, bf16 hardware: {use_bf16('auto', torch.device('cpu'))}"
    )
    variants = (
        (("plain", 0.0, 0.0),)
        if args.only_plain
        else (("plain", 0.0, 0.0), ("R-Drop 1", 1.0, 0.0), ("FGM 1", 0.0, 1.0))
    )
    figures: dict[str, float] = {}
    for precision in ("fp32",) if args.only_plain else ("fp32", "bf16"):
        for name, rdrop, adversarial in variants:
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
            bf16 = precision == "bf16"
            stage = Stage(model, optimizer, 100, 0.0, 0.0, bf16=bf16, rdrop=rdrop, adversarial=adversarial)
            times = []
            for _ in range(args.steps):
                started = time.perf_counter()
                stage.train_step(train_batch)
                times.append(time.perf_counter() - started)
            print(f"{precision} {name}: {statistics.median(times):.3f} s/step")
            figures[f"{precision} {name}"] = statistics.median(times)
    print(f"written: {harness.write('train_step', {'base_model': args.base_model, 'seconds_per_step': figures})}")


if __name__ == "__main__":
    main()
