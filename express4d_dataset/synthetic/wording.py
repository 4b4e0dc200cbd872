"""The caption language's vocabulary: more ways to name each action, subjects, connectives, framings.

Real Express4D prompts are written by a language model: varied verbs and idioms, pronouns and names,
tenses, connectives and sentence shapes, three-stage sequences, emotional framing.  This module holds
that breadth as data; :mod:`.captions` assembles captions from it (and from each action's own
``templates`` in :mod:`.actions`).

**Held-out wording.**  Entries marked held out (``held_out=True`` below, :data:`HELD_OUT_CONNECTIVES`,
:data:`HELD_OUT_FRAMINGS`) never appear in a training caption; validation and test captions use them in
:data:`HELD_OUT_WORDING_SHARE` of their captions, so the prompt-following benchmark can tell language
understanding from memorised templates (as :data:`~.plan.HELD_OUT_PAIRS` does for compositions).  Every
held-out entry carries a marker (:data:`HELD_OUT_MARKERS`) that no training entry contains, so
:func:`held_out_wording` tells a held-out caption from its text alone.

Phrases are base-form verb phrases; ``their`` stands for the subject's possessive, ``{m}`` marks where
the intensity word goes (else at the end), ``{n}`` where the count goes.  Body-part clauses are
``(noun, plural, verb phrase)``: "their eyebrows" + "go up" -> "her eyebrows go up".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..arkit import mirror_caption


@dataclass(frozen=True)
class Phrase:
    text: str
    held_out: bool = False


@dataclass(frozen=True)
class Clause:
    noun: str
    plural: bool
    verb: str
    held_out: bool = False


def _p(*texts: str, held_out: tuple[str, ...] = ()) -> tuple[Phrase, ...]:
    return tuple(Phrase(t) for t in texts) + tuple(Phrase(t, True) for t in held_out)


# ------------------------------------------------------------------------------------ action phrasings
# Extra verb phrases per action (its ActionSpec.templates are used too).  One-sided actions are written
# for the left side; the right side is their mirror.
EXTRA_PHRASES: dict[str, tuple[Phrase, ...]] = {
    "smile": _p("crack a smile", "flash a smile", "break into a grin", "light up with a smile", held_out=("beam",)),
    "frown": _p("make a frown", "pull a frown", "turn down the corners of their mouth", held_out=("form a frown",)),
    "blink": _p("blink their eyelids{n}", held_out=("bat their eyelids{n}",)),
    "wink_left": _p("give a wink with their left eye", "close their left eye in a wink", held_out=("tip a wink with their left eye",)),
    "raise_brows": _p("arch their eyebrows", "lift their brows", "push their eyebrows up", held_out=("hike up their eyebrows",)),
    "furrow_brows": _p("pinch their brows together", "scrunch their brows", held_out=("crease their brow",)),
    "squint": _p("screw up their eyes", "squint their eyes nearly shut", held_out=("narrow their gaze",)),
    "widen_eyes": _p("make their eyes go wide", "open their eyes really wide", held_out=("stare wide-eyed",)),
    "open_mouth": _p("gape", "let their jaw drop", "let their mouth fall open", "drop their jaw", held_out=("unhinge their jaw",)),
    "pucker": _p("pout", "push their lips forward", "make a kissing face", held_out=("make a duck face",)),
    "puff_cheeks": _p("inflate their cheeks", "fill their cheeks with air", held_out=("balloon their cheeks",)),
    "press_lips": _p("clamp their lips together", "seal their lips", held_out=("squeeze their lips together",)),
    "sneer": _p("curl their upper lip", "wrinkle up their nose", held_out=("crinkle their nose",)),
    "tongue_out": _p("poke their tongue out", "stick their tongue out at someone", held_out=("put out their tongue",)),
    "smirk_left": _p("give a half smile on the left", "raise the left corner of their mouth", held_out=("curl the left corner of their mouth up",)),
    "raise_left_brow": _p("cock their left eyebrow", "raise just their left eyebrow", held_out=("quirk their left eyebrow",)),
    "jaw_left": _p("push their jaw{m} to the left", held_out=("swing their jaw{m} to the left",)),
    "look_left": _p("cast their eyes{m} to the left", "dart their eyes{m} to the left", held_out=("peek{m} to the left",)),
    "look_up": _p("gaze{m} upward", "look{m} up at the ceiling", held_out=("peek{m} upward",)),
    "look_down": _p("gaze{m} downward", "look{m} down at the floor", held_out=("peek{m} downward",)),
    "roll_eyes": _p("do an eye roll", "roll their eyes upward", held_out=("give an eye roll",)),
    "nod": _p("nod in agreement{n}", "nod yes{n}", held_out=("bob their head{n}",)),
    "shake_head": _p("shake their head from side to side", held_out=("give a head shake",)),
    "tilt_head_left": _p("tip their head{m} to the left", held_out=("incline their head{m} to the left",)),
    "close_eyes": _p("let their eyes fall shut", "close their eyelids", held_out=("let their eyes drift shut",)),
    "bare_teeth": _p("flash their teeth", held_out=("expose their teeth",)),
    "look_surprised": _p("look{m} astonished", "look{m} shocked", held_out=("look{m} startled",)),
    "look_sad": _p("look{m} downcast", "look{m} sorrowful", held_out=("look{m} gloomy",)),
    "look_angry": _p("look{m} mad", "glare", held_out=("look{m} irritated",)),
    "look_disgusted": _p("look{m} grossed out", held_out=("look{m} repulsed",)),
}

# Body-part-first clauses ("her brows go up"), used when a step is written as a clause of its own.
CLAUSES: dict[str, tuple[Clause, ...]] = {
    "smile": (Clause("a smile", False, "spread across their face"), Clause("the corners of their mouth", True, "turn up"),
              Clause("a grin", False, "creep across their face", True)),
    "frown": (Clause("their mouth", False, "turn down into a frown"), Clause("the corners of their mouth", True, "drop into a frown")),
    "raise_brows": (Clause("their eyebrows", True, "go up"), Clause("their brows", True, "rise"),
                    Clause("their eyebrows", True, "shoot up", True)),
    "furrow_brows": (Clause("their brows", True, "knit together"), Clause("their eyebrows", True, "draw together")),
    "squint": (Clause("their eyes", True, "narrow"),),
    "widen_eyes": (Clause("their eyes", True, "go wide"), Clause("their eyes", True, "widen")),
    "open_mouth": (Clause("their jaw", False, "drop open"), Clause("their mouth", False, "hang open", True)),
    "puff_cheeks": (Clause("their cheeks", True, "puff out"), Clause("their cheeks", True, "fill with air")),
    "sneer": (Clause("their nose", False, "wrinkle"),),
    "raise_left_brow": (Clause("their left eyebrow", False, "go up"),),
    "look_left": (Clause("their eyes", True, "move{m} to the left"), Clause("their gaze", False, "drift{m} to the left")),
    "look_up": (Clause("their eyes", True, "go{m} up"), Clause("their gaze", False, "drift{m} upward")),
    "look_down": (Clause("their eyes", True, "turn{m} down"), Clause("their gaze", False, "drift{m} downward")),
    "roll_eyes": (Clause("their eyes", True, "roll"),),
    "tilt_head_left": (Clause("their head", False, "tilt{m} to the left"),),
    "close_eyes": (Clause("their eyes", True, "close"), Clause("their eyelids", True, "shut")),
}

# "give a small smile": actions that also read as a noun with an intensity adjective.
NOUN_PHRASES: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "smile": ("give a {a}smile", {"slight": ("tiny ", "faint ", "small "), "soft": ("soft ", "gentle "),
                                  "normal": ("",), "strong": ("big ", "broad ", "huge ")}),
    "frown": ("give a {a}frown", {"slight": ("slight ", "small "), "soft": ("soft ", "mild "),
                                  "normal": ("",), "strong": ("deep ", "heavy ")}),
    "nod": ("give a {a}nod", {"slight": ("slight ", "small "), "soft": ("gentle ",), "normal": ("",),
                              "strong": ("firm ", "vigorous ")}),
    "roll_eyes": ("do a {a}roll of the eyes", {"slight": ("subtle ", "slight "), "normal": ("",), "strong": ("dramatic ", "big ")}),
}

EXTRA_INTENSITY_WORDS = {"slight": ("a bit", "faintly"), "soft": ("mildly",), "strong": ()}
"""Added to every action's own intensity words (not for emotions, whose words precede an adjective)."""

