"""Prompt following on the procedural stand-in corpus, where the truth is known.

Beyond the paper's distribution metrics: for each caption, the take's plan (stored by
``express4d data synth`` and carried in the dataset's ``annotations`` column) says which actions it
names, in which order, and which at once.  Each action's *activity* over time is read from the
channels the corpus' own action definition moves (``ActionSpec.check``: channel and direction), so
the ground truth is the generator's, not a copy:

* **action recall**: the share of named actions that are visibly active (activity above the action's
  threshold at some frame);
* **order accuracy** for "X and then Y": the share of consecutive steps whose first action's activity is
  centred before the second's (pairs moving disjoint channels only); reported separately for the
  held-out compositions (pairs never composed in training);
* **co-occurrence** for "X while Y": the share of simultaneous pairs whose active spans overlap;
* **three-step order**: for "X, then Y, and finally Z" (three steps whose leading actions move disjoint
  channels), the share of motions with all three actions active and centred in that order;
* **held-out wording**: action recall and order accuracy over the captions written with wording that no
  training caption uses (:func:`express4d_dataset.synthetic.held_out_wording`: held-out phrasings,
  connectives, framings), when the captions are given;
* **unasked lid closures**: over the captions that name no action moving the lids (``EyeBlink``: blinks,
  winks, closing the eyes, squinting, looking sad), the share of motions whose two ``EyeBlink`` channels
  average above 0.4 for more than 1 s in all: eyes that close where nobody asked (a spontaneous blink lasts
  a fifth of a second; real motion's rate on the same captions is the reference);
* **order-swap accuracy** (the evaluator's): the share of captions closer to their own motion than the
  same caption with its steps in reverse order (:func:`order_swap_accuracy`).

Activity of an action in a motion ``[T, 61]``: the mean over its check channels of ``sign * (x - rest)``
(``rest``: that signed channel's 10th percentile in the motion, so a resting expression does not count),
or ``|x - median|`` for a channel that swings both ways (a head shake).  The threshold of each action is
half the weakest peak the generator itself produces for it (its lowest intensity, several performers,
no composition): :func:`action_thresholds`.  An action is active where its activity reaches the
threshold; its centre is the median time of those frames.
"""

from __future__ import annotations

import functools
import json
from typing import Sequence

import numpy as np

REST_PERCENTILE = 10.0
THRESHOLD_FRACTION = 0.5
OVERLAP_FRACTION = 0.25
LID_LEVEL, LID_SECONDS = 0.4, 1.0
"""An unasked lid closure: the mean of the two ``EyeBlink`` channels above ``LID_LEVEL`` for more than
``LID_SECONDS`` in all."""


def _spec(key: str):
    from express4d_dataset.synthetic import ACTIONS

    if key not in ACTIONS:
        raise ValueError(f"prompt following: unknown action {key!r} in the annotations")
    return ACTIONS[key]


def action_channels(key: str) -> list[tuple[int, float]]:
    """``(channel index, sign)`` that the action moves, from its definition (sign 0: swings both ways)."""
    from express4d_dataset.arkit import channel_index

    return [(channel_index(name), float(sign)) for name, sign in _spec(key).check]


def action_activity(motion: np.ndarray, key: str) -> np.ndarray:
    """``[T]`` activity of action ``key`` in a ``[T, 61]`` motion (see the module docstring)."""
    m = np.asarray(motion, dtype=np.float64)
    parts = []
    for channel, sign in action_channels(key):
        x = m[:, channel]
        if sign == 0:
            parts.append(np.abs(x - np.median(x)))
        else:
            signed = sign * x
            parts.append(signed - np.percentile(signed, REST_PERCENTILE))
    return np.mean(parts, axis=0)


@functools.lru_cache(maxsize=4)
def action_thresholds(num_performers: int = 8, seed: int = 0) -> dict[str, float]:
    """Per action: half the weakest peak activity the stand-in generator produces for it alone, at its
    lowest intensity, over ``num_performers`` simulated performers (deterministic)."""
    from express4d_dataset.synthetic import ACTION_NAMES, ACTIONS, sample_performers, synthesize_take

    rng = np.random.default_rng([seed, 7])
    performers = sample_performers(rng, num_performers)
    out = {}
    for k, key in enumerate(ACTION_NAMES):
        weakest = ACTIONS[key].levels[0]
        peaks = []
        for j, performer in enumerate(performers):
            take = synthesize_take(np.random.default_rng([seed, 8, k, j]), performer, [key], intensity=weakest,
                                   speed="normal", spontaneous_blinks=False)
            peaks.append(action_activity(take.frames, key).max())
        out[key] = THRESHOLD_FRACTION * float(np.min(peaks))
    return out


