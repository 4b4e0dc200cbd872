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
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .arkit import BLENDSHAPE_NAMES, CAPTURE_FPS, CHANNEL_NAMES, NUM_CHANNELS, ROTATION_NAMES

logger = logging.getLogger(__name__)

_CHANNEL_INDEX = {n.lower(): i for i, n in enumerate(CHANNEL_NAMES)}
_TIMECODE_KEYS = {"timecode"}
_COUNT_KEYS = {"blendshapecount"}
_TIMECODE_PATTERN = r"^[ \t]*(?P<h>\d{1,2})[:;](?P<m>\d{2})[:;](?P<s>\d{2})[:;.](?P<f>\d{1,3})(?:\.(?P<sub>\d+))?[ \t]*$"
_TIMECODE_RE = re.compile(_TIMECODE_PATTERN, re.ASCII)
_TIMECODE_LIMITS = (("hours", 24), ("minutes", 60), ("seconds", 60), ("frame", 120))
_TIMECODE_HELP = "HH:MM:SS:FF[.sss] with HH < 24, MM and SS < 60, FF below the timecode base (at most 120)"
_NUMBER_RE = re.compile(r"[ \t]*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[ \t]*", re.ASCII)
_NONFINITE_RE = re.compile(r"[ \t]*[-+]?(?:nan|inf|infinity)(?:\(.*\))?[ \t]*", re.ASCII | re.IGNORECASE)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_STANDARD_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 100.0, 120.0)
_STANDARD_TC_BASES = (24, 25, 30, 48, 50, 60, 100, 120)
_SHOW_LIMIT = 60

UNTRACKED_POLICIES = ("interpolate", "split", "error")
DEFAULT_MAX_UNTRACKED_GAP = 0.5
"""Seconds of lost tracking that the ``interpolate`` policy fills (longer runs: error, or cut with ``split``)."""
MIN_ROW_RATE = 1.0
"""Fewest rows per second a take may have; timecodes implying fewer are an error (no silent fps=0)."""


class LiveLinkFormatError(ValueError):
    """A Live Link Face CSV that cannot be read; the message names the file and, where one exists,
    the line and column.  ``kind`` says what was wrong (``"ragged"``, ``"timecode"``, ...)."""

    def __init__(self, message: str, *, path=None, line=None, column=None, kind: str = "format"):
        super().__init__(message)
        self.path, self.line, self.column, self.kind = path, line, column, kind


class UntrackedGapError(LiveLinkFormatError):
    """Lost tracking longer than the ``interpolate`` policy fills (``max_untracked_gap``)."""


@dataclass(frozen=True)
class UntrackedPolicy:
    """What the reader does with lost-tracking rows: ``mode`` in :data:`UNTRACKED_POLICIES` and the
    longest run (seconds) that is filled in (module docstring)."""

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


def _show(text) -> str:
    """``repr`` of a cell or name from a file, cut to about 60 characters (never a whole binary line)."""
    shown = repr(str(text))
    return shown if len(shown) <= _SHOW_LIMIT else shown[: _SHOW_LIMIT - 4] + "...'"


def _err(path, msg, line=None, column=None, kind="format", cls=LiveLinkFormatError) -> LiveLinkFormatError:
    where = str(path)
    if line is not None:
        where += f", line {int(line)}"
    if column is not None:
        where += f", column {_show(column)}"
    return cls(f"{where}: {msg}", path=str(path), line=None if line is None else int(line), column=column, kind=kind)


@dataclass
class _Layout:
    """The header of one file: which file column is what."""

    path: str
    width: int  # cells per row
    tc_col: int | None
    count_col: int | None
    channel_cols: dict[int, int]  # file column -> channel index
    missing_rot: tuple[str, ...]
    lead: tuple[int, ...]  # the leading Timecode/BlendShapeCount columns: the cells of a lost-tracking row

    def name(self, col: int) -> str:
        if col == self.tc_col:
            return "Timecode"
        if col == self.count_col:
            return "BlendShapeCount"
        return CHANNEL_NAMES[self.channel_cols[col]]


