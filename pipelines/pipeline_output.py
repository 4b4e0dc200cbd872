"""``Express4DPipelineOutput``, the one output of both express4d pipelines, and how motions reach it.

:func:`finalize_motions` turns a model's normalised batch into the motions a caller gets (trimmed,
denormalised, clipped to valid ranges, resampled); :meth:`MotionFiles.save_livelink_csv` writes them as Live Link
Face CSVs that Unreal's and Blender's importers read, and :meth:`MotionFiles.save_glb` as GLBs on the shipped 3D
head, for ``Express4DPipelineOutput`` and for :class:`~pipelines.mdm.light_sampler.LightMDMSampler`'s output alike.

``Express4DPipelineOutput`` is a diffusers ``BaseOutput``; it is created on first use (PEP 562 module
``__getattr__``), so this module imports torch, numpy and the dataset package only, and ``express4d generate``
writes its files without importing diffusers (about 2 s of a cold start).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from express4d_dataset.arkit import NUM_CHANNELS, clip_to_valid_range
from express4d_dataset.atomic_file import atomic_path
from express4d_dataset.livelink import write_livelink_csv
from express4d_dataset.motion import MotionStats, resample_duration

from .pipeline_utils import check_output_fps, check_output_type


def finalize_motions(
    motions: torch.Tensor,
    lengths: Sequence[int],
    stats: MotionStats | None,
    native_fps: float,
    output_fps: float | None = None,
    output_type: str = "np",
) -> list:
    """Turn a normalised batch ``[B, T, 61]`` into the pipeline outputs.

    Each motion is trimmed to its length, denormalised with ``stats`` (skipped when None), clipped to
    the channels' valid ranges (blendshapes [0, 1], head rotations +-90 degrees, eye rotations +-45
    degrees: :func:`~express4d_dataset.arkit.clip_to_valid_range`), brought from ``native_fps`` to
    ``output_fps`` keeping its duration (``T`` frames at 20 fps -> ``3 T`` at 60 fps;
    :func:`~express4d_dataset.motion.resample_duration`) and returned as float32 numpy arrays
    (``output_type="np"``) or CPU torch tensors (``"pt"``).
    """
    check_output_type(output_type)
    out_fps = check_output_fps(output_fps, native_fps)
    if motions.ndim != 3 or motions.shape[-1] != NUM_CHANNELS:
        raise ValueError(f"motions: expected [B, T, {NUM_CHANNELS}], got {tuple(motions.shape)}")
    if len(lengths) != motions.shape[0]:
        raise ValueError(f"lengths: got {len(lengths)} lengths for {motions.shape[0]} motions")
    results = []
    batch = motions.detach().float().cpu()
    for motion, length in zip(batch, lengths):
        m = motion[: int(length)]
        if stats is not None:
            m = clip_to_valid_range(stats.denormalize(m))
        if out_fps != native_fps:
            m = resample_duration(m, native_fps, out_fps)
        results.append(m.numpy().astype(np.float32) if output_type == "np" else m.contiguous())
    return results


_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def safe_file_stem(text: str, max_len: int = 48) -> str:
    """A file-name-safe stem from a caption: ASCII letters/digits joined by ``_``, never empty."""
    stem = _UNSAFE.sub("_", text).strip("_").lower()[:max_len].rstrip("_")
    return stem or "motion"


class MotionFiles:
    """``save_livelink_csv`` / ``save_glb`` of an output with ``motions`` (one ``[T, 61]`` array or tensor each),
    ``fps`` and ``captions``."""

    motions: list
    fps: float
    captions: list

    def save_livelink_csv(self, dir_or_path: str | os.PathLike, overwrite: bool = False, start: int | None = None) -> list[str]:
        """Write each motion as a Live Link Face CSV (importable in Unreal / Blender); returns the paths.

        A path ending in ``.csv`` is valid for a single motion (an existing file is replaced only with
        ``overwrite``).  Anything else is a directory (created if needed) that receives ``000_<caption>.csv``,
        ``001_<caption>.csv``, ...; files already there are never replaced: numbering continues after the
        highest ``NNN_<caption>`` file express4d writes there, unless ``overwrite`` (numbering from 000 again,
        replacing); ``start`` sets the first number (a caller writing one run in batches).  Files are written
        atomically (a temporary name, then renamed).
        """
        target = Path(dir_or_path)
        motions = [m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m) for m in self.motions]
        if target.suffix.lower() == ".csv":
            if len(motions) != 1:
                raise ValueError(
                    f"save_livelink_csv: {target} is a single .csv file but there are {len(motions)} motions; "
                    "pass a directory instead"
                )
            if target.exists() and not overwrite:
                raise FileExistsError(f"save_livelink_csv: {target} exists; pass overwrite=True to replace it")
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_csv_atomic(target, motions[0], self.fps)
            return [str(target)]
        if target.exists() and not target.is_dir():
            raise ValueError(f"save_livelink_csv: {target} exists and is not a directory")
        target.mkdir(parents=True, exist_ok=True)
        if start is None:
            start = 0 if overwrite else next_free_index(target)
        width = max(3, len(str(start + len(motions) - 1)))
        paths = []
        captions = list(self.captions) + [""] * (len(motions) - len(self.captions))
        for i, (motion, caption) in enumerate(zip(motions, captions), start=start):
            path = target / f"{i:0{width}d}_{safe_file_stem(caption)}.csv"
            _write_csv_atomic(path, motion, self.fps)
            paths.append(str(path))
        return paths

    def save_glb(self, dir_or_path: str | os.PathLike, overwrite: bool = False) -> list[str]:
        """Write each motion as a GLB: the shipped 3D head, its ARKit-named morph targets and the motion as one
        animation (three.js, Blender, any glTF viewer); the same naming and never-replace rule as
        :meth:`save_livelink_csv` (``.glb`` path for one motion, else a directory of ``NNN_<caption>.glb``)."""
        from .preview.gltf import save_glb

        target = Path(dir_or_path)
        motions = [m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m) for m in self.motions]
        if target.suffix.lower() == ".glb":
            if len(motions) != 1:
                raise ValueError(f"save_glb: {target} is a single .glb file but there are {len(motions)} motions; pass a directory")
            if target.exists() and not overwrite:
                raise FileExistsError(f"save_glb: {target} exists; pass overwrite=True to replace it")
            target.parent.mkdir(parents=True, exist_ok=True)
            return [str(save_glb(motions[0], target, fps=self.fps))]
        target.mkdir(parents=True, exist_ok=True)
        start = 0 if overwrite else next_free_index(target)
        width = max(3, len(str(start + len(motions) - 1)))
        captions = list(self.captions) + [""] * (len(motions) - len(self.captions))
        return [str(save_glb(m, target / f"{i:0{width}d}_{safe_file_stem(c)}.glb", fps=self.fps))
                for i, (m, c) in enumerate(zip(motions, captions), start=start)]


_NUMBERED = re.compile(r"^(\d+)_[a-z0-9_]+(?:\.csv|\.glb|\.gif|\.mp4|_curves\.png)$")
"""What express4d numbers: ``NNN_<safe_file_stem(caption)>`` and a suffix the generate command writes."""


def next_free_index(folder: Path) -> int:
    """One past the highest number of the files express4d numbers in ``folder`` (0 when there is none):
    ``NNN_<caption>`` with one of the suffixes it writes (a person's ``20250101_notes.txt`` does not count)."""
    used = [int(m.group(1)) for p in folder.iterdir() if (m := _NUMBERED.match(p.name))]
    return max(used) + 1 if used else 0


def _write_csv_atomic(path: Path, motion: np.ndarray, fps: float) -> None:
    with atomic_path(path) as tmp:
        write_livelink_csv(tmp, motion, fps=fps)



def _output_class():
    from diffusers.utils import BaseOutput

    @dataclass
    class Express4DPipelineOutput(MotionFiles, BaseOutput):
        """Output of the express4d text-to-motion pipelines.

        Args:
            motions: one ``[T, 61]`` denormalised motion per generated sample (numpy float32 arrays
                for ``output_type="np"``, torch tensors for ``"pt"``), channels in Live Link Face order,
                ordered prompt by prompt (``num_motions_per_prompt`` consecutive samples each).
            fps: frame rate of ``motions``.
            captions: the prompt of each motion.
        """

        motions: list
        fps: float
        captions: list

    Express4DPipelineOutput.__module__ = __name__
    Express4DPipelineOutput.__qualname__ = "Express4DPipelineOutput"
    return Express4DPipelineOutput


def __getattr__(name: str):
    if name == "Express4DPipelineOutput":
        cls = globals()[name] = _output_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Express4DPipelineOutput", "MotionFiles", "finalize_motions", "next_free_index", "safe_file_stem"]
