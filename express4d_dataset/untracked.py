"""The lost-tracking (untracked) policy of the Live Link Face reader, and the gap handling it drives.

:data:`UNTRACKED_POLICIES`, :data:`DEFAULT_MAX_UNTRACKED_GAP`, :class:`UntrackedPolicy` and its
context-wide default (:func:`untracked_policy`, :func:`resolve_untracked_policy`), the record of
one run of lost-tracking rows (:class:`UntrackedSpan`), and the functions that find the runs,
refuse what the policy does not accept (:func:`refuse_untracked`) and fill or cut the rest
(:func:`fill_untracked`).  :mod:`~express4d_dataset.livelink`'s docstring explains the policies;
its reader re-exports every public name here.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .arkit import NUM_CHANNELS
from .livelink_checks import Layout, Lines, UntrackedGapError, err

UNTRACKED_POLICIES = ("interpolate", "split", "error")
DEFAULT_MAX_UNTRACKED_GAP = 0.5
"""Seconds of lost tracking that the ``interpolate`` policy fills (longer runs: error, or cut with ``split``)."""


@dataclass(frozen=True)
class UntrackedPolicy:
    """What the reader does with lost-tracking rows: ``mode`` in :data:`UNTRACKED_POLICIES` and the
    longest run (seconds) that is filled in (:mod:`~express4d_dataset.livelink`'s docstring)."""

    mode: str = "interpolate"
    max_gap_seconds: float = DEFAULT_MAX_UNTRACKED_GAP

    def __post_init__(self):
        if self.mode not in UNTRACKED_POLICIES:
            raise ValueError(f"untracked policy must be one of {', '.join(UNTRACKED_POLICIES)}, got {self.mode!r}")
        if not (isinstance(self.max_gap_seconds, (int, float)) and 0 <= self.max_gap_seconds < math.inf):
            raise ValueError(f"max_untracked_gap must be a finite number of seconds >= 0, got {self.max_gap_seconds!r}")

    def __str__(self) -> str:
        return f"{self.mode} (gaps up to {self.max_gap_seconds:g} s)"


_POLICY: contextvars.ContextVar[UntrackedPolicy] = contextvars.ContextVar("express4d_untracked_policy", default=UntrackedPolicy())


def resolve_untracked_policy(untracked=None, max_untracked_gap=None) -> UntrackedPolicy:
    """The policy a read uses: the arguments given, the rest from :func:`untracked_policy`'s
    current setting (default ``interpolate``, :data:`DEFAULT_MAX_UNTRACKED_GAP`)."""
    base = untracked if isinstance(untracked, UntrackedPolicy) else _POLICY.get()
    mode = base.mode if untracked is None or isinstance(untracked, UntrackedPolicy) else untracked
    gap = base.max_gap_seconds if max_untracked_gap is None else max_untracked_gap
    return UntrackedPolicy(mode, gap)


@contextlib.contextmanager
def untracked_policy(untracked=None, max_untracked_gap=None):
    """Set the untracked policy of every read in this context that does not pass its own (used by
    ``express4d data build --untracked``, whose reads happen inside the exporter)::

        with untracked_policy("split", 1.0):
            export_dataset("raw", "express4d")
    """
    token = _POLICY.set(resolve_untracked_policy(untracked, max_untracked_gap))
    try:
        yield _POLICY.get()
    finally:
        _POLICY.reset(token)


class UntrackedSpan(NamedTuple):
    """One run of lost-tracking rows: file lines (the header is line 1), 0-based data rows of the
    file, its length in seconds and how it was handled (``interpolated``, ``held`` or ``dropped``)."""

    first_line: int
    last_line: int
    first_row: int
    last_row: int
    seconds: float
    handling: str

    @property
    def frames(self) -> int:
        return self.last_row - self.first_row + 1

    def to_dict(self) -> dict:
        return {**self._asdict(), "frames": self.frames, "seconds": round(self.seconds, 4)}



def _untracked_runs(is_untracked: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], is_untracked.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def refuse_untracked(layout: Layout, policy: UntrackedPolicy, lines: Lines, untracked_rows: np.ndarray) -> None:
    """Raise for lost-tracking rows the policy does not accept: any (``error``), or all rows."""
    mask = np.zeros(len(lines), dtype=bool)
    mask[untracked_rows] = True
    runs = _untracked_runs(mask)
    where = "lines " + ", ".join(f"{lines.numbers[a]}-{lines.numbers[b]}" for a, b in runs[:3]) + (", ..." if len(runs) > 3 else "")
    if mask.all():
        raise err(layout.path, f"no tracked frames: all {len(mask)} rows are lost-tracking rows (BlendShapeCount 0)", kind="untracked")
    if policy.mode == "error":
        raise err(
            layout.path, f"lost-tracking row (BlendShapeCount 0, no values) and the untracked policy is 'error'; "
            f"{len(untracked_rows)} such rows in {len(runs)} run(s) ({where}); read with untracked='interpolate' "
            f"(--untracked interpolate) to fill gaps up to {policy.max_gap_seconds:g} s",
            line=lines.numbers[untracked_rows[0]], kind="untracked",
        )


def fill_untracked(path, tracked: np.ndarray, is_untracked: np.ndarray, line_numbers: np.ndarray, fps: float,
                   policy: UntrackedPolicy, notes: list[str]):
    """Apply the policy: (frames, first row kept, spans); appends a note."""
    runs = _untracked_runs(is_untracked)
    n = len(is_untracked)
    too_long = [(a, b) for a, b in runs if (b - a + 1) / fps > policy.max_gap_seconds + 1e-9]
    first, last = 0, n - 1
    if too_long and policy.mode == "interpolate":
        a, b = too_long[0]
        raise err(
            path, f"lost tracking for {b - a + 1} rows ({(b - a + 1) / fps:.2f} s, lines {line_numbers[a]}-{line_numbers[b]}), "
            f"longer than the {policy.max_gap_seconds:g} s that untracked='interpolate' fills ({len(too_long)} such gap(s)); "
            "use untracked='split' (--untracked split) to keep the longest tracked segment, or a larger "
            "max_untracked_gap (--max-untracked-gap)",
            line=line_numbers[a], kind="untracked-gap", cls=UntrackedGapError,
        )
    if too_long:  # split: the longest piece between long gaps (the first of equals)
        bounds = [-1, *[x for a, b in too_long for x in (a, b)], n]
        pieces = [(bounds[i] + 1, bounds[i + 1] - 1) for i in range(0, len(bounds), 2) if bounds[i + 1] - 1 >= bounds[i] + 1]
        first, last = max(pieces, key=lambda p: (p[1] - p[0], -p[0]))
    full = np.empty((n, NUM_CHANNELS), dtype=np.float64)
    full[~is_untracked] = tracked
    rows = np.arange(first, last + 1)
    known = rows[~is_untracked[rows]]
    gaps = rows[is_untracked[rows]]
    after = np.searchsorted(known, gaps)
    nxt, prv = known[np.minimum(after, len(known) - 1)], known[np.maximum(after - 1, 0)]
    weight = np.where(nxt > prv, (gaps - prv) / np.maximum(nxt - prv, 1), 0.0)[:, None]
    full[gaps] = full[prv] + weight * (full[nxt] - full[prv])  # outside the tracked rows: hold the nearest
    spans = []
    for a, b in runs:
        if a > last or b < first:
            handling = "dropped"
        elif a == first or b == last:
            handling = "held"
        else:
            handling = "interpolated"
        spans.append(UntrackedSpan(int(line_numbers[a]), int(line_numbers[b]), a, b, (b - a + 1) / fps, handling))
    count = {h: sum(s.frames for s in spans if s.handling == h) for h in ("interpolated", "held", "dropped")}
    notes.append(
        f"{int(is_untracked.sum())} untracked row(s) (lost tracking) in {len(runs)} run(s): {count['interpolated']} "
        f"interpolated, {count['held']} held, {count['dropped']} dropped (policy {policy})"
    )
    if (first, last) != (0, n - 1):
        notes.append(
            f"kept rows {first}..{last} (lines {line_numbers[first]}-{line_numbers[last]}) of {n}: the longest segment between "
            f"lost-tracking gaps longer than {policy.max_gap_seconds:g} s; {n - (last - first + 1)} rows dropped"
        )
    return full[first : last + 1].astype(np.float32), first, tuple(spans)
