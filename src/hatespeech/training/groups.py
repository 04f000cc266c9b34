"""Identity groups and counterfactual target augmentation: the same sentence about another group.

The forum data talks about two groups (black people and Jews) far more than any other, so a model trained on
it learns the group's name as a cue and misses hate against everyone else. :func:`counterfactuals` adds
copies of the training sentences that name a group, with the group swapped for others of :data:`GROUPS`
(Dixon et al. 2018, Park et al. 2018: identity-term swaps; Kaushik et al. 2020: counterfactual data), for the
hateful *and* the ordinary sentences in equal numbers, every group as often in each class, so that no group's
name decides the label by itself. A variant keeps its source's fold group: a sentence and its variants sit on
one side of every validation split.

Grammar: a mention is a plural noun ("Jews", "black people"), a singular noun ("Jew", "a black person") or an
adjective before a person noun ("Jewish neighbours", "black men"); it is replaced by the target group's form
of the same kind ("Muslims", "Muslim", "Muslim neighbours"), the article before a singular is re-chosen ("an
immigrant" -> "a Muslim"), a sentence-initial capital is kept, and a group without the needed form (women
have no adjective) is not used for that sentence. "white" is never swapped: on this forum it names the
in-group, and its sentences are not hate against white people.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hatespeech.data import Example


@dataclass(frozen=True)
class Group:
    """A group and how English refers to it: the whole group, one member, and (when there is one) the
    adjective used before a person noun. ``key`` names it in ids and tests."""

    key: str
    plural: str
    singular: str
    adjective: str | None


GROUPS: tuple[Group, ...] = (
    Group("jews", "Jews", "Jew", "Jewish"),
    Group("muslims", "Muslims", "Muslim", "Muslim"),
    Group("black", "black people", "black person", "black"),
    Group("immigrants", "immigrants", "immigrant", "immigrant"),
    Group("refugees", "refugees", "refugee", "refugee"),
    Group("mexicans", "Mexicans", "Mexican", "Mexican"),
    Group("asians", "Asians", "Asian", "Asian"),
    Group("arabs", "Arabs", "Arab", "Arab"),
    Group("africans", "Africans", "African", "African"),
    Group("hispanics", "Hispanics", "Hispanic", "Hispanic"),
    Group("gay", "gay people", "gay person", "gay"),
    Group("lesbians", "lesbians", "lesbian", "lesbian"),
    Group("trans", "trans people", "trans person", "trans"),
    Group("women", "women", "woman", None),
    Group("roma", "Roma", "Roma person", "Roma"),
    Group("indians", "Indians", "Indian", "Indian"),
    Group("chinese", "Chinese people", "Chinese person", "Chinese"),
    Group("disabled", "disabled people", "disabled person", "disabled"),
    Group("christians", "Christians", "Christian", "Christian"),
    Group("hindus", "Hindus", "Hindu", "Hindu"),
    Group("sikhs", "Sikhs", "Sikh", "Sikh"),
    Group("somalis", "Somalis", "Somali", "Somali"),
)
"""The groups the augmentation and the generated frames write about (docs/training.md lists why these)."""

BY_KEY = {group.key: group for group in GROUPS}

PERSON_NOUNS = (
    "people", "person", "persons", "man", "men", "woman", "women", "guy", "guys", "girl", "girls", "boy", "boys",
    "kid", "kids", "child", "children", "family", "families", "community", "communities", "neighbour",
    "neighbours", "neighbor", "neighbors", "friend", "friends", "folk", "folks", "youth", "youths", "students",
    "student", "immigrants", "population", "couple", "couples", "leaders", "leader", "doctor", "doctors",
)  # fmt: skip
"""Nouns after which a group adjective refers to people ("black men"), not to a colour ("black shirt")."""

# How the forum's text names each group it talks about: (plural, singular, adjective) regexes. Nouns are replaced
# by the target's noun of the same number; an adjective only before a person noun, keeping the noun.
_SOURCE_TERMS: dict[str, tuple[str, str | None, str | None]] = {
    "black": (r"black (?:people|folks)|blacks", r"black person", r"black"),
    "jews": (r"jewish people|jews", r"jew", r"jewish"),
    "muslims": (r"muslims", r"muslim", r"muslim"),
    "immigrants": (r"immigrants", r"immigrant", r"immigrant"),
    "refugees": (r"refugees", r"refugee", r"refugee"),
    "mexicans": (r"mexicans", r"mexican", r"mexican"),
    "asians": (r"asians", r"asian", r"asian"),
    "arabs": (r"arabs", r"arab", r"arab"),
    "africans": (r"africans", r"african", r"african"),
    "hispanics": (r"hispanics", r"hispanic", r"hispanic"),
    "gay": (r"gay people|gays", None, r"gay"),
    "indians": (r"indians", None, None),
}
_PERSON = "|".join(PERSON_NOUNS)
_NOT_A_NOUN_AFTER = frozenset(
    {
        "is", "was", "are", "were", "be", "been", "who", "whom", "whose", "that", "which", "and", "or", "but",
        "nor", "with", "has", "had", "have", "will", "would", "can", "could", "should", "shall", "may", "might",
        "must", "does", "did", "do", "in", "on", "at", "from", "to", "for", "of", "by", "as", "than", "then", "so",
        "if", "when", "while", "not", "never", "just", "also", "too", "again", "here", "there", "said", "says",
        "gets", "got", "goes", "went", "came", "comes",
    }
)  # fmt: skip
"""Words after a singular mention that leave it a noun ("a Jew who ..."); any other word makes the mention an
adjective ("a Jew lawyer" -> "a Muslim lawyer"), which a group with a two-word singular ("black person")
could not fill."""
_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")


def _mention_pattern() -> re.Pattern[str]:
    """One regex over every source term; the named group says the group key and the form. Per group the plural
    is tried first ("black people" is one plural), then the adjective before a person noun ("Muslim men"), then
    the singular ("a Muslim")."""
    parts: list[str] = []
    for key, (plural, singular, adjective) in _SOURCE_TERMS.items():
        parts.append(rf"(?P<{key}__plural>{plural})")
        if adjective:
            parts.append(rf"(?P<{key}__adjective>{adjective})(?= (?:{_PERSON})\b)")
        if singular:
            parts.append(rf"(?P<{key}__singular>{singular})")
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.IGNORECASE)


_MENTION = _mention_pattern()
_ARTICLE = re.compile(r"\b(a|an|A|An)(\s+)$")


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    group: str
    form: str  # plural, singular or adjective


def mentions(text: str) -> list[Mention]:
    """Every mention of a source group in ``text``, in order."""
    found = []
    for match in _MENTION.finditer(text):
        name = next(n for n, value in match.groupdict().items() if value is not None)
        key, form = name.split("__")
        after = _NEXT_WORD.match(text, match.end())
        if form == "singular" and after and after.group(1).lower() not in _NOT_A_NOUN_AFTER:
            form = "adjective"
        found.append(Mention(match.start(), match.end(), key, form))
    return found


def _identity_pattern() -> re.Pattern[str]:
    """Every referring term of :data:`GROUPS` and of the forum's source terms, longest first (one regex)."""
    terms = {re.escape(form) for group in GROUPS for form in (group.plural, group.singular, group.adjective) if form}
    terms |= {form for forms in _SOURCE_TERMS.values() for form in forms if form}  # regexes already
    alternatives = sorted(terms, key=len, reverse=True)  # "black people" before "black"
    return re.compile(r"\b(?:" + "|".join(f"(?:{t})" for t in alternatives) + r")\b", re.IGNORECASE)


