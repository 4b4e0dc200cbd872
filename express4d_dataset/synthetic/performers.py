"""Simulated performers: each has their own amplitude, asymmetry, timing, idle motion and style."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arkit import CHANNEL_NAMES, NUM_BLENDSHAPES, channel_index
from .actions import ACTION_NAMES

NUM_PERFORMERS = 18

_INDEX_LOWER = {n.lower() for n in CHANNEL_NAMES}
# resting-expression ranges per blendshape prefix (both sides share a value, plus a little jitter)
_REST_RANGES = {
    "MouthStretch": (0.02, 0.20), "MouthFunnel": (0.02, 0.15), "NoseSneer": (0.0, 0.08),
    "BrowInnerUp": (0.0, 0.15), "MouthFrown": (0.0, 0.12), "EyeSquint": (0.01, 0.12),
    "MouthShrugUpper": (0.02, 0.15), "MouthShrugLower": (0.0, 0.12), "MouthRollLower": (0.0, 0.10),
    "MouthClose": (0.0, 0.06), "JawOpen": (0.0, 0.05), "MouthDimple": (0.0, 0.08),
    "MouthUpperUp": (0.0, 0.08), "MouthLowerDown": (0.0, 0.08), "EyeBlink": (0.02, 0.15),
    "CheekPuff": (0.0, 0.05), "JawForward": (0.0, 0.06), "MouthPress": (0.0, 0.06),
}
# channels that rest at exactly 0 (gaze and one-sided shifts come from the actions and idle motion)
_REST_ZERO = (
    "TongueOut", "EyeLookDownLeft", "EyeLookDownRight", "EyeLookInLeft", "EyeLookInRight", "EyeLookOutLeft",
    "EyeLookOutRight", "EyeLookUpLeft", "EyeLookUpRight", "JawLeft", "JawRight", "MouthLeft", "MouthRight",
    "EyeWideLeft", "EyeWideRight",
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
    """Tracking-noise std on the blendshapes."""

    def action_gain(self, key: str) -> float:
        return float(self.style[ACTION_NAMES.index(key)])


def sample_performers(rng: np.random.Generator, n: int = NUM_PERFORMERS) -> list[Performer]:
    """Draw ``n`` performers ``P01``, ``P02``, ... with their own style."""
    if n < 1:
        raise ValueError(f"sample_performers: n must be >= 1, got {n}")
    performers = []
    for p in range(n):
        rest = rng.uniform(0.0, 0.03, NUM_BLENDSHAPES)
        for prefix, (lo, hi) in _REST_RANGES.items():
            value = rng.uniform(lo, hi)
            for side in ("", "Left", "Right"):
                name = prefix + side
                if name.lower() in _INDEX_LOWER:
                    rest[channel_index(name)] = float(np.clip(value + rng.uniform(-0.015, 0.015), 0.0, 1.0))
        for name in _REST_ZERO:
            rest[channel_index(name)] = 0.0
        performers.append(
            Performer(
                id=f"P{p + 1:02d}",
                amplitude=float(rng.uniform(0.8, 1.15)),
                asymmetry=float(rng.uniform(-0.15, 0.15)),
                timing=float(rng.uniform(0.85, 1.2)),
                blink_rate=float(rng.uniform(8.0, 26.0)),
                rest=rest,
                rest_gaze=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.2, 0.05))),
                rest_head=(
                    float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.08, 0.06)), float(rng.uniform(-0.05, 0.05))
                ),
                head_sway=float(rng.uniform(0.01, 0.045)),
                sway_speed=float(rng.uniform(0.6, 1.6)),
                saccade_rate=float(rng.uniform(0.4, 1.5)),
                secondary=float(rng.uniform(0.6, 1.4)),
                style=rng.uniform(0.85, 1.15, len(ACTION_NAMES)),
                vor=float(rng.uniform(0.3, 0.8)),
                noise=float(rng.uniform(0.003, 0.01)),
            )
        )
    return performers
