"""Long texts scored in parts, so that benign padding cannot hide a hateful sentence.

A text within the model's token limit is one part, scored as it is. A longer text is cut into its sentences
(and lines), each a part: the unit the model was trained on (the dataset is labelled sentence by sentence), and
one that benign text around a hateful sentence cannot dilute. Packing several sentences into one part was tried
and let three benign sentences pull "I hate Muslims." from 0.91 to 0.29. A sentence over the limit is cut into
overlapping runs of words. Every part is scored like any other text (batched with them, so the cost follows the
text's tokens), and the text gets the score of its worst part (the highest P(hate)), with that part's
character offsets. Nothing is left unscored.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise

from tokenizers import Encoding, Tokenizer

SENTENCE_END = re.compile(r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+|\n\s*")
"""Where a new sentence starts: after end punctuation (and closing quotes or brackets) and space, or a newline."""

OVERLAP = 4
"""A sentence cut into runs of words: each run repeats about 1/OVERLAP of the previous one, so that no short
phrase is only ever seen cut in two."""


def sentence_starts(text: str) -> list[int]:
    """Character offsets where the text's sentences (or lines) start, 0 first."""
    return [0] + [match.end() for match in SENTENCE_END.finditer(text) if 0 < match.end() < len(text)]


def _word_start(offsets: Sequence[tuple[int, int]], index: int, floor: int) -> int:
    """The nearest token at or before ``index`` (and after ``floor``) that starts a word, else ``index``."""
    for candidate in range(index, floor, -1):
        if offsets[candidate][0] != offsets[candidate - 1][1]:
            return candidate
    return index


def _runs(offsets: Sequence[tuple[int, int]], first: int, last: int, budget: int) -> list[tuple[int, int]]:
    """Token ranges of at most ``budget`` tokens covering ``[first, last)``, overlapping, cut at word starts."""
    runs = []
    start = first
    while True:
        end = min(start + budget, last)
        if end < last:
            end = _word_start(offsets, end, start + budget // 2)
        runs.append((start, end))
        if end >= last:
            return runs
        start = max(_word_start(offsets, end - budget // OVERLAP, start), start + 1)


def token_ranges(text: str, offsets: Sequence[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """Token ranges ``[first, last)`` of the parts: each sentence, over-long ones cut into overlapping runs of
    words of at most ``budget`` tokens."""
    if budget < 1:
        raise ValueError("a part needs room for at least one token")
    starts = [offset for offset, _ in offsets]
    boundaries = [bisect_right(starts, s - 1) for s in sentence_starts(text)] + [len(offsets)]
    ranges: list[tuple[int, int]] = []
    for first, last in pairwise(boundaries):
        if last > first:
            ranges.extend(_runs(offsets, first, last, budget) if last - first > budget else [(first, last)])
    return ranges


class Splitter:
    """Cuts the texts that overflow a tokenizer's limit into parts (a copy of the tokenizer, untruncated; made
    before a text normalisation is attached to either, since a custom normalizer cannot be copied)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self.whole = Tokenizer.from_str(tokenizer.to_str())
        self.whole.no_truncation()
        self.whole.no_padding()
        self.budget = max_length - tokenizer.num_special_tokens_to_add(is_pair=False)

    def parts(self, text: str, encoding: Encoding) -> list[tuple[int, int]]:
        """The text's parts, given its (truncated) encoding: the text itself unless it overflowed."""
        if not encoding.overflowing:
            return [(0, len(text))]
        offsets = self.whole.encode(text, add_special_tokens=False).offsets
        return [(offsets[a][0], offsets[b - 1][1]) for a, b in token_ranges(text, offsets, self.budget)]


def worst(scores: Sequence[float]) -> int:
    """Index of the part with the highest P(hate) (the first on ties)."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))
