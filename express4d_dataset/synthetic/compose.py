"""Composed takes: two or three single-action takes of one performer joined in time, captioned "X and then Y"
("X, then Y, and finally Z").

A training augmentation for the stand-in corpus.  The corpus composes each allowed pair of actions in only
a handful of training takes, and a model must learn "X and then Y" as a rule from them; joining
single-action takes (cut in their idle frames, cross-faded) makes many more two-step examples from the
same motions, and the captions come from the corpus' own caption generator with each action's recorded
intensity, speed and count.  The :data:`~.plan.HELD_OUT_PAIRS` are never composed, so the prompt-following
benchmark still measures compositions no training example showed.

Only the stand-in corpus can be composed: the joins and captions need its annotations (which action ran
when, with which modifiers).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ..arkit import CAPTURE_FPS
from ..motion import row_annotations
from .captions import caption_plan_with_swaps
from .corpus import take_annotations
from .plan import ActionEvent, TakePlan, holds_out

CROSSFADE_SECONDS = 0.2
"""Length of the linear cross-fade that joins the two takes (in the idle frames between their actions)."""
GAP_SECONDS = (0.2, 0.5)
"""Idle time kept after the first action and before the second (each drawn in this range)."""
MARGIN_SECONDS = (0.3, 1.0)
"""Idle time kept before the first action and after the second."""


@dataclass
class _Single:
    """A single-action take of the corpus, ready to be joined."""

    index: int
    id: str
    participant: str | None  # as in the split; None where the column is null
    event: ActionEvent
    start: float  # the action's start and end, in seconds
    end: float

    @property
    def performer(self) -> str:
        """Who performed the take, for pairing: a take without a participant is its own performer (never joined
        with another: two unnamed takes may be two people)."""
        return f"participant:{self.participant}" if self.participant is not None else f"take:{self.id}"


def _participant(value) -> str | None:
    """The participant of a row, or None when the column is null (None, empty, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def single_action_takes(split) -> list[_Single]:
    """The takes of ``split`` (rows with ``annotations``) that perform exactly one action."""
    columns = split.column_names
    missing = [c for c in ("annotations", "participant") if c not in columns]
    if missing:
        raise ValueError(f"composing takes needs the stand-in corpus' annotations and performers (no "
                         f"{' or '.join(f'`{c}`' for c in missing)} column here; the real corpus cannot be composed)")
    singles = []
    for index, (ident, participant, text) in enumerate(zip(split["id"], split["participant"], split["annotations"])):
        a = row_annotations({"annotations": text}) or {}
        if a.get("composition") != "single" or len(a.get("events") or []) != 1:
            continue
        key = a["actions"][0]
        event = ActionEvent(key=key, intensity=a["intensities"][0], speed=a["speeds"][0], count=int(a["counts"][0]))
        singles.append(_Single(index, str(ident), _participant(participant), event, float(a["events"][0]["start"]),
                               float(a["events"][0]["end"])))
    return singles


def join_motions(first: np.ndarray, second: np.ndarray, crossfade: int) -> np.ndarray:
    """``first`` then ``second`` ``[T, C]``, their last / first ``crossfade`` frames blended linearly."""
    crossfade = int(min(crossfade, len(first), len(second)))
    if crossfade == 0:
        return np.concatenate([first, second]).astype(np.float32)
    w = ((np.arange(crossfade, dtype=np.float64) + 1) / (crossfade + 1))[:, None]
    blend = (1 - w) * first[len(first) - crossfade :] + w * second[:crossfade]
    return np.concatenate([first[: len(first) - crossfade], blend, second[crossfade:]]).astype(np.float32)


def compose_takes(split, num_takes: int, seed: int, fps: float, max_frames: int,
                  three_step_share: float = 0.0) -> list[dict]:
    """``num_takes`` rows (the columns of ``split``) that each join single-action takes of one performer: two
    ("X and then Y"), or three ("X, then Y, and finally Z") for ``three_step_share`` of the rows.

    The actions are distinct, never contain a held-out pair, and come in a random order; each take is cut
    :data:`GAP_SECONDS` before / after its action where it meets another take and :data:`MARGIN_SECONDS` at the
    composed take's ends, and neighbours are cross-faded over :data:`CROSSFADE_SECONDS`, so no action is cut and
    the seams lie in idle frames.  Rows longer than ``max_frames`` are not made (other partners are drawn).
    Each row has three captions (and their step-reversed versions in ``annotations``) from the corpus' caption
    generator.  Row ``k`` draws from ``numpy.random.default_rng([seed, 2, k])``: the rows are a function of the
    split, the seed and the share (a share of 0 gives the rows this function gave before it knew three steps).
    """
    if num_takes < 0:
        raise ValueError(f"num_takes must be >= 0, got {num_takes}")
    if not 0.0 <= float(three_step_share) <= 1.0:
        raise ValueError(f"three_step_share must be in [0, 1], got {three_step_share}")
    if num_takes == 0:
        return []
    singles = single_action_takes(split)
    by_performer: dict[str, list[_Single]] = {}
    for s in singles:
        by_performer.setdefault(s.performer, []).append(s)
    usable = [s for s in singles if len({t.event.key for t in by_performer[s.performer]} - {s.event.key}) > 0]
    if not usable:
        unnamed = sum(s.participant is None for s in singles)
        why = (f"; {unnamed} of them have no participant (a null `participant` value), and a take of an unknown "
               "performer is never joined with another" if unnamed else "")
        raise ValueError("composing takes needs two single-action takes of different actions by one performer; "
                         f"the split has {len(singles)} single-action takes and no such pair{why}")
    crossfade = max(1, int(round(CROSSFADE_SECONDS * fps)))
    rows = []
    for k in range(num_takes):
        rng = np.random.default_rng([int(seed), 2, k])
        steps = 3 if three_step_share > 0 and rng.random() < three_step_share else 2
        row = None
        for _ in range(50):
            chosen = [usable[int(rng.integers(len(usable)))]]
            while len(chosen) < steps:
                keys = [c.event.key for c in chosen]
                partners = [t for t in by_performer[chosen[0].performer]
                            if t.event.key not in keys and not holds_out([*keys, t.event.key])]
                if not partners:
                    break
                chosen.append(partners[int(rng.integers(len(partners)))])
            if len(chosen) < steps:
                continue
            row = _join(split, chosen, rng, fps, crossfade, max_frames, k)
            if row is not None:
                break
        if row is None:
            raise ValueError(f"could not compose take {k} ({steps} steps) within max_frames={max_frames} after 50 "
                             "draws; raise max_frames")
        rows.append(row)
    return rows


def _join(split, chosen: list[_Single], rng, fps: float, crossfade: int, max_frames: int, k: int) -> dict | None:
    pieces, spans, position = [], [], 0  # position: the composed frame where the current piece's cut starts
    for i, single in enumerate(chosen):
        m = np.asarray(split[single.index]["motion"], dtype=np.float32)
        before = MARGIN_SECONDS if i == 0 else GAP_SECONDS
        after = MARGIN_SECONDS if i == len(chosen) - 1 else GAP_SECONDS
        c0 = max(0, int(math.floor((single.start - rng.uniform(*before)) * fps)))
        c1 = min(len(m), int(math.ceil((single.end + rng.uniform(*after)) * fps)))
        if c1 - c0 <= crossfade:
            return None
        pieces.append(m[c0:c1])
        shift = (position - c0) / fps  # composed time = the take's time + shift
        spans.append((single.start + shift, single.end + shift))
        position += c1 - c0 - crossfade
    motion = pieces[0]
    for piece in pieces[1:]:
        motion = join_motions(motion, piece, crossfade)
    if len(motion) > max_frames:
        return None
    plan = TakePlan(steps=[[s.event] for s in chosen], seconds=len(motion) / fps)
    pairs = caption_plan_with_swaps(rng, plan, num_captions=3)
    annotations = {
        **take_annotations(plan, plan.seconds, round(plan.seconds * CAPTURE_FPS), [s for _, s in pairs], spans),
        "composed_from": [s.id for s in chosen],
    }
    return {
        "id": f"composed_{k:05d}",
        "motion": motion,
        "num_frames": len(motion),
        "fps": float(fps),
        "captions": [c for c, _ in pairs],
        "participant": chosen[0].participant,
        "source": "+".join(s.id for s in chosen),
        "annotations": json.dumps(annotations, sort_keys=True),
    }


def with_composed_takes(split, num_takes: int, seed: int, fps: float, max_frames: int, three_step_share: float = 0.0):
    """``split`` (a ``datasets.Dataset``) followed by :func:`compose_takes`' rows, numpy-formatted."""
    if num_takes == 0:
        return split
    return append_rows(split, compose_takes(split, num_takes, seed, fps, max_frames, three_step_share))


def append_rows(split, rows: list[dict]):
    """``split`` (a ``datasets.Dataset``) followed by ``rows`` (dicts with at least its columns, cast to its
    features), numpy-formatted."""
    from datasets import Dataset, concatenate_datasets

    columns = {name: [r[name] for r in rows] for name in split.column_names}
    extra = Dataset.from_dict(columns, features=split.features)
    return concatenate_datasets([split.with_format(None), extra]).with_format("numpy")

