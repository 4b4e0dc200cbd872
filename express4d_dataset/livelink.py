"""Read and write Live Link Face CSV takes.

The reader is tolerant of what real exports look like (``BlendShapeCount`` or
``BlendshapeCount``, PascalCase or camelCase channel names, columns in any order, no head/eye
rotation columns, timecodes with or without a sub-frame part, a UTF-8 BOM, CRLF, blank lines,
lost-tracking rows) and strict about everything else: one :class:`LiveLinkFormatError` naming the
file and, where one exists, the line and the column (an echoed cell or header name is cut to 60
characters).  Every data line becomes a frame or an error: the rows read are counted against the
file's lines.  Parsing goes through pyarrow's multi-threaded CSV reader (quoting off: the app never
quotes); only when that fails, or the file has blank lines, carriage returns or lost-tracking rows,
are the lines indexed (numpy) and, for a failure, walked in Python to name the first bad cell.

**Lost tracking.**  While the face is out of the camera's view, Live Link Face keeps writing rows
with a ``BlendShapeCount`` of 0 and no values (``16:48:52:29.134,0``).  Exactly such rows (the
leading Timecode/BlendShapeCount cells only, the count 0) are *untracked frames*; any other short
row is an error.  The *untracked policy* decides what becomes of them (``untracked=`` here,
``--untracked`` of ``express4d data build`` and ``express4d render``):

* ``"interpolate"`` (default): a run of untracked rows lasting at most ``max_untracked_gap``
  seconds (default :data:`DEFAULT_MAX_UNTRACKED_GAP` = 0.5 s, i.e. 15 rows at 30 rows/s) is filled
  linearly, row by row, between the tracked frames on either side, blendshapes and rotations
  alike; a run at the start or end of the take holds the nearest tracked frame.  A longer run is an
  :class:`UntrackedGapError` naming its lines (the dataset builder then excludes the take and
  says why in ``validation.json``).
* ``"split"``: runs longer than the maximum cut the take into pieces; the longest piece is kept
  (its short runs filled as above) and the rest dropped.
* ``"error"``: any untracked row is an error naming its line.

The take reports what happened: ``data_rows`` (= ``tracked_frames + untracked_frames``),
``untracked_spans`` (first/last line and row of each run, how it was handled) and ``first_row``
(the file row that is ``frames[0]``; not 0 only after ``split``).

The writer produces the app's exact layout (``Timecode,BlendShapeCount,<61 channels>``, one
row per frame, ``BlendShapeCount`` = 61, ten decimals), which Unreal's and Blender's Live Link
Face importers read.

The error classes and the cell/line rules live in :mod:`~express4d_dataset.livelink_checks`, the
lost-tracking policy and gap handling in :mod:`~express4d_dataset.untracked`; the errors and the
policy's names are re-exported here, so every import path stays as it was.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .arkit import CAPTURE_FPS, CHANNEL_NAMES, NUM_CHANNELS
from .livelink_checks import (
    FLOAT32_MAX, Layout, Lines, LiveLinkFormatError, UntrackedGapError, arrow_table, diagnose, err, is_untracked_row, map_header,
    one_row_per_line, parse_timecodes, show,
)
from .untracked import (
    DEFAULT_MAX_UNTRACKED_GAP, UNTRACKED_POLICIES, UntrackedPolicy, UntrackedSpan, fill_untracked, refuse_untracked,
    resolve_untracked_policy, untracked_policy,
)

__all__ = [
    "DEFAULT_MAX_UNTRACKED_GAP", "MIN_ROW_RATE", "UNTRACKED_POLICIES", "LiveLinkFormatError", "LiveLinkTake", "UntrackedGapError",
    "UntrackedPolicy", "UntrackedSpan", "format_timecode", "infer_fps", "read_livelink_csv", "resolve_untracked_policy",
    "untracked_policy", "write_livelink_csv",
]

logger = logging.getLogger(__name__)

_STANDARD_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 100.0, 120.0)
_STANDARD_TC_BASES = (24, 25, 30, 48, 50, 60, 100, 120)
MIN_ROW_RATE = 1.0
"""Fewest rows per second a take may have; timecodes implying fewer are an error (no silent fps=0)."""


@dataclass
class LiveLinkTake:
    """One Live Link Face take as read from disk."""

    frames: np.ndarray
    """``[T, 61]`` float32 in :data:`~express4d_dataset.arkit.CHANNEL_NAMES` order."""
    fps: float
    """Rows per second, inferred from the timecodes (``default_fps`` when they cannot tell); > 0."""
    timecodes: list[str]
    """The ``Timecode`` cells of the rows in ``frames``, as written (empty when the file has none)."""
    timecode_fps: int | None = None
    """Base of the timecode's frame field (e.g. 60 when it counts 00..59); may differ from ``fps``."""
    missing_channels: tuple[str, ...] = ()
    """Channels absent from the file and zero-filled (only the nine rotation channels may be)."""
    dropped_frames: int = 0
    """Frames missing from the timecode sequence (gaps of more than one row interval)."""
    notes: list[str] = field(default_factory=list)
    """Human-readable remarks on what the reader had to tolerate."""
    path: str = ""
    data_rows: int = 0
    """Non-blank data lines of the file: tracked + untracked rows (every one is a frame, or was dropped by ``split``)."""
    untracked_frames: int = 0
    """Lost-tracking rows in the file (``BlendShapeCount`` 0, no values)."""
    untracked_spans: tuple[UntrackedSpan, ...] = ()
    """The runs of lost-tracking rows, in file order."""
    first_row: int = 0
    """Data row of the file that is ``frames[0]`` (0 unless ``split`` cut the start)."""

    def __post_init__(self):
        try:
            valid = 0 < float(self.fps) < math.inf
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"LiveLinkTake{f' {self.path}' if self.path else ''}: fps must be positive and finite, got {self.fps!r}")
        if not self.data_rows:
            self.data_rows = self.num_frames

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def tracked_frames(self) -> int:
        """Rows of the file that carried values (``data_rows - untracked_frames``)."""
        return self.data_rows - self.untracked_frames

    @property
    def duration(self) -> float:
        """Seconds covered by ``frames`` (``num_frames / fps``; ``fps`` is always positive)."""
        return self.num_frames / self.fps if self.fps > 0 else 0.0



