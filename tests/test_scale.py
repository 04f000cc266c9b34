"""Ray: batch scoring with Ray Data on a real two-node cluster, Serve replicas on both nodes, and a node
killed while a batch job and 32 API clients are running."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hatespeech.cli import app
from hatespeech.data import load_split

from api.live_server import RunningServer
from ray_cluster import RayCluster, nodes_running

pytestmark = pytest.mark.ray
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def write_texts(path: Path, texts: list[str]) -> None:
    path.write_text("".join(t.replace("\n", " ").replace("\r", " ") + "\n" for t in texts), encoding="utf-8")


def ray_predict(
    cluster: RayCluster,
    model: Path,
    source: str,
    output: Path,
    workers: int = 2,
    extra: tuple[str, ...] | list[str] = (),
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "hatespeech", "predict", "--runtime", "ray", "--address", cluster.address,
               "--workers", str(workers), "-m", str(model), "--input", source, "--output", str(output),
               *extra]  # fmt: skip
    return subprocess.Popen(command, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def scorer_nodes() -> set[int]:
    """Raylet pids whose node runs a Ray Data scoring actor right now."""
    return nodes_running("Scorer")


def watch(process: subprocess.Popen[bytes], seen: set[int]) -> None:
    """Collect the nodes that run scoring actors while ``process`` runs."""
    while process.poll() is None:
        seen |= scorer_nodes()
        time.sleep(0.1)


def test_ray_data_scores_on_both_nodes_and_equals_the_local_path(
    ray_cluster: RayCluster, tiny_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    texts = load_split(shared_data, "sampled_test").texts
    source = tmp_path / "test.txt"
    write_texts(source, texts)
    local = tmp_path / "local.jsonl"
    fp32 = ["--engine", "onnx-fp32"]  # the same engine on both paths, so the scores can be compared to 1e-6
    local_args = ["predict", "-m", str(tiny_model), *fp32, "--input", str(source), "--output", str(local)]
    result = CliRunner().invoke(app, local_args)
    assert result.exit_code == 0, result.output
    output = tmp_path / "ray.jsonl"
    job = ray_predict(ray_cluster, tiny_model, str(source), output, extra=fp32)
    seen: set[int] = set()
    watcher = threading.Thread(target=watch, args=(job, seen))
    watcher.start()
    log = job.communicate(timeout=300)[0].decode()
    watcher.join()
    assert job.returncode == 0, log
    expected = [json.loads(line) for line in local.read_text().splitlines()]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(1, len(texts) + 1))  # every row once, in input order
    assert [r["label"] for r in rows] == [e["label"] for e in expected]
    assert max(abs(r["score"] - e["score"]) for r, e in zip(rows, expected, strict=True)) <= 1e-6
    assert len(seen) == 2, "the scoring actors did not run on both nodes"


def test_ray_data_reads_folders_of_parquet_and_jsonl_and_writes_parquet(
    ray_cluster: RayCluster, tiny_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = load_split(shared_data, "sampled_train").texts[:300]
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"text": texts[:200]}), folder / "a.parquet")
    (folder / "b.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts[200:]) + "not json\n")
    output = tmp_path / "out.parquet"
    job = ray_predict(ray_cluster, tiny_model, str(folder), output)
    log = job.communicate(timeout=300)[0].decode()
    assert job.returncode == 0, log
    table = pq.read_table(output).to_pylist()
    by_file: dict[str, list[int]] = {}
    for row in table:
        by_file.setdefault(Path(row["source"]).name, []).append(row["id"])
    assert by_file == {"a.parquet": list(range(1, 201)), "b.jsonl": list(range(1, 102))}
    malformed = [row for row in table if row["error"]]
    assert len(malformed) == 1 and malformed[0]["id"] == 101 and malformed[0]["label"] is None
    assert all(row["label"] in ("hate", "noHate") and 0 <= row["score"] <= 1 for row in table if not row["error"])


@pytest.fixture
def doomed_cluster() -> Iterator[RayCluster]:
    """A cluster of its own for the fault test (its worker node is killed)."""
    cluster = RayCluster(cpus=4)
    yield cluster
    cluster.stop()


async def call_api(url: str, clients: int, stop: threading.Event, log: list[tuple[float, bool]]) -> None:
    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            count = 0
            while not stop.is_set():
                count += 1
                try:
                    ok = (
                        await http.post("/predict", json={"text": f"client {number} text {count}"})
                    ).status_code == 200
                except httpx.HTTPError:
                    ok = False
                log.append((time.monotonic(), ok))

    await asyncio.gather(*(client(i) for i in range(clients)))


def test_killing_a_worker_node_loses_no_rows_and_the_api_recovers(
    doomed_cluster: RayCluster, tiny_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    cluster = doomed_cluster
    args = ["--runtime", "ray", "--address", cluster.address, "--replicas", "2"]
    api = RunningServer(tiny_model, {}, tmp_path / "serve.log", args, ray_logs=cluster.temp)
    stop = threading.Event()
    calls: list[tuple[float, bool]] = []
    clients = threading.Thread(target=lambda: asyncio.run(call_api(api.url, 32, stop, calls)), daemon=True)
    try:
        api.wait_ready(timeout=180)
        texts = load_split(shared_data, "sampled_train").texts
        source = tmp_path / "big.txt"
        write_texts(source, [f"{t} #{i}" for i in range(8) for t in texts])  # 15,312 distinct lines
        output = tmp_path / "out.jsonl"
        clients.start()
        time.sleep(3)  # a baseline of answers before anything fails
        job = ray_predict(cluster, tiny_model, str(source), output)
        worker_raylet = cluster.worker_node_raylet().pid
        deadline = time.monotonic() + 120
        while worker_raylet not in scorer_nodes() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.poll() is None, "the batch job ended before the kill"
        killed_at = time.monotonic()
        cluster.kill_worker_node()
        log = job.communicate(timeout=400)[0].decode()
        # Recovered: 100 answers in a row succeeded; then 5 more seconds must be error-free.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (len(calls) > 100 and all(ok for _, ok in calls[-100:])):
            time.sleep(0.2)
        recovered_at = time.monotonic()
        time.sleep(5)
    finally:
        stop.set()
        if clients.is_alive():
            clients.join(timeout=60)
        api.stop()
    assert job.returncode == 0, log
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == list(range(1, 8 * len(texts) + 1))  # every row exactly once
    before = [ok for t, ok in calls if t < killed_at]
    during = [ok for t, ok in calls if killed_at <= t < recovered_at]
    after = [ok for t, ok in calls if t >= recovered_at]
    report = {
        "requests_before_kill": len(before), "errors_before_kill": before.count(False),
        "requests_during_recovery": len(during), "errors_during_recovery": during.count(False),
        "recovery_seconds": round(recovered_at - killed_at, 1),
        "requests_after_recovery": len(after), "errors_after_recovery": after.count(False),
        "batch_rows": len(rows),
    }  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "ray_fault_test.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    assert before and before.count(False) == 0
    assert after and after.count(False) == 0, report


THREADS_AFTER_TOKENIZING = """
import sys, psutil
from tokenizers import Tokenizer
from hatespeech.scale.batch import limit_threads
if sys.argv[2] == "limit":
    limit_threads(1)
