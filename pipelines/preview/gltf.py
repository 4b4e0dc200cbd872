"""glTF 2.0 export: the ICT head with ARKit-named morph targets and a motion's animation, as one GLB.

What the file holds (it opens in three.js, Blender and any glTF 2.0 viewer; checked with the
Khronos glTF validator in the tests):

* nodes ``express4d`` (root) > ``head`` (at the neck pivot; the head mesh) > ``eye_left`` /
  ``eye_right`` (translated to each eyeball's centre, so they turn in place; an eyeball mesh each);
* the head mesh: skin, mouth, gums and tongue and teeth as primitives with their own
  materials (the lips are in ``COLOR_0``, a multiplier of the skin colour), and one morph target
  per ARKit blendshape the head has, named in ``mesh.extras.targetNames`` with ARKit's spelling
  (``eyeBlinkLeft``, ``jawOpen``, ... ; see :mod:`.arkit_head` for the mapping; ``tongueOut`` has
  no shape on this head).  Targets are sparse accessors: only the vertices a shape moves are stored;
* one animation (``motion``) sampling, at every frame of the motion (``i / fps`` seconds): the
  morph weights (Live Link Face blendshapes clipped to [0, 1]), and the head's and each eye's
  rotation as quaternions (Live Link Face's yaw/pitch/roll, see :func:`.arkit_head.rotation_quaternions`).

Units are metres, +Y up, the face toward +Z (glTF's conventions), the subject's left at +X.
"""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import numpy as np

from express4d_dataset.atomic_file import atomic_path

from .arkit_head import HeadModel, load_head, rotation_quaternions
from .head3d import IRIS_COLOUR, IRIS_COS, LIP_COLOUR, PART_COLOURS, PUPIL_COLOUR, PUPIL_COS, lip_weights
from .inputs import check_frames

logger = logging.getLogger(__name__)

__all__ = ["GLB_ANIMATION", "HEAD_NODE", "EYE_NODES", "glb_bytes", "save_glb"]

GLB_ANIMATION = "motion"
HEAD_NODE = "head"
EYE_NODES = {"left": "eye_left", "right": "eye_right"}

_CM = 0.01  # the head is in centimetres; glTF in metres
_FLOAT, _USHORT, _UINT = 5126, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963

# (material name, sRGB base colour, roughness) of each primitive, and the head parts it draws:
# the 3D preview's colours
_HEAD_PRIMITIVES = (
    ("skin", PART_COLOURS["face"], 0.7, ("face", "head_and_neck", "eye_socket_left", "eye_socket_right")),
    ("mouth", PART_COLOURS["mouth_socket"], 0.9, ("mouth_socket",)),
    ("gums_and_tongue", PART_COLOURS["gums_and_tongue"], 0.5, ("gums_and_tongue",)),
    ("teeth", PART_COLOURS["teeth"], 0.4, ("teeth",)),
)
_EYE_MATERIALS = (("sclera", PART_COLOURS["eyeball_left"], 0.3), ("iris", IRIS_COLOUR, 0.3), ("pupil", PUPIL_COLOUR, 0.3))


def _linear(rgb) -> list[float]:
    """sRGB colour -> glTF's linear baseColorFactor (RGBA)."""
    c = np.asarray(rgb, dtype=np.float64)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return [round(float(v), 5) for v in lin] + [1.0]


