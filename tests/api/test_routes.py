"""Every endpoint and the three request shapes, against the real server on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from pathlib import Path

import httpx
import psutil
import pytest

import hatespeech
from hatespeech import versions

from api.live_server import RunningServer
from waiting import wait_until

PREDICTION_KEYS = {"label", "score", "scores", "truncated", "parts"}


def test_health_is_ok(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_names_the_engine(client: httpx.Client) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["engine"] == "onnx-fp32"


def test_predict_one_text(client: httpx.Client) -> None:
    response = client.post("/predict", json={"text": "I like my neighbours."})
    assert response.status_code == 200
    body = response.json()
    assert body.keys() == PREDICTION_KEYS
    assert body["label"] in ("hate", "noHate")
    assert body["scores"]["hate"] == pytest.approx(body["score"])
    assert body["scores"]["noHate"] == pytest.approx(1 - body["score"])
    assert body["truncated"] is False


def test_predict_texts_in_input_order(client: httpx.Client) -> None:
    texts = ["short", "a much longer sentence with many more words in it than the first", "mid length"]
    batch = client.post("/predict", json={"texts": texts}).json()["predictions"]
    singles = [client.post("/predict", json={"text": t}).json() for t in texts]
    assert [p["score"] for p in batch] == pytest.approx([s["score"] for s in singles], abs=1e-5)


def test_predict_long_text_is_scored_in_parts_and_says_which_decided(client: httpx.Client) -> None:
    text = "word " * 2000
    body = client.post("/predict", json={"text": text}).json()
    assert body["truncated"] is False and body["parts"] > 1
    assert 0 <= body["part"]["start"] < body["part"]["end"] <= len(text)


def test_truncate_false_refuses_a_long_text(client: httpx.Client) -> None:
    response = client.post("/predict", json={"text": "word " * 2000, "truncate": False})
    assert response.status_code == 422


def test_hugging_face_shape_single_input(client: httpx.Client) -> None:
    body = client.post("/predict", json={"inputs": "some text"}).json()
    assert [item.keys() for item in body] == [{"label", "score"}] * 2
    assert body[0]["score"] >= body[1]["score"]
    assert {item["label"] for item in body} == {"hate", "noHate"}


def test_hugging_face_shape_batch_and_top_k(client: httpx.Client) -> None:
    body = client.post("/predict", json={"inputs": ["one", "two"], "parameters": {"top_k": 1}}).json()
    assert len(body) == 2 and all(len(item) == 1 for item in body)


def test_huggingface_hub_inference_client_works_unchanged(server: RunningServer, server_client: httpx.Client) -> None:
    from huggingface_hub import InferenceClient

    text = "They should all be sent back where they came from."
    hf = InferenceClient(model=f"{server.url}/predict", timeout=30)
    result = hf.text_classification(text)
    ours = server_client.post("/predict", json={"text": text}).json()
    # TEI answers one input with a list of labels sorted by score; the client returns the top one.
    top = result[0] if isinstance(result, list) else result
    assert top.label == ours["label"]
    assert top.score == pytest.approx(max(ours["scores"].values()), abs=1e-6)


def test_model_describes_what_is_served(client: httpx.Client) -> None:
    body = client.get("/model").json()
    assert body["labels"] == ["noHate", "hate"]
    assert body["threshold"] == 0.5
    assert len(body["data_fingerprint"]) == 64 and body["version"]
    assert body["service_version"] == hatespeech.__version__
    assert {"validation", "test"} <= body["metrics"].keys()
    assert body["engine"].startswith("onnx")
    assert body["recipe"] == "full"  # the tiny model is not the quick first model
    assert body["normalization"] == "social-v1"
    assert body["data_mix"]["offensive"] == "skip" and "stormfront" in body["data_mix"]["shares"]
    assert body["card"] == "/model/card"
    card = client.get(body["card"])
    assert card.status_code == 200 and card.headers["content-type"].startswith("text/markdown")
    assert card.text.startswith("---\nlicense: other\n") and "## Where it is weak" in card.text


def all_metrics(server: RunningServer, client: httpx.Client) -> str:
    """/metrics of every replica: each Ray Serve replica keeps its own, and Serve routes a GET to either."""
    tries = 12 if server.engine == "ray" else 1
    return "".join(client.get("/metrics").text for _ in range(tries))


def request_id_of(response: httpx.Response) -> str:
    """The response's request id. Behind Ray Serve the proxy also sets the header, to the same value."""
    values = {value.strip() for value in response.headers.get_list("x-request-id", split_commas=True)}
    assert len(values) == 1, values
    return values.pop()


