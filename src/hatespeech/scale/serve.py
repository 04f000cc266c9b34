"""The same FastAPI app on Ray Serve: an ingress deployment whose replicas each run the ONNX engine and
their own micro-batcher. Routes, errors, limits, API keys, metrics and the web page are the app's own code.

``hatespeech serve --runtime ray`` uses :func:`run`; ``serve run hatespeech.scale.serve:build`` and a KubeRay
``RayService`` use :func:`build` (an application builder taking string arguments).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application
from rich.console import Console

from hatespeech.api.app import create_app_from_env
from hatespeech.api.service import service_of
from hatespeech.settings import Settings

APP_NAME = "hatespeech"
STARTUP_WAIT_S = 20.0  # below the deployment's health_check_timeout_s


def replica_app() -> FastAPI:
    """Runs in each replica: its JSON access log goes to stderr (Ray's worker log), then the app."""
    return create_app_from_env()


@serve.ingress(replica_app)
class HateSpeechIngress:
    """One replica: the FastAPI app, built from ``HATESPEECH_*`` in the replica's environment."""

    app: Any  # set by serve.ingress: the FastAPI app of this replica

    async def check_health(self) -> None:
        """Ray Serve's health check is the app's readiness: model loaded, verified and warmed up.

        Serve first calls it right after start-up, while the model is still loading in the background:
        it then waits (up to ``STARTUP_WAIT_S``) instead of failing a replica that is about to be ready.
        """
        service = service_of(self.app)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_WAIT_S
        while not service.ready and service.load_error is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if not service.ready:
            raise RuntimeError(f"not ready: {service.load_error or 'the model is still loading'}")


SECRET_VARIABLES = frozenset(
    {"HATESPEECH_API_KEYS", "HATESPEECH_REVIEWER_KEYS", "HATESPEECH_ADMIN_KEYS", "HATESPEECH_DATABASE_URL"}
)
"""Never copied into a runtime environment (Ray's dashboard shows those): replicas get files instead."""


def replica_env(settings: Settings, threads: int) -> dict[str, str]:
    """The ``HATESPEECH_*`` variables each replica builds its app from.

    The model dirs are resolved to the versions they point to now: a new version is a new runtime
    environment, which Ray Serve rolls out as a new deployment version (see :func:`run`). The replicas
    never reload by themselves (``HATESPEECH_RELOAD_BY_REDEPLOY``). Secrets never enter it: the keys go to
    replicas as a keys file of SHA-256 digests, the database URL as a file (:func:`secret_files`).
    """
    env = {k: v for k, v in os.environ.items() if k.startswith("HATESPEECH_") and k not in SECRET_VARIABLES}
    env.update(secret_files(settings))
    env["HATESPEECH_MODEL_DIR"] = str(Path(settings.model_dir).resolve())
    env.pop("HATESPEECH_SHADOW_MODEL_DIR", None)
    if settings.shadow_model_dir is not None and settings.shadow_model_dir.exists():
        env["HATESPEECH_SHADOW_MODEL_DIR"] = str(settings.shadow_model_dir.resolve())
    env["HATESPEECH_THREADS"] = str(threads)
    env["HATESPEECH_WORKERS"] = "1"
    env["HATESPEECH_MODEL_WATCH_S"] = "0"
    env["HATESPEECH_RELOAD_BY_REDEPLOY"] = "true"
    return env


def secret_files(settings: Settings) -> dict[str, str]:
    """Write the keys (as digests) and the database URL given in this process's environment to private files
    (0600, in a 0700 folder made once per process, rewritten in place so replicas reread them); the variables
    that name them. Files on this host: on a multi-node cluster, mount them on every node (Kubernetes Secrets)."""
    written: dict[str, str] = {}
    ring = settings.keyring()
    if any(os.environ.get(name) for name in SECRET_VARIABLES - {"HATESPEECH_DATABASE_URL"}) and ring.keys:
        lines = [f"{key.name} {key.role.name} sha256:{key.digest.hex()}" for key in ring.keys]
        written["HATESPEECH_API_KEY_FILE"] = str(_private_write("keys", "\n".join(lines) + "\n"))
    if os.environ.get("HATESPEECH_DATABASE_URL") and settings.database_url_file is None:
        written["HATESPEECH_DATABASE_URL_FILE"] = str(_private_write("database-url", settings.database_url + "\n"))
    return written


@cache
def _secrets_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="hatespeech-secrets-"))  # mode 0700


