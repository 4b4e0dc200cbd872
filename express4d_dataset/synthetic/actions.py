"""The facial actions of the stand-in corpus: one declarative :class:`ActionSpec` per action.

:data:`ACTION_NAMES` fixes the order in which actions are drawn (and the order of
:attr:`~express4d_dataset.synthetic.performers.Performer.style`): changing it, or any weight or
word below, changes every corpus generated for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arkit import CHANNEL_NAMES, MIRROR_PERMUTATION, channel_index, mirror_caption

INTENSITY_LEVELS: tuple[str, ...] = ("slight", "soft", "normal", "strong")
INTENSITY_GAIN = {"slight": 0.35, "soft": 0.55, "normal": 0.8, "strong": 1.0}
SPEEDS: tuple[str, ...] = ("quick", "normal", "slow", "brief")

_DEFAULT_WORDS = {
    "slight": ("slightly", "a little", "subtly"),
    "soft": ("softly", "gently", "lightly"),
    "strong": ("strongly", "intensely"),
}
SPEED_WORDS = {
    "quick": ("quickly", "rapidly", "swiftly"),
    "slow": ("slowly", "gradually"),
    "brief": ("briefly", "for a moment", "momentarily"),
}
"""Caption words for every speed but ``normal`` (which takes none)."""


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


def mirror_channel(name: str) -> str:
    """The channel's twin on the other side (``EyeBlinkLeft`` <-> ``EyeBlinkRight``, ``LeftEyeYaw`` <->
    ``RightEyeYaw``), as :data:`~express4d_dataset.arkit.MIRROR_PERMUTATION` pairs them."""
    return CHANNEL_NAMES[MIRROR_PERMUTATION[channel_index(name)]]


def mirror_spec(spec: ActionSpec, key: str) -> ActionSpec:
    """The same action on the other side: channels swapped, yaw/roll and gaze-h negated, words swapped."""

    def sign(name: str) -> float:
        return -1.0 if (name.endswith("Yaw") or name.endswith("Roll")) else 1.0

    return ActionSpec(
        key=key,
        kind=spec.kind,
        main={mirror_channel(k): v for k, v in spec.main.items()},
        secondary={mirror_channel(k): v for k, v in spec.secondary.items()},
        gaze=(-spec.gaze[0], spec.gaze[1]),
        head=(-spec.head[0], spec.head[1], -spec.head[2]),
        suppress=tuple(mirror_channel(n) for n in spec.suppress),
        templates=tuple(mirror_caption(t) for t in spec.templates),
        fixed_templates=tuple(mirror_caption(t) for t in spec.fixed_templates),
        words=spec.words,
        levels=spec.levels,
        speeds=spec.speeds,
        regions=spec.regions,
        side={"left": "right", "right": "left"}.get(spec.side or "", spec.side),
        timing=spec.timing,
        fixed_main=spec.fixed_main,
        check=tuple((mirror_channel(n), s * sign(n)) for n, s in spec.check),
        keywords=tuple(mirror_caption(k) for k in spec.keywords),
    )


def _both(prefix: str, weight: float, suffix: str = "") -> dict[str, float]:
    return {f"{prefix}Left{suffix}": weight, f"{prefix}Right{suffix}": weight}


def _regions(*names: str) -> frozenset:
    return frozenset(names)


def _and_mirror(spec: ActionSpec, key: str) -> tuple[ActionSpec, ActionSpec]:
    """A one-sided action and its twin on the other side, named ``key``."""
    return spec, mirror_spec(spec, key)


# --------------------------------------------------------------------------------------------
# The table, by face region (order within a region is free; ACTION_NAMES fixes the draw order)
# --------------------------------------------------------------------------------------------

_GAZE_WORDS = {"slight": ("slightly", "a little"), "strong": ("far", "all the way")}
_HEAD_WORDS = {"slight": ("slightly", "subtly"), "soft": ("gently",), "strong": ("vigorously", "firmly")}
_EMOTION_WORDS = {"slight": ("a little", "slightly"), "soft": ("mildly", "somewhat"), "strong": ("very", "extremely")}

_MOUTH = [
    ActionSpec(
        "smile", "hold", main=_both("MouthSmile", 0.9),
        secondary={**_both("CheekSquint", 0.45), **_both("EyeSquint", 0.25), **_both("MouthDimple", 0.25),
                   **_both("MouthUpperUp", 0.1), **_both("MouthStretch", 0.3), "MouthShrugUpper": 0.4, "JawForward": 0.2,
                   **_both("MouthLowerDown", 0.3),
                   "MouthFunnel": 0.12},
        suppress=("MouthFrownLeft", "MouthFrownRight"), templates=("smile", "break into a smile", "grin"),
        words={"strong": ("widely", "broadly")},
        regions=_regions("mouth"), check=(("MouthSmileLeft", 1), ("MouthSmileRight", 1)), keywords=("smil", "grin", "beam", "mouth turn", "turning up", "turned up"),
    ),
    ActionSpec(
        "frown", "hold", main=_both("MouthFrown", 0.85),
        secondary={**_both("BrowDown", 0.3), "MouthShrugLower": 0.35, **_both("MouthStretch", 0.2),
                   **_both("MouthPress", 0.1), "MouthClose": 0.35, "MouthFunnel": 0.35, "MouthRollLower": 0.3,
                   "MouthRollUpper": 0.25, "JawForward": 0.1, **_both("BrowOuterUp", 0.05)},
        suppress=("MouthSmileLeft", "MouthSmileRight"), templates=("frown", "turn the corners of their mouth down"),
        words={"strong": ("deeply", "heavily")},
        regions=_regions("mouth"), check=(("MouthFrownLeft", 1), ("MouthFrownRight", 1)),
        keywords=("frown", "mouth down", "down the corners", "turning down"),
    ),
    ActionSpec(
        "open_mouth", "hold", main={"JawOpen": 0.8},
        secondary={**_both("MouthLowerDown", 0.55), **_both("MouthUpperUp", 0.1), "MouthFunnel": 0.25,
                   **_both("MouthStretch", 0.35), "MouthShrugUpper": 0.3, "JawForward": 0.15, "MouthRollUpper": 0.1,
                   **_both("BrowOuterUp", 0.05)},
        suppress=("MouthClose", "MouthPressLeft", "MouthPressRight", "MouthRollLower", "MouthRollUpper"),
        templates=("open their mouth", "drop their jaw open"),
        words={"slight": ("slightly", "a little"), "soft": ("gently", "partly"), "strong": ("wide", "widely")},
        regions=_regions("mouth"), check=(("JawOpen", 1),), keywords=("open", "jaw", "gape", "gaping"),
    ),
    ActionSpec(
        "pucker", "hold", main={"MouthPucker": 0.9},
        secondary={"MouthFunnel": 0.55, "MouthClose": 0.4, **_both("MouthPress", 0.05), "MouthShrugLower": 0.4,
                   "MouthRollLower": 0.2, "MouthRollUpper": 0.2, "MouthShrugUpper": 0.2, "JawForward": 0.15},
        suppress=("MouthSmileLeft", "MouthSmileRight", "MouthStretchLeft", "MouthStretchRight"),
        templates=("pucker their lips", "pucker", "purse their lips into a kiss"),
        words={"strong": ("tightly", "strongly")},
        regions=_regions("mouth"), check=(("MouthPucker", 1),), keywords=("pucker", "kiss", "pout", "lips forward", "duck face"),
    ),
    ActionSpec(
        "puff_cheeks", "hold", main={"CheekPuff": 0.85},
        secondary={"MouthClose": 0.3, "MouthPucker": 0.2, **_both("MouthPress", 0.15), "MouthRollUpper": 0.1,
                   "MouthFunnel": 0.3, "MouthShrugLower": 0.4, "MouthRollLower": 0.2, "MouthShrugUpper": 0.2},
        templates=("puff their cheeks", "puff out their cheeks", "blow up their cheeks"),
        words={"strong": ("fully", "strongly")},
        regions=_regions("mouth"), check=(("CheekPuff", 1),), keywords=("cheeks",),
    ),
    ActionSpec(
        "press_lips", "hold", main=_both("MouthPress", 0.8),
        secondary={"MouthRollLower": 0.45, "MouthRollUpper": 0.4, "MouthClose": 0.2, "MouthShrugLower": 0.4,
                   **_both("MouthDimple", 0.35), "MouthShrugUpper": 0.3, **_both("CheekSquint", 0.1), "JawForward": 0.1,
                   **_both("MouthUpperUp", 0.05)},
        suppress=("JawOpen", "MouthFunnel"),
        templates=("press their lips together", "press their lips", "tighten their lips"),
        words={"soft": ("lightly", "gently"), "strong": ("tightly", "firmly", "hard")},
        regions=_regions("mouth"), check=(("MouthPressLeft", 1), ("MouthPressRight", 1)), keywords=("lips",),
    ),
    ActionSpec(
        "sneer", "hold", main=_both("NoseSneer", 0.8),
        secondary={**_both("MouthUpperUp", 0.45), **_both("CheekSquint", 0.2), **_both("BrowDown", 0.2),
                   "MouthShrugUpper": 0.45, "MouthShrugLower": 0.3, **_both("MouthDimple", 0.3), "MouthFunnel": 0.2,
                   "MouthRollLower": 0.15, **_both("MouthStretch", 0.15), "JawForward": 0.1, "MouthRollUpper": 0.1},
        templates=("sneer", "wrinkle their nose", "scrunch up their nose"),
        words={"strong": ("strongly", "deeply")},
        regions=_regions("mouth"), check=(("NoseSneerLeft", 1), ("NoseSneerRight", 1)), keywords=("sneer", "nose", "upper lip"),
    ),
    ActionSpec(
        "tongue_out", "hold", main={"TongueOut": 0.95},
        secondary={"JawOpen": 0.3, **_both("MouthLowerDown", 0.35), "MouthFunnel": 0.1, **_both("MouthStretch", 0.3),
                   "MouthShrugUpper": 0.3, "JawForward": 0.2, "MouthRollLower": 0.2, **_both("MouthUpperUp", 0.05)},
        suppress=("MouthClose", "MouthPressLeft", "MouthPressRight"),
        templates=("stick out their tongue", "stick their tongue out{m}"), fixed_templates=("show their tongue",),
        words={"slight": ("slightly", "a little"), "strong": ("all the way", "far")},
        levels=("slight", "normal", "strong"),
        regions=_regions("mouth"), check=(("TongueOut", 1),), keywords=("tongue",),
    ),
    *_and_mirror(ActionSpec(
        "smirk_left", "hold", main={"MouthSmileLeft": 0.8},
        secondary={"MouthLeft": 0.3, "CheekSquintLeft": 0.3, "MouthDimpleLeft": 0.3, "EyeSquintLeft": 0.15,
                   "MouthStretchLeft": 0.2, "MouthShrugUpper": 0.2, "JawForward": 0.1},
        templates=("smirk with the left side of their mouth", "smile with the left corner of their mouth",
                   "pull up the left corner of their mouth"),
        fixed_templates=("give a lopsided smile on the left",), words={"strong": ("broadly", "widely")},
        regions=_regions("mouth"), side="left", check=(("MouthSmileLeft", 1),), keywords=("left",),
    ), "smirk_right"),
    *_and_mirror(ActionSpec(
        "jaw_left", "hold", main={"JawLeft": 0.75},
        secondary={"MouthLeft": 0.3, "JawOpen": 0.05, "JawForward": 0.15},
        templates=("move their jaw{m} to the left", "shift their jaw{m} to the left", "slide their jaw{m} to the left"),
        words={"slight": ("slightly", "a little"), "strong": ("far", "all the way")},
        levels=("slight", "normal", "strong"),
        regions=_regions("mouth"), side="left", check=(("JawLeft", 1),), keywords=("left",),
    ), "jaw_right"),
    ActionSpec(
        "bare_teeth", "hold", main={**_both("MouthUpperUp", 0.7), **_both("MouthLowerDown", 0.6)},
        secondary={**_both("MouthStretch", 0.45), **_both("MouthSmile", 0.15), "JawOpen": 0.1,
                   **_both("NoseSneer", 0.1), "MouthShrugUpper": 0.4, **_both("MouthDimple", 0.3), "JawForward": 0.15},
        suppress=("MouthClose", "MouthPucker", "MouthFunnel"),
        templates=("bare their teeth", "show their teeth", "grimace"), words={"strong": ("fully", "widely")},
        regions=_regions("mouth"),
        check=(("MouthUpperUpLeft", 1), ("MouthLowerDownRight", 1)), keywords=("teeth", "grimac"),
    ),
]

_LIDS = [
    ActionSpec(
        "blink", "blink", main=_both("EyeBlink", 1.0),
        secondary=_both("EyeSquint", 0.1), templates=("blink{n}", "blink their eyes{n}"),
        levels=("normal",), speeds=("quick", "normal", "slow"),
        regions=_regions("lids"), timing="blink", fixed_main=True,
        check=(("EyeBlinkLeft", 1), ("EyeBlinkRight", 1)), keywords=("blink", "eyelids"),
    ),
    *_and_mirror(ActionSpec(
        "wink_left", "hold", main={"EyeBlinkLeft": 1.0},
        secondary={"EyeSquintLeft": 0.4, "CheekSquintLeft": 0.35, "MouthSmileLeft": 0.3, "BrowDownLeft": 0.25,
                   "EyeSquintRight": 0.1},
        templates=("wink with their left eye", "wink their left eye", "wink the left eye"),
        levels=("normal",), speeds=("quick", "normal", "slow"),
        regions=_regions("lids"), side="left", timing="wink", fixed_main=True,
        check=(("EyeBlinkLeft", 1),), keywords=("wink",),
    ), "wink_right"),
    ActionSpec(
        "squint", "hold", main=_both("EyeSquint", 0.85),
        secondary={**_both("EyeBlink", 0.25), **_both("CheekSquint", 0.3), **_both("BrowDown", 0.15),
                   "MouthRollLower": 0.2, "MouthShrugLower": 0.2, "MouthFunnel": 0.15, "MouthClose": 0.1, "MouthRollUpper": 0.1},
        suppress=("EyeWideLeft", "EyeWideRight"), templates=("squint", "narrow their eyes", "squint their eyes"),
        words={"strong": ("hard", "tightly")},
        regions=_regions("lids"), check=(("EyeSquintLeft", 1), ("EyeSquintRight", 1)), keywords=("squint", "narrow", "screw"),
    ),
    ActionSpec(
        "widen_eyes", "hold", main=_both("EyeWide", 0.9),
        secondary={"BrowInnerUp": 0.35, **_both("BrowOuterUp", 0.3), **_both("MouthStretch", 0.1), "MouthFunnel": 0.1,
                   "MouthRollUpper": 0.1},
        suppress=("EyeBlinkLeft", "EyeBlinkRight", "EyeSquintLeft", "EyeSquintRight"),
        templates=("widen their eyes", "open their eyes wide"),
        words={"strong": ("dramatically", "as far as they can")},
        regions=_regions("lids"), check=(("EyeWideLeft", 1), ("EyeWideRight", 1)), keywords=("widen", "wide"),
    ),
    ActionSpec(
        "close_eyes", "hold", main=_both("EyeBlink", 1.0),
        secondary={**_both("EyeSquint", 0.3), **_both("CheekSquint", 0.1), **_both("BrowDown", 0.1),
                   "MouthShrugLower": 0.15, "MouthRollLower": 0.1},
        suppress=("EyeWideLeft", "EyeWideRight"), templates=("close their eyes", "shut their eyes"),
        words={"soft": ("gently", "softly"), "strong": ("tightly", "firmly")}, levels=("soft", "normal", "strong"),
        regions=_regions("lids"), fixed_main=True,
        check=(("EyeBlinkLeft", 1), ("EyeBlinkRight", 1)), keywords=("clos", "shut"),
    ),
]

_BROWS = [
    ActionSpec(
        "raise_brows", "hold", main={"BrowInnerUp": 0.9, **_both("BrowOuterUp", 0.85)},
        secondary={**_both("EyeWide", 0.2), **_both("MouthStretch", 0.15), "MouthFunnel": 0.2, "MouthClose": 0.15,
                   "MouthShrugUpper": 0.2, **_both("MouthDimple", 0.1), "MouthRollUpper": 0.1},
        suppress=("BrowDownLeft", "BrowDownRight"),
        templates=("raise their eyebrows", "lift their eyebrows", "raise their brows"),
        words={"strong": ("high", "all the way")},
        regions=_regions("brows"), check=(("BrowInnerUp", 1), ("BrowOuterUpLeft", 1)), keywords=("brow",),
    ),
    ActionSpec(
        "furrow_brows", "hold", main=_both("BrowDown", 0.85),
        secondary={**_both("EyeSquint", 0.2), **_both("NoseSneer", 0.1), "BrowInnerUp": 0.1, "MouthShrugLower": 0.35,
                   **_both("CheekSquint", 0.3), **_both("MouthDimple", 0.2), "MouthRollLower": 0.2, "MouthFunnel": 0.15,
                   "MouthClose": 0.1, **_both("MouthUpperUp", 0.05)},
        suppress=("BrowOuterUpLeft", "BrowOuterUpRight"),
        templates=("furrow their brows", "knit their eyebrows", "furrow their eyebrows", "draw their brows together"),
        words={"strong": ("deeply", "hard")},
        regions=_regions("brows"), check=(("BrowDownLeft", 1), ("BrowDownRight", 1)), keywords=("brow",),
    ),
    *_and_mirror(ActionSpec(
        "raise_left_brow", "hold", main={"BrowOuterUpLeft": 0.9},
        secondary={"BrowInnerUp": 0.3, "BrowDownRight": 0.2, "EyeWideLeft": 0.15},
        templates=("raise their left eyebrow", "lift their left eyebrow", "arch their left eyebrow"),
        words={"strong": ("high", "all the way")},
        regions=_regions("brows"), side="left", check=(("BrowOuterUpLeft", 1),), keywords=("left",),
    ), "raise_right_brow"),
]

_GAZE = [
    *_and_mirror(ActionSpec(
        "look_left", "hold", main={}, gaze=(1.0, 0.0), head=(-0.08, 0.0, 0.0),
        templates=("look{m} to the left", "glance{m} to the left", "turn their eyes{m} to the left",
                   "shift their gaze{m} to the left", "look{m} left"),
        words=_GAZE_WORDS, levels=("slight", "normal", "strong"), regions=_regions("gaze"), side="left",
        check=(("EyeLookOutLeft", 1), ("EyeLookInRight", 1), ("LeftEyeYaw", -1), ("RightEyeYaw", -1)),
        keywords=("left",),
    ), "look_right"),
    ActionSpec(
        "look_up", "hold", main={}, gaze=(0.0, 1.0), head=(0.0, -0.05, 0.0),
        secondary={**_both("BrowOuterUp", 0.15), "BrowInnerUp": 0.1},
        templates=("look{m} up", "glance{m} up", "raise their eyes", "look{m} upward", "turn their eyes{m} upward"),
        words=_GAZE_WORDS, levels=("slight", "normal", "strong"), regions=_regions("gaze"),
        check=(("EyeLookUpLeft", 1), ("EyeLookUpRight", 1), ("LeftEyePitch", -1), ("RightEyePitch", -1)),
        keywords=("up", "rais"),
    ),
    ActionSpec(
        "look_down", "hold", main={}, gaze=(0.0, -1.0), head=(0.0, 0.06, 0.0),
        templates=("look{m} down", "glance{m} down", "lower their eyes", "look{m} downward",
                   "turn their eyes{m} downward"),
        words=_GAZE_WORDS, levels=("slight", "normal", "strong"), regions=_regions("gaze"),
        check=(("EyeLookDownLeft", 1), ("EyeLookDownRight", 1), ("LeftEyePitch", 1), ("RightEyePitch", 1)),
        keywords=("down", "lower"),
    ),
    ActionSpec(
        "roll_eyes", "roll", main={}, gaze=(0.75, 1.0),
        secondary={"BrowInnerUp": 0.2, **_both("BrowOuterUp", 0.1)}, templates=("roll their eyes",),
        words={"slight": ("slightly", "subtly"), "strong": ("dramatically", "exaggeratedly")},
        levels=("slight", "normal", "strong"), speeds=("quick", "normal", "slow"), regions=_regions("gaze"),
        check=(("EyeLookUpLeft", 1), ("EyeLookUpRight", 1), ("LeftEyePitch", -1)), keywords=("roll",),
    ),
]

_HEAD = [
    ActionSpec(
        "nod", "nod", main={}, head=(0.0, 0.25, 0.0),
        templates=("nod{n}", "nod their head{n}"), words=_HEAD_WORDS, speeds=("quick", "normal", "slow"),
        regions=_regions("head"), check=(("HeadPitch", 1),), keywords=("nod", "bob"),
    ),
    ActionSpec(
        "shake_head", "shake", main={}, head=(0.3, 0.0, 0.0),
        templates=("shake their head",), fixed_templates=("shake their head no",), words=_HEAD_WORDS,
        regions=_regions("head"), check=(("HeadYaw", 0),), keywords=("shak", "shook"),
    ),
    *_and_mirror(ActionSpec(
        "tilt_head_left", "hold", main={}, head=(0.0, 0.0, -0.3),
        templates=("tilt their head{m} to the left", "lean their head{m} to the left",
                   "cock their head{m} to the left"),
        words={"slight": ("slightly", "a little"), "soft": ("gently",), "strong": ("far", "sharply")},
        regions=_regions("head"), side="left", check=(("HeadRoll", -1),), keywords=("left",),
    ), "tilt_head_right"),
]

_EXPRESSIONS = [  # whole-face expressions: they occupy several regions at once
    ActionSpec(
        "look_surprised", "hold",
        main={"BrowInnerUp": 0.85, **_both("BrowOuterUp", 0.75), **_both("EyeWide", 0.7), "JawOpen": 0.45},
        secondary={"MouthFunnel": 0.35, **_both("MouthLowerDown", 0.35), **_both("MouthStretch", 0.3), "MouthShrugUpper": 0.25,
                   "JawForward": 0.1, "MouthRollUpper": 0.1},
        suppress=("EyeBlinkLeft", "EyeBlinkRight", "BrowDownLeft", "BrowDownRight", "MouthClose"),
        templates=("look{m} surprised", "appear{m} surprised"),
        fixed_templates=("make a surprised face", "show surprise"), words=_EMOTION_WORDS,
        regions=_regions("brows", "lids", "mouth"),
        check=(("BrowInnerUp", 1), ("EyeWideLeft", 1), ("JawOpen", 1)), keywords=("surprise", "astonish", "shock", "startl"),
    ),
    ActionSpec(
        "look_sad", "hold", main={**_both("MouthFrown", 0.6), "BrowInnerUp": 0.75},
        secondary={"MouthShrugLower": 0.3, **_both("MouthPress", 0.2), **_both("EyeBlink", 0.15), "MouthClose": 0.3,
                   "MouthRollLower": 0.3, "MouthFunnel": 0.25, "MouthRollUpper": 0.2, **_both("MouthStretch", 0.15)},
        gaze=(0.0, -0.25), head=(0.0, 0.06, 0.0),
        suppress=("MouthSmileLeft", "MouthSmileRight", "BrowOuterUpLeft", "BrowOuterUpRight"),
        templates=("look{m} sad", "appear{m} sad", "look{m} unhappy"),
        fixed_templates=("make a sad face", "put on a sad expression"), words=_EMOTION_WORDS,
        regions=_regions("brows", "lids", "mouth", "gaze"),
        check=(("MouthFrownLeft", 1), ("BrowInnerUp", 1)), keywords=("sad", "unhappy", "downcast", "sorrow", "gloom"),
    ),
    ActionSpec(
        "look_angry", "hold", main={**_both("BrowDown", 0.9), **_both("EyeSquint", 0.4), **_both("MouthPress", 0.35)},
        secondary={**_both("NoseSneer", 0.25), "MouthRollLower": 0.3, "JawForward": 0.15, "MouthShrugLower": 0.4,
                   **_both("MouthDimple", 0.3), **_both("CheekSquint", 0.35), "MouthRollUpper": 0.15, "MouthShrugUpper": 0.2,
                   "MouthClose": 0.15},
        suppress=("BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "MouthSmileLeft", "MouthSmileRight"),
        templates=("look{m} angry", "appear{m} angry", "look{m} annoyed"),
        fixed_templates=("make an angry face", "scowl"), words=_EMOTION_WORDS,
        regions=_regions("brows", "lids", "mouth"),
        check=(("BrowDownLeft", 1), ("MouthPressRight", 1)), keywords=("angry", "annoyed", "scowl", "mad", "glar", "irritat"),
    ),
    ActionSpec(
        "look_disgusted", "hold", main={**_both("NoseSneer", 0.8), **_both("MouthUpperUp", 0.55)},
        secondary={**_both("BrowDown", 0.4), **_both("EyeSquint", 0.35), **_both("MouthFrown", 0.25),
                   **_both("CheekSquint", 0.3), "MouthShrugUpper": 0.45, "MouthShrugLower": 0.35, **_both("MouthDimple", 0.25),
                   **_both("MouthStretch", 0.15), "MouthFunnel": 0.15, "JawForward": 0.1, "MouthClose": 0.1, "MouthRollUpper": 0.1},
        suppress=("MouthSmileLeft", "MouthSmileRight"), templates=("look{m} disgusted", "appear{m} disgusted"),
        fixed_templates=("make a disgusted face", "show disgust"), words=_EMOTION_WORDS,
        regions=_regions("brows", "lids", "mouth"),
        check=(("NoseSneerLeft", 1), ("MouthUpperUpRight", 1)), keywords=("disgust", "grossed", "repuls"),
    ),
]

ACTION_NAMES: tuple[str, ...] = (
    "smile", "frown", "blink", "wink_left", "wink_right", "raise_brows", "furrow_brows", "squint", "widen_eyes",
    "open_mouth", "pucker", "puff_cheeks", "press_lips", "sneer", "look_left", "look_right", "look_up", "look_down",
    "roll_eyes", "nod", "shake_head", "tilt_head_left", "tilt_head_right", "tongue_out",
    "smirk_left", "smirk_right", "raise_left_brow", "raise_right_brow", "jaw_left", "jaw_right",
    "close_eyes", "bare_teeth", "look_surprised", "look_sad", "look_angry", "look_disgusted",
)
"""Every action key in draw order (random plans index it; performers' style gains align with it)."""


def _table(*regions: list[ActionSpec]) -> dict[str, ActionSpec]:
    specs = {spec.key: spec for region in regions for spec in region}
    if sorted(specs) != sorted(ACTION_NAMES) or len(specs) != sum(map(len, regions)):
        raise RuntimeError("the action table and ACTION_NAMES disagree")  # pragma: no cover - fixed data
    return {key: specs[key] for key in ACTION_NAMES}


ACTIONS: dict[str, ActionSpec] = _table(_MOUTH, _LIDS, _BROWS, _GAZE, _HEAD, _EXPRESSIONS)
"""Every synthetic facial action by key (``smile``, ``wink_left``, ``look_up``, ``nod`` ...), in draw order."""
