"""``IdleFace``: a face at rest that never freezes, for the frames between prompts.

It is the stand-in corpus's idle signal (:func:`express4d_dataset.synthetic.signals.render_idle`: the resting
face and its slow drift, head sway, gaze fixations and saccades, spontaneous and double blinks, tracking
noise, all calibrated on real Live Link Face takes) for one simulated performer, rendered once as a loop
(about a minute, its end cross-faded into its start so the loop has no seam) and read at any frame index.
"""

from __future__ import annotations

import numpy as np

from express4d_dataset.arkit import NUM_CHANNELS
from express4d_dataset.motion import resample_duration, smoothstep

RENDER_FPS = 60.0
"""Rate the idle signal is rendered at (the stand-in corpus's capture rate)."""


class IdleFace:
    """An endless idle face at ``fps``: ``frame(n)`` for any frame index ``n >= 0`` (the loop repeats).

    Args:
        fps: frame rate of the frames returned.
        seed: picks the simulated performer and their blinks, gaze and drift.
        seconds: loop length (default 64 s; nothing in it repeats sooner).
        blend_seconds: cross-fade that joins the loop's end to its start.
    """

    def __init__(self, fps: float = 60.0, seed: int = 0, seconds: float = 64.0, blend_seconds: float = 1.0):
        from express4d_dataset.synthetic.performers import sample_performers
        from express4d_dataset.synthetic.signals import render_idle

        if not seconds > 2 * blend_seconds > 0:
            raise ValueError(f"IdleFace: seconds ({seconds}) must exceed twice blend_seconds ({blend_seconds}) > 0")
        rng = np.random.default_rng(seed)
        performer = sample_performers(rng, 1)[0]
        raw = render_idle(rng, performer, seconds + blend_seconds).astype(np.float64)
        length, blend = int(round(seconds * RENDER_FPS)), int(round(blend_seconds * RENDER_FPS))
        loop = raw[:length].copy()
        w = smoothstep((np.arange(blend) + 0.5) / blend)[:, None]
        loop[:blend] = (1.0 - w) * raw[length : length + blend] + w * raw[:blend]  # raw[length - 1] -> raw[length] is natural
        if fps != RENDER_FPS:
            loop = resample_duration(loop, RENDER_FPS, fps)
        self.fps = float(fps)
        self.frames = loop.astype(np.float32)
        self.performer = performer.id

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, n: int) -> np.ndarray:
        """The ``[61]`` frame at stream index ``n``."""
        return self.frames[int(n) % len(self.frames)]

    def window(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start .. stop - 1`` as ``[stop - start, 61]``."""
        idx = np.arange(int(start), int(stop)) % len(self.frames)
        return self.frames[idx] if len(idx) else np.zeros((0, NUM_CHANNELS), dtype=np.float32)