FRAMINGS: dict[str, tuple[Phrase, ...]] = {
    "smile": _p("as if they just heard good news", "as though something amused them", held_out=("as if greeting an old friend",)),
    "look_surprised": _p("as if they just heard shocking news", "as though something caught them off guard"),
    "look_sad": _p("as if they just heard bad news", "as though remembering something sad"),
    "look_angry": _p("as if someone insulted them",),
    "look_disgusted": _p("as if they smelled something bad", "as though tasting something sour",
                         held_out=("as if someone offered them spoiled milk",)),
    "roll_eyes": _p("in exasperation", "as if bored"),
    "frown": _p("as if disappointed",),
    "furrow_brows": _p("as if confused", "in concentration"),
    "shake_head": _p("in disbelief",),
    "raise_brows": _p("in curiosity",),
}
"""Emotional framing after an action ("smiles as if they just heard good news")."""


# ------------------------------------------------------------------------------------ subjects
@dataclass(frozen=True)
class Subject:
    noun: str  # "A person", "She", "Maria"
    possessive: str  # "their", "her"
    pronoun: str  # how a later clause refers to them
    plural: bool = False  # "they" agrees as a plural


SUBJECTS: tuple[tuple[Subject, float], ...] = (
    (Subject("A person", "their", "they"), 3.0), (Subject("The person", "their", "they"), 2.0),
    (Subject("Someone", "their", "they"), 1.0),
    (Subject("A woman", "her", "she"), 1.0), (Subject("A man", "his", "he"), 1.0),
    (Subject("The woman", "her", "she"), 0.5), (Subject("The man", "his", "he"), 0.5),
    (Subject("She", "her", "she"), 1.0), (Subject("He", "his", "he"), 1.0), (Subject("They", "their", "they", True), 0.5),
    (Subject("The actor", "their", "they"), 0.3), (Subject("The performer", "their", "they"), 0.3),
    (Subject("Maria", "her", "she"), 0.3), (Subject("James", "his", "he"), 0.3), (Subject("Aiko", "her", "she"), 0.3),
    (Subject("Omar", "his", "he"), 0.3),
)


