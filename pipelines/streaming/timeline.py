"""``FaceTimeline``: what the streamed face shows at every frame index, idle or a motion, joined without seams.

The timeline is a pure function of the frame index and the motions scheduled so far, so frames not yet sent can
be read ahead (the interactive session conditions the next motion on them) and frames already sent never change:
scheduling a motion at frame ``s`` changes frames ``>= s`` only.

Joins (the seams a real capture would not have):

* **into a motion** at frame ``s``: the motion's first frames are offset so that it starts where the face is,
  moving as it moves (``2 x[s-1] - x[s-2]``), the offset fading out over ``join_seconds`` (a smoothstep):
  a motion already conditioned on the current pose (MDM prefix) is hardly changed, one that is not
  (T2M-GPT) is brought in with a short cross-fade instead of a jump;
* **back to idle** when a motion ends at frame ``e``: the idle face plays on with the motion's last pose as an
  offset (``x[e-1] - idle[e-1]``) fading out over ``return_seconds``, so blinks and gaze carry on at once.

A motion scheduled while another plays cuts it at its start frame (a new prompt interrupts the last one).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from express4d_dataset.arkit import clip_to_valid_range
from express4d_dataset.motion import check_motion, smoothstep

from .idle import IdleFace


@dataclass
class Segment:
    """A motion on the timeline: ``frames`` (stream fps, joins applied) from frame index ``start``."""

    start: int
    frames: np.ndarray
    label: str = ""

    @property
    def end(self) -> int:
        return self.start + len(self.frames)


class FaceTimeline:
    """Idle face plus scheduled motions, at ``idle.fps``; thread-safe (the sender reads, a worker schedules)."""

    def __init__(self, idle: IdleFace, join_seconds: float = 0.3, return_seconds: float = 0.8, keep: int = 8):
        self.idle = idle
        self.fps = idle.fps
        self.join_frames = max(1, int(round(join_seconds * self.fps)))
        self.return_frames = max(1, int(round(return_seconds * self.fps)))
        self.keep = keep
        self._segments: list[Segment] = []
        self._lock = threading.Lock()
        self.played = -1
        """Highest frame index handed to the sender (:meth:`play`): frames up to it can no longer change."""

    # ------------------------------------------------------------------ reading
    def frame(self, n: int) -> np.ndarray:
        """The ``[61]`` float32 frame at index ``n``."""
        with self._lock:
            return self._frame(int(n))

    def play(self, n: int) -> np.ndarray:
        """The frame at ``n`` for sending: like :meth:`frame`, and marks every frame up to ``n`` as played."""
        with self._lock:
            self.played = max(self.played, int(n))
            return self._frame(int(n))

    def window(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start .. stop - 1`` (``[stop - start, 61]``)."""
        with self._lock:
            return np.stack([self._frame(n) for n in range(int(start), int(stop))])

    def segment_at(self, n: int) -> Segment | None:
        """The motion playing at frame ``n`` (None while idle or returning to idle)."""
        with self._lock:
            seg = self._last_started(n)
            return seg if seg is not None and n < seg.end else None

    def _last_started(self, n: int) -> Segment | None:
        for seg in reversed(self._segments):
            if seg.start <= n:
                return seg
        return None

    def _frame(self, n: int) -> np.ndarray:
        seg = self._last_started(n)
        if seg is None:
            return self.idle.frame(n)
        if n < seg.end:
            return seg.frames[n - seg.start]
        offset = seg.frames[-1] - self.idle.frame(seg.end - 1)
        w = smoothstep(np.array((n - seg.end + 1) / self.return_frames))
        return clip_to_valid_range((self.idle.frame(n) + (1.0 - w) * offset).astype(np.float32))

    # ------------------------------------------------------------------ scheduling
    def schedule(self, motion: np.ndarray, start: int, label: str = "") -> Segment:
        """Play ``motion`` (``[T, 61]`` at the timeline's fps) from frame ``start``, or the first frame not yet
        played if that is later, joined to what the face does there (see the module docstring); a motion
        playing there is cut.  Returns the segment (its ``start`` is where it really begins)."""
        motion = check_motion(motion).astype(np.float64)
        with self._lock:
            start = max(int(start), self.played + 1)
            last, before = self._frame(start - 1).astype(np.float64), self._frame(start - 2).astype(np.float64)
            expected = last + (last - before)  # where the face would be next, at its current speed
            n = min(self.join_frames, len(motion))
            fade = 1.0 - smoothstep(np.arange(n) / self.join_frames)[:, None]
            motion[:n] += fade * (expected - motion[0])[None, :]
            segment = Segment(start=start, frames=clip_to_valid_range(motion.astype(np.float32)), label=label)
            self._segments = [s for s in self._segments if s.start < start][-(self.keep - 1):] + [segment]
        return segment