def infer_fps(parts: np.ndarray, default_fps: float = CAPTURE_FPS):
    """Infer (row rate, timecode base, dropped frames, note) from parsed timecodes ``[T, 5]``.

    The timecode base is the smallest standard rate above the largest frame field seen once the
    seconds have ticked over (Live Link Face's 60 for clips under a second).  The row rate is 1 / the median time step, snapped
    to a standard rate within 1 %.
    """
    if len(parts) < 2:
        return float(default_fps), None, 0, f"fewer than two timecodes; assumed {default_fps:g} fps"
    max_ff = int(parts[:, 3].max())
    whole_seconds = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2]
    if np.any(np.diff(whole_seconds) != 0) or max_ff >= 60:
        # The frame field has wrapped at least once, so its largest value tells the base.
        base = next((b for b in _STANDARD_TC_BASES if b > max_ff), max_ff + 1)
    else:
        base = 60  # under one second of timecode: Live Link Face's own base
    dt = timecode_steps(parts, base)
    positive = dt[dt > 0]
    if len(positive) == 0:
        return float(default_fps), base, 0, f"timecodes do not advance; assumed {default_fps:g} fps"
    step = float(np.median(positive))
    fps = 1.0 / step
    snapped = min(_STANDARD_RATES, key=lambda r: abs(r - fps))
    if abs(snapped - fps) / snapped < 0.01:
        fps = snapped
    gaps = np.round(positive / step) - 1
    dropped = int(gaps[gaps > 0].sum())
    note = None
    if np.any(dt <= 0):
        note = f"{int(np.sum(dt <= 0))} timecode(s) do not advance"
    return round(fps, 3), base, dropped, note


def timecode_steps(parts: np.ndarray, base: int) -> np.ndarray:
    """Seconds from each row's timecode to the next (``[T - 1]``; a wrap past midnight counts forward)."""
    t = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2] + (parts[:, 3] + parts[:, 4]) / base
    dt = np.diff(t)
    dt[dt < -43200] += 86400  # midnight wrap
    return dt


