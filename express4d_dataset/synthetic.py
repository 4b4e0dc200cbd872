"""Procedural stand-in for the Express4D corpus, written in the raw Express4D layout.

No one here has the real captures, so this module animates the 61 ARKit channels of
simulated performers doing described facial actions, and writes them exactly as the real
corpus is published::

    OUT/data/<id>.csv     Live Link Face CSV, 60 fps, 61 channels
    OUT/texts/<id>.txt    several paraphrased captions, one per line
    OUT/train.txt         ids, one per line (random split)
    OUT/test.txt
    OUT/metadata.jsonl    one JSON object per id: id, participant, actions, seconds, ...

What makes text-to-motion learnable (and the text/motion mapping many-to-many):

* **Actions** (:data:`ACTIONS`, 36 of them): smile, frown, blink, wink left/right, raise brows,
  furrow brows, squint, widen eyes, open mouth, pucker, puff cheeks, press lips, sneer,
  look left/right/up/down, roll eyes, nod, shake head, tilt head left/right, tongue out, plus
  one-sided smirks, single raised brows, sideways jaw, closing the eyes, baring the teeth and
  four emotional expressions.  Each is a smooth attack/hold/release envelope (or an
  oscillation / sweep) on its main ARKit channels with plausible secondary channels (a smile
  raises the cheeks and squints the eyes a little; a wink pulls the same-side cheek and mouth
  corner; widening the eyes lifts the brows and suppresses the lids).
* **Modifiers**: intensity words (slightly, softly, widely, deeply, ...) scale the amplitude;
  speed words (quickly, slowly, briefly) change the envelope timing or the oscillation
  period; counts ("blinks twice", "nods three times") set the number of repetitions.
* **Composition**: 1-3 actions per take, sequential ("X and then Y") or simultaneous
  ("X while Y"), and both ("X while Y, and then Z").
* **Captions**: 3-5 distinct paraphrases per take in the corpus's style ("A person is rolling
  their eyes and then relaxing their face", "The person smiles softly, then raises their
  eyebrows"), always naming every animated action with its side, intensity and speed.
* **Performers** (:func:`sample_performers`): 18 simulated people, each with an amplitude
  scale, a left/right asymmetry, a timing scale, a spontaneous blink rate (blinks that no
  caption mentions), a resting expression, a resting gaze and head pose, head sway, gaze
  micro-saccades, per-action style gains and a tracking-noise level.

Sign conventions (those of the real capture ``alex_rom_3.csv`` for the eyes; the head follows
the eyes so that :func:`~express4d_dataset.arkit.mirror_motion` maps every "left" action onto
its "right" twin): looking to the performer's left drives ``EyeLookOutLeft`` and
``EyeLookInRight`` and makes ``LeftEyeYaw`` and ``RightEyeYaw`` negative; looking up drives
``EyeLookUp*`` and makes the eye pitch negative (down is positive); turning the head to the
left makes ``HeadYaw`` negative; ``HeadPitch`` is positive when the head pitches down (a nod);
tilting the head to the left makes ``HeadRoll`` negative.

Everything is a deterministic function of the seed: take ``i`` draws from its own
``numpy.random.default_rng([seed, 1, i])``, so the files are byte-for-byte identical for a
seed, whatever the progress bar does.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .arkit import CAPTURE_FPS, CHANNEL_NAMES, NUM_BLENDSHAPES, NUM_CHANNELS, channel_index, mirror_caption
from .livelink import write_livelink_csv

logger = logging.getLogger(__name__)

__all__ = [
    "ACTIONS",
    "ACTION_NAMES",
    "INTENSITY_LEVELS",
    "SPEEDS",
    "ActionSpec",
    "ActionEvent",
    "Performer",
    "TakePlan",
    "SyntheticTake",
    "SyntheticCorpusSummary",
    "sample_performers",
    "sample_plan",
    "render_plan",
    "caption_plan",
    "synthesize_take",
    "generate_take",
    "write_synthetic_corpus",
]

FPS = CAPTURE_FPS
MIN_SECONDS = 2.0
MAX_SECONDS = 8.0
NUM_PERFORMERS = 18

# Realistic rotation limits (radians) of the Live Link Face head and eye channels.
HEAD_LIMITS = (0.58, 0.5, 0.45)  # |yaw|, |pitch|, |roll|
EYE_LIMITS = (0.5, 0.45, 0.1)
EYE_YAW_PER_UNIT = 0.45  # rad of eye yaw when the EyeLookOut/In blendshape is 1
EYE_PITCH_PER_UNIT = 0.40  # rad of eye pitch when the EyeLookUp/Down blendshape is 1

INTENSITY_LEVELS: tuple[str, ...] = ("slight", "soft", "normal", "strong")
INTENSITY_GAIN = {"slight": 0.35, "soft": 0.55, "normal": 0.8, "strong": 1.0}
SPEEDS: tuple[str, ...] = ("quick", "normal", "slow", "brief")

_DEFAULT_WORDS = {
    "slight": ("slightly", "a little", "subtly"),
    "soft": ("softly", "gently", "lightly"),
    "strong": ("strongly", "intensely"),
}
_SPEED_WORDS = {
    "quick": ("quickly", "rapidly", "swiftly"),
    "slow": ("slowly", "gradually"),
    "brief": ("briefly", "for a moment", "momentarily"),
}
# attack / hold / release ranges in seconds, before the performer's timing scale
_TIMING = {
    "default": {
        "quick": ((0.10, 0.18), (0.30, 0.70), (0.15, 0.25)),
        "normal": ((0.25, 0.45), (0.60, 1.40), (0.30, 0.50)),
        "slow": ((0.80, 1.20), (0.60, 1.40), (0.70, 1.10)),
        "brief": ((0.15, 0.25), (0.00, 0.15), (0.15, 0.30)),
    },
    "wink": {
        "quick": ((0.06, 0.09), (0.05, 0.12), (0.08, 0.12)),
        "normal": ((0.10, 0.15), (0.15, 0.35), (0.15, 0.25)),
        "slow": ((0.35, 0.50), (0.30, 0.60), (0.40, 0.60)),
        "brief": ((0.06, 0.09), (0.00, 0.05), (0.08, 0.12)),
    },
    "blink": {  # one lid closure; the action repeats it `count` times
        "quick": ((0.04, 0.06), (0.00, 0.03), (0.07, 0.10)),
        "normal": ((0.06, 0.09), (0.02, 0.06), (0.12, 0.16)),
        "slow": ((0.25, 0.35), (0.15, 0.35), (0.35, 0.50)),
    },
}
_BLINK_GAP = {"quick": (0.08, 0.15), "normal": (0.20, 0.35), "slow": (0.30, 0.50)}
_NOD_PERIOD = {"quick": (0.32, 0.42), "normal": (0.55, 0.75), "slow": (0.95, 1.30)}
_SHAKE_PERIOD = {"quick": (0.28, 0.38), "normal": (0.45, 0.60), "slow": (0.80, 1.10), "brief": (0.40, 0.55)}
_ROLL_DURATION = {"quick": (0.50, 0.70), "normal": (0.90, 1.30), "slow": (1.60, 2.20)}
_COUNT_WORDS = {1: ("", " once"), 2: (" twice", " two times"), 3: (" three times", " a few times")}


@dataclass(frozen=True)
class ActionSpec:
    """One facial action: how it is animated and how it is described."""

    key: str
    kind: str
    """``hold`` (attack/hold/release envelope), ``blink`` (repeated closures), ``nod``,
    ``shake`` (head oscillations) or ``roll`` (eye sweep up and around)."""
    main: dict[str, float]
    """Main blendshape weights (amplitude-scaled; performer secondary gain not applied)."""
    secondary: dict[str, float] = field(default_factory=dict)
    """Secondary blendshape weights (also scaled by the performer's secondary gain)."""
    gaze: tuple[float, float] = (0.0, 0.0)
    """Gaze (horizontal, vertical) per unit amplitude: +h = the performer's left, +v = up."""
    head: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Head yaw / pitch / roll (rad) per unit amplitude (for nod / shake: the oscillation amplitude)."""
    suppress: tuple[str, ...] = ()
    """Blendshapes pushed towards 0 while the action is on (e.g. lids while widening the eyes)."""
    templates: tuple[str, ...] = ()
    """Base-form verb phrases; ``{m}`` marks where the intensity word goes (else at the end),
    ``{n}`` where the count goes (blink, nod)."""
    fixed_templates: tuple[str, ...] = ()
    """Phrases that take no intensity word (used only at normal intensity)."""
    words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Intensity words per level (defaults: slightly / softly / strongly and synonyms)."""
    levels: tuple[str, ...] = INTENSITY_LEVELS
    speeds: tuple[str, ...] = ("quick", "normal", "slow", "brief")
    regions: frozenset = frozenset()
    """Face regions it occupies; two actions animate at once only with disjoint regions."""
    side: str | None = None
    timing: str = "default"
    fixed_main: bool = False
    """Main channels reach (almost) 1 whatever the intensity (lid closures)."""
    check: tuple[tuple[str, float], ...] = ()
    """(channel, sign) pairs that this action must move (used by the tests and docs)."""
    keywords: tuple[str, ...] = ()
    """Substrings of which every caption of this action contains at least one."""

    def intensity_words(self, level: str) -> tuple[str, ...]:
        return self.words.get(level) or _DEFAULT_WORDS[level]


def _regions(*names: str) -> frozenset:
    return frozenset(names)


def _mirror_channel(name: str) -> str:
    if name.endswith("Left"):
        return name[: -len("Left")] + "Right"
    if name.endswith("Right"):
        return name[: -len("Right")] + "Left"
    if name.startswith("LeftEye"):
        return "RightEye" + name[len("LeftEye"):]
    if name.startswith("RightEye"):
        return "LeftEye" + name[len("RightEye"):]
    return name


def _mirror_spec(spec: ActionSpec, key: str) -> ActionSpec:
    """The same action on the other side: channels swapped, yaw/roll and gaze-h negated, words swapped."""

    def sign(name: str) -> float:
        return -1.0 if (name.endswith("Yaw") or name.endswith("Roll")) else 1.0

    return ActionSpec(
        key=key,
        kind=spec.kind,
        main={_mirror_channel(k): v for k, v in spec.main.items()},
        secondary={_mirror_channel(k): v for k, v in spec.secondary.items()},
        gaze=(-spec.gaze[0], spec.gaze[1]),
        head=(-spec.head[0], spec.head[1], -spec.head[2]),
        suppress=tuple(_mirror_channel(n) for n in spec.suppress),
        templates=tuple(mirror_caption(t) for t in spec.templates),
        fixed_templates=tuple(mirror_caption(t) for t in spec.fixed_templates),
        words=spec.words,
        levels=spec.levels,
        speeds=spec.speeds,
        regions=spec.regions,
        side={"left": "right", "right": "left"}.get(spec.side or "", spec.side),
        timing=spec.timing,
        fixed_main=spec.fixed_main,
        check=tuple((_mirror_channel(n), s * sign(n)) for n, s in spec.check),
        keywords=tuple(mirror_caption(k) for k in spec.keywords),
    )


def _both(prefix: str, weight: float, suffix: str = "") -> dict[str, float]:
    return {f"{prefix}Left{suffix}": weight, f"{prefix}Right{suffix}": weight}


def _build_actions() -> dict[str, ActionSpec]:
    A: dict[str, ActionSpec] = {}

    def add(spec: ActionSpec, mirror: str | None = None) -> None:
        A[spec.key] = spec
        if mirror:
            A[mirror] = _mirror_spec(spec, mirror)

    emotion_words = {
        "slight": ("a little", "slightly"),
        "soft": ("mildly", "somewhat"),
        "strong": ("very", "extremely"),
    }
    add(ActionSpec(
        "smile", "hold",
        main=_both("MouthSmile", 0.9),
        secondary={**_both("CheekSquint", 0.45), **_both("EyeSquint", 0.25), **_both("MouthDimple", 0.25),
                   **_both("MouthUpperUp", 0.1), **_both("MouthStretch", 0.1)},
        suppress=("MouthFrownLeft", "MouthFrownRight"),
        templates=("smile", "break into a smile", "grin"),
        words={"strong": ("widely", "broadly")},
        regions=_regions("mouth"), check=(("MouthSmileLeft", 1), ("MouthSmileRight", 1)), keywords=("smil", "grin"),
    ))
    add(ActionSpec(
        "frown", "hold",
        main=_both("MouthFrown", 0.85),
        secondary={**_both("BrowDown", 0.3), "MouthShrugLower": 0.35, **_both("MouthStretch", 0.15),
                   **_both("MouthPress", 0.1)},
        suppress=("MouthSmileLeft", "MouthSmileRight"),
        templates=("frown", "turn the corners of their mouth down"),
        words={"strong": ("deeply", "heavily")},
        regions=_regions("mouth"), check=(("MouthFrownLeft", 1), ("MouthFrownRight", 1)),
        keywords=("frown", "mouth down"),
    ))
    add(ActionSpec(
        "blink", "blink",
        main=_both("EyeBlink", 1.0),
        secondary=_both("EyeSquint", 0.1),
        templates=("blink{n}", "blink their eyes{n}"),
        levels=("normal",), speeds=("quick", "normal", "slow"),
        regions=_regions("lids"), timing="blink", fixed_main=True,
        check=(("EyeBlinkLeft", 1), ("EyeBlinkRight", 1)), keywords=("blink",),
    ))
    add(ActionSpec(
        "wink_left", "hold",
        main={"EyeBlinkLeft": 1.0},
        secondary={"EyeSquintLeft": 0.4, "CheekSquintLeft": 0.35, "MouthSmileLeft": 0.3, "BrowDownLeft": 0.25,
                   "EyeSquintRight": 0.1},
        templates=("wink with their left eye", "wink their left eye", "wink the left eye"),
        levels=("normal",), speeds=("quick", "normal", "slow"),
        regions=_regions("lids"), side="left", timing="wink", fixed_main=True,
        check=(("EyeBlinkLeft", 1),), keywords=("wink",),
    ), mirror="wink_right")
    add(ActionSpec(
        "raise_brows", "hold",
        main={"BrowInnerUp": 0.9, **_both("BrowOuterUp", 0.85)},
        secondary={**_both("EyeWide", 0.2)},
        suppress=("BrowDownLeft", "BrowDownRight"),
        templates=("raise their eyebrows", "lift their eyebrows", "raise their brows"),
        words={"strong": ("high", "all the way")},
        regions=_regions("brows"), check=(("BrowInnerUp", 1), ("BrowOuterUpLeft", 1)), keywords=("brow",),
    ))
    add(ActionSpec(
        "furrow_brows", "hold",
        main=_both("BrowDown", 0.85),
        secondary={**_both("EyeSquint", 0.2), **_both("NoseSneer", 0.12), "BrowInnerUp": 0.1},
        suppress=("BrowOuterUpLeft", "BrowOuterUpRight"),
        templates=("furrow their brows", "knit their eyebrows", "furrow their eyebrows", "draw their brows together"),
        words={"strong": ("deeply", "hard")},
        regions=_regions("brows"), check=(("BrowDownLeft", 1), ("BrowDownRight", 1)), keywords=("brow",),
    ))
    add(ActionSpec(
        "squint", "hold",
        main=_both("EyeSquint", 0.85),
        secondary={**_both("EyeBlink", 0.35), **_both("CheekSquint", 0.3), **_both("BrowDown", 0.15)},
        suppress=("EyeWideLeft", "EyeWideRight"),
        templates=("squint", "narrow their eyes", "squint their eyes"),
        words={"strong": ("hard", "tightly")},
        regions=_regions("lids"), check=(("EyeSquintLeft", 1), ("EyeSquintRight", 1)), keywords=("squint", "narrow"),
    ))
    add(ActionSpec(
        "widen_eyes", "hold",
        main=_both("EyeWide", 0.9),
        secondary={"BrowInnerUp": 0.35, **_both("BrowOuterUp", 0.3)},
        suppress=("EyeBlinkLeft", "EyeBlinkRight", "EyeSquintLeft", "EyeSquintRight"),
        templates=("widen their eyes", "open their eyes wide"),
        words={"strong": ("dramatically", "as far as they can")},
        regions=_regions("lids"), check=(("EyeWideLeft", 1), ("EyeWideRight", 1)), keywords=("widen", "eyes wide"),
    ))
    add(ActionSpec(
        "open_mouth", "hold",
        main={"JawOpen": 0.8},
        secondary={**_both("MouthLowerDown", 0.35), **_both("MouthUpperUp", 0.1), "MouthFunnel": 0.1},
        suppress=("MouthClose", "MouthPressLeft", "MouthPressRight", "MouthRollLower", "MouthRollUpper"),
        templates=("open their mouth", "drop their jaw open"),
        words={"slight": ("slightly", "a little"), "soft": ("gently", "partly"), "strong": ("wide", "widely")},
        regions=_regions("mouth"), check=(("JawOpen", 1),), keywords=("open", "jaw"),
    ))
    add(ActionSpec(
        "pucker", "hold",
        main={"MouthPucker": 0.9},
        secondary={"MouthFunnel": 0.35, "MouthClose": 0.1, **_both("MouthPress", 0.05)},
        suppress=("MouthSmileLeft", "MouthSmileRight", "MouthStretchLeft", "MouthStretchRight"),
        templates=("pucker their lips", "pucker", "purse their lips into a kiss"),
        words={"strong": ("tightly", "strongly")},
        regions=_regions("mouth"), check=(("MouthPucker", 1),), keywords=("pucker", "kiss"),
    ))
    add(ActionSpec(
        "puff_cheeks", "hold",
        main={"CheekPuff": 0.85},
        secondary={"MouthClose": 0.3, "MouthPucker": 0.2, **_both("MouthPress", 0.15), "MouthRollUpper": 0.1},
        templates=("puff their cheeks", "puff out their cheeks", "blow up their cheeks"),
        words={"strong": ("fully", "strongly")},
        regions=_regions("mouth"), check=(("CheekPuff", 1),), keywords=("cheeks",),
    ))
    add(ActionSpec(
        "press_lips", "hold",
        main=_both("MouthPress", 0.8),
        secondary={"MouthRollLower": 0.35, "MouthRollUpper": 0.3, "MouthClose": 0.1, "MouthShrugLower": 0.15},
        suppress=("JawOpen", "MouthFunnel"),
        templates=("press their lips together", "press their lips", "tighten their lips"),
        words={"soft": ("lightly", "gently"), "strong": ("tightly", "firmly", "hard")},
        regions=_regions("mouth"), check=(("MouthPressLeft", 1), ("MouthPressRight", 1)), keywords=("lips",),
    ))
    add(ActionSpec(
        "sneer", "hold",
        main=_both("NoseSneer", 0.8),
        secondary={**_both("MouthUpperUp", 0.45), **_both("CheekSquint", 0.2), **_both("BrowDown", 0.2)},
        templates=("sneer", "wrinkle their nose", "scrunch up their nose"),
        words={"strong": ("strongly", "deeply")},
        regions=_regions("mouth"), check=(("NoseSneerLeft", 1), ("NoseSneerRight", 1)), keywords=("sneer", "nose"),
    ))
    gaze_words = {"slight": ("slightly", "a little"), "strong": ("far", "all the way")}
    add(ActionSpec(
        "look_left", "hold",
        main={}, gaze=(1.0, 0.0), head=(-0.08, 0.0, 0.0),
        templates=("look{m} to the left", "glance{m} to the left", "turn their eyes{m} to the left",
                   "shift their gaze{m} to the left", "look{m} left"),
        words=gaze_words, levels=("slight", "normal", "strong"),
        regions=_regions("gaze"), side="left",
        check=(("EyeLookOutLeft", 1), ("EyeLookInRight", 1), ("LeftEyeYaw", -1), ("RightEyeYaw", -1)),
        keywords=("left",),
    ), mirror="look_right")
    add(ActionSpec(
        "look_up", "hold",
        main={}, gaze=(0.0, 1.0), head=(0.0, -0.05, 0.0),
        secondary={**_both("BrowOuterUp", 0.15), "BrowInnerUp": 0.1},
        templates=("look{m} up", "glance{m} up", "raise their eyes", "look{m} upward", "turn their eyes{m} upward"),
        words=gaze_words, levels=("slight", "normal", "strong"),
        regions=_regions("gaze"),
        check=(("EyeLookUpLeft", 1), ("EyeLookUpRight", 1), ("LeftEyePitch", -1), ("RightEyePitch", -1)),
        keywords=("up", "raise their eyes", "raises their eyes", "raising their eyes"),
    ))
    add(ActionSpec(
        "look_down", "hold",
        main={}, gaze=(0.0, -1.0), head=(0.0, 0.06, 0.0),
        templates=("look{m} down", "glance{m} down", "lower their eyes", "look{m} downward",
                   "turn their eyes{m} downward"),
        words=gaze_words, levels=("slight", "normal", "strong"),
        regions=_regions("gaze"),
        check=(("EyeLookDownLeft", 1), ("EyeLookDownRight", 1), ("LeftEyePitch", 1), ("RightEyePitch", 1)),
        keywords=("down", "lower"),
    ))
    add(ActionSpec(
        "roll_eyes", "roll",
        main={}, gaze=(0.75, 1.0),
        secondary={"BrowInnerUp": 0.2, **_both("BrowOuterUp", 0.1)},
        templates=("roll their eyes",),
        words={"slight": ("slightly", "subtly"), "strong": ("dramatically", "exaggeratedly")},
        levels=("slight", "normal", "strong"), speeds=("quick", "normal", "slow"),
        regions=_regions("gaze"),
        check=(("EyeLookUpLeft", 1), ("EyeLookUpRight", 1), ("LeftEyePitch", -1)),
        keywords=("roll",),
    ))
    add(ActionSpec(
        "nod", "nod",
        main={}, head=(0.0, 0.25, 0.0),
        templates=("nod{n}", "nod their head{n}"),
        words={"slight": ("slightly", "subtly"), "soft": ("gently",), "strong": ("vigorously", "firmly")},
        speeds=("quick", "normal", "slow"),
        regions=_regions("head"), check=(("HeadPitch", 1),), keywords=("nod",),
    ))
    add(ActionSpec(
        "shake_head", "shake",
        main={}, head=(0.3, 0.0, 0.0),
        templates=("shake their head",),
        fixed_templates=("shake their head no",),
        words={"slight": ("slightly", "subtly"), "soft": ("gently",), "strong": ("vigorously", "firmly")},
        regions=_regions("head"), check=(("HeadYaw", 0),), keywords=("shak",),
    ))
    add(ActionSpec(
        "tilt_head_left", "hold",
        main={}, head=(0.0, 0.0, -0.3),
        templates=("tilt their head{m} to the left", "lean their head{m} to the left",
                   "cock their head{m} to the left"),
        words={"slight": ("slightly", "a little"), "soft": ("gently",), "strong": ("far", "sharply")},
        regions=_regions("head"), side="left", check=(("HeadRoll", -1),), keywords=("left",),
    ), mirror="tilt_head_right")
    add(ActionSpec(
        "tongue_out", "hold",
        main={"TongueOut": 0.95},
        secondary={"JawOpen": 0.3, **_both("MouthLowerDown", 0.15), "MouthFunnel": 0.1},
        suppress=("MouthClose", "MouthPressLeft", "MouthPressRight"),
        templates=("stick out their tongue", "stick their tongue out{m}"),
        fixed_templates=("show their tongue",),
        words={"slight": ("slightly", "a little"), "strong": ("all the way", "far")},
        levels=("slight", "normal", "strong"),
        regions=_regions("mouth"), check=(("TongueOut", 1),), keywords=("tongue",),
    ))
    add(ActionSpec(
        "smirk_left", "hold",
        main={"MouthSmileLeft": 0.8},
        secondary={"MouthLeft": 0.3, "CheekSquintLeft": 0.3, "MouthDimpleLeft": 0.3, "EyeSquintLeft": 0.15},
        templates=("smirk with the left side of their mouth", "smile with the left corner of their mouth",
                   "pull up the left corner of their mouth"),
        fixed_templates=("give a lopsided smile on the left",),
        words={"strong": ("broadly", "widely")},
        regions=_regions("mouth"), side="left", check=(("MouthSmileLeft", 1),), keywords=("left",),
    ), mirror="smirk_right")
    add(ActionSpec(
        "raise_left_brow", "hold",
        main={"BrowOuterUpLeft": 0.9},
        secondary={"BrowInnerUp": 0.3, "BrowDownRight": 0.2, "EyeWideLeft": 0.15},
        templates=("raise their left eyebrow", "lift their left eyebrow", "arch their left eyebrow"),
        words={"strong": ("high", "all the way")},
        regions=_regions("brows"), side="left", check=(("BrowOuterUpLeft", 1),), keywords=("left",),
    ), mirror="raise_right_brow")
    add(ActionSpec(
        "jaw_left", "hold",
        main={"JawLeft": 0.75},
        secondary={"MouthLeft": 0.3, "JawOpen": 0.05},
        templates=("move their jaw{m} to the left", "shift their jaw{m} to the left", "slide their jaw{m} to the left"),
        words={"slight": ("slightly", "a little"), "strong": ("far", "all the way")},
        levels=("slight", "normal", "strong"),
        regions=_regions("mouth"), side="left", check=(("JawLeft", 1),), keywords=("left",),
    ), mirror="jaw_right")
    add(ActionSpec(
        "close_eyes", "hold",
        main=_both("EyeBlink", 1.0),
        secondary={**_both("EyeSquint", 0.3), **_both("CheekSquint", 0.1), **_both("BrowDown", 0.1)},
        suppress=("EyeWideLeft", "EyeWideRight"),
        templates=("close their eyes", "shut their eyes"),
        words={"soft": ("gently", "softly"), "strong": ("tightly", "firmly")},
        levels=("soft", "normal", "strong"),
        regions=_regions("lids"), fixed_main=True,
        check=(("EyeBlinkLeft", 1), ("EyeBlinkRight", 1)), keywords=("clos", "shut"),
    ))
    add(ActionSpec(
        "bare_teeth", "hold",
        main={**_both("MouthUpperUp", 0.7), **_both("MouthLowerDown", 0.6)},
        secondary={**_both("MouthStretch", 0.45), **_both("MouthSmile", 0.15), "JawOpen": 0.1,
                   **_both("NoseSneer", 0.15)},
        suppress=("MouthClose", "MouthPucker", "MouthFunnel"),
        templates=("bare their teeth", "show their teeth", "grimace"),
        words={"strong": ("fully", "widely")},
        regions=_regions("mouth"),
        check=(("MouthUpperUpLeft", 1), ("MouthLowerDownRight", 1)), keywords=("teeth", "grimac"),
    ))
    add(ActionSpec(
        "look_surprised", "hold",
        main={"BrowInnerUp": 0.85, **_both("BrowOuterUp", 0.75), **_both("EyeWide", 0.7), "JawOpen": 0.45},
        secondary={"MouthFunnel": 0.2, **_both("MouthLowerDown", 0.2)},
        suppress=("EyeBlinkLeft", "EyeBlinkRight", "BrowDownLeft", "BrowDownRight", "MouthClose"),
        templates=("look{m} surprised", "appear{m} surprised"),
        fixed_templates=("make a surprised face", "show surprise"),
        words=emotion_words,
        regions=_regions("brows", "lids", "mouth"),
        check=(("BrowInnerUp", 1), ("EyeWideLeft", 1), ("JawOpen", 1)), keywords=("surprise",),
    ))
    add(ActionSpec(
        "look_sad", "hold",
        main={**_both("MouthFrown", 0.6), "BrowInnerUp": 0.75},
        secondary={"MouthShrugLower": 0.3, **_both("MouthPress", 0.2), **_both("EyeBlink", 0.15)},
        gaze=(0.0, -0.25), head=(0.0, 0.06, 0.0),
        suppress=("MouthSmileLeft", "MouthSmileRight", "BrowOuterUpLeft", "BrowOuterUpRight"),
        templates=("look{m} sad", "appear{m} sad", "look{m} unhappy"),
        fixed_templates=("make a sad face", "put on a sad expression"),
        words=emotion_words,
        regions=_regions("brows", "lids", "mouth", "gaze"),
        check=(("MouthFrownLeft", 1), ("BrowInnerUp", 1)), keywords=("sad", "unhappy"),
    ))
    add(ActionSpec(
        "look_angry", "hold",
        main={**_both("BrowDown", 0.9), **_both("EyeSquint", 0.4), **_both("MouthPress", 0.35)},
        secondary={**_both("NoseSneer", 0.35), "MouthRollLower": 0.2, "JawForward": 0.15},
        suppress=("BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "MouthSmileLeft", "MouthSmileRight"),
        templates=("look{m} angry", "appear{m} angry", "look{m} annoyed"),
        fixed_templates=("make an angry face", "scowl"),
        words=emotion_words,
        regions=_regions("brows", "lids", "mouth"),
        check=(("BrowDownLeft", 1), ("MouthPressRight", 1)), keywords=("angry", "annoyed", "scowl"),
    ))
    add(ActionSpec(
        "look_disgusted", "hold",
        main={**_both("NoseSneer", 0.8), **_both("MouthUpperUp", 0.55)},
        secondary={**_both("BrowDown", 0.4), **_both("EyeSquint", 0.35), **_both("MouthFrown", 0.25),
                   **_both("CheekSquint", 0.3), "MouthShrugUpper": 0.3},
        suppress=("MouthSmileLeft", "MouthSmileRight"),
        templates=("look{m} disgusted", "appear{m} disgusted"),
        fixed_templates=("make a disgusted face", "show disgust"),
        words=emotion_words,
        regions=_regions("brows", "lids", "mouth"),
        check=(("NoseSneerLeft", 1), ("MouthUpperUpRight", 1)), keywords=("disgust",),
    ))
    return A


ACTIONS: dict[str, ActionSpec] = _build_actions()
"""Every synthetic facial action by key (``smile``, ``wink_left``, ``look_up``, ``nod`` ...)."""
ACTION_NAMES: tuple[str, ...] = tuple(ACTIONS)

_LEFT = np.array([n.endswith("Left") for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]])
_RIGHT = np.array([n.endswith("Right") for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]])
_I = channel_index
_INDEX_LOWER = {n.lower() for n in CHANNEL_NAMES}
_MIRROR_BS = np.array([_I(_mirror_channel(n)) for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]], dtype=np.int64)