@functools.lru_cache(maxsize=1)
def lid_actions() -> frozenset:
    """The actions whose definition moves ``EyeBlinkLeft`` or ``EyeBlinkRight`` (a caption naming one asks for
    the lids)."""
    from express4d_dataset.synthetic import ACTIONS

    return frozenset(k for k, spec in ACTIONS.items()
                     if any(c.startswith("EyeBlink") for c in {**spec.main, **spec.secondary}))


def lid_closure_seconds(motion: np.ndarray, fps: float) -> float:
    """Seconds of ``motion`` ``[T, 61]`` at ``fps`` in which the mean of the two ``EyeBlink`` channels is above
    :data:`LID_LEVEL`."""
    from express4d_dataset.arkit import channel_index

    m = np.asarray(motion)
    lids = (m[:, channel_index("EyeBlinkLeft")] + m[:, channel_index("EyeBlinkRight")]) / 2
    return float((lids > LID_LEVEL).sum() / fps)


def _active(motion, key, thresholds) -> np.ndarray:
    return action_activity(motion, key) >= thresholds[key]


def _centre(active: np.ndarray) -> float | None:
    frames = np.flatnonzero(active)
    return float(np.median(frames)) if len(frames) else None


def _disjoint(a: str, b: str) -> bool:
    return not ({c for c, _ in action_channels(a)} & {c for c, _ in action_channels(b)})


def ordered_pairs(steps) -> list[tuple[str, str, bool]]:
    """``(first, second, held_out)`` for each pair of consecutive steps whose leading actions move disjoint
    channels (the pairs order accuracy is over); ``held_out``: a composition never seen in training."""
    from express4d_dataset.synthetic import holds_out

    pairs = [(a[0], b[0]) for a, b in zip(steps, steps[1:])]
    return [(a, b, holds_out([a, b])) for a, b in pairs if _disjoint(a, b)]


def _annotation(value) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict) or "steps" not in value:
        raise ValueError("prompt following: each annotation needs the take's 'steps' (a stand-in corpus built with express4d)")
    return value


_COUNTS = ("recall", "recall_lids", "order", "order_held_out", "cooccurrence", "order_three_step", "unasked_lid_closure",
           "recall_held_out_wording", "order_held_out_wording")


def caption_following(motion: np.ndarray, annotation, thresholds: dict[str, float] | None = None,
                      text: str | None = None, fps: float | None = None) -> dict:
    """Counts for one motion (at ``fps``; None: the benchmark's 20) and the plan its caption describes, each ``(hits, total)``: ``recall``
    / ``recall_lids`` (recall of the actions that move the lids, :func:`lid_actions`) / ``order`` / ``order_held_out`` / ``cooccurrence`` / ``order_three_step`` / ``unasked_lid_closure``, and
    with the caption ``text`` written in held-out wording, ``recall_held_out_wording`` /
    ``order_held_out_wording`` too."""
    plan = _annotation(annotation)
    thresholds = thresholds or action_thresholds()
    steps = [list(step) for step in plan["steps"]]
    active = {key: _active(motion, key, thresholds) for step in steps for key in step}
    out = {name: [0, 0] for name in _COUNTS}
    for key, mask in active.items():
        for name in ("recall", "recall_lids") if key in lid_actions() else ("recall",):
            out[name][0] += bool(mask.any())
            out[name][1] += 1
    for a, b, held_out in ordered_pairs(steps):
        ca, cb = _centre(active[a]), _centre(active[b])
        hit = ca is not None and cb is not None and ca < cb
        for name in ("order", "order_held_out") if held_out else ("order",):
            out[name][0] += hit
            out[name][1] += 1
    for step in steps:
        if len(step) == 2 and _disjoint(*step):
            a, b = active[step[0]], active[step[1]]
            shorter = min(a.sum(), b.sum())
            out["cooccurrence"][0] += bool(shorter) and (a & b).sum() >= OVERLAP_FRACTION * shorter
            out["cooccurrence"][1] += 1
    leads = [step[0] for step in steps]
    if len(leads) == 3 and all(_disjoint(a, b) for i, a in enumerate(leads) for b in leads[i + 1:]):
        centres = [_centre(active[key]) for key in leads]
        out["order_three_step"][0] += all(c is not None for c in centres) and centres[0] < centres[1] < centres[2]
        out["order_three_step"][1] += 1
    if not lid_actions() & {key for step in steps for key in step}:
        from express4d_dataset.arkit import BENCHMARK_FPS

        out["unasked_lid_closure"] = [int(lid_closure_seconds(motion, fps or BENCHMARK_FPS) > LID_SECONDS), 1]
    if text is not None:
        from express4d_dataset.synthetic import held_out_wording

        if held_out_wording(text):
            for name in ("recall", "order"):
                out[name + "_held_out_wording"] = list(out[name])
    return {k: tuple(v) for k, v in out.items()}


