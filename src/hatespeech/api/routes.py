"""HTTP routes. Handlers validate, submit to the batcher and shape the answer; the engine knows no HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from hatespeech import __version__
from hatespeech.api.errors import ApiError, responses
from hatespeech.api.lifecycle import Live
from hatespeech.api.schemas import (
    BatchPredictionOut,
    HealthOut,
    InputsRequest,
    LabelScore,
    LimitsOut,
    ModelOut,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    ReadyOut,
    SpanOut,
    TextRequest,
    TextsRequest,
    request_texts,
)
from hatespeech.batching import Reservation
from hatespeech.engine import Prediction, is_valid_unicode
from hatespeech.explain import Plan, contributions, plan

router = APIRouter()
ROUTE_PATHS = frozenset(
    {
        "/predict",
        "/health",
        "/ready",
        "/model",
        "/metrics",
        "/",
        "/favicon.ico",
        "/docs",
        "/openapi.json",
        "/feedback",
        "/review",
        "/admin/reload",
        "/admin/shadow",
    }
)
STATIC_DIR = Path(__file__).parent / "static"
# The page loads only its own script and stylesheet and talks only to this server.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
T = TypeVar("T")
INLINE_TOKENIZE_CHARS = 4096  # above this, tokenize on a worker thread to keep the event loop free


def _service(request: Request) -> Any:
    return request.app.state.service


def _ready_service(request: Request) -> Any:
    service = _service(request)
    if not service.ready:
        message = service.load_error or "the model is still loading"
        raise ApiError("not_ready", f"not ready: {message}")
    return service


def _check_limits(texts: list[str], settings: Any) -> None:
    if not texts:
        raise ApiError("validation", "no texts given: send at least one")
    if len(texts) > settings.max_texts:
        raise ApiError("validation", f"{len(texts)} texts is over the limit of {settings.max_texts} per request")
    for index, text in enumerate(texts):
        where = f"text {index}" if len(texts) > 1 else "text"
        if not text.strip():
            raise ApiError("validation", f"{where} is empty or whitespace only")
        if len(text) > settings.max_text_chars:
            raise ApiError(
                "validation",
                f"{where} has {len(text)} characters, over the limit of {settings.max_text_chars}",
            )
        if "\x00" in text:
            raise ApiError("validation", f"{where} contains a NUL character")
        if not is_valid_unicode(text):
            raise ApiError("validation", f"{where} is not valid Unicode (it has a lone surrogate)")


async def _client_left(request: Request) -> None:
    """Returns when the client disconnects (or once the response is complete)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work``, cancelling it if the client disconnects first: its texts still queued are then
    skipped by the batcher instead of computed for nobody (a client that timed out, a closed tab)."""
    task = asyncio.ensure_future(work)
    left = asyncio.ensure_future(_client_left(request))
    try:
        await asyncio.wait({task, left}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        left.cancel()
    if not task.done():
        task.cancel()
        raise ApiError("client_closed", "the client closed the connection before the answer")
    return task.result()


def _plans(engine: Any, texts: list[str]) -> list[Plan]:
    """Each text and its masked variants (explain=true)."""
    return [plan(encoding, engine.mask_id) for encoding in engine.encodings(texts)]


def _no_plans(engine: Any, texts: list[str]) -> list[Plan]:
    """Each text alone."""
    return [Plan([tokens], []) for tokens in engine.tokenize(texts)]


async def _tokenized(service: Any, texts: list[str], explaining: bool) -> tuple[Live, list[Plan], Reservation]:
    """The live model, the texts tokenized by it, and the queue room they hold. Room is reserved before
    tokenizing (under overload a 503 must be cheap, and a burst of large requests must not all tokenize at
    once). Tokenizing may leave the event loop (long texts): if a reload swapped the model meanwhile, tokenize
    again with the new one, so the caller queues on the model whose tokenizer it used."""
    while True:
        live: Live = service.live
        reservation = live.batcher.reserve(len(texts))
        try:
            with service.metrics.tokenize.time():
                work = partial(_plans if explaining else _no_plans, live.engine, texts)
                plans = await run_in_threadpool(work) if sum(map(len, texts)) > INLINE_TOKENIZE_CHARS else work()
        except BaseException:
            reservation.release()
            raise
        if service.live is live:
            return live, plans, reservation
        reservation.release()


def _tei_shape(prediction: Prediction, top_k: int | None) -> list[LabelScore]:
    ranked = sorted(prediction.scores.items(), key=lambda kv: kv[1], reverse=True)
    return [LabelScore(label=label, score=score) for label, score in ranked[: top_k or None]]


@router.post(
    "/predict",
    response_model=PredictResponse,
    response_model_exclude_none=True,  # `explanation` only when asked for
    summary="Classify one or more texts",
    responses=responses(
        "bad_request",
        "validation",
        "payload_too_large",
        "unsupported_media_type",
        "unauthorized",
        "rate_limited",
        "overloaded",
        "not_ready",
        "timeout",
    ),
)
async def predict(body: PredictRequest, request: Request) -> Any:
    """`{"text"}` -> one prediction; `{"texts"}` -> `{"predictions": [...]}`; `{"inputs"}` -> TEI's shape."""
    service = _ready_service(request)
    settings = service.settings
    texts = request_texts(body)
    _check_limits(texts, settings)
    request.state.texts = len(texts)
    if settings.log_texts:
        request.state.input_texts = texts
    explaining = not isinstance(body, InputsRequest) and body.explain
    if explaining and len(texts) > settings.max_explain_texts:
        raise ApiError(
            "validation", f"explain takes at most {settings.max_explain_texts} texts per request, not {len(texts)}"
        )
    live, plans, reservation = await _tokenized(service, texts, explaining)
    try:
        if not body.truncate and any(p.rows[0].truncated for p in plans):
            limit = live.engine.info.max_length
            raise ApiError("validation", f"a text is longer than {limit} tokens and truncate=false")
        request.state.model_version = live.version  # X-Model-Version: the model that answers
        queued = live.batcher.enqueue([row for p in plans for row in p.rows], reservation)
    finally:
        reservation.release()  # a no-op once enqueue has taken it
    service.metrics.queue_depth.set(live.batcher.depth)
    scored = await _unless_client_leaves(request, live.batcher.wait(queued, settings.request_timeout_s))
    predictions, outs = [], []
    firsts = list(accumulate((len(p.rows) for p in plans), initial=0))[:-1]  # each text's first row
    for text, text_plan, first in zip(texts, plans, firsts, strict=True):
        prediction = scored[first]
        predictions.append(prediction)
        out = PredictionOut(**prediction.as_dict())
        if explaining:
            spans = contributions(text_plan, [p.score for p in scored[first : first + len(text_plan.rows)]])
            out.explanation = [SpanOut(**vars(span), text=text[span.start : span.end]) for span in spans]
        outs.append(out)
    shadow = service.shadow
    if shadow is not None and shadow.summary.primary == live.version:  # off the response path, never blocks
        shadow.offer(texts, predictions)
    for prediction in predictions:
        service.metrics.predictions.labels(prediction.label).inc()
        if prediction.truncated:
            service.metrics.truncated.inc()
    if settings.store_predictions:  # for the review queue and feedback by request id (personal data: opt-in)
        kept = [(text, p.score, p.label) for text, p in zip(texts, predictions, strict=True)]
        request_id, version = request.state.request_id, live.version
        await service.stores.run(lambda store: store.add_predictions(request_id, kept, version))
    if isinstance(body, TextRequest):
        return outs[0]
    if isinstance(body, TextsRequest):
        return BatchPredictionOut(predictions=outs)
    top_k = body.parameters.top_k if body.parameters else None
    if isinstance(body.inputs, str):
        return _tei_shape(predictions[0], top_k)
    return [_tei_shape(p, top_k) for p in predictions]


