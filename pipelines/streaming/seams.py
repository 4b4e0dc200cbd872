"""How much a streamed face changes at the seams where one motion meets the next.

The figure is the naturalness table's (:mod:`express4d_dataset.naturalness`): the change of the slow
expression channels (smile, brows, frown, jaw, pucker, cheeks, sneer) from one row to the next at 30 rows/s,
and a *jump* is a change over :data:`~express4d_dataset.naturalness.JUMP` (0.2) in one such row, which
real captures hardly ever show (``python benchmarks/naturalness.py``).  :func:`seam_changes` reports, for
each seam, the largest change within ``window_seconds`` of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from express4d_dataset.motion import to_fps
from express4d_dataset.naturalness import EXPRESSION_CHANNEL_NAMES, EXPRESSION_CHANNELS, JUMP, RATE


def per_frame_change(frames: np.ndarray, fps: float) -> np.ndarray:
    """``[R - 1, 14]``: ``|x[r + 1] - x[r]|`` of the expression channels, the frames brought to 30 rows/s."""
    x = to_fps(np.asarray(frames, dtype=np.float64)[:, list(EXPRESSION_CHANNELS)], float(fps), RATE)
    return np.abs(np.diff(x, axis=0))


@dataclass
class SeamChange:
    """The largest expression change per 30 fps row around one seam."""

    frame: int
    change: float
    channel: str

    @property
    def jump(self) -> bool:
        """Over the naturalness table's 0.2."""
        return self.change > JUMP


def seam_changes(frames: np.ndarray, fps: float, seams: Iterable[int], window_seconds: float = 0.1,
                 first_index: int = 0) -> list[SeamChange]:
    """For each seam (a stream frame index; ``frames`` start at index ``first_index``), the largest change
    (:func:`per_frame_change`) between 30 fps rows within ``window_seconds`` of it."""
    change = per_frame_change(frames, fps)
    step = fps / RATE  # stream frames per 30 fps row
    results = []
    for seam in seams:
        centre = (seam - first_index) / step
        lo = max(0, int(np.floor(centre - window_seconds * RATE)) - 1)
        hi = min(len(change), int(np.ceil(centre + window_seconds * RATE)) + 1)
        if hi <= lo:
            continue
        window = change[lo:hi]
        row, channel = np.unravel_index(int(np.argmax(window)), window.shape)
        results.append(SeamChange(frame=int(seam), change=float(window[row, channel]),
                                  channel=EXPRESSION_CHANNEL_NAMES[channel]))
    return results


__all__ = ["SeamChange", "per_frame_change", "seam_changes"]
