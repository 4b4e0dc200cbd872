"""Motion arrays ``[T, 61]``: resampling, normalisation statistics, crop / pad / mask batching."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .arkit import CHANNEL_NAMES, NUM_CHANNELS, mirror_caption, mirror_motion

DEFAULT_STD_EPS = 1e-3
"""Floor for the per-channel std: constant channels (e.g. TongueOut in many takes) then
normalise to 0 instead of NaN/inf."""


def check_motion(motion: np.ndarray, name: str = "motion") -> np.ndarray:
    """Return ``motion`` as a float32 ``[T, 61]`` array, or raise naming ``name``."""
    arr = np.asarray(motion, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != NUM_CHANNELS:
        raise ValueError(f"{name}: expected an array of shape [T, {NUM_CHANNELS}], got {tuple(arr.shape)}")
    return arr


def to_fps(motion, fps: float, target_fps: float):
    """``motion`` ``[..., T, C]`` at ``target_fps``: every n-th frame when ``fps`` is a whole multiple of it (the
    paper's 60 -> 20 fps: every third frame, no filtering), linear interpolation (:func:`resample`) otherwise."""
    ratio = float(fps) / float(target_fps)
    if abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1:
        return motion[..., :: int(round(ratio)), :]
    return resample(motion, fps, target_fps)


def resample(motion, src_fps: float, dst_fps: float):
    """Linearly interpolate a ``[..., T, C]`` motion (numpy or torch) from ``src_fps`` to ``dst_fps``.

    The first frame is kept; the output spans the same duration, ``round((T - 1) * dst / src) + 1`` frames.
    """
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"fps must be positive, got src_fps={src_fps}, dst_fps={dst_fps}")
    num_in = motion.shape[-2]
    if num_in < 2 or src_fps == dst_fps:
        return motion
    num_out = int(round((num_in - 1) * dst_fps / src_fps)) + 1
    pos = np.arange(num_out, dtype=np.float64) * (src_fps / dst_fps)
    pos = np.minimum(pos, num_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, num_in - 1)
    w = (pos - lo).astype(np.float32)
    if isinstance(motion, np.ndarray):
        if np.issubdtype(motion.dtype, np.floating):  # float64 motions interpolate in float64, not float32's weights
            w = (pos - lo).astype(motion.dtype)
        w = w[:, None]
        return (motion[..., lo, :] * (1 - w) + motion[..., hi, :] * w).astype(motion.dtype)
    import torch

    wt = torch.as_tensor(w, dtype=motion.dtype, device=motion.device)[:, None]
    lo_t = torch.as_tensor(lo, device=motion.device)
    hi_t = torch.as_tensor(hi, device=motion.device)
    return motion.index_select(-2, lo_t) * (1 - wt) + motion.index_select(-2, hi_t) * wt


def smoothstep(x: np.ndarray) -> np.ndarray:
    """The cubic ease ``3x² - 2x³`` of ``x`` clipped to ``[0, 1]``, elementwise.

    0 at and below 0, 1 at and above 1, with zero slope at both ends: the attack and release
    ramps of the synthetic actions and the soft edges of the rendered face use it.
    """
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def resample_duration(motion, src_fps: float, dst_fps: float):
    """Like :func:`resample`, but keeping the motion's *duration*: ``T`` frames at ``src_fps`` last ``T / src_fps``
    seconds, so the output has ``round(T * dst_fps / src_fps)`` frames (120 frames at 20 fps -> 360 at 60 fps,
    6 s both), each sampled at its own centre time and linearly interpolated (clamped at both ends)."""
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"fps must be positive, got src_fps={src_fps}, dst_fps={dst_fps}")
    num_in = motion.shape[-2]
    if num_in < 1 or src_fps == dst_fps:
        return motion
    num_out = max(1, int(round(num_in * dst_fps / src_fps)))
    pos = np.clip((np.arange(num_out, dtype=np.float64) + 0.5) * (src_fps / dst_fps) - 0.5, 0.0, num_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, num_in - 1)
    w = (pos - lo).astype(np.float32)
    if isinstance(motion, np.ndarray):
        return (motion[..., lo, :] * (1 - w[:, None]) + motion[..., hi, :] * w[:, None]).astype(motion.dtype)
    import torch

    wt = torch.as_tensor(w, dtype=motion.dtype, device=motion.device)[:, None]
    return (motion.index_select(-2, torch.as_tensor(lo, device=motion.device)) * (1 - wt)
            + motion.index_select(-2, torch.as_tensor(hi, device=motion.device)) * wt)


