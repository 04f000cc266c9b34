"""`serve --train-full` (make run): a quick model serves at once, the full recipe trains behind it at low priority,
and the new version is swapped in with no failed request. A real server and a real training process."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from hatespeech import versions
from hatespeech.cli import app
from hatespeech.progress import read_progress

from api.live_server import RunningServer
from waiting import wait_until


@pytest.fixture
def quick_model(tiny_base: Path, small_data: Path, tmp_path: Path) -> Path:
    """A quick model of the tiny encoder (its data mix small, so that the full recipe behind it is quick too)."""
    out = tmp_path / "models" / "current"
    args = ["train", "--quick", "--data", str(small_data), "--out", str(out), "--base-model", str(tiny_base),
            "--batch-size", "8", "--device", "cpu", "--no-contrast", "--no-counterfactual"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def serve_training(model: Path, small_data: Path, tmp_path: Path) -> RunningServer:
    env = {"HATESPEECH_DATA_DIR": str(small_data), "HATESPEECH_STATE_DIR": str(tmp_path / "state"),
           "HATESPEECH_MODEL_WATCH_S": "0.5"}  # fmt: skip
    server = RunningServer(model, env, tmp_path / "serve.log", ["--train-full"])
    server.wait_ready()
    return server


def test_the_full_model_replaces_the_quick_one_with_no_failed_request(
    quick_model: Path, small_data: Path, tmp_path: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    server = serve_training(quick_model, small_data, tmp_path)
    statuses: list[int] = []
    stop = threading.Event()

    def client_loop() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.wait(0.1):  # ~10 requests/s: a busy server leaves a nice-19 trainer next to nothing
                statuses.append(http.post("/predict", json={"text": f"text {len(statuses)}"}).status_code)

    loop = threading.Thread(target=client_loop, daemon=True)
    try:
        assert httpx.get(f"{server.url}/model").json()["recipe"] == "quick"
        page.goto(server.url)
        expect(page.locator("#model-info")).to_contain_text("quick first model answers", timeout=30_000)
        loop.start()
        wait_until(lambda: httpx.get(f"{server.url}/model").json()["recipe"] == "full", timeout=300,
                   what="the full model serves")  # fmt: skip
        page.reload()
        expect(page.locator("#model-info")).to_have_text(re.compile(r"^Model "))
        expect(page.locator("#model-info")).not_to_contain_text("quick")
        time.sleep(1)
    finally:
        stop.set()
        loop.join(30)
        assert server.stop() == 0
    assert statuses and set(statuses) == {200}, f"{len(statuses)} requests: {sorted(set(statuses))}"
    listed = versions.list_versions(quick_model)
    assert len(listed) == 2 and listed[-1].current  # the quick version is kept, the full one serves
    events = [json.loads(line[line.index("{") :]).get("event") for line in server.log_text().splitlines()
              if '"event"' in line]  # fmt: skip
    assert "full_training_started" in events and "model_reloaded" in events


def trainers(*servers: RunningServer) -> list[psutil.Process]:
    """The training processes the servers started."""
    found = []
    for server in servers:
        with contextlib.suppress(psutil.Error):  # a server that has ended has none
            children = psutil.Process(server.process.pid).children(recursive=True)
            for child in children:
                with contextlib.suppress(psutil.Error):
                    if "train" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                        found.append(child)
    return found


def test_stopping_the_server_stops_the_training_and_the_next_start_begins_again(
    quick_model: Path, small_data: Path, tmp_path: Path
) -> None:
    server = serve_training(quick_model, small_data, tmp_path)
    try:
        wait_until(lambda: trainers(server), timeout=30, what="the training started")
        (trainer,) = trainers(server)
        assert trainer.nice() == 19  # the server keeps the CPU first
        # on the cores the server leaves free, from one thread up (docs/training.md#serving-while-it-trains)
        assert "--share-cpu" in trainer.cmdline() and trainer.environ().get("OMP_NUM_THREADS") == "1"
        progress = tmp_path / "state" / "full-training.progress.json"
        wait_until(lambda: (read_progress(progress) or {}).get("pid") == trainer.pid, timeout=60,
                   what="the training reports its progress")  # fmt: skip
    finally:
        assert server.stop() == 0
    wait_until(lambda: not trainer.is_running() or trainer.status() == psutil.STATUS_ZOMBIE, timeout=30,
               what="the training stopped with the server")  # fmt: skip
    assert len(versions.list_versions(quick_model)) == 1  # nothing half-done published
    again = serve_training(quick_model, small_data, tmp_path)
    try:
        wait_until(lambda: trainers(again), timeout=30, what="the training started again")
    finally:
        assert again.stop() == 0


def test_two_servers_on_one_state_dir_start_one_training(quick_model: Path, small_data: Path, tmp_path: Path) -> None:
    env = {"HATESPEECH_DATA_DIR": str(small_data), "HATESPEECH_STATE_DIR": str(tmp_path / "state")}
    servers = [RunningServer(quick_model, env, tmp_path / f"serve-{i}.log", ["--train-full"]) for i in (1, 2)]
    try:
        for server in servers:
            server.wait_ready()
        wait_until(lambda: trainers(*servers), timeout=30, what="a training started")
        time.sleep(3)  # time for a second one to start, were the lock not there
        (trainer,) = trainers(*servers)
        assert any("the full model is already training" in s.log_text() for s in servers)
    finally:
        for server in servers:
            server.stop()
    wait_until(lambda: not trainer.is_running() or trainer.status() == psutil.STATUS_ZOMBIE, timeout=30,
               what="the training stopped with its server")  # fmt: skip
