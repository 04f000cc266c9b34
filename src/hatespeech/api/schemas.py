"""Request and response models, split by direction. Three request shapes share ``POST /predict``:

* ``{"text": "..."}`` -> :class:`PredictionOut`
* ``{"texts": ["...", ...]}`` -> :class:`BatchPredictionOut`
* ``{"inputs": "..." | ["...", ...]}`` (Hugging Face / text-embeddings-inference) -> TEI's answer: a list of
  ``{"label", "score"}`` sorted by score for one input, a list of such lists for several.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
    Tag,
)
from pydantic_core import PydanticCustomError

from hatespeech.explain import MAX_SPANS, MIN_EFFECT

Label = Literal["hate", "noHate"]


SPACE = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028-\u2029\u202f\u205f\u3000"
r"""Python's whitespace (``str.isspace``), spelled out: ``\s`` differs between Python, JSON Schema (ECMA) and
pydantic's regex engine (e.g. on U+001C-U+001F), and the schema must refuse exactly what the server does."""
TEXT_PATTERN = rf"^[^\x00]*[^\x00{SPACE}][^\x00]*$"
"""A text needs one non-space character and no NUL."""

Text = Annotated[StrictStr, StringConstraints(pattern=TEXT_PATTERN)]


def _only_false(value: Any) -> Any:
    """``Literal[False]`` alone lets 0 and 0.0 through (they equal False): only a JSON ``false`` passes."""
    if value is not False:
        raise PydanticCustomError("raw_scores", "only false is supported (a JSON boolean)")
    return value


def _json_integer(value: Any) -> Any:
    """A JSON Schema integer: a number without a fraction (2 or 2.0), never a boolean or a string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInteger = Annotated[int, BeforeValidator(_json_integer)]
"""An integer as JSON Schema means it, also inside strict models."""


class HFParameters(BaseModel):
    """Hugging Face ``parameters``: ``top_k`` is used; other keys HF clients send are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    top_k: Annotated[int, Field(ge=1), BeforeValidator(_json_integer)] | None = Field(
        None, description="Return only the k most likely labels (for `inputs`)."
    )


class _RequestOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    parameters: HFParameters | None = Field(None, description="Hugging Face parameters.")
    truncate: StrictBool = Field(
        True,
        description="Accept texts longer than the model's token limit: each is scored in parts and gets its worst "
        "part's score (false: such texts are a 422, as in text-embeddings-inference).",
    )
    raw_scores: Annotated[Literal[False], BeforeValidator(_only_false)] = Field(
        False, description="TEI option; only false is supported."
    )


EXPLAIN_DESCRIPTION = (
    f"Add `explanation` to each prediction: the words that moved P(hate), found by masking each in turn "
    f"(at most {MAX_SPANS} spans per text; a longer text is explained in spans of neighbouring words; a text "
    "scored in parts is explained over its worst part). "
    "Costs one extra row of inference per span; limited to `max_explain_texts` texts per request."
)


class TextRequest(_RequestOptions):
    """One text -> one prediction."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "I really like my neighbours."}]})
    text: Text = Field(description="The text to classify.")
    explain: StrictBool = Field(False, description=EXPLAIN_DESCRIPTION)


class TextsRequest(_RequestOptions):
    """Several texts -> predictions in input order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"texts": ["first text", "second text"]}]})
    texts: list[Text] = Field(min_length=1, description="Texts to classify.")
    explain: StrictBool = Field(False, description=EXPLAIN_DESCRIPTION)


