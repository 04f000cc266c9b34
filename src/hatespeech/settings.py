"""The server's settings: each a ``hatespeech serve`` flag or a ``HATESPEECH_*`` environment variable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hatespeech.config import DEFAULT_MODEL_DIR
from hatespeech.engines.base import SERVER_BATCH_SIZE, SERVER_BATCH_TOKENS
from hatespeech.engines.registry import DEFAULT_ENGINE, DEFAULT_MAX_DROP, EngineName, parse
from hatespeech.errors import InputError
from hatespeech.explain import MIN_EFFECT

if TYPE_CHECKING:
    from hatespeech.keys import KeyRing


class Settings(BaseSettings):
    """Server settings: each is a ``hatespeech serve`` flag and a ``HATESPEECH_*`` environment variable."""

    model_config = SettingsConfigDict(env_prefix="HATESPEECH_", extra="ignore")

    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="Model directory to serve.")
    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 exposes the service.")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on.")
    workers: int = Field(1, ge=1, description="Server processes, each with its own model and batcher.")
    threads: int | None = Field(
        None, ge=1, description="ONNX Runtime intra-op threads per process [default: CPU cores / workers]."
    )
    engine: EngineName = Field(
        DEFAULT_ENGINE,
        description="What runs the model: 'onnx' (ONNX Runtime, fp32 or int8 per 'quantized'), one named engine, or "
        "'auto': the fastest engine that keeps accuracy within max_int8_accuracy_drop of ONNX Runtime fp32 on the "
        "model's parity sentences, measured once per CPU, model version and thread count and cached in state_dir "
        "(OpenVINO needs pip install '.[openvino]', CTranslate2 '.[ctranslate2]'; 'openvino' and 'ctranslate2' "
        "alone mean their f32 form).",
    )
    quantized: Literal["auto", "yes", "no"] = Field(
        "auto",
        description="Serve the int8 graph: 'auto' uses it when its accuracy on the training texts is within "
        "max_int8_accuracy_drop of fp32's (per export.json; the test split never decides); a serving copy made "
        "by `hatespeech pack` holds one graph, and 'auto' serves that one.",
    )
    max_int8_accuracy_drop: float = Field(
        DEFAULT_MAX_DROP,
        ge=0.0,
        le=1.0,
        description="The most accuracy an engine (int8 with quantized=auto, any engine with 'auto') may lose "
        "against ONNX Runtime fp32 on the parity sentences.",
    )
    max_batch_size: int = Field(SERVER_BATCH_SIZE, ge=1, le=1024, description="Texts per forward pass.")
    max_batch_tokens: int = Field(
        SERVER_BATCH_TOKENS,
        ge=64,
        description="Padded tokens per forward pass (rows x longest row). On CPU, ONNX Runtime's cost per text "
        "grows with the batch, so small batches serve more (docs/benchmarks.md).",
    )
    max_wait_ms: float = Field(
        0.0,
        ge=0.0,
        le=1000.0,
        description="Extra wait for a batch to fill (0 = continuous batching: a batch is what queued while the "
        "previous one ran).",
    )
    max_queue: int = Field(2048, ge=1, description="Texts waiting for inference; beyond it: 503.")
    max_texts: int = Field(256, ge=1, description="Texts per request.")
    max_explain_texts: int = Field(
        16, ge=1, description="Texts per request with explain=true (each costs up to 17 rows of inference)."
    )
    explain_min_effect: float = Field(
        MIN_EFFECT,
        ge=0.0,
        description="Explanations list the words whose effect on the log-odds of hate is at least this (0: all).",
    )
    max_text_chars: int = Field(100_000, ge=1, description="Characters per text (longer: 422).")
    max_parts: int = Field(
        1024,
        ge=1,
        description="Rows of inference per request: a text within the model's token limit is one, a longer one is "
        "scored sentence by sentence (each a row). Beyond it: 422.",
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Request body limit (larger: 413).")
    request_timeout_s: float = Field(30.0, gt=0.0, description="Per-request deadline (then 503).")
    header_timeout_s: float = Field(
        10.0, gt=0.0, description="A request's headers must arrive within this many seconds (then 408, closed)."
    )
    body_timeout_s: float = Field(
        30.0, gt=0.0, description="A request's body must arrive within this many seconds of its headers (then 408)."
    )
    keep_alive_s: float = Field(5.0, gt=0.0, description="An idle keep-alive connection is closed after this.")
    management_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="0: off. Else /health, /ready and /metrics also answer on this port, open (no key), on their own "
        "socket and thread, so probes answer while the public port is flooded; the Dockerfile and the Kubernetes "
        "manifests use 8081. Bind it where only the cluster reaches it (docs/deployment.md). One worker only.",
    )
    max_connections: int = Field(
        1000, ge=1, description="Open connections per server process; a new one beyond it gets 503 and is closed."
    )
    max_connections_per_address: int = Field(
        250,
        ge=1,
        description="Open connections one client address may hold (then 503, closed). Behind a reverse proxy every "
        "connection comes from the proxy: raise it to HATESPEECH_MAX_CONNECTIONS there.",
    )
    api_keys: str = Field(
        "",
        description="Client keys (classify), comma-separated 'name:secret' or bare secrets. With any client key "
        "configured, /predict and every route but /health, /ready and the page need 'Authorization: Bearer <key>'; "
        "with none, classifying is open to anyone (docs/security.md).",
    )
    reviewer_keys: str = Field(
        "",
        description="Reviewer keys (classify, POST /feedback, GET /review), comma-separated 'name:secret'. The "
        "key's name is recorded as the reviewer. Without reviewer or admin keys, feedback and review answer 403.",
    )
    admin_keys: str = Field(
        "",
        description="Admin keys (everything: /admin/* reload and shadow, GET /feedback), comma-separated "
        "'name:secret'. Without one, the admin routes and GET /feedback answer 403.",
    )
    rate_limit: str = Field(
        "",
        description="Requests each key may make, in the limits library's notation ('50/second;1000/minute'); past "
        "it: 429 with Retry-After. Counted per server process. Empty = no limit.",
    )
    anonymous_rate_limit: str = Field(
        "",
        description="The same for requests without a key, per client address (behind a proxy: the proxy's, unless "
        "it forwards the client's). Empty = no limit.",
    )
    api_key_file: Path | None = Field(
        None,
        description="Keys file: one key per line, 'name role secret' or 'name role sha256:<hex>' (role: client, "
        "reviewer or admin), or a bare secret (a client key). Read again when it changes and on SIGHUP.",
    )
    shadow_model_dir: Path | None = Field(
        None,
        description="A candidate model that scores every request too, off the response path, to compare with the "
        "served one (GET /admin/shadow, hatespeech_shadow_* metrics); e.g. models/candidate. None = no shadow.",
    )
    shadow_max_queue: int = Field(
        256, ge=1, description="Texts waiting for the shadow model; beyond it they are dropped (and counted)."
    )
    model_watch_s: float = Field(
        0.0,
        ge=0.0,
        description="Check every this many seconds where model_dir points, and reload when it changes (0 = off; "
        "SIGHUP and POST /admin/reload reload at any time).",
    )
    cors_origins: str = Field("", description="Comma-separated allowed CORS origins; empty = CORS off.")
    log_texts: bool = Field(False, description="Log request texts (sensitive: debugging only).")
    state_dir: Path = Field(Path("var"), description="Where the server keeps its files: the SQLite feedback database.")
    database_url: str = Field(
        "",
        description="Feedback database, as a SQLAlchemy URL (postgresql+psycopg://user:pass@host/db for "
        "PostgreSQL). Empty = SQLite, STATE_DIR/hatespeech.db, created on first use.",
    )
    database_url_file: Path | None = Field(
        None,
        description="A file holding the database URL (a mounted secret): read instead of HATESPEECH_DATABASE_URL, so "
        "the password is in no environment (Ray replicas get this path, never the URL).",
    )
    store_predictions: bool = Field(
        False,
        description="Keep every classified text with its score, for the review queue and for feedback by "
        "request id. Texts are personal data: off by default, and purged after retention_days.",
    )
    retention_days: float = Field(
        30.0, gt=0.0, description="Stored predictions and feedback older than this are deleted (hourly, and at start)."
    )
    reload_by_redeploy: bool = Field(
        False,
        description="Set in each Ray Serve replica by `serve --runtime ray`: the model changes by a redeploy of the "
        "application, so the replica's own reloads (POST /admin/reload) are refused.",
    )
    log_level: str = Field("info", description="Log level: debug, info (one line per request), warning, error.")

    @field_validator("engine", mode="before")
    @classmethod
    def _known_engine(cls, value: object) -> object:
        """An unknown name gets the registry's one message (it lists the known names)."""
        try:
            return parse(str(value))
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.max_batch_tokens < self.max_batch_size:
            raise ValueError(
                "HATESPEECH_MAX_BATCH_TOKENS must be at least HATESPEECH_MAX_BATCH_SIZE "
                f"({self.max_batch_tokens} < {self.max_batch_size})"
            )
        if self.api_key_file is not None and not self.api_key_file.is_file():
            raise ValueError(f"HATESPEECH_API_KEY_FILE={self.api_key_file} is not a file")
        if self.database_url_file is not None and not self.database_url_file.is_file():
            raise ValueError(f"HATESPEECH_DATABASE_URL_FILE={self.database_url_file} is not a file")
        self.keyring()  # a key that cannot be used stops the start, with its place named
        from limits import parse_many

        for name, value in (("HATESPEECH_RATE_LIMIT", self.rate_limit),
                            ("HATESPEECH_ANONYMOUS_RATE_LIMIT", self.anonymous_rate_limit)):  # fmt: skip
            try:
                parse_many(value) if value.strip() else None
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a rate like '50/second;1000/minute'") from None
        return self

    def store_url(self) -> str:
        """The feedback database URL: ``database_url_file``'s, else ``database_url``, else SQLite in ``state_dir``."""
        if self.database_url_file is not None:
            return self.database_url_file.read_text(encoding="utf-8").strip()
        return self.database_url or f"sqlite:///{(self.state_dir / 'hatespeech.db').resolve()}"

    def keyring(self) -> KeyRing:
        """The configured keys with their roles (the keys file re-read when it changes)."""
        from hatespeech.keys import KeyConfigError, KeyRing, Role, parse_env

        try:
            by_role = {Role.client: self.api_keys, Role.reviewer: self.reviewer_keys, Role.admin: self.admin_keys}
            env_keys = [key for role, value in by_role.items() for key in parse_env(value, role)]
            ring = KeyRing(env_keys, self.api_key_file)
        except (KeyConfigError, OSError, UnicodeDecodeError) as exc:
            raise ValueError(str(exc)) from None
        names = [key.name for key in ring.keys]
        if len(set(names)) != len(names):
            raise ValueError(f"two keys share a name: {sorted({n for n in names if names.count(n) > 1})}")
        return ring

    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def intra_op_threads(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)
