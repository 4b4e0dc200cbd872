"""Build ``ict_head.safetensors``, the reduced ICT-FaceKit head shipped with express4d.

Release tooling, not part of the installed package: run it from a checkout when the source
head changes::

    python -m venv /tmp/meshopt && /tmp/meshopt/bin/pip install numpy safetensors --pre meshoptimizer==0.2.30a0
    /tmp/meshopt/bin/python tools/build_ict_head.py \\
        --source ../shared/assets/ict-facekit/ict_facekit_arkit.safetensors --out pipelines/assets/ict_head.safetensors

Input: the "light" ICT Face Model packed with its 53 ARKit-named expression shapes (see that
folder's SOURCE.md).  What this script does to it:

* drops the transparent overlays a plain opaque renderer cannot use (lacrimal fluid, eye blend,
  eye occlusion) and the eyelashes (cards that need their alpha texture: opaque, they cover the
  lids as black bars); keeps the face, head and neck, mouth socket, eye sockets, gums and tongue,
  teeth and both eyeballs;
* simplifies each part with meshoptimizer's quadric simplifier, which only removes vertices
  (every kept vertex is an original one, so the expression offsets of the kept vertices stay
  exact); the skin also weighs how the main expressions move each vertex, so the lips, eyelids
  and brows keep the vertices the expressions need;
* drops expression offsets under ``--min-offset`` cm and stores the rest as float16, sparse.

Output tensors: ``positions`` [V, 3] float32 (cm, +y up, +z toward the viewer, the subject's
left at +x), ``triangles`` [F, 3] int32 (counter-clockwise seen from outside), ``parts`` [V]
uint8 (index into the metadata's ``parts``), and per expression ``delta_index.<name>`` [k]
int32 + ``delta.<name>`` [k, 3] float16 in ICT's names.  Metadata: ``expressions``, ``parts``,
``eyes`` (each eyeball's fitted centre and optical axis), ``source``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DROPPED = ("lacrimal_fluid_left", "lacrimal_fluid_right", "eye_blend_left", "eye_blend_right",
           "eye_occlusion_left", "eye_occlusion_right", "eyelashes_left", "eyelashes_right")  # fmt: skip

# parts simplified together (they share vertices along their seams) and the share of triangles kept
COMPONENTS = (
    (("face", "head_and_neck", "mouth_socket", "eye_socket_left", "eye_socket_right"), 0.30),
    (("gums_and_tongue",), 0.18),
    (("teeth",), 0.12),
    (("eyeball_left",), 0.30),
    (("eyeball_right",), 0.30),
)

# expressions whose motion the skin's simplification keeps (their offsets are extra attributes)
GUIDES = ("jawOpen", "eyeBlink_L", "eyeBlink_R", "mouthSmile_L", "mouthSmile_R", "mouthPucker",
          "mouthFunnel", "browInnerUp_L", "browInnerUp_R", "mouthRollLower")  # fmt: skip


def _read(source: Path):
    from safetensors import safe_open

    with safe_open(str(source), "np") as f:
        meta = f.metadata()
        names = json.loads(meta["expressions"])
        groups = json.loads(meta["groups"])
        neutral = f.get_tensor("neutral").astype(np.float32)
        tris = f.get_tensor("triangles").astype(np.int64)
        deltas = {}
        for name in names:
            dense = np.zeros_like(neutral)
            dense[f.get_tensor(f"delta_index.{name}")] = f.get_tensor(f"delta.{name}").astype(np.float32)
            deltas[name] = dense
    return names, groups, neutral, tris, deltas


def _meshopt():
    """meshoptimizer's C simplifier with explicit ctypes signatures (the 0.2.30a0 wrapper passes
    floats untyped, which ctypes refuses)."""
    import ctypes

    from meshoptimizer._loader import lib

    P = ctypes.c_void_p
    S = ctypes.c_size_t
    fn = lib.meshopt_simplifyWithAttributes
    fn.restype = S
    fn.argtypes = [P, P, S, P, S, S, P, S, P, S, P, S, ctypes.c_float, ctypes.c_uint, P]
    return fn


def simplify(positions, tris, attributes, weights, ratio: float, lock_border: bool = True) -> np.ndarray:
    """Simplified triangles (indices into ``positions``) keeping about ``ratio`` of ``tris``."""
    fn = _meshopt()
    indices = np.ascontiguousarray(tris, dtype=np.uint32).ravel()
    pos = np.ascontiguousarray(positions, dtype=np.float32)
    if attributes is None:
        attributes, weights = np.zeros((len(pos), 1), np.float32), np.zeros(1, np.float32)
    attrs = np.ascontiguousarray(attributes, dtype=np.float32)
    w = np.ascontiguousarray(weights, dtype=np.float32)
    target = max(3, int(round(len(indices) * ratio / 3)) * 3)
    dest = np.zeros(len(indices), dtype=np.uint32)
    options = 1 if lock_border else 0  # meshopt_SimplifyLockBorder
    n = fn(dest.ctypes.data, indices.ctypes.data, len(indices), pos.ctypes.data, len(pos), 12,
           attrs.ctypes.data, attrs.shape[1] * 4, w.ctypes.data, len(w), None, target, 1.0, options, None)
    return dest[:n].reshape(-1, 3).astype(np.int64)


def _eye_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of an eyeball (a sphere fitted to its back, away from the cornea's bulge) and its
    optical axis (centre to the cornea's apex)."""
    p = points.astype(np.float64)
    sel = p[p[:, 2] < np.median(p[:, 2])]
    for _ in range(3):
        a = np.c_[2 * sel, np.ones(len(sel))]
        sol = np.linalg.lstsq(a, (sel**2).sum(axis=1), rcond=None)[0]
        centre = sol[:3]
        apex = p[np.argmax(p[:, 2])]
        axis = (apex - centre) / np.linalg.norm(apex - centre)
        sel = p[(p - centre) @ axis < 0.3]
    return centre, axis