def check_time_order(path, parts: np.ndarray, base: int | None, timecodes: list, line_numbers: np.ndarray) -> None:
    """Raise naming the line for a timecode that does not come after the previous row's (repeated or reversed):
    the rows of a take are in time order, and the row rate is read from the steps between them."""
    if base is None or len(parts) < 2:
        return
    dt = timecode_steps(parts, base)
    bad = np.flatnonzero(dt <= 0)
    if len(bad):
        k = int(bad[0])
        how = "repeats" if dt[k] == 0 else "goes back from"
        raise err(
            path, f"timecode {timecodes[k + 1]} {how} the previous row's {timecodes[k]} ({len(bad)} such row(s)); the rows "
            "of a take must be in time order, each timecode after the last", line=int(line_numbers[k + 1]), column="Timecode",
            kind="timecode-order",
        )


def read_livelink_csv(
    path: str | os.PathLike,
    default_fps: float = CAPTURE_FPS,
    untracked: str | UntrackedPolicy | None = None,
    max_untracked_gap: float | None = None,
) -> LiveLinkTake:
    """Read a Live Link Face CSV into a :class:`LiveLinkTake` (frames ``[T, 61]`` float32).

    ``untracked`` (``"interpolate"``, ``"split"`` or ``"error"``) and ``max_untracked_gap``
    (seconds, default 0.5) are the lost-tracking policy of the module docstring; left ``None``,
    they come from :func:`untracked_policy` (default ``interpolate`` up to 0.5 s).

    Raises :class:`LiveLinkFormatError`, naming the file and, where one exists, the line and
    column, for: an empty or binary file, a wrong delimiter, unknown or duplicate columns, missing
    blendshape columns, ragged or whitespace-only rows, non-numeric cells (only plain ASCII
    decimals), NaN / inf / beyond-float32 values, malformed or out-of-range timecodes, timecodes
    implying under :data:`MIN_ROW_RATE` rows per second, repeated or reversed timecodes (rows out of time order),
    rows read differing from the file's data
    lines, and lost tracking the policy refuses (:class:`UntrackedGapError` for a too-long gap).
    """
    policy = resolve_untracked_policy(untracked, max_untracked_gap)
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data.isspace():
        raise err(path, "empty file; expected a Live Link Face header (Timecode,BlendShapeCount,EyeBlinkLeft,...)", kind="empty")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise err(path, "binary data (a NUL byte); not a Live Link Face CSV text file", line=data.count(b"\n", 0, nul) + 1, kind="binary")
    head_end = data.find(b"\n")
    header_line = (data if head_end < 0 else data[:head_end]).decode("utf-8", errors="replace").rstrip("\r")
    if not header_line.strip():
        raise err(path, "no header: expected Timecode,BlendShapeCount,EyeBlinkLeft,... on the first line", line=1, kind="header")
    layout = map_header(path, header_line.split(","))
    start, end = head_end + 1, len(data)
    while end > start and data[end - 1] in b"\r\n":  # the line breaks that end the file
        end -= 1
    if head_end < 0 or end <= start:
        raise err(path, "the file has a header but no frames", kind="no-frames")
    body = memoryview(data)[start:end]  # no copy

    # Fast path: pyarrow keeps empty lines as rows of nulls here, so with LF-only (or CRLF-only) line breaks and
    # no null in a value column every line of the file is exactly one row: rows in == rows out, line k + 2 is row k.
    table, parser_error = arrow_table(body, layout, keep_empty_lines=True)
    if table is not None and table.column(min(layout.channel_cols)).null_count == 0 and one_row_per_line(data, start, end, table):
        lines, untracked_rows = None, np.zeros(0, dtype=np.int64)
        line_numbers = np.arange(table.num_rows) + 2
    else:
        body = data[start:end]
        lines = Lines(body)
        if not len(lines):
            raise err(path, "the file has a header but no frames", kind="no-frames")
        short = np.flatnonzero(lines.ends - lines.starts < 2 * layout.width - 1)  # too short for a full row
        untracked_rows = np.array(
            [k for k in short if is_untracked_row(lines.raw(k).decode("utf-8", errors="replace").split(","), layout)], dtype=np.int64
        )
        if len(untracked_rows) < len(short):
            diagnose(layout, lines, parser_error, None)
        line_numbers = lines.numbers
        tracked_body = body
        if len(untracked_rows):
            refuse_untracked(layout, policy, lines, untracked_rows)
            pieces, prev = [], 0
            for k in untracked_rows:  # cut them out; the line break left behind is an empty line
                pieces.append(body[prev : lines.starts[k]])
                prev = lines.ends[k]
            tracked_body = b"".join(pieces) + body[prev:]
        if table is None or len(untracked_rows) or table.column(min(layout.channel_cols)).null_count:
            table, parser_error = arrow_table(tracked_body, layout)  # empty lines skipped
        if table is None or table.num_rows != len(lines) - len(untracked_rows):
            diagnose(layout, lines, parser_error, None if table is None else table.num_rows)
    is_untracked = np.zeros(len(line_numbers), dtype=bool)
    is_untracked[untracked_rows] = True
    tracked = _tracked_frames(layout, table, line_numbers[~is_untracked], lines, body)

    notes: list[str] = []
    if layout.missing_rot:
        notes.append(f"no rotation columns {', '.join(layout.missing_rot)}: zero-filled")
        logger.warning("%s: no %d head/eye rotation columns; they are zero-filled", path, len(layout.missing_rot))
    timecodes: list[str] = []
    fps, tc_base, dropped = float(default_fps), None, 0
    if layout.tc_col is not None:
        tc_column = _all_timecodes(layout, table, lines, untracked_rows, is_untracked)
        parts = parse_timecodes(path, tc_column, line_numbers)
        timecodes = tc_column.to_pylist()
        fps, tc_base, dropped, note = infer_fps(parts, default_fps)
        check_time_order(path, parts, tc_base, timecodes, line_numbers)
        if fps < MIN_ROW_RATE:
            raise err(
                path, f"the timecodes imply {fps:g} rows per second (median step between rows); a take has at least "
                f"{MIN_ROW_RATE:g} row per second (Live Link Face records 24 to 120)", column="Timecode", kind="row-rate",
            )
        if note:
            notes.append(note)
        if dropped:
            notes.append(f"{dropped} frame(s) missing from the timecode sequence")
    else:
        notes.append(f"no Timecode column; assumed {default_fps:g} fps")

    frames, first_row, spans = tracked, 0, ()
    if len(untracked_rows):
        before = len(notes)
        frames, first_row, spans = fill_untracked(path, tracked, is_untracked, line_numbers, fps, policy, notes)
        if timecodes:
            timecodes = timecodes[first_row : first_row + len(frames)]
        logger.info("%s: %s", path, "; ".join(notes[before:]))
    return LiveLinkTake(
        frames=frames,
        fps=fps,
        timecodes=timecodes,
        timecode_fps=tc_base,
        missing_channels=layout.missing_rot,
        dropped_frames=dropped,
        notes=notes,
        path=path,
        data_rows=len(line_numbers),
        untracked_frames=len(untracked_rows),
        untracked_spans=spans,
        first_row=first_row,
    )


