"""The 3D head shipped with express4d, and how the 61 Live Link Face channels move it.

The head is ICT-FaceKit's generic face model (USC Institute for Creative Technologies, MIT
licence; ``pipelines/assets/LICENSE-ICT-FaceKit``), reduced for a small package by
``tools/build_ict_head.py``: face, head and neck, mouth socket, eye sockets, gums and
tongue, teeth and eyeballs, with ICT's 53 ARKit-named expression shapes as sparse
offsets.  Units are centimetres; +y is up, +z points out of the face (toward a viewer in front),
and the subject's left is +x.

This module is the one place that maps the channels onto it:

* **52 blendshapes -> expression shapes.**  Each Live Link Face blendshape drives the shape of
  the same ARKit name (``EyeBlinkLeft`` -> ICT's ``eyeBlink_L``; sides are the subject's own on
  both).  ARKit's single ``BrowInnerUp`` and ``CheekPuff`` drive ICT's split ``_L`` and ``_R``
  shapes together (they are merged into one target here).  ``TongueOut`` has no shape on this
  head and moves nothing.  Weights are clipped to [0, 1].
* **HeadYaw / HeadPitch / HeadRoll -> a rigid rotation of the whole head** about
  :attr:`HeadModel.neck_pivot` (behind the jaw, at the top of the neck).
* **Left/RightEyeYaw / Pitch / Roll -> a rotation of that eyeball** about its centre (fitted to
  the eyeball's back), inside the head's rotation.

Angles are radians with the conventions of Live Link Face, as the 2D preview
(:mod:`.face2d`) draws them and as the real capture ``alex_rom_3.csv`` confirms for the eyes
(positive ``LeftEyeYaw`` comes with ``EyeLookInLeft``, positive ``RightEyeYaw`` with
``EyeLookOutRight``, positive pitch with ``EyeLookDown*``):

* yaw > 0 turns toward the subject's right (the image left of a camera in front);
* pitch > 0 tilts down;
* roll > 0 tilts the top of the head toward the subject's right (image left).

As rotations about the head's axes: ``R = Ry(-yaw) @ Rx(pitch) @ Rz(roll)`` (yaw applied last,
Live Link Face's yaw-pitch-roll order), for the head and for each eye.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from express4d_dataset.arkit import BLENDSHAPE_NAMES, ROTATION_NAMES, channel_index

logger = logging.getLogger(__name__)

__all__ = [
    "ASSET_PATH",
    "HeadModel",
    "MISSING_BLENDSHAPES",
    "arkit_name",
    "load_head",
    "rotation_matrices",
    "rotation_quaternions",
]

ASSET_PATH = Path(__file__).resolve().parents[1] / "assets" / "ict_head.safetensors"
"""The shipped head (safetensors; see ``pipelines/assets/README.md``)."""

NECK_PIVOT = (0.0, -6.0, -1.0)
"""Where the head turns (cm, head coordinates): the top of the neck, behind the jaw."""

MISSING_BLENDSHAPES: tuple[str, ...] = ("TongueOut",)
"""Live Link Face blendshapes the ICT head has no shape for (they move nothing)."""

_SPLIT = ("BrowInnerUp", "CheekPuff")  # one ARKit shape, split into _L / _R on the ICT head
_DIRECTIONS = ("JawLeft", "JawRight", "MouthLeft", "MouthRight")  # a direction, not a side: no _L / _R


def arkit_name(livelink_name: str) -> str:
    """ARKit's own spelling of a Live Link Face blendshape: ``EyeBlinkLeft`` -> ``eyeBlinkLeft``."""
    return livelink_name[0].lower() + livelink_name[1:]


def _ict_names(livelink_name: str) -> tuple[str, ...]:
    """ICT's shape names for a Live Link Face blendshape (two for a split shape, none if missing)."""
    if livelink_name in MISSING_BLENDSHAPES:
        return ()
    base = arkit_name(livelink_name)
    if livelink_name in _SPLIT:
        return (f"{base}_L", f"{base}_R")
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if base.endswith(side) and livelink_name not in _DIRECTIONS:
            return (base[: -len(side)] + suffix,)
    return (base,)