@dataclass
class MotionStats:
    """Per-channel mean and (population, eps-floored) std of a motion corpus."""

    mean: np.ndarray  # [61] float32
    std: np.ndarray  # [61] float32, already floored
    eps: float = DEFAULT_STD_EPS
    num_frames: int = 0

    def __post_init__(self):
        self.mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        for label, arr in (("mean", self.mean), ("std", self.std)):
            if arr.shape != (NUM_CHANNELS,):
                raise ValueError(f"MotionStats.{label} must have {NUM_CHANNELS} values, got {arr.shape[0]}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"MotionStats.{label} contains NaN or inf")
        if np.any(self.std <= 0):
            raise ValueError("MotionStats.std must be > 0 everywhere (floor it with eps)")

    @classmethod
    def from_motions(cls, motions: Iterable[np.ndarray], eps: float = DEFAULT_STD_EPS) -> "MotionStats":
        """Mean and population std (ddof=0) over all frames of all motions; std floored at ``eps``.

        Accumulated in float64 in one pass, so the corpus never has to fit in memory at once.
        """
        count = 0
        total = np.zeros(NUM_CHANNELS, dtype=np.float64)
        total_sq = np.zeros(NUM_CHANNELS, dtype=np.float64)
        shift = None  # shifted sums keep the variance accurate for channels far from 0
        for m in motions:
            m = check_motion(m).astype(np.float64)
            if shift is None and len(m):
                shift = m[0].copy()
            if shift is None:
                continue
            d = m - shift
            count += len(m)
            total += d.sum(0)
            total_sq += (d * d).sum(0)
        if count == 0:
            raise ValueError("Cannot compute normalisation statistics from zero frames")
        mean_d = total / count
        var = np.maximum(total_sq / count - mean_d**2, 0.0)
        std = np.maximum(np.sqrt(var), eps)
        return cls(mean=(mean_d + shift).astype(np.float32), std=std.astype(np.float32), eps=eps, num_frames=count)

    def normalize(self, motion):
        """``(motion - mean) / std`` for numpy arrays or torch tensors ``[..., 61]``."""
        mean, std = self._like(motion)
        return (motion - mean) / std

    def denormalize(self, motion):
        mean, std = self._like(motion)
        return motion * std + mean

    def _like(self, x):
        if isinstance(x, np.ndarray):
            return self.mean.astype(x.dtype, copy=False), self.std.astype(x.dtype, copy=False)
        import torch

        return (
            torch.as_tensor(self.mean, dtype=x.dtype, device=x.device),
            torch.as_tensor(self.std, dtype=x.dtype, device=x.device),
        )

    def to_dict(self) -> dict:
        """JSON-able form, also what model configs store (``channel_names`` included)."""
        return {
            "channel_names": list(CHANNEL_NAMES),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "eps": float(self.eps),
            "num_frames": int(self.num_frames),
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "stats") -> "MotionStats":
        for key in ("mean", "std"):
            if key not in data:
                raise ValueError(f"{source}: normalisation statistics lack {key!r}")
        names = data.get("channel_names")
        if names is not None and [n.lower() for n in names] != [n.lower() for n in CHANNEL_NAMES]:
            raise ValueError(f"{source}: channel_names do not match the 61 Live Link Face channels in order")
        return cls(
            mean=data["mean"], std=data["std"], eps=data.get("eps", DEFAULT_STD_EPS), num_frames=data.get("num_frames", 0)
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (human-readable, diff-able; 61 numbers need nothing heavier)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MotionStats":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"Normalisation statistics not found at {path}; build them with `express4d data build`") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(data, source=str(path))


def row_captions(row) -> list[str]:
    """The non-blank captions of a dataset row as ``str``, whatever the format (list, numpy array, None)."""
    return [caption for caption, _ in row_caption_pairs(row)]


def row_annotations(row) -> dict | None:
    """A row's ``annotations`` (the stand-in corpus' plan of the take, a JSON string in the dataset), or None."""
    value = row.get("annotations")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return json.loads(value) if isinstance(value, str) else dict(value)


def row_caption_pairs(row) -> list[tuple[str, str | None]]:
    """``(caption, the same caption with its steps reversed or None)`` for every non-blank caption of a row;
    the reversed captions come from the row's annotations (stand-in corpus), else None."""
    caps = row.get("captions")
    caps = [] if caps is None else [str(c) for c in caps]
    swapped = list((row_annotations(row) or {}).get("swapped_captions") or [])
    swapped += [None] * (len(caps) - len(swapped))
    return [(c, s or None) for c, s in zip(caps, swapped) if c.strip()]


def random_crop(
    motion: np.ndarray,
    max_frames: int,
    rng: np.random.Generator | None = None,
    max_offset: int | None = None,
    min_frames: int = 20,
):
    """Crop a motion to at most ``max_frames`` frames starting at a random frame.

    Without ``max_offset``: a classic random crop (start in ``0 .. T - max_frames``).  With
    ``max_offset`` (the paper code's training items start at 0..10): the start is drawn in
    ``0 .. max_offset`` whatever the length, so rows already cut to 196 frames are shifted too,
    but never so far that fewer than ``min_frames`` frames remain.  ``rng=None`` starts at 0
    (evaluation).
    """
    n = len(motion)
    if max_offset is None:
        hi = max(n - max_frames, 0)
    else:
        hi = min(max_offset, max(n - min_frames, 0))
    start = int(rng.integers(0, hi + 1)) if (rng is not None and hi > 0) else 0
    return motion[start : start + max_frames]


def pad_and_mask(motions: Sequence, max_frames: int | None = None):
    """Stack variable-length motions into ``(padded [B, T, C] float32 tensor, mask [B, T] bool, lengths [B])``.

    ``mask`` is True on valid frames.  Padding is zeros; ``T`` is the longest motion (or ``max_frames``).
    """
    import torch

    if len(motions) == 0:
        raise ValueError("pad_and_mask needs at least one motion")
    tensors = [torch.as_tensor(np.asarray(m, dtype=np.float32)) for m in motions]
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    width = int(lengths.max()) if max_frames is None else max_frames
    if int(lengths.max()) > width:
        raise ValueError(f"a motion has {int(lengths.max())} frames, more than max_frames={width}")
    out = torch.zeros(len(tensors), width, tensors[0].shape[-1])
    for i, t in enumerate(tensors):
        out[i, : len(t)] = t
    mask = torch.arange(width)[None, :] < lengths[:, None]
    return out, mask, lengths


class MotionCollator:
    """DataLoader ``collate_fn`` for dataset rows (``motion``, ``captions``).

    Per item: random crop to ``max_frames`` (offset capped by ``max_offset``), normalisation with
    ``stats``, one caption drawn at random, optional left/right flip with probability
    ``flip_prob``.  Returns a dict with ``motion`` [B,T,61], ``mask`` [B,T], ``lengths`` [B],
    ``captions`` (list of str), ``swapped_captions`` (each caption with its steps reversed, or None: from the
    stand-in corpus' annotations) and ``ids``.  ``seed`` makes the draws reproducible; ``train=False``
    turns every random choice off (crop at 0, first caption, no flip).
    """

    def __init__(
        self,
        stats: MotionStats | None,
        max_frames: int = 196,
        train: bool = True,
        max_offset: int | None = 10,
        flip_prob: float = 0.0,
        seed: int | None = None,
    ):
        self.stats = stats
        self.max_frames = max_frames
        self.train = train
        self.max_offset = max_offset
        self.flip_prob = flip_prob
        self.rng = np.random.default_rng(seed)

    def __call__(self, rows: Sequence[dict]) -> dict:
        motions, captions, swapped, ids = [], [], [], []
        for row in rows:
            m = check_motion(np.asarray(row["motion"]), name=f"row {row.get('id', '?')}")
            pairs = row_caption_pairs(row) or [("", None)]
            if self.train:
                m = random_crop(m, self.max_frames, self.rng, self.max_offset)
                cap, swap = pairs[int(self.rng.integers(len(pairs)))]
                if self.flip_prob > 0 and self.rng.random() < self.flip_prob:
                    m, cap = mirror_motion(m), mirror_caption(cap)
                    swap = mirror_caption(swap) if swap else None
            else:
                m, (cap, swap) = m[: self.max_frames], pairs[0]
            if self.stats is not None:
                m = self.stats.normalize(m)
            motions.append(m)
            captions.append(cap)
            swapped.append(swap)
            ids.append(row.get("id"))
        motion, mask, lengths = pad_and_mask(motions)
        return {"motion": motion, "mask": mask, "lengths": lengths, "captions": captions, "swapped_captions": swapped,
                "ids": ids}
