"""The procedural 2D face: drawn from the 61 Live Link Face channels alone.

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
geometry of all frames is computed at once with numpy (:mod:`.face2d_geometry`, one function per
feature, on the layout of :mod:`.face2d_layout`); only the Pillow drawing calls run per frame.

Entry points: :func:`render_frame`, :func:`render_frames`, and :func:`stamped_frames` (the
time-stamped frames :mod:`.video` encodes); :data:`FACE_REGIONS` boxes each part of the face.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

from express4d_dataset.arkit import NUM_CHANNELS

from .face2d_geometry import face_geometry
from .face2d_layout import _IRIS_R, _PUPIL_R, _SCALE, FACE_REGIONS
from .fonts import font
from .inputs import check_frames, check_size

__all__ = ["FACE_REGIONS", "PALETTE_COLOURS", "render_frame", "render_frames", "stamped_frames"]

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

PALETTE_COLOURS: tuple[tuple[int, int, int], ...] = tuple(_PALETTE.values())
"""The face's own colours, background first: a GIF palette keeps them all (see
:func:`pipelines.preview.video.write_gif`), so a short tongue-out or a blush is never left out."""


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], alpha: float) -> tuple[int, int, int]:
    alpha = float(min(max(alpha, 0.0), 1.0))
    return tuple(int(round(x + (y - x) * alpha)) for x, y in zip(a, b))  # type: ignore[return-value]


def _flat(points: np.ndarray) -> list[float]:
    return points.ravel().tolist()


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
        d.text((lw(14), width - lw(46)), f"{seconds:6.2f} s", fill=p["text"], font=font(lw(26)))
    return img


def render_frames(frames, size: int = 256, fps: float | None = None) -> list[Image.Image]:
    """Draw every frame of a ``[T, 61]`` motion as a ``size`` x ``size`` RGB image.

    With ``fps``, each image also carries its time in seconds and a progress bar at the bottom
    (this also keeps consecutive frames distinct, so GIF writers never merge them).
    """
    arr = check_frames(frames)
    size = check_size(size)
    canvas = 2 * size
    g = face_geometry(arr, canvas)
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


def stamped_frames(
    motion: np.ndarray, indices: np.ndarray, fps: float, size: int, chunk: int = 256
) -> Iterator[Image.Image]:
    """Yield the time-stamped ``size`` x ``size`` images of frames ``indices`` of a checked
    ``[T, 61]`` float32 ``motion`` (see :func:`~pipelines.preview.inputs.check_frames`).

    Each image is the one ``render_frames(motion, size, fps)[i]`` draws (time ``i / fps``,
    progress ``(i + 1) / T``), but geometry is computed ``chunk`` frames at a time, so long
    takes never hold every RGB image in memory.
    """
    canvas = 2 * check_size(size)
    n = motion.shape[0]
    for start in range(0, len(indices), chunk):
        part = indices[start : start + chunk]
        g = face_geometry(motion[part], canvas)
        for k, i in enumerate(part):
            yield _draw_frame(g, k, canvas, (int(i) / fps, (int(i) + 1) / n)).reduce(2)