def _axis_rotations(a: np.ndarray, axis: str) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    if axis == "x":
        rows = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "y":
        rows = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        rows = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def rotation_matrices(yaw, pitch, roll) -> np.ndarray:
    """``[T, 3, 3]`` rotations of Live Link Face yaw / pitch / roll angles (radians, ``[T]`` each)
    in head coordinates: ``Ry(-yaw) @ Rx(pitch) @ Rz(roll)`` (see the module docstring)."""
    yaw, pitch, roll = (np.asarray(v, dtype=np.float64) for v in (yaw, pitch, roll))
    return _axis_rotations(-yaw, "y") @ _axis_rotations(pitch, "x") @ _axis_rotations(roll, "z")


def rotation_quaternions(yaw, pitch, roll) -> np.ndarray:
    """The same rotations as :func:`rotation_matrices`, as unit quaternions ``[T, 4]`` in glTF's
    ``(x, y, z, w)`` order, with ``w >= 0``."""
    yaw, pitch, roll = (np.asarray(v, dtype=np.float64) for v in (yaw, pitch, roll))

    def q(axis: int, angle: np.ndarray) -> np.ndarray:
        out = np.zeros(angle.shape + (4,))
        out[..., axis] = np.sin(angle / 2)
        out[..., 3] = np.cos(angle / 2)
        return out

    def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ax, ay, az, aw = np.moveaxis(a, -1, 0)
        bx, by, bz, bw = np.moveaxis(b, -1, 0)
        return np.stack([
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ], axis=-1)  # fmt: skip

    out = mul(mul(q(1, -yaw), q(0, pitch)), q(2, roll))
    return out * np.where(out[..., 3:] < 0, -1.0, 1.0)


@dataclass(frozen=True)
class Eye:
    """One eyeball: its vertices, centre of rotation and optical axis (rest pose, head coordinates)."""

    vertices: np.ndarray
    centre: np.ndarray
    axis: np.ndarray


