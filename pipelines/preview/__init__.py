"""What a person looks at: previews of a ``[T, 61]`` Live Link Face motion.

* :mod:`.face2d`: the procedural 2D face drawn from the channels alone (:func:`render_frame`,
  :func:`render_frames`; its layout and per-feature geometry in ``face2d_layout`` /
  ``face2d_geometry``);
* :mod:`.video`: which frames a preview shows, GIF and MP4 encoding (:func:`save_gif`,
  :func:`save_mp4` for the 2D face; :func:`write_gif`, :func:`write_mp4` for any renderer's images);
* :mod:`.head3d`: the 3D preview, the shipped ICT-FaceKit head shaded on the CPU
  (:func:`render_head_frames`, :func:`save_head_gif`, :func:`save_head_mp4`; the channel mapping in
  :mod:`.arkit_head`, the numpy rasteriser in :mod:`.raster`);
* :mod:`.gltf`: the head, its ARKit morph targets and a motion's animation as a GLB (:func:`save_glb`);
* :mod:`.curves`: channel curves over time as a PNG (:func:`plot_channel_curves`);
* :mod:`.files`: all of it for a Live Link Face CSV (:func:`render_csv`, 3D by default) or a motion in memory
  (:func:`render_motion`); :func:`export_csv` for the GLB.

Needs only numpy, Pillow, safetensors and :mod:`express4d_dataset`.
"""

from .curves import DEFAULT_CURVE_CHANNELS, curve_channels, plot_channel_curves
from .arkit_head import HeadModel, load_head
from .face2d import FACE_REGIONS, render_frame, render_frames
from .files import EXPORT_FORMATS, PREVIEWS, export_csv, render_csv, render_motion
from .gltf import glb_bytes, save_glb
from .head3d import (
    CAMERAS,
    DEFAULT_CAMERA,
    camera_yaw,
    head_regions,
    render_head_frame,
    render_head_frames,
    save_head_gif,
    save_head_mp4,
)
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
    "CAMERAS",
    "DEFAULT_CAMERA",
    "EXPORT_FORMATS",
    "HeadModel",
    "PREVIEWS",
    "camera_yaw",
    "export_csv",
    "glb_bytes",
    "head_regions",
    "load_head",
    "render_head_frame",
    "render_head_frames",
    "save_glb",
    "save_head_gif",
    "save_head_mp4",
    "DEFAULT_CURVE_CHANNELS",
    "DEFAULT_MAX_PREVIEW_FPS",
    "FACE_REGIONS",
    "curve_channels",
    "ffmpeg_available",
    "plot_channel_curves",
    "preview_fps",
    "preview_frame_indices",
    "render_csv",
    "render_frame",
    "render_motion",
    "render_frames",
    "save_gif",
    "save_mp4",
    "write_gif",
    "write_mp4",
]
