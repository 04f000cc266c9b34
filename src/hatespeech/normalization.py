"""One text normalisation for every path a text takes into the model: training, the export's parity check, the
server, Ray batch scoring and the Python API.

``social-v1`` makes what differs between platforms only in form the same: emoji become their names as words
(``emoji``'s CLDR names: "🔪" reads ":kitchen knife:", where the tokenizer saw ``[UNK]``), HTML entities are
decoded, user mentions and HateXplain's ``<user>`` become ``@user``, links and ``<url>`` become ``http``. It runs
on the tokenizer's :class:`tokenizers.NormalizedString`, so token offsets still point into the text the caller
sent (an explanation's word is the emoji, not its name). ``none`` leaves texts as they are: model dirs trained
before 0.7 record no normalisation and are served that way.
"""

from __future__ import annotations

import html
import re
from typing import Literal

import emoji
from tokenizers import NormalizedString, Regex, Tokenizer, normalizers

Normalization = Literal["none", "social-v1"]
NORMALIZATIONS: tuple[Normalization, ...] = ("none", "social-v1")
DEFAULT_NORMALIZATION: Normalization = "social-v1"
CONFIG_KEY = "text_normalization"
"""The key of a model dir's ``config.json`` that names its normalisation (absent: ``none``)."""

_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_MENTION = Regex(r"(?<=@)\w+")  # the name after "@": the "@" keeps its place, so offsets stay on the mention
_USER_PLACEHOLDER = "<user>"
_URL = Regex(r"(?:https?://|www\.)\S+")
_URL_PLACEHOLDER = "<url>"


def emoji_name(symbol: str) -> str:
    """An emoji as words between colons, with spaces around: "🔪" -> " :kitchen knife: "."""
    name = emoji.demojize(symbol, delimiters=("", "")).replace("_", " ").strip()
    return f" :{name}: "


def apply_social(text: NormalizedString) -> None:
    """``social-v1`` in place on a normalised string (alignments to the original are kept by ``tokenizers``)."""
    current = text.normalized
    if "&" in current:
        for entity in sorted(set(_ENTITY.findall(current))):
            decoded = html.unescape(entity)
            if decoded != entity:
                text.replace(entity, decoded)
        current = text.normalized
    if not current.isascii():
        for symbol in sorted({found["emoji"] for found in emoji.emoji_list(current)}, key=len, reverse=True):
            text.replace(symbol, emoji_name(symbol))
    if "<" in current:
        text.replace(_USER_PLACEHOLDER, "@user")
        text.replace(_URL_PLACEHOLDER, "http")
    if "@" in current:
        text.replace(_MENTION, "user")
    if "http" in current or "www." in current:
        text.replace(_URL, "http")


class _SocialNormalizer:
    """The ``tokenizers`` custom normalizer that runs :func:`apply_social` inside ``encode``."""

    def normalize(self, text: NormalizedString) -> None:
        apply_social(text)


def normalize(text: str, normalization: Normalization = DEFAULT_NORMALIZATION) -> str:
    """``text`` as the model sees it before its own tokenizer's normalizer (lower-casing and so on)."""
    if normalization == "none":
        return text
    normalized = NormalizedString(text)
    apply_social(normalized)
    return normalized.normalized


def attach(tokenizer: Tokenizer, normalization: Normalization) -> None:
    """Run ``normalization`` first inside ``tokenizer`` (the serving path), so that offsets stay the caller's.
    A tokenizer with a custom normalizer cannot be saved: this is for loaded tokenizers only."""
    if normalization == "none":
        return
    steps = [normalizers.Normalizer.custom(_SocialNormalizer())]
    if tokenizer.normalizer is not None:
        steps.append(tokenizer.normalizer)
    tokenizer.normalizer = normalizers.Sequence(steps)


def checked(value: object) -> Normalization:
    """A model dir's recorded normalisation (absent: ``none``); an unknown name is a ValueError."""
    if value is None:
        return "none"
    if value not in NORMALIZATIONS:
        raise ValueError(f"unknown text normalisation {value!r} (known: {', '.join(NORMALIZATIONS)})")
    return value