class HeadModel:
    """The shipped head with its ARKit targets (load it with :func:`load_head`, which caches).

    Attributes:
        positions: ``[V, 3]`` float32 rest positions (cm).
        triangles: ``[F, 3]`` int32, counter-clockwise seen from outside.
        parts: ``[V]`` uint8, index into :attr:`part_names` (``face``, ``teeth``, ``eyeball_left``, ...).
        target_names: ARKit names of the expression targets, in Live Link Face order (51: every
            blendshape but those in :data:`MISSING_BLENDSHAPES`).
        target_channels: ``[K]`` the Live Link Face channel index driving each target.
        target_indices / target_offsets: per target, the vertices it moves (int64) and their
            offsets at weight 1 (``[k, 3]`` float32).
        eyes: ``{"left": Eye, "right": Eye}`` (the subject's left eye is at +x).
        neck_pivot: ``[3]`` centre of the head's rotation.
    """

    def __init__(self, path: str | Path = ASSET_PATH):
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"the 3D head {path} is missing from this installation; reinstall express4d, or use --preview 2d"
            )
        with safe_open(str(path), "np") as f:
            meta = f.metadata()
            self.positions = f.get_tensor("positions").astype(np.float32)
            self.triangles = f.get_tensor("triangles").astype(np.int32)
            self.parts = f.get_tensor("parts").astype(np.uint8)
            shapes = {}
            for name in json.loads(meta["expressions"]):
                shapes[name] = (f.get_tensor(f"delta_index.{name}").astype(np.int64),
                                f.get_tensor(f"delta.{name}").astype(np.float32))  # fmt: skip
        self.part_names: tuple[str, ...] = tuple(json.loads(meta["parts"]))
        eyes = json.loads(meta["eyes"])
        self.eyes = {
            side: Eye(
                vertices=np.flatnonzero(self.parts == self.part_names.index(f"eyeball_{side}")),
                centre=np.asarray(eyes[side]["centre"], dtype=np.float64),
                axis=np.asarray(eyes[side]["axis"], dtype=np.float64),
            )
            for side in ("left", "right")
        }
        self.neck_pivot = np.asarray(NECK_PIVOT, dtype=np.float64)

        names, channels, indices, offsets = [], [], [], []
        for ll_name in BLENDSHAPE_NAMES:
            ict = _ict_names(ll_name)
            if not ict:
                continue
            missing = [n for n in ict if n not in shapes]
            if missing:
                raise ValueError(f"{path}: the head lacks the expression shape(s) {missing} for {ll_name}")
            idx = np.concatenate([shapes[n][0] for n in ict])
            off = np.concatenate([shapes[n][1] for n in ict])
            if len(ict) > 1:  # merge the split halves: offsets of a vertex in both add up
                idx, inverse = np.unique(idx, return_inverse=True)
                merged = np.zeros((idx.size, 3), dtype=np.float32)
                np.add.at(merged, inverse, off)
                off = merged
            names.append(arkit_name(ll_name))
            channels.append(channel_index(ll_name))
            indices.append(idx)
            offsets.append(off)
        self.target_names: tuple[str, ...] = tuple(names)
        self.target_channels = np.asarray(channels, dtype=np.int64)
        self.target_indices: tuple[np.ndarray, ...] = tuple(indices)
        self.target_offsets: tuple[np.ndarray, ...] = tuple(offsets)
        self._dense: np.ndarray | None = None

    @property
    def num_vertices(self) -> int:
        return int(self.positions.shape[0])

    def part_mask(self, *names: str) -> np.ndarray:
        """``[V]`` bool: the vertices of the named parts."""
        ids = [self.part_names.index(n) for n in names]
        return np.isin(self.parts, ids)

    def dense_offsets(self) -> np.ndarray:
        """``[K, V * 3]`` float32 offsets of every target (built once; a few MB)."""
        if self._dense is None:
            dense = np.zeros((len(self.target_names), self.num_vertices, 3), dtype=np.float32)
            for k, (idx, off) in enumerate(zip(self.target_indices, self.target_offsets)):
                dense[k, idx] = off
            self._dense = dense.reshape(len(self.target_names), -1)
        return self._dense

    # ------------------------------------------------------------------ the channel mapping
    def target_weights(self, frames: np.ndarray) -> np.ndarray:
        """``[T, K]`` float32 weights of the targets for ``[T, 61]`` frames (clipped to [0, 1])."""
        return np.clip(np.asarray(frames, dtype=np.float32)[:, self.target_channels], 0.0, 1.0)

    @staticmethod
    def head_rotations(frames: np.ndarray) -> np.ndarray:
        """``[T, 3, 3]`` rotations of the head (``HeadYaw`` / ``HeadPitch`` / ``HeadRoll``)."""
        f = np.asarray(frames)
        return rotation_matrices(*(f[:, channel_index(n)] for n in ROTATION_NAMES[0:3]))

    @staticmethod
    def eye_angles(frames: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(yaw, pitch, roll)`` of the ``"left"`` or ``"right"`` eye, each ``[T]``."""
        f = np.asarray(frames)
        prefix = {"left": "LeftEye", "right": "RightEye"}[side]
        return tuple(f[:, channel_index(prefix + a)] for a in ("Yaw", "Pitch", "Roll"))  # type: ignore[return-value]

    @staticmethod
    def head_angles(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(yaw, pitch, roll)`` of the head, each ``[T]``."""
        f = np.asarray(frames)
        return tuple(f[:, channel_index(n)] for n in ROTATION_NAMES[0:3])  # type: ignore[return-value]

    def eye_rotations(self, frames: np.ndarray, side: str) -> np.ndarray:
        """``[T, 3, 3]`` rotations of one eyeball about its centre, in head coordinates."""
        return rotation_matrices(*self.eye_angles(frames, side))

    def posed_vertices(self, frames: np.ndarray) -> np.ndarray:
        """``[T, V, 3]`` float32 vertex positions of ``[T, 61]`` frames: expressions, then the eyes
        turned about their centres, then the whole head about :attr:`neck_pivot`."""
        f = np.asarray(frames, dtype=np.float32)
        if f.ndim != 2 or f.shape[1] != len(BLENDSHAPE_NAMES) + len(ROTATION_NAMES):
            raise ValueError(f"frames must have shape [T, 61], got {f.shape}")
        t = f.shape[0]
        v = (self.target_weights(f) @ self.dense_offsets()).reshape(t, self.num_vertices, 3)
        v += self.positions
        for side, eye in self.eyes.items():
            rot = self.eye_rotations(f, side).astype(np.float32)
            c = eye.centre.astype(np.float32)
            v[:, eye.vertices] = (v[:, eye.vertices] - c) @ rot.transpose(0, 2, 1) + c
        rot = self.head_rotations(f).astype(np.float32)
        p = self.neck_pivot.astype(np.float32)
        return (v - p) @ rot.transpose(0, 2, 1) + p


@functools.lru_cache(maxsize=2)
def load_head(path: str | None = None) -> HeadModel:
    """The shipped head (or one at ``path``), loaded once per process."""
    return HeadModel(ASSET_PATH if path is None else path)
