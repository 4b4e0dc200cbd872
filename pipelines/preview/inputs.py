"""Checks of what the preview functions are given: a ``[T, 61]`` motion and an image size."""

from __future__ import annotations

import logging

import numpy as np

from express4d_dataset.arkit import NUM_CHANNELS

logger = logging.getLogger(__name__)

__all__ = ["check_frames", "check_size"]


def check_frames(frames, name: str = "frames") -> np.ndarray:
    """``frames`` as a float32 ``[T, 61]`` array (one ``[61]`` frame becomes ``[1, 61]``), or a
    ``ValueError`` naming ``name``.  NaN and infinite values are logged and drawn as 0."""
    arr = np.asarray(frames, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != NUM_CHANNELS:
        raise ValueError(
            f"{name} must have shape [T, {NUM_CHANNELS}] (or [{NUM_CHANNELS}] for one frame) in Live Link Face "
            f"channel order, got {tuple(np.shape(frames))}"
        )
    if not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        logger.warning("%s: %d frame(s) hold NaN or infinite values; drawn as 0", name, bad)
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    return arr


def check_size(size: int) -> int:
    """An image width / height in pixels: an integer of at least 32."""
    if not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size must be an integer of at least 32 pixels, got {size!r}")
    return int(size)
