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


def _step_text(rng, step: list[ActionEvent], form: str) -> str:
    if len(step) == 1:
        return _phrase(rng, step[0]).form(form)
    p, b = _phrase(rng, step[0]), _phrase(rng, step[1])
    if form == "s":
        pattern = pick(rng, ["while", "same_time", "as_they"])
    else:
        pattern = pick(rng, ["while", "same_time"])
    if pattern == "while":
        return f"{p.form(form)} while {b.form('ing')}"
    if pattern == "same_time":
        return f"{p.form(form)} and {b.form(form)} at the same time"
    return f"{p.form(form)} as they {b.form('base')}"


def _join_sequence(rng, parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return pick(rng, ["{0} and then {1}", "{0}, then {1}", "{0}, and then {1}"]).format(*parts)
    patterns = ["{0}, then {1}, and then {2}", "{0}, {1}, and then {2}", "{0}, then {1}, and finally {2}"]
    return pick(rng, patterns).format(*parts)


def _caption(rng, plan: TakePlan) -> str:
    steps = plan.steps
    style = pick(rng, ["s", "ing", "first", "after", "before"], p=[0.38, 0.38, 0.1, 0.07, 0.07])
    if style in ("first", "after", "before") and len(steps) != 2:
        style = "s"
    if style == "first":
        first, second = _step_text(rng, steps[0], "s"), _step_text(rng, steps[1], "s")
        text = f"{pick(rng, _S_SUBJECTS)} first {first}, then {second}"
    elif style == "after":
        first, second = _step_text(rng, steps[0], "ing"), _step_text(rng, steps[1], "s")
        text = f"After {first}, {pick(rng, _S_SUBJECTS).lower()} {second}"
    elif style == "before":
        text = f"{pick(rng, _S_SUBJECTS)} {_step_text(rng, steps[0], 's')} before {_step_text(rng, steps[1], 'ing')}"
    else:
        body = _join_sequence(rng, [_step_text(rng, step, style) for step in steps])
        subject = pick(rng, _S_SUBJECTS if style == "s" else _ING_SUBJECTS)
        text = f"{subject} {body}"
        if len(steps) < 3 and rng.random() < 0.2:
            tail = pick(rng, _RELAX[style])
            if len(steps) > 1 or len(steps[0]) > 1:
                tail = "," + tail if tail.startswith(" and") else tail
            text += tail
    text = re.sub(r"\s+", " ", text).strip()
    return text[0].upper() + text[1:]


def caption_plan(rng: np.random.Generator, plan: TakePlan, num_captions: int | None = None) -> list[str]:
    """Paraphrased captions (3-5 unless ``num_captions``), all naming every action with its modifiers."""
    n = int(rng.integers(3, 6)) if num_captions is None else int(num_captions)
    captions: list[str] = []
    for _ in range(20 * n):
        text = _caption(rng, plan)
        if text not in captions:
            captions.append(text)
        if len(captions) == n:
            break
    return captions
