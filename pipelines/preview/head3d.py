"""The 3D preview: a shaded head (ICT-FaceKit, see :mod:`.arkit_head`) driven by the 61 channels.

CPU only, no OpenGL: each frame poses the mesh (:meth:`HeadModel.posed_vertices`), recomputes
per-vertex normals, projects it through a perspective camera and rasterises it with the numpy
z-buffer of :mod:`.raster`.  Shading is Lambert from a key and a fill light fixed to the camera,
plus ambient, computed per vertex and interpolated per pixel (Gouraud).  Colour comes from the
part (skin, teeth, mouth, eyeball, ...); the lips, brows, irises and pupils are painted per pixel
(from interpolated rest-pose coordinates and each eyeball's optical axis), so their edges stay
crisp on the reduced mesh.

Camera: ``"front"``, ``"three-quarter"`` (the default, 30 degrees), ``"side"`` (90 degrees) or a
yaw in degrees.  A camera yaw shows the head as a ``HeadYaw`` of that angle would: positive
turns the face toward the image left, showing more of the subject's left cheek.  Left and right
are the subject's: in the front view their left eye is on the image's right.

Entry points: :func:`render_head_frames` / :func:`render_head_frame` (PIL images),
:func:`stamped_head_frames` (with the time stamp and timeline bar the 2D preview has), and
:func:`save_head_gif` / :func:`save_head_mp4`, which encode through :mod:`.video`;
:func:`head_regions` boxes parts of the face in an image, for crops and tests.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

from .arkit_head import HeadModel, load_head
from .fonts import font
from .inputs import check_frames, check_size
from .raster import interpolate, rasterize

logger = logging.getLogger(__name__)

__all__ = [
    "CAMERAS",
    "DEFAULT_CAMERA",
    "HeadRenderer",
    "IRIS_COLOUR",
    "IRIS_COS",
    "LIP_COLOUR",
    "PART_COLOURS",
    "PUPIL_COLOUR",
    "PUPIL_COS",
    "camera_yaw",
    "head_regions",
    "lip_weights",
    "render_head_frame",
    "render_head_frames",
    "save_head_gif",
    "save_head_mp4",
    "stamped_head_frames",
]

CAMERAS: dict[str, float] = {"front": 0.0, "three-quarter": 30.0, "side": 90.0}
"""Named camera yaws in degrees (see the module docstring for the sign)."""
DEFAULT_CAMERA = "three-quarter"

_TARGET = np.array([0.0, 1.2, 1.0])  # what the camera looks at (cm, head coordinates)
_DISTANCE = 95.0  # cm from the target
_HALF_FOV = np.radians(8.6)  # half the vertical field of view: about 29 cm of head in frame
_BAR = 0.04  # timeline bar height, share of the image

_PALETTE = {
    "background": (234, 236, 240),
    "text": (110, 114, 122),
    "bar": (176, 182, 192),
}

PART_COLOURS = {  # sRGB 0..1 albedo of each part of the head (the GLB's materials use them too)
    "face": (0.86, 0.66, 0.55),
    "head_and_neck": (0.86, 0.66, 0.55),
    "mouth_socket": (0.36, 0.13, 0.14),
    "eye_socket_left": (0.45, 0.28, 0.26),
    "eye_socket_right": (0.45, 0.28, 0.26),
    "gums_and_tongue": (0.78, 0.38, 0.40),
    "teeth": (0.93, 0.91, 0.84),
    "eyeball_left": (0.95, 0.94, 0.92),
    "eyeball_right": (0.95, 0.94, 0.92),
}
LIP_COLOUR = np.array((0.74, 0.38, 0.38))
_LIP_EDGE = (0.3, 0.45)  # lip measure where the red of the lips fades in
_LIP_REACH = (0.7, 1.3)  # cm from the lip line where the lips end
BROW_COLOUR = np.array((0.36, 0.26, 0.21))
_BROW_X = (1.15, 5.6)  # |x| of the brows' inner and outer ends (cm, rest pose)
_BROW_Y = (5.35, 0.75, -0.25)  # height at the inner end, arch, and drop toward the outer end
_BROW_HALF = (0.42, 0.2)  # half thickness at the inner and outer ends
IRIS_COLOUR = np.array((0.28, 0.42, 0.55))
PUPIL_COLOUR = np.array((0.05, 0.05, 0.06))
IRIS_COS, PUPIL_COS = 0.925, 0.985  # cos of the iris' and pupil's angular radius on the eyeball

# lights in camera coordinates (x right, y up, z toward the camera)
_KEY = np.array([-0.45, 0.55, 0.70])
_FILL = np.array([0.65, -0.05, 0.45])
_AMBIENT, _KEY_GAIN, _FILL_GAIN = 0.30, 0.72, 0.22


def camera_yaw(camera) -> float:
    """The camera's yaw in degrees: a name from :data:`CAMERAS` or a finite number (also as text)."""
    value = None
    if isinstance(camera, str):
        key = camera.strip().lower().replace("_", "-").replace(" ", "-")
        if key in CAMERAS:
            return CAMERAS[key]
        try:
            value = float(key)
        except ValueError:
            pass
    elif isinstance(camera, (int, float, np.integer, np.floating)) and not isinstance(camera, bool):
        value = float(camera)
    if value is None or not np.isfinite(value):
        raise ValueError(f"camera must be {', '.join(CAMERAS)} or a yaw in degrees, got {camera!r}")
    return value


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _vertex_albedo(head: HeadModel) -> np.ndarray:
    """``[V, 3]`` albedo by part."""
    return np.array([PART_COLOURS.get(n, PART_COLOURS["face"]) for n in head.part_names], dtype=np.float32)[head.parts]