# ------------------------------------------------------------------------------------ connectives
# Slots: {S} the subject, {s} the subject lower-cased unless a name/pronoun, {A} {B} {C} finite verb phrases
# (subject agreement and tense applied), {a_ing} ... gerunds, {b_base} base forms, {CA} {CB} {CC} whole
# clauses (the first with the subject, later ones with its pronoun, or a body-part clause), {start}/{end}
# "starts"/"ends" in the caption's tense.
TWO_STEP: tuple[str, ...] = (
    "{S} {A} and then {B}",
    "{S} {A}, then {B}",
    "{S} {A}, and then {B}",
    "{S} first {A}, then {B}",
    "First, {CA}; then {CB}",
    "After {a_ing}, {s} {B}",
    "{S} {A} before {b_ing}",
    "{CA}. Then {CB}.",
    "{CA}. After that, {CB}.",
    "{CA}; afterwards, {CB}",
    "{S} {A}, followed by {b_ing}",
    "{S} {start} by {a_ing} and {end} by {b_ing}",
    "{S} {B} after {a_ing}",
    "Before {b_ing}, {s} {A}",
    "{CA}, and next {CB}",
    "{S} {A}, then {go} on to {b_base}",
)
THREE_STEP: tuple[str, ...] = (
    "{S} {A}, then {B}, and finally {C}",
    "{S} {A}, {B}, and then {C}",
    "{S} first {A}, then {B}, and finally {C}",
    "{S} {A}, then {B}, and then {C}",
    "{CA}. Then {CB}. Finally, {CC}.",
    "{S} {start} by {a_ing}, then {B}, and {end} by {c_ing}",
    "First, {CA}; next, {CB}; finally, {CC}.",
    "{CA}, after that {CB}, and lastly {CC}",
)
HELD_OUT_CONNECTIVES: dict[int, tuple[str, ...]] = {
    2: ("{CA}, after which {CB}", "{S} {A} and subsequently {B}", "{CA}, and once that's done, {CB}",
        "{S} {A} before moving on to {b_ing}"),
    3: ("{CA}, after which {CB}, and to finish, {CC}", "{S} {A}, subsequently {B}, and at last {C}"),
}
"""Sentence shapes used only in validation/test captions."""
HELD_OUT_FRAMINGS = tuple(p.text for ps in FRAMINGS.values() for p in ps if p.held_out)

HELD_OUT_WORDING_SHARE = 0.4
"""Share of validation/test captions written with at least one held-out phrasing or connective."""

_CONNECTIVE_MARKERS = ("after which", "subsequently", "once that's done", "moving on to", "to finish", "at last")


def _words_pattern(text: str, verb_at: int = 0) -> str:
    """A regex finding ``text``'s words in order in any verb form, with any possessive and up to three words
    (an intensity or speed word such as "all the way") between them."""
    words = [w for w in text.replace("{m}", "").replace("{n}", "").split() if w]
    gap = r"\W+(?:[\w']+\W+){0,3}?"
    parts = []
    for i, word in enumerate(words):
        if word == "their":
            parts.append(r"(?:their|his|her)")
        elif i == verb_at:
            forms = sorted({word, verb_s(word), verb_ing(word), verb_past(word)})
            parts.append("(?:" + "|".join(re.escape(f) for f in forms) + ")")
        else:
            parts.append(re.escape(word))
    return r"\b" + gap.join(parts) + r"\b"


