"""How real does a corpus move?  Per-channel motion statistics of a corpus against real reference takes.

The procedural stand-in corpus (:mod:`express4d_dataset.synthetic`) is calibrated against real Live Link
Face takes; this module measures how close it is.  Both corpora are brought to one row rate (30 rows/s
by default, the rate of the real reference takes: every k-th row, or linear interpolation for other ratios;
each run of tracked rows on its own) and described channel by channel over the 52 blendshapes and the six
eye rotations (head rotations are left out: the reference takes have head tracking off):

* **speed**: mean ``|x[t+1] - x[t]|`` per second, over all consecutive valid rows;
* **spread**: the standard deviation over all rows (what the normalisation statistics see);
* **resting level**: each take's 10th percentile (a blendshape) or median (an eye rotation), median over takes;
* **jitter**: mean ``|x[t+1] - 2 x[t] + x[t-1]|`` per second squared;
* **tracking noise**: the residual of the curve minus a Gaussian low-pass (sigma 1/15 s), its robust
  standard deviation (1.4826 MAD) and its lag-1 autocorrelation (rows with ``|residual|`` above
  5 robust std, i.e. real motion, left out), on rows where a blendshape is clear of 0 (a clipped
  channel shows no noise);
* **blinks**: peaks of the mean ``EyeBlink`` curve above 0.2 (peaks closer than 1/6 s merged): rate per
  minute, median interval, median peak and width at half height.

:func:`compare` summarises a corpus against the reference: the median over channels of the speed ratio
(corpus / reference), Pearson correlations over channels of spread and of resting level, median jitter
and noise ratios, and the worst channels.  :data:`TARGETS` are the stand-in corpus's acceptance bounds.
``python benchmarks/realism.py`` prints the table; the dataset card of a stand-in build states the
summary (:func:`realism_card_section`).

Reference takes may contain rows where the face was not tracked (Live Link Face writes ``TIMECODE,0``:
a blendshape count of 0 and no values) and frames missing from the timecode sequence:
:func:`read_reference_take` keeps them as gaps (rows of NaN), so that no difference spans a gap.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .arkit import CHANNEL_NAMES, NUM_BLENDSHAPES, NUM_CHANNELS
from .livelink import read_livelink_csv
from .livelink_checks import parse_timecodes

logger = logging.getLogger(__name__)

COMPARE_FPS = 30.0
"""Common row rate of the comparison: the rate of the real reference takes."""
CHANNELS: tuple[int, ...] = tuple(range(NUM_BLENDSHAPES)) + tuple(range(NUM_BLENDSHAPES + 3, NUM_CHANNELS))
"""Channels compared: the 52 blendshapes and the six eye rotations (head rotations are zero in the references)."""
CHANNEL_LABELS: tuple[str, ...] = tuple(CHANNEL_NAMES[c] for c in CHANNELS)
REST_PERCENTILE = 10.0
NOISE_SIGMA_SECONDS = 1.0 / 15.0
"""Gaussian low-pass whose residual is the tracking noise (2 rows at 30 rows/s)."""
NOISE_CLEAR_OF_ZERO = 0.02
"""A blendshape's residual counts only where the low-passed curve is above this (clipped at 0 it shows no noise)."""
BLINK_THRESHOLD = 0.2
SPEED_FLOOR = 0.01
"""Floor (per second) under both speeds of a ratio, so that channels that hardly move do not dominate it."""
SPREAD_FLOOR = 0.005
JITTER_FLOOR = 0.3
NOISE_FLOOR = 1e-4
TARGETS = {"speed_ratio": (0.67, 1.5), "spread_correlation": 0.75}
"""The stand-in corpus's acceptance bounds: median speed ratio inside the interval, spread correlation at least this."""

DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "livelink"
"""``../shared/fixtures/livelink`` beside the project checkout: real Live Link Face takes (read-only fixtures)."""
REFERENCE_ENV = "EXPRESS4D_REALISM_REFERENCE"
"""Environment variable naming another folder of real reference takes (``*.csv``)."""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass
class ReferenceTake:
    """A real take on a regular row grid: ``frames`` ``[T, 61]`` float64 with NaN rows where nothing was tracked."""

    frames: np.ndarray
    fps: float
    name: str
    lost_rows: int = 0
    """Rows written while the face was not tracked (``TIMECODE,0``)."""
    missing_rows: int = 0
    """Frames missing from the timecode sequence."""