def _lip_measure(head: HeadModel) -> np.ndarray:
    """``[V]`` 0..1, high on the lips: skin near the lip line (where the face meets the mouth
    socket) that the lip-rolling expressions move most.  Thresholded per pixel for the red."""
    m = np.zeros(head.num_vertices)
    for n in ("mouthRollUpper", "mouthRollLower"):
        k = head.target_names.index(n)
        np.maximum.at(m, head.target_indices[k], np.linalg.norm(head.target_offsets[k], axis=1))
    skin = head.part_mask("face")
    socket = head.part_mask("mouth_socket")
    t = head.triangles
    seam = socket[t].any(axis=1) & skin[t].any(axis=1)
    line = np.unique(t[seam][skin[t[seam]]])
    p = head.positions
    near = np.full(head.num_vertices, np.inf)
    cand = np.flatnonzero(skin & (np.abs(p[:, 1] - p[line, 1].mean()) < 4.0))
    near[cand] = np.sqrt(((p[cand, None, :] - p[None, line, :]) ** 2).sum(axis=-1)).min(axis=1)
    m = m / max(m[skin].max(), 1e-6) * (1.0 - _smoothstep(near, *_LIP_REACH))
    return (m * skin).astype(np.float32)


def lip_weights(head: HeadModel) -> np.ndarray:
    """``[V]`` 0..1: how much of :data:`LIP_COLOUR` each vertex shows (the GLB's vertex colours)."""
    return _smoothstep(_lip_measure(head), *_LIP_EDGE).astype(np.float32)