FOLLOWING_NAMES = {
    "recall": "action_recall", "recall_lids": "action_recall_lids", "order": "order_accuracy", "order_held_out": "order_accuracy_held_out",
    "cooccurrence": "cooccurrence", "order_three_step": "order_accuracy_three_step",
    "unasked_lid_closure": "unasked_lid_closures",
    "recall_held_out_wording": "action_recall_held_out_wording", "order_held_out_wording": "order_accuracy_held_out_wording",
}
"""Count key of :func:`caption_following` -> rate name of :func:`prompt_following`."""


def prompt_following(motions: Sequence[np.ndarray], annotations: Sequence, thresholds: dict[str, float] | None = None,
                     texts: Sequence[str] | None = None, fps: float | None = None) -> dict:
    """Rates over motions at ``fps`` (None: the benchmark's 20; one per caption, each with its plan): ``action_recall``,
    ``action_recall_lids``, ``order_accuracy``,
    ``order_accuracy_held_out``, ``cooccurrence``, ``order_accuracy_three_step``, ``unasked_lid_closures`` and,
    with the captions
    ``texts``, ``action_recall_held_out_wording`` / ``order_accuracy_held_out_wording`` (NaN when a kind never
    occurs), and their counts ``*_n`` (how many actions / pairs / motions each rate is over)."""
    if len(motions) != len(annotations):
        raise ValueError(f"prompt following: {len(motions)} motions for {len(annotations)} annotations")
    if texts is not None and len(texts) != len(motions):
        raise ValueError(f"prompt following: {len(texts)} texts for {len(motions)} motions")
    thresholds = thresholds or action_thresholds()
    totals = {name: [0, 0] for name in _COUNTS}
    for i, (motion, annotation) in enumerate(zip(motions, annotations)):
        text = None if texts is None else texts[i]
        for key, (hits, n) in caption_following(motion, annotation, thresholds, text, fps).items():
            totals[key][0] += hits
            totals[key][1] += n
    names = dict(FOLLOWING_NAMES) if texts is not None else {
        k: v for k, v in FOLLOWING_NAMES.items() if not k.endswith("_wording")}
    out = {}
    for key, name in names.items():
        hits, n = totals[key]
        out[name] = float(hits / n) if n else float("nan")
        out[name + "_n"] = n
    return out


def order_swap_accuracy(text_embeddings: np.ndarray, swapped_text_embeddings: np.ndarray, motion_embeddings: np.ndarray) -> float:
    """Share of rows whose motion is closer (Euclidean) to its own caption than to the step-swapped caption."""
    t = np.asarray(text_embeddings, dtype=np.float64)
    s = np.asarray(swapped_text_embeddings, dtype=np.float64)
    m = np.asarray(motion_embeddings, dtype=np.float64)
    if not (t.shape == s.shape == m.shape) or t.ndim != 2:
        raise ValueError(f"order_swap_accuracy: shapes differ: {t.shape}, {s.shape}, {m.shape}")
    if len(t) == 0:
        return float("nan")
    return float(np.mean(np.linalg.norm(t - m, axis=1) < np.linalg.norm(s - m, axis=1)))