tokenizer = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
before = psutil.Process().num_threads()
tokenizer.encode_batch(["some words to split into word pieces"] * 20000)
print(psutil.Process().num_threads() - before)
"""


@pytest.mark.parametrize("mode", ["limit", "default"])
def test_a_one_thread_scorer_tokenizes_on_one_thread(tiny_model: Path, mode: str) -> None:
    # The tokenizer's batch encoding starts a thread pool over every core unless told otherwise: a Ray actor
    # that reserved one CPU must not spread over the others (its neighbours reserved them).
    result = subprocess.run(
        [sys.executable, "-c", THREADS_AFTER_TOKENIZING, str(tiny_model), mode],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    extra_threads = int(result.stdout.strip())
    if mode == "limit":
        assert extra_threads == 0
    else:  # the control: without the limit the pool appears (a thread per core)
        assert extra_threads >= 1


def test_replicas_get_the_versions_the_links_point_to(model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A redeploy is a new runtime environment only when a link moved; a missing candidate means no shadow."""
    from hatespeech import artifact
    from hatespeech.scale.serve import replica_env
    from hatespeech.settings import Settings

    candidate = model_copy.parent / "candidate"
    monkeypatch.setenv("HATESPEECH_SHADOW_MODEL_DIR", str(candidate))
    settings = Settings(model_dir=model_copy, shadow_model_dir=candidate)
    env = replica_env(settings, threads=1)
    assert env["HATESPEECH_MODEL_DIR"] == str(model_copy.resolve()) and "HATESPEECH_SHADOW_MODEL_DIR" not in env
    assert env["HATESPEECH_RELOAD_BY_REDEPLOY"] == "true" and env["HATESPEECH_MODEL_WATCH_S"] == "0"
    artifact.point(candidate, model_copy.resolve())
    assert replica_env(settings, threads=1)["HATESPEECH_SHADOW_MODEL_DIR"] == str(model_copy.resolve())
    assert replica_env(settings, threads=1) != env  # the moved link is what makes Serve roll the replicas


