"""Previews of a Live Link Face CSV file: GIF, channel-curve PNG and (with ``ffmpeg``) MP4 beside it."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from .curves import plot_channel_curves
from .head3d import DEFAULT_CAMERA, camera_yaw, save_head_gif, save_head_mp4
from .video import DEFAULT_MAX_PREVIEW_FPS, save_gif, save_mp4

logger = logging.getLogger(__name__)

__all__ = ["EXPORT_FORMATS", "PREVIEWS", "RENDERED", "export_csv", "free_stem", "render_csv", "render_motion"]

PREVIEWS = ("3d", "2d")
"""What a preview draws: ``"3d"`` the ICT head (:mod:`.head3d`, the default), ``"2d"`` the procedural face (:mod:`.face2d`)."""
EXPORT_FORMATS = ("glb",)
"""What :func:`export_csv` writes: ``"glb"`` (binary glTF 2.0: the head, ARKit morph targets and the animation)."""


RENDERED = ("{}.gif", "{}.mp4", "{}_curves.png")
"""The files :func:`render_csv` writes for a stem (the MP4 only with ``ffmpeg``)."""


def free_stem(folder: Path, stem: str, names=("{}",), overwrite: bool = False) -> str:
    """``stem``, or, when one of its files (``names``: templates such as ``"{}.gif"``) exists in ``folder`` and not
    ``overwrite``, the first of ``<stem>_2``, ``<stem>_3``, ... whose files are all free: earlier files are never
    replaced without asking."""
    if overwrite:
        return stem
    candidate, k = stem, 1
    while any((folder / name.format(candidate)).exists() or (folder / name.format(candidate)).is_symlink() for name in names):
        k += 1
        candidate = f"{stem}_{k}"
    return candidate


def render_csv(
    csv_path, out_dir=None, size: int = 256, mp4: bool = True, untracked: str | None = None, max_untracked_gap: float | None = None,
    preview: str = "3d", camera=DEFAULT_CAMERA, overwrite: bool = False,
) -> dict[str, Path]:
    """Render a Live Link Face CSV: ``<stem>.gif``, ``<stem>_curves.png`` and, when ``mp4`` and
    ``ffmpeg`` is on ``PATH``, ``<stem>.mp4``.

    Earlier files are kept: when one of these names is taken, the files are ``<stem>_2.gif``, ... (the first
    free number; :func:`free_stem`), unless ``overwrite``.
    Files go to ``out_dir`` (created if needed; default: the CSV's folder).  The row rate comes
    from the CSV's timecodes (``take.fps``).  Returns ``{"gif": ..., "png": ..., "mp4": ...}``
    holding only the files written.  ``untracked`` / ``max_untracked_gap``: the reader's lost-tracking
    policy (:func:`~express4d_dataset.livelink.read_livelink_csv`; default: gaps up to 0.5 s interpolated).
    ``preview``: ``"3d"`` (the head, seen from ``camera``: ``"front"``, ``"three-quarter"``,
    ``"side"`` or a yaw in degrees) or ``"2d"`` (the procedural face; ``camera`` is ignored).
    """
    if preview not in PREVIEWS:
        raise ValueError(f"preview must be one of {', '.join(PREVIEWS)}, got {preview!r}")
    if preview == "3d":
        camera_yaw(camera)  # a bad camera fails before anything is read or written
    csv_path = Path(csv_path)
    take, out = _read_take(csv_path, out_dir, untracked, max_untracked_gap, "render")
    return render_motion(take.frames, take.fps, out, csv_path.stem, size=size, mp4=mp4, preview=preview, camera=camera,
                         overwrite=overwrite, title=f"{csv_path.name} ({take.fps:g} fps)")


def render_motion(
    frames, fps: float, out_dir, stem: str, size: int = 256, mp4: bool = True, preview: str = "3d",
    camera=DEFAULT_CAMERA, overwrite: bool = False, title: str | None = None,
    max_preview_fps: float = DEFAULT_MAX_PREVIEW_FPS,
) -> dict[str, Path]:
    """The previews of a ``[T, 61]`` motion at ``fps`` already in memory (what :func:`render_csv` does after reading
    the file): ``<stem>.gif`` (at most ``max_preview_fps``), ``<stem>_curves.png`` and, when ``mp4`` and ``ffmpeg``
    is on ``PATH``, ``<stem>.mp4`` in ``out_dir``; earlier files kept as in :func:`render_csv`.  Returns the paths."""
    if preview not in PREVIEWS:
        raise ValueError(f"preview must be one of {', '.join(PREVIEWS)}, got {preview!r}")
    if preview == "3d":
        camera_yaw(camera)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = free_stem(out, stem, RENDERED, overwrite)
    written: dict[str, Path] = {}
    if preview == "3d":
        gif, mp4_writer = partial(save_head_gif, camera=camera), partial(save_head_mp4, camera=camera)
    else:
        gif, mp4_writer = save_gif, save_mp4
    written["gif"] = gif(frames, out / f"{stem}.gif", fps, size=size, max_preview_fps=max_preview_fps)
    if mp4:
        mp4_path = mp4_writer(frames, out / f"{stem}.mp4", fps, size=size)
        if mp4_path is not None:
            written["mp4"] = mp4_path
    written["png"] = plot_channel_curves(frames, fps, out / f"{stem}_curves.png", title=title or f"{stem} ({fps:g} fps)")
    return written


def export_csv(csv_path, out_dir=None, format: str = "glb", untracked: str | None = None,
               max_untracked_gap: float | None = None, overwrite: bool = False) -> Path:  # fmt: skip
    """Convert a Live Link Face CSV to ``<stem>.<format>`` in ``out_dir`` (default: beside it); an earlier file of
    that name is kept (the new one is ``<stem>_2.<format>``, ...: :func:`free_stem`) unless ``overwrite``.

    ``"glb"``: the 3D head with its ARKit-named morph targets and the take as one animation at the
    CSV's row rate (:func:`~pipelines.preview.gltf.save_glb`).  Returns the path written.
    """
    from .gltf import save_glb

    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    csv_path = Path(csv_path)
    take, out = _read_take(csv_path, out_dir, untracked, max_untracked_gap, "export")
    out.mkdir(parents=True, exist_ok=True)
    stem = free_stem(out, csv_path.stem, (f"{{}}.{format}",), overwrite)
    return save_glb(take.frames, out / f"{stem}.{format}", take.fps)


def _read_take(csv_path: Path, out_dir, untracked, max_untracked_gap, verb: str):
    """The take (its reader notes logged) and the output folder (default: beside the CSV)."""
    from express4d_dataset.livelink import read_livelink_csv

    take = read_livelink_csv(csv_path, untracked=untracked, max_untracked_gap=max_untracked_gap)
    for note in take.notes:
        logger.info("%s: %s", csv_path, note)
    if take.num_frames == 0:
        raise ValueError(f"{csv_path}: the take has no frames to {verb}")
    return take, Path(out_dir) if out_dir is not None else csv_path.parent