def _private_write(name: str, content: str) -> Path:
    path = _secrets_dir() / name
    staged = path.with_suffix(".new")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
    if not path.exists() or path.read_text(encoding="utf-8") != content:
        staged.replace(path)  # replicas reread a changed file
    else:
        staged.unlink()
    return path


def application(
    settings: Settings, replicas: int = 1, autoscale: tuple[int, int] | None = None, cpus_per_replica: int = 1
) -> Application:
    """The Serve application: ``replicas`` fixed replicas, or autoscaling between ``autoscale`` bounds."""
    options: dict[str, Any] = {
        "name": "HateSpeechIngress",
        "ray_actor_options": {
            "num_cpus": cpus_per_replica,
            "runtime_env": {"env_vars": replica_env(settings, cpus_per_replica)},
        },
        # Requests a replica takes at once: enough to fill its micro-batches (Serve's default is 5).
        "max_ongoing_requests": max(64, 4 * settings.max_batch_size),
        "health_check_period_s": 5,
        "health_check_timeout_s": 30,
        "graceful_shutdown_timeout_s": settings.request_timeout_s,
    }
    if autoscale is not None:
        low, high = autoscale
        options["autoscaling_config"] = {
            "min_replicas": low,
            "max_replicas": high,
            "target_ongoing_requests": settings.max_batch_size,
        }
    else:
        options["num_replicas"] = replicas
    return serve.deployment(**options)(HateSpeechIngress).bind()


def build(args: dict[str, str]) -> Application:
    """Application builder for ``serve run`` / RayService: ``replicas``, ``autoscale`` ("MIN,MAX"), ``cpus``."""
    autoscale = parse_autoscale(args["autoscale"]) if args.get("autoscale") else None
    return application(Settings(), int(args.get("replicas", 1)), autoscale, int(args.get("cpus", 1)))


def parse_autoscale(value: str) -> tuple[int, int]:
    """'MIN,MAX' -> (MIN, MAX), with 0 <= MIN <= MAX and MAX >= 1."""
    try:
        low, high = (int(part) for part in value.split(","))
    except ValueError as exc:
        raise ValueError(f"--autoscale takes MIN,MAX (e.g. 1,4), got {value!r}") from exc
    if not 0 <= low <= high or high < 1:
        raise ValueError(f"--autoscale needs 0 <= MIN <= MAX and MAX >= 1, got {value!r}")
    return low, high