def _vector(weights: dict[str, float]) -> np.ndarray:
    v = np.zeros(NUM_BLENDSHAPES, dtype=np.float64)
    for name, w in weights.items():
        v[_I(name)] = w
    return v


_MAIN_VEC = {k: _vector(s.main) for k, s in ACTIONS.items()}
_SEC_VEC = {k: _vector(s.secondary) for k, s in ACTIONS.items()}
_SUPPRESS_IDX = {k: np.array([_I(n) for n in s.suppress], dtype=np.int64) for k, s in ACTIONS.items()}


# --------------------------------------------------------------------------------------------
# Performers
# --------------------------------------------------------------------------------------------


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
    rest_ranges = {
        "MouthStretch": (0.02, 0.20), "MouthFunnel": (0.02, 0.15), "NoseSneer": (0.0, 0.08),
        "BrowInnerUp": (0.0, 0.15), "MouthFrown": (0.0, 0.12), "EyeSquint": (0.01, 0.12),
        "MouthShrugUpper": (0.02, 0.15), "MouthShrugLower": (0.0, 0.12), "MouthRollLower": (0.0, 0.10),
        "MouthClose": (0.0, 0.06), "JawOpen": (0.0, 0.05), "MouthDimple": (0.0, 0.08),
        "MouthUpperUp": (0.0, 0.08), "MouthLowerDown": (0.0, 0.08), "EyeBlink": (0.02, 0.15),
        "CheekPuff": (0.0, 0.05), "JawForward": (0.0, 0.06), "MouthPress": (0.0, 0.06),
    }
    for p in range(n):
        rest = rng.uniform(0.0, 0.03, NUM_BLENDSHAPES)
        for prefix, (lo, hi) in rest_ranges.items():
            value = rng.uniform(lo, hi)
            for side in ("", "Left", "Right"):
                name = prefix + side
                if name.lower() in _INDEX_LOWER:
                    rest[_I(name)] = float(np.clip(value + rng.uniform(-0.015, 0.015), 0.0, 1.0))
        for name in ("TongueOut", "EyeLookDownLeft", "EyeLookDownRight", "EyeLookInLeft", "EyeLookInRight",
                     "EyeLookOutLeft", "EyeLookOutRight", "EyeLookUpLeft", "EyeLookUpRight", "JawLeft", "JawRight",
                     "MouthLeft", "MouthRight", "EyeWideLeft", "EyeWideRight"):
            rest[_I(name)] = 0.0
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


