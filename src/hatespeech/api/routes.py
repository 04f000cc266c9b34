"""HTTP routes. Handlers validate, submit to the batcher and shape the answer; the engine knows no HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from hatespeech import __version__
from hatespeech.api.errors import BODY_ERRORS, ApiError, responses
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
from hatespeech.api.security import ANYONE, allow
from hatespeech.api.service import Live, ModelService, ServiceDep
from hatespeech.batching import Reservation
from hatespeech.engines.base import Prediction, Split, collate, is_valid_unicode, regroup
from hatespeech.errors import ErrorType
from hatespeech.explain import contributions, plan
from hatespeech.keys import Role
from hatespeech.model_dir import CARD_FILE
from hatespeech.settings import Settings

router = APIRouter()

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


def _check_limits(texts: list[str], settings: Settings) -> None:
    if not texts:
        raise ApiError(ErrorType.validation, "no texts given: send at least one")
    if len(texts) > settings.max_texts:
        raise ApiError(
            ErrorType.validation, f"{len(texts)} texts is over the limit of {settings.max_texts} per request"
        )
    for index, text in enumerate(texts):
        where = f"text {index}" if len(texts) > 1 else "text"
        if not text.strip():
            raise ApiError(ErrorType.validation, f"{where} is empty or whitespace only")
        if len(text) > settings.max_text_chars:
            raise ApiError(
                ErrorType.validation,
                f"{where} has {len(text)} characters, over the limit of {settings.max_text_chars}",
            )
        if "\x00" in text:
            raise ApiError(ErrorType.validation, f"{where} contains a NUL character")
        if not is_valid_unicode(text):
            raise ApiError(ErrorType.validation, f"{where} is not valid Unicode (it has a lone surrogate)")


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
        raise ApiError(ErrorType.client_closed, "the client closed the connection before the answer")
    return task.result()


async def _tokenized(service: ModelService, texts: list[str]) -> tuple[Live, list[Split], Reservation]:
    """The live model, the texts split into rows by its tokenizer, and the queue room they hold. Room is
    reserved before tokenizing (under overload a 503 must be cheap, and a burst of large requests must not all
    tokenize at once). Tokenizing may leave the event loop (long texts): if a reload swapped the model
    meanwhile, tokenize again with the new one, so the caller queues on the model whose tokenizer it used."""
    while True:
        live = service.require_live()
        reservation = live.batcher.reserve(len(texts))
        try:
            with service.metrics.tokenize.time():
                work = partial(live.engine.split, texts)
                splits = await run_in_threadpool(work) if sum(map(len, texts)) > INLINE_TOKENIZE_CHARS else work()
        except BaseException:
            reservation.release()
            raise
        if service.live is live:
            return live, splits, reservation
        reservation.release()


async def _explanations(
    request: Request, service: ModelService, live: Live, texts: list[str], predictions: list[Prediction]
) -> list[list[SpanOut]]:
    """Each text's spans and their contributions, over its worst part (the text itself unless it was split):
    one more round of rows, the part with each span masked, against the part's score."""
    offsets = [p.part[0] if p.part else 0 for p in predictions]
    pieces = [text[p.part[0] : p.part[1]] if p.part else text for text, p in zip(texts, predictions, strict=True)]
    encodings = live.engine.encodings(pieces)
    plans = [plan(e, live.engine.mask_id, piece) for e, piece in zip(encodings, pieces, strict=True)]
    rows = [row for text_plan in plans for row in text_plan.rows[1:]]
    if service.live is live:  # no await between this check and enqueue: the batcher is still taking work
        queued = live.batcher.enqueue(rows)
        masked = await _unless_client_leaves(request, live.batcher.wait(queued, service.settings.request_timeout_s))
    else:  # a reload retired this model since the texts were scored: explain on it, off its batcher
        masked = await run_in_threadpool(live.engine.predict_encoded, collate(rows)) if rows else []
    explained, first = [], 0
    for text, prediction, text_plan, offset in zip(texts, predictions, plans, offsets, strict=True):
        scores = [prediction.score] + [m.score for m in masked[first : first + len(text_plan.spans)]]
        first += len(text_plan.spans)
        spans = contributions(text_plan, scores, service.settings.explain_min_effect)
        shifted = [(s.start + offset, s.end + offset, s.contribution) for s in spans]
        explained.append([SpanOut(start=a, end=b, contribution=c, text=text[a:b]) for a, b, c in shifted])
    return explained


def _tei_shape(prediction: Prediction, top_k: int | None) -> list[LabelScore]:
    ranked = sorted(prediction.scores.items(), key=lambda kv: kv[1], reverse=True)
    return [LabelScore(label=label, score=score) for label, score in ranked[: top_k or None]]


