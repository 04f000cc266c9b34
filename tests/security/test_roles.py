"""Closed by default, and roles for keys: each test is an attack on a real server on loopback and its safe outcome
(issue 28, items 1 and 2)."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hatespeech.store import Store

from api.live_server import RunningServer
from waiting import wait_until

CLIENT, REVIEWER, ADMIN = "client-secret-1a2b3c", "reviewer-secret-4d5e6f", "admin-secret-7a8b9c"
HASHED = "hashed-reviewer-secret-0f0f"  # in the keys file only as its SHA-256 digest


SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def keyed(tiny_model: Path, database: str, tmp_path: Path) -> Iterator[tuple[RunningServer, str, Path]]:
    """A server with a client key (env), a reviewer key and a hashed reviewer key (keys file), an admin key (env)."""
    keys_file = tmp_path / "keys.txt"
    digest = hashlib.sha256(HASHED.encode()).hexdigest()
    keys_file.write_text(f"# name role secret\nrita reviewer {REVIEWER}\nhal reviewer sha256:{digest}\n")
    env = {"HATESPEECH_API_KEYS": f"cleo:{CLIENT}", "HATESPEECH_ADMIN_KEYS": f"ada:{ADMIN}",
           "HATESPEECH_API_KEY_FILE": str(keys_file), "HATESPEECH_DATABASE_URL": database,
           "HATESPEECH_STORE_PREDICTIONS": "true"}  # fmt: skip
    server = RunningServer(tiny_model, env, tmp_path / "server.log")
    server.wait_ready()
    yield server, database, keys_file
    server.stop()


def test_with_no_keys_an_anonymous_client_can_classify_and_nothing_else(tiny_model: Path, tmp_path: Path) -> None:
    server = RunningServer(tiny_model, {"HATESPEECH_STATE_DIR": str(tmp_path / "state")}, tmp_path / "log")
    server.wait_ready()
    try:
        assert httpx.post(f"{server.url}/predict", json={"text": "hello"}).status_code == 200
        attacks = [  # (method, path, body, the setting the refusal names)
            ("POST", "/feedback", {"text": "poison", "label": "noHate"}, "HATESPEECH_REVIEWER_KEYS"),
            ("GET", "/feedback", None, "HATESPEECH_ADMIN_KEYS"),
            ("GET", "/review", None, "HATESPEECH_REVIEWER_KEYS"),
            ("POST", "/admin/reload?force=true", None, "HATESPEECH_ADMIN_KEYS"),
            ("GET", "/admin/shadow", None, "HATESPEECH_ADMIN_KEYS"),
        ]
        for method, path, body, setting in attacks:
            for headers in ({}, bearer("a-guessed-key-123")):
                response = httpx.request(method, f"{server.url}{path}", json=body, headers=headers)
                assert response.status_code == 403, (method, path, response.text)
                assert response.json()["error_type"] == "forbidden" and setting in response.json()["error"]
        # A page in an operator's browser cannot reload either: a plain form POST carries no key.
        form = httpx.post(f"{server.url}/admin/reload", data={"force": "true"})
        assert form.status_code == 403
    finally:
        server.stop()
    assert not (tmp_path / "state").exists()  # nothing stored: no database was even created


EXPECTED = {  # route -> status for (anonymous, client, reviewer, admin)
    ("POST", "/predict"): (401, 200, 200, 200),
    ("GET", "/model"): (401, 200, 200, 200),
    ("POST", "/feedback"): (401, 403, 201, 201),
    ("GET", "/review"): (401, 403, 200, 200),
    ("GET", "/feedback"): (401, 403, 403, 200),
    ("GET", "/admin/shadow"): (401, 403, 403, 409),  # 409: no shadow configured (the admin got through)
    ("POST", "/admin/reload"): (401, 403, 403, 200),
}


def test_each_role_reaches_exactly_its_routes(keyed: tuple[RunningServer, str, Path]) -> None:
    server, _, _ = keyed
    bodies = {"/predict": {"text": "a text"}, "/feedback": {"text": "labelled text", "label": "hate"}}
    for (method, path), statuses in EXPECTED.items():
        for who, status in zip((None, CLIENT, REVIEWER, ADMIN), statuses, strict=True):
            body = bodies.get(path) if method == "POST" else None
            response = httpx.request(method, f"{server.url}{path}", json=body, headers=bearer(who) if who else {},
                                     timeout=60)  # fmt: skip
            assert response.status_code == status, (method, path, who, response.text)
            if status == 401:
                assert response.headers["www-authenticate"] == "Bearer"
            if status == 403:
                assert re.search(r"needs an? (reviewer|admin) key", response.json()["error"])
                assert CLIENT not in response.text


def test_a_method_a_protected_route_does_not_have_is_405_for_anyone(keyed: tuple[RunningServer, str, Path]) -> None:
    """It does nothing, and the OpenAPI document already lists the methods: no key is asked for."""
    server, _, _ = keyed
    for method, path in (("TRACE", "/admin/reload"), ("DELETE", "/admin/shadow"), ("PUT", "/feedback"),
                         ("POST", "/review"), ("GET", "/admin/reload")):  # fmt: skip
        response = httpx.request(method, f"{server.url}{path}")
        assert response.status_code == 405, (method, path, response.text)
        assert response.json()["error_type"] == "method_not_allowed"


def test_a_client_key_cannot_label_or_read_stored_texts(keyed: tuple[RunningServer, str, Path]) -> None:
    server, database, _ = keyed
    private = "a private text another client classified"
    assert httpx.post(f"{server.url}/predict", json={"text": private}, headers=bearer(ADMIN)).status_code == 200
    for method, path in (("GET", "/review"), ("GET", "/feedback"), ("POST", "/feedback")):
        body = {"text": "poison", "label": "noHate"} if method == "POST" else None
        response = httpx.request(method, f"{server.url}{path}", json=body, headers=bearer(CLIENT))
        assert response.status_code == 403 and private not in response.text
    assert Store.open(database).feedback().total == 0


def test_the_reviewer_recorded_is_the_keys_name_and_cannot_be_claimed(keyed: tuple[RunningServer, str, Path]) -> None:
    server, _, _ = keyed
    claimed = httpx.post(f"{server.url}/feedback", json={"text": "x y z", "label": "hate", "reviewer": "ada"},
                         headers=bearer(REVIEWER))  # fmt: skip
    assert claimed.status_code == 422  # there is no reviewer field to fill in
    for secret in (REVIEWER, HASHED):
        assert httpx.post(f"{server.url}/feedback", json={"text": f"by {secret[:4]}", "label": "hate"},
                          headers=bearer(secret)).status_code == 201  # fmt: skip
    items = httpx.get(f"{server.url}/feedback", headers=bearer(ADMIN)).json()["items"]
    assert sorted(i["reviewer"] for i in items) == ["hal", "rita"]


@SQLITE_ONLY  # the store is not involved
def test_logs_name_the_key_never_its_secret(keyed: tuple[RunningServer, str, Path]) -> None:
    server, _, _ = keyed
    for secret in (CLIENT, REVIEWER, ADMIN, HASHED, "wrong-guess-secret"):
        httpx.post(f"{server.url}/predict", json={"text": "hi"}, headers=bearer(secret))
    wait_until(lambda: server.log_text().count('"route": "/predict"') >= 5, what="five access-log lines")
    log = server.log_text()
    assert not [s for s in (CLIENT, REVIEWER, ADMIN, HASHED, "wrong-guess-secret") if s in log]
    lines = [json.loads(line[line.index("{") :]) for line in log.splitlines() if '"route": "/predict"' in line]
    assert [line.get("key") for line in lines][-5:] == ["cleo", "rita", "ada", "hal", None]


@SQLITE_ONLY  # the store is not involved
def test_a_revoked_key_stops_working_without_a_restart(keyed: tuple[RunningServer, str, Path]) -> None:
    server, _, keys_file = keyed
    assert httpx.get(f"{server.url}/review", headers=bearer(REVIEWER)).status_code == 200
    keys_file.write_text("# rita's key revoked\n")  # the file's change is picked up (checked once a second)
    wait_until(lambda: httpx.get(f"{server.url}/review", headers=bearer(REVIEWER)).status_code == 401,
               timeout=10, what="the revoked key refused")  # fmt: skip
    keys_file.write_text(f"rita reviewer {REVIEWER}\n")
    server.process.send_signal(signal.SIGHUP)  # SIGHUP reads it again at once
    wait_until(lambda: httpx.get(f"{server.url}/review", headers=bearer(REVIEWER)).status_code == 200,
               timeout=10, what="the key back")  # fmt: skip
    assert server.process.poll() is None


@SQLITE_ONLY  # the store is not involved
def test_a_keys_file_that_no_longer_parses_leaves_only_the_environments_keys(
    keyed: tuple[RunningServer, str, Path],
) -> None:
    server, _, keys_file = keyed
    keys_file.write_text(f"rita superuser {REVIEWER}\n")  # no such role: fail closed, not open
    wait_until(lambda: httpx.get(f"{server.url}/review", headers=bearer(REVIEWER)).status_code == 401,
               timeout=10, what="the file's keys dropped")  # fmt: skip
    assert httpx.get(f"{server.url}/review", headers=bearer(ADMIN)).status_code == 200  # the env's admin key
    assert "keys_file_refused" in server.log_text() and REVIEWER not in server.log_text()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HATESPEECH_ADMIN_KEYS": "abc12"}, "shorter than 8 characters"),
        ({"HATESPEECH_ADMIN_KEYS": "ada:admin-secret-1", "HATESPEECH_API_KEYS": "ada:client-secret-2"}, "share a name"),
        ({"HATESPEECH_REVIEWER_KEYS": "bad name:reviewer-secret"}, "key name"),
    ],
)
def test_unusable_keys_stop_the_start_with_one_line(tiny_model: Path, env: dict[str, str], message: str) -> None:
    import os

    result = subprocess.run([sys.executable, "-m", "hatespeech", "serve", "--model", str(tiny_model), "--port", "1"],
                            capture_output=True, text=True, timeout=60, env={**os.environ, **env})  # fmt: skip
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr
    assert not [v for v in env.values() if v.split(":")[-1] in result.stderr]  # the secret is not echoed