# --------------------------------------------------------------------------------------------
# Plans: which actions, how, when
# --------------------------------------------------------------------------------------------


@dataclass
class ActionEvent:
    """One action as performed in a take (times in seconds from the take's start)."""

    key: str
    intensity: str = "normal"
    speed: str = "normal"
    count: int = 1
    """Repetitions for ``blink`` and ``nod``; full cycles for ``shake``."""
    start: float = 0.0
    attack: float = 0.3
    hold: float = 0.8
    release: float = 0.4
    period: float = 0.0
    """Seconds per closure / nod / shake cycle, or the whole eye-roll sweep."""
    gap: float = 0.0
    """Seconds between repeated blinks."""
    direction: float = 1.0
    """Eye-roll direction (+1 or -1; captions do not say)."""
    amplitude: float = 0.8

    @property
    def spec(self) -> ActionSpec:
        return ACTIONS[self.key]

    @property
    def duration(self) -> float:
        kind = self.spec.kind
        if kind == "blink":
            return self.count * self.period + (self.count - 1) * self.gap
        if kind in ("nod", "shake", "roll"):
            return self.count * self.period if kind != "roll" else self.period
        return self.attack + self.hold + self.release

    @property
    def end(self) -> float:
        return self.start + self.duration

    def scale_time(self, factor: float) -> None:
        for name in ("start", "attack", "hold", "release", "period", "gap"):
            setattr(self, name, getattr(self, name) * factor)