def _tracked_frames(layout: Layout, table, line_numbers: np.ndarray, lines: Lines | None, body: bytes) -> np.ndarray:
    """``[rows, 61]`` float32 of the parsed rows; raises naming line and column for an empty,
    non-finite or beyond-float32 cell (the first in file order)."""
    checked = sorted([*layout.channel_cols, *([] if layout.count_col is None else [layout.count_col])])
    frames = np.zeros((table.num_rows, NUM_CHANNELS), dtype=np.float32)
    count_ok = True
    with np.errstate(over="ignore"):  # beyond float32 becomes inf here, and is reported below
        for col in checked:
            values = table.column(col).to_numpy(zero_copy_only=False)
            if col in layout.channel_cols:
                frames[:, layout.channel_cols[col]] = values
            else:
                count_ok = bool(np.isfinite(values.astype(np.float32)).all())
    if count_ok and np.isfinite(frames).all():
        return frames
    values = np.column_stack([table.column(col).to_numpy(zero_copy_only=False) for col in checked])
    with np.errstate(over="ignore"):
        bad = ~np.isfinite(values.astype(np.float32))  # row-major: the first bad cell in file order
    row, j = (int(v) for v in np.argwhere(bad)[0])
    col = checked[j]
    k = row if lines is None else int(np.searchsorted(lines.numbers, line_numbers[row]))
    cell = (lines or Lines(body)).cell(k, col)
    if not table.column(col)[row].is_valid:
        kind, msg = "empty-cell", "empty cell"
    elif not np.isfinite(values[row, j]):
        kind, msg = "not-finite", f"value {show(cell)} is not finite"
    else:
        kind, msg = "float32-overflow", f"value {show(cell)} is beyond float32 (largest magnitude {FLOAT32_MAX:.4g})"
    raise err(layout.path, msg, line=line_numbers[row], column=layout.name(col), kind=kind)


