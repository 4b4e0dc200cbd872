"""What the metric accepts, checked before any work: motions (shape, finite values, frame rate, length),
captions, embeddings, counts and the evaluator's folder.  Every error names the argument and entry.

Motions reach the evaluator at its own frame rate (20 fps for the benchmark): ``fps=`` says the rate of the
motions given, and motions at another rate are brought to it (every n-th frame for a whole ratio, as the
paper's 60 -> 20 fps, else linear interpolation) with a warning; motions longer than the evaluator's
``max_frames`` (196) are cropped to their first ``max_frames`` frames, as the benchmark does, and the
warning says how many and by how much.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

logger = logging.getLogger("express4d_metrics")  # one name, not the hash-named module evaluate.load creates

NUM_CHANNELS = 61
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def check_motion(value, name: str) -> np.ndarray:
    """``value`` as a finite float32 ``[T, 61]`` array with ``T >= 1``, or a ValueError naming ``name``."""
    try:
        a = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a [T, {NUM_CHANNELS}] array of numbers, got {type(value).__name__}") from None
    if a.ndim != 2 or a.shape[1] != NUM_CHANNELS:
        raise ValueError(f"{name}: expected a [T, {NUM_CHANNELS}] motion (the 61 Live Link Face channels, 52 blendshapes "
                         f"then 9 head and eye rotations), got shape {tuple(a.shape)}")
    if a.shape[0] < 1:
        raise ValueError(f"{name}: an empty motion (0 frames)")
    bad = ~np.isfinite(a)
    if bad.any():
        frame, channel = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}: {int(bad.sum())} value(s) are NaN or infinite (the first at frame {frame}, channel "
                         f"{channel}); the metric scores finite motions only: fix or drop that motion")
    return a


def check_motions(values, name: str) -> list:
    if isinstance(values, np.ndarray):
        if values.ndim != 3:
            raise ValueError(f"{name}: expected a list of [T, {NUM_CHANNELS}] motions, got one array of shape "
                             f"{tuple(values.shape)}; pass a list (or an [N, T, {NUM_CHANNELS}] array)")
        values = list(values)
    elif not isinstance(values, (list, tuple)):
        if isinstance(values, (str, bytes, dict)) or not (hasattr(values, "__iter__") and hasattr(values, "__len__")):
            raise ValueError(f"{name}: expected a list of [T, {NUM_CHANNELS}] motions, got {type(values).__name__}")
        values = list(values)  # a datasets Column (datasets 4) or another sequence
    return [check_motion(v, f"{name}[{i}]") for i, v in enumerate(values)]


def check_embeddings(value, name: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim < 2 or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name}: expected an [N, D] array of numbers, got shape {tuple(a.shape)} ({a.dtype})")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: {int((~np.isfinite(a)).sum())} value(s) are NaN or infinite; embed finite motions")
    return a


def check_texts(texts, name: str = "texts") -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, (list, tuple, np.ndarray)):
        raise ValueError(f"{name}: expected a list of caption strings, got {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"{name}[{i}]: expected a caption string, got {type(t).__name__} {t!r}")
    return list(texts)


def check_count(value, name: str, minimum: int = 1, optional: bool = False):
    """An integer >= ``minimum`` (``None`` too when ``optional``), or a ValueError naming ``name``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"express4d_metrics: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_fps(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"express4d_metrics: {name} must be a positive frame rate (frames per second), got {value!r}")
    return float(value)


def require_fps(fps, name: str = "fps") -> float:
    if fps is None:
        raise ValueError(
            f"express4d_metrics: pass {name}= (the frame rate of the motions given: 20 for the benchmark's data, 60 for "
            "Live Link Face captures and `express4d generate` CSVs); the evaluator reads one rate, and motions at "
            "another score wrongly (they are resampled to its rate, with a warning)"
        )
    return check_fps(fps, name)


def at_evaluator_rate(motions: list, fps: float, evaluator_fps: float, max_frames: int, name: str,
                      warned: set | None = None) -> list:
    """``motions`` brought from ``fps`` to ``evaluator_fps`` (loudly) and cropped to ``max_frames`` (said how much).

    ``warned``: the warnings already given in this call (keyed by what and the argument), so per-replication
    lists warn once."""
    warned = set() if warned is None else warned
    what = name.split("[")[0]
    if abs(fps - evaluator_fps) > 1e-6:
        from express4d_dataset.motion import to_fps

        if ("rate", what) not in warned:
            warned.add(("rate", what))
            logger.warning("%s: motions at %g fps resampled to the evaluator's %g fps (its training rate)", what, fps,
                           evaluator_fps)
        motions = [np.ascontiguousarray(to_fps(m, fps, evaluator_fps)) for m in motions]
    long = [len(m) for m in motions if len(m) > max_frames]
    if long and ("length", what) not in warned:
        warned.add(("length", what))
        logger.warning(
            "%s: %d of %d motion(s) are longer than the evaluator's %d frames (%.1f s at %g fps; the longest %d frames, "
            "%.1f s): only their first %d frames are scored, as in the benchmark", name, len(long), len(motions),
            max_frames, max_frames / evaluator_fps, evaluator_fps, max(long), max(long) / evaluator_fps, max_frames,
        )
    if long:
        motions = [m[:max_frames] for m in motions]
    return motions


def check_evaluator_path(evaluator: str) -> None:
    """An existing path must be a folder holding ``config.json``; a missing one must look like a Hub id (``owner/name``)."""
    path = Path(evaluator).expanduser()
    if not path.exists():
        if _HUB_ID.fullmatch(evaluator) and not evaluator.startswith("."):
            return
        raise ValueError(f"express4d_metrics: evaluator {evaluator}: no such folder; pass the output folder of "
                         "`train.py --model evaluator`, or a Hub id (owner/name)")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ValueError(f"express4d_metrics: evaluator {evaluator}: not an evaluator folder (no config.json); pass the "
                         "output folder of `train.py --model evaluator`")
