"""Balanced takes: single-action training takes that give every intensity of every action the same share.

A training augmentation for the stand-in corpus.  The corpus draws intensities per take ("normal" 40% of the
time, the other levels share the rest), so a level word is met with some actions far more often than with
others: among the 960 training takes of seed 0, "softly" sits on six smiles and on 24 closures and squints of
the lids, and a model learns "softly" as a word about the eyes (docs/free_wording.md).  These takes are new
performances, drawn by the corpus' own generator: take ``k`` performs the ``k``-th (action, intensity) cell of
a seeded permutation of every cell (actions with more than one intensity), by one of :data:`NUM_PERFORMERS`
performers drawn for the augmentation (not the corpus' own, so nothing about the validation or test takes is
reused), at a random speed, and is captioned with training wording only.  The rows are resampled from the
capture rate to the split's frame rate the way the dataset builder does it, and cut to ``max_frames``.

Only the stand-in corpus takes them: a real corpus' training split would be mixed with animation it does not
contain.
"""

from __future__ import annotations

import json

import numpy as np

from ..arkit import CAPTURE_FPS
from ..motion import row_annotations, to_fps
from .actions import ACTION_NAMES, ACTIONS
from .compose import append_rows
from .corpus import synthesize_take, take_annotations
from .performers import NUM_PERFORMERS, sample_performers

ID_PREFIX = "balanced_"
PARTICIPANT_PREFIX = "balanced-"


def intensity_cells() -> list[tuple[str, str]]:
    """Every ``(action, intensity)`` pair of the actions that take more than one intensity, in table order."""
    return [(key, level) for key in ACTION_NAMES if len(ACTIONS[key].levels) > 1 for level in ACTIONS[key].levels]


def balanced_takes(num_takes: int, seed: int, fps: float, max_frames: int) -> list[dict]:
    """``num_takes`` dataset rows (``id``, ``motion`` ``[T, 61]`` at ``fps``, ``num_frames``, ``fps``, ``captions``,
    ``participant``, ``source``, ``annotations``), cycling through a permutation of :func:`intensity_cells` drawn
    from ``numpy.random.default_rng([seed, 5])``; take ``k`` draws from ``default_rng([seed, 6, k])``."""
    if int(num_takes) != num_takes or num_takes < 0:
        raise ValueError(f"num_takes must be an integer >= 0, got {num_takes!r}")
    if fps <= 0 or max_frames < 1:
        raise ValueError(f"fps must be > 0 and max_frames >= 1, got fps={fps!r}, max_frames={max_frames!r}")
    cells = intensity_cells()
    order = np.random.default_rng([int(seed), 5]).permutation(len(cells))
    performers = sample_performers(np.random.default_rng([int(seed), 5, 1]), NUM_PERFORMERS)
    rows = []
    for k in range(int(num_takes)):
        key, level = cells[int(order[k % len(cells)])]
        rng = np.random.default_rng([int(seed), 6, k])
        performer = performers[int(rng.integers(len(performers)))]
        take = synthesize_take(rng, performer, [key], intensity=level, num_captions=3, split="train")
        frames = to_fps(take.frames, CAPTURE_FPS, fps)[:max_frames]
        annotations = take_annotations(take.plan, take.seconds, take.frames.shape[0], take.swapped_captions)
        rows.append({
            "id": f"{ID_PREFIX}{k:05d}",
            "motion": np.ascontiguousarray(frames, dtype=np.float32),
            "num_frames": len(frames),
            "fps": float(fps),
            "captions": take.captions,
            "participant": PARTICIPANT_PREFIX + performer.id,
            "source": "balanced",
            "annotations": json.dumps(annotations, sort_keys=True),
        })
    return rows


def with_balanced_takes(split, num_takes: int, seed: int, fps: float, max_frames: int):
    """``split`` (a ``datasets.Dataset`` of the stand-in corpus) followed by :func:`balanced_takes`' rows,
    numpy-formatted."""
    if num_takes == 0:
        return split
    if "annotations" not in split.column_names or not any(
            (row_annotations({"annotations": text}) or {}).get("steps") for text in split["annotations"]):
        raise ValueError("balanced takes are the stand-in corpus' animation: the split has no stand-in annotations "
                         "(a real corpus), so they would mix animation into real captures")
    rows = balanced_takes(num_takes, seed, fps, max_frames)
    missing = [c for c in split.column_names if c not in rows[0]]
    if missing:
        raise ValueError(f"balanced takes: the split has columns they cannot fill ({', '.join(missing)})")
    return append_rows(split, rows)
