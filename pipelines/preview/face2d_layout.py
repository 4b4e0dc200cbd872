"""Layout of the procedural 2D face and the head pose that projects it to pixels.

Face units: x to the image right, y down, the head an ellipse of semi-axes ``_HEAD_A`` x
``_HEAD_B`` whose surface bulges ``_DEPTH`` toward the viewer.  A face unit is ``_SCALE`` of the
image width; the head centre sits at ``(0.5, _CENTER_Y)`` of the image.  Features sit on that
ellipsoid and turn with the head (:class:`HeadPose`); :data:`FACE_REGIONS` boxes each part of the
neutral, frontal face in normalised image coordinates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FACE_REGIONS", "HeadPose", "surface_depth"]

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

# points per curve
_K_LID = 19
_K_BROW = 9
_K_MOUTH = 21
_K_OUTLINE = 96


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


def surface_depth(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Depth toward the viewer of the face surface (the head ellipsoid) at face point ``(x, y)``."""
    return _DEPTH * np.sqrt(np.clip(1.0 - (x / _HEAD_A) ** 2 - (y / _HEAD_B) ** 2, 0.02, 1.0))


class HeadPose:
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
            z = surface_depth(x, y) + depth_offset if surface else np.zeros_like(x)
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
