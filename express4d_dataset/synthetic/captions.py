"""Captions of a take: paraphrases as varied as LLM-written prompts, each naming every action with its modifiers.

A caption is drawn once (subject, tense, sentence shape, the words of each step) and rendered in the
take's step order, or in reverse order for the evaluator's order-swap test.  The vocabulary is in
:mod:`.wording`; ``split="train"`` never uses its held-out entries, validation and test captions use them
in :data:`~.wording.HELD_OUT_WORDING_SHARE` of their captions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .actions import SPEED_WORDS
from .plan import ActionEvent, TakePlan, pick
from .wording import (
    HELD_OUT_CONNECTIVES,
    HELD_OUT_WORDING_SHARE,
    NOUN_PHRASES,
    SUBJECTS,
    THREE_STEP,
    TWO_STEP,
    EXTRA_INTENSITY_WORDS,
    Clause,
    Subject,
    clauses_for,
    framings_for,
    phrases_for,
    verb_ing,
    verb_past,
    verb_s,
)

_COUNT_WORDS = {1: ("", " once"), 2: (" twice", " two times"), 3: (" three times", " a few times")}
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
_NAMES = ("Maria", "James", "Aiko", "Omar")
_OBJECT = {"they": "them", "she": "her", "he": "him"}
_TENSES = ("s", "ing", "past")
_TENSE_P = (0.45, 0.35, 0.2)
_EMOTIONS = ("look_surprised", "look_sad", "look_angry", "look_disgusted")
_ING_SUBJECTS = ("A person", "The person", "Someone")
_RELAX = ("relax their face", "return to a neutral expression", "relax")


def _conjugate(phrase: str, form: str) -> str:
    verb, _, rest = phrase.partition(" ")
    verb = {"s": verb_s, "ing": verb_ing, "past": verb_past}.get(form, lambda v: v)(verb)
    return verb + (" " + rest if rest else "")


def _finite(phrase: str, tense: str, plural: bool) -> str:
    """``phrase`` (base form) as the verb of a clause whose subject is singular or plural."""
    if tense == "ing":
        return ("are " if plural else "is ") + _conjugate(phrase, "ing")
    if tense == "s" and plural:
        return phrase
    return _conjugate(phrase, tense)


@dataclass
class _Phrase:
    """An action's verb phrase (or body-part clause) with its modifiers, conjugated on demand."""

    pre: str  # adverb before the verb ("slowly")
    body: str  # base-form verb phrase with intensity/count filled in
    post: str  # words after it ("widely and slowly")
    clause: Clause | None = None  # set: the step reads as "their eyebrows go up"

    def form(self, form: str) -> str:
        """``base`` / ``s`` / ``ing`` / ``past`` verb phrase (a body-part clause falls back to its action verb)."""
        text = _conjugate(self.body, form) + (" " + self.post if self.post else "")
        return (self.pre + " " + text) if self.pre else text

    def finite(self, tense: str, plural: bool) -> str:
        text = _finite(self.body, tense, plural) + (" " + self.post if self.post else "")
        if self.pre:
            head, _, rest = text.partition(" ") if tense == "ing" else ("", "", text)
            text = f"{head} {self.pre} {rest}".strip()
        return text


def _intensity_words(spec, level: str) -> tuple[str, ...]:
    words = tuple(spec.intensity_words(level))
    if spec.key not in _EMOTIONS and not any("{m}" in t for t in spec.templates):
        words += EXTRA_INTENSITY_WORDS.get(level, ())
    return words


def intensity_expressions(key: str, level: str) -> tuple[str, ...]:
    """Every word a caption may use for ``level`` of action ``key``: adverbs ("softly", "a bit") and the
    adjectives of its noun phrase ("a gentle smile"); empty for ``normal``."""
    from .actions import ACTIONS

    if level == "normal":
        return ()
    spec = ACTIONS[key]
    adjectives = NOUN_PHRASES.get(key, ("", {}))[1].get(level, ())
    return tuple(dict.fromkeys(_intensity_words(spec, level) + tuple(a.strip() for a in adjectives if a.strip())))


