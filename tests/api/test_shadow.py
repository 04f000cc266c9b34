"""The shadow model on a real server: it scores every answered text off the response path, its agreement
equals what the two models give offline, it drops (and counts) what does not fit its queue, and promoting it
makes it the model that answers."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hatespeech import artifact, versions
from hatespeech.engines.onnx_runtime import OnnxEngine

from api.live_server import RunningServer
from model_versions import new_version

ADMIN = "admin-key-5had0w"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
TEXTS = [f"text number {i} about {topic}" for i in range(20) for topic in ("the weather", "my neighbours")]


def shadow_summary(server: RunningServer, expected: int) -> dict[str, object]:
    """/admin/shadow once the shadow has compared (or dropped) ``expected`` texts."""
    deadline = time.monotonic() + 60
    while True:
        summary: dict[str, object] = httpx.get(f"{server.url}/admin/shadow", headers=ADMIN_AUTH, timeout=5).json()
        done = int(summary["compared"]) + int(summary["dropped"]) + int(summary["failed"])  # type: ignore[call-overload]
        if done >= expected or time.monotonic() > deadline:
            return summary
        time.sleep(0.05)


def start_with_shadow(current: Path, tmp_path: Path, **settings: str) -> RunningServer:
    """A server with the candidate as its shadow, once the shadow has loaded (it loads after the primary)."""
    env = {"HATESPEECH_SHADOW_MODEL_DIR": str(current.parent / "candidate"), "HATESPEECH_ADMIN_KEYS": ADMIN,
           **{f"HATESPEECH_{k.upper()}": v for k, v in settings.items()}}  # fmt: skip
    server = RunningServer(current, env, tmp_path / "server.log")
    server.wait_ready()
    deadline = time.monotonic() + 60
    while httpx.get(f"{server.url}/admin/shadow", headers=ADMIN_AUTH).status_code != 200:
        assert time.monotonic() < deadline, "the shadow never loaded"
        time.sleep(0.05)
    return server


@pytest.fixture
def with_candidate(model_copy: Path) -> tuple[Path, str, str]:
    """The current model, and a candidate beside it whose scores are shifted (another prior) and whose
    threshold splits TEXTS in two, so the models disagree on some texts and agree on others."""
    primary = versions.version_id(model_copy)
    shifted = OnnxEngine(artifact.versions_dir(model_copy) / new_version(model_copy, 0.5, hate_prior=0.3))
    median = statistics.median(p.score for p in shifted.predict(TEXTS))
    candidate = new_version(model_copy, median, hate_prior=0.3)
    versions.use(model_copy, primary)
    artifact.point(model_copy.parent / "candidate", artifact.versions_dir(model_copy) / candidate)
    return model_copy, primary, candidate


def test_shadow_agreement_equals_the_offline_comparison(with_candidate: tuple[Path, str, str], tmp_path: Path) -> None:
    current, primary, candidate = with_candidate
    server = start_with_shadow(current, tmp_path, quantized="no")
    try:
        for text in TEXTS[:20]:
            assert httpx.post(f"{server.url}/predict", json={"text": text}).status_code == 200
        batch = httpx.post(f"{server.url}/predict", json={"texts": TEXTS[20:]})
        assert batch.status_code == 200 and batch.headers["x-model-version"] == primary
        summary = shadow_summary(server, len(TEXTS))
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    store = artifact.versions_dir(current)
    ours = OnnxEngine(store / primary).predict(TEXTS)  # fp32, as the server ran
    theirs = OnnxEngine(store / candidate).predict(TEXTS)
    agreed = sum(a.label == b.label for a, b in zip(ours, theirs, strict=True))
    assert 0 < agreed < len(TEXTS)  # the comparison is not trivially all or nothing
    assert (summary["primary_version"], summary["shadow_version"]) == (primary, candidate)
    assert (summary["compared"], summary["agreed"], summary["dropped"]) == (len(TEXTS), agreed, 0)
    assert summary["agreement"] == pytest.approx(agreed / len(TEXTS))
    difference = statistics.mean(abs(a.score - b.score) for a, b in zip(ours, theirs, strict=True))
    assert summary["mean_abs_difference"] == pytest.approx(difference, abs=1e-5)
    labels = {"primary": ours, "shadow": theirs}
    for model, predictions in labels.items():
        expected = {label: sum(p.label == label for p in predictions) for label in ("hate", "noHate")}
        assert {k: v for k, v in expected.items() if v} == summary["labels"][model]  # type: ignore[index]
    series = f'hatespeech_shadow_compared_texts_total{{agree="yes",primary="{primary}",shadow="{candidate}"}}'
    assert f"{series} {float(agreed)}" in metrics


def test_a_full_shadow_queue_drops_and_counts_and_never_fails_a_response(
    with_candidate: tuple[Path, str, str], tmp_path: Path
) -> None:
    current, _, _ = with_candidate
    server = start_with_shadow(current, tmp_path, shadow_max_queue="8")
    try:
        for start in range(0, len(TEXTS), 10):  # 10 texts per request: never fits a queue of 8
            assert httpx.post(f"{server.url}/predict", json={"texts": TEXTS[start : start + 10]}).status_code == 200
        summary = shadow_summary(server, len(TEXTS))
        assert (summary["compared"], summary["dropped"]) == (0, len(TEXTS))
        assert "hatespeech_shadow_dropped_texts_total" in httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()


def test_promote_makes_the_shadow_answer(with_candidate: tuple[Path, str, str], tmp_path: Path) -> None:
    current, primary, candidate = with_candidate
    server = start_with_shadow(current, tmp_path)
    try:
        assert httpx.get(f"{server.url}/admin/shadow", headers=ADMIN_AUTH).json()["shadow_version"] == candidate
        command = [sys.executable, "-m", "hatespeech", "models", "promote", "--model", str(current)]
        done = subprocess.run(
            [*command, "--reload", server.url],
            capture_output=True,
            text=True,
            env={**os.environ, "HATESPEECH_ADMIN_KEY": ADMIN},
        )
        assert done.returncode == 0, done.stderr
        answer = httpx.post(f"{server.url}/predict", json={"text": "after the promotion"})
        assert answer.headers["x-model-version"] == candidate
        gone = httpx.get(
            f"{server.url}/admin/shadow", headers=ADMIN_AUTH
        )  # the candidate link is gone: no shadow any more
        assert gone.status_code == 409 and gone.json()["error_type"] == "not_enabled"
        assert primary != candidate
    finally:
        server.stop()


def test_a_new_primary_restarts_the_comparison_with_the_same_shadow(
    with_candidate: tuple[Path, str, str], tmp_path: Path
) -> None:
    current, primary, candidate = with_candidate
    server = start_with_shadow(current, tmp_path)
    try:
        for text in TEXTS[:5]:
            httpx.post(f"{server.url}/predict", json={"text": text})
        assert shadow_summary(server, 5)["compared"] == 5
        newer = new_version(current, 0.4)  # a new primary; the candidate link stays
        assert httpx.post(f"{server.url}/admin/reload", headers=ADMIN_AUTH).json()["version"] == newer
        for text in TEXTS[5:8]:
            httpx.post(f"{server.url}/predict", json={"text": text})
        summary = shadow_summary(server, 3)
        assert (summary["primary_version"], summary["shadow_version"]) == (newer, candidate)
        assert summary["compared"] == 3 and primary != newer
    finally:
        server.stop()
