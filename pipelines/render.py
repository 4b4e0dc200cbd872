"""Preview renderer: a procedural 2D face drawn from the 61 Live Link Face channels alone.

No rig, no mesh, no Unreal or Blender: every frame is drawn with Pillow from the channel
values, so any ``[T, 61]`` motion (generated, or read from a Live Link Face CSV) can be looked
at in seconds.

What moves what
---------------
* head outline, hair, ears and every feature: ``HeadYaw`` / ``HeadPitch`` / ``HeadRoll``
  (radians, drawn clipped to +-0.9; features sit on an ellipsoid and are rotated in 3D, roll
  tilts the whole head about the neck).  Positive yaw turns the face toward the image left (the subject's right),
  positive pitch tilts it down, positive roll tilts the top of the head toward the image left.
* eyelids: ``EyeBlink*`` closes, ``EyeSquint*`` / ``CheekSquint*`` narrow, ``EyeWide*`` opens.
* irises: ``EyeLook{In,Out,Up,Down}*`` and the eye yaw/pitch rotation channels (whichever of
  the two moves the gaze further, per frame).
* brows: ``BrowInnerUp``, ``BrowOuterUp*``, ``BrowDown*``, with forehead and frown lines.
* mouth and jaw: ``JawOpen`` (chin drops, lips part), ``MouthClose`` (lips stay shut on an
  open jaw), ``MouthSmile*`` / ``MouthFrown*`` (corners up / down, smile folds),
  ``MouthPucker`` / ``MouthFunnel`` (narrow, rounded, fuller lips), ``MouthPress*`` /
  ``MouthRoll*`` (thinner lips), ``MouthStretch*`` / ``MouthDimple*`` (wider),
  ``MouthLeft`` / ``MouthRight`` / ``JawLeft`` / ``JawRight`` (sideways),
  ``MouthUpperUp*`` / ``MouthLowerDown*`` / ``MouthShrug*`` (lips apart / together).
* ``CheekPuff`` bulges the cheeks, ``NoseSneer*`` lifts the nostrils and wrinkles the nose,
  ``TongueOut`` sticks the tongue out.

Left and right are the subject's: the subject's left eye (``EyeBlinkLeft``) is drawn on the
image's right, as in a photograph of the performer.

Every frame is drawn at twice the requested size and downsampled (anti-aliasing).  The
geometry of all frames is computed at once with numpy; only the Pillow drawing calls run per
frame.

Entry points: :func:`render_frame`, :func:`render_frames`, :func:`save_gif`,
:func:`save_mp4` (only when ``ffmpeg`` is on ``PATH``), :func:`plot_channel_curves`,
:func:`render_csv`.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS, ROTATION_NAMES, channel_index

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CURVE_CHANNELS",
    "DEFAULT_MAX_PREVIEW_FPS",
    "FACE_REGIONS",
    "ffmpeg_available",
    "plot_channel_curves",
    "preview_fps",
    "preview_frame_indices",
    "render_csv",
    "render_frame",
    "render_frames",
    "save_gif",
    "save_mp4",
]

# --------------------------------------------------------------------------------------------
# Layout, in face units: x to the image right, y down, head ellipse semi-axes _HEAD_A x _HEAD_B.
# A face unit is _SCALE of the image width; the head centre sits at (0.5, _CENTER_Y) of the image.
# --------------------------------------------------------------------------------------------
_SCALE = 0.3
_CENTER_Y = 0.45
_HEAD_A, _HEAD_B = 1.0, 1.25
_DEPTH = 0.85  # how far the face surface bulges toward the viewer
_ROLL_PIVOT_Y = 0.9  # roll turns the head about this point (the top of the neck)
_MAX_ANGLE = 0.9  # head rotations are clipped to +-this many radians (about 52 degrees) for drawing

_EYE_X, _EYE_Y, _EYE_HALF_W = 0.38, -0.08, 0.2
_EYE_OPEN_UP, _EYE_OPEN_DOWN = 0.12, 0.06
_IRIS_R, _PUPIL_R = 0.078, 0.036
_GAZE_X, _GAZE_Y = 0.09, 0.06
_BROW_INNER_X, _BROW_OUTER_X, _BROW_Y = 0.13, 0.62, -0.35
_NOSE_Y = 0.3
_MOUTH_Y, _MOUTH_HALF_W = 0.64, 0.29
_JAW_DROP = 0.3

_K_LID = 19
_K_BROW = 9
_K_MOUTH = 21
_K_OUTLINE = 96

_PALETTE = {
    "background": (234, 236, 240),
    "neck": (214, 178, 152),
    "skin": (236, 203, 178),
    "skin_outline": (150, 112, 92),
    "hair": (86, 72, 64),
    "ear": (226, 190, 164),
    "sclera": (250, 250, 248),
    "iris": (92, 124, 150),
    "pupil": (28, 28, 34),
    "lash": (58, 44, 40),
    "crease": (196, 156, 134),
    "brow": (88, 68, 56),
    "wrinkle": (176, 132, 110),
    "blush": (232, 160, 146),
    "nose": (170, 122, 100),
    "nostril": (120, 76, 64),
    "lip": (196, 112, 108),
    "lip_line": (120, 56, 56),
    "mouth": (74, 30, 36),
    "teeth": (246, 244, 236),
    "tongue": (214, 104, 110),
    "tongue_line": (168, 70, 78),
    "text": (110, 114, 122),
    "bar": (176, 182, 192),
}


def _to_norm_box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    return (
        round(0.5 + _SCALE * x0, 4),
        round(_CENTER_Y + _SCALE * y0, 4),
        round(0.5 + _SCALE * x1, 4),
        round(_CENTER_Y + _SCALE * y1, 4),
    )


FACE_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "head": _to_norm_box(-1.25, -1.3, 1.25, 1.25 + _JAW_DROP + 0.1),
    "brows": _to_norm_box(-0.72, -0.75, 0.72, -0.27),
    "eyes": _to_norm_box(-0.66, -0.24, 0.66, 0.04),
    "left_eye": _to_norm_box(_EYE_X - 0.28, -0.24, _EYE_X + 0.28, 0.04),
    "right_eye": _to_norm_box(-_EYE_X - 0.28, -0.24, -_EYE_X + 0.28, 0.04),
    "nose": _to_norm_box(-0.22, 0.08, 0.22, 0.4),
    "mouth": _to_norm_box(-0.5, 0.46, 0.5, 1.05),
    "mouth_left_corner": _to_norm_box(0.16, 0.44, 0.5, 0.8),
    "mouth_right_corner": _to_norm_box(-0.5, 0.44, -0.16, 0.8),
}
"""Boxes ``(x0, y0, x1, y1)`` in normalised image coordinates (0..1, y down) around each part of
the face in its neutral, frontal pose.  ``left_eye`` / ``mouth_left_corner`` are the
subject's left, drawn on the image's right.  Useful to crop previews or to check in tests
that a blink changes the eyes and not the mouth."""

DEFAULT_MAX_PREVIEW_FPS = 30.0
"""GIF previews play at most this many frames per second (GIF delays are 10 ms units)."""

DEFAULT_CURVE_CHANNELS: tuple[str, ...] = (
    "JawOpen", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthPucker",
    "EyeBlinkLeft", "EyeBlinkRight", "EyeWideLeft", "BrowInnerUp", "BrowDownLeft",
    "HeadYaw", "HeadPitch", "HeadRoll",
)  # fmt: skip
"""Channels :func:`plot_channel_curves` draws when none are given."""

_C = {name: i for i, name in enumerate(CHANNEL_NAMES)}


# --------------------------------------------------------------------------------------------
# Geometry: every function works on all frames at once ([T] scalars, [T, K] point sets).
# --------------------------------------------------------------------------------------------
def _surface_depth(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _DEPTH * np.sqrt(np.clip(1.0 - (x / _HEAD_A) ** 2 - (y / _HEAD_B) ** 2, 0.02, 1.0))


class _Pose:
    """Head rotation of every frame, and the projection of face points to pixels."""

    def __init__(self, yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray, width: int):
        clip = lambda a: np.clip(a, -_MAX_ANGLE, _MAX_ANGLE)[:, None]  # noqa: E731
        yaw, pitch, roll = clip(yaw), clip(pitch), clip(roll)
        self.cy, self.sy = np.cos(yaw), np.sin(yaw)
        self.cp, self.sp = np.cos(pitch), np.sin(pitch)
        self.cr, self.sr = np.cos(roll), np.sin(roll)
        self.width = width

    def project(self, x, y, z=None, surface: bool = True, depth_offset=0.0, inside_head: bool = False) -> np.ndarray:
        """Pixels ``[T, K, 2]`` of face points ``x, y`` (``[T, K]`` or ``[K]``).

        ``surface`` points lie on the face ellipsoid (plus ``depth_offset``) and turn rigidly
        with the head; silhouette points (``surface=False``) keep their outline and only slide by
        their depth ``z``.  ``inside_head`` keeps turned points within the head silhouette.
        """
        t = self.cy.shape[0]
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), (t,) + np.shape(x)[-1:])
        y = np.broadcast_to(np.asarray(y, dtype=np.float64), x.shape)
        if z is None:
            z = _surface_depth(x, y) + depth_offset if surface else np.zeros_like(x)
        if surface:
            x1 = x * self.cy - z * self.sy
            z1 = x * self.sy + z * self.cy
            y1 = y * self.cp + z1 * self.sp
        else:
            x1 = x - z * self.sy
            y1 = y + z * self.sp
        if inside_head:
            half = _HEAD_A * np.sqrt(np.clip(1.0 - (y1 / _HEAD_B) ** 2, 0.0, 1.0))
            x1 = np.clip(x1, -half, half)
        dy = y1 - _ROLL_PIVOT_Y
        xr = self.cr * x1 + self.sr * dy
        yr = -self.sr * x1 + self.cr * dy + _ROLL_PIVOT_Y
        w = self.width
        return np.stack([0.5 * w + _SCALE * w * xr, _CENTER_Y * w + _SCALE * w * yr], axis=-1)

    def facing(self, x: float, z: float) -> np.ndarray:
        """Depth after yaw of a point at ``(x, ., z)``: positive when it faces the viewer."""
        return (x * self.sy + z * self.cy)[:, 0]


def _bump(v: np.ndarray, center: float, width: float) -> np.ndarray:
    return np.exp(-(((v - center) / width) ** 2))


def _smoothstep(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return v * v * (3.0 - 2.0 * v)


def _geometry(frames: np.ndarray, width: int) -> dict[str, np.ndarray]:
    """Pixel geometry of every drawable part for all frames (``[T, ...]`` arrays)."""
    f = np.clip(frames.astype(np.float64), -10.0, 10.0)
    t = f.shape[0]

    def ch(name: str) -> np.ndarray:
        return f[:, _C[name]][:, None]

    def blend(name: str) -> np.ndarray:
        return np.clip(ch(name), 0.0, 1.0)

    pose = _Pose(f[:, _C["HeadYaw"]], f[:, _C["HeadPitch"]], f[:, _C["HeadRoll"]], width)
    g: dict[str, np.ndarray] = {}

    # ---- head silhouette: ellipse; chin drops with the jaw, cheeks puff out ----------------
    theta = np.linspace(0.0, 2.0 * np.pi, _K_OUTLINE, endpoint=False)
    ox = np.broadcast_to(_HEAD_A * np.cos(theta), (t, _K_OUTLINE)).copy()
    oy = np.broadcast_to(_HEAD_B * np.sin(theta), (t, _K_OUTLINE)).copy()
    jaw_open = blend("JawOpen")
    jaw_side = blend("JawLeft") - blend("JawRight")
    puff = blend("CheekPuff")
    lower = _smoothstep((oy - 0.25) / (_HEAD_B - 0.25))
    ox = ox * (1.0 + 0.13 * puff * _bump(oy, 0.55, 0.38)) + 0.1 * jaw_side * lower
    oy = oy + _JAW_DROP * jaw_open * lower
    chin_depth = 0.6 * np.clip(oy / _HEAD_B, 0.0, None) ** 2
    g["outline"] = pose.project(ox, oy, z=chin_depth, surface=False)

    # ---- hair cap: silhouette above the hairline + the hairline on the face surface --------
    hx = np.linspace(-0.97, 0.97, 25) * _HEAD_A
    hy = -0.84 + 0.5 * (hx / _HEAD_A) ** 2
    hairline = pose.project(hx, hy, inside_head=True)  # left to right, closing the arc that ends on the left
    a0 = math.atan2(hy[-1] / _HEAD_B, hx[-1] / _HEAD_A)  # right end, angle in (-pi/2, 0)
    arc = np.linspace(a0, -np.pi - a0, 31)
    top = pose.project(_HEAD_A * np.cos(arc) * 1.01, _HEAD_B * np.sin(arc) * 1.01, surface=False)
    g["hair"] = np.concatenate([top, hairline], axis=1)

    # ---- ears: behind the head; the one turned away hides behind the silhouette ------------
    ear_t = np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        ex = sign * (0.97 + 0.1 * np.cos(ear_t))
        ey = -0.02 + 0.2 * np.sin(ear_t)
        g[f"ear_{side}"] = pose.project(ex, ey, z=np.full(ex.shape, -0.2) + np.zeros((t, 1)))

    # ---- neck (does not turn with the head) ---------------------------------------------------
    w = width
    g["neck"] = np.array(
        [[0.5 * w - 0.17 * w, 0.55 * w], [0.5 * w + 0.17 * w, 0.55 * w], [0.5 * w + 0.2 * w, 1.02 * w],
         [0.5 * w - 0.2 * w, 1.02 * w]]
    )  # fmt: skip
    g["shoulders"] = np.array([[0.05 * w, 1.02 * w], [0.18 * w, 0.93 * w], [0.5 * w, 0.9 * w],
                               [0.82 * w, 0.93 * w], [0.95 * w, 1.02 * w]])  # fmt: skip

    # ---- eyes ---------------------------------------------------------------------------------
    # Extend the lid curves past the corners so the skin covers hide the iris there too.
    lt = np.linspace(-1.35, 1.35, _K_LID)
    lid_shape = np.clip(1.0 - lt**2, 0.0, None)
    for side, sign, rot in (("left", 1.0, "LeftEye"), ("right", -1.0, "RightEye")):
        suffix = "Left" if side == "left" else "Right"
        blink = np.clip(blend("EyeBlink" + suffix) * 1.08, 0.0, 1.0)
        squint = blend("EyeSquint" + suffix)
        wide = blend("EyeWide" + suffix)
        cheek_sq = blend("CheekSquint" + suffix)
        cx = sign * _EYE_X
        xs = cx + _EYE_HALF_W * lt
        up_open = _EYE_OPEN_UP * (1.0 + 0.55 * wide) * (1.0 - 0.4 * squint)
        down = _EYE_OPEN_DOWN * (1.0 - 0.55 * squint - 0.35 * cheek_sq) * (1.0 + 0.25 * wide)
        lower_y = _EYE_Y + down * lid_shape**0.9
        upper_open_y = _EYE_Y - up_open * lid_shape**0.8
        upper_y = (1.0 - blink) * upper_open_y + blink * lower_y
        g[f"eye_{side}_upper"] = pose.project(xs, upper_y)
        g[f"eye_{side}_lower"] = pose.project(xs, lower_y)
        g[f"eye_{side}_crease"] = pose.project(xs[3:-3], (upper_y - (0.045 + 0.03 * wide) * lid_shape**0.7)[:, 3:-3])
        g[f"eye_{side}_crease_alpha"] = (1.0 - blink[:, 0]) * 0.9
        cover_up = np.concatenate(
            [np.broadcast_to(xs, (t, _K_LID)), np.full((t, 2), 0.0)], axis=1
        )
        cover_up[:, -2] = xs[-1]
        cover_up[:, -1] = xs[0]
        g[f"eye_{side}_cover_upper"] = pose.project(
            cover_up, np.concatenate([upper_y, np.full((t, 2), _EYE_Y - 0.23)], axis=1)
        )
        g[f"eye_{side}_cover_lower"] = pose.project(
            cover_up, np.concatenate([lower_y, np.full((t, 2), _EYE_Y + 0.2)], axis=1)
        )
        g[f"eye_{side}_sclera"] = pose.project(
            np.concatenate([xs, xs[::-1]]), np.concatenate([upper_open_y, lower_y[:, ::-1]], axis=1)
        )
        # gaze: out/in and up/down blendshapes, or the eye rotation channels (radians)
        out_dir = blend("EyeLookOut" + suffix) - blend("EyeLookIn" + suffix)
        gx_blend = sign * out_dir  # toward the image right when positive
        gy_blend = blend("EyeLookDown" + suffix) - blend("EyeLookUp" + suffix)
        gx_rot = np.clip(-ch(rot + "Yaw") / 0.6, -1.0, 1.0)
        gy_rot = np.clip(ch(rot + "Pitch") / 0.55, -1.0, 1.0)
        gx = np.where(np.abs(gx_rot) > np.abs(gx_blend), gx_rot, gx_blend)
        gy = np.where(np.abs(gy_rot) > np.abs(gy_blend), gy_rot, gy_blend)
        ix = cx + _GAZE_X * np.clip(gx, -1.0, 1.0)
        iy = _EYE_Y - 0.01 + _GAZE_Y * np.clip(gy, -1.0, 1.0)
        g[f"eye_{side}_iris"] = pose.project(ix, iy)[:, 0]
        eye_depth = float(_surface_depth(np.array(cx), np.array(_EYE_Y)))
        g[f"eye_{side}_visible"] = ((1.0 - blink[:, 0]) > 0.04) & (pose.facing(cx, eye_depth) > 0.05)

    # ---- brows ------------------------------------------------------------------------------
    bt = np.linspace(0.0, 1.0, _K_BROW)
    inner_up = blend("BrowInnerUp")
    for side, sign in (("left", 1.0), ("right", -1.0)):
        suffix = "Left" if side == "left" else "Right"
        outer_up = blend("BrowOuterUp" + suffix)
        down = blend("BrowDown" + suffix)
        inner_dy = -0.2 * inner_up + 0.1 * down
        outer_dy = -0.17 * outer_up + 0.035 * down - 0.03 * inner_up
        x_in = _BROW_INNER_X - 0.04 * down
        bx = sign * (x_in + (_BROW_OUTER_X - x_in) * bt)
        arch = -0.06 * np.sin(np.pi * bt**0.8) * (1.0 + 0.4 * outer_up)
        by = _BROW_Y + inner_dy + (outer_dy - inner_dy) * bt + arch + 0.03 * bt
        thick = 0.065 - 0.03 * bt
        top = pose.project(bx, by - thick / 2)
        bottom = pose.project(bx, by + thick / 2)
        g[f"brow_{side}"] = np.concatenate([top, bottom[:, ::-1]], axis=1)
    raise_amount = np.clip(0.8 * inner_up + 0.35 * (blend("BrowOuterUpLeft") + blend("BrowOuterUpRight")), 0.0, 1.0)
    down_amount = np.clip(0.5 * (blend("BrowDownLeft") + blend("BrowDownRight")), 0.0, 1.0)
    wx = np.linspace(-0.34, 0.34, 11)
    g["forehead_lines"] = np.stack(
        [pose.project(wx * s, y0 - 0.035 * np.cos(np.pi * wx / 0.68)) for s, y0 in ((1.0, -0.62), (0.8, -0.71))],
        axis=1,
    )  # [T, 2, 11, 2]
    g["forehead_alpha"] = raise_amount[:, 0]
    g["frown_lines"] = np.stack(
        [pose.project(np.array([s * 0.045, s * 0.06]), np.array([-0.32, -0.2])) for s in (-1.0, 1.0)], axis=1
    )
    g["frown_alpha"] = down_amount[:, 0]

    # ---- nose ------------------------------------------------------------------------------------
    sneer_l, sneer_r = blend("NoseSneerLeft"), blend("NoseSneerRight")
    nx = np.array([-0.15, -0.16, -0.1, -0.04, 0.0, 0.04, 0.1, 0.16, 0.15])
    ny = np.array([0.2, 0.28, 0.325, 0.315, 0.33, 0.315, 0.325, 0.28, 0.2])
    lift = np.where(nx < 0, sneer_r, sneer_l) * np.clip(np.abs(nx) / 0.16, 0.0, 1.0)
    nose_y = ny - 0.06 * lift
    nose_x = nx * (1.0 + 0.15 * np.where(nx < 0, sneer_r, sneer_l))
    nose_depth = 0.22 * _bump(nx, 0.0, 0.12)
    g["nose"] = pose.project(nose_x, nose_y, depth_offset=nose_depth)
    g["nose_bridge"] = pose.project(
        np.array([-0.06, -0.075, -0.1]), np.array([-0.02, 0.1, 0.2]), depth_offset=np.array([0.06, 0.12, 0.14])
    )
    g["nostrils"] = np.stack(
        [
            pose.project(np.array([s * 0.065]), _NOSE_Y - 0.005 - 0.05 * sn, depth_offset=0.12)[:, 0]
            for s, sn in ((-1.0, sneer_r), (1.0, sneer_l))
        ],
        axis=1,
    )  # [T, 2, 2]
    g["nostril_r"] = np.full(t, 0.024) * (1.0 + 0.3 * np.maximum(sneer_l, sneer_r)[:, 0])
    g["sneer_lines"] = np.stack(
        [pose.project(np.array([s * 0.03, s * 0.1]), np.array([0.06, 0.08]), depth_offset=0.1) for s in (-1, 1)]
        + [pose.project(np.array([s * 0.03, s * 0.11]), np.array([0.12, 0.14]), depth_offset=0.12) for s in (-1, 1)],
        axis=1,
    )
    g["sneer_alpha"] = np.clip(0.5 * (sneer_l + sneer_r)[:, 0] * 1.6 - 0.15, 0.0, 1.0)

    # ---- mouth ----------------------------------------------------------------------------------
    smile = {s: blend("MouthSmile" + s) for s in ("Left", "Right")}
    frown = {s: blend("MouthFrown" + s) for s in ("Left", "Right")}
    stretch = {s: blend("MouthStretch" + s) for s in ("Left", "Right")}
    dimple = {s: blend("MouthDimple" + s) for s in ("Left", "Right")}
    press = 0.5 * (blend("MouthPressLeft") + blend("MouthPressRight"))
    upper_up = 0.5 * (blend("MouthUpperUpLeft") + blend("MouthUpperUpRight"))
    lower_down = 0.5 * (blend("MouthLowerDownLeft") + blend("MouthLowerDownRight"))
    pucker, funnel = blend("MouthPucker"), blend("MouthFunnel")
    close = blend("MouthClose")
    roll_up, roll_low = blend("MouthRollUpper"), blend("MouthRollLower")
    shrug_up, shrug_low = blend("MouthShrugUpper"), blend("MouthShrugLower")
    mouth_shift = 0.13 * (blend("MouthLeft") - blend("MouthRight")) + 0.05 * jaw_side

    drop = _JAW_DROP * jaw_open
    gap = np.clip(
        drop * (1.0 - 0.95 * np.clip(close / np.maximum(jaw_open, 1e-3), 0.0, 1.0))
        + 0.07 * lower_down + 0.045 * upper_up + 0.06 * funnel - 0.03 * shrug_low,
        0.0,
        None,
    )
    narrow = 1.0 - 0.45 * pucker - 0.32 * funnel
    half_w = {
        s: _MOUTH_HALF_W
        * np.clip(narrow + 0.22 * smile[s] + 0.3 * stretch[s] + 0.1 * dimple[s] - 0.12 * jaw_open, 0.35, 1.6)
        for s in ("Left", "Right")
    }
    corner_y = {
        s: _MOUTH_Y - 0.11 * smile[s] + 0.1 * frown[s] - 0.015 * dimple[s] + 0.45 * gap + 0.02 * stretch[s]
        for s in ("Left", "Right")
    }
    mt = np.linspace(-1.0, 1.0, _K_MOUTH)
    right_half = mt < 0  # image left = the subject's right
    w_t = np.where(right_half, half_w["Right"], half_w["Left"])
    cy_t = np.where(right_half, corner_y["Right"], corner_y["Left"])
    roundness = 0.85 - 0.35 * np.clip(pucker + funnel, 0.0, 1.0)
    prof = np.clip(1.0 - mt**2, 0.0, None) ** roundness
    mx = mouth_shift + mt * w_t
    up_mid = _MOUTH_Y - 0.005 - 0.05 * upper_up - 0.02 * shrug_up
    low_mid = up_mid + 0.01 + gap
    low_shift = 0.06 * jaw_side * (0.5 + 0.5 * prof)
    inner_up = cy_t + (up_mid - cy_t) * prof
    inner_low = cy_t + (low_mid - cy_t) * prof
    fuller = 1.0 + 0.9 * pucker + 0.35 * funnel
    thin = (1.0 - 0.45 * press) * fuller
    t_up = 0.05 * (1.0 - 0.75 * roll_up) * thin
    t_low = 0.062 * (1.0 - 0.75 * roll_low) * thin
    lip_prof = np.clip(1.0 - mt**2, 0.0, None) ** 0.5
    bow = 1.0 - 0.3 * _bump(mt, 0.0, 0.16) + 0.12 * _bump(np.abs(mt), 0.3, 0.15)
    outer_up = inner_up - t_up * lip_prof * bow
    outer_low = inner_low + t_low * lip_prof
    mouth_depth = 0.08 * prof + 0.1 * pucker * prof
    g["lips"] = pose.project(
        np.concatenate([mx, (mx + low_shift)[:, ::-1]], axis=1),
        np.concatenate([outer_up, outer_low[:, ::-1]], axis=1),
        depth_offset=np.concatenate([mouth_depth, mouth_depth[:, ::-1]], axis=1),
    )
    g["opening"] = pose.project(
        np.concatenate([mx, (mx + low_shift)[:, ::-1]], axis=1),
        np.concatenate([inner_up, inner_low[:, ::-1]], axis=1),
        depth_offset=np.concatenate([mouth_depth, mouth_depth[:, ::-1]], axis=1),
    )
    g["seam"] = pose.project(mx, inner_up + 0.5 * (inner_low - inner_up) * (gap < 0.012), depth_offset=mouth_depth)
    g["mouth_open"] = gap[:, 0] > 0.012
    # teeth: a band under the upper lip, clipped by the lower lip
    tt = slice(4, _K_MOUTH - 4)
    teeth_bottom = np.minimum(inner_up + 0.055 * prof, inner_low)
    g["teeth"] = pose.project(
        np.concatenate([mx[:, tt], mx[:, tt][:, ::-1]], axis=1),
        np.concatenate([inner_up[:, tt], teeth_bottom[:, tt][:, ::-1]], axis=1),
        depth_offset=np.concatenate([mouth_depth[:, tt], mouth_depth[:, tt][:, ::-1]], axis=1),
    )
    tongue_top = np.maximum(inner_low - 0.45 * gap * prof, inner_up)
    tg = slice(5, _K_MOUTH - 5)
    g["tongue_in"] = pose.project(
        np.concatenate([(mx + low_shift)[:, tg], (mx + low_shift)[:, tg][:, ::-1]], axis=1),
        np.concatenate([tongue_top[:, tg], inner_low[:, tg][:, ::-1]], axis=1),
        depth_offset=np.concatenate([mouth_depth[:, tg], mouth_depth[:, tg][:, ::-1]], axis=1),
    )
    # tongue out: a rounded tongue hanging over the lower lip
    tongue = blend("TongueOut")
    ta = np.linspace(0.0, np.pi, 17)
    tw = 0.13 + 0.02 * tongue
    tlen = 0.05 + 0.24 * tongue
    t_x = mouth_shift + 0.5 * jaw_side * 0.06 + tw * np.cos(ta)
    t_y = low_mid - 0.02 + tlen * np.sin(ta) ** 1.3
    g["tongue_out"] = pose.project(t_x, t_y, depth_offset=0.2)
    g["tongue_mid"] = pose.project(
        mouth_shift + 0.03 * jaw_side + np.zeros(2),
        np.concatenate([low_mid, low_mid - 0.02 + 0.6 * tlen], axis=1),
        depth_offset=0.22,
    )
    g["tongue_visible"] = tongue[:, 0] > 0.08
    # smile folds: from beside the nose toward the mouth corners
    for side, sign, s in (("left", 1.0, "Left"), ("right", -1.0, "Right")):
        ft = np.linspace(0.0, 1.0, 7)
        corner_x = mouth_shift + sign * half_w[s]
        fx = sign * 0.2 + (corner_x - sign * 0.2 + sign * 0.07) * ft + sign * 0.05 * np.sin(np.pi * ft)
        fy = 0.28 + (corner_y[s] - 0.28 + 0.02) * ft
        g[f"fold_{side}"] = pose.project(fx, fy)
        g[f"fold_{side}_alpha"] = np.clip(1.3 * smile[s][:, 0] + 0.5 * blend("CheekSquint" + s)[:, 0] - 0.1, 0.0, 1.0)
        # cheeks: rise with a smile, swell with a puff
        cheek_t = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
        rise = 0.06 * smile[s] + 0.05 * blend("CheekSquint" + s)
        r = 0.15 * (1.0 + 0.7 * puff)
        g[f"cheek_{side}"] = pose.project(
            sign * (0.56 + 0.05 * puff) + r * 1.1 * np.cos(cheek_t), 0.33 - rise + r * 0.75 * np.sin(cheek_t)
        )
        g[f"cheek_{side}_alpha"] = np.clip(0.22 + 0.55 * puff[:, 0] + 0.3 * smile[s][:, 0], 0.0, 0.85)
    return g


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------
def _mix(a: tuple[int, int, int], b: tuple[int, int, int], alpha: float) -> tuple[int, int, int]:
    alpha = float(min(max(alpha, 0.0), 1.0))
    return tuple(int(round(x + (y - x) * alpha)) for x, y in zip(a, b))  # type: ignore[return-value]


def _flat(points: np.ndarray) -> list[float]:
    return points.ravel().tolist()


_FONT_CACHE: dict[int, ImageFont.ImageFont | ImageFont.FreeTypeFont] = {}


def _font(size: int):
    if size not in _FONT_CACHE:
        try:
            _FONT_CACHE[size] = ImageFont.load_default(size=size)
        except (TypeError, OSError, AttributeError):  # Pillow without FreeType: fixed bitmap font
            _FONT_CACHE[size] = ImageFont.load_default()
    return _FONT_CACHE[size]


def _draw_frame(g: dict[str, np.ndarray], i: int, width: int, stamp: tuple[float, float] | None) -> Image.Image:
    """Draw frame ``i`` of the geometry ``g`` on a ``width`` x ``width`` canvas (2x the output)."""
    p = _PALETTE
    u = width / 512.0  # line widths are tuned for a 512 px canvas
    lw = lambda v: max(1, int(round(v * u)))  # noqa: E731
    img = Image.new("RGB", (width, width), p["background"])
    d = ImageDraw.Draw(img)

    d.polygon(_flat(g["shoulders"]), fill=_mix(p["background"], p["hair"], 0.25))
    d.polygon(_flat(g["neck"]), fill=p["neck"])
    for side in ("left", "right"):
        d.polygon(_flat(g[f"ear_{side}"][i]), fill=p["ear"], outline=p["skin_outline"], width=lw(3))
    d.polygon(_flat(g["outline"][i]), fill=p["skin"], outline=p["skin_outline"], width=lw(4))
    d.polygon(_flat(g["hair"][i]), fill=p["hair"])

    # cheeks (under everything else on the face)
    for side in ("left", "right"):
        d.polygon(_flat(g[f"cheek_{side}"][i]), fill=_mix(p["skin"], p["blush"], g[f"cheek_{side}_alpha"][i]))

    # eyes
    for side in ("left", "right"):
        if g[f"eye_{side}_visible"][i]:
            d.polygon(_flat(g[f"eye_{side}_sclera"][i]), fill=p["sclera"])
            ix, iy = g[f"eye_{side}_iris"][i]
            r = _IRIS_R * _SCALE * width
            iris_edge = _mix(p["iris"], p["pupil"], 0.5)
            d.ellipse((ix - r, iy - r, ix + r, iy + r), fill=p["iris"], outline=iris_edge, width=lw(2))
            r = _PUPIL_R * _SCALE * width
            d.ellipse((ix - r, iy - r, ix + r, iy + r), fill=p["pupil"])
            r = 0.35 * r
            hx, hy = ix + 1.2 * r, iy - 1.2 * r
            d.ellipse((hx - r, hy - r, hx + r, hy + r), fill=(255, 255, 255))
        d.polygon(_flat(g[f"eye_{side}_cover_upper"][i]), fill=p["skin"])
        d.polygon(_flat(g[f"eye_{side}_cover_lower"][i]), fill=p["skin"])
        alpha = g[f"eye_{side}_crease_alpha"][i]
        if alpha > 0.05:
            crease = _mix(p["skin"], p["crease"], alpha)
            d.line(_flat(g[f"eye_{side}_crease"][i]), fill=crease, width=lw(3), joint="curve")
        lower_lid = _mix(p["skin"], p["lash"], 0.45)
        d.line(_flat(g[f"eye_{side}_lower"][i][2:-2]), fill=lower_lid, width=lw(3), joint="curve")
        d.line(_flat(g[f"eye_{side}_upper"][i][2:-2]), fill=p["lash"], width=lw(7), joint="curve")

    # forehead and frown lines, brows
    alpha = g["forehead_alpha"][i]
    if alpha > 0.05:
        for line in g["forehead_lines"][i]:
            d.line(_flat(line), fill=_mix(p["skin"], p["wrinkle"], alpha), width=lw(3), joint="curve")
    alpha = g["frown_alpha"][i]
    if alpha > 0.05:
        for line in g["frown_lines"][i]:
            d.line(_flat(line), fill=_mix(p["skin"], p["wrinkle"], alpha), width=lw(3))
    for side in ("left", "right"):
        d.polygon(_flat(g[f"brow_{side}"][i]), fill=p["brow"], outline=p["brow"], width=lw(2))

    # nose
    d.line(_flat(g["nose_bridge"][i]), fill=_mix(p["skin"], p["nose"], 0.45), width=lw(3), joint="curve")
    alpha = g["sneer_alpha"][i]
    if alpha > 0.05:
        for line in g["sneer_lines"][i]:
            d.line(_flat(line), fill=_mix(p["skin"], p["wrinkle"], alpha), width=lw(3))
    r = g["nostril_r"][i] * _SCALE * width
    for nx, ny in g["nostrils"][i]:
        d.ellipse((nx - 1.3 * r, ny - 0.8 * r, nx + 1.3 * r, ny + 0.8 * r), fill=p["nostril"])
    d.line(_flat(g["nose"][i]), fill=p["nose"], width=lw(4), joint="curve")

    # smile folds, mouth, tongue
    for side in ("left", "right"):
        alpha = g[f"fold_{side}_alpha"][i]
        if alpha > 0.05:
            d.line(_flat(g[f"fold_{side}"][i]), fill=_mix(p["skin"], p["wrinkle"], alpha), width=lw(4), joint="curve")
    d.polygon(_flat(g["lips"][i]), fill=p["lip"], outline=_mix(p["lip"], p["skin_outline"], 0.4), width=lw(2))
    if g["mouth_open"][i]:
        d.polygon(_flat(g["opening"][i]), fill=p["mouth"])
        d.polygon(_flat(g["tongue_in"][i]), fill=p["tongue"])
        d.polygon(_flat(g["teeth"][i]), fill=p["teeth"])
        d.line(_flat(g["opening"][i]), fill=p["lip_line"], width=lw(3), joint="curve")
    else:
        d.line(_flat(g["seam"][i]), fill=p["lip_line"], width=lw(5), joint="curve")
    if g["tongue_visible"][i]:
        d.polygon(_flat(g["tongue_out"][i]), fill=p["tongue"], outline=p["tongue_line"], width=lw(3))
        d.line(_flat(g["tongue_mid"][i]), fill=p["tongue_line"], width=lw(3))

    if stamp is not None:
        seconds, progress = stamp
        bar_y = width - lw(10)
        d.rectangle((0, bar_y, width, width), fill=_mix(p["background"], p["bar"], 0.35))
        d.rectangle((0, bar_y, progress * width, width), fill=p["bar"])
        d.text((lw(14), width - lw(46)), f"{seconds:6.2f} s", fill=p["text"], font=_font(lw(26)))
    return img


def _check_frames(frames, name: str = "frames") -> np.ndarray:
    arr = np.asarray(frames, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != NUM_CHANNELS:
        raise ValueError(
            f"{name} must have shape [T, {NUM_CHANNELS}] (or [{NUM_CHANNELS}] for one frame) in Live Link Face "
            f"channel order, got {tuple(np.shape(frames))}"
        )
    if not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        logger.warning("%s: %d frame(s) hold NaN or infinite values; drawn as 0", name, bad)
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    return arr


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size must be an integer of at least 32 pixels, got {size!r}")
    return int(size)


def render_frames(frames, size: int = 256, fps: float | None = None) -> list[Image.Image]:
    """Draw every frame of a ``[T, 61]`` motion as a ``size`` x ``size`` RGB image.

    With ``fps``, each image also carries its time in seconds and a progress bar at the bottom
    (this also keeps consecutive frames distinct, so GIF writers never merge them).
    """
    arr = _check_frames(frames)
    size = _check_size(size)
    canvas = 2 * size
    g = _geometry(arr, canvas)
    n = arr.shape[0]
    images = []
    for i in range(n):
        stamp = None if fps is None else (i / fps, (i + 1) / n)
        images.append(_draw_frame(g, i, canvas, stamp).reduce(2))
    return images


def render_frame(frame, size: int = 256) -> Image.Image:
    """Draw one ``[61]`` frame as a ``size`` x ``size`` RGB image."""
    arr = np.asarray(frame, dtype=np.float32)
    if arr.shape != (NUM_CHANNELS,):
        raise ValueError(
            f"render_frame expects one frame of shape [{NUM_CHANNELS}], got {tuple(arr.shape)}; "
            f"use render_frames for [T, {NUM_CHANNELS}]"
        )
    return render_frames(arr[None], size=size)[0]


# --------------------------------------------------------------------------------------------
# Animated previews
# --------------------------------------------------------------------------------------------
def _preview_step(fps: float, max_preview_fps: float) -> int:
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    if max_preview_fps <= 0:
        raise ValueError(f"max_preview_fps must be positive, got {max_preview_fps!r}")
    return max(1, math.ceil(fps / max_preview_fps - 1e-9))


def preview_frame_indices(num_frames: int, fps: float, max_preview_fps: float = DEFAULT_MAX_PREVIEW_FPS) -> np.ndarray:
    """Indices of the motion frames a GIF preview shows.

    Every ``step``-th frame, ``step = ceil(fps / max_preview_fps)``, starting at frame 0, so a
    preview has ``ceil(num_frames / step)`` frames: all of them up to 30 fps, every second
    frame of a 60 fps capture (shown at 30 fps), every third of 90 fps.
    """
    step = _preview_step(fps, max_preview_fps)
    return np.arange(0, int(num_frames), step, dtype=np.int64)


def preview_fps(fps: float, max_preview_fps: float = DEFAULT_MAX_PREVIEW_FPS) -> float:
    """Playback rate of the preview of a motion at ``fps``: ``fps / ceil(fps / max_preview_fps)``."""
    return fps / _preview_step(fps, max_preview_fps)


def _gif_durations(num_images: int, rate: float) -> list[int]:
    """Per-frame delays in ms, multiples of 10 ms, whose running sum tracks ``i / rate``."""
    ticks = np.round(np.arange(num_images + 1) * 100.0 / rate).astype(np.int64)  # centiseconds
    return [int(max(1, c)) * 10 for c in np.diff(ticks)]


def _iter_stamped(arr: np.ndarray, idx: np.ndarray, fps: float, size: int, chunk: int = 256):
    """Yield the time-stamped images of frames ``idx``, computing geometry ``chunk`` frames at a
    time so long takes never hold every RGB image in memory."""
    canvas = 2 * _check_size(size)
    n = arr.shape[0]
    for start in range(0, len(idx), chunk):
        part = idx[start : start + chunk]
        g = _geometry(arr[part], canvas)
        for k, i in enumerate(part):
            yield _draw_frame(g, k, canvas, (int(i) / fps, (int(i) + 1) / n)).reduce(2)


def _shared_palette(arr: np.ndarray, idx: np.ndarray, fps: float, size: int) -> Image.Image:
    """One 255-colour palette for a whole clip: from up to 24 frames spread over it plus a strip
    of the renderer's own colours (so a short tongue-out or a blush is never left out)."""
    sample_idx = idx[np.unique(np.linspace(0, len(idx) - 1, min(24, len(idx))).round().astype(np.int64))]
    sample = list(_iter_stamped(arr, sample_idx, fps, size))
    w, h = sample[0].size
    swatch = 16
    montage = Image.new("RGB", (w * len(sample), h + swatch), _PALETTE["background"])
    for k, im in enumerate(sample):
        montage.paste(im, (k * w, 0))
    d = ImageDraw.Draw(montage)
    colours = list(_PALETTE.values())
    cell = max(1, montage.width // len(colours))
    for k, col in enumerate(colours):
        d.rectangle((k * cell, h, (k + 1) * cell, h + swatch), fill=col)
    return montage.quantize(colors=_GIF_TRANSPARENT, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


_GIF_TRANSPARENT = 255  # palette index kept free for "unchanged since the previous frame"


def _write_gif_stream(path: Path, frames, durations: Sequence[int]) -> int:
    """Write palette images sharing one palette (indices < 255) as a looping GIF, streaming.

    Each frame after the first is stored as the rectangle that changed, with unchanged pixels
    inside it set to the transparent index (disposal "do not dispose"), which keeps files small;
    a frame identical to the previous one is still written (a 1x1 transparent patch), so the
    GIF holds exactly one frame per image.  Memory stays flat however long the clip is.
    Returns the number of frames written.
    """
    from PIL import GifImagePlugin

    count = 0
    previous = None
    palette = None
    with open(path, "wb") as fp:
        for im in frames:
            current = np.asarray(im)
            if previous is None:
                palette = im.getpalette()
                header, _ = GifImagePlugin.getheader(im, info={"loop": 0, "duration": durations[0]})
                fp.write(b"".join(header))
                blocks = GifImagePlugin.getdata(im, offset=(0, 0), duration=durations[0], disposal=1)
            else:
                changed = current != previous
                rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
                if rows.size:
                    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
                else:
                    y0, y1, x0, x1 = 0, 1, 0, 1
                patch = np.where(changed[y0:y1, x0:x1], current[y0:y1, x0:x1], _GIF_TRANSPARENT).astype(np.uint8)
                patch_im = Image.fromarray(patch, mode="P")
                patch_im.putpalette(palette)
                blocks = GifImagePlugin.getdata(
                    patch_im, offset=(x0, y0), duration=durations[count], disposal=1, transparency=_GIF_TRANSPARENT
                )
            for block in blocks:
                fp.write(block)
            previous = current
            count += 1
        fp.write(b";")
    return count


def save_gif(frames, path, fps: float, size: int = 256, max_preview_fps: float = DEFAULT_MAX_PREVIEW_FPS) -> Path:
    """Write an animated, looping GIF preview of a ``[T, 61]`` motion at ``fps``.

    GIF delays are counted in 10 ms units and viewers play very short delays badly, so motions
    above ``max_preview_fps`` (30) are subsampled: the GIF shows exactly the frames
    :func:`preview_frame_indices` picks, ``ceil(T / ceil(fps / max_preview_fps))`` of them (a
    60 fps motion plays at 30 fps), with delays alternating between neighbouring multiples of
    10 ms so the total duration matches the motion's.  Each frame carries its time stamp and a
    progress bar, which also keeps consecutive frames distinct (GIF writers merge identical
    ones).  One shared palette; returns the path written.
    """
    arr = _check_frames(frames)
    if arr.shape[0] == 0:
        raise ValueError("save_gif: the motion has no frames")
    size = _check_size(size)
    idx = preview_frame_indices(arr.shape[0], fps, max_preview_fps)
    rate = preview_fps(fps, max_preview_fps)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    palette = _shared_palette(arr, idx, fps, size)
    quantised = (
        im.quantize(palette=palette, dither=Image.Dither.NONE) for im in _iter_stamped(arr, idx, fps, size)
    )
    _write_gif_stream(path, quantised, _gif_durations(len(idx), rate))
    logger.info("wrote %s: %d frames at %.4g fps (motion: %d frames at %g fps)", path, len(idx), rate, arr.shape[0], fps)
    return path


def ffmpeg_available() -> bool:
    """Whether an ``ffmpeg`` executable is on ``PATH`` (needed for :func:`save_mp4`)."""
    return shutil.which("ffmpeg") is not None


def save_mp4(frames, path, fps: float, size: int = 256) -> Path | None:
    """Write an H.264 MP4 preview (every frame, at the motion's own ``fps``) with ``ffmpeg``.

    Returns the path, or ``None`` (and logs why) when no ``ffmpeg`` is on ``PATH``.  ``size``
    is rounded up to an even number (yuv420p needs even dimensions).
    """
    exe = shutil.which("ffmpeg")
    if exe is None:
        logger.info("ffmpeg not found on PATH; skipping the MP4 preview %s", path)
        return None
    arr = _check_frames(frames)
    if arr.shape[0] == 0:
        raise ValueError("save_mp4: the motion has no frames")
    if not fps or fps <= 0:
        raise ValueError(f"save_mp4: fps must be positive, got {fps!r}")
    size = _check_size(size)
    size += size % 2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size}x{size}",
        "-r", f"{fps:g}", "-i", "-", "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
        str(path),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    try:
        for im in _iter_stamped(arr, np.arange(arr.shape[0]), fps, size):
            proc.stdin.write(im.tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed writing {path} (exit {proc.returncode}): {err.strip()[-500:]}")
    logger.info("wrote %s: %d frames at %g fps", path, arr.shape[0], fps)
    return path


# --------------------------------------------------------------------------------------------
# Channel curves
# --------------------------------------------------------------------------------------------
_CURVE_COLOURS = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (0, 0, 128), (128, 0, 0), (0, 110, 70),
)  # fmt: skip


def _nice_step(span: float, max_ticks: int) -> float:
    raw = span / max(1, max_ticks)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _fmt_tick(v: float, step: float) -> str:
    """``v`` with as many decimals as the tick ``step`` needs (0.25 -> 2, 2.5 -> 1, 5 -> 0)."""
    decimals = next((k for k in range(5) if abs(step * 10**k - round(step * 10**k)) < 1e-6), 4)
    if abs(v) < 1e-6 * step:
        v = 0.0  # no "-0.00" from accumulated rounding
    return f"{v:.{decimals}f}"


def plot_channel_curves(
    frames,
    fps: float,
    path,
    channels: Sequence[str] | None = None,
    size: tuple[int, int] = (1000, 600),
    title: str | None = None,
) -> Path:
    """Write a PNG line plot of channel curves over time (seconds), drawn with Pillow.

    ``channels`` are names (case-insensitive) from :data:`~express4d_dataset.arkit.CHANNEL_NAMES`;
    default :data:`DEFAULT_CURVE_CHANNELS`.  Blendshapes (0..1) and rotations (radians) get
    separate panels with their own y axis; a legend names each curve.  ``size`` is
    ``(width, height)`` of the PNG in pixels.  Returns the path written.
    """
    arr = _check_frames(frames)
    if fps is None or fps <= 0:
        raise ValueError(f"plot_channel_curves: fps must be positive, got {fps!r}")
    names = list(channels) if channels is not None else list(DEFAULT_CURVE_CHANNELS)
    if not names:
        raise ValueError("plot_channel_curves: channels is empty; pass channel names or None for the defaults")
    idx = [channel_index(n) for n in names]  # raises KeyError naming the unknown channel
    names = [CHANNEL_NAMES[i] for i in idx]
    width, height = int(size[0]), int(size[1])
    if width < 200 or height < 150:
        raise ValueError(f"plot_channel_curves: size must be at least (200, 150) pixels, got {tuple(size)}")

    ss = 2  # draw at 2x, downsample
    W, H = width * ss, height * ss
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    font = _font(13 * ss)
    small = _font(11 * ss)
    n = arr.shape[0]
    duration = max(n - 1, 1) / fps
    times = np.arange(n) / fps

    rot_set = set(ROTATION_NAMES)
    panels = [("blendshapes (0-1)", [k for k, nm in enumerate(names) if nm not in rot_set])]
    panels.append(("rotation (rad)", [k for k, nm in enumerate(names) if nm in rot_set]))
    panels = [(label, ks) for label, ks in panels if ks]
    legend_w = 190 * ss
    left, right = 62 * ss, W - legend_w - 16 * ss
    top = (40 if title else 18) * ss
    bottom = H - 44 * ss
    gap_between = 34 * ss
    weights = [3.0 if label.startswith("blend") else 2.0 for label, _ in panels]
    avail = bottom - top - gap_between * (len(panels) - 1)
    if title:
        d.text((left, 12 * ss), title, fill=(40, 40, 40), font=font)

    y0 = top
    axis_col, grid_col, text_col = (60, 60, 60), (228, 228, 228), (70, 70, 70)
    xstep = _nice_step(duration, 10)
    for p_i, (label, ks) in enumerate(panels):
        ph = avail * weights[p_i] / sum(weights)
        y1 = y0 + ph
        values = arr[:, [idx[k] for k in ks]]
        if label.startswith("blend"):
            lo, hi = 0.0, max(1.0, float(values.max()) if values.size else 1.0)
            lo = min(lo, float(values.min()))
        else:
            m = max(0.1, float(np.abs(values).max()) if values.size else 0.1)
            lo, hi = -m * 1.05, m * 1.05
        ystep = _nice_step(hi - lo, 5)
        # grid + y ticks
        v = math.ceil(lo / ystep) * ystep
        while v <= hi + 1e-9:
            py = y1 - (v - lo) / (hi - lo) * ph
            d.line((left, py, right, py), fill=grid_col, width=ss)
            txt = _fmt_tick(v, ystep)
            tw = d.textlength(txt, font=small)
            d.text((left - 6 * ss - tw, py - 7 * ss), txt, fill=text_col, font=small)
            v += ystep
        # x grid
        tv = 0.0
        while tv <= duration + 1e-9:
            px = left + tv / duration * (right - left)
            d.line((px, y0, px, y1), fill=grid_col, width=ss)
            tv += xstep
        # curves
        xs = left + times / duration * (right - left)
        for k in ks:
            col = _CURVE_COLOURS[k % len(_CURVE_COLOURS)]
            ys = y1 - (arr[:, idx[k]].astype(np.float64) - lo) / (hi - lo) * ph
            if n == 1:
                d.ellipse((xs[0] - 3 * ss, ys[0] - 3 * ss, xs[0] + 3 * ss, ys[0] + 3 * ss), fill=col)
            else:
                d.line(np.stack([xs, ys], axis=1).ravel().tolist(), fill=col, width=2 * ss, joint="curve")
        d.rectangle((left, y0, right, y1), outline=axis_col, width=ss)
        d.text((left + 6 * ss, y0 + 3 * ss), label, fill=text_col, font=small)
        y0 = y1 + gap_between
    # x ticks under the last panel
    tv = 0.0
    while tv <= duration + 1e-9:
        px = left + tv / duration * (right - left)
        d.line((px, bottom, px, bottom + 5 * ss), fill=axis_col, width=ss)
        txt = _fmt_tick(tv, xstep)
        d.text((px - d.textlength(txt, font=small) / 2, bottom + 8 * ss), txt, fill=text_col, font=small)
        tv += xstep
    xl = "time (s)"
    d.text(((left + right) / 2 - d.textlength(xl, font=font) / 2, H - 20 * ss), xl, fill=text_col, font=font)
    # legend
    lx, ly = right + 16 * ss, top
    for k, nm in enumerate(names):
        col = _CURVE_COLOURS[k % len(_CURVE_COLOURS)]
        d.line((lx, ly + 8 * ss, lx + 22 * ss, ly + 8 * ss), fill=col, width=3 * ss)
        column = arr[:, idx[k]]
        note = "" if n < 2 or np.ptp(column) > 0 else (" (all 0)" if not column.any() else " (constant)")
        d.text((lx + 28 * ss, ly), nm + note, fill=text_col, font=small)
        ly += 20 * ss
    img = img.reduce(ss)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    logger.info("wrote %s: %d channel(s), %.2f s", out, len(names), duration)
    return out


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def render_csv(csv_path, out_dir=None, size: int = 256, mp4: bool = True) -> dict[str, Path]:
    """Render a Live Link Face CSV: ``<stem>.gif``, ``<stem>_curves.png`` and, when ``mp4`` and
    ``ffmpeg`` is on ``PATH``, ``<stem>.mp4``.

    Files go to ``out_dir`` (created if needed; default: the CSV's folder).  The row rate comes
    from the CSV's timecodes (``take.fps``).  Returns ``{"gif": ..., "png": ..., "mp4": ...}``
    holding only the files written.
    """
    from express4d_dataset.livelink import read_livelink_csv

    csv_path = Path(csv_path)
    take = read_livelink_csv(csv_path)
    for note in take.notes:
        logger.info("%s: %s", csv_path, note)
    if take.num_frames == 0:
        raise ValueError(f"{csv_path}: the take has no frames to render")
    out = Path(out_dir) if out_dir is not None else csv_path.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = csv_path.stem
    frames = take.frames
    written: dict[str, Path] = {}
    written["gif"] = save_gif(frames, out / f"{stem}.gif", take.fps, size=size)
    if mp4:
        mp4_path = save_mp4(frames, out / f"{stem}.mp4", take.fps, size=size)
        if mp4_path is not None:
            written["mp4"] = mp4_path
    title = f"{csv_path.name} ({take.fps:g} fps)"
    written["png"] = plot_channel_curves(frames, take.fps, out / f"{stem}_curves.png", title=title)
    return written