def read_reference_take(path: str | os.PathLike) -> ReferenceTake:
    """Read a Live Link Face CSV with :func:`~express4d_dataset.livelink.read_livelink_csv`, keeping lost
    tracking and dropped frames as gaps.

    Rows are placed on the grid their timecodes say (row rate inferred from the timecodes), so lost-tracking
    rows (``TIMECODE,0``) and frames missing from the timecode sequence become NaN rows.  Raises the reader's
    :class:`~express4d_dataset.livelink.LiveLinkFormatError` (a ``ValueError`` naming the file and line) for
    anything malformed, and a ``ValueError`` where the timecode does not advance.
    """
    import pyarrow as pa

    # every row in file order: gaps of any length filled here, then blanked below
    take = read_livelink_csv(path, untracked="interpolate", max_untracked_gap=1e9)
    frames = take.frames.astype(np.float64)
    for span in take.untracked_spans:
        frames[span.first_row : span.last_row + 1] = np.nan
    name = Path(path).name
    if len(frames) - take.untracked_frames < 2:
        raise ValueError(f"{path}: fewer than two tracked rows")
    if not take.timecodes:
        return ReferenceTake(frames, float(take.fps), name, lost_rows=take.untracked_frames)
    parts = parse_timecodes(path, pa.array(take.timecodes, pa.string()), np.arange(len(frames)) + 2)
    base = take.timecode_fps or 60
    t = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2] + (parts[:, 3] + parts[:, 4]) / base
    dt = np.diff(t)
    dt[dt < -43200] += 86400  # a take across midnight
    if np.any(dt <= 0):
        raise ValueError(f"{path}, line {int(np.flatnonzero(dt <= 0)[0]) + 3}: the timecode does not advance")
    # rows a whole number of steps apart (sub-frame parts drift, so each step is rounded, not the running time)
    index = np.concatenate([[0], np.cumsum(np.maximum(np.round(dt * take.fps), 1))]).astype(np.int64)
    grid = np.full((int(index[-1]) + 1, NUM_CHANNELS), np.nan)
    grid[index] = frames
    return ReferenceTake(grid, float(take.fps), name, lost_rows=take.untracked_frames, missing_rows=len(grid) - len(frames))


