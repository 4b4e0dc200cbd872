"""Animated previews: which frames a preview shows, and GIF / MP4 encoding.

The encoders :func:`write_gif` and :func:`write_mp4` take images, not motions: a sequence of
same-size RGB images (one per motion frame), or a callable ``images_at(indices)`` yielding the
images of those motion frames on demand, so any renderer can use them and long takes are drawn
as they are written.  :func:`save_gif` and :func:`save_mp4` are the procedural 2D face's previews
of a ``[T, 61]`` motion (:mod:`.face2d`), each frame stamped with its time and a progress bar.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, Union

import numpy as np
from PIL import Image, ImageDraw

from express4d_dataset.atomic_file import atomic_path

from .face2d import PALETTE_COLOURS, stamped_frames
from .inputs import check_frames, check_size

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_PREVIEW_FPS",
    "FrameSource",
    "ffmpeg_available",
    "preview_fps",
    "preview_frame_indices",
    "save_gif",
    "save_mp4",
    "write_gif",
    "write_mp4",
]

DEFAULT_MAX_PREVIEW_FPS = 30.0
"""GIF previews play at most this many frames per second (GIF delays are 10 ms units)."""

FrameSource = Union[Sequence[Image.Image], Callable[[np.ndarray], Iterable[Image.Image]]]
"""What the encoders take: one RGB image per motion frame, or ``images_at(indices)`` yielding the
images of the motion frames ``indices`` (an int64 array, increasing), in order."""

_GIF_TRANSPARENT = 255  # palette index kept free for "unchanged since the previous frame"


# --------------------------------------------------------------------------------------------
# Which frames a preview shows
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


def _check_fps(who: str, fps: float) -> None:
    if not fps or fps <= 0:
        raise ValueError(f"{who}: fps must be positive, got {fps!r}")


def _frame_source(frames: FrameSource, num_frames: int | None, who: str):
    """``(images_at, number of motion frames)`` of an encoder's ``frames`` argument."""
    if callable(frames):
        if num_frames is None:
            raise ValueError(f"{who}: pass num_frames (the motion's length) with a frame-rendering callable")
        return frames, int(num_frames)
    images = list(frames)
    if not all(isinstance(im, Image.Image) for im in images):
        raise ValueError(
            f"{who}: frames must be PIL images or a callable images_at(indices); for a [T, 61] motion use "
            f"save_gif / save_mp4, which draw the 2D face"
        )
    if num_frames is not None and int(num_frames) != len(images):
        raise ValueError(f"{who}: num_frames={num_frames} but {len(images)} images were given")
    return (lambda idx: (images[int(i)] for i in idx)), len(images)


def _uniform(images: Iterable[Image.Image], who: str) -> Iterator[Image.Image]:
    """The images as RGB, checking they all have the first one's size."""
    first_size = None
    for im in images:
        if first_size is None:
            first_size = im.size
        elif im.size != first_size:
            raise ValueError(f"{who}: every image must have the same size; got {im.size} after {first_size}")
        yield im if im.mode == "RGB" else im.convert("RGB")


# --------------------------------------------------------------------------------------------
# GIF
# --------------------------------------------------------------------------------------------
def _gif_durations(num_images: int, rate: float) -> list[int]:
    """Per-frame delays in ms, multiples of 10 ms, whose running sum tracks ``i / rate``."""
    ticks = np.round(np.arange(num_images + 1) * 100.0 / rate).astype(np.int64)  # centiseconds
    return [int(max(1, c)) * 10 for c in np.diff(ticks)]


