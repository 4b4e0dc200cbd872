"""Pixel geometry of the procedural 2D face, one function per facial feature.

Every function works on all frames at once (``[T]`` scalars, ``[T, K]`` point sets) and returns
the drawable parts it computes, keyed by name; :func:`face_geometry` merges them for the drawing
code in :mod:`pipelines.preview.face2d`, which documents what moves what.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from express4d_dataset.arkit import CHANNEL_NAMES
from express4d_dataset.motion import smoothstep

from .face2d_layout import (
    _BROW_INNER_X,
    _BROW_OUTER_X,
    _BROW_Y,
    _EYE_HALF_W,
    _EYE_OPEN_DOWN,
    _EYE_OPEN_UP,
    _EYE_X,
    _EYE_Y,
    _GAZE_X,
    _GAZE_Y,
    _HEAD_A,
    _HEAD_B,
    _JAW_DROP,
    _K_BROW,
    _K_LID,
    _K_MOUTH,
    _K_OUTLINE,
    _MOUTH_HALF_W,
    _MOUTH_Y,
    _NOSE_Y,
    HeadPose,
    surface_depth,
)

__all__ = ["face_geometry"]

_C = {name: i for i, name in enumerate(CHANNEL_NAMES)}
_SIDES = (("left", 1.0, "Left"), ("right", -1.0, "Right"))  # the subject's side, image x sign, channel suffix
Parts = dict[str, np.ndarray]


class _Channels:
    """The channels of every frame as ``[T, 1]`` columns: raw (``ch``) or as a 0..1 blendshape (``blend``)."""

    def __init__(self, frames: np.ndarray):
        self.f = np.clip(frames.astype(np.float64), -10.0, 10.0)
        self.t = self.f.shape[0]

    def ch(self, name: str) -> np.ndarray:
        return self.f[:, _C[name]][:, None]

    def blend(self, name: str) -> np.ndarray:
        return np.clip(self.ch(name), 0.0, 1.0)


def _bump(v: np.ndarray, center: float, width: float) -> np.ndarray:
    return np.exp(-(((v - center) / width) ** 2))


def face_geometry(frames: np.ndarray, width: int) -> Parts:
    """Pixel geometry of every drawable part for all frames (``[T, ...]`` arrays) on a ``width``
    pixel canvas."""
    c = _Channels(frames)
    pose = HeadPose(c.ch("HeadYaw")[:, 0], c.ch("HeadPitch")[:, 0], c.ch("HeadRoll")[:, 0], width)
    mouth = _mouth_shape(c)
    g: Parts = {}
    g.update(_head(c, pose))
    g.update(_neck(width))
    g.update(_eyelids(c, pose))
    g.update(_irises(c, pose))
    g.update(_brows(c, pose))
    g.update(_nose(c, pose))
    g.update(_lips(mouth, pose))
    g.update(_teeth_and_tongue(c, mouth, pose))
    g.update(_cheeks_and_folds(c, mouth, pose))
    return g


def _head(c: _Channels, pose: HeadPose) -> Parts:
    """Head silhouette (the chin drops with the jaw, the cheeks puff out), hair cap and ears."""
    g: Parts = {}
    t = c.t
    theta = np.linspace(0.0, 2.0 * np.pi, _K_OUTLINE, endpoint=False)
    ox = np.broadcast_to(_HEAD_A * np.cos(theta), (t, _K_OUTLINE)).copy()
    oy = np.broadcast_to(_HEAD_B * np.sin(theta), (t, _K_OUTLINE)).copy()
    jaw_open = c.blend("JawOpen")
    jaw_side = c.blend("JawLeft") - c.blend("JawRight")
    puff = c.blend("CheekPuff")
    lower = smoothstep((oy - 0.25) / (_HEAD_B - 0.25))
    ox = ox * (1.0 + 0.13 * puff * _bump(oy, 0.55, 0.38)) + 0.1 * jaw_side * lower
    oy = oy + _JAW_DROP * jaw_open * lower
    chin_depth = 0.6 * np.clip(oy / _HEAD_B, 0.0, None) ** 2
    g["outline"] = pose.project(ox, oy, z=chin_depth, surface=False)

    # hair cap: silhouette above the hairline + the hairline on the face surface
    hx = np.linspace(-0.97, 0.97, 25) * _HEAD_A
    hy = -0.84 + 0.5 * (hx / _HEAD_A) ** 2
    hairline = pose.project(hx, hy, inside_head=True)  # left to right, closing the arc that ends on the left
    a0 = math.atan2(hy[-1] / _HEAD_B, hx[-1] / _HEAD_A)  # right end, angle in (-pi/2, 0)
    arc = np.linspace(a0, -np.pi - a0, 31)
    top = pose.project(_HEAD_A * np.cos(arc) * 1.01, _HEAD_B * np.sin(arc) * 1.01, surface=False)
    g["hair"] = np.concatenate([top, hairline], axis=1)

    # ears: behind the head; the one turned away hides behind the silhouette
    ear_t = np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False)
    for side, sign, _ in _SIDES:
        ex = sign * (0.97 + 0.1 * np.cos(ear_t))
        ey = -0.02 + 0.2 * np.sin(ear_t)
        g[f"ear_{side}"] = pose.project(ex, ey, z=np.full(ex.shape, -0.2) + np.zeros((t, 1)))
    return g


def _neck(width: int) -> Parts:
    """Neck and shoulders, in pixels: they do not turn with the head."""
    w = width
    neck = np.array(
        [[0.5 * w - 0.17 * w, 0.55 * w], [0.5 * w + 0.17 * w, 0.55 * w], [0.5 * w + 0.2 * w, 1.02 * w],
         [0.5 * w - 0.2 * w, 1.02 * w]]
    )  # fmt: skip
    shoulders = np.array([[0.05 * w, 1.02 * w], [0.18 * w, 0.93 * w], [0.5 * w, 0.9 * w],
                          [0.82 * w, 0.93 * w], [0.95 * w, 1.02 * w]])  # fmt: skip
    return {"neck": neck, "shoulders": shoulders}


def _blink(c: _Channels, suffix: str) -> np.ndarray:
    return np.clip(c.blend("EyeBlink" + suffix) * 1.08, 0.0, 1.0)


def _eyelids(c: _Channels, pose: HeadPose) -> Parts:
    """Upper and lower lids, the lid crease, the skin covers around the eye and the white of the eye."""
    g: Parts = {}
    t = c.t
    # Extend the lid curves past the corners so the skin covers hide the iris there too.
    lt = np.linspace(-1.35, 1.35, _K_LID)
    lid_shape = np.clip(1.0 - lt**2, 0.0, None)
    for side, sign, suffix in _SIDES:
        blink = _blink(c, suffix)
        squint = c.blend("EyeSquint" + suffix)
        wide = c.blend("EyeWide" + suffix)
        cheek_sq = c.blend("CheekSquint" + suffix)
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
    return g


def _irises(c: _Channels, pose: HeadPose) -> Parts:
    """Iris centres (gaze) and whether each eye is seen at all (open, and not turned away)."""
    g: Parts = {}
    for side, sign, suffix in _SIDES:
        blink = _blink(c, suffix)
        cx = sign * _EYE_X
        # gaze: out/in and up/down blendshapes, or the eye rotation channels (radians)
        out_dir = c.blend("EyeLookOut" + suffix) - c.blend("EyeLookIn" + suffix)
        gx_blend = sign * out_dir  # toward the image right when positive
        gy_blend = c.blend("EyeLookDown" + suffix) - c.blend("EyeLookUp" + suffix)
        gx_rot = np.clip(-c.ch(suffix + "EyeYaw") / 0.6, -1.0, 1.0)
        gy_rot = np.clip(c.ch(suffix + "EyePitch") / 0.55, -1.0, 1.0)
        gx = np.where(np.abs(gx_rot) > np.abs(gx_blend), gx_rot, gx_blend)
        gy = np.where(np.abs(gy_rot) > np.abs(gy_blend), gy_rot, gy_blend)
        ix = cx + _GAZE_X * np.clip(gx, -1.0, 1.0)
        iy = _EYE_Y - 0.01 + _GAZE_Y * np.clip(gy, -1.0, 1.0)
        g[f"eye_{side}_iris"] = pose.project(ix, iy)[:, 0]
        eye_depth = float(surface_depth(np.array(cx), np.array(_EYE_Y)))
        g[f"eye_{side}_visible"] = ((1.0 - blink[:, 0]) > 0.04) & (pose.facing(cx, eye_depth) > 0.05)
    return g


def _brows(c: _Channels, pose: HeadPose) -> Parts:
    """Brows (inner / outer raise, lowering), forehead lines and frown lines."""
    g: Parts = {}
    bt = np.linspace(0.0, 1.0, _K_BROW)
    inner_up = c.blend("BrowInnerUp")
    for side, sign, suffix in _SIDES:
        outer_up = c.blend("BrowOuterUp" + suffix)
        down = c.blend("BrowDown" + suffix)
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
    raise_amount = np.clip(
        0.8 * inner_up + 0.35 * (c.blend("BrowOuterUpLeft") + c.blend("BrowOuterUpRight")), 0.0, 1.0
    )
    down_amount = np.clip(0.5 * (c.blend("BrowDownLeft") + c.blend("BrowDownRight")), 0.0, 1.0)
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
    return g


def _nose(c: _Channels, pose: HeadPose) -> Parts:
    """Nose outline and bridge, nostrils (lifted and flared by a sneer) and sneer wrinkles."""
    g: Parts = {}
    sneer_l, sneer_r = c.blend("NoseSneerLeft"), c.blend("NoseSneerRight")
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
    g["nostril_r"] = np.full(c.t, 0.024) * (1.0 + 0.3 * np.maximum(sneer_l, sneer_r)[:, 0])
    g["sneer_lines"] = np.stack(
        [pose.project(np.array([s * 0.03, s * 0.1]), np.array([0.06, 0.08]), depth_offset=0.1) for s in (-1, 1)]
        + [pose.project(np.array([s * 0.03, s * 0.11]), np.array([0.12, 0.14]), depth_offset=0.12) for s in (-1, 1)],
        axis=1,
    )
    g["sneer_alpha"] = np.clip(0.5 * (sneer_l + sneer_r)[:, 0] * 1.6 - 0.15, 0.0, 1.0)
    return g


@dataclass(frozen=True)
class _MouthShape:
    """The mouth of every frame in face units: ``[T, _K_MOUTH]`` curves from the image-left
    corner to the image-right one, and the per-side values the cheeks and folds follow."""

    mx: np.ndarray  # x of the upper lip (the lower lip adds low_shift)
    low_shift: np.ndarray  # sideways shift of the lower lip with the jaw
    inner_up: np.ndarray  # inner edge of the upper lip
    inner_low: np.ndarray  # inner edge of the lower lip
    outer_up: np.ndarray  # outer edge of the upper lip
    outer_low: np.ndarray  # outer edge of the lower lip
    depth: np.ndarray  # depth offset of the lips
    prof: np.ndarray  # 0 at the corners, 1 in the middle
    gap: np.ndarray  # [T, 1] opening between the lips
    low_mid: np.ndarray  # [T, 1] inner edge of the lower lip in the middle
    shift: np.ndarray  # [T, 1] sideways shift of the whole mouth
    jaw_side: np.ndarray  # [T, 1] JawLeft - JawRight
    half_w: dict[str, np.ndarray]  # "Left" / "Right": half width to each corner
    corner_y: dict[str, np.ndarray]  # "Left" / "Right": height of each corner
    smile: dict[str, np.ndarray]  # "Left" / "Right": MouthSmile*


def _mouth_shape(c: _Channels) -> _MouthShape:
    """Jaw and lip channels -> the lip curves."""
    blend = c.blend
    jaw_open = blend("JawOpen")
    jaw_side = blend("JawLeft") - blend("JawRight")
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
    return _MouthShape(
        mx=mx, low_shift=low_shift, inner_up=inner_up, inner_low=inner_low, outer_up=outer_up,
        outer_low=outer_low, depth=mouth_depth, prof=prof, gap=gap, low_mid=low_mid, shift=mouth_shift,
        jaw_side=jaw_side, half_w=half_w, corner_y=corner_y, smile=smile,
    )  # fmt: skip


def _closed_band(pose: HeadPose, x_top, y_top, x_bottom, y_bottom, depth) -> np.ndarray:
    """Polygon along a top curve (left to right) and back along a bottom curve."""
    return pose.project(
        np.concatenate([x_top, x_bottom[:, ::-1]], axis=1),
        np.concatenate([y_top, y_bottom[:, ::-1]], axis=1),
        depth_offset=np.concatenate([depth, depth[:, ::-1]], axis=1),
    )


def _lips(m: _MouthShape, pose: HeadPose) -> Parts:
    """Lips, the opening between them (when the mouth is open) or the seam (when shut)."""
    lower_x = m.mx + m.low_shift
    return {
        "lips": _closed_band(pose, m.mx, m.outer_up, lower_x, m.outer_low, m.depth),
        "opening": _closed_band(pose, m.mx, m.inner_up, lower_x, m.inner_low, m.depth),
        "seam": pose.project(
            m.mx, m.inner_up + 0.5 * (m.inner_low - m.inner_up) * (m.gap < 0.012), depth_offset=m.depth
        ),
        "mouth_open": m.gap[:, 0] > 0.012,
    }


def _teeth_and_tongue(c: _Channels, m: _MouthShape, pose: HeadPose) -> Parts:
    """Upper teeth and the tongue inside an open mouth; the tongue stuck out (``TongueOut``)."""
    g: Parts = {}
    # teeth: a band under the upper lip, clipped by the lower lip
    tt = slice(4, _K_MOUTH - 4)
    teeth_bottom = np.minimum(m.inner_up + 0.055 * m.prof, m.inner_low)
    g["teeth"] = _closed_band(pose, m.mx[:, tt], m.inner_up[:, tt], m.mx[:, tt], teeth_bottom[:, tt], m.depth[:, tt])
    tongue_top = np.maximum(m.inner_low - 0.45 * m.gap * m.prof, m.inner_up)
    tg = slice(5, _K_MOUTH - 5)
    lower_x = (m.mx + m.low_shift)[:, tg]
    g["tongue_in"] = _closed_band(pose, lower_x, tongue_top[:, tg], lower_x, m.inner_low[:, tg], m.depth[:, tg])
    # tongue out: a rounded tongue hanging over the lower lip
    tongue = c.blend("TongueOut")
    ta = np.linspace(0.0, np.pi, 17)
    tw = 0.13 + 0.02 * tongue
    tlen = 0.05 + 0.24 * tongue
    t_x = m.shift + 0.5 * m.jaw_side * 0.06 + tw * np.cos(ta)
    t_y = m.low_mid - 0.02 + tlen * np.sin(ta) ** 1.3
    g["tongue_out"] = pose.project(t_x, t_y, depth_offset=0.2)
    g["tongue_mid"] = pose.project(
        m.shift + 0.03 * m.jaw_side + np.zeros(2),
        np.concatenate([m.low_mid, m.low_mid - 0.02 + 0.6 * tlen], axis=1),
        depth_offset=0.22,
    )
    g["tongue_visible"] = tongue[:, 0] > 0.08
    return g


def _cheeks_and_folds(c: _Channels, m: _MouthShape, pose: HeadPose) -> Parts:
    """Smile folds from beside the nose toward the mouth corners; cheeks that rise with a smile
    and swell with ``CheekPuff``."""
    g: Parts = {}
    puff = c.blend("CheekPuff")
    for side, sign, s in _SIDES:
        ft = np.linspace(0.0, 1.0, 7)
        corner_x = m.shift + sign * m.half_w[s]
        fx = sign * 0.2 + (corner_x - sign * 0.2 + sign * 0.07) * ft + sign * 0.05 * np.sin(np.pi * ft)
        fy = 0.28 + (m.corner_y[s] - 0.28 + 0.02) * ft
        g[f"fold_{side}"] = pose.project(fx, fy)
        g[f"fold_{side}_alpha"] = np.clip(
            1.3 * m.smile[s][:, 0] + 0.5 * c.blend("CheekSquint" + s)[:, 0] - 0.1, 0.0, 1.0
        )
        cheek_t = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
        rise = 0.06 * m.smile[s] + 0.05 * c.blend("CheekSquint" + s)
        r = 0.15 * (1.0 + 0.7 * puff)
        g[f"cheek_{side}"] = pose.project(
            sign * (0.56 + 0.05 * puff) + r * 1.1 * np.cos(cheek_t), 0.33 - rise + r * 0.75 * np.sin(cheek_t)
        )
        g[f"cheek_{side}_alpha"] = np.clip(0.22 + 0.55 * puff[:, 0] + 0.3 * m.smile[s][:, 0], 0.0, 0.85)
    return g