def _time_words(event: ActionEvent) -> str:
    seconds = int(round(event.duration))
    return f"for about {_NUMBER_WORDS[seconds]} second{'s' if seconds > 1 else ''}" if seconds in _NUMBER_WORDS else ""


def _phrase(rng, event: ActionEvent, held_out: bool, allow_clause: bool, *, force_held_out: bool = False) -> _Phrase:
    """One action's words.  ``held_out``: held-out entries may be drawn; ``force_held_out``: one must be."""
    spec = event.spec
    extra = phrases_for(event.key, held_out=False)
    ho_phrases = phrases_for(event.key, held_out=True) if held_out else ()
    clauses = clauses_for(event.key, held_out=False) if allow_clause and event.speed != "brief" else ()
    ho_clauses = clauses_for(event.key, held_out=True) if allow_clause and held_out else ()
    framings = framings_for(event.key, held_out=False)
    ho_framings = framings_for(event.key, held_out=True) if held_out else ()
    clause = None
    framing_forced = False
    noun = None
    if force_held_out:
        kinds = [k for k, v in (("phrase", ho_phrases), ("clause", ho_clauses), ("framing", ho_framings)) if v]
        kind = pick(rng, kinds)
        if kind == "phrase":
            body = pick(rng, [p.text for p in ho_phrases])
        elif kind == "clause":
            clause = ho_clauses[int(rng.integers(len(ho_clauses)))]
            body = clause.verb
        else:
            body = pick(rng, list(spec.templates) + [p.text for p in extra])
            framings, framing_forced = ho_framings, True
    else:
        templates = list(spec.templates) + (list(spec.fixed_templates) if event.intensity == "normal" else [])
        templates += [p.text for p in extra]
        if clauses and rng.random() < 0.3:
            clause = clauses[int(rng.integers(len(clauses)))]
            body = clause.verb
        elif event.key in NOUN_PHRASES and event.intensity in NOUN_PHRASES[event.key][1] and rng.random() < 0.15:
            template, adjectives = NOUN_PHRASES[event.key]
            body = template.replace("{a}", pick(rng, adjectives[event.intensity]))
            noun = True
        else:
            body = pick(rng, templates)
    post: list[str] = []
    if "{n}" in body:
        body = body.replace("{n}", pick(rng, _COUNT_WORDS[event.count]))
    elif event.count > 1 and spec.kind in ("blink", "nod"):
        post.append(pick(rng, _COUNT_WORDS[event.count]).strip())
    word = pick(rng, _intensity_words(spec, event.intensity)) if event.intensity != "normal" and not noun else ""
    if "{m}" in body:
        body = body.replace("{m}", " " + word if word else "")
    elif word:
        post.append(word)
    pre = ""
    if event.speed != "normal":
        sw = pick(rng, SPEED_WORDS[event.speed])
        if clause is None and " " not in sw and (rng.random() < 0.5 or any(" " in w for w in post)):
            pre = sw
        else:
            post.append(sw)
    after: list[str] = []  # time words and framing follow the modifiers without an "and"
    if spec.kind == "hold" and event.speed != "brief" and event.duration >= 1.5 and rng.random() < 0.08:
        after.append(_time_words(event))
    if framing_forced or (framings and rng.random() < 0.1):
        after.append(pick(rng, [p.text for p in framings]))
    return _Phrase(pre=pre, body=body, post=" ".join(w for w in [" and ".join(p for p in post if p)] + after if w), clause=clause)


