"""Writes ``src/hatespeech/training/contrast_set.jsonl``: the project's contrast sentences (how it was made).

The forum data teaches that a group word next to a slur means hate; it has almost no sentences that
*negate* hate or *argue against* it, so the model flags both. These sentences fill that gap: noHate
negations, counter-speech and positive mentions of groups, with a few hate sentences built from the same
words, so that the negation or the reporting frame, not the group word, decides the label (contrastive
augmentation in the spirit of counterfactually-augmented data, Kaushik et al. 2020).

They are written for this project from frames that differ from those of ``benchmarks/behaviour_cases.jsonl``
(``tests/test_contrast_set.py`` checks that no sentence is close to a behaviour case). Each frame is one
fold group (``contrast:FRAME``), so out-of-fold figures are measured on frames the fold model never saw.
Run once; the output is committed::

    .venv/bin/python benchmarks/make_contrast_set.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "hatespeech" / "training" / "contrast_set.jsonl"

GROUPS = [  # (plural, adjective)
    ("immigrants", "immigrant"), ("Jews", "Jewish"), ("Muslims", "Muslim"), ("black people", "black"),
    ("refugees", "refugee"), ("Mexicans", "Mexican"), ("Africans", "African"), ("Arabs", "Arab"),
    ("gay men", "gay"), ("Asians", "Asian"), ("Somalis", "Somali"), ("Hispanics", "Hispanic"),
    ("non-whites", "non-white"), ("Roma", "Roma"), ("Pakistanis", "Pakistani"), ("Haitians", "Haitian"),
    ("lesbians", "lesbian"), ("Syrians", "Syrian"), ("Nigerians", "Nigerian"), ("Chinese people", "Chinese"),
]  # fmt: skip
NOUNS = [
    "vermin", "parasites", "animals", "savages", "rats", "cockroaches", "a disease", "a plague", "apes",
    "leeches", "monkeys", "an infestation", "subhuman", "filth", "dogs", "locusts", "criminals by nature",
]  # fmt: skip
TRAITS = ["violent", "stupid", "dirty", "lazy", "dangerous", "inferior", "evil"]

NEGATION = [  # noHate: the hateful claim is denied
    "{G} aren't {N}; they are people with jobs and families like anyone.",
    "Whoever taught you that {G} are {N} lied to you.",
    "There is zero evidence that {G} are {N}.",
    "{G} are no more {T} than anybody else.",
    "I used to think {G} were {N}, but I was wrong and I'm ashamed of it.",
    "None of the {G} I have met have been {T}.",
    "The idea that {G} are {N} is nothing but propaganda.",
    "{G} aren't the enemy, and they never were.",
    "I don't hate {G}, and I never will.",
    "Being {A} doesn't make anyone {T}.",
    "My {A} neighbours are not {N}, they are good friends of mine.",
    "Of course {G} aren't {T}, what a ridiculous thing to believe.",
    "{G} were never {N}, no matter what the old pamphlets claimed.",
    "Let me be clear: {G} are human beings, not {N}.",
    "I can't agree that {G} are {T}; the facts say otherwise.",
    "Nothing about {G} makes them {N}.",
    "No decent person believes {G} are {N}.",
    "It's false that {G} are {T}, and repeating it doesn't make it true.",
]
COUNTER = [  # noHate: hate is quoted, reported or argued against
    "Posts claiming {G} are {N} ought to be deleted by the mods.",
    "My uncle keeps calling {G} {N} and I told him to knock it off.",
    "Referring to {G} as {N} is dehumanising, full stop.",
    "Some guy on the bus shouted that {G} were {N}; nobody took his side.",
    "Propaganda that painted {G} as {N} led to real violence.",
    "I'm tired of trolls in this thread calling {G} {N}.",
    "Someone sprayed '{G} are {N}' on the wall and we painted over it.",
    "Why do some people think it's fine to call {G} {N}?",
    "Historians show how describing {G} as {N} prepared the ground for persecution.",
    "Flagged the account that keeps posting that {G} are {T}.",
    "If your argument is that {G} are {N}, you have no argument.",
    "The leaflet claimed {G} are {N}; we handed it to the police.",
    "Teachers should explain why calling {G} {N} is hateful.",
    "Our group reports every comment that calls {G} {N}.",
    "He lost his job after tweeting that {G} are {N}, and rightly so.",
    "Hearing my coworker call {G} {N} made me sick.",
    "Labelling {G} as {T} is bigotry, not free thinking.",
    "I left that forum because people kept writing that {G} are {N}.",
]
POSITIVE = [  # noHate: warm mentions of a group
    "The {A} family next door helped us move in, they are lovely.",
    "I learned so much from my {A} classmates this year.",
    "{G} in our neighbourhood run the best bakery in town.",
    "Proud to stand with {G} in our community.",
    "Had dinner with {A} friends tonight and laughed all evening.",
    "{G} have enriched this city in countless ways.",
    "Our {A} coach is the reason the team improved so much.",
    "So grateful to the {A} nurses who looked after my dad.",
]
HATE = [  # hate: the same words asserted
    "Let's be honest, {G} are {N}.",
    "Everyone knows {G} are {N}.",
    "{G} have always been {N} and always will be.",
    "Face facts: {G} are {T}.",
    "I'm sick of {G}, they are {N}.",
    "All {G} are {N}, every last one.",
    "{G} are {T} and should be kept out.",
    "The truth nobody dares say: {G} are {N}.",
]
PER_FRAME = {"negation": 4, "counter": 4, "positive": 3, "hate": 4}


def fill(frame: str, rng: random.Random) -> str:
    plural, adjective = rng.choice(GROUPS)
    text = frame.format(G=plural, A=adjective, N=rng.choice(NOUNS), T=rng.choice(TRAITS))
    return text[0].upper() + text[1:]


def main() -> None:
    rng = random.Random(2026)
    rows: list[dict[str, object]] = []
    for kind, frames, label in (
        ("negation", NEGATION, "noHate"), ("counter", COUNTER, "noHate"),
        ("positive", POSITIVE, "noHate"), ("hate", HATE, "hate"),
    ):  # fmt: skip
        for number, frame in enumerate(frames, start=1):
            texts: set[str] = set()
            while len(texts) < PER_FRAME[kind]:
                texts.add(fill(frame, rng))
            for text in sorted(texts):
                rows.append({"id": f"contrast-{len(rows) + 1}", "text": text, "label": label,
                             "group": f"contrast:{kind}-{number}"})  # fmt: skip
    OUT.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"wrote {len(rows)} sentences to {OUT}")


if __name__ == "__main__":
    main()