class InputsRequest(_RequestOptions):
    """Hugging Face / text-embeddings-inference shape."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"inputs": "a sentence"}]})
    inputs: Text | Annotated[list[Text], Field(min_length=1)] = Field(description="One text or a list of texts.")


def _request_shape(value: Any) -> str | None:
    if isinstance(value, dict):
        present = [key for key in ("text", "texts", "inputs") if key in value]
        return present[0] if len(present) == 1 else None
    return None


PredictRequest = Annotated[
    Annotated[TextRequest, Tag("text")]
    | Annotated[TextsRequest, Tag("texts")]
    | Annotated[InputsRequest, Tag("inputs")],
    Discriminator(
        _request_shape,
        custom_error_type="request_shape",
        custom_error_message="give exactly one of 'text' (a string), 'texts' (a list of strings) or 'inputs'",
    ),
]


def request_texts(body: TextRequest | TextsRequest | InputsRequest) -> list[str]:
    """The texts of a request, whichever shape it used."""
    if isinstance(body, TextRequest):
        return [body.text]
    if isinstance(body, TextsRequest):
        return list(body.texts)
    return [body.inputs] if isinstance(body.inputs, str) else list(body.inputs)


class SpanOut(BaseModel):
    """A word of the input (or a span of neighbouring words) and how much it moved the log-odds of hate."""

    start: int = Field(ge=0, description="Offset of its first character in the text (Unicode code points).")
    end: int = Field(ge=0, description="Offset one past its last character.")
    text: str = Field(description="The span itself: text[start:end].")
    contribution: float = Field(
        description="Its effect in log-odds: log(P/(1-P)) of P(hate) for the text minus the same with the span "
        "masked. Above 0 it pushed the score towards hate, below 0 away from it; +1.0 multiplied the odds of hate "
        f"by e (2.7). Spans whose effect is under {MIN_EFFECT:g} are not listed."
    )


class PartOut(BaseModel):
    """Characters of the input: ``text[start:end]``."""

    start: int = Field(ge=0, description="Offset of its first character (Unicode code points).")
    end: int = Field(ge=0, description="Offset one past its last character.")


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
                    "parts": 1,
                }
            ]
        }
    )

    label: Label = Field(description="`hate` when score >= the model's decision threshold.")
    score: float = Field(ge=0.0, le=1.0, description="Probability of `hate`.")
    scores: dict[str, float] = Field(description="Probability of each label.")
    truncated: bool = Field(
        description="True when some of the text was not scored. A text over the model's token limit is scored in "
        "parts that each fit, so this is false unless a single part could not be made to fit."
    )
    parts: int = Field(
        1, ge=1, description="How many parts the text was scored in: 1 unless it is over the model's token limit."
    )
    part: PartOut | None = Field(
        None,
        description="With parts > 1 only: the part that decided the score (the highest P(hate); the text's score "
        "and label are that part's).",
    )
    explanation: list[SpanOut] | None = Field(
        None,
        description=f"With `explain: true` only: the text's spans, in order, that moved its log-odds by {MIN_EFFECT:g} "
        "or more, each with its effect.",
    )


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
    version: str = Field(description="The model version serving (as in the X-Model-Version header).")
    reload_error: str | None = Field(
        description="Why the last reload failed (the version above still serves); null when it did not fail."
    )


class LimitsOut(BaseModel):
    """Request limits a client should respect (larger requests get a 413 or 422)."""

    max_texts: int = Field(description="Texts per request.")
    max_text_chars: int = Field(description="Characters per text.")
    max_parts: int = Field(description="Rows of inference per request: one per text, one per part of a long text.")
    max_body_bytes: int = Field(description="Bytes per request body.")


class ModelOut(BaseModel):
    """What is being served."""

    name: str
    base_model: str
    version: str = Field(
        description="The model version: its directory's name in the model store (`hatespeech models list`), "
        "else the start of its manifest's sha256. Every response carries it in X-Model-Version."
    )
    data_fingerprint: str = Field(description="Fingerprint (sha256) of the training data.")
    service_version: str = Field(description="Version of the hatespeech package serving the model.")
    labels: list[str]
    threshold: float
    max_length: int
    engine: str = Field(
        description="What runs the model: onnx-fp32, onnx-int8, openvino-f32, openvino-bf16, ctranslate2-f32 or "
        "ctranslate2-int8."
    )
    engine_reason: str = Field(description="Why that engine: the setting, or what auto measured on this CPU.")
    recipe: Literal["quick", "full"] = Field(
        description="quick: the quick first model (head plus one fine-tuning epoch), served while the full recipe "
        "trains; full: the full recipe (docs/training.md)."
    )
    metrics: dict[str, Any] = Field(description="Validation and test metrics recorded at training time.")
    normalization: str = Field(
        description="The text normalisation the model was trained with and the server applies: social-v1 (emoji as "
        "words, @user, http, HTML entities) or none (model dirs before 0.7)."
    )
    data_mix: dict[str, Any] = Field(
        description="What it learnt from: the public corpora beside the forum, each source's share of an epoch, and "
        "what the corpora's offensive class became."
    )
    card: str | None = Field(
        description="Where the model card is (GET it: markdown with a YAML header); null for a model dir without one."
    )
    limits: LimitsOut = Field(description="This server's request limits.")