@dataclass
class TakePlan:
    """The actions of one take: sequential steps of one action, or of two at once ("X while Y")."""

    steps: list[list[ActionEvent]]
    seconds: float = 0.0

    @property
    def events(self) -> list[ActionEvent]:
        return [e for step in self.steps for e in step]

    @property
    def actions(self) -> list[str]:
        return [e.key for e in self.events]

    @property
    def num_frames(self) -> int:
        return int(round(self.seconds * FPS))

    @property
    def composition(self) -> str:
        if len(self.steps) == 1:
            return "simultaneous" if len(self.steps[0]) == 2 else "single"
        return "mixed" if any(len(s) == 2 for s in self.steps) else "sequential"


def _can_hold_together(primary: str, background: str) -> bool:
    a, b = ACTIONS[primary], ACTIONS[background]
    return b.kind == "hold" and primary != background and not (a.regions & b.regions)


def _pick(rng: np.random.Generator, options: Sequence, p: Sequence[float] | None = None):
    return options[int(rng.choice(len(options), p=p))]


def _sample_level(rng, spec: ActionSpec) -> str:
    if len(spec.levels) == 1:
        return spec.levels[0]
    others = [lv for lv in spec.levels if lv != "normal"]
    if "normal" in spec.levels and rng.random() < 0.4:
        return "normal"
    return _pick(rng, others)


