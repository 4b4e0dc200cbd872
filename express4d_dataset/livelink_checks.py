"""The rules a Live Link Face CSV is checked against, and the errors that name what broke them.

:class:`LiveLinkFormatError` (and :class:`UntrackedGapError`) with :func:`err`, which puts the file,
line and column in front of a message, and :func:`show`, which cuts an echoed cell or name to 60
characters; the header mapping (:func:`map_header` -> :class:`Layout`); the data lines of a body
(:class:`Lines`); the cell and line rules (timecodes, numbers, ragged rows, lost-tracking rows) and
:func:`diagnose`, the Python walk that names the first bad cell when pyarrow's parse fails or
miscounts; pyarrow's parse itself (:func:`arrow_table`, :func:`one_row_per_line`) and the vectorised
timecode parse (:func:`parse_timecodes`).  Used by the reader (:mod:`~express4d_dataset.livelink`) and
:mod:`~express4d_dataset.untracked`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .arkit import BLENDSHAPE_NAMES, CHANNEL_NAMES, ROTATION_NAMES

_CHANNEL_INDEX = {n.lower(): i for i, n in enumerate(CHANNEL_NAMES)}
_TIMECODE_KEYS = {"timecode"}
_COUNT_KEYS = {"blendshapecount"}
_TIMECODE_PATTERN = r"^[ \t]*(?P<h>\d{1,2})[:;](?P<m>\d{2})[:;](?P<s>\d{2})[:;.](?P<f>\d{1,3})(?:\.(?P<sub>\d+))?[ \t]*$"
_TIMECODE_RE = re.compile(_TIMECODE_PATTERN, re.ASCII)
_TIMECODE_LIMITS = (("hours", 24), ("minutes", 60), ("seconds", 60), ("frame", 120))
_TIMECODE_HELP = "HH:MM:SS:FF[.sss] with HH < 24, MM and SS < 60, FF below the timecode base (at most 120)"
_NUMBER_RE = re.compile(r"[ \t]*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[ \t]*", re.ASCII)
_NONFINITE_RE = re.compile(r"[ \t]*[-+]?(?:nan|inf|infinity)(?:\(.*\))?[ \t]*", re.ASCII | re.IGNORECASE)
FLOAT32_MAX = float(np.finfo(np.float32).max)
_SHOW_LIMIT = 60


class LiveLinkFormatError(ValueError):
    """A Live Link Face CSV that cannot be read; the message names the file and, where one exists,
    the line and column.  ``kind`` says what was wrong (``"ragged"``, ``"timecode"``, ...)."""

    def __init__(self, message: str, *, path=None, line=None, column=None, kind: str = "format"):
        super().__init__(message)
        self.path, self.line, self.column, self.kind = path, line, column, kind


class UntrackedGapError(LiveLinkFormatError):
    """Lost tracking longer than the ``interpolate`` policy fills (``max_untracked_gap``)."""


def show(text) -> str:
    """``repr`` of a cell or name from a file, cut to about 60 characters (never a whole binary line)."""
    shown = repr(str(text))
    return shown if len(shown) <= _SHOW_LIMIT else shown[: _SHOW_LIMIT - 4] + "...'"


def err(path, msg, line=None, column=None, kind="format", cls=LiveLinkFormatError) -> LiveLinkFormatError:
    """A ``cls`` error whose message is ``msg`` after the file and, when given, the line and column."""
    where = str(path)
    if line is not None:
        where += f", line {int(line)}"
    if column is not None:
        where += f", column {show(column)}"
    return cls(f"{where}: {msg}", path=str(path), line=None if line is None else int(line), column=column, kind=kind)


@dataclass
class Layout:
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


def map_header(path, header: list[str]) -> Layout:
    tc_col = count_col = None
    channel_cols: dict[int, int] = {}
    seen: dict[str, int] = {}
    for col, raw in enumerate(header):
        name = raw.strip().strip('"')
        key = name.lower()
        if not key:
            raise err(path, f"column {col + 1} of the header has no name", line=1, kind="header")
        if key in seen:
            raise err(path, f"duplicate column (also column {seen[key] + 1}); remove one of them", line=1, column=name, kind="header")
        seen[key] = col
        if key in _TIMECODE_KEYS:
            tc_col = col
        elif key in _COUNT_KEYS:
            count_col = col
        elif key in _CHANNEL_INDEX:
            channel_cols[col] = _CHANNEL_INDEX[key]
        elif ";" in name or "\t" in name:
            sep = "';'" if ";" in name else "a tab"
            raise err(
                path, f"the header is not comma-separated (it contains {sep}): wrong delimiter; Live Link Face CSVs "
                "use ',' between cells", line=1, column=name, kind="delimiter",
            )
        else:
            raise err(
                path,
                "unknown column; expected Timecode, BlendShapeCount and the 61 ARKit channel names "
                "(EyeBlinkLeft ... TongueOut, HeadYaw ... RightEyeRoll)",
                line=1, column=name, kind="header",
            )
    present = set(channel_cols.values())
    missing_blend = [n for i, n in enumerate(BLENDSHAPE_NAMES) if i not in present]
    if missing_blend:
        raise err(path, f"missing blendshape column(s) {', '.join(missing_blend)}; a Live Link Face export has all 52", line=1, kind="header")
    missing_rot = tuple(n for n in ROTATION_NAMES if CHANNEL_NAMES.index(n) not in present)
    lead = []
    for col in range(len(header)):
        if col not in (tc_col, count_col):
            break
        lead.append(col)
    untracked_ok = count_col in lead and (tc_col is None or tc_col in lead)
    return Layout(str(path), len(header), tc_col, count_col, channel_cols, missing_rot, tuple(lead) if untracked_ok else ())


class Lines:
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


def is_untracked_row(cells: list[str], layout: Layout) -> bool:
    """A lost-tracking row: exactly the leading Timecode/BlendShapeCount cells, the count 0."""
    if not layout.lead or len(cells) != len(layout.lead):
        return False
    count = cells[layout.lead.index(layout.count_col)]
    return bool(_NUMBER_RE.fullmatch(count)) and float(count) == 0.0


def _timecode_problem(cell: str) -> tuple[str, str] | None:
    """(kind, message) when ``cell`` is not a valid timecode, else None."""
    match = _TIMECODE_RE.fullmatch(cell)
    if match is None:
        return "timecode", f"invalid timecode {show(cell)}; expected {_TIMECODE_HELP}"
    for (name, limit), key in zip(_TIMECODE_LIMITS, "hmsf"):
        if int(match[key]) >= limit:
            return "timecode", f"timecode {show(cell)} out of range: {name} {int(match[key])} must be below {limit} ({_TIMECODE_HELP})"
    return None


def _number_problem(cell: str) -> tuple[str, str] | None:
    """(kind, message) when ``cell`` is not a finite float32 number, else None."""
    if not cell.strip(" \t"):
        return "empty-cell", "empty cell"
    if _NONFINITE_RE.fullmatch(cell):
        return "not-finite", f"value {show(cell)} is not finite"
    if not _NUMBER_RE.fullmatch(cell):
        return "non-numeric", f"non-numeric value {show(cell)} (expected a plain decimal number such as 0.25 or -1.5e-3)"
    value = float(cell)
    if not math.isfinite(value):
        return "not-finite", f"value {show(cell)} is not finite"
    with np.errstate(over="ignore"):
        if not np.isfinite(np.float32(value)):  # the same cast as the fast path's
            return "float32-overflow", f"value {show(cell)} is beyond float32 (largest magnitude {FLOAT32_MAX:.4g})"
    return None


def _check_line(layout: Layout, raw: bytes, lineno: int) -> None:
    """Raise for the first problem of one data line."""
    path = layout.path
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise err(path, "not UTF-8 text (binary data?); a Live Link Face CSV is plain text", line=lineno, kind="binary") from None
    if not text.strip():
        raise err(path, "whitespace-only line (an empty line is fine; delete the spaces)", line=lineno, kind="whitespace")
    cells = text.split(",")
    if not is_untracked_row(cells, layout) and len(cells) != layout.width:
        msg = f"ragged row: {len(cells)} cell{'s' if len(cells) != 1 else ''}, the header has {layout.width}"
        if len(cells) < layout.width and (";" in text or "\t" in text):
            msg += f"; the row looks {'semicolon' if ';' in text else 'tab'}-separated: wrong delimiter, Live Link Face uses ','"
        elif len(cells) == len(layout.lead) and layout.lead:
            msg += " (a lost-tracking row has BlendShapeCount 0)"
        raise err(path, msg, line=lineno, kind="delimiter" if "delimiter" in msg else "ragged")
    for col, cell in enumerate(cells):
        problem = _timecode_problem(cell) if col == layout.tc_col else _number_problem(cell)
        if problem is not None:
            raise err(path, problem[1], line=lineno, column=layout.name(col), kind=problem[0])


def diagnose(layout: Layout, lines: Lines, parser_error: str | None, rows_read: int | None):
    """Walk the data lines in Python and raise for the first malformed one (always raises)."""
    for k in range(len(lines)):
        _check_line(layout, lines.raw(k), int(lines.numbers[k]))
    if parser_error is not None:
        raise err(layout.path, f"could not be parsed as CSV ({show(parser_error)}); no malformed cell found", kind="csv")
    raise err(
        layout.path, f"the CSV parser read {rows_read} rows from {len(lines)} data lines (rows in must equal rows out)",
        kind="row-count",
    )


def one_row_per_line(data: bytes, start: int, end: int, table) -> bool:
    """True when every line break of ``data[start:end]`` is LF, or every one is CRLF (pyarrow also breaks at a
    bare CR): then a table with empty lines kept has one row per line.  memchr / count only, no copy."""
    if data.find(b"\r", start, end) < 0:
        return True
    newlines = data.count(b"\n", start, end)  # rows = CRLF + bare CR + bare LF + 1; equal CR and LF counts and
    return data.count(b"\r", start, end) == newlines and table.num_rows == newlines + 1  # rows = LF + 1: all CRLF


def arrow_table(body, layout: Layout, keep_empty_lines: bool = False):
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


def parse_timecodes(path, timecodes, line_numbers: np.ndarray) -> np.ndarray:
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
        raise err(path, problem[1], line=line_numbers[bad], column="Timecode", kind=problem[0])
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
        raise err(path, problem[1], line=line_numbers[bad], column="Timecode", kind=problem[0])
    return parts