def _map_header(path, header: list[str]) -> _Layout:
    tc_col = count_col = None
    channel_cols: dict[int, int] = {}
    seen: dict[str, int] = {}
    for col, raw in enumerate(header):
        name = raw.strip().strip('"')
        key = name.lower()
        if not key:
            raise _err(path, f"column {col + 1} of the header has no name", line=1, kind="header")
        if key in seen:
            raise _err(path, f"duplicate column (also column {seen[key] + 1}); remove one of them", line=1, column=name, kind="header")
        seen[key] = col
        if key in _TIMECODE_KEYS:
            tc_col = col
        elif key in _COUNT_KEYS:
            count_col = col
        elif key in _CHANNEL_INDEX:
            channel_cols[col] = _CHANNEL_INDEX[key]
        elif ";" in name or "\t" in name:
            sep = "';'" if ";" in name else "a tab"
            raise _err(
                path, f"the header is not comma-separated (it contains {sep}): wrong delimiter; Live Link Face CSVs "
                "use ',' between cells", line=1, column=name, kind="delimiter",
            )
        else:
            raise _err(
                path,
                "unknown column; expected Timecode, BlendShapeCount and the 61 ARKit channel names "
                "(EyeBlinkLeft ... TongueOut, HeadYaw ... RightEyeRoll)",
                line=1, column=name, kind="header",
            )
    present = set(channel_cols.values())
    missing_blend = [n for i, n in enumerate(BLENDSHAPE_NAMES) if i not in present]
    if missing_blend:
        raise _err(path, f"missing blendshape column(s) {', '.join(missing_blend)}; a Live Link Face export has all 52", line=1, kind="header")
    missing_rot = tuple(n for n in ROTATION_NAMES if CHANNEL_NAMES.index(n) not in present)
    lead = []
    for col in range(len(header)):
        if col not in (tc_col, count_col):
            break
        lead.append(col)
    untracked_ok = count_col in lead and (tc_col is None or tc_col in lead)
    return _Layout(str(path), len(header), tc_col, count_col, channel_cols, missing_rot, tuple(lead) if untracked_ok else ())


class _Lines:
    """The data lines of a body: split at ``\\n``, one trailing ``\\r`` dropped, blank lines skipped."""

    def __init__(self, body):
        body = bytes(body)
        buf = np.frombuffer(body, np.uint8)
        newlines = np.flatnonzero(buf == 10)
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(body)]))
        if len(buf):
            ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13))
        keep = ends > starts
        self.body, self.starts, self.ends = body, starts[keep], ends[keep]
        self.numbers = np.flatnonzero(keep) + 2  # file line numbers; the header is line 1

    def __len__(self) -> int:
        return len(self.starts)

    def raw(self, k: int) -> bytes:
        return self.body[self.starts[k] : self.ends[k]]

    def cell(self, k: int, col: int) -> str:
        cells = self.raw(k).decode("utf-8", errors="replace").split(",")
        return cells[col] if col < len(cells) else ""


def _is_untracked(cells: list[str], layout: _Layout) -> bool:
    """A lost-tracking row: exactly the leading Timecode/BlendShapeCount cells, the count 0."""
    if not layout.lead or len(cells) != len(layout.lead):
        return False
    count = cells[layout.lead.index(layout.count_col)]
    return bool(_NUMBER_RE.fullmatch(count)) and float(count) == 0.0


def _timecode_problem(cell: str) -> tuple[str, str] | None:
    """(kind, message) when ``cell`` is not a valid timecode, else None."""
    match = _TIMECODE_RE.fullmatch(cell)
    if match is None:
        return "timecode", f"invalid timecode {_show(cell)}; expected {_TIMECODE_HELP}"
    for (name, limit), key in zip(_TIMECODE_LIMITS, "hmsf"):
        if int(match[key]) >= limit:
            return "timecode", f"timecode {_show(cell)} out of range: {name} {int(match[key])} must be below {limit} ({_TIMECODE_HELP})"
    return None


