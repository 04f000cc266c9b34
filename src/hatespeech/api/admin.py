"""Operator routes: ``POST /admin/reload`` (and, with a shadow model, ``GET /admin/shadow``).

They take only admin keys (``HATESPEECH_ADMIN_KEYS``) whenever any key is configured; see
:mod:`hatespeech.api.security`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from hatespeech.api.errors import ApiError, responses
from hatespeech.api.lifecycle import reload

router = APIRouter(prefix="/admin")


class ReloadOut(BaseModel):
    status: Literal["reloaded", "unchanged"] = Field(description="unchanged: that model dir already serves.")
    version: str | None = Field(description="The version serving now.")
    previous: str | None = Field(description="The version that served before.")
    seconds: float = Field(description="Verify, load, warm up and swap.")


@router.post(
    "/reload",
    response_model=ReloadOut,
    summary="Load the model the model dir points to now, and swap it in without dropping a request",
    responses=responses("unauthorized", "forbidden", "reload_failed"),
)
async def post_reload(request: Request, force: bool = False) -> ReloadOut:
    """A model that fails to load leaves the current one serving: 409 with the reason (also in /ready)."""
    outcome = await reload(request.app.state.service, "admin", force=force)
    if outcome.status == "failed":
        raise ApiError("reload_failed", f"the model was not swapped, {outcome.previous} still serves: {outcome.error}")
    return ReloadOut(status=outcome.status, version=outcome.version, previous=outcome.previous, seconds=outcome.seconds)
