"""The 61 ARKit channels of a Live Link Face capture, in the app's column order.

52 blendshapes (0..1) followed by head yaw/pitch/roll and the left and right eye
yaw/pitch/roll (radians).  Also: named channel groups, and the left/right mirror map used
by flip augmentation (swap every Left/Right pair, negate yaw and roll).
"""

from __future__ import annotations

import numpy as np

BLENDSHAPE_NAMES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft",
    "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawRight", "JawLeft", "JawOpen",
    "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight",
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight",
    "NoseSneerLeft", "NoseSneerRight",
    "TongueOut",
)  # fmt: skip

ROTATION_NAMES: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip

CHANNEL_NAMES: tuple[str, ...] = BLENDSHAPE_NAMES + ROTATION_NAMES
NUM_BLENDSHAPES = len(BLENDSHAPE_NAMES)  # 52
NUM_CHANNELS = len(CHANNEL_NAMES)  # 61

CAPTURE_FPS = 60  # Live Link Face capture rate of the Express4D corpus
BENCHMARK_FPS = 20  # every third frame, as in the paper's code
BENCHMARK_MAX_FRAMES = 196
BENCHMARK_MIN_FRAMES = 20

_INDEX = {name.lower(): i for i, name in enumerate(CHANNEL_NAMES)}

HEAD_ROTATION_LIMIT = float(np.pi / 2)
"""Largest |head yaw / pitch / roll| a face can take (radians): 90 degrees."""
EYE_ROTATION_LIMIT = float(np.pi / 4)
"""Largest |eye yaw / pitch / roll| (radians): 45 degrees (real captures stay within about 0.62)."""
CHANNEL_MIN: np.ndarray = np.array([0.0] * 52 + [-HEAD_ROTATION_LIMIT] * 3 + [-EYE_ROTATION_LIMIT] * 6, dtype=np.float32)
"""Lower end of each channel's valid range: blendshape weights are in [0, 1] (ARKit), rotations as above."""
CHANNEL_MAX: np.ndarray = np.array([1.0] * 52 + [HEAD_ROTATION_LIMIT] * 3 + [EYE_ROTATION_LIMIT] * 6, dtype=np.float32)
"""Upper end of each channel's valid range."""


def clip_to_valid_range(motion):
    """``[..., 61]`` motion (numpy or torch) with every channel clipped to its valid range
    (:data:`CHANNEL_MIN` .. :data:`CHANNEL_MAX`): blendshapes to [0, 1], head rotations to +-90 degrees,
    eye rotations to +-45 degrees.  Generated motions go through it, so they never ask a rig for a weight
    of 1.26 or -0.03."""
    if isinstance(motion, np.ndarray):
        return np.clip(motion, CHANNEL_MIN.astype(motion.dtype), CHANNEL_MAX.astype(motion.dtype))
    import torch

    lo = torch.as_tensor(CHANNEL_MIN, dtype=motion.dtype, device=motion.device)
    hi = torch.as_tensor(CHANNEL_MAX, dtype=motion.dtype, device=motion.device)
    return torch.maximum(torch.minimum(motion, hi), lo)


def channel_index(name: str) -> int:
    """Index of a channel, matched case-insensitively (``eyeBlinkLeft`` == ``EyeBlinkLeft``)."""
    try:
        return _INDEX[name.strip().lower()]
    except KeyError:
        raise KeyError(f"Unknown ARKit channel {name!r}; expected one of {', '.join(CHANNEL_NAMES)}") from None


def _indices(*names: str) -> tuple[int, ...]:
    return tuple(channel_index(n) for n in names)


GROUPS: dict[str, tuple[int, ...]] = {
    "eyes": tuple(i for i, n in enumerate(BLENDSHAPE_NAMES) if n.startswith("Eye")),
    "brows": tuple(i for i, n in enumerate(BLENDSHAPE_NAMES) if n.startswith("Brow")),
    "jaw": tuple(i for i, n in enumerate(BLENDSHAPE_NAMES) if n.startswith("Jaw")),
    "mouth": tuple(i for i, n in enumerate(BLENDSHAPE_NAMES) if n.startswith("Mouth")),
    "cheeks": tuple(i for i, n in enumerate(BLENDSHAPE_NAMES) if n.startswith("Cheek")),
    "nose": tuple(i for i, n in enumerate(BLENDSHAPE_NAMES) if n.startswith("Nose")),
    "tongue": _indices("TongueOut"),
    "head": _indices("HeadYaw", "HeadPitch", "HeadRoll"),
    "eye_rotation": _indices(*ROTATION_NAMES[3:]),
}
"""Named channel groups: index tuples into :data:`CHANNEL_NAMES`.  Together they cover all 61."""


def _mirror_name(name: str) -> str:
    if name.startswith("LeftEye"):
        return "RightEye" + name[len("LeftEye"):]
    if name.startswith("RightEye"):
        return "LeftEye" + name[len("RightEye"):]
    if name.endswith("Left"):
        return name[: -len("Left")] + "Right"
    if name.endswith("Right"):
        return name[: -len("Right")] + "Left"
    return name


MIRROR_PERMUTATION: np.ndarray = np.array([channel_index(_mirror_name(n)) for n in CHANNEL_NAMES], dtype=np.int64)
"""``mirrored[:, i] = motion[:, MIRROR_PERMUTATION[i]] * MIRROR_SIGN[i]``: swaps every Left/Right pair."""

MIRROR_SIGN: np.ndarray = np.array(
    [-1.0 if (n.endswith("Yaw") or n.endswith("Roll")) else 1.0 for n in CHANNEL_NAMES], dtype=np.float32
)
"""-1 for the yaw and roll channels (head and both eyes), which change sign in a mirror image."""


def mirror_motion(motion):
    """Mirror a ``[..., T, 61]`` motion (numpy array or torch tensor) left to right.

    Applying it twice returns the input: the map is an involution.
    """
    if motion.shape[-1] != NUM_CHANNELS:
        raise ValueError(f"mirror_motion expects {NUM_CHANNELS} channels in the last axis, got shape {tuple(motion.shape)}")
    if isinstance(motion, np.ndarray):
        return motion[..., MIRROR_PERMUTATION] * MIRROR_SIGN.astype(motion.dtype)
    import torch

    perm = torch.as_tensor(MIRROR_PERMUTATION, device=motion.device)
    sign = torch.as_tensor(MIRROR_SIGN, device=motion.device, dtype=motion.dtype)
    return motion.index_select(-1, perm) * sign


_SIDE_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def mirror_caption(caption: str) -> str:
    """Swap the words left/right (any case) in a caption, in a single pass."""
    import re

    return re.sub(r"\b(left|right)\b", lambda m: _SIDE_SWAP.get(m.group(0), m.group(0)), caption, flags=re.IGNORECASE)