@dataclass
class _StepWords:
    """The words drawn for one step: one phrase, or a pair with how it is joined ("while", ...)."""

    phrases: list[_Phrase]
    pattern: str | None = None

    def text(self, form: str) -> str:
        """Non-finite forms: ``base`` / ``ing`` (a pair reads "X while Y-ing")."""
        if len(self.phrases) == 1:
            return self.phrases[0].form(form)
        p, b = self.phrases
        if self.pattern == "same_time":
            return f"{p.form(form)} and {b.form(form)} at the same time"
        if self.pattern == "also":
            return f"{p.form(form)} while also {b.form('ing')}"
        return f"{p.form(form)} while {b.form('ing')}"

    def finite(self, tense: str, subject: Subject) -> str:
        """The verb phrase agreeing with ``subject`` (no subject word)."""
        if len(self.phrases) == 1:
            return self.phrases[0].finite(tense, subject.plural)
        p, b = self.phrases
        first = p.finite(tense, subject.plural)
        if self.pattern == "same_time":
            second = b.form("ing") if tense == "ing" else b.finite(tense, subject.plural)
            return f"{first} and {second} at the same time"
        if self.pattern == "as_they":
            return f"{first} as {subject.pronoun} {b.finite('s' if tense == 'ing' else tense, subject.plural or subject.pronoun == 'they')}"
        if self.pattern == "also":
            return f"{first} while also {b.form('ing')}"
        return f"{first} while {b.form('ing')}"

    def clause(self, tense: str, subject_text: str, subject: Subject) -> str:
        """A whole clause: a body-part clause ("her eyebrows go up") or the subject and its verb phrase."""
        if len(self.phrases) == 1 and self.phrases[0].clause is not None:
            c, p = self.phrases[0].clause, self.phrases[0]
            verb = _finite(p.body, tense, c.plural) + (" " + p.post if p.post else "")
            return f"{c.noun} {verb}"
        return f"{subject_text} {self.finite(tense, subject)}"


def _draw_step(rng, step: list[ActionEvent], held_out: bool, allow_clause: bool, force: bool) -> _StepWords:
    if len(step) == 1:
        return _StepWords([_phrase(rng, step[0], held_out, allow_clause, force_held_out=force)])
    phrases = [_phrase(rng, step[0], held_out, False, force_held_out=force), _phrase(rng, step[1], held_out, False)]
    return _StepWords(phrases, pick(rng, ["while", "same_time", "as_they", "also"]))


def _lower(subject: Subject) -> str:
    if subject.noun in _NAMES:
        return subject.noun
    return subject.noun[0].lower() + subject.noun[1:]


@dataclass
class _CaptionDraw:
    """Every random choice of one caption, so that it can be written in another step order."""

    template: str
    subject: Subject
    tense: str
    steps: list[_StepWords]
    tail: str = ""

    def render(self, order: list[int]) -> str:
        steps = [self.steps[i] for i in order]
        subj, tense = self.subject, self.tense
        pron = Subject(subj.pronoun, subj.possessive, subj.pronoun, subj.pronoun == "they")
        letters = "abc"
        slots = {"S": subj.noun, "s": _lower(subj)}
        simple = tense if tense != "ing" else "s"
        slots["start"] = _finite("start", simple, subj.plural)
        slots["end"] = _finite("end", simple, subj.plural)
        slots["go"] = _finite("go", simple, subj.plural)
        first_clause_at_start = self.template.startswith("{C")
        # "A person is smiling and then raising ...": in the progressive only a verb right after its subject
        # takes the auxiliary; later verbs of the same sentence share it
        template = re.sub(r"(\{[Ss]\} (?:first )?)\{([ABC])\}", r"\1{\2_aux}", self.template)
        for i, step in enumerate(steps):
            up = letters[i].upper()
            slots[f"{up}_aux"] = step.finite(tense, subj)
            slots[up] = re.sub(r"^(is|are) ", "", slots[f"{up}_aux"]) if tense == "ing" else slots[f"{up}_aux"]
            slots[f"{letters[i]}_ing"] = step.text("ing")
            slots[f"{letters[i]}_base"] = step.text("base")
            if i == 0:
                slots[f"C{up}"] = step.clause(tense, subj.noun if first_clause_at_start else _lower(subj), subj)
            else:
                slots[f"C{up}"] = step.clause(tense, subj.pronoun, pron)
        text = template.format(**slots) + self.tail
        text = re.sub(r"\bthey\b", subj.pronoun, text)
        text = re.sub(r"\bthem\b", _OBJECT[subj.pronoun], text)
        text = re.sub(r"\btheir\b", subj.possessive, text)
        if subj.pronoun == "they":  # "they" agrees as a plural in a later clause
            text = re.sub(r"\bthey (is|was)\b", lambda m: "they " + {"is": "are", "was": "were"}[m.group(1)], text)
        text = re.sub(r"\s+", " ", text).strip()
        text = re.sub(r"\bfirst (is|are) ", r"\1 first ", text)
        text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
        return text[0].upper() + text[1:]