def test_one_host_gets_one_proxy_a_real_cluster_one_per_node() -> None:
    from hatespeech.scale.serve import proxy_location

    assert proxy_location(["127.0.0.1", "127.0.0.1"]) == "HeadOnly"  # the test clusters: two nodes on loopback
    assert proxy_location(["10.0.0.4", "10.0.0.5"]) == "EveryNode"
    assert proxy_location(["10.0.0.4"]) == "EveryNode"  # one node so far: nodes that join later get a proxy


def test_secrets_reach_replicas_as_private_files_never_in_the_runtime_environment(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    from hatespeech.scale.serve import SECRET_VARIABLES, _secrets_dir, replica_env
    from hatespeech.settings import Settings

    secrets = {"HATESPEECH_API_KEYS": "shop:client-secret-ray-1", "HATESPEECH_ADMIN_KEYS": "ops:admin-secret-ray-2",
               "HATESPEECH_DATABASE_URL": "postgresql+psycopg://app:db-password-3@db.internal/hs"}  # fmt: skip
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    env = replica_env(Settings(model_dir=model_copy), threads=1)
    assert not SECRET_VARIABLES & set(env)
    shown = json.dumps(env)
    assert not [s for s in ("client-secret-ray-1", "admin-secret-ray-2", "db-password-3") if s in shown]
    keys_file, url_file = Path(env["HATESPEECH_API_KEY_FILE"]), Path(env["HATESPEECH_DATABASE_URL_FILE"])
    for path in (keys_file, url_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "secret" not in keys_file.read_text() and "sha256:" in keys_file.read_text()  # digests only
    assert replica_env(Settings(model_dir=model_copy), threads=1) == env  # no spurious redeploy
    # A replica builds its settings from that environment alone and knows the same keys and database.
    for name in secrets:
        monkeypatch.delenv(name)
    replica = Settings(**{k.removeprefix("HATESPEECH_").lower(): v for k, v in env.items()
                          if k in ("HATESPEECH_API_KEY_FILE", "HATESPEECH_DATABASE_URL_FILE")})  # fmt: skip
    ring = replica.keyring()
    assert [(k.name, k.role.name) for k in map(ring.match, ("client-secret-ray-1", "admin-secret-ray-2")) if k] == [
        ("shop", "client"), ("ops", "admin")]  # fmt: skip
    assert replica.store_url() == secrets["HATESPEECH_DATABASE_URL"]
    assert os.environ.get("HATESPEECH_ADMIN_KEYS") is None
    shutil.rmtree(keys_file.parent)  # what `serve --runtime ray` does when it stops
    _secrets_dir.cache_clear()
