"""Previews of a Live Link Face CSV file: GIF, channel-curve PNG and (with ``ffmpeg``) MP4 beside it."""

from __future__ import annotations

import logging
from pathlib import Path

from .curves import plot_channel_curves
from .video import save_gif, save_mp4

logger = logging.getLogger(__name__)

__all__ = ["render_csv"]


def render_csv(csv_path, out_dir=None, size: int = 256, mp4: bool = True) -> dict[str, Path]:
    """Render a Live Link Face CSV: ``<stem>.gif``, ``<stem>_curves.png`` and, when ``mp4`` and
    ``ffmpeg`` is on ``PATH``, ``<stem>.mp4``.

    Files go to ``out_dir`` (created if needed; default: the CSV's folder).  The row rate comes
    from the CSV's timecodes (``take.fps``).  Returns ``{"gif": ..., "png": ..., "mp4": ...}``
    holding only the files written.
    """
    from express4d_dataset.livelink import read_livelink_csv

    csv_path = Path(csv_path)
    take = read_livelink_csv(csv_path)
    for note in take.notes:
        logger.info("%s: %s", csv_path, note)
    if take.num_frames == 0:
        raise ValueError(f"{csv_path}: the take has no frames to render")
    out = Path(out_dir) if out_dir is not None else csv_path.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = csv_path.stem
    frames = take.frames
    written: dict[str, Path] = {}
    written["gif"] = save_gif(frames, out / f"{stem}.gif", take.fps, size=size)
    if mp4:
        mp4_path = save_mp4(frames, out / f"{stem}.mp4", take.fps, size=size)
        if mp4_path is not None:
            written["mp4"] = mp4_path
    title = f"{csv_path.name} ({take.fps:g} fps)"
    written["png"] = plot_channel_curves(frames, take.fps, out / f"{stem}_curves.png", title=title)
    return written