class _Builder:
    """Accumulates the binary chunk and the JSON's accessors / buffer views."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, data: np.ndarray, target: int | None = None) -> int:
        raw = np.ascontiguousarray(data).tobytes()
        self.blob += b"\0" * (-len(self.blob) % 4)
        v = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(raw)}
        if target is not None:
            v["target"] = target
        self.blob += raw
        self.views.append(v)
        return len(self.views) - 1

    def accessor(self, data: np.ndarray, kind: str, target: int | None = None, minmax: bool = False) -> int:
        data = np.asarray(data)
        comp = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint16): _USHORT, np.dtype(np.uint32): _UINT}[data.dtype]
        acc = {"bufferView": self.view(data, target), "componentType": comp, "count": int(data.shape[0]), "type": kind}
        if minmax:
            flat = data.reshape(data.shape[0], -1)
            acc["min"] = [float(v) for v in flat.min(axis=0)]
            acc["max"] = [float(v) for v in flat.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def sparse_vec3(self, count: int, indices: np.ndarray, values: np.ndarray) -> int:
        """A VEC3 float accessor of ``count`` zeros but ``values`` at ``indices`` (sparse; plain zeros if none)."""
        acc: dict = {"componentType": _FLOAT, "count": int(count), "type": "VEC3"}
        if indices.size == 0:
            acc["min"] = [0.0, 0.0, 0.0]
            acc["max"] = [0.0, 0.0, 0.0]
        else:
            order = np.argsort(indices)
            idx = indices[order]
            val = values[order].astype(np.float32)
            idx_type = np.uint16 if count <= 65535 else np.uint32
            acc["sparse"] = {
                "count": int(idx.size),
                "indices": {"bufferView": self.view(idx.astype(idx_type)),
                            "componentType": _USHORT if idx_type is np.uint16 else _UINT},
                "values": {"bufferView": self.view(val)},
            }  # fmt: skip
            lo, hi = val.min(axis=0), val.max(axis=0)
            if idx.size < count:  # the vertices left out are at 0
                lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
            acc["min"] = [float(v) for v in lo]
            acc["max"] = [float(v) for v in hi]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _rest_normals(head: HeadModel) -> np.ndarray:
    t = head.triangles.astype(np.int64)
    v = head.positions.astype(np.float64)
    fn = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    n = np.zeros_like(v)
    for c in range(3):
        n[:, c] = np.bincount(t.ravel(), weights=np.repeat(fn[:, c], 3), minlength=len(v))
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    return n.astype(np.float32)


def _lip_colours(head: HeadModel) -> np.ndarray:
    """``[V, 3]`` COLOR_0 of the skin: 1 (white: the material's colour) but on the lips."""
    a = lip_weights(head)[:, None]
    skin = np.array(_HEAD_PRIMITIVES[0][1])
    return (1.0 + (np.asarray(LIP_COLOUR) / skin - 1.0) * a).astype(np.float32)


def _primitive(b: _Builder, head: HeadModel, tris: np.ndarray, origin: np.ndarray, normals: np.ndarray,
               material: int, targets: bool, colours: np.ndarray | None = None) -> dict:  # fmt: skip
    """One primitive over the triangles ``tris`` (head vertex indices), positions relative to ``origin``."""
    used, local = np.unique(tris, return_inverse=True)
    local = local.reshape(-1, 3)
    if used.size > 65535:  # pragma: no cover - the shipped head is far smaller
        raise ValueError(f"a primitive of {used.size} vertices needs 32-bit indices")
    pos = ((head.positions[used] - origin) * _CM).astype(np.float32)
    attrs = {
        "POSITION": b.accessor(pos, "VEC3", _ARRAY_BUFFER, minmax=True),
        "NORMAL": b.accessor(normals[used], "VEC3", _ARRAY_BUFFER),
    }
    if colours is not None:
        attrs["COLOR_0"] = b.accessor(colours[used], "VEC3", _ARRAY_BUFFER)
    prim = {"attributes": attrs, "indices": b.accessor(local.astype(np.uint16).ravel(), "SCALAR", _ELEMENT_ARRAY_BUFFER),
            "material": material, "mode": 4}  # fmt: skip
    if targets:
        where = np.full(head.num_vertices, -1, dtype=np.int64)
        where[used] = np.arange(used.size)
        prim["targets"] = []
        for idx, off in zip(head.target_indices, head.target_offsets):
            keep = where[idx] >= 0
            prim["targets"].append({"POSITION": b.sparse_vec3(used.size, where[idx][keep], off[keep] * _CM)})
    return prim


def glb_bytes(frames, fps: float, head: HeadModel | None = None, name: str = "express4d") -> bytes:
    """The GLB (binary glTF 2.0) of a ``[T, 61]`` Live Link Face motion at ``fps`` on the head."""
    arr = check_frames(frames)
    if arr.shape[0] == 0:
        raise ValueError("glb: the motion has no frames")
    if not fps or fps <= 0:
        raise ValueError(f"glb: fps must be positive, got {fps!r}")
    head = head if head is not None else load_head()
    b = _Builder()
    normals = _rest_normals(head)
    pivot = head.neck_pivot.astype(np.float32)
    materials: list[dict] = []

    def material(mname: str, rgb, rough: float) -> int:
        materials.append({"name": mname, "pbrMetallicRoughness": {"baseColorFactor": _linear(rgb),
                          "metallicFactor": 0.0, "roughnessFactor": rough}})  # fmt: skip
        return len(materials) - 1

    tris = head.triangles.astype(np.int64)
    # a triangle is skin when all its corners are; a seam triangle (skin + mouth socket) goes to the other part
    tri_part = np.array(head.part_names)[head.parts[tris]]  # [F, 3]
    head_prims = []
    for k, (mname, rgb, rough, parts) in enumerate(_HEAD_PRIMITIVES):
        in_prim = np.isin(tri_part, parts)
        sel = in_prim.all(axis=1) if k == 0 else in_prim.any(axis=1)
        if not sel.any():
            continue
        colours = _lip_colours(head) if k == 0 else None
        head_prims.append(_primitive(b, head, tris[sel], pivot, normals, material(mname, rgb, rough), True, colours))
    meshes = [{"name": "head", "primitives": head_prims, "weights": [0.0] * len(head.target_names),
               "extras": {"targetNames": list(head.target_names)}}]  # fmt: skip

    eye_mats = [material(f"{m}", rgb, r) for m, rgb, r in _EYE_MATERIALS]
    eye_nodes = []
    for side, eye in head.eyes.items():
        ev = eye.vertices
        mask = np.zeros(head.num_vertices, bool)
        mask[ev] = True
        et = tris[mask[tris].all(axis=1)]
        d = head.positions[et].mean(axis=1) - eye.centre
        cos = (d @ eye.axis) / np.linalg.norm(d, axis=1)
        groups = (cos <= IRIS_COS, (cos > IRIS_COS) & (cos <= PUPIL_COS), cos > PUPIL_COS)
        prims = [_primitive(b, head, et[g], eye.centre.astype(np.float32), normals, m, False)
                 for g, m in zip(groups, eye_mats) if g.any()]  # fmt: skip
        meshes.append({"name": f"eyeball_{side}", "primitives": prims})
        eye_nodes.append({"name": EYE_NODES[side], "mesh": len(meshes) - 1,
                          "translation": [float(v) for v in ((eye.centre - pivot) * _CM).astype(np.float32)]})  # fmt: skip

    nodes = [
        {"name": name, "children": [1]},
        {"name": HEAD_NODE, "mesh": 0, "translation": [float(v) for v in (pivot * _CM).astype(np.float32)],
         "children": [2, 3]},
        *eye_nodes,
    ]  # fmt: skip

    # the animation: every frame of the motion
    n = arr.shape[0]
    times = (np.arange(n, dtype=np.float64) / fps).astype(np.float32)
    t_acc = b.accessor(times, "SCALAR", minmax=True)
    samplers, channels = [], []

    def channel(node: int, path: str, values: np.ndarray, kind: str) -> None:
        samplers.append({"input": t_acc, "output": b.accessor(values.astype(np.float32), kind), "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    channel(1, "weights", head.target_weights(arr).reshape(-1), "SCALAR")

    def quats(angles) -> np.ndarray:
        q = rotation_quaternions(*angles)
        # keep neighbours in one hemisphere (q and -q are the same rotation) so slerp takes the short way
        flip = np.where((q[1:] * q[:-1]).sum(axis=1) < 0, -1.0, 1.0)
        q = (q * np.cumprod(np.concatenate([[1.0], flip]))[:, None]).astype(np.float32)
        return q / np.linalg.norm(q, axis=1, keepdims=True)

    channel(1, "rotation", quats(head.head_angles(arr)), "VEC4")
    for node, side in ((2, "left"), (3, "right")):
        channel(node, "rotation", quats(head.eye_angles(arr, side)), "VEC4")

    from importlib.metadata import PackageNotFoundError, version

    try:
        generator = f"express4d {version('express4d')}"
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
        generator = "express4d"
    doc = {
        "asset": {"version": "2.0", "generator": generator,
                  "copyright": "Head: ICT-FaceKit, USC Institute for Creative Technologies (MIT licence)"},
        "scene": 0,
        "scenes": [{"name": name, "nodes": [0]}],
        "nodes": nodes,
        "meshes": meshes,
        "materials": materials,
        "animations": [{"name": GLB_ANIMATION, "samplers": samplers, "channels": channels}],
        "accessors": b.accessors,
        "bufferViews": b.views,
        "buffers": [{"byteLength": len(b.blob) + (-len(b.blob) % 4)}],
        "extras": {"fps": float(fps), "frames": int(n), "channels": "Live Link Face (ARKit) blendshapes and rotations"},
    }  # fmt: skip
    js = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 4)
    binary = bytes(b.blob) + b"\0" * (-len(b.blob) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    return b"".join([
        struct.pack("<4sII", b"glTF", 2, total),
        struct.pack("<I4s", len(js), b"JSON"), js,
        struct.pack("<I4s", len(binary), b"BIN\0"), binary,
    ])  # fmt: skip


def save_glb(frames, path, fps: float, head: HeadModel | None = None) -> Path:
    """Write :func:`glb_bytes` of a ``[T, 61]`` motion at ``fps`` to ``path``; returns the path."""
    path = Path(path)
    data = glb_bytes(frames, fps, head=head, name=path.stem or "express4d")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # a viewer never opens half a file
        tmp.write_bytes(data)
    logger.info("wrote %s: %d bytes", path, len(data))
    return path
