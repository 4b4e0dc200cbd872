"""Captions of a take: paraphrases in the corpus's style that name every action with its modifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .actions import SPEED_WORDS
from .plan import ActionEvent, TakePlan, pick

_COUNT_WORDS = {1: ("", " once"), 2: (" twice", " two times"), 3: (" three times", " a few times")}
_ING_EXCEPTIONS = {"nod": "nodding", "grin": "grinning", "knit": "knitting", "shut": "shutting", "drop": "dropping"}
_S_SUBJECTS = ("The person", "A person", "Someone", "The person", "A person")
_ING_SUBJECTS = ("A person is", "The person is", "Someone is", "A person is")
_RELAX = {
    "s": (" and then relaxes their face", ", then returns to a neutral expression", " and then relaxes"),
    "ing": (" and then relaxing their face", ", then returning to a neutral expression", " and then relaxing"),
}


def _verb_s(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _verb_ing(verb: str) -> str:
    if verb in _ING_EXCEPTIONS:
        return _ING_EXCEPTIONS[verb]
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith("ee"):
        return verb[:-1] + "ing"
    return verb + "ing"


def _conjugate(phrase: str, form: str) -> str:
    verb, _, rest = phrase.partition(" ")
    if form == "s":
        verb = _verb_s(verb)
    elif form == "ing":
        verb = _verb_ing(verb)
    return verb + (" " + rest if rest else "")


@dataclass
class _Phrase:
    """An action's verb phrase with its modifiers, conjugated on demand."""

    pre: str  # adverb before the verb ("slowly")
    body: str  # base-form verb phrase with intensity/count filled in
    post: str  # words after it ("widely and slowly")

    def form(self, form: str) -> str:
        text = _conjugate(self.body, form) + (" " + self.post if self.post else "")
        return (self.pre + " " + text) if self.pre else text


def _phrase(rng, event: ActionEvent) -> _Phrase:
    spec = event.spec
    templates = list(spec.templates) + (list(spec.fixed_templates) if event.intensity == "normal" else [])
    body = pick(rng, templates)
    post: list[str] = []
    if "{n}" in body:
        body = body.replace("{n}", pick(rng, _COUNT_WORDS[event.count]))
    word = pick(rng, spec.intensity_words(event.intensity)) if event.intensity != "normal" else ""
    if "{m}" in body:
        body = body.replace("{m}", " " + word if word else "")
    elif word:
        post.append(word)
    pre = ""
    if event.speed != "normal":
        sw = pick(rng, SPEED_WORDS[event.speed])
        if " " not in sw and (rng.random() < 0.5 or any(" " in w for w in post)):
            pre = sw
        else:
            post.append(sw)
    return _Phrase(pre=pre, body=body, post=" and ".join(post))


@dataclass
class _StepWords:
    """The words drawn for one step: one phrase, or a pair with how it is joined ("while", ...)."""

    phrases: list[_Phrase]
    pattern: str | None = None

    def text(self, form: str) -> str:
        if len(self.phrases) == 1:
            return self.phrases[0].form(form)
        p, b = self.phrases
        if self.pattern == "while":
            return f"{p.form(form)} while {b.form('ing')}"
        if self.pattern == "same_time":
            return f"{p.form(form)} and {b.form(form)} at the same time"
        return f"{p.form(form)} as they {b.form('base')}"


def _draw_step(rng, step: list[ActionEvent], form: str) -> _StepWords:
    if len(step) == 1:
        return _StepWords([_phrase(rng, step[0])])
    phrases = [_phrase(rng, step[0]), _phrase(rng, step[1])]
    return _StepWords(phrases, pick(rng, ["while", "same_time", "as_they"] if form == "s" else ["while", "same_time"]))


@dataclass
class _CaptionDraw:
    """Every random choice of one caption, so that it can be written in another step order."""

    style: str
    subject: str
    steps: list[_StepWords]
    join: str = ""
    tail: str = ""

    def render(self, order: list[int]) -> str:
        steps = [self.steps[i] for i in order]
        if self.style == "first":
            text = f"{self.subject} first {steps[0].text('s')}, then {steps[1].text('s')}"
        elif self.style == "after":
            text = f"After {steps[0].text('ing')}, {self.subject.lower()} {steps[1].text('s')}"
        elif self.style == "before":
            text = f"{self.subject} {steps[0].text('s')} before {steps[1].text('ing')}"
        else:
            parts = [step.text(self.style) for step in steps]
            body = self.join.format(*parts) if len(parts) > 1 else parts[0]
            text = f"{self.subject} {body}{self.tail}"
        text = re.sub(r"\s+", " ", text).strip()
        return text[0].upper() + text[1:]


def _draw_caption(rng, plan: TakePlan) -> _CaptionDraw:
    steps = plan.steps
    style = pick(rng, ["s", "ing", "first", "after", "before"], p=[0.38, 0.38, 0.1, 0.07, 0.07])
    if style in ("first", "after", "before") and len(steps) != 2:
        style = "s"
    forms = {"first": ["s", "s"], "after": ["ing", "s"], "before": ["s", "ing"]}.get(style, [style] * len(steps))
    words = [_draw_step(rng, step, form) for step, form in zip(steps, forms)]
    if style in ("first", "after", "before"):
        return _CaptionDraw(style, pick(rng, _S_SUBJECTS), words)
    join = ""
    if len(steps) == 2:
        join = pick(rng, ["{0} and then {1}", "{0}, then {1}", "{0}, and then {1}"])
    elif len(steps) == 3:
        join = pick(rng, ["{0}, then {1}, and then {2}", "{0}, {1}, and then {2}", "{0}, then {1}, and finally {2}"])
    subject = pick(rng, _S_SUBJECTS if style == "s" else _ING_SUBJECTS)
    tail = ""
    if len(steps) < 3 and rng.random() < 0.2:
        tail = pick(rng, _RELAX[style])
        if len(steps) > 1 or len(steps[0]) > 1:
            tail = "," + tail if tail.startswith(" and") else tail
    return _CaptionDraw(style, subject, words, join, tail)


def caption_plan(rng: np.random.Generator, plan: TakePlan, num_captions: int | None = None) -> list[str]:
    """Paraphrased captions (3-5 unless ``num_captions``), all naming every action with its modifiers."""
    return [caption for caption, _ in caption_plan_with_swaps(rng, plan, num_captions)]


def caption_plan_with_swaps(rng: np.random.Generator, plan: TakePlan, num_captions: int | None = None) -> list[tuple[str, str | None]]:
    """Like :func:`caption_plan`, each caption paired with the same words describing the steps in reverse
    order ("X and then Y" -> "Y and then X"), or None for a take of one step.  The swapped captions are
    the order-swap test of the evaluator and its hard negatives in training."""
    n = int(rng.integers(3, 6)) if num_captions is None else int(num_captions)
    order = list(range(len(plan.steps)))
    pairs: list[tuple[str, str | None]] = []
    for _ in range(20 * n):
        draw = _draw_caption(rng, plan)
        text = draw.render(order)
        if text not in (c for c, _ in pairs):
            pairs.append((text, draw.render(order[::-1]) if len(order) > 1 else None))
        if len(pairs) == n:
            break
    return pairs