_IDENTITY = _identity_pattern()


def mask_identity_terms(text: str, mask: str) -> str | None:
    """``text`` with every identity term (any group of :data:`GROUPS`, any form) replaced by ``mask``; None when
    it has none. For the identity-term regulariser (the score should not move when the group's name goes)."""
    masked, count = _IDENTITY.subn(mask, text)
    return masked if count else None


def named_groups(text: str) -> set[str]:
    """Keys of the groups ``text`` names (source terms only)."""
    return {m.group for m in mentions(text)}


def _form(group: Group, form: str) -> str | None:
    return {"plural": group.plural, "singular": group.singular, "adjective": group.adjective}[form]


def swap(text: str, mapping: dict[str, Group]) -> str | None:
    """``text`` with each mentioned group replaced by ``mapping[key]``; None when a target lacks a needed form
    (or nothing is mentioned). Articles before singulars are re-chosen; a capital at the start is kept."""
    found = mentions(text)
    if not found:
        return None
    pieces: list[str] = []
    last = 0
    for mention in found:
        target = mapping.get(mention.group)
        word = _form(target, mention.form) if target else None
        if word is None:
            return None
        before = "".join(pieces) + text[last : mention.start]
        article = _ARTICLE.search(before)
        if article:  # "an immigrant" -> "a Muslim"
            chosen = "an" if word[0].lower() in "aeiou" else "a"
            chosen = chosen.capitalize() if article.group(1)[0].isupper() else chosen
            before = before[: article.start(1)] + chosen + article.group(2)
        if mention.start == 0 and text[0].isupper():
            word = word[0].upper() + word[1:]
        pieces = [before, word]
        last = mention.end
    return "".join(pieces) + text[last:]


