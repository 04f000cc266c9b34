"""Reviewer feedback and the review queue: ``POST /feedback``, ``GET /feedback``, ``GET /review``.

The database (:mod:`hatespeech.store`) is opened on first use, so nothing is created until feedback is
sent or predictions are stored. Posting feedback and reading the review queue need a reviewer key, reading
feedback an admin key (:mod:`hatespeech.api.security`); the reviewer recorded is the key's name.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hatespeech.api.errors import BODY_ERRORS, ApiError, responses
from hatespeech.api.schemas import JsonInteger, Text
from hatespeech.api.security import allow
from hatespeech.api.service import ModelService, ServiceDep
from hatespeech.errors import ErrorType
from hatespeech.keys import Role
from hatespeech.store import REQUEST_ID_LENGTH, Feedback, StoredPrediction, as_utc

router = APIRouter()
logger = logging.getLogger("hatespeech.api")


def _iso_moment(date_sep: str, time_sep: str) -> str:
    """ISO 8601 calendar date (every real one, leap days included) and optional time and UTC offset, in one
    form: extended (``-`` and ``:``) or basic (no separators)."""
    d, t = date_sep, time_sep
    year = r"[1-9]\d{3}"
    month_day = rf"(?:(?:0[1-9]|1[0-2]){d}(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2]){d}(?:29|30)|(?:0[13578]|1[02]){d}31)"
    leap_year = r"(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)"
    date = rf"(?:{year}{d}{month_day}|{leap_year}{d}02{d}29)"
    time = rf"(?:[01]\d|2[0-3])(?:{t}[0-5]\d(?:{t}[0-5]\d(?:[.,]\d{{1,6}})?)?)?"
    offset = rf"(?:Z|[+-](?:[01]\d|2[0-3])(?:{t}[0-5]\d)?)"
    return rf"{date}(?:[T ]{time}{offset}?)?"


ISO_MOMENT = rf"^(?:{_iso_moment('-', ':')}|{_iso_moment('', '')})$"
"""Every real calendar date and time of ISO 8601, extended or basic form, with an optional UTC offset: exactly what
the route accepts, so the schema and the server agree. Week and ordinal dates (``2026-W53-1``, ``2026-365``) are
not taken."""
MOMENT_HELP = (
    "ISO 8601 date or time, extended or basic form (2026-12-31, 2026-12-31T10:00:00+02:00, 20261231T1000Z); "
    "without an offset it is UTC."
)


def _exactly_one_source(schema: dict[str, Any]) -> None:
    """The schema says what the validator checks: exactly one of text and request_id, neither null."""
    for key in ("text", "request_id"):
        field = schema["properties"][key]
        variants = field.pop("anyOf", [])
        field.update(next((v for v in variants if v.get("type") != "null"), {}))
        field.pop("default", None)
    schema["oneOf"] = [
        {"required": ["text"], "not": {"required": ["request_id"]}},
        {"required": ["request_id"], "not": {"required": ["text"]}},
    ]
    schema["examples"] = [{"text": "a sentence the model got wrong", "label": "noHate"}]


class FeedbackIn(BaseModel):
    """A reviewer's label for a text: the text itself, or the request id of a stored prediction."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_exactly_one_source)
    text: Text | None = Field(None, description="The text (give this or request_id).")
    request_id: StrictStr | None = Field(
        None,
        max_length=REQUEST_ID_LENGTH,
        description="X-Request-ID of a prediction the server stored (HATESPEECH_STORE_PREDICTIONS).",
    )
    position: JsonInteger = Field(0, ge=0, description="With request_id: which text of that request (from 0).")
    label: Literal["hate", "noHate"] = Field(description="The reviewer's label.")
    note: StrictStr | None = Field(None, max_length=2000, description="Why, or anything else.")

    @field_validator("text", "request_id", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        """Leave the field out rather than send null (the schema says so; absent fields skip this check)."""
        if value is None:
            raise PydanticCustomError("not_null", "leave it out instead of sending null")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FeedbackIn:
        if (self.text is None) == (self.request_id is None):
            raise ValueError("give exactly one of 'text' or 'request_id'")
        return self


class FeedbackCreated(BaseModel):
    id: int = Field(description="The stored record's id.")


class FeedbackOut(BaseModel):
    id: int
    text: str
    label: str
    reviewer: str | None
    note: str | None
    request_id: str | None
    model_score: float | None = Field(description="P(hate) the model gave the text, when it was stored.")
    created_at: datetime


class FeedbackPage(BaseModel):
    items: list[FeedbackOut]
    total: int = Field(description="Records matching the filters (all pages).")
    limit: int
    offset: int


class ReviewItem(BaseModel):
    prediction_id: int
    request_id: str
    position: int
    text: str
    score: float = Field(description="P(hate) the model gave.")
    label: str
    created_at: datetime


class ReviewQueue(BaseModel):
    items: list[ReviewItem] = Field(
        description="Not yet reviewed: the closest to the decision threshold, then a random sample of the rest."
    )


def _needs_storing(service: ModelService) -> None:
    if not service.settings.store_predictions:
        raise ApiError(ErrorType.not_enabled, "predictions are not stored: set HATESPEECH_STORE_PREDICTIONS=true")


@router.post(
    "/feedback",
    dependencies=[allow(Role.reviewer)],
    status_code=201,
    response_model=FeedbackCreated,
    summary="Store a reviewer's label for a text",
    responses=responses(
        *BODY_ERRORS,
        ErrorType.unauthorized,
        ErrorType.forbidden,
        ErrorType.rate_limited,
        ErrorType.not_found,
        ErrorType.ambiguous,
        ErrorType.not_enabled,
        ErrorType.database,
    ),
)
async def post_feedback(body: FeedbackIn, request: Request, service: ServiceDep) -> FeedbackCreated:
    text, prediction_id, score = body.text, None, None
    limit = service.settings.max_text_chars
    if text is not None and len(text) > limit:  # the schema's maxLength (as /predict)
        raise ApiError(ErrorType.validation, f"text: longer than {limit} characters ({len(text)})")
    if body.request_id is not None:
        _needs_storing(service)
        request_id = body.request_id
        stored = await service.stores.run(lambda store: store.predictions_of(request_id))
        if len({p.position for p in stored}) != len(stored):  # a client sent the same X-Request-ID twice
            raise ApiError(
                ErrorType.ambiguous, f"request id {body.request_id} names more than one request: label by text"
            )
        if body.position >= len(stored):
            raise ApiError(
                ErrorType.not_found,
                f"no stored prediction {body.request_id} #{body.position} (purged, or never stored)",
            )
        text, prediction_id, score = stored[body.position].text, stored[body.position].id, stored[body.position].score
    assert text is not None
    reviewer = request.state.api_key.name  # the security middleware let only a reviewer or admin key through
    record_id = await service.stores.run(
        lambda store: store.add_feedback(text, body.label, reviewer, body.note, body.request_id, prediction_id, score)
    )
    return FeedbackCreated(id=record_id)


@router.get(
    "/feedback",
    dependencies=[allow(Role.admin)],
    response_model=FeedbackPage,
    summary="Stored feedback, newest first (needs an admin key)",
    responses=responses(
        ErrorType.validation, ErrorType.unauthorized, ErrorType.forbidden, ErrorType.rate_limited, ErrorType.database
    ),
)
async def get_feedback(
    service: ServiceDep,
    label: Annotated[Literal["hate", "noHate"] | None, Query(description="Only this label.")] = None,
    since: Annotated[str | None, Query(pattern=ISO_MOMENT, description=f"Created at or after: {MOMENT_HELP}")] = None,
    until: Annotated[str | None, Query(pattern=ISO_MOMENT, description=f"Created before: {MOMENT_HELP}")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> FeedbackPage:
    start, end = _moment("since", since), _moment("until", until)
    page = await service.stores.run(lambda store: store.feedback(label, start, end, limit, offset))
    return FeedbackPage(items=[_feedback_out(f) for f in page.items], total=page.total, limit=limit, offset=offset)


@router.get(
    "/review",
    dependencies=[allow(Role.reviewer)],
    response_model=ReviewQueue,
    summary="Stored predictions most worth a human look (needs a reviewer key and stored predictions)",
    responses=responses(
        ErrorType.validation,
        ErrorType.unauthorized,
        ErrorType.forbidden,
        ErrorType.rate_limited,
        ErrorType.not_enabled,
        ErrorType.database,
    ),
)
async def get_review(service: ServiceDep, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> ReviewQueue:
    _needs_storing(service)
    threshold = service.live.engine.info.threshold if service.live is not None else 0.5
    items = await service.stores.run(lambda store: store.review_queue(limit, threshold))
    return ReviewQueue(items=[_review_item(p) for p in items])


def _moment(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 date or time (UTC when it has no offset); a 422 for anything else, numbers included."""
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ApiError(ErrorType.validation, f"{name}: {value!r} is not an ISO 8601 date or time") from None


def _feedback_out(record: Feedback) -> FeedbackOut:
    return FeedbackOut(id=record.id, text=record.text, label=record.label, reviewer=record.reviewer, note=record.note,
                       request_id=record.request_id, model_score=record.model_score,
                       created_at=as_utc(record.created_at))  # fmt: skip


def _review_item(p: StoredPrediction) -> ReviewItem:
    return ReviewItem(prediction_id=p.id, request_id=p.request_id, position=p.position, text=p.text, score=p.score,
                      label=p.label, created_at=as_utc(p.created_at))  # fmt: skip
