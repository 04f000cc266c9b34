"""The contrast set: hateful and non-hateful sentence frames written for this project, filled with every group.

The forum data has little explicit hate outside two groups, and almost no sentence that *talks about* hate
without being hate. These frames fill both gaps over the groups of :data:`hatespeech.training.groups.GROUPS`:

- hate: explicit dislike, dehumanisation, threats, hate as a question or an opinion, negative generalisations,
  and the same with the group's name misspelt (``Mus1ims``);
- noHate: negation, counter-speech that quotes or reports hate, neutral and positive mentions, people speaking
  of their own group, reclaimed words, and profanity aimed at nobody; and the hateful sentences themselves,
  quoted in order to report or condemn them (the same words on both sides of the label).

Each class deals the groups from its own shuffled cycle, so every group is named about as often in hateful as
in ordinary frames and no group's name is a cue by itself. Each frame is one fold group (``frame:KIND-N``; a
quoted hateful sentence joins its frame's group):
out-of-fold figures are measured on frames a fold model never saw. The set is made in code, with a fixed
seed (the same sentences every time); ``tests/test_frames.py`` checks that no sentence is close to a case of
the behaviour suite, which is written separately (``hatespeech/behaviour_cases.jsonl``).
"""

from __future__ import annotations

import random
import re

from hatespeech.data import Dataset, Example, LoadReport
from hatespeech.training.groups import GROUPS, Group

NOUNS = (
    "vermin", "parasites", "animals", "savages", "rats", "cockroaches", "a disease", "a plague", "apes",
    "leeches", "monkeys", "an infestation", "subhuman", "filth", "dogs", "locusts", "criminals by nature",
)  # fmt: skip
TRAITS = ("violent", "stupid", "dirty", "lazy", "dangerous", "inferior", "evil", "dishonest", "greedy")
THINGS = ("printer", "bus", "laptop", "weather", "traffic", "alarm clock", "exam", "wifi", "phone", "queue")