@router.get("/health", response_model=HealthOut, summary="Liveness: 200 while the process runs")
async def health() -> HealthOut:
    return HealthOut()


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Readiness: 200 once the model is loaded and warmed up",
    responses=responses("not_ready"),
)
async def ready(request: Request) -> ReadyOut:
    service = _ready_service(request)
    live = service.live
    return ReadyOut(engine=live.engine_name, version=live.version, reload_error=service.reload_error)


@router.get(
    "/model",
    response_model=ModelOut,
    summary="The model being served",
    responses=responses("unauthorized", "rate_limited", "not_ready"),
)
async def model(request: Request) -> ModelOut:
    service = _ready_service(request)
    live = service.live
    info = live.engine.info
    return ModelOut(
        name=info.directory.resolve().name,
        base_model=info.base_model,
        version=live.version,
        data_fingerprint=info.fingerprint,
        service_version=__version__,
        labels=list(info.labels),
        threshold=info.threshold,
        max_length=info.max_length,
        engine=live.engine_name,
        metrics=info.metrics,
        limits=LimitsOut(
            max_texts=service.settings.max_texts,
            max_text_chars=service.settings.max_text_chars,
            max_body_bytes=service.settings.max_body_bytes,
        ),
    )


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The web page: classify a text or a batch in the browser (static files, no external resources)."""
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(status_code=204)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    service = _service(request)
    if service.live is not None:
        service.metrics.queue_depth.set(service.live.batcher.depth)
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