def _sample_speed(rng, spec: ActionSpec) -> str:
    if rng.random() < 0.5 or len(spec.speeds) == 1:
        return "normal"
    return _pick(rng, [s for s in spec.speeds if s != "normal"])


def _new_event(rng, key: str, intensity: str | None, speed: str | None) -> ActionEvent:
    spec = ACTIONS[key]
    level = intensity if intensity is not None else _sample_level(rng, spec)
    spd = speed if speed is not None else _sample_speed(rng, spec)
    if level not in spec.levels:
        raise ValueError(f"action {key!r} takes intensity {', '.join(spec.levels)}; got {level!r}")
    if spd not in spec.speeds:
        raise ValueError(f"action {key!r} takes speed {', '.join(spec.speeds)}; got {spd!r}")
    count = 1
    if spec.kind in ("blink", "nod"):
        count = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
    elif spec.kind == "shake":
        count = 1 if spd == "brief" else int(rng.integers(2, 4))
    return ActionEvent(key=key, intensity=level, speed=spd, count=count)


def sample_plan(
    rng: np.random.Generator,
    actions: Sequence[str | Sequence[str]] | None = None,
    composition: str | None = None,
    intensity: str | Sequence[str] | None = None,
    speed: str | Sequence[str] | None = None,
) -> TakePlan:
    """Choose the actions of a take (untimed; :func:`render_plan` lays them out).

    ``actions``: ``None`` (1-3 random actions, random composition), a list of keys (played one
    after the other, or at once with ``composition="simultaneous"`` for two keys), or a list of
    steps where a step is a key or a pair ``[primary, background]`` played at once.
    ``intensity`` / ``speed``: one value for every action, or one per action, or ``None`` (random).
    """
    if actions is None:
        steps_keys = _sample_structure(rng)
    else:
        actions = list(actions)
        if not actions:
            raise ValueError("sample_plan: actions must name at least one action")
        if composition == "simultaneous":
            if len(actions) != 2 or not all(isinstance(a, str) for a in actions):
                raise ValueError("sample_plan: composition='simultaneous' needs exactly two action keys")
            steps_keys = [list(actions)]
        elif composition in (None, "sequential", "single"):
            steps_keys = [[a] if isinstance(a, str) else list(a) for a in actions]
        else:
            raise ValueError(f"sample_plan: composition must be 'sequential' or 'simultaneous', got {composition!r}")
        for step in steps_keys:
            for key in step:
                if key not in ACTIONS:
                    raise ValueError(f"unknown action {key!r}; expected one of {', '.join(ACTION_NAMES)}")
            if len(step) == 2 and not _can_hold_together(*step):
                raise ValueError(
                    f"actions {step[0]!r} and {step[1]!r} cannot play at once (the second must be a held action "
                    "on a different part of the face)"
                )
            if len(step) not in (1, 2):
                raise ValueError(f"a step holds one action or a pair, got {step!r}")
    flat = [k for step in steps_keys for k in step]

    def per_event(value, name):
        if value is None or isinstance(value, str):
            return [value] * len(flat)
        value = list(value)
        if len(value) != len(flat):
            raise ValueError(f"sample_plan: {len(value)} {name} values for {len(flat)} actions")
        return value

    levels, speeds = per_event(intensity, "intensity"), per_event(speed, "speed")
    steps, i = [], 0
    for step in steps_keys:
        events = []
        for key in step:
            events.append(_new_event(rng, key, levels[i], speeds[i]))
            i += 1
        steps.append(events)
    return TakePlan(steps=steps)


def _sample_structure(rng) -> list[list[str]]:
    n = int(rng.choice([1, 2, 3], p=[0.35, 0.42, 0.23]))
    keys: list[str] = []
    while len(keys) < n:
        k = ACTION_NAMES[int(rng.integers(len(ACTION_NAMES)))]
        if k not in keys:
            keys.append(k)
    if n == 1:
        return [keys]
    # one pair at most, when the chosen actions allow it
    pair_at = None
    if rng.random() < (0.4 if n == 2 else 0.5):
        candidates = [j for j in range(n - 1) if _can_hold_together(keys[j], keys[j + 1])]
        candidates += [-(j + 1) for j in range(n - 1) if _can_hold_together(keys[j + 1], keys[j])]
        if candidates:
            pair_at = _pick(rng, candidates)
    if pair_at is None:
        return [[k] for k in keys]
    j = pair_at if pair_at >= 0 else -pair_at - 1
    pair = [keys[j], keys[j + 1]] if pair_at >= 0 else [keys[j + 1], keys[j]]
    return [[k] for k in keys[:j]] + [pair] + [[k] for k in keys[j + 2:]]


def _u(rng, lo_hi) -> float:
    return float(rng.uniform(*lo_hi))


def _time_event(rng, event: ActionEvent, performer: Performer) -> None:
    spec, s = event.spec, performer.timing
    if spec.kind == "blink":
        a, h, r = _TIMING["blink"][event.speed]
        event.attack, event.hold, event.release = _u(rng, a) * s, _u(rng, h) * s, _u(rng, r) * s
        event.period = event.attack + event.hold + event.release
        event.gap = _u(rng, _BLINK_GAP[event.speed]) * s
    elif spec.kind == "nod":
        event.period = _u(rng, _NOD_PERIOD[event.speed]) * s
    elif spec.kind == "shake":
        event.period = _u(rng, _SHAKE_PERIOD[event.speed]) * s
    elif spec.kind == "roll":
        event.period = _u(rng, _ROLL_DURATION[event.speed]) * s
        event.direction = 1.0 if rng.random() < 0.5 else -1.0
    else:
        a, h, r = _TIMING[spec.timing][event.speed]
        event.attack, event.hold, event.release = _u(rng, a) * s, _u(rng, h) * s, _u(rng, r) * s
    gain = INTENSITY_GAIN[event.intensity] * float(rng.uniform(0.9, 1.1))
    event.amplitude = gain * performer.amplitude * performer.action_gain(event.key)