def _draw_caption(rng, plan: TakePlan, held_out: bool, force_held_out: bool) -> _CaptionDraw:
    steps = plan.steps
    n = len(steps)
    subjects, weights = zip(*SUBJECTS)
    weights = np.asarray(weights) / np.sum(weights)
    subject = subjects[int(rng.choice(len(subjects), p=weights))]
    tense = _TENSES[int(rng.choice(3, p=_TENSE_P))]
    if tense == "ing" and rng.random() < 0.5:  # the corpus's own "A person is ..." stays common
        noun = pick(rng, list(_ING_SUBJECTS))
        subject = next(s for s, _ in SUBJECTS if s.noun == noun)
    # which held-out element a forced caption carries: a connective, or one step's words
    force_step = None
    templates = {1: ("{S} {A}", "{CA}"), 2: TWO_STEP, 3: THREE_STEP}[n]
    if force_held_out:
        if n in HELD_OUT_CONNECTIVES and rng.random() < 0.5:
            templates = HELD_OUT_CONNECTIVES[n]
        else:
            force_step = int(rng.integers(n))
    template = pick(rng, list(templates)) if n > 1 else ("{CA}" if rng.random() < 0.25 else "{S} {A}")
    if "{start}" in template or "{go}" in template:
        tense = "s" if tense == "ing" else tense
    allow_clause = re.search(r"\{C[ABC]\}", template) is not None
    words = [_draw_step(rng, step, held_out, allow_clause, i == force_step) for i, step in enumerate(steps)]
    tail = ""
    if n < 3 and "{S} {A}" in template and template.endswith(("{A}", "{B}")) and rng.random() < 0.15:
        relax = pick(rng, list(_RELAX))
        verb = _conjugate(relax, "ing") if tense == "ing" else _finite(relax, tense, subject.plural)
        tail = (", " if n > 1 or len(steps[0]) > 1 else " ") + "and then " + verb
    return _CaptionDraw(template, subject, tense, words, tail)


def caption_plan(rng: np.random.Generator, plan: TakePlan, num_captions: int | None = None, split: str | None = None) -> list[str]:
    """Paraphrased captions (3-5 unless ``num_captions``), all naming every action with its modifiers."""
    return [caption for caption, _ in caption_plan_with_swaps(rng, plan, num_captions, split)]


def caption_plan_with_swaps(rng: np.random.Generator, plan: TakePlan, num_captions: int | None = None,
                            split: str | None = None) -> list[tuple[str, str | None]]:
    """Like :func:`caption_plan`, each caption paired with the same words describing the steps in reverse
    order ("X and then Y" -> "Y and then X"), or None for a take of one step.  The swapped captions are
    the order-swap test of the evaluator and its hard negatives in training.

    ``split``: ``"train"`` never uses held-out wording (:mod:`.wording`); ``"test"`` / ``"validation"`` write
    :data:`~.wording.HELD_OUT_WORDING_SHARE` of their captions with at least one held-out entry and the rest
    with training wording only; None writes training wording only (as for composed training takes).
    """
    n = int(rng.integers(3, 6)) if num_captions is None else int(num_captions)
    order = list(range(len(plan.steps)))
    pairs: list[tuple[str, str | None]] = []
    evaluation = split in ("test", "validation")
    for _ in range(20 * n):
        force = evaluation and rng.random() < HELD_OUT_WORDING_SHARE
        draw = _draw_caption(rng, plan, held_out=force, force_held_out=force)
        text = draw.render(order)
        if text not in (c for c, _ in pairs):
            pairs.append((text, draw.render(order[::-1]) if len(order) > 1 else None))
        if len(pairs) == n:
            break
    return pairs
