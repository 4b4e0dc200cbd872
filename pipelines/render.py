"""Compatibility module: the preview renderer now lives in :mod:`pipelines.preview`.

The procedural 2D face is in :mod:`pipelines.preview.face2d`, GIF / MP4 writing in
:mod:`pipelines.preview.video`, channel plots in :mod:`pipelines.preview.curves` and
:func:`render_csv` in :mod:`pipelines.preview.files`.  This module only re-exports the names it
offered before; import from :mod:`pipelines.preview` in new code.
"""

from .preview import (
    DEFAULT_CURVE_CHANNELS,
    DEFAULT_MAX_PREVIEW_FPS,
    FACE_REGIONS,
    ffmpeg_available,
    plot_channel_curves,
    preview_fps,
    preview_frame_indices,
    render_csv,
    render_frame,
    render_frames,
    save_gif,
    save_mp4,
)

__all__ = [
    "DEFAULT_CURVE_CHANNELS",
    "DEFAULT_MAX_PREVIEW_FPS",
    "FACE_REGIONS",
    "ffmpeg_available",
    "plot_channel_curves",
    "preview_fps",
    "preview_frame_indices",
    "render_csv",
    "render_frame",
    "render_frames",
    "save_gif",
    "save_mp4",
]