def _layout(rng, plan: TakePlan, performer: Performer) -> None:
    """Time every event: a short rest, the steps one after the other, a rest; 2-8 s in all."""
    for event in plan.events:
        _time_event(rng, event, performer)
    t = float(rng.uniform(0.25, 0.8))
    for step in plan.steps:
        if len(step) == 1:
            step[0].start = t
            t = step[0].end
        else:
            primary, background = step
            background.start = t
            primary.start = t + background.attack * float(rng.uniform(0.4, 1.0)) + float(rng.uniform(0.05, 0.3))
            needed = primary.end + float(rng.uniform(0.1, 0.35)) - background.start - background.attack
            background.hold = max(background.hold, needed)
            t = max(primary.end, background.end)
        t += float(rng.uniform(0.1, 0.45)) * performer.timing
    total = t + float(rng.uniform(0.2, 0.8))
    limit = MAX_SECONDS - 0.05
    if total > limit:
        factor = limit / total
        for event in plan.events:
            event.scale_time(factor)
        total = limit
    if total < MIN_SECONDS:
        extra = MIN_SECONDS + float(rng.uniform(0.0, 1.0)) - total
        shift = extra * float(rng.uniform(0.0, 0.6))
        for event in plan.events:
            event.start += shift
        total += extra
    plan.seconds = round(total * FPS) / FPS


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _envelope(t: np.ndarray, start: float, attack: float, hold: float, release: float) -> np.ndarray:
    up = _smoothstep((t - start) / max(attack, 1e-3))
    down = _smoothstep((t - start - attack - hold) / max(release, 1e-3))
    return up * (1.0 - down)


def _pulses(t: np.ndarray, starts: np.ndarray, attack, hold, release) -> np.ndarray:
    """Max over lid closures starting at ``starts`` (vectorised over closures and frames)."""
    if len(starts) == 0:
        return np.zeros_like(t)
    tt = t[None, :] - np.asarray(starts, dtype=np.float64)[:, None]
    attack, hold, release = (np.broadcast_to(np.asarray(v, dtype=np.float64), (len(starts),))[:, None]
                             for v in (attack, hold, release))
    up = _smoothstep(tt / np.maximum(attack, 1e-3))
    down = _smoothstep((tt - attack - hold) / np.maximum(release, 1e-3))
    return (up * (1.0 - down)).max(axis=0)