def run(
    settings: Settings,
    replicas: int = 1,
    autoscale: tuple[int, int] | None = None,
    address: str | None = None,
    cpus_per_replica: int = 1,
) -> None:
    """Deploy on Ray (``address`` of a running cluster, or a local one) and block until SIGTERM/SIGINT."""
    import ray

    hangups: list[int] = []  # SIGHUP redeploys (installed first: its default action would end this process)
    signal.signal(signal.SIGHUP, lambda signum, frame: hangups.append(signum))
    ray.init(address=address, log_to_driver=False, include_dashboard=False, configure_logging=False)
    # After ray.init, whose own SIGTERM handler would end the process at once: a stop while deploying also cleans up.
    signal.signal(signal.SIGTERM, _interrupt)
    console = Console(stderr=True)
    started_serve = not _serve_running()
    if not started_serve:
        console.print("Ray Serve already runs on this cluster: its HTTP host and port stay as they are")
    location = proxy_location([node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]])  # type: ignore[no-untyped-call]
    serve.start(http_options={"host": settings.host, "port": settings.port, "location": location})

    def deploy() -> dict[str, str]:
        env = replica_env(settings, cpus_per_replica)
        serve.run(application(settings, replicas, autoscale, cpus_per_replica), name=APP_NAME, route_prefix="/")
        return env

    last_check = time.monotonic()
    try:
        deployed = deploy()
        console.print(
            f"ready: http://{settings.host}:{settings.port} (Ray Serve, application {APP_NAME!r})", highlight=False
        )
        while True:
            time.sleep(0.2)
            watching = settings.model_watch_s > 0 and time.monotonic() - last_check >= settings.model_watch_s
            if not hangups and not watching:
                continue
            last_check = time.monotonic()
            reason = "SIGHUP" if hangups else "watch"
            hangups.clear()
            deployed = _redeploy(deploy, deployed, settings, cpus_per_replica, reason, console)
    except KeyboardInterrupt:
        pass
    finally:
        if started_serve:
            serve.shutdown()  # type: ignore[no-untyped-call]  # Serve was ours: stop its proxies and controller too
            _wait_until_stopped()
        else:
            serve.delete(APP_NAME)  # only this application; the Serve others use stays
        ray.shutdown()
        if _secrets_dir.cache_info().currsize:  # the keys and database URL handed to the replicas go with them
            shutil.rmtree(_secrets_dir(), ignore_errors=True)


def proxy_location(node_addresses: list[str]) -> str:
    """Where Serve runs its HTTP proxies: on every node with a replica (for a load balancer in front), unless
    several nodes share one address (one host). Their proxies would share the port (SO_REUSEPORT), so the
    kernel hands connections to any of them, and one that has just started answers 404 until it has the
    routes; one proxy, on the head node, serves such a cluster without that gap."""
    return "HeadOnly" if len(node_addresses) > 1 and len(set(node_addresses)) == 1 else "EveryNode"


def _redeploy(
    deploy: Any, deployed: dict[str, str], settings: Settings, cpus: int, reason: str, console: Console
) -> dict[str, str]:
    """Ray Serve's own update: when the model links point elsewhere, deploy again. Serve starts replicas of
    the new version, routes to them once their health check (the model loaded and warm) passes, and drains the
    old ones. A model dir that does not verify is never deployed: the old version goes on serving."""
    from hatespeech import artifact
    from hatespeech.errors import ModelError

    wanted = replica_env(settings, cpus)
    if wanted == deployed:
        return deployed
    try:
        artifact.verify(Path(wanted["HATESPEECH_MODEL_DIR"]))
        if wanted.get("HATESPEECH_SHADOW_MODEL_DIR"):
            artifact.verify(Path(wanted["HATESPEECH_SHADOW_MODEL_DIR"]))
    except ModelError as exc:
        console.print(f"not redeployed ({reason}): {exc}", highlight=False)
        return deployed
    started = time.monotonic()
    console.print(f"redeploying ({reason}): {Path(wanted['HATESPEECH_MODEL_DIR']).name}", highlight=False)
    deploy()  # returns once the new replicas are healthy and the old ones are draining
    console.print(f"redeployed in {time.monotonic() - started:.1f} s", highlight=False)
    return wanted


def _serve_running() -> bool:
    """Whether Ray Serve (its controller actor) already runs on the connected cluster."""
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    except ValueError:
        return False
    return True


def _wait_until_stopped(timeout_s: float = 60.0) -> None:
    """Return once the Serve controller is gone (``serve.shutdown`` gives up waiting after 30 s).

    Otherwise a ``serve --runtime ray`` started right after this process exits can find the dying
    controller, deploy onto it, and lose its routes when the shutdown completes.
    """
    deadline = time.monotonic() + timeout_s
    while _serve_running() and time.monotonic() < deadline:
        time.sleep(0.5)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