def _shared_palette(images_at, idx: np.ndarray, colours: Sequence[tuple[int, int, int]]) -> Image.Image:
    """One 255-colour palette for a whole clip: from up to 24 frames spread over it plus, when
    ``colours`` are given, a strip of them (so a colour on screen only briefly is never left
    out); the first colour also fills the rest of the strip."""
    sample_idx = idx[np.unique(np.linspace(0, len(idx) - 1, min(24, len(idx))).round().astype(np.int64))]
    sample = list(_uniform(images_at(sample_idx), "write_gif"))
    w, h = sample[0].size
    swatch = 16 if colours else 0
    montage = Image.new("RGB", (w * len(sample), h + swatch), tuple(colours[0]) if colours else (0, 0, 0))
    for k, im in enumerate(sample):
        montage.paste(im, (k * w, 0))
    if colours:
        d = ImageDraw.Draw(montage)
        cell = max(1, montage.width // len(colours))
        for k, col in enumerate(colours):
            d.rectangle((k * cell, h, (k + 1) * cell, h + swatch), fill=tuple(col))
    return montage.quantize(colors=_GIF_TRANSPARENT, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


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
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fp:  # written aside, renamed into place when complete
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


def write_gif(
    frames: FrameSource,
    path,
    fps: float,
    *,
    num_frames: int | None = None,
    max_preview_fps: float = DEFAULT_MAX_PREVIEW_FPS,
    palette_colours: Sequence[tuple[int, int, int]] = (),
) -> Path:
    """Write the images of a motion at ``fps`` as an animated, looping GIF.

    ``frames``: one image per motion frame, or a callable ``images_at(indices)`` with
    ``num_frames`` the motion's length (see :data:`FrameSource`).  GIF delays are counted in
    10 ms units and viewers play very short delays badly, so motions above ``max_preview_fps``
    (30) are subsampled: the GIF shows exactly the frames :func:`preview_frame_indices` picks,
    with delays alternating between neighbouring multiples of 10 ms so the total duration
    matches the motion's.  One shared palette (255 colours, always holding
    ``palette_colours``); a frame identical to the previous one is still written.  Returns the
    path written.
    """
    images_at, n = _frame_source(frames, num_frames, "write_gif")
    if n == 0:
        raise ValueError("write_gif: there are no frames to write")
    idx = preview_frame_indices(n, fps, max_preview_fps)
    rate = preview_fps(fps, max_preview_fps)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    palette = _shared_palette(images_at, idx, palette_colours)
    quantised = (
        im.quantize(palette=palette, dither=Image.Dither.NONE) for im in _uniform(images_at(idx), "write_gif")
    )
    _write_gif_stream(path, quantised, _gif_durations(len(idx), rate))
    logger.info("wrote %s: %d frames at %.4g fps (motion: %d frames at %g fps)", path, len(idx), rate, n, fps)
    return path


def save_gif(frames, path, fps: float, size: int = 256, max_preview_fps: float = DEFAULT_MAX_PREVIEW_FPS) -> Path:
    """Write an animated, looping GIF preview of a ``[T, 61]`` motion at ``fps`` (the 2D face).

    GIF delays are counted in 10 ms units and viewers play very short delays badly, so motions
    above ``max_preview_fps`` (30) are subsampled: the GIF shows exactly the frames
    :func:`preview_frame_indices` picks, ``ceil(T / ceil(fps / max_preview_fps))`` of them (a
    60 fps motion plays at 30 fps), with delays alternating between neighbouring multiples of
    10 ms so the total duration matches the motion's.  Each frame carries its time stamp and a
    progress bar, which also keeps consecutive frames distinct (GIF writers merge identical
    ones).  One shared palette; returns the path written.  Other renderers use :func:`write_gif`.
    """
    arr = check_frames(frames)
    if arr.shape[0] == 0:
        raise ValueError("save_gif: the motion has no frames")
    size = check_size(size)
    return write_gif(
        lambda idx: stamped_frames(arr, idx, fps, size),
        path,
        fps,
        num_frames=arr.shape[0],
        max_preview_fps=max_preview_fps,
        palette_colours=PALETTE_COLOURS,
    )


# --------------------------------------------------------------------------------------------
# MP4
# --------------------------------------------------------------------------------------------
def ffmpeg_available() -> bool:
    """Whether an ``ffmpeg`` executable is on ``PATH`` (needed for :func:`save_mp4`)."""
    return shutil.which("ffmpeg") is not None


def write_mp4(frames: FrameSource, path, fps: float, *, num_frames: int | None = None) -> Path | None:
    """Write the images of a motion (every frame, at the motion's own ``fps``) as an H.264 MP4
    with ``ffmpeg``.

    ``frames`` as for :func:`write_gif`; width and height must be even (yuv420p).  Returns the
    path, or ``None`` (and logs why) when no ``ffmpeg`` is on ``PATH``.
    """
    exe = shutil.which("ffmpeg")
    if exe is None:
        logger.info("ffmpeg not found on PATH; skipping the MP4 preview %s", path)
        return None
    images_at, n = _frame_source(frames, num_frames, "write_mp4")
    if n == 0:
        raise ValueError("write_mp4: there are no frames to write")
    _check_fps("write_mp4", fps)
    images = _uniform(images_at(np.arange(n)), "write_mp4")
    first = next(images)
    w, h = first.size
    if w % 2 or h % 2:
        raise ValueError(f"write_mp4: H.264 (yuv420p) needs an even width and height, got {w}x{h}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # ffmpeg writes aside; renamed into place when done
        cmd = [
            exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
            "-r", f"{fps:g}", "-i", "-", "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
            str(tmp),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        try:
            proc.stdin.write(first.tobytes())
            for im in images:
                proc.stdin.write(im.tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {path} (exit {proc.returncode}): {err.strip()[-500:]}")
    logger.info("wrote %s: %d frames at %g fps", path, n, fps)
    return path


def save_mp4(frames, path, fps: float, size: int = 256) -> Path | None:
    """Write an H.264 MP4 preview of a ``[T, 61]`` motion (the 2D face; every frame, at the
    motion's own ``fps``) with ``ffmpeg``.

    Returns the path, or ``None`` (and logs why) when no ``ffmpeg`` is on ``PATH``.  ``size``
    is rounded up to an even number (yuv420p needs even dimensions).  Other renderers use
    :func:`write_mp4`.
    """
    if not ffmpeg_available():
        logger.info("ffmpeg not found on PATH; skipping the MP4 preview %s", path)
        return None
    arr = check_frames(frames)
    if arr.shape[0] == 0:
        raise ValueError("save_mp4: the motion has no frames")
    _check_fps("save_mp4", fps)
    size = check_size(size)
    size += size % 2
    return write_mp4(lambda idx: stamped_frames(arr, idx, fps, size), path, fps, num_frames=arr.shape[0])
