"""Simulated performers: each has their own amplitude, asymmetry, timing, idle motion and style."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arkit import CHANNEL_NAMES, NUM_BLENDSHAPES, channel_index
from .actions import ACTION_NAMES

NUM_PERFORMERS = 18

_INDEX_LOWER = {n.lower() for n in CHANNEL_NAMES}
# Resting level per blendshape prefix (both sides share it), calibrated on real Live Link Face takes
# (../shared/fixtures/livelink, one performer, five takes): each take's 10th percentile, median over the
# takes.  A performer rests at that level times a factor drawn in _REST_SPREAD (people differ), plus a
# little jitter; prefixes not listed rest near 0.
_REST_LEVELS = {
    "MouthStretch": 0.17, "MouthFunnel": 0.075, "BrowInnerUp": 0.09, "EyeSquint": 0.085, "MouthShrugUpper": 0.06,
    "MouthRollUpper": 0.05, "MouthLowerDown": 0.045, "NoseSneer": 0.04, "JawForward": 0.04, "MouthRollLower": 0.026,
    "MouthDimple": 0.024, "MouthPucker": 0.022, "MouthClose": 0.02, "MouthUpperUp": 0.019, "JawOpen": 0.018,
    "CheekSquint": 0.015, "MouthShrugLower": 0.01, "MouthPress": 0.01, "CheekPuff": 0.008,
}
_REST_SPREAD = (0.55, 1.6)
# resting ranges of what the real performer rests at 0 but other people do not (lids a little closed, a
# faint smile or frown)
_REST_RANGES = {
    "EyeBlink": (0.0, 0.08), "MouthSmile": (0.0, 0.03), "MouthFrown": (0.0, 0.03), "EyeWide": (0.02, 0.2),
    "JawRight": (0.0, 0.02), "MouthRight": (0.0, 0.015), "MouthLeft": (0.0, 0.01),  # real: 0.00-0.05 / 0.00-0.02 / ~0
}
# channels that rest at exactly 0 (gaze comes from the gaze signal; real takes never read JawLeft at rest)
_REST_ZERO = (
    "TongueOut", "EyeLookDownLeft", "EyeLookDownRight", "EyeLookInLeft", "EyeLookInRight", "EyeLookOutLeft",
    "EyeLookOutRight", "EyeLookUpLeft", "EyeLookUpRight", "JawLeft",
)


@dataclass
class Performer:
    """A simulated participant: how strongly, how fast and how (a)symmetrically they emote."""

    id: str
    amplitude: float
    """Overall expressivity (multiplies every action's amplitude)."""
    asymmetry: float
    """Left/right imbalance: Left channels x (1 + a), Right x (1 - a)."""
    timing: float
    """Multiplies every envelope duration (> 1: slower performer)."""
    blink_rate: float
    """Spontaneous blinks per minute (never mentioned in captions)."""
    rest: np.ndarray
    """Resting expression: ``[52]`` blendshape values."""
    rest_gaze: tuple[float, float]
    rest_head: tuple[float, float, float]
    head_sway: float
    """Amplitude (rad) of idle head sway."""
    sway_speed: float
    """Frequency scale of idle head sway."""
    saccade_rate: float
    """Gaze micro-saccades per second."""
    secondary: float
    """Gain on secondary channels (how much the whole face joins in)."""
    style: np.ndarray
    """Per-action gain, aligned with :data:`ACTION_NAMES`."""
    vor: float
    """Share of head nods/shakes the eyes compensate for (vestibulo-ocular reflex)."""
    noise: float
    """Tracking-noise scale: multiplies the per-channel noise levels measured on real takes (1: as measured)."""
    gaze_scatter: float
    """Spread (gaze units) of the idle fixations around the resting gaze."""
    drift: float
    """Relative amplitude of the slow idle drift of the resting face."""

    def action_gain(self, key: str) -> float:
        return float(self.style[ACTION_NAMES.index(key)])


def sample_performers(rng: np.random.Generator, n: int = NUM_PERFORMERS) -> list[Performer]:
    """Draw ``n`` performers ``P01``, ``P02``, ... with their own style."""
    if n < 1:
        raise ValueError(f"sample_performers: n must be >= 1, got {n}")
    performers = []
    for p in range(n):
        rest = rng.uniform(0.0, 0.01, NUM_BLENDSHAPES)
        for prefix, level in _REST_LEVELS.items():
            value = level * rng.uniform(*_REST_SPREAD)
            _set_rest(rng, rest, prefix, value)
        for prefix, (lo, hi) in _REST_RANGES.items():
            _set_rest(rng, rest, prefix, rng.uniform(lo, hi))
        for name in _REST_ZERO:
            rest[channel_index(name)] = 0.0
        performers.append(
            Performer(
                id=f"P{p + 1:02d}",
                amplitude=float(rng.uniform(0.9, 1.25)),
                asymmetry=float(rng.uniform(-0.15, 0.15)),
                timing=float(rng.uniform(0.85, 1.2)),
                blink_rate=float(rng.uniform(10.0, 26.0)),
                rest=rest,
                rest_gaze=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.05, 0.2))),
                rest_head=(
                    float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.08, 0.06)), float(rng.uniform(-0.05, 0.05))
                ),
                head_sway=float(rng.uniform(0.01, 0.045)),
                sway_speed=float(rng.uniform(0.6, 1.6)),
                saccade_rate=float(rng.uniform(1.2, 2.2)),
                secondary=float(rng.uniform(0.6, 1.4)),
                style=rng.uniform(0.85, 1.15, len(ACTION_NAMES)),
                vor=float(rng.uniform(0.3, 0.8)),
                noise=float(rng.uniform(0.7, 1.4)),
                gaze_scatter=float(rng.uniform(0.04, 0.08)),
                drift=float(rng.uniform(0.1, 0.25)),
            )
        )
    return performers


def _set_rest(rng: np.random.Generator, rest: np.ndarray, prefix: str, value: float) -> None:
    """Set the resting level of a prefix's channels (``X``, ``XLeft``, ``XRight``), each with a little jitter."""
    for side in ("", "Left", "Right"):
        name = prefix + side
        if name.lower() in _INDEX_LOWER:
            rest[channel_index(name)] = float(np.clip(value * rng.uniform(0.9, 1.1), 0.0, 1.0))