def _number_problem(cell: str) -> tuple[str, str] | None:
    """(kind, message) when ``cell`` is not a finite float32 number, else None."""
    if not cell.strip(" \t"):
        return "empty-cell", "empty cell"
    if _NONFINITE_RE.fullmatch(cell):
        return "not-finite", f"value {_show(cell)} is not finite"
    if not _NUMBER_RE.fullmatch(cell):
        return "non-numeric", f"non-numeric value {_show(cell)} (expected a plain decimal number such as 0.25 or -1.5e-3)"
    value = float(cell)
    if not math.isfinite(value):
        return "not-finite", f"value {_show(cell)} is not finite"
    with np.errstate(over="ignore"):
        if not np.isfinite(np.float32(value)):  # the same cast as the fast path's
            return "float32-overflow", f"value {_show(cell)} is beyond float32 (largest magnitude {_FLOAT32_MAX:.4g})"
    return None


def _check_line(layout: _Layout, raw: bytes, lineno: int) -> None:
    """Raise for the first problem of one data line."""
    path = layout.path
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _err(path, "not UTF-8 text (binary data?); a Live Link Face CSV is plain text", line=lineno, kind="binary") from None
    if not text.strip():
        raise _err(path, "whitespace-only line (an empty line is fine; delete the spaces)", line=lineno, kind="whitespace")
    cells = text.split(",")
    if not _is_untracked(cells, layout) and len(cells) != layout.width:
        msg = f"ragged row: {len(cells)} cell{'s' if len(cells) != 1 else ''}, the header has {layout.width}"
        if len(cells) < layout.width and (";" in text or "\t" in text):
            msg += f"; the row looks {'semicolon' if ';' in text else 'tab'}-separated: wrong delimiter, Live Link Face uses ','"
        elif len(cells) == len(layout.lead) and layout.lead:
            msg += " (a lost-tracking row has BlendShapeCount 0)"
        raise _err(path, msg, line=lineno, kind="delimiter" if "delimiter" in msg else "ragged")
    for col, cell in enumerate(cells):
        problem = _timecode_problem(cell) if col == layout.tc_col else _number_problem(cell)
        if problem is not None:
            raise _err(path, problem[1], line=lineno, column=layout.name(col), kind=problem[0])


def _diagnose(layout: _Layout, lines: _Lines, parser_error: str | None, rows_read: int | None):
    """Walk the data lines in Python and raise for the first malformed one (always raises)."""
    for k in range(len(lines)):
        _check_line(layout, lines.raw(k), int(lines.numbers[k]))
    if parser_error is not None:
        raise _err(layout.path, f"could not be parsed as CSV ({_show(parser_error)}); no malformed cell found", kind="csv")
    raise _err(
        layout.path, f"the CSV parser read {rows_read} rows from {len(lines)} data lines (rows in must equal rows out)",
        kind="row-count",
    )


def _one_row_per_line(data: bytes, start: int, end: int, table) -> bool:
    """True when every line break of ``data[start:end]`` is LF, or every one is CRLF (pyarrow also breaks at a
    bare CR): then a table with empty lines kept has one row per line.  memchr / count only, no copy."""
    if data.find(b"\r", start, end) < 0:
        return True
    newlines = data.count(b"\n", start, end)  # rows = CRLF + bare CR + bare LF + 1; equal CR and LF counts and
    return data.count(b"\r", start, end) == newlines and table.num_rows == newlines + 1  # rows = LF + 1: all CRLF