@router.post(
    "/predict",
    dependencies=[allow(Role.client)],
    response_model=PredictResponse,
    response_model_exclude_none=True,  # `explanation` only when asked for
    summary="Classify one or more texts",
    responses=responses(
        *BODY_ERRORS,
        ErrorType.unauthorized,
        ErrorType.rate_limited,
        ErrorType.overloaded,
        ErrorType.not_ready,
        ErrorType.timeout,
    ),
)
async def predict(body: PredictRequest, request: Request, service: ServiceDep) -> Any:
    """`{"text"}` -> one prediction; `{"texts"}` -> `{"predictions": [...]}`; `{"inputs"}` -> TEI's shape."""
    service.require_live()
    settings = service.settings
    texts = request_texts(body)
    _check_limits(texts, settings)
    request.state.texts = len(texts)
    if settings.log_texts:
        request.state.input_texts = texts
    explaining = not isinstance(body, InputsRequest) and body.explain
    if explaining and len(texts) > settings.max_explain_texts:
        raise ApiError(
            ErrorType.validation,
            f"explain takes at most {settings.max_explain_texts} texts per request, not {len(texts)}",
        )
    live, splits, reservation = await _tokenized(service, texts)
    try:
        rows = [row for split in splits for row in split.rows]
        limit = live.engine.info.max_length
        if not body.truncate and len(rows) > len(texts):
            raise ApiError(ErrorType.validation, f"a text is longer than {limit} tokens and truncate=false")
        if len(rows) > settings.max_parts:
            raise ApiError(
                ErrorType.validation,
                f"the texts make {len(rows)} parts of up to {limit} tokens, over the limit of {settings.max_parts} "
                "per request: send fewer or shorter texts",
            )
        request.state.model_version = live.version  # X-Model-Version: the model that answers
        queued = live.batcher.enqueue(rows, reservation)
    finally:
        reservation.release()  # a no-op once enqueue has taken it
    service.metrics.queue_depth.set(live.batcher.depth)
    scored = await _unless_client_leaves(request, live.batcher.wait(queued, settings.request_timeout_s))
    predictions = regroup(splits, scored)
    outs = [PredictionOut(**prediction.as_dict()) for prediction in predictions]
    if explaining:
        for out, spans in zip(outs, await _explanations(request, service, live, texts, predictions), strict=True):
            out.explanation = spans
    shadow = service.shadow
    if shadow is not None and shadow.summary.primary == live.version:  # off the response path, never blocks
        shadow.offer(texts, predictions)
    for prediction in predictions:
        service.metrics.predictions.labels(prediction.label).inc()
        if prediction.parts > 1:
            service.metrics.split_texts.inc()
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


@router.get(
    "/health", dependencies=[allow(ANYONE)], response_model=HealthOut, summary="Liveness: 200 while the process runs"
)
async def health() -> HealthOut:
    return HealthOut()


@router.get(
    "/ready",
    dependencies=[allow(ANYONE)],
    response_model=ReadyOut,
    summary="Readiness: 200 once the model is loaded and warmed up",
    responses=responses(ErrorType.not_ready),
)
async def ready(service: ServiceDep) -> ReadyOut:
    live = service.require_live()
    return ReadyOut(engine=live.engine_name, version=live.version, reload_error=service.reload_error)


@router.get(
    "/model",
    dependencies=[allow(Role.client)],
    response_model=ModelOut,
    summary="The model being served",
    responses=responses(ErrorType.unauthorized, ErrorType.rate_limited, ErrorType.not_ready),
)
async def model(service: ServiceDep) -> ModelOut:
    live = service.require_live()
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
        engine_reason=live.engine_reason,
        recipe="quick" if info.quick else "full",
        metrics=info.metrics,
        normalization=info.normalization,
        data_mix=info.data_mix,
        card="/model/card" if (info.directory / CARD_FILE).is_file() else None,
        limits=LimitsOut(
            max_texts=service.settings.max_texts,
            max_text_chars=service.settings.max_text_chars,
            max_parts=service.settings.max_parts,
            max_body_bytes=service.settings.max_body_bytes,
        ),
    )


@router.get(
    "/model/card",
    dependencies=[allow(Role.client)],
    response_class=PlainTextResponse,
    summary="The served model's card",
    responses={**responses(ErrorType.unauthorized, ErrorType.rate_limited, ErrorType.not_ready, ErrorType.not_found),
               200: {"content": {"text/markdown": {}}, "description": "The card: markdown with a YAML header."}},
)  # fmt: skip
async def model_card(service: ServiceDep) -> PlainTextResponse:
    """The model card (``README.md`` of the model dir): sources and licences, recipe, figures per source, intended
    use and known weaknesses, written at export."""
    path = service.require_live().engine.info.directory / CARD_FILE
    try:
        text = await run_in_threadpool(path.read_text, encoding="utf-8")
    except FileNotFoundError as exc:
        raise ApiError(
            ErrorType.not_found, "this model dir has no model card (trained before 0.7): retrain it"
        ) from exc
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.get("/", dependencies=[allow(ANYONE)], include_in_schema=False)
async def page() -> FileResponse:
    """The web page: classify a text or a batch in the browser (static files, no external resources)."""
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


@router.get("/favicon.ico", dependencies=[allow(ANYONE)], include_in_schema=False)
async def favicon() -> Response:
    return Response(status_code=204)


@router.get("/metrics", dependencies=[allow(Role.client)], summary="Prometheus metrics", response_class=Response)
async def metrics(service: ServiceDep) -> Response:
    if service.live is not None:
        service.metrics.queue_depth.set(service.live.batcher.depth)
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)