def _brow_alpha(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Brows painted on the rest pose: 0..1 coverage at rest-pose face points ``(x, y)`` (cm)."""
    ax = np.abs(x)
    t = np.clip((ax - _BROW_X[0]) / (_BROW_X[1] - _BROW_X[0]), 0.0, 1.0)
    centre = _BROW_Y[0] + _BROW_Y[1] * np.sin(np.pi * 0.62 * t) + _BROW_Y[2] * t
    half = _BROW_HALF[0] + (_BROW_HALF[1] - _BROW_HALF[0]) * t
    inside = 1.0 - _smoothstep(np.abs(y - centre) / half, 0.7, 1.0)
    ends = _smoothstep(ax, _BROW_X[0] - 0.1, _BROW_X[0] + 0.3) * (1.0 - _smoothstep(ax, _BROW_X[1] - 0.3, _BROW_X[1] + 0.1))
    return inside * ends


def _interpolate(frags, sel: np.ndarray, tris: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-vertex ``values`` (``[V]`` or ``[V, K]``) at the covered pixels ``sel`` (indices into ``frags``)."""
    corners = tris[frags.triangles[sel]]
    w = frags.barycentric[sel]
    if values.ndim == 1:
        return values[corners[:, 0]] * w[:, 0] + values[corners[:, 1]] * w[:, 1] + values[corners[:, 2]] * w[:, 2]
    return values[corners[:, 0]] * w[:, :1] + values[corners[:, 1]] * w[:, 1:2] + values[corners[:, 2]] * w[:, 2:3]


def _eye_cosines(head: HeadModel) -> np.ndarray:
    """``[V]`` cosine of the angle between an eyeball vertex and its eye's optical axis (rest
    pose, eye coordinates, so it turns with the eye); -2 off the eyeballs."""
    out = np.full(head.num_vertices, -2.0, dtype=np.float32)
    for eye in head.eyes.values():
        d = head.positions[eye.vertices] - eye.centre
        out[eye.vertices] = (d @ eye.axis) / np.linalg.norm(d, axis=1)
    return out


class HeadRenderer:
    """Renders ``[T, 61]`` motions on the head, at ``size`` pixels square from ``camera``."""

    def __init__(self, size: int = 256, camera=DEFAULT_CAMERA, head: HeadModel | None = None):
        self.size = check_size(size)
        self.yaw = camera_yaw(camera)
        self.head = head if head is not None else load_head()
        phi = np.radians(self.yaw)
        back = np.array([np.sin(phi), 0.0, np.cos(phi)])  # camera +z, toward the camera
        right = np.cross([0.0, 1.0, 0.0], back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        self._rot = np.stack([right, up, back]).astype(np.float32)  # world -> camera
        self._eye = (_TARGET + _DISTANCE * back).astype(np.float32)
        self._focal = 0.5 * self.size / np.tan(_HALF_FOV)
        key = _KEY / np.linalg.norm(_KEY)
        fill = _FILL / np.linalg.norm(_FILL)
        self._lights = np.stack([key, fill]).astype(np.float32)  # camera coordinates
        h = self.head
        tris = self._tris = h.triangles.astype(np.int64)
        self._flat = tris.ravel()
        # per triangle: its colour (the part of its first corner), and which per-pixel paint it may need
        self._tri_albedo = _vertex_albedo(h)[tris[:, 0]]
        self._eye_cos = _eye_cosines(h)
        self._tri_eye = (self._eye_cos[tris] > -1.5).all(axis=1)
        self._lip = _lip_measure(h)
        self._tri_lip = (self._lip[tris] > _LIP_EDGE[0]).any(axis=1)
        rest = h.positions
        front_skin = h.part_mask("face") & (rest[:, 2] > 6.0)
        near_brow = front_skin & (rest[:, 1] > _BROW_Y[0] - 1.0) & (np.abs(rest[:, 0]) < _BROW_X[1] + 0.5)
        self._tri_brow = near_brow[tris].all(axis=1)
        self._rest_xy = rest[:, :2].astype(np.float32)

    # ------------------------------------------------------------------ one frame
    def _normals(self, v: np.ndarray) -> np.ndarray:
        """``[V, 3]`` unit vertex normals: the area-weighted sum of the adjacent faces' normals."""
        t = self._tris
        p0 = v[t[:, 0]]
        e1, e2 = (v[t[:, 1]] - p0).T, (v[t[:, 2]] - p0).T
        face = (e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0])
        n = np.empty((v.shape[0], 3))
        for c in range(3):
            n[:, c] = np.bincount(self._flat, weights=np.repeat(face[c], 3), minlength=v.shape[0])
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        return n.astype(np.float32)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel positions ``[N, 2]`` (x right, y down) and inverse depths ``[N]`` of head-space points."""
        cam = (np.asarray(points, dtype=np.float32) - self._eye) @ self._rot.T  # camera space, looking down -z
        inv = 1.0 / np.maximum(-cam[:, 2], 1e-3)
        xy = np.empty((cam.shape[0], 2), dtype=np.float32)
        xy[:, 0] = 0.5 * self.size + self._focal * cam[:, 0] * inv
        xy[:, 1] = 0.5 * self.size - self._focal * cam[:, 1] * inv
        return xy, inv

    def shade(self, vertices: np.ndarray) -> np.ndarray:
        """``[size, size, 3]`` uint8 image of one posed ``[V, 3]`` mesh (no time stamp)."""
        size = self.size
        xy, inv = self.project(vertices)
        frags = rasterize(xy, inv, self._tris, size, size, cull="cw")
        normals = self._normals(vertices) @ self._rot.T
        lam = np.clip(normals @ self._lights.T, 0.0, None)
        light = _AMBIENT + _KEY_GAIN * lam[:, 0] + _FILL_GAIN * lam[:, 1]
        ftri = frags.triangles
        albedo = self._tri_albedo[ftri]
        # the lips, brows and irises are painted per pixel, only on the triangles that can show them
        sel = np.flatnonzero(self._tri_lip[ftri])
        if sel.size:
            a = _smoothstep(_interpolate(frags, sel, self._tris, self._lip), *_LIP_EDGE)[:, None]
            albedo[sel] += (LIP_COLOUR - albedo[sel]) * a
        sel = np.flatnonzero(self._tri_brow[ftri])
        if sel.size:
            xy_rest = _interpolate(frags, sel, self._tris, self._rest_xy)
            a = _brow_alpha(xy_rest[:, 0], xy_rest[:, 1])[:, None]
            albedo[sel] += (BROW_COLOUR - albedo[sel]) * a
        sel = np.flatnonzero(self._tri_eye[ftri])
        if sel.size:
            ecos = _interpolate(frags, sel, self._tris, self._eye_cos)
            albedo[sel[ecos > IRIS_COS]] = IRIS_COLOUR
            albedo[sel[ecos > PUPIL_COS]] = PUPIL_COLOUR
        rgb = albedo * interpolate(frags, self._tris, light[:, None])
        np.clip(rgb * 255.0 + 0.5, 0.0, 255.0, out=rgb)
        img = np.empty((size * size, 3), dtype=np.uint8)
        img[:] = _PALETTE["background"]
        img[frags.pixels] = rgb.astype(np.uint8)
        return img.reshape(size, size, 3)

    def frames(self, motion: np.ndarray, indices=None, chunk: int = 32) -> Iterator[np.ndarray]:
        """Yield the ``[size, size, 3]`` uint8 images of frames ``indices`` (default: all) of a
        checked ``[T, 61]`` motion, posing ``chunk`` frames at a time."""
        idx = np.arange(motion.shape[0]) if indices is None else np.asarray(indices, dtype=np.int64)
        for start in range(0, len(idx), chunk):
            posed = self.head.posed_vertices(motion[idx[start : start + chunk]])
            for v in posed:
                yield self.shade(v)

    def stamp(self, img: np.ndarray, seconds: float, progress: float) -> Image.Image:
        """The image with its time and the timeline bar drawn at the bottom, as the 2D preview does."""
        im = Image.fromarray(img)
        d = ImageDraw.Draw(im)
        s = self.size
        bar_h = max(2, int(round(_BAR * s)))
        bg, bar = np.array(_PALETTE["background"]), np.array(_PALETTE["bar"])
        d.rectangle((0, s - bar_h, s, s), fill=tuple(int(v) for v in np.round(bg + 0.35 * (bar - bg))))
        d.rectangle((0, s - bar_h, progress * s, s), fill=_PALETTE["bar"])
        text, f = f"{seconds:6.2f} s", font(max(8, round(0.05 * s)))
        bottom = d.textbbox((0, 0), text, font=f)[3]
        d.text((round(0.027 * s), s - bar_h - max(2, round(0.012 * s)) - bottom), text, fill=_PALETTE["text"], font=f)
        return im


# ---------------------------------------------------------------------- functions
def render_head_frames(frames, size: int = 256, camera=DEFAULT_CAMERA, fps: float | None = None) -> list[Image.Image]:
    """Draw every frame of a ``[T, 61]`` motion on the 3D head: ``size`` x ``size`` RGB images.

    With ``fps``, each image also carries its time and a progress bar at the bottom.
    """
    arr = check_frames(frames)
    r = HeadRenderer(size, camera)
    n = arr.shape[0]
    if fps is None:
        return [Image.fromarray(img) for img in r.frames(arr)]
    return [r.stamp(img, i / fps, (i + 1) / n) for i, img in enumerate(r.frames(arr))]


def render_head_frame(frame, size: int = 256, camera=DEFAULT_CAMERA) -> Image.Image:
    """Draw one ``[61]`` frame on the 3D head."""
    arr = np.asarray(frame, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"render_head_frame expects one frame of shape [61], got {arr.shape}; use render_head_frames")
    return render_head_frames(arr[None], size=size, camera=camera)[0]


def stamped_head_frames(
    motion: np.ndarray, indices: np.ndarray, fps: float, size: int, camera=DEFAULT_CAMERA
) -> Iterator[Image.Image]:
    """Yield the time-stamped images of frames ``indices`` of a checked ``[T, 61]`` motion (what
    :func:`save_head_gif` and :func:`save_head_mp4` encode)."""
    r = HeadRenderer(size, camera)
    n = motion.shape[0]
    for i, img in zip(indices, r.frames(motion, indices)):
        yield r.stamp(img, int(i) / fps, (int(i) + 1) / n)


def _palette_colours() -> tuple[tuple[int, int, int], ...]:
    """Colours every GIF palette keeps: the frame's own, and the small painted features (irises,
    lips, brows) at a few light levels, which a palette taken from whole frames could miss."""
    bg, bar = np.array(_PALETTE["background"]), np.array(_PALETTE["bar"])
    track = tuple(int(v) for v in np.round(bg + 0.35 * (bar - bg)))
    features = [tuple(int(v) for v in np.clip(np.round(c * level * 255), 0, 255))
                for c in (IRIS_COLOUR, PUPIL_COLOUR, LIP_COLOUR, BROW_COLOUR) for level in (0.5, 0.75, 1.0)]  # fmt: skip
    return (_PALETTE["background"], track, _PALETTE["bar"], _PALETTE["text"], *features)


def save_head_gif(frames, path, fps: float, size: int = 256, camera=DEFAULT_CAMERA,
                  max_preview_fps: float | None = None) -> Path:
    """Write a looping GIF of a ``[T, 61]`` motion on the 3D head (at most ``max_preview_fps``, default 30: the
    frames :func:`~pipelines.preview.video.preview_frame_indices` picks), time-stamped.  Returns the path."""
    from .video import DEFAULT_MAX_PREVIEW_FPS, write_gif

    arr = check_frames(frames)
    if arr.shape[0] == 0:
        raise ValueError("save_head_gif: the motion has no frames")
    size = check_size(size)
    camera_yaw(camera)
    return write_gif(
        lambda idx: stamped_head_frames(arr, idx, fps, size, camera), path, fps, num_frames=arr.shape[0],
        max_preview_fps=DEFAULT_MAX_PREVIEW_FPS if max_preview_fps is None else max_preview_fps,
        palette_colours=_palette_colours(),
    )


def save_head_mp4(frames, path, fps: float, size: int = 256, camera=DEFAULT_CAMERA) -> Path | None:
    """Write an H.264 MP4 of a ``[T, 61]`` motion on the 3D head (every frame, at ``fps``) with
    ``ffmpeg``; ``None`` (logged) when no ``ffmpeg`` is on ``PATH``.  ``size`` is rounded up to
    an even number."""
    from .video import ffmpeg_available, write_mp4

    if not ffmpeg_available():
        logger.info("ffmpeg not found on PATH; skipping the MP4 preview %s", path)
        return None
    arr = check_frames(frames)
    if arr.shape[0] == 0:
        raise ValueError("save_head_mp4: the motion has no frames")
    if not fps or fps <= 0:
        raise ValueError(f"save_head_mp4: fps must be positive, got {fps!r}")
    size = check_size(size)
    size += size % 2
    return write_mp4(lambda idx: stamped_head_frames(arr, idx, fps, size, camera), path, fps, num_frames=arr.shape[0])


def head_regions(size: int = 256, camera=DEFAULT_CAMERA) -> dict[str, tuple[int, int, int, int]]:
    """Pixel boxes ``(x0, y0, x1, y1)`` around parts of the head at rest, seen from ``camera``:
    ``head``, ``left_eye`` / ``right_eye`` (the subject's; ``left_eye`` is on the image's right
    in the front view), ``brows``, ``mouth`` and ``lower_face`` (below the nose)."""
    r = HeadRenderer(size, camera)
    h = r.head
    rest = h.positions
    xy, _ = r.project(rest)

    def box(mask: np.ndarray, pad: float = 0.0) -> tuple[int, int, int, int]:
        p = xy[mask]
        x0, y0 = p.min(axis=0) - pad * size
        x1, y1 = p.max(axis=0) + pad * size
        return (max(0, int(x0)), max(0, int(y0)), min(size, int(np.ceil(x1))), min(size, int(np.ceil(y1))))

    face = h.part_mask("face")
    x, y, z = rest[:, 0], rest[:, 1], rest[:, 2]
    front = face & (z > 6.0)
    return {
        "head": box(np.ones(len(rest), bool)),
        "left_eye": box(h.part_mask("eyeball_left"), 0.01),
        "right_eye": box(h.part_mask("eyeball_right"), 0.01),
        "brows": box(front & (y > 5.0) & (y < 8.0) & (np.abs(x) < 6.0)),
        "mouth": box(h.part_mask("mouth_socket") & (z > 8.5), 0.01),
        "lower_face": box(front & (y < -1.0) & (y > -12.0) & (np.abs(x) < 5.0)),
    }
