"""Channel curves: a PNG line plot of chosen channels of a ``[T, 61]`` motion over time, drawn with Pillow."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from express4d_dataset.arkit import BLENDSHAPE_NAMES, CHANNEL_NAMES, ROTATION_NAMES, channel_index
from express4d_dataset.atomic_file import atomic_path

from .fonts import font as _font
from .inputs import check_frames

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_CURVE_CHANNELS", "curve_channels", "plot_channel_curves"]

DEFAULT_CURVE_CHANNELS: tuple[str, ...] = (
    "JawOpen", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthPucker",
    "EyeBlinkLeft", "EyeBlinkRight", "EyeWideLeft", "BrowInnerUp", "BrowDownLeft",
    "HeadYaw", "HeadPitch", "HeadRoll",
)  # fmt: skip
"""The familiar channels :func:`curve_channels` falls back on where a motion moves few blendshapes."""

MAX_CURVE_BLENDSHAPES = 10
"""Blendshape curves drawn when none are named (with the three head rotations: one colour each)."""
MOVING_RANGE = 0.1
"""A blendshape whose values span at least this much (max - min) counts as moving."""
_FALLBACK_BLENDSHAPES = [CHANNEL_NAMES.index(n) for n in DEFAULT_CURVE_CHANNELS if n in BLENDSHAPE_NAMES]


def curve_channels(frames, limit: int = MAX_CURVE_BLENDSHAPES) -> list[str]:
    """The channels worth plotting for ``frames`` ``[T, 61]``: the blendshapes that move most (range at least
    :data:`MOVING_RANGE`, largest first, at most ``limit``), topped up from :data:`DEFAULT_CURVE_CHANNELS`'
    blendshapes, then the head's yaw, pitch and roll; in channel order.  A prompt's puffed cheeks or
    tongue therefore show, though they are not among the defaults."""
    if not 1 <= int(limit) <= MAX_CURVE_BLENDSHAPES:
        raise ValueError(f"curve_channels: limit must be between 1 and {MAX_CURVE_BLENDSHAPES} (one colour per "
                         f"curve), got {limit}")
    span = np.ptp(check_frames(frames)[:, : len(BLENDSHAPE_NAMES)], axis=0)
    moving = [int(i) for i in np.argsort(-span, kind="stable") if span[i] >= MOVING_RANGE][:limit]
    moving += [i for i in _FALLBACK_BLENDSHAPES if i not in moving][: limit - len(moving)]
    return [CHANNEL_NAMES[i] for i in sorted(moving)] + list(ROTATION_NAMES[:3])

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
    default :func:`curve_channels` (the blendshapes this motion moves most, and the head rotations).
    Blendshapes (0..1) and rotations (radians) get separate panels with their own y axis; a legend names
    each curve.  ``size`` is ``(width, height)`` of the PNG in pixels.  Returns the path written.
    """
    arr = check_frames(frames)
    if fps is None or fps <= 0:
        raise ValueError(f"plot_channel_curves: fps must be positive, got {fps!r}")
    names = list(channels) if channels is not None else curve_channels(arr)
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
    with atomic_path(out) as tmp:  # a reader never sees half a file
        img.save(tmp, format="PNG")
    logger.info("wrote %s: %d channel(s), %.2f s", out, len(names), duration)
    return out
