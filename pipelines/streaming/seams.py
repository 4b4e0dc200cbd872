"""How much a streamed face changes from frame to frame, and at the seams where one motion meets the next.

The figure is the motion-naturalness one: the change of each of the 52 expression channels (blendshapes)
over one frame at 30 fps, ``|x(t + 1/30 s) - x(t)|``, the rate of the real Live Link Face reference takes.
A real face rarely changes a channel by more than :data:`SEAM_LIMIT` in one such frame, and then only
where real captures do too (blinks, saccades, a jaw dropping): :func:`reference_change` measures that on real
takes, and :func:`seam_changes` flags a seam whose change exceeds both the limit and what real captures
show on that channel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_BLENDSHAPES

CHANGE_FPS = 30.0
SEAM_LIMIT = 0.2
"""Largest expression change per 30 fps frame at a seam, unless real captures change that channel as fast."""
REFERENCE_PERCENTILE = 99.9


def per_frame_change(frames: np.ndarray, fps: float) -> np.ndarray:
    """``[T - k, 52]``: ``|x[t + k] - x[t]|`` of the blendshapes, ``k`` frames = 1/30 s (``fps`` a multiple of 30,
    else the frames are resampled to 30 fps first)."""
    from express4d_dataset.motion import resample

    x = np.asarray(frames, dtype=np.float64)[:, :NUM_BLENDSHAPES]
    k = fps / CHANGE_FPS
    if abs(k - round(k)) > 1e-6 or round(k) < 1:
        x, k = resample(x, fps, CHANGE_FPS), 1
    k = int(round(k))
    return np.abs(x[k:] - x[:-k]) if len(x) > k else np.zeros((0, NUM_BLENDSHAPES))


@dataclass
class SeamChange:
    """The largest per-30-fps-frame change around one seam."""

    frame: int
    change: float
    channel: str
    beyond_real: bool
    """Over :data:`SEAM_LIMIT` and over what real captures show on that channel."""


def seam_changes(frames: np.ndarray, fps: float, seams: Iterable[int], reference: np.ndarray | None = None,
                 window_seconds: float = 0.1, first_index: int = 0) -> list[SeamChange]:
    """The largest change (:func:`per_frame_change`) within ``window_seconds`` either side of each seam frame.

    ``frames`` start at stream index ``first_index``; ``reference``: per-channel ``[52]`` changes real captures
    reach (:func:`reference_change`; None: :data:`SEAM_LIMIT` alone decides)."""
    change = per_frame_change(frames, fps)
    k = int(round(fps / CHANGE_FPS)) if abs(fps / CHANGE_FPS - round(fps / CHANGE_FPS)) < 1e-6 else 1
    half = max(1, int(round(window_seconds * fps)))
    results = []
    for seam in seams:
        lo = max(0, seam - first_index - k - half)
        hi = min(len(change), seam - first_index + half)
        if hi <= lo:
            continue
        window = change[lo:hi]
        t, c = np.unravel_index(int(np.argmax(window)), window.shape)
        value = float(window[t, c])
        limit = SEAM_LIMIT if reference is None else max(SEAM_LIMIT, float(reference[c]))
        results.append(SeamChange(frame=int(seam), change=value, channel=CHANNEL_NAMES[c], beyond_real=value > limit))
    return results


def reference_change(paths: Sequence[str | os.PathLike], percentile: float = REFERENCE_PERCENTILE) -> np.ndarray:
    """Per-channel ``[52]`` percentile of :func:`per_frame_change` over real Live Link Face takes (each read with
    lost tracking split off, so no change spans a gap)."""
    from express4d_dataset.livelink import read_livelink_csv

    changes = []
    for path in paths:
        take = read_livelink_csv(path, untracked="split")
        changes.append(per_frame_change(take.frames, take.fps))
    if not changes:
        raise ValueError("reference_change: no reference takes given")
    return np.percentile(np.concatenate(changes), percentile, axis=0)


__all__ = ["CHANGE_FPS", "REFERENCE_PERCENTILE", "SEAM_LIMIT", "SeamChange", "per_frame_change", "reference_change",
           "seam_changes"]