# {G} the group (plural), {S} one member, {A} the adjective (frames with {A} skip groups without one),
# {N} a dehumanising noun, {T} a negative trait, {O} an everyday thing. Hate frames first.
HATE_FRAMES: dict[str, tuple[str, ...]] = {
    "dislike": (
        "Honestly, I despise {G} and I don't care who knows it.",
        "I can't bear being around {G}, they make my skin crawl.",
        "{G} disgust me, the whole lot of them.",
        "I have nothing but hatred for {G}.",
        "Just seeing {G} on my street makes me want to throw up.",
        "I loathe {G} more than anything else on earth.",
        "I'd rather die than live next door to {G}.",
        "Keep your {A} friends away from me, I can't tolerate them.",
        "I hate {G}, their food, their music, everything.",
        "To be frank, I just hate {G}, that's all.",
        "I hate {G}. There, I finally said it.",
        "{G}? I have always hated them.",
        "I detest {G} with every fibre of my being.",
    ),
    "dehumanising": (
        "Let's be honest, {G} are {N}.",
        "Everyone knows {G} are {N}.",
        "{G} have always been {N} and always will be.",
        "I'm sick of {G}, they are {N}.",
        "All {G} are {N}, every last one.",
        "The truth nobody dares say: {G} are {N}.",
        "{G} aren't really people, just {N} walking upright.",
        "You can't call {G} human, they are {N}.",
    ),
    "threat": (
        "Somebody needs to wipe out the {G} in this town.",
        "{G} had better leave before we carry them out in body bags.",
        "I'll put a bullet in the next {S} I see.",
        "We should round up all the {G} and get rid of them for good.",
        "Burn every {A} home on this street to the ground.",
        "{G} will get what they deserve when we come for them.",
    ),
    "question_opinion": (
        "Am I wrong to think {G} are {N}?",
        "Why does no one admit that {G} are {T}?",
        "Isn't it about time we admitted {G} are worthless?",
        "My honest opinion: {G} are {T} and can't be trusted.",
        "Don't you think {G} ruin every place they move to?",
        "Why do we even tolerate {G} here?",
    ),
    "generalisation": (
        "Face facts: {G} are {T}.",
        "{G} are all {T}, it's in their nature.",
        "You can never trust a {S}, not for a second.",
        "{G} only know how to lie and steal.",
        "Never hire {G}, they are {T}.",
        "{G} are {T} and should be kept out.",
        "{G} ruin every neighbourhood they move into.",
    ),
    "misspelt": (
        "{g} are {N}, plain and simple.",
        "Get these {g} out of our country now.",
        "Filthy {g} everywhere you look these days.",
        "Nobody wants {g} around here, so leave.",
    ),
}
OTHER_FRAMES: dict[str, tuple[str, ...]] = {
    "negation": (
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
        "My {A} neighbours are not {N}; we have been good friends for years.",
        "Of course {G} aren't {T}, what a ridiculous thing to believe.",
        "Let me be clear: {G} are human beings, not {N}.",
        "I can't agree that {G} are {T}; the facts say otherwise.",
        "No decent person believes {G} are {N}.",
        "It's false that {G} are {T}, and repeating it doesn't make it true.",
    ),
    "counter": (
        "Posts claiming {G} are {N} ought to be deleted by the mods.",
        "My uncle keeps calling {G} {N} and I told him to knock it off.",
        "Referring to {G} as {N} is dehumanising, full stop.",
        "Some guy on the bus shouted that {G} were {N}; nobody took his side.",
        "Propaganda that painted {G} as {N} led to real violence.",
        "I'm tired of trolls in this thread calling {G} {N}.",
        "Someone sprayed '{G} are {N}' on the wall and we painted over it.",
        "Historians show how describing {G} as {N} prepared the ground for persecution.",
        "If your argument is that {G} are {N}, you have no argument.",
        "He lost his job after tweeting that {G} are {N}, and rightly so.",
        "Labelling {G} as {T} is bigotry, not free thinking.",
        "I left that forum because people kept writing that {G} are {N}.",
        "Announcing that you hate {G} is never acceptable, online or off.",
        "People who say they can't stand {G} should listen to themselves.",
        "The troll kept posting how much he loathes {G}, so we banned him.",
        "Threatening {G} online is a crime and should be reported.",
        "A poster demanding '{G} out' was torn down by the students.",
        "The news covered a rally where a man screamed that {G} should be shot.",
        "Writing 'kill all {G}' is incitement and the police are right to act.",
    ),
    "positive": (
        "The {A} family next door helped us move in, they are lovely.",
        "I learned so much from my {A} classmates this year.",
        "Proud to stand with {G} in our community.",
        "{G} have enriched this city in countless ways.",
        "So grateful to the {A} nurses who looked after my dad.",
        "{G} are welcome in our home any time.",
        "I really enjoy working alongside {G}.",
        "Love and respect to all the {G} out there.",
    ),
    "neutral": (
        "The survey asked {G} about their housing costs.",
        "A documentary about {G} in Britain aired last night.",
        "How many {G} live in this county?",
        "My cousin is engaged to a {S} she met at university.",
        "{G} make up a small share of the town's population.",
        "The lecture covered the history of {G} in Europe.",
        "The report counts how many {G} work in the public sector.",
    ),
    "own_group": (
        "As a {S} myself, I found the film moving and honest.",
        "Being {A} is part of who I am and I'm proud of it.",
        "We {G} have our own jokes, and outsiders rarely get them.",
    ),
    "reclaimed": (
        "Queer joy is the theme of this year's film festival.",
        "The old dykes' book club meets every Thursday at the library.",
        "My nigga flew in from Atlanta and we're getting food.",
        "Calling ourselves queer was a choice we made together.",
    ),
    "profanity": (
        "Ugh, the {O} has fucking died on me again.",
        "Shit, I completely forgot about the {O}.",
        "Damn this {O} to hell.",
        "The {O} is a total pile of crap today.",
        "What a bloody awful {O}.",
    ),
}
QUOTING = (  # noHate: a hateful sentence of the frames above, quoted in order to report or condemn it
    "Someone wrote '{h}' under my post, and I reported it.",
    "My neighbour said '{h}' and I told him that is bigotry.",
    "'{h}' is exactly the kind of hate this forum should ban.",
    "The troll's comment, '{h}', was removed by the moderators.",
    "We studied posts like '{h}' to understand online radicalisation.",
    "I was shocked when a stranger shouted '{h}' at my friend.",
    "Nobody should have to read '{h}' on their timeline.",
    "A banner reading '{h}' appeared overnight and the council took it down.",
)
PER_FRAME = {"hate": 5, "noHate": 3, "quoted": 2}
SEED = 2026
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[AEIOUaeiou])")
_LEETSPEAK = {"a": "@", "e": "3", "i": "1", "o": "0", "s": "$"}