def build(source: Path, out: Path, min_offset: float) -> dict:
    from safetensors.numpy import save_file

    names, groups, neutral, tris, deltas = _read(source)
    vertex_group = np.full(len(neutral), -1, dtype=np.int64)
    group_names = list(groups)
    for gi, (start, end) in enumerate(groups.values()):
        vertex_group[start:end] = gi
    kept_tris = []
    for parts, ratio in COMPONENTS:
        ids = [group_names.index(p) for p in parts]
        in_comp = np.isin(vertex_group[tris], ids).all(axis=1)
        comp = tris[in_comp]
        attrs = weights = None
        if parts[0] == "face":
            attrs = np.concatenate([deltas[g] for g in GUIDES], axis=1)
            weights = np.full(attrs.shape[1], 0.5, dtype=np.float32)
        kept_tris.append(simplify(neutral, comp, attrs, weights, ratio))
    new_tris = np.concatenate(kept_tris)
    used = np.unique(new_tris)
    remap = np.full(len(neutral), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    new_tris = remap[new_tris]
    part_names = [g for g in group_names if g not in DROPPED]
    parts = np.array([part_names.index(group_names[g]) for g in vertex_group[used]], dtype=np.uint8)
    tensors = {
        "positions": neutral[used].astype(np.float32),
        "triangles": new_tris.astype(np.int32),
        "parts": parts,
    }
    entries = 0
    for name in names:
        d = deltas[name][used]
        idx = np.flatnonzero(np.linalg.norm(d, axis=1) > min_offset)
        tensors[f"delta_index.{name}"] = idx.astype(np.int32)
        tensors[f"delta.{name}"] = d[idx].astype(np.float16)
        entries += idx.size
    eyes = {}
    for side in ("left", "right"):
        centre, axis = _eye_frame(neutral[vertex_group == group_names.index(f"eyeball_{side}")])
        eyes[side] = {"centre": [round(float(v), 4) for v in centre], "axis": [round(float(v), 4) for v in axis]}
    meta = {
        "expressions": json.dumps(names),
        "eyes": json.dumps(eyes),
        "parts": json.dumps(part_names),
        "source": "ICT-FaceKit (USC Institute for Creative Technologies, MIT licence), FaceXModel light face "
        "model with its ARKit-named expressions; reduced by tools/build_ict_head.py",
        "min_offset_cm": str(min_offset),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=meta)
    return {"vertices": len(used), "triangles": len(new_tris), "offset_entries": entries, "bytes": out.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="ict_facekit_arkit.safetensors")
    parser.add_argument("--out", type=Path, required=True, help="where to write ict_head.safetensors")
    parser.add_argument("--min-offset", type=float, default=2e-3, help="drop offsets shorter than this (cm; default 0.002)")
    args = parser.parse_args()
    print(build(args.source, args.out, args.min_offset))


if __name__ == "__main__":
    main()