def _event_signals(t: np.ndarray, event: ActionEvent, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (activation [T], gaze [T,2], head [T,3], head used for the eyes' reflex [T,3])."""
    spec, amp = event.spec, event.amplitude
    T = len(t)
    gaze = np.zeros((T, 2))
    head = np.zeros((T, 3))
    reflex = np.zeros((T, 3))
    if spec.kind == "hold":
        act = _envelope(t, event.start, event.attack, event.hold, event.release)
        wobble = 1.0 + 0.04 * np.sin(2 * np.pi * rng.uniform(0.3, 0.9) * t + rng.uniform(0, 2 * np.pi))
        act = act * wobble
        gaze += act[:, None] * amp * np.asarray(spec.gaze)[None, :]
        head += act[:, None] * amp * np.asarray(spec.head)[None, :]
    elif spec.kind == "blink":
        starts = event.start + np.arange(event.count) * (event.period + event.gap)
        act = _pulses(t, starts, event.attack, event.hold, event.release)
    elif spec.kind in ("nod", "shake"):
        u = (t - event.start) / event.period
        inside = (u >= 0) & (u <= event.count)
        uc = np.clip(u, 0.0, event.count)
        act = np.where(inside, np.sin(np.pi * uc / event.count), 0.0)
        if spec.kind == "nod":  # pitch down and back up, `count` times
            signal = 0.5 * (1.0 - np.cos(2 * np.pi * uc))
        else:  # yaw side to side, tapered to start and end at rest
            signal = np.sin(2 * np.pi * uc) * np.sqrt(np.clip(act, 0.0, 1.0))
        head += np.where(inside, signal, 0.0)[:, None] * amp * np.asarray(spec.head)[None, :]
        reflex = head
    elif spec.kind == "roll":
        p = np.clip((t - event.start) / event.period, 0.0, 1.0)
        inside = (t >= event.start) & (t <= event.start + event.period)
        act = np.where(inside, np.sin(np.pi * p), 0.0)
        gaze[:, 0] = event.direction * spec.gaze[0] * amp * np.where(inside, np.sin(2 * np.pi * p), 0.0)
        gaze[:, 1] = spec.gaze[1] * amp * act
    else:  # pragma: no cover - specs are fixed above
        raise ValueError(f"unknown action kind {spec.kind!r}")
    return act, gaze, head, reflex


def render_plan(
    rng: np.random.Generator,
    performer: Performer,
    plan: TakePlan,
    spontaneous_blinks: bool = True,
    tracking_noise: bool = True,
    idle_motion: bool = True,
) -> np.ndarray:
    """Animate a plan for a performer: ``[T, 61]`` float32 at 60 fps (times laid out here)."""
    _layout(rng, plan, performer)
    T = plan.num_frames
    t = np.arange(T, dtype=np.float64) / FPS
    # the day's resting face: symmetric jitter (the asymmetry is the performer's)
    jitter = rng.uniform(0.85, 1.15, NUM_BLENDSHAPES)
    rest = performer.rest * 0.5 * (jitter + jitter[_MIRROR_BS])
    act_bs = np.zeros((T, NUM_BLENDSHAPES))
    suppress = np.zeros((T, NUM_BLENDSHAPES))
    gaze = np.zeros((T, 2))
    head = np.zeros((T, 3))
    reflex = np.zeros((T, 3))
    lid_windows = []
    for event in plan.events:
        spec = event.spec
        act, g, h, r = _event_signals(t, event, rng)
        main_amp = float(rng.uniform(0.93, 1.0)) if spec.fixed_main else event.amplitude
        weights = main_amp * _MAIN_VEC[event.key] + event.amplitude * performer.secondary * _SEC_VEC[event.key]
        act_bs += act[:, None] * weights[None, :]
        idx = _SUPPRESS_IDX[event.key]
        if len(idx):
            suppress[:, idx] = np.maximum(suppress[:, idx], np.clip(act * event.amplitude, 0.0, 1.0)[:, None])
        gaze += g
        head += h
        reflex += r
        if "lids" in spec.regions:
            lid_windows.append((event.start - 0.4, event.end + 0.4))

    # left/right imbalance of the performer on what the actions add
    act_bs[:, _LEFT] *= 1.0 + performer.asymmetry
    act_bs[:, _RIGHT] *= 1.0 - performer.asymmetry
    bs = (rest[None, :] + act_bs) * (1.0 - 0.9 * suppress)

    # the eyes partly compensate head nods / shakes (vestibulo-ocular reflex)
    gaze[:, 0] += performer.vor * reflex[:, 0] / EYE_YAW_PER_UNIT
    gaze[:, 1] += performer.vor * reflex[:, 1] / EYE_PITCH_PER_UNIT
    gaze += np.asarray(performer.rest_gaze)[None, :]
    head += np.asarray(performer.rest_head)[None, :]

    if idle_motion:
        # slow head sway: two sinusoids per axis
        freqs = rng.uniform(0.08, 0.45, (2, 3)) * performer.sway_speed
        phases = rng.uniform(0.0, 2 * np.pi, (2, 3))
        amps = performer.head_sway * rng.uniform(0.3, 1.0, (2, 3)) * np.array([1.0, 0.8, 0.5])
        waves = np.sin(2 * np.pi * freqs[:, None, :] * t[None, :, None] + phases[:, None, :])
        head += (amps[:, None, :] * waves).sum(0)
        # gaze micro-saccades: small smooth steps
        n_sacc = int(rng.poisson(performer.saccade_rate * plan.seconds))
        if n_sacc:
            times = np.sort(rng.uniform(0.0, plan.seconds, n_sacc))
            deltas = rng.normal(0.0, 0.04, (n_sacc, 2))
            steps = _smoothstep((t[None, :] - times[:, None]) / 0.04)
            walk = steps.T @ deltas
            gaze += walk - walk.mean(axis=0, keepdims=True) * 0.5

    if spontaneous_blinks:
        n_blinks = int(rng.poisson(performer.blink_rate / 60.0 * plan.seconds))
        times = np.sort(rng.uniform(0.0, plan.seconds, n_blinks))
        keep, last = [], -1.0
        for time in times:
            if time - last < 0.6 or any(lo <= time <= hi for lo, hi in lid_windows):
                continue
            keep.append(time)
            last = time
        if keep:
            k = len(keep)
            closure = _pulses(
                t, np.array(keep), rng.uniform(0.05, 0.08, k), rng.uniform(0.0, 0.05, k), rng.uniform(0.10, 0.16, k)
            ) * float(rng.uniform(0.85, 1.0))
            for name, side in (("EyeBlinkLeft", 1.0), ("EyeBlinkRight", -1.0)):
                j = _I(name)
                bs[:, j] = np.maximum(bs[:, j], closure * (1.0 + 0.05 * side * np.sign(performer.asymmetry)))

    # gaze -> eye-look blendshapes and eye rotations (one source, so they always agree)
    gaze = np.clip(gaze, -1.0, 1.0)
    h, v = gaze[:, 0], gaze[:, 1]
    left, right, up, down = np.maximum(h, 0), np.maximum(-h, 0), np.maximum(v, 0), np.maximum(-v, 0)
    for name, value in (
        ("EyeLookOutLeft", left), ("EyeLookInRight", left), ("EyeLookInLeft", right), ("EyeLookOutRight", right),
        ("EyeLookUpLeft", up), ("EyeLookUpRight", up), ("EyeLookDownLeft", down), ("EyeLookDownRight", down),
    ):
        bs[:, _I(name)] += value
    for side in ("Left", "Right"):  # lids follow the gaze a little
        bs[:, _I("EyeBlink" + side)] += 0.25 * down
        bs[:, _I("EyeWide" + side)] += 0.1 * up

    frames = np.zeros((T, NUM_CHANNELS))
    frames[:, :NUM_BLENDSHAPES] = bs
    frames[:, _I("HeadYaw")], frames[:, _I("HeadPitch")], frames[:, _I("HeadRoll")] = head.T
    for side in ("Left", "Right"):
        frames[:, _I(side + "EyeYaw")] = -EYE_YAW_PER_UNIT * h
        frames[:, _I(side + "EyePitch")] = -EYE_PITCH_PER_UNIT * v

    if tracking_noise:
        noise = rng.normal(0.0, 1.0, (T + 2, NUM_CHANNELS))
        noise = (noise[:-2] + noise[1:-1] + noise[2:]) / np.sqrt(3.0)  # slightly correlated in time
        scale = np.full(NUM_CHANNELS, performer.noise)
        scale[NUM_BLENDSHAPES:] = performer.noise * 0.4
        frames += noise * scale[None, :]

    frames[:, :NUM_BLENDSHAPES] = np.clip(frames[:, :NUM_BLENDSHAPES], 0.0, 1.0)
    for k, lim in enumerate(HEAD_LIMITS):
        frames[:, NUM_BLENDSHAPES + k] = np.clip(frames[:, NUM_BLENDSHAPES + k], -lim, lim)
    for base in (NUM_BLENDSHAPES + 3, NUM_BLENDSHAPES + 6):
        for k, lim in enumerate(EYE_LIMITS):
            frames[:, base + k] = np.clip(frames[:, base + k], -lim, lim)
    return frames.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------------------------

_ING_EXCEPTIONS = {"nod": "nodding", "grin": "grinning", "knit": "knitting", "shut": "shutting", "drop": "dropping"}


def _verb_s(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if len(verb) > 1 and verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _verb_ing(verb: str) -> str:
    if verb in _ING_EXCEPTIONS:
        return _ING_EXCEPTIONS[verb]
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith("ee"):
        return verb[:-1] + "ing"
    return verb + "ing"


def _conjugate(phrase: str, form: str) -> str:
    verb, _, rest = phrase.partition(" ")
    if form == "s":
        verb = _verb_s(verb)
    elif form == "ing":
        verb = _verb_ing(verb)
    return verb + (" " + rest if rest else "")


@dataclass
class _Phrase:
    """An action's verb phrase with its modifiers, conjugated on demand."""

    pre: str  # adverb before the verb ("slowly")
    body: str  # base-form verb phrase with intensity/count filled in
    post: str  # words after it ("widely and slowly")

    def form(self, form: str) -> str:
        text = _conjugate(self.body, form) + (" " + self.post if self.post else "")
        return (self.pre + " " + text) if self.pre else text


def _phrase(rng, event: ActionEvent) -> _Phrase:
    spec = event.spec
    templates = list(spec.templates) + (list(spec.fixed_templates) if event.intensity == "normal" else [])
    body = _pick(rng, templates)
    post: list[str] = []
    if "{n}" in body:
        body = body.replace("{n}", _pick(rng, _COUNT_WORDS[event.count]))
    word = _pick(rng, spec.intensity_words(event.intensity)) if event.intensity != "normal" else ""
    if "{m}" in body:
        body = body.replace("{m}", " " + word if word else "")
    elif word:
        post.append(word)
    pre = ""
    if event.speed != "normal":
        sw = _pick(rng, _SPEED_WORDS[event.speed])
        if " " not in sw and (rng.random() < 0.5 or any(" " in w for w in post)):
            pre = sw
        else:
            post.append(sw)
    return _Phrase(pre=pre, body=body, post=" and ".join(post))


def _step_text(rng, step: list[ActionEvent], form: str) -> str:
    if len(step) == 1:
        return _phrase(rng, step[0]).form(form)
    p, b = _phrase(rng, step[0]), _phrase(rng, step[1])
    if form == "s":
        pattern = _pick(rng, ["while", "same_time", "as_they"])
    else:
        pattern = _pick(rng, ["while", "same_time"])
    if pattern == "while":
        return f"{p.form(form)} while {b.form('ing')}"
    if pattern == "same_time":
        return f"{p.form(form)} and {b.form(form)} at the same time"
    return f"{p.form(form)} as they {b.form('base')}"


def _join_sequence(rng, parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return _pick(rng, ["{0} and then {1}", "{0}, then {1}", "{0}, and then {1}"]).format(*parts)
    patterns = ["{0}, then {1}, and then {2}", "{0}, {1}, and then {2}", "{0}, then {1}, and finally {2}"]
    return _pick(rng, patterns).format(*parts)


_S_SUBJECTS = ("The person", "A person", "Someone", "The person", "A person")
_ING_SUBJECTS = ("A person is", "The person is", "Someone is", "A person is")
_RELAX = {
    "s": (" and then relaxes their face", ", then returns to a neutral expression", " and then relaxes"),
    "ing": (" and then relaxing their face", ", then returning to a neutral expression", " and then relaxing"),
}


def _caption(rng, plan: TakePlan) -> str:
    steps = plan.steps
    style = _pick(rng, ["s", "ing", "first", "after", "before"], p=[0.38, 0.38, 0.1, 0.07, 0.07])
    if style in ("first", "after", "before") and len(steps) != 2:
        style = "s"
    if style == "first":
        first, second = _step_text(rng, steps[0], "s"), _step_text(rng, steps[1], "s")
        text = f"{_pick(rng, _S_SUBJECTS)} first {first}, then {second}"
    elif style == "after":
        first, second = _step_text(rng, steps[0], "ing"), _step_text(rng, steps[1], "s")
        text = f"After {first}, {_pick(rng, _S_SUBJECTS).lower()} {second}"
    elif style == "before":
        text = f"{_pick(rng, _S_SUBJECTS)} {_step_text(rng, steps[0], 's')} before {_step_text(rng, steps[1], 'ing')}"
    else:
        body = _join_sequence(rng, [_step_text(rng, step, style) for step in steps])
        subject = _pick(rng, _S_SUBJECTS if style == "s" else _ING_SUBJECTS)
        text = f"{subject} {body}"
        if len(steps) < 3 and rng.random() < 0.2:
            tail = _pick(rng, _RELAX[style])
            if len(steps) > 1 or len(steps[0]) > 1:
                tail = "," + tail if tail.startswith(" and") else tail
            text += tail
    text = re.sub(r"\s+", " ", text).strip()
    return text[0].upper() + text[1:]


def caption_plan(rng: np.random.Generator, plan: TakePlan, num_captions: int | None = None) -> list[str]:
    """Paraphrased captions (3-5 unless ``num_captions``), all naming every action with its modifiers."""
    n = int(rng.integers(3, 6)) if num_captions is None else int(num_captions)
    captions: list[str] = []
    for _ in range(20 * n):
        text = _caption(rng, plan)
        if text not in captions:
            captions.append(text)
        if len(captions) == n:
            break
    return captions


# --------------------------------------------------------------------------------------------
# Takes
# --------------------------------------------------------------------------------------------


@dataclass
class SyntheticTake:
    frames: np.ndarray
    """``[T, 61]`` float32 at 60 fps."""
    captions: list[str]
    actions: list[str]
    plan: TakePlan

    @property
    def seconds(self) -> float:
        return self.frames.shape[0] / FPS


def synthesize_take(
    rng: np.random.Generator,
    performer: Performer,
    actions: Sequence[str | Sequence[str]] | None = None,
    *,
    composition: str | None = None,
    intensity: str | Sequence[str] | None = None,
    speed: str | Sequence[str] | None = None,
    num_captions: int | None = None,
    spontaneous_blinks: bool = True,
    tracking_noise: bool = True,
    idle_motion: bool = True,
) -> SyntheticTake:
    """One take with its plan (see :func:`sample_plan` for ``actions`` / ``composition``)."""
    plan = sample_plan(rng, actions, composition=composition, intensity=intensity, speed=speed)
    frames = render_plan(rng, performer, plan, spontaneous_blinks, tracking_noise, idle_motion)
    captions = caption_plan(rng, plan, num_captions)
    return SyntheticTake(frames=frames, captions=captions, actions=plan.actions, plan=plan)


def generate_take(
    rng: np.random.Generator,
    performer: Performer,
    actions: Sequence[str | Sequence[str]] | None = None,
    **kwargs,
) -> tuple[np.ndarray, list[str], list[str]]:
    """``(frames [T, 61] float32 at 60 fps, captions, action keys)`` for one take, in memory.

    Keyword arguments as :func:`synthesize_take` (``composition``, ``intensity``, ``speed``,
    ``num_captions``, ``spontaneous_blinks``, ``tracking_noise``, ``idle_motion``).
    """
    take = synthesize_take(rng, performer, actions, **kwargs)
    return take.frames, take.captions, take.actions


# --------------------------------------------------------------------------------------------
# Corpus on disk
# --------------------------------------------------------------------------------------------


@dataclass
class SyntheticCorpusSummary:
    """What :func:`write_synthetic_corpus` wrote."""

    out_dir: str
    num_sequences: int
    num_train: int
    num_test: int
    participants: list[str]
    total_frames: int
    num_captions: int
    min_seconds: float
    max_seconds: float
    action_counts: dict[str, int]
    compositions: dict[str, int]
    fps: int = FPS
    seed: int = 0

    @property
    def total_minutes(self) -> float:
        return self.total_frames / self.fps / 60.0

    def __str__(self) -> str:
        counts = sorted(self.action_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        coverage = f"{sum(1 for _, c in counts if c)}/{len(ACTION_NAMES)} actions used"
        if counts:
            (most, n_most), (least, n_least) = counts[0], counts[-1]
            total = sum(self.action_counts.values())
            coverage += f", {total} occurrences; most {most} ({n_most}), least {least} ({n_least})"
        comp = ", ".join(f"{k} {v}" for k, v in sorted(self.compositions.items()))
        return "\n".join([
            f"Synthetic Express4D stand-in corpus (seed {self.seed}) in {self.out_dir}",
            f"  sequences : {self.num_sequences} (train {self.num_train}, test {self.num_test})",
            f"  performers: {len(self.participants)} ({_id_range(self.participants)})",
            f"  frames    : {self.total_frames:,} at {self.fps} fps = {self.total_minutes:.1f} min "
            f"({self.min_seconds:.1f}-{self.max_seconds:.1f} s per take)",
            f"  captions  : {self.num_captions:,} ({self.num_captions / max(self.num_sequences, 1):.1f} per take)",
            f"  actions   : {coverage}",
            f"  structure : {comp}",
        ])


def _id_range(ids: list[str]) -> str:
    if len(ids) > 3 and ids == [f"P{i:02d}" for i in range(1, len(ids) + 1)]:
        return f"{ids[0]}-{ids[-1]}"
    return ", ".join(ids)


_LAYOUT = ("data", "texts", "train.txt", "test.txt", "metadata.jsonl", "SYNTHETIC.md")
MARKER = "SYNTHETIC.md"
"""Marker file of a stand-in corpus; ``express4d data build`` then labels the dataset card accordingly."""


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out} is not empty; pass --overwrite (overwrite=True) to replace the corpus in it, "
                "or choose another --out"
            )
        for name in _LAYOUT:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        others = sorted(p.name for p in out.iterdir())
        if others:
            logger.info("%s: left unrelated entries in place: %s", out, ", ".join(others))
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "texts").mkdir(parents=True, exist_ok=True)


def write_synthetic_corpus(
    out_dir: str | os.PathLike,
    num_sequences: int = 1200,
    seed: int = 0,
    test_fraction: float = 0.2,
    overwrite: bool = False,
    progress: bool = False,
) -> SyntheticCorpusSummary:
    """Write the procedural stand-in corpus in the raw Express4D layout (see the module doc).

    Refuses a non-empty ``out_dir`` unless ``overwrite`` (then only the corpus entries
    ``data/``, ``texts/``, ``train.txt``, ``test.txt``, ``metadata.jsonl`` are replaced).
    Same ``seed`` and ``num_sequences``: byte-identical files.
    """
    if int(num_sequences) != num_sequences or num_sequences < 1:
        raise ValueError(f"num_sequences must be a positive integer, got {num_sequences!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    num_sequences = int(num_sequences)
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)

    root = np.random.default_rng([int(seed), 0])
    performers = sample_performers(root, NUM_PERFORMERS)
    assignment = root.permutation(np.arange(num_sequences) % NUM_PERFORMERS)
    ids = [f"synth_{i:05d}" for i in range(num_sequences)]
    n_test = int(round(num_sequences * test_fraction))
    if test_fraction > 0 and num_sequences >= 2:
        n_test = min(max(n_test, 1), num_sequences - 1)
    order = root.permutation(num_sequences)
    test_set = set(order[:n_test].tolist())
    start_clock = int(root.integers(8 * 3600, 12 * 3600))

    from tqdm.auto import tqdm

    action_counts = Counter({k: 0 for k in ACTION_NAMES})
    compositions: Counter = Counter()
    total_frames = num_captions = 0
    durations = []
    metadata_lines = []
    clock = float(start_clock)
    for i in tqdm(range(num_sequences), desc="synthesising takes", unit="take", disable=not progress):
        rng = np.random.default_rng([int(seed), 1, i])
        performer = performers[int(assignment[i])]
        take = synthesize_take(rng, performer)
        take_id = ids[i]
        write_livelink_csv(out / "data" / f"{take_id}.csv", take.frames, fps=FPS, start_seconds=clock)
        clock += float(np.ceil(take.seconds)) + 10.0  # takes follow each other during a recording day
        if clock + MAX_SECONDS + 1.0 > 86400.0:  # never cross midnight inside a take
            clock = 0.0
        (out / "texts" / f"{take_id}.txt").write_text("\n".join(take.captions) + "\n", encoding="utf-8")
        plan = take.plan
        metadata_lines.append(json.dumps({
            "id": take_id,
            "participant": performer.id,
            "actions": take.actions,
            "seconds": round(take.seconds, 4),
            "num_frames": int(take.frames.shape[0]),
            "composition": plan.composition,
            "steps": [[e.key for e in step] for step in plan.steps],
            "intensities": [e.intensity for e in plan.events],
            "speeds": [e.speed for e in plan.events],
            "counts": [e.count for e in plan.events],
        }))
        action_counts.update(take.actions)
        compositions[plan.composition] += 1
        total_frames += int(take.frames.shape[0])
        num_captions += len(take.captions)
        durations.append(take.seconds)

    train_ids = [ids[i] for i in range(num_sequences) if i not in test_set]
    test_ids = [ids[i] for i in sorted(test_set)]
    (out / "train.txt").write_text("".join(f"{x}\n" for x in train_ids), encoding="utf-8")
    (out / "test.txt").write_text("".join(f"{x}\n" for x in test_ids), encoding="utf-8")
    (out / "metadata.jsonl").write_text("".join(line + "\n" for line in metadata_lines), encoding="utf-8")
    (out / MARKER).write_text(
        "# Procedural stand-in for the Express4D corpus\n\n"
        f"Written by `express4d data synth --num-sequences {num_sequences} --seed {int(seed)}`. No person was recorded: "
        "these takes are procedural animation in the raw Express4D layout, so that training, generation and the "
        "benchmark run without the real captures. Numbers measured on it say nothing about real faces.\n",
        encoding="utf-8",
    )
    summary = SyntheticCorpusSummary(
        out_dir=str(out),
        num_sequences=num_sequences,
        num_train=len(train_ids),
        num_test=len(test_ids),
        participants=sorted({performers[int(a)].id for a in assignment}),
        total_frames=total_frames,
        num_captions=num_captions,
        min_seconds=float(min(durations)),
        max_seconds=float(max(durations)),
        action_counts=dict(action_counts),
        compositions=dict(compositions),
        seed=int(seed),
    )
    logger.info("wrote %d synthetic takes to %s", num_sequences, out)
    return summary
