"""Operator routes: ``POST /admin/reload`` (and, with a shadow model, ``GET /admin/shadow``).

They take only admin keys (``HATESPEECH_ADMIN_KEYS``) whenever any key is configured; see
:mod:`hatespeech.api.security`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hatespeech.api.errors import ApiError, responses
from hatespeech.api.lifecycle import reload
from hatespeech.api.security import allow
from hatespeech.api.service import ServiceDep
from hatespeech.errors import ErrorType
from hatespeech.keys import Role

router = APIRouter(prefix="/admin", dependencies=[allow(Role.admin)])


class ReloadOut(BaseModel):
    status: Literal["reloaded", "unchanged"] = Field(description="unchanged: that model dir already serves.")
    version: str | None = Field(description="The version serving now.")
    previous: str | None = Field(description="The version that served before.")
    seconds: float = Field(description="Verify, load, warm up and swap.")


@router.post(
    "/reload",
    response_model=ReloadOut,
    summary="Load the model the model dir points to now, and swap it in without dropping a request",
    responses=responses(
        ErrorType.validation,
        ErrorType.unauthorized,
        ErrorType.forbidden,
        ErrorType.rate_limited,
        ErrorType.reload_failed,
        ErrorType.not_enabled,
    ),
)
async def post_reload(service: ServiceDep, force: bool = False) -> ReloadOut:
    """A model that fails to load leaves the current one serving: 409 with the reason (also in /ready)."""
    if service.settings.reload_by_redeploy:
        raise ApiError(ErrorType.not_enabled, "on Ray Serve the model changes by a redeploy: send SIGHUP to "
                       "`hatespeech serve --runtime ray`, or update the RayService (docs/models.md)")  # fmt: skip
    outcome = await reload(service, "admin", force=force)
    if outcome.status == "failed":
        raise ApiError(
            ErrorType.reload_failed, f"the model was not swapped, {outcome.previous} still serves: {outcome.error}"
        )
    return ReloadOut(status=outcome.status, version=outcome.version, previous=outcome.previous, seconds=outcome.seconds)


class ShadowOut(BaseModel):
    """The shadow model's comparison with the primary since the two were paired."""

    primary_version: str
    shadow_version: str
    compared: int = Field(description="Texts both models scored.")
    agreed: int = Field(description="Of those, texts given the same label.")
    agreement: float | None = Field(description="agreed / compared (null before the first text).")
    mean_abs_difference: float | None = Field(description="Mean |P(hate) shadow - P(hate) primary|.")
    labels: dict[str, dict[str, int]] = Field(description="Label counts of each model over the compared texts.")
    dropped: int = Field(description="Texts not scored by the shadow because its queue was full.")
    failed: int = Field(description="Texts the shadow failed to score.")


@router.get(
    "/shadow",
    response_model=ShadowOut,
    summary="How the shadow (candidate) model compares with the one serving, on live traffic",
    responses=responses(ErrorType.unauthorized, ErrorType.forbidden, ErrorType.rate_limited, ErrorType.not_enabled),
)
async def get_shadow(service: ServiceDep) -> ShadowOut:
    if service.shadow is None:
        why = service.shadow_error or "set HATESPEECH_SHADOW_MODEL_DIR (e.g. models/candidate)"
        raise ApiError(ErrorType.not_enabled, f"no shadow model: {why}")
    return ShadowOut(**service.shadow.summary.as_dict())
