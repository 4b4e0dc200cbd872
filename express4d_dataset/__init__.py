"""The Express4D corpus: ARKit schema, Live Link Face I/O, motion batching, builder and Hub export."""

from .arkit import (
    BENCHMARK_FPS,
    BENCHMARK_MAX_FRAMES,
    BENCHMARK_MIN_FRAMES,
    BLENDSHAPE_NAMES,
    CAPTURE_FPS,
    CHANNEL_NAMES,
    GROUPS,
    NUM_CHANNELS,
    ROTATION_NAMES,
    mirror_caption,
    mirror_motion,
)
from .motion import MotionCollator, MotionStats, pad_and_mask, random_crop, resample

__version__ = "0.1.0"