def log_lines(server: RunningServer, request_id: str) -> list[dict[str, object]]:
    """The JSON access-log lines of one request (waits briefly: replicas write theirs to Ray's log files)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [
            json.loads(line[line.index("{") :]) for line in server.log_text().splitlines() if '"route": ' in line
        ]  # the access log's lines: every line of a request carries its id, only the access line its route
        mine = [line for line in lines if line.get("request_id") == request_id]
        if mine or time.monotonic() > deadline:
            return mine
        time.sleep(0.2)


def test_metrics_count_requests_batches_and_labels(server: RunningServer, server_client: httpx.Client) -> None:
    for _ in range(4 if server.engine == "ray" else 1):
        server_client.post("/predict", json={"texts": ["a", "b", "c"]})
    text = all_metrics(server, server_client)
    for name in (
        'hatespeech_requests_total{route="/predict",status="200"}',
        "hatespeech_request_seconds_bucket",
        "hatespeech_batch_size_bucket",
        "hatespeech_predictions_total",
        "hatespeech_queue_depth",
        "hatespeech_inference_seconds_bucket",
        "hatespeech_tokenize_seconds_bucket",
    ):
        assert name in text


def test_metrics_and_log_count_errors_by_type(server: RunningServer, server_client: httpx.Client) -> None:
    request_id = request_id_of(server_client.post("/predict", json={"text": " "}))
    assert 'hatespeech_errors_total{error_type="validation"}' in all_metrics(server, server_client)
    lines = log_lines(server, request_id)
    assert [line["error_type"] for line in lines] == ["validation"]
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "hatespeech.api"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(lines[0]["time"]))  # UTC, ISO 8601


def test_openapi_documents_the_error_statuses(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/predict"]["post"]
    assert {"200", "413", "415", "422", "503"} <= predict["responses"].keys()
    assert client.get("/docs").status_code == 200


def test_every_response_carries_a_request_id(client: httpx.Client) -> None:
    response = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert request_id_of(response) == "abc-123"
    assert 32 <= len(request_id_of(client.get("/nope"))) <= 36  # generated: ours (hex) or Ray Serve's (uuid)


def test_concurrent_requests_each_get_their_own_answers(server: RunningServer) -> None:
    texts = [f"text number {i} " + "word " * (i % 13) for i in range(64)]

    async def run() -> list[dict[str, object]]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            responses = await asyncio.gather(*(http.post("/predict", json={"text": t}) for t in texts))
        return [r.json() for r in responses]

    concurrent = asyncio.run(run())
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sequential = [http.post("/predict", json={"text": t}).json() for t in texts]
    assert [c["score"] for c in concurrent] == pytest.approx([s["score"] for s in sequential], abs=1e-5)


def test_server_logs_one_json_line_per_request_without_texts(
    server: RunningServer, server_client: httpx.Client
) -> None:
    secret = "a very private sentence 8472"
    request_id = request_id_of(server_client.post("/predict", json={"text": secret}))
    mine = log_lines(server, request_id)
    assert len(mine) == 1
    assert mine[0]["route"] == "/predict" and mine[0]["status"] == 200 and mine[0]["texts"] == 1
    assert "latency_ms" in mine[0]
    assert secret not in server.log_text()


def test_two_worker_processes_get_the_flags_and_both_answer(tiny_model: Path, tmp_path: Path) -> None:
    """With --workers N each process builds its app from the environment: the flags must reach them all."""
    running = RunningServer(tiny_model, {}, tmp_path / "serve.log", ["--workers", "2"])
    try:
        running.wait_ready(timeout=120)
        # A connection each (a kept-alive one stays with one worker). /ready was answered by one worker; the other
        # may still be loading (503): both answer within a minute, with the model the flags named.
        url = running.url
        wait_until(
            lambda: all(httpx.post(f"{url}/predict", json={"text": f"t {i}"}).status_code == 200 for i in range(16)),
            timeout=60, what="both workers answer",
        )  # fmt: skip
        assert {httpx.get(f"{url}/model").json()["version"] for _ in range(16)} == {versions.version_id(tiny_model)}
        processes = psutil.Process(running.process.pid).children(recursive=True)
        assert sum("multiprocessing" in " ".join(p.cmdline()) for p in processes) >= 2
    finally:
        assert running.stop() == 0


def test_sigterm_drains_in_flight_requests_and_exits_0(tiny_model: object, tmp_path: object) -> None:
    # A long batch wait keeps the 20 requests in flight (queued) when SIGTERM arrives.
    running = RunningServer(Path(str(tiny_model)), {"HATESPEECH_MAX_WAIT_MS": "1000"})
    running.wait_ready()

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            tasks = [asyncio.create_task(http.post("/predict", json={"text": f"t {i}"})) for i in range(20)]
            await asyncio.sleep(0.3)
            running.process.terminate()
            return [(await t).status_code for t in tasks]

    statuses = asyncio.run(burst())
    assert running.process.wait(30) == 0
    assert statuses == [200] * 20


def test_a_request_whose_client_leaves_is_skipped_not_computed(tiny_model: object, tmp_path: Path) -> None:
    # A long batch wait keeps the texts queued while the client hangs up; the batcher must then skip them.
    log = tmp_path / "server.log"
    running = RunningServer(Path(str(tiny_model)), {"HATESPEECH_MAX_WAIT_MS": "1000"}, log=log)
    try:
        running.wait_ready()
        body = json.dumps({"texts": ["one", "two", "three"]}).encode()
        with socket.create_connection(("127.0.0.1", running.port)) as raw:
            raw.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            time.sleep(0.2)
        # The window closes 1 s after the first text: the three are dropped there, and another request works.
        assert httpx.post(f"{running.url}/predict", json={"text": "after"}, timeout=30).status_code == 200
        metrics = httpx.get(f"{running.url}/metrics", timeout=10).text
        assert "hatespeech_abandoned_texts_total 3.0" in metrics
        assert "hatespeech_batch_size_count 1.0" in metrics  # only the later request was computed
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        gone = [line for line in lines if line.get("status") == 499]
        assert len(gone) == 1 and gone[0]["error_type"] == "client_closed" and gone[0]["texts"] == 3
    finally:
        running.process.terminate()
        running.process.wait(30)


def test_explain_gives_each_word_and_its_contribution(client: httpx.Client) -> None:
    text = "Some words, and then   some more!"
    body = client.post("/predict", json={"text": text, "explain": True}).json()
    spans = body["explanation"]
    assert [s["text"] for s in spans] == text.split()  # the API suite lists every word (its floor is 0)
    assert all(text[s["start"] : s["end"]] == s["text"] and isinstance(s["contribution"], float) for s in spans)
    plain = client.post("/predict", json={"text": text}).json()
    assert "explanation" not in plain
    assert plain["score"] == pytest.approx(body["score"], abs=1e-6)  # explaining does not change the verdict


def test_explain_works_for_a_batch_in_input_order(client: httpx.Client) -> None:
    texts = ["first text here", "second", "a third one"]
    body = client.post("/predict", json={"texts": texts, "explain": True}).json()
    assert [" ".join(s["text"] for s in p["explanation"]) for p in body["predictions"]] == texts


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"inputs": "x", "explain": True}, "explain"),  # the TEI shape has no explain option
        ({"texts": ["a"] * 5, "explain": True}, "at most 4 texts"),
        ({"text": "x", "explain": 1}, "boolean"),
        ({"text": "x", "explain": "true"}, "boolean"),
    ],
)
def test_explain_limits_and_types_are_422(client: httpx.Client, body: dict[str, object], says: str) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422 and says in response.json()["error"]


def test_explanations_list_only_the_words_above_the_floor(tiny_model: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hatespeech.api.app import create_app
    from hatespeech.settings import Settings

    text = "Some words, and then   some more!"
    listed = {}
    for floor in (0.0, 1e9):
        settings = Settings(model_dir=tiny_model, state_dir=tmp_path / "state", engine="onnx", explain_min_effect=floor)
        with TestClient(create_app(settings)) as client:
            wait_until(lambda c=client: c.get("/ready").status_code == 200, timeout=60, what="ready")
            listed[floor] = client.post("/predict", json={"text": text, "explain": True}).json()["explanation"]
    assert [s["text"] for s in listed[0.0]] == text.split() and listed[1e9] == []