def misspell(word: str, rng: random.Random) -> str:
    """A spelling variant of the kind used to dodge filters: a digit for a vowel, a doubled or dropped
    letter, or dots between the letters."""
    letters = [i for i, c in enumerate(word) if c.lower() in _LEETSPEAK]
    how = rng.randrange(4)
    if how == 0 and letters:
        i = rng.choice(letters)
        return word[:i] + _LEETSPEAK[word[i].lower()] + word[i + 1 :]
    if how == 1 and len(word) > 3:
        i = rng.randrange(1, len(word) - 1)
        return word[:i] + word[i] + word[i:]
    if how == 2 and len(word) > 4:
        i = rng.randrange(1, len(word) - 1)
        return word[:i] + word[i + 1 :]
    return ".".join(word)


def fill(frame: str, group: Group, rng: random.Random) -> str:
    """``frame`` with ``group`` and random nouns, traits and things; capitalised."""
    first, _, rest = group.plural.partition(" ")
    misspelt = misspell(first, rng) + (f" {rest}" if rest else "")
    text = frame.format(
        G=group.plural, S=group.singular, A=group.adjective, g=misspelt,
        N=rng.choice(NOUNS), T=rng.choice(TRAITS), O=rng.choice(THINGS),
    )  # fmt: skip
    text = _A_BEFORE_VOWEL.sub(r"\1n ", text)  # "a immigrant" -> "an immigrant"
    return text[0].upper() + text[1:]


def _fits(frame: str, group: Group) -> bool:
    return group.adjective is not None or "{A}" not in frame


def generate(seed: int = SEED) -> list[Example]:
    """Every frame filled ``PER_FRAME`` times: frames about a group with the next groups of its class's cycle,
    the others (profanity, reclaimed words) with other random words; then, for each hateful frame, some of its
    sentences quoted in a reporting or condemning frame (noHate, in the hateful frame's fold group: the same
    words on both sides of the label, so the frame around them decides)."""
    rng = random.Random(seed)
    examples: list[Example] = []
    for label, frames in ((1, HATE_FRAMES), (0, OTHER_FRAMES)):
        cycle: list[Group] = []
        wanted = PER_FRAME["hate" if label else "noHate"]
        for kind, texts in frames.items():
            for number, frame in enumerate(texts, start=1):
                group = f"frame:{kind}-{number}"
                for text in sorted(_fill_frame(frame, wanted, cycle, rng)):
                    examples.append(Example(f"frame-{len(examples) + 1}", text, label, group, contrast=True))
    for frame_group in dict.fromkeys(e.group for e in examples if e.label == 1):
        hateful = [e.text for e in examples if e.group == frame_group]
        for text in rng.sample(hateful, min(PER_FRAME["quoted"], len(hateful))):
            quoted = rng.choice(QUOTING).format(h=text.rstrip(".!?"))
            examples.append(Example(f"frame-{len(examples) + 1}", quoted, 0, frame_group, contrast=True))
    return examples


def _fill_frame(frame: str, wanted: int, cycle: list[Group], rng: random.Random) -> set[str]:
    """``wanted`` distinct fillings of ``frame``, its groups dealt from ``cycle`` (refilled, shuffled, when empty)."""
    about_a_group = re.search(r"\{[GSAg]\}", frame) is not None
    filled: set[str] = set()
    for _ in range(4 * len(GROUPS)):
        if len(filled) >= wanted:
            break
        if not about_a_group:
            filled.add(fill(frame, GROUPS[0], rng))
            continue
        if not cycle:
            cycle.extend(GROUPS)
            rng.shuffle(cycle)
        group = cycle.pop(0)
        if _fits(frame, group):
            filled.add(fill(frame, group, rng))
        else:
            cycle.append(group)
    return filled


def load_frames(seed: int = SEED) -> Dataset:
    """The generated contrast set as a dataset (examples marked ``contrast``: trained on in every epoch)."""
    examples = generate(seed)
    return Dataset(examples, LoadReport(source="contrast set", loaded=len(examples)))
