"""Does a motion change as a real face does?  Per-frame change and action onset/offset timing.

A face does not switch an expression within one frame: a smile takes a few tenths of a second to form.
This module measures that on any set of motions (real captures, the stand-in corpus, a model's
generations), all brought to one rate (:data:`RATE`, 30 rows/s, the rate of the real reference takes;
:func:`~express4d_dataset.motion.to_fps`: every k-th row, or linear interpolation), over the slow expression channels (:data:`EXPRESSION_CHANNELS`: smile, brows,
frown, jaw, pucker, cheeks, sneer):

* **per-frame change**: ``|x[t+1] - x[t]|`` over every channel and pair of consecutive valid rows; its
  50th / 99th / 99.9th percentiles;
* **jump rate**: changes over :data:`JUMP` (0.2) per 1,000 channel-frames;
* **onset / offset**: for each channel of each take whose range (max - 10th percentile) is at least
  :data:`MIN_ACTION`, the 10-90% rise time before its peak and the 90-10% fall time after it, in seconds
  (a fall only where the channel comes back down);
* **blinks per minute**: peaks of the mean ``EyeBlink`` curve over all 61 channels' takes, counted as the
  realism table counts them (:func:`~express4d_dataset.realism.blink_statistics`: peaks above 0.2, peaks
  closer than 1/6 s merged), and the median blink's peak (1 = lids fully closed).  Most captions do not ask
  for blinks; real faces blink 10-40 times a minute all the same.

``python benchmarks/naturalness.py`` prints the table for the real fixtures, the stand-in corpus and the
bundled models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .arkit import NUM_CHANNELS, channel_index
from .motion import to_fps
from .realism import BlinkStatistics, blink_statistics, valid_segments

RATE = 30.0
JUMP = 0.2
MIN_ACTION = 0.25
EXPRESSION_CHANNEL_NAMES: tuple[str, ...] = (
    "MouthSmileLeft", "MouthSmileRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "MouthFrownLeft", "MouthFrownRight", "JawOpen", "MouthPucker", "CheekPuff",
    "NoseSneerLeft", "NoseSneerRight",
)
EXPRESSION_CHANNELS: tuple[int, ...] = tuple(channel_index(n) for n in EXPRESSION_CHANNEL_NAMES)


def _rise_fall(curve: np.ndarray, rate: float) -> tuple[float | None, float | None]:
    """10-90% rise before the peak and 90-10% fall after it (seconds), for one channel of one take."""
    ok = np.isfinite(curve)
    if ok.sum() < 3:
        return None, None
    base = float(np.nanpercentile(curve, 10))
    peak_at = int(np.nanargmax(curve))
    amp = float(curve[peak_at]) - base
    if amp < MIN_ACTION:
        return None, None
    lo, hi = base + 0.1 * amp, base + 0.9 * amp
    rise = fall = None
    before = curve[: peak_at + 1]
    below = np.flatnonzero(~(before > lo))  # NaN counts as a break
    if len(below) and np.isfinite(before[int(below[-1])]):  # a rise out of a tracking gap is not timed
        start = int(below[-1])
        above = np.flatnonzero(before[start:] >= hi)
        if len(above):
            rise = (int(above[0])) / rate
    after = curve[peak_at:]
    drop = np.flatnonzero(after < hi)
    if len(drop):
        top_end = int(drop[0]) - 1  # last row at or above 90% after the peak
        down = np.flatnonzero(after[top_end:] <= lo)
        if len(down) and np.isfinite(after[top_end: top_end + int(down[0]) + 1]).all():
            fall = int(down[0]) / rate
    return rise, fall


@dataclass
class Naturalness:
    """Per-frame change and timing statistics of a set of motions (see the module docstring)."""

    name: str
    num_takes: int
    channel_frames: int
    percentiles: dict = field(default_factory=dict)
    """``{50: ..., 99: ..., 99.9: ...}`` of the per-frame change."""
    jumps: int = 0
    rises: list = field(default_factory=list)
    falls: list = field(default_factory=list)
    blinks: BlinkStatistics | None = None
    """The lids' blinks (:func:`~express4d_dataset.realism.blink_statistics`); None without a long enough take."""

    @property
    def jump_rate(self) -> float:
        """Changes over :data:`JUMP` per 1,000 channel-frames."""
        return 1000.0 * self.jumps / self.channel_frames if self.channel_frames else float("nan")

    @property
    def blinks_per_minute(self) -> float:
        return self.blinks.rate_per_minute if self.blinks else float("nan")

    @property
    def blink_peak(self) -> float:
        """The median blink's peak (1 = the lids fully closed)."""
        return self.blinks.median_peak if self.blinks else float("nan")

    def rise_range(self) -> tuple[float, float, float]:
        """(10th, 50th, 90th percentile) of the 10-90% rise times, seconds (NaN without actions)."""
        return _range(self.rises)

    def fall_range(self) -> tuple[float, float, float]:
        return _range(self.falls)


def _range(values) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    return tuple(float(v) for v in np.percentile(values, [10, 50, 90]))


def naturalness(motions: Iterable[tuple[np.ndarray, float]], name: str = "", rate: float = RATE,
                channels: Sequence[int] = EXPRESSION_CHANNELS) -> Naturalness:
    """Statistics of ``motions``, an iterable of ``([T, 61] frames, fps)`` (NaN rows: untracked gaps)."""
    changes: list[np.ndarray] = []
    rises, falls, n, segments = [], [], 0, []
    for frames, fps in motions:
        x = np.asarray(frames, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != NUM_CHANNELS:
            raise ValueError(f"naturalness: motion {n} has shape {x.shape}; expected [T, {NUM_CHANNELS}]")
        full, x = x, to_fps(x[:, list(channels)], float(fps), rate)
        segments += valid_segments(full, float(fps), rate, min_rows=3)
        n += 1
        d = np.abs(np.diff(x, axis=0))
        changes.append(d[np.isfinite(d)])
        for c in range(x.shape[1]):
            rise, fall = _rise_fall(x[:, c], rate)
            if rise is not None:
                rises.append(rise)
            if fall is not None:
                falls.append(fall)
    if not n:
        raise ValueError("naturalness: no motions given")
    d = np.concatenate(changes) if changes else np.zeros(0)
    pct = {p: float(np.percentile(d, p)) if len(d) else float("nan") for p in (50.0, 99.0, 99.9)}
    blinks = blink_statistics(segments, rate) if segments else None
    return Naturalness(name, n, int(len(d)), pct, int((d > JUMP).sum()), rises, falls, blinks)


def naturalness_markdown(rows: Sequence[Naturalness], decimals: int = 3) -> str:
    """The naturalness table: one row per source."""
    head = ("| source | takes | per-frame change p50 / p99 / p99.9 | changes > 0.2 per 1,000 | rise 10-90% (s) "
            "p10 / p50 / p90 | fall 90-10% (s) p10 / p50 / p90 | blinks per minute (median peak) |")
    lines = [head, "|---|---|---|---|---|---|---|"]
    f = f"{{:.{decimals}f}}"
    for r in rows:
        p = r.percentiles
        lines.append(
            f"| {r.name} | {r.num_takes} | {f.format(p[50.0])} / {f.format(p[99.0])} / {f.format(p[99.9])} | "
            f"{r.jump_rate:.2f} | {' / '.join(f'{v:.2f}' for v in r.rise_range())} | "
            f"{' / '.join(f'{v:.2f}' for v in r.fall_range())} | {r.blinks_per_minute:.1f} ({r.blink_peak:.2f}) |")
    return "\n".join(lines)
