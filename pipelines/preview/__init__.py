"""What a person looks at: previews of a ``[T, 61]`` Live Link Face motion.

* :mod:`.face2d`: the procedural 2D face drawn from the channels alone (:func:`render_frame`,
  :func:`render_frames`; its layout and per-feature geometry in ``face2d_layout`` /
  ``face2d_geometry``);
* :mod:`.video`: which frames a preview shows, GIF and MP4 encoding (:func:`save_gif`,
  :func:`save_mp4` for the 2D face; :func:`write_gif`, :func:`write_mp4` for any renderer's images);
* :mod:`.curves`: channel curves over time as a PNG (:func:`plot_channel_curves`);
* :mod:`.files`: all of it for a Live Link Face CSV (:func:`render_csv`).

Needs only numpy, Pillow and :mod:`express4d_dataset`.
"""

from .curves import DEFAULT_CURVE_CHANNELS, plot_channel_curves
from .face2d import FACE_REGIONS, render_frame, render_frames
from .files import render_csv
from .video import (
    DEFAULT_MAX_PREVIEW_FPS,
    ffmpeg_available,
    preview_fps,
    preview_frame_indices,
    save_gif,
    save_mp4,
    write_gif,
    write_mp4,
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
    "write_gif",
    "write_mp4",
]