def _arrow_table(body, layout: _Layout, keep_empty_lines: bool = False):
    """(table, None) or (None, pyarrow's message); quoting off, as the app never quotes."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(layout.width)]
    types = {n: (pa.string() if i == layout.tc_col else pa.float64()) for i, n in enumerate(names)}
    try:
        return pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=not keep_empty_lines),
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=False),
        ), None
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        return None, str(e)


def _parse_timecodes(path, timecodes, line_numbers: np.ndarray) -> np.ndarray:
    """Return ``[T, 5]`` (h, m, s, frame, sub-frame) from an Arrow string column, vectorised.

    Raises naming the line of the first timecode that is not ``HH:MM:SS:FF[.sss]`` or is out of
    range (hours < 24, minutes and seconds < 60, frame < 120, the largest timecode base).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    fields = pc.extract_regex(timecodes, _TIMECODE_PATTERN)  # null where the pattern fails
    if fields.null_count:
        bad = int(np.flatnonzero(~pc.is_valid(fields).to_numpy(zero_copy_only=False))[0])
        problem = _timecode_problem(timecodes[bad].as_py()) or ("timecode", f"invalid timecode; expected {_TIMECODE_HELP}")
        raise _err(path, problem[1], line=line_numbers[bad], column="Timecode", kind=problem[0])
    parts = np.empty((len(timecodes), 5), dtype=np.float64)
    for j, name in enumerate(("h", "m", "s", "f")):
        parts[:, j] = pc.cast(pc.struct_field(fields, name), pa.float64()).to_numpy(zero_copy_only=False)
    sub = pc.struct_field(fields, "sub")
    parts[:, 4] = pc.cast(pc.binary_join_element_wise("0.", pc.if_else(pc.equal(sub, ""), "0", sub), ""), pa.float64()).to_numpy(
        zero_copy_only=False
    )
    over = parts[:, :4] >= np.array([limit for _, limit in _TIMECODE_LIMITS], dtype=np.float64)
    if over.any():
        bad = int(np.flatnonzero(over.any(axis=1))[0])
        problem = _timecode_problem(timecodes[bad].as_py())
        raise _err(path, problem[1], line=line_numbers[bad], column="Timecode", kind=problem[0])
    return parts


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
    t = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2] + (parts[:, 3] + parts[:, 4]) / base
    dt = np.diff(t)
    dt[dt < -43200] += 86400  # midnight wrap
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
    implying under :data:`MIN_ROW_RATE` rows per second, rows read differing from the file's data
    lines, and lost tracking the policy refuses (:class:`UntrackedGapError` for a too-long gap).
    """
    policy = resolve_untracked_policy(untracked, max_untracked_gap)
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data.isspace():
        raise _err(path, "empty file; expected a Live Link Face header (Timecode,BlendShapeCount,EyeBlinkLeft,...)", kind="empty")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _err(path, "binary data (a NUL byte); not a Live Link Face CSV text file", line=data.count(b"\n", 0, nul) + 1, kind="binary")
    head_end = data.find(b"\n")
    header_line = (data if head_end < 0 else data[:head_end]).decode("utf-8", errors="replace").rstrip("\r")
    if not header_line.strip():
        raise _err(path, "no header: expected Timecode,BlendShapeCount,EyeBlinkLeft,... on the first line", line=1, kind="header")
    layout = _map_header(path, header_line.split(","))
    start, end = head_end + 1, len(data)
    while end > start and data[end - 1] in b"\r\n":  # the line breaks that end the file
        end -= 1
    if head_end < 0 or end <= start:
        raise _err(path, "the file has a header but no frames", kind="no-frames")
    body = memoryview(data)[start:end]  # no copy

    # Fast path: pyarrow keeps empty lines as rows of nulls here, so with LF-only (or CRLF-only) line breaks and
    # no null in a value column every line of the file is exactly one row: rows in == rows out, line k + 2 is row k.
    table, parser_error = _arrow_table(body, layout, keep_empty_lines=True)
    if table is not None and table.column(min(layout.channel_cols)).null_count == 0 and _one_row_per_line(data, start, end, table):
        lines, untracked_rows = None, np.zeros(0, dtype=np.int64)
        line_numbers = np.arange(table.num_rows) + 2
    else:
        body = data[start:end]
        lines = _Lines(body)
        if not len(lines):
            raise _err(path, "the file has a header but no frames", kind="no-frames")
        short = np.flatnonzero(lines.ends - lines.starts < 2 * layout.width - 1)  # too short for a full row
        untracked_rows = np.array(
            [k for k in short if _is_untracked(lines.raw(k).decode("utf-8", errors="replace").split(","), layout)], dtype=np.int64
        )
        if len(untracked_rows) < len(short):
            _diagnose(layout, lines, parser_error, None)
        line_numbers = lines.numbers
        tracked_body = body
        if len(untracked_rows):
            _refuse_untracked(layout, policy, lines, untracked_rows)
            pieces, prev = [], 0
            for k in untracked_rows:  # cut them out; the line break left behind is an empty line
                pieces.append(body[prev : lines.starts[k]])
                prev = lines.ends[k]
            tracked_body = b"".join(pieces) + body[prev:]
        if table is None or len(untracked_rows) or table.column(min(layout.channel_cols)).null_count:
            table, parser_error = _arrow_table(tracked_body, layout)  # empty lines skipped
        if table is None or table.num_rows != len(lines) - len(untracked_rows):
            _diagnose(layout, lines, parser_error, None if table is None else table.num_rows)
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
        parts = _parse_timecodes(path, tc_column, line_numbers)
        timecodes = tc_column.to_pylist()
        fps, tc_base, dropped, note = infer_fps(parts, default_fps)
        if fps < MIN_ROW_RATE:
            raise _err(
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
        frames, first_row, spans = _fill_untracked(path, tracked, is_untracked, line_numbers, fps, policy, notes)
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


def _tracked_frames(layout: _Layout, table, line_numbers: np.ndarray, lines: _Lines | None, body: bytes) -> np.ndarray:
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
    cell = (lines or _Lines(body)).cell(k, col)
    if not table.column(col)[row].is_valid:
        kind, msg = "empty-cell", "empty cell"
    elif not np.isfinite(values[row, j]):
        kind, msg = "not-finite", f"value {_show(cell)} is not finite"
    else:
        kind, msg = "float32-overflow", f"value {_show(cell)} is beyond float32 (largest magnitude {_FLOAT32_MAX:.4g})"
    raise _err(layout.path, msg, line=line_numbers[row], column=layout.name(col), kind=kind)


def _all_timecodes(layout: _Layout, table, lines: _Lines | None, untracked_rows: np.ndarray, is_untracked: np.ndarray):
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


def _untracked_runs(is_untracked: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], is_untracked.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def _refuse_untracked(layout: _Layout, policy: UntrackedPolicy, lines: _Lines, untracked_rows: np.ndarray) -> None:
    """Raise for lost-tracking rows the policy does not accept: any (``error``), or all rows."""
    mask = np.zeros(len(lines), dtype=bool)
    mask[untracked_rows] = True
    runs = _untracked_runs(mask)
    where = "lines " + ", ".join(f"{lines.numbers[a]}-{lines.numbers[b]}" for a, b in runs[:3]) + (", ..." if len(runs) > 3 else "")
    if mask.all():
        raise _err(layout.path, f"no tracked frames: all {len(mask)} rows are lost-tracking rows (BlendShapeCount 0)", kind="untracked")
    if policy.mode == "error":
        raise _err(
            layout.path, f"lost-tracking row (BlendShapeCount 0, no values) and the untracked policy is 'error'; "
            f"{len(untracked_rows)} such rows in {len(runs)} run(s) ({where}); read with untracked='interpolate' "
            f"(--untracked interpolate) to fill gaps up to {policy.max_gap_seconds:g} s",
            line=lines.numbers[untracked_rows[0]], kind="untracked",
        )


def _fill_untracked(path, tracked: np.ndarray, is_untracked: np.ndarray, line_numbers: np.ndarray, fps: float,
                    policy: UntrackedPolicy, notes: list[str]):
    """Apply the policy: (frames, first row kept, spans); appends a note."""
    runs = _untracked_runs(is_untracked)
    n = len(is_untracked)
    too_long = [(a, b) for a, b in runs if (b - a + 1) / fps > policy.max_gap_seconds + 1e-9]
    first, last = 0, n - 1
    if too_long and policy.mode == "interpolate":
        a, b = too_long[0]
        raise _err(
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