def _all_timecodes(layout: Layout, table, lines: Lines | None, untracked_rows: np.ndarray, is_untracked: np.ndarray):
    """The Timecode column of every data row, lost-tracking rows included, as an Arrow string array."""
    import pyarrow as pa

    column = table.column(layout.tc_col).combine_chunks()
    if not len(untracked_rows):
        return column
    merged = np.empty(len(is_untracked), dtype=object)
    merged[~is_untracked] = column.to_pylist()
    col = layout.lead.index(layout.tc_col) if layout.tc_col in layout.lead else None
    merged[is_untracked] = [lines.cell(int(k), col) if col is not None else "" for k in untracked_rows]
    return pa.array(merged.tolist(), type=pa.string())



def format_timecode(frame: int, fps: float, start_seconds: float = 0.0, timecode_fps: int | None = None) -> str:
    """Timecode ``HH:MM:SS:FF.sss`` of row ``frame`` at ``fps`` rows per second."""
    base = timecode_fps or _default_tc_base(fps)
    t = start_seconds + frame / fps
    total_ticks = t * base
    whole = math.floor(total_ticks + 1e-9)
    sub = max(total_ticks - whole, 0.0)
    ff = whole % base
    secs = whole // base
    h, rem = divmod(int(secs), 3600)
    m, s = divmod(rem, 60)
    return f"{h % 24:02d}:{m:02d}:{s:02d}:{int(ff):02d}.{min(int(round(sub * 1000)), 999):03d}"


def _default_tc_base(fps: float) -> int:
    """Live Link Face counts timecode frames at 60; use that whenever the row rate divides it."""
    if fps > 0 and abs(60 / fps - round(60 / fps)) < 1e-9:
        return 60
    return int(round(fps))


def write_livelink_csv(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float = CAPTURE_FPS,
    start_seconds: float = 0.0,
    timecodes: list[str] | None = None,
) -> None:
    """Write ``frames`` ``[T, 61]`` in the exact Live Link Face layout.

    Timecodes are generated from ``fps`` (timecode frame field counted at 60, as the app does)
    starting ``start_seconds`` after midnight, unless ``timecodes`` are given.
    """
    frames = np.asarray(frames)
    if frames.ndim != 2 or frames.shape[1] != NUM_CHANNELS:
        raise ValueError(f"write_livelink_csv: frames must have shape [T, {NUM_CHANNELS}], got {tuple(frames.shape)}")
    if not np.isfinite(frames).all():
        bad = np.argwhere(~np.isfinite(frames))[0]
        raise ValueError(f"write_livelink_csv: frame {bad[0]} channel {CHANNEL_NAMES[bad[1]]} is not finite")
    if fps <= 0:
        raise ValueError(f"write_livelink_csv: fps must be positive, got {fps}")
    if timecodes is None:
        base = _default_tc_base(fps)
        timecodes = [format_timecode(i, fps, start_seconds, base) for i in range(len(frames))]
    elif len(timecodes) != len(frames):
        raise ValueError(f"write_livelink_csv: {len(timecodes)} timecodes for {len(frames)} frames")
    row_fmt = "%s,61," + ",".join(["%.10f"] * NUM_CHANNELS) + "\n"
    values = frames.astype(np.float64) + 0.0  # +0.0 turns -0.0 into 0.0 as the app writes it
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("Timecode,BlendShapeCount," + ",".join(CHANNEL_NAMES) + "\n")
        f.writelines(row_fmt % (tc, *row) for tc, row in zip(timecodes, values.tolist()))