def counterfactuals(examples: Sequence[Example], seed: int = 0, per_text: int = 1) -> list[Example]:
    """Group-swapped variants of the ``examples`` that name a group, as many for each class.

    Every hateful sentence that names a group gets ``per_text`` variants; as many ordinary (noHate) sentences
    that name a group are drawn (the balanced sample's first, then the natural ones) and get as many variants.
    Within each class the target groups are dealt in turn from a shuffled cycle, so each group appears about
    equally often in both classes. Variants are marked ``contrast`` (in every epoch) and keep their source's
    fold group; a variant that would repeat a text already present is dropped.
    """
    rng = random.Random(seed)
    sources = [e for e in examples if not e.contrast and named_groups(e.text)]
    hate = [e for e in sources if e.label == 1]
    ordinary = [e for e in sources if e.label == 0]
    rng.shuffle(ordinary)
    ordinary.sort(key=lambda e: e.natural)  # stable: the balanced sample's noHate sentences first
    chosen = hate + ordinary[: len(hate)]
    seen = {" ".join(e.text.lower().split()) for e in examples}
    variants: list[Example] = []
    cycles: dict[int, list[Group]] = {0: [], 1: []}
    for source in chosen:
        found = mentions(source.text)
        for number in range(per_text):
            mapping = _deal(cycles[source.label], found, rng)
            text = swap(source.text, mapping)
            key = " ".join(text.lower().split()) if text else ""
            if text is None or key in seen:
                continue
            seen.add(key)
            names = "+".join(sorted(g.key for g in mapping.values()))
            variant_id = f"{source.id}~{names}" + (f"~{number}" if number else "")
            variants.append(replace(source, id=variant_id, text=text, natural=False, contrast=True))
    per_class = min(sum(v.label == label for v in variants) for label in (0, 1))
    kept = {0: 0, 1: 0}
    balanced = []
    for variant in variants:  # as many of each class (a swap can fail or repeat a text)
        if kept[variant.label] < per_class:
            kept[variant.label] += 1
            balanced.append(variant)
    return balanced


def _deal(cycle: list[Group], found: Sequence[Mention], rng: random.Random) -> dict[str, Group]:
    """A target group for each group mentioned: the first one of the class's shuffled cycle that is not already in
    the sentence and has every form the sentence needs (the ones passed over stay first in line)."""
    present = {m.group for m in found}
    needed = {key: {m.form for m in found if m.group == key} for key in present}
    mapping: dict[str, Group] = {}
    for key in sorted(present):
        for _ in range(2):  # the cycle's rest, then a fresh round after it
            usable = [
                i for i, target in enumerate(cycle)
                if target.key not in present and target not in mapping.values()
                and all(_form(target, form) for form in needed[key])
            ]  # fmt: skip
            if usable:
                mapping[key] = cycle.pop(usable[0])
                break
            fresh = list(GROUPS)
            rng.shuffle(fresh)
            cycle.extend(fresh)
    return mapping