def _held_out_patterns() -> list[re.Pattern]:
    patterns: list[str] = [r"\b" + re.escape(m) + r"\b" for m in _CONNECTIVE_MARKERS]
    for key in EXTRA_PHRASES:
        for phrase in EXTRA_PHRASES[key]:
            if phrase.held_out:
                patterns += [_words_pattern(phrase.text), _words_pattern(mirror_caption(phrase.text))]
    for clauses in CLAUSES.values():
        for c in clauses:
            if c.held_out:
                patterns.append(_words_pattern(c.noun.split()[-1] + " " + c.verb, verb_at=1))
    patterns += [_words_pattern(f) for f in HELD_OUT_FRAMINGS]
    return [re.compile(p, re.IGNORECASE) for p in sorted(set(patterns))]


_PAST = {  # irregular (or doubled) past forms of the verbs the captions use
    "break": "broke", "give": "gave", "make": "made", "put": "put", "stick": "stuck", "blow": "blew", "shake": "shook",
    "draw": "drew", "slide": "slid", "shut": "shut", "let": "let", "go": "went", "fall": "fell", "shoot": "shot",
    "spread": "spread", "light": "lit", "rise": "rose", "drop": "dropped", "grin": "grinned", "nod": "nodded",
    "knit": "knitted", "bob": "bobbed", "tip": "tipped", "dart": "darted", "quirk": "quirked", "swing": "swung",
    "do": "did", "flash": "flashed", "hike": "hiked", "stare": "stared", "pout": "pouted", "seal": "sealed",
    "poke": "poked", "curl": "curled", "cast": "cast", "glare": "glared", "clamp": "clamped", "crack": "cracked",
    "pull": "pulled", "pinch": "pinched", "screw": "screwed", "squeeze": "squeezed", "fill": "filled",
    "creep": "crept", "inflate": "inflated", "balloon": "ballooned", "crinkle": "crinkled", "crease": "creased", "bat": "batted",
    "pucker": "puckered", "peek": "peeked", "expose": "exposed", "unhinge": "unhinged", "incline": "inclined",
    "wrinkle": "wrinkled", "scrunch": "scrunched", "hang": "hung", "win": "won", "begin": "began", "relax": "relaxed",
    "return": "returned", "start": "started", "end": "ended",
}
_ING_EXCEPTIONS = {"nod": "nodding", "grin": "grinning", "knit": "knitting", "shut": "shutting", "drop": "dropping",
                   "bob": "bobbing", "tip": "tipping", "bat": "batting", "put": "putting", "let": "letting", "get": "getting"}


def verb_s(verb: str) -> str:
    """Third person singular present: "smile" -> "smiles", "furrow" -> "furrows", "do" -> "does"."""
    if verb in ("do", "go"):
        return verb + "es"
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def verb_ing(verb: str) -> str:
    if verb in _ING_EXCEPTIONS:
        return _ING_EXCEPTIONS[verb]
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith("ee") and verb != "be":
        return verb[:-1] + "ing"
    return verb + "ing"


def verb_past(verb: str) -> str:
    if verb in _PAST:
        return _PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"

HELD_OUT_PATTERNS = _held_out_patterns()
HELD_OUT_MARKERS = tuple(p.pattern for p in HELD_OUT_PATTERNS)
"""The regular expressions :func:`held_out_wording` looks for (held-out connectives, phrasings, framings)."""


@functools.lru_cache(maxsize=65536)  # the benchmark asks once per caption and replication
def held_out_wording(caption: str) -> bool:
    """True when ``caption`` uses a held-out phrasing, connective or framing (never true of a train caption)."""
    return any(p.search(caption) for p in HELD_OUT_PATTERNS)


def phrases_for(key: str, *, held_out: bool | None) -> tuple[Phrase, ...]:
    """The extra phrasings of an action (mirrored for right-side actions); ``held_out`` True/False filters."""
    phrases = EXTRA_PHRASES.get(key)
    if phrases is None and "right" in key:
        phrases = tuple(Phrase(mirror_caption(p.text), p.held_out) for p in EXTRA_PHRASES.get(key.replace("right", "left"), ()))
    phrases = phrases or ()
    return tuple(p for p in phrases if held_out is None or p.held_out == held_out)


def clauses_for(key: str, *, held_out: bool | None) -> tuple[Clause, ...]:
    clauses = CLAUSES.get(key)
    if clauses is None and "right" in key:
        clauses = tuple(Clause(mirror_caption(c.noun), c.plural, mirror_caption(c.verb), c.held_out)
                        for c in CLAUSES.get(key.replace("right", "left"), ()))
    clauses = clauses or ()
    return tuple(c for c in clauses if held_out is None or c.held_out == held_out)


def framings_for(key: str, *, held_out: bool | None) -> tuple[Phrase, ...]:
    return tuple(p for p in FRAMINGS.get(key, ()) if held_out is None or p.held_out == held_out)