def find_reference_dir(reference_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder of real reference takes: the one given, else ``$EXPRESS4D_REALISM_REFERENCE``, else
    :data:`DEFAULT_REFERENCE_DIR`; None when it does not exist or holds no ``*.csv``."""
    if reference_dir is not None:
        candidates = [reference_dir]
    else:
        candidates = [os.environ.get(REFERENCE_ENV), DEFAULT_REFERENCE_DIR]
    for folder in candidates:
        if folder and Path(folder).is_dir() and any(Path(folder).glob("*.csv")):
            return Path(folder)
    return None


def read_reference_takes(reference_dir: str | os.PathLike) -> list[ReferenceTake]:
    """Every ``*.csv`` in the folder, in name order (see :func:`read_reference_take`)."""
    paths = sorted(Path(reference_dir).glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"{reference_dir}: no Live Link Face takes (*.csv) to compare against")
    return [read_reference_take(p) for p in paths]


def read_corpus_takes(raw_dir: str | os.PathLike, limit: int | None = None) -> list[tuple[np.ndarray, float]]:
    """``(frames, fps)`` of the takes in a raw corpus folder (``data/<id>.csv`` or ``.npy`` at 60 fps), in id order."""
    from .arkit import CAPTURE_FPS
    from .livelink import read_livelink_csv

    data = Path(raw_dir) / "data"
    paths = sorted(p for p in data.glob("*") if p.suffix in (".csv", ".npy")) if data.is_dir() else []
    if not paths:
        raise FileNotFoundError(f"{raw_dir}: no takes in data/ (the raw layout `express4d data synth` writes)")
    out = []
    for p in paths[:limit]:
        if p.suffix == ".npy":
            out.append((np.load(p, allow_pickle=False).astype(np.float64), float(CAPTURE_FPS)))
        else:
            take = read_livelink_csv(p)
            out.append((take.frames.astype(np.float64), float(take.fps)))
    return out


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def valid_segments(frames: np.ndarray, fps: float, rate: float, min_rows: int = 8) -> list[np.ndarray]:
    """Runs of valid rows of one take, each resampled to ``rate`` (only the compared channels, :data:`CHANNELS`);
    the input of :func:`blink_statistics`."""
    x = np.asarray(frames, dtype=np.float64)[:, CHANNELS]
    valid = np.isfinite(x).all(axis=1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    out = []
    for a, b in zip(edges[::2], edges[1::2]):
        seg = _to_rate(x[a:b], fps, rate)
        if len(seg) >= min_rows:
            out.append(seg)
    return out


def _to_rate(x: np.ndarray, fps: float, rate: float) -> np.ndarray:
    """Rows at ``rate`` within the span of ``x`` (every k-th row for a whole ratio, else linear interpolation)."""
    if fps == rate:
        return x
    step = fps / rate
    if abs(step - round(step)) < 1e-9:
        return x[:: int(round(step))]
    t = np.arange(int(np.floor((len(x) - 1) / step + 1e-9)) + 1) * step
    return np.stack([np.interp(t, np.arange(len(x)), x[:, c]) for c in range(x.shape[1])], axis=1)


def gaussian_lowpass(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass of ``[T, C]`` along time (``sigma`` in rows; edges reflected)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x, ((radius, radius), (0, 0)), mode="reflect" if len(x) > radius else "edge")
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        out[:, c] = np.convolve(padded[:, c], k, mode="valid")
    return out


@dataclass
class BlinkStatistics:
    count: int
    minutes: float
    rate_per_minute: float
    median_interval: float
    median_peak: float
    median_width: float
    """Seconds above half the peak (relative to the level before the blink)."""


def blink_statistics(segments: Sequence[np.ndarray], rate: float) -> BlinkStatistics:
    """Blinks of the mean ``EyeBlinkLeft``/``EyeBlinkRight`` curve in segments at ``rate`` rows/s."""
    left, right = (CHANNELS.index(CHANNEL_NAMES.index(n)) for n in ("EyeBlinkLeft", "EyeBlinkRight"))
    merge = max(1, int(round(rate / 6)))
    intervals, peaks, widths, count, rows = [], [], [], 0, 0
    for seg in segments:
        b = 0.5 * (seg[:, left] + seg[:, right])
        rows += len(b)
        if len(b) < 3:
            continue
        local = np.flatnonzero((b[1:-1] > BLINK_THRESHOLD) & (b[1:-1] >= b[:-2]) & (b[1:-1] > b[2:])) + 1
        kept: list[int] = []
        for p in local:
            if kept and p - kept[-1] < merge:
                if b[p] > b[kept[-1]]:
                    kept[-1] = int(p)
            else:
                kept.append(int(p))
        count += len(kept)
        intervals += list(np.diff(kept) / rate)
        for p in kept:
            lo = float(b[max(0, p - merge * 2) : p + 1].min())
            half = lo + 0.5 * (b[p] - lo)
            i, j = p, p
            while i > 0 and b[i - 1] > half:
                i -= 1
            while j < len(b) - 1 and b[j + 1] > half:
                j += 1
            peaks.append(float(b[p]))
            widths.append((j - i + 1) / rate)
    minutes = rows / rate / 60.0
    rate_per_minute = count / minutes if minutes else float("nan")
    med = [_finite_median(np.asarray(v, dtype=np.float64)) for v in (intervals, peaks, widths)]
    return BlinkStatistics(count, minutes, rate_per_minute, *med)


@dataclass
class CorpusStatistics:
    """Per-channel statistics of a corpus at a common row rate (arrays aligned with :data:`CHANNELS`)."""

    speed: np.ndarray
    spread: np.ndarray
    rest: np.ndarray
    jitter: np.ndarray
    noise: np.ndarray
    noise_autocorrelation: np.ndarray
    blinks: BlinkStatistics
    rate: float
    num_takes: int
    seconds: float


def corpus_statistics(takes: Iterable[tuple[np.ndarray, float]], rate: float = COMPARE_FPS) -> CorpusStatistics:
    """Statistics of ``(frames [T, 61], fps)`` takes (NaN rows are gaps) at ``rate`` rows per second."""
    n = len(CHANNELS)
    sums = {k: np.zeros(n) for k in ("d1", "d2", "x", "xx")}
    counts = {"d1": 0, "d2": 0, "x": 0}
    rests, residuals, segments_all, num_takes = [], [], [], 0
    sigma = NOISE_SIGMA_SECONDS * rate
    trim = int(np.ceil(3 * sigma))
    is_bs = np.array([c < NUM_BLENDSHAPES for c in CHANNELS])
    for frames, fps in takes:
        segments = valid_segments(frames, fps, rate)
        if not segments:
            continue
        num_takes += 1
        segments_all += segments
        rows = np.concatenate(segments)
        rests.append(np.where(is_bs, np.percentile(rows, REST_PERCENTILE, axis=0), np.median(rows, axis=0)))
        for seg in segments:
            d1 = np.diff(seg, axis=0)
            d2 = np.diff(seg, n=2, axis=0)
            sums["d1"] += np.abs(d1).sum(0)
            sums["d2"] += np.abs(d2).sum(0)
            counts["d1"] += len(d1)
            counts["d2"] += len(d2)
            sums["x"] += seg.sum(0)
            sums["xx"] += (seg * seg).sum(0)
            counts["x"] += len(seg)
            if len(seg) > 2 * trim + 2:
                low = gaussian_lowpass(seg, sigma)
                res = (seg - low)[trim:-trim]
                clear = ~is_bs[None, :] | (low[trim:-trim] > NOISE_CLEAR_OF_ZERO)
                residuals.append(np.where(clear, res, np.nan))
    if not num_takes:
        raise ValueError("corpus_statistics: no take has enough valid rows")
    mean = sums["x"] / counts["x"]
    spread = np.sqrt(np.maximum(sums["xx"] / counts["x"] - mean * mean, 0.0))
    noise, autocorr = _noise(residuals)
    return CorpusStatistics(
        speed=sums["d1"] / max(counts["d1"], 1) * rate,
        spread=spread,
        rest=np.median(np.asarray(rests), axis=0),
        jitter=sums["d2"] / max(counts["d2"], 1) * rate * rate,
        noise=noise,
        noise_autocorrelation=autocorr,
        blinks=blink_statistics(segments_all, rate),
        rate=float(rate),
        num_takes=num_takes,
        seconds=counts["x"] / rate,
    )


def _noise(residuals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Robust std and lag-1 autocorrelation (outliers beyond 5 robust std left out) per channel; NaN where a
    channel never has a residual (a blendshape that never leaves 0)."""
    n = len(CHANNELS)
    std, autocorr = np.full(n, np.nan), np.full(n, np.nan)
    for c in range(n):
        runs = [r[:, c] for r in residuals]
        values = np.concatenate([v[np.isfinite(v)] for v in runs]) if runs else np.zeros(0)
        if len(values) < 10:
            continue
        med = float(np.median(values))
        std[c] = 1.4826 * float(np.median(np.abs(values - med)))
        num = den = 0.0
        for v in runs:
            ok = np.isfinite(v) & (np.abs(v - med) <= 5 * max(std[c], 1e-12))
            a = np.where(ok, v - med, 0.0)
            num += float(np.sum(a[1:] * a[:-1] * (ok[1:] & ok[:-1])))
            den += float(np.sum(a * a))
        autocorr[c] = num / den if den > 0 else np.nan
    return std, autocorr


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def _ratio(a: np.ndarray, b: np.ndarray, floor: float) -> np.ndarray:
    return np.maximum(a, floor) / np.maximum(b, floor)


def _finite_median(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(np.median(a)) if len(a) else float("nan")


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


@dataclass
class RealismReport:
    """A corpus against the real reference: per-channel ratios and the summary figures."""

    corpus: CorpusStatistics
    reference: CorpusStatistics
    speed_ratio: np.ndarray = field(init=False)
    spread_ratio: np.ndarray = field(init=False)
    jitter_ratio: np.ndarray = field(init=False)
    noise_ratio: np.ndarray = field(init=False)

    def __post_init__(self):
        c, r = self.corpus, self.reference
        self.speed_ratio = _ratio(c.speed, r.speed, SPEED_FLOOR)
        self.spread_ratio = _ratio(c.spread, r.spread, SPREAD_FLOOR)
        self.jitter_ratio = _ratio(c.jitter, r.jitter, JITTER_FLOOR)
        both = np.isfinite(c.noise) & np.isfinite(r.noise)
        ratio = _ratio(np.where(both, c.noise, 0.0), np.where(both, r.noise, 0.0), NOISE_FLOOR)
        self.noise_ratio = np.where(both, ratio, np.nan)

    @property
    def summary(self) -> dict[str, float]:
        c, r = self.corpus, self.reference
        return {
            "speed_ratio": float(np.median(self.speed_ratio)),
            "spread_correlation": _pearson(c.spread, r.spread),
            "rest_correlation": _pearson(c.rest, r.rest),
            "jitter_ratio": float(np.median(self.jitter_ratio)),
            "noise_ratio": _finite_median(self.noise_ratio),
            "noise_autocorrelation": _finite_median(c.noise_autocorrelation),
            "reference_noise_autocorrelation": _finite_median(r.noise_autocorrelation),
            "blink_rate": c.blinks.rate_per_minute,
            "reference_blink_rate": r.blinks.rate_per_minute,
        }

    @property
    def meets_targets(self) -> bool:
        s = self.summary
        lo, hi = TARGETS["speed_ratio"]
        return lo <= s["speed_ratio"] <= hi and s["spread_correlation"] >= TARGETS["spread_correlation"]

    def worst_channels(self, k: int = 5) -> dict[str, list[tuple[str, float]]]:
        """The ``k`` channels furthest from the reference in speed and in spread (ratio, log distance)."""
        out = {}
        for name, ratio in (("speed", self.speed_ratio), ("spread", self.spread_ratio)):
            order = np.argsort(-np.abs(np.log(ratio)), kind="stable")[:k]
            out[name] = [(CHANNEL_LABELS[i], float(ratio[i])) for i in order]
        return out

    def summary_table(self, corpus_name: str = "stand-in", reference_name: str = "real") -> str:
        """A Markdown table of the summary figures with the targets."""
        s, c, r = self.summary, self.corpus, self.reference
        lo, hi = TARGETS["speed_ratio"]
        cb, rb = c.blinks, r.blinks
        rows = [
            ("median speed ratio (per channel, corpus / reference)", f"{s['speed_ratio']:.2f}", f"{lo}–{hi}"),
            ("spread correlation (Pearson over channels)", f"{s['spread_correlation']:.2f}",
             f"≥ {TARGETS['spread_correlation']}"),
            ("resting-level correlation", f"{s['rest_correlation']:.2f}", ""),
            ("median jitter ratio", f"{s['jitter_ratio']:.2f}", ""),
            ("median tracking-noise ratio", f"{s['noise_ratio']:.2f}", ""),
            ("tracking-noise lag-1 autocorrelation",
             f"{s['noise_autocorrelation']:.2f} (reference {s['reference_noise_autocorrelation']:.2f})", ""),
            ("blinks per minute", f"{cb.rate_per_minute:.1f} (reference {rb.rate_per_minute:.1f})", ""),
            ("median blink interval, s", f"{cb.median_interval:.2f} (reference {rb.median_interval:.2f})", ""),
            ("median blink peak / width at half height, s",
             f"{cb.median_peak:.2f} / {cb.median_width:.2f} "
             f"(reference {rb.median_peak:.2f} / {rb.median_width:.2f})", ""),
        ]
        lines = [f"| {corpus_name} vs {reference_name} at {c.rate:g} rows/s | value | target |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {t} |" for a, b, t in rows]
        return "\n".join(lines)

    def channel_table(self) -> str:
        """A Markdown table: every compared channel, corpus and reference side by side."""
        c, r = self.corpus, self.reference
        lines = [
            "| channel | speed ref | speed corpus | ratio | spread ref | spread corpus | rest ref | rest corpus | "
            "jitter ref | jitter corpus | noise ref | noise corpus |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for i, name in enumerate(CHANNEL_LABELS):
            lines.append(
                f"| {name} | {r.speed[i]:.3f} | {c.speed[i]:.3f} | {self.speed_ratio[i]:.2f} | {r.spread[i]:.3f} | "
                f"{c.spread[i]:.3f} | {r.rest[i]:.3f} | {c.rest[i]:.3f} | {r.jitter[i]:.2f} | {c.jitter[i]:.2f} | "
                f"{r.noise[i]:.4f} | {c.noise[i]:.4f} |"
            )
        return "\n".join(lines)


def compare(corpus: CorpusStatistics, reference: CorpusStatistics) -> RealismReport:
    """A corpus's statistics against the reference's (both at the same row rate)."""
    if corpus.rate != reference.rate:
        raise ValueError(
            f"compare: the corpus is at {corpus.rate} rows/s and the reference at {reference.rate}; use one rate"
        )
    return RealismReport(corpus, reference)


def reference_statistics(reference_dir: str | os.PathLike, rate: float = COMPARE_FPS) -> CorpusStatistics:
    """Statistics of the real reference takes in a folder."""
    return corpus_statistics(((t.frames, t.fps) for t in read_reference_takes(reference_dir)), rate)


# --------------------------------------------------------------------------------------------
# The dataset card
# --------------------------------------------------------------------------------------------

REPRODUCE_COMMAND = "python benchmarks/realism.py --synth RAW_DIR --real ../shared/fixtures/livelink"


def realism_card_section(
    takes: Iterable[tuple[np.ndarray, float]], reference_dir: str | os.PathLike | None = None
) -> list[str]:
    """Markdown lines of the dataset card's "Realism" section for a stand-in build: the summary of the
    corpus's motion statistics against real reference takes, or a note that none were available."""
    lines = ["## Realism", ""]
    folder = find_reference_dir(reference_dir)
    intro = (
        "How the stand-in corpus moves compared with real Live Link Face takes, channel by channel over the 52 "
        "blendshapes and the six eye rotations, both at 30 rows/s (`express4d_dataset.realism`): speed is the mean "
        "absolute change per second, spread the standard deviation, resting level each take's 10th percentile "
        "(median for the eye rotations), tracking noise what a 1/15 s Gaussian low-pass leaves."
    )
    if folder is None:
        return lines + [
            intro,
            "",
            "The real reference takes were not available when this card was written, so no figures are given. "
            f"Reproduce them with `{REPRODUCE_COMMAND}` (a folder of real Live Link Face CSVs).",
            "",
        ]
    try:
        reference = reference_statistics(folder)
        report = compare(corpus_statistics(takes), reference)
    except (OSError, ValueError) as exc:
        logger.warning("realism figures not computed: %s", exc)
        return lines + [intro, "", f"The realism figures could not be computed ({exc}).", ""]
    worst = report.worst_channels(3)
    return lines + [
        intro,
        f"Reference: {reference.num_takes} real takes ({reference.seconds / 60:.1f} min) in `{folder.name}/`; "
        f"this corpus: {report.corpus.num_takes} takes ({report.corpus.seconds / 60:.1f} min).",
        "",
        report.summary_table(),
        "",
        "Furthest channels: speed " + ", ".join(f"{n} ×{v:.2f}" for n, v in worst["speed"])
        + "; spread " + ", ".join(f"{n} ×{v:.2f}" for n, v in worst["spread"]) + ".",
        "",
        f"Reproduce with `{REPRODUCE_COMMAND}`. The reference is a few takes of real faces: these figures say how "
        "plausibly the stand-in moves, not that it is real.",
        "",
    ]
