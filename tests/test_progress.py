"""Training progress: the estimate of the time left, and how the background training's server logs it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hatespeech.cli.background import describe
from hatespeech.progress import ProgressFile, read_progress


def test_the_estimate_scales_the_time_so_far_by_the_work_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("hatespeech.progress.time.monotonic", lambda: clock[0])
    progress = ProgressFile(tmp_path / "p.json", every_s=0, started=clock[0])
    progress.plan(200)
    progress.advance(2, "stage 1")  # 1%: too early to say
    assert read_progress(tmp_path / "p.json") == {
        "stage": "stage 1", "fraction": 0.01, "elapsed_s": 0, "eta_s": None, "work": [2, 200], "pid": os.getpid()
    }  # fmt: skip
    clock[0] += 60
    progress.advance(48, "stage 2 epoch 1/5")  # a quarter in 60 s: three quarters left, 180 s
    snapshot = read_progress(tmp_path / "p.json")
    assert snapshot is not None and snapshot["fraction"] == 0.25 and snapshot["eta_s"] == 180


def test_writes_are_spaced_but_stage_changes_are_not(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    progress = ProgressFile(path, every_s=3600)
    progress.plan(10)
    progress.advance(5, "stage 2")  # within the interval: not written
    assert read_progress(path) == {**progress.snapshot(), "stage": "starting", "fraction": 0.0, "eta_s": None,
                                   "work": [0, 10]}  # fmt: skip
    progress.at("saving and exporting")
    assert read_progress(path) == progress.snapshot()
    assert not list(tmp_path.glob("*.tmp"))


def test_an_unreadable_or_missing_file_is_no_progress(tmp_path: Path) -> None:
    assert read_progress(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{half")
    assert read_progress(tmp_path / "bad.json") is None


def test_the_log_line_says_how_far_and_how_long() -> None:
    assert describe(None) == {"message": "the full model is starting to train"}
    fields = describe({"stage": "stage 2 fold 2/4 epoch 3/5", "fraction": 0.4213, "eta_s": 1130})
    assert fields == {
        "stage": "stage 2 fold 2/4 epoch 3/5", "percent": 42.1, "eta_s": 1130,
        "message": "the full model is 42.1% trained, about 19 min left (stage 2 fold 2/4 epoch 3/5)",
    }  # fmt: skip
    assert describe({"stage": "starting", "fraction": 0.0, "eta_s": None})["message"] == (
        "the full model is 0% trained (starting)"
    )


def test_training_beside_a_busy_server_uses_the_cores_it_leaves_free(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from hatespeech.training.cpu_share import CpuShare

    before = torch.get_num_threads()
    share = CpuShare(every_s=0)
    share.cores, share.most, share.threads = 4, 4, 4
    wall = [0.0, 0.0, 0.0]  # (wall clock, machine busy, this process), as _sample gives them

    def after(seconds: float, others: float, mine: float) -> None:
        share._mark = tuple(wall)  # type: ignore[assignment]
        wall[:] = [wall[0] + seconds, wall[1] + (others + mine) * seconds, wall[2] + mine * seconds]
        monkeypatch.setattr(share, "_sample", lambda: tuple(wall))
        share.tick()

    try:
        after(2, others=0.1, mine=3.9)  # an idle server: every core
        assert share.threads == 4
        after(2, others=1.6, mine=2.4)  # a busy one: what it leaves, rounded
        assert share.threads == 2 and torch.get_num_threads() == 2
        after(2, others=3.9, mine=0.1)  # saturated: one thread, never none
        assert share.threads == 1 and torch.get_num_threads() == 1
        after(2, others=0.25, mine=3.0)  # a quarter of a core busy: that core is left to the others
        assert share.threads == 3
        after(2, others=0.1, mine=1.0)  # idle again: back to all it started with
        assert share.threads == 4
    finally:
        torch.set_num_threads(before)


def test_a_training_started_with_one_thread_takes_the_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from hatespeech.training.cpu_share import CpuShare

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        share = CpuShare(every_s=0)
        share.most = 2
        share._mark = (0.0, 0.0, 0.0)
        monkeypatch.setattr(share, "_sample", lambda: (2.0, 2.0, 2.0))  # 2 s, only this process busy: idle
        share.tick()
        assert share.threads == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
