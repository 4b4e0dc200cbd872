"""A z-buffered triangle rasteriser in numpy: which triangle covers each pixel, and where.

No OpenGL, no per-triangle Python loop: every step is vectorised over all triangles, then over
all candidate pixels.

1. Triangles facing away from the camera (by their winding on screen), degenerate ones and those
   off screen are dropped.
2. Each remaining triangle lists, row by row, the span of pixel centres inside its three edges
   (solved from the edge functions, so no pixel outside the triangle is ever visited; centres
   on a shared edge go to both triangles and the depth test picks one).
3. Per pixel, the nearest candidate wins: its depth (quantised) and its index form one int64 key
   and ``np.maximum.at`` keeps the largest key per pixel.

:func:`rasterize` returns the winning triangle and its screen-space barycentric coordinates per
covered pixel (computed for the winners only), which a shader interpolates vertex attributes
with (:func:`interpolate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Fragments", "interpolate", "rasterize"]

_DEPTH_BITS = 22  # depth resolution of the z-test: 4M levels over the scene's depth range
_INDEX_BITS = 63 - _DEPTH_BITS
_MAX_CANDIDATES = 1 << 24  # refuse scenes whose triangles cover more pixels in all (a memory guard)


@dataclass
class Fragments:
    """The visible surface of one rasterised frame.

    Attributes:
        pixels: ``[P]`` int64 flat indices (``y * width + x``) of the covered pixels, increasing.
        triangles: ``[P]`` int64 index (into the ``triangles`` given) of the triangle seen there.
        barycentric: ``[P, 3]`` float32 screen-space weights of that triangle's three vertices.
        width, height: the image size.
    """

    pixels: np.ndarray
    triangles: np.ndarray
    barycentric: np.ndarray
    width: int
    height: int


def rasterize(
    xy: np.ndarray,
    inv_depth: np.ndarray,
    triangles: np.ndarray,
    width: int,
    height: int,
    cull: str = "cw",
) -> Fragments:
    """Rasterise ``triangles`` (``[F, 3]`` vertex indices) with the nearest surface winning.

    Args:
        xy: ``[V, 2]`` screen positions in pixels (x right, y down; pixel ``(i, j)`` has its
            centre at ``(i + 0.5, j + 0.5)``).
        inv_depth: ``[V]`` a positive value that grows toward the camera and is affine in screen
            space, e.g. ``1 / z`` of a perspective camera (or ``-z`` for an orthographic one).
        triangles: ``[F, 3]`` int vertex indices.
        width, height: image size in pixels.
        cull: ``"cw"`` drops triangles whose vertices run clockwise on screen (y down), which is
            what a counter-clockwise, outward-wound mesh looks like from behind; ``"ccw"`` the
            opposite; ``"none"`` keeps both.

    Returns:
        :class:`Fragments`: the covered pixels, the triangle seen in each and its barycentric
        coordinates.
    """
    xy = np.asarray(xy, dtype=np.float32)
    q = np.asarray(inv_depth, dtype=np.float32)
    tris = np.asarray(triangles, dtype=np.int64)
    if cull not in ("cw", "ccw", "none"):
        raise ValueError(f"cull must be 'cw', 'ccw' or 'none', got {cull!r}")
    empty = Fragments(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.float32), width, height)
    if tris.shape[0] == 0:
        return empty

    x0, y0 = xy[tris[:, 0], 0], xy[tris[:, 0], 1]
    x1, y1 = xy[tris[:, 1], 0], xy[tris[:, 1], 1]
    x2, y2 = xy[tris[:, 2], 0], xy[tris[:, 2], 1]
    # twice the signed area; with y down, > 0 means the vertices run clockwise on screen
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    if cull == "cw":
        keep = area < -1e-12
    elif cull == "ccw":
        keep = area > 1e-12
    else:
        keep = np.abs(area) > 1e-12
    # rows of pixel centres (j + 0.5 inside [min y, max y]), clipped to the image
    ry0 = np.maximum(np.ceil(np.minimum(np.minimum(y0, y1), y2) - 0.5), 0)
    ry1 = np.minimum(np.floor(np.maximum(np.maximum(y0, y1), y2) - 0.5), height - 1)
    keep &= (ry1 >= ry0) & (np.minimum(np.minimum(q[tris[:, 0]], q[tris[:, 1]]), q[tris[:, 2]]) > 0)
    keep &= (np.maximum(np.maximum(x0, x1), x2) >= 0) & (np.minimum(np.minimum(x0, x1), x2) <= width)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return empty

    # barycentric coordinates as affine functions of the pixel centre: l_k = A_k x + B_k y + C_k
    f64 = np.float64
    X0, Y0, X1, Y1, X2, Y2 = (v[idx].astype(f64) for v in (x0, y0, x1, y1, x2, y2))
    inv_area = 1.0 / area[idx].astype(f64)
    a1, b1 = (Y2 - Y0) * inv_area, (X0 - X2) * inv_area
    a2, b2 = (Y0 - Y1) * inv_area, (X1 - X0) * inv_area
    c1, c2 = -(a1 * X0 + b1 * Y0), -(a2 * X0 + b2 * Y0)
    A = np.stack([-a1 - a2, a1, a2])  # [3, n]
    B = np.stack([-b1 - b2, b1, b2])
    C = np.stack([1.0 - c1 - c2, c1, c2])
    tq = q[tris[idx]].astype(f64)  # [n, 3]
    qa, qb, qc = ((M * tq.T).sum(axis=0) for M in (A, B, C))  # inverse depth: affine in x, y too

    # one entry per (triangle, row): the span of pixel centres inside all three edges
    rows = (ry1[idx] - ry0[idx] + 1).astype(np.int64)
    tri_e = np.repeat(np.arange(idx.size), rows)
    first = np.cumsum(rows) - rows
    row_e = ry0[idx].astype(np.int64)[tri_e] + (np.arange(tri_e.size) - first[tri_e])
    yc = row_e + 0.5
    # each edge bounds the span from the left (A_k > 0) or the right (A_k < 0): x >= or <= -(B_k y + C_k) / A_k
    tol = 1e-7
    lo = np.full(tri_e.size, -np.inf)
    hi = np.full(tri_e.size, np.inf)
    for k in range(3):
        a_k = A[k][tri_e]
        edge = B[k][tri_e] * yc + C[k][tri_e]
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -edge / a_k
        np.maximum(lo, np.where(a_k > 0, bound, -np.inf), out=lo)
        np.minimum(hi, np.where(a_k < 0, bound, np.inf), out=hi)
        # an edge parallel to the rows either keeps the whole row or none of it
        hi[(a_k == 0) & (edge < -tol)] = -np.inf
    xs = np.maximum(np.ceil(lo - tol - 0.5), 0)
    xe = np.minimum(np.floor(hi + tol - 0.5), width - 1)
    n_e = np.where(xe >= xs, xe - xs + 1, 0).astype(np.int64)
    total = int(n_e.sum())
    if total == 0:
        return empty
    if total > _MAX_CANDIDATES:
        raise ValueError(
            f"rasterize: the triangles cover {total} pixels (more than {_MAX_CANDIDATES}); render smaller or split the mesh"
        )
    # the candidates: every pixel of every span
    span = np.repeat(np.arange(n_e.size), n_e)
    x = xs.astype(np.int64)[span] + (np.arange(total, dtype=np.int64) - (np.cumsum(n_e) - n_e)[span])
    tri_c = tri_e[span]
    pix = row_e[span] * width + x
    depth = qa[tri_c] * (x + 0.5) + (qb[tri_e] * yc + qc[tri_e])[span]

    # z-test: the largest inverse depth wins; ties go to the later candidate
    dlo, dhi = float(depth.min()), float(depth.max())
    scale = ((1 << _DEPTH_BITS) - 1) / max(dhi - dlo, 1e-30)
    dq = np.clip(((depth - dlo) * scale).astype(np.int64), 0, (1 << _DEPTH_BITS) - 1)
    key = (dq << _INDEX_BITS) | np.arange(total, dtype=np.int64)
    zbuf = np.full(width * height, -1, dtype=np.int64)
    np.maximum.at(zbuf, pix, key)
    covered = np.flatnonzero(zbuf >= 0)
    win = zbuf[covered] & ((1 << _INDEX_BITS) - 1)
    t = tri_c[win]
    px = (covered % width) + 0.5
    py = (covered // width) + 0.5
    bary = np.empty((covered.size, 3), dtype=np.float32)  # inside up to rounding: no clipping needed
    bary[:, 1] = a1[t] * px + b1[t] * py + c1[t]
    bary[:, 2] = a2[t] * px + b2[t] * py + c2[t]
    bary[:, 0] = 1.0 - bary[:, 1] - bary[:, 2]
    return Fragments(covered, idx[t], bary, width, height)


def interpolate(fragments: Fragments, triangles: np.ndarray, attributes: np.ndarray) -> np.ndarray:
    """Per-vertex ``attributes`` (``[V, K]``) interpolated at each covered pixel: ``[P, K]`` float32."""
    corners = np.asarray(triangles)[fragments.triangles]  # [P, 3]
    attr = np.asarray(attributes, dtype=np.float32)
    w = fragments.barycentric
    out = attr[corners[:, 0]] * w[:, 0:1]
    out += attr[corners[:, 1]] * w[:, 1:2]
    out += attr[corners[:, 2]] * w[:, 2:3]
    return out
