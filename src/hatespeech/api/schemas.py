"""Request and response models, split by direction. Three request shapes share ``POST /predict``:

* ``{"text": "..."}`` -> :class:`PredictionOut`
* ``{"texts": ["...", ...]}`` -> :class:`BatchPredictionOut`
* ``{"inputs": "..." | ["...", ...]}`` (Hugging Face / text-embeddings-inference) -> TEI's answer: a list of
  ``{"label", "score"}`` sorted by score for one input, a list of such lists for several.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

Label = Literal["hate", "noHate"]


class PredictRequest(BaseModel):
    """Exactly one of ``text``, ``texts`` or ``inputs``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "I really like my neighbours."},
                {"texts": ["first text", "second text"]},
                {"inputs": "Hugging Face / TEI request shape"},
            ]
        },
    )

    text: StrictStr | None = Field(None, description="One text to classify.")
    texts: list[StrictStr] | None = Field(None, description="Several texts, answered in input order.")
    inputs: StrictStr | list[StrictStr] | None = Field(
        None, description="Hugging Face inference shape; answered as text-embeddings-inference does."
    )
    parameters: dict[str, Any] | None = Field(
        None, description="Hugging Face parameters; `top_k` limits the labels returned for `inputs`."
    )
    truncate: StrictBool = Field(
        True, description="Cut texts longer than the model's max length (false: such texts are a 422)."
    )
    raw_scores: StrictBool = Field(False, description="TEI option; only false is supported.")

    @model_validator(mode="after")
    def _exactly_one_shape(self) -> PredictRequest:
        given = [name for name in ("text", "texts", "inputs") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'text' (a string), 'texts' (a list of strings) or 'inputs'"
                + (f"; got {', '.join(given)}" if given else "")
            )
        if self.raw_scores:
            raise ValueError("raw_scores=true is not supported; scores are probabilities")
        return self

    def as_list(self) -> list[str]:
        """The texts of the request, whichever shape it used."""
        if self.text is not None:
            return [self.text]
        if self.texts is not None:
            return list(self.texts)
        assert self.inputs is not None
        return [self.inputs] if isinstance(self.inputs, str) else list(self.inputs)


class PredictionOut(BaseModel):
    """The verdict for one text."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "noHate",
                    "score": 0.03,
                    "scores": {"hate": 0.03, "noHate": 0.97},
                    "truncated": False,
                }
            ]
        }
    )

    label: Label = Field(description="`hate` when score >= the model's decision threshold.")
    score: float = Field(ge=0.0, le=1.0, description="Probability of `hate`.")
    scores: dict[str, float] = Field(description="Probability of each label.")
    truncated: bool = Field(description="True when the text was cut at the model's max length.")


class BatchPredictionOut(BaseModel):
    """Verdicts for ``texts``, in input order."""

    predictions: list[PredictionOut]


class LabelScore(BaseModel):
    """One label and its probability (Hugging Face / TEI shape)."""

    label: str
    score: float


PredictResponse = PredictionOut | BatchPredictionOut | list[LabelScore] | list[list[LabelScore]]


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready"] = "ready"
    engine: str = Field(description="The graph being served, e.g. onnx-int8.")


class ModelOut(BaseModel):
    """What is being served."""

    name: str
    base_model: str
    version: str = Field(description="Fingerprint (sha256) of the training data.")
    labels: list[str]
    threshold: float
    max_length: int
    engine: str
    metrics: dict[str, Any] = Field(description="Validation and test metrics recorded at training time.")
