"""Read and write Live Link Face CSV takes.

The reader is tolerant of what real exports look like (``BlendShapeCount`` or
``BlendshapeCount``, PascalCase or camelCase channel names, columns in any order, no head/eye
rotation columns, timecodes with or without a sub-frame part, a UTF-8 BOM, blank lines) and
strict about everything else: one :class:`LiveLinkFormatError` naming the file, the line and
the column.  Parsing goes through pyarrow's multi-threaded CSV reader; only when that fails is
the file walked in Python to locate the first problem precisely.

The writer produces the app's exact layout (``Timecode,BlendShapeCount,<61 channels>``, one
row per frame, ``BlendShapeCount`` = 61, ten decimals), which Unreal's and Blender's Live Link
Face importers read.
"""

from __future__ import annotations

import logging
import math
import os

from dataclasses import dataclass, field

import numpy as np

from .arkit import BLENDSHAPE_NAMES, CAPTURE_FPS, CHANNEL_NAMES, NUM_CHANNELS, ROTATION_NAMES

logger = logging.getLogger(__name__)

_CHANNEL_INDEX = {n.lower(): i for i, n in enumerate(CHANNEL_NAMES)}
_TIMECODE_KEYS = {"timecode"}
_COUNT_KEYS = {"blendshapecount"}
_TIMECODE_PATTERN = r"^\s*(?P<h>\d{1,2})[:;](?P<m>\d{2})[:;](?P<s>\d{2})[:;.](?P<f>\d{1,3})(?:\.(?P<sub>\d+))?\s*$"
_STANDARD_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 100.0, 120.0)
_STANDARD_TC_BASES = (24, 25, 30, 48, 50, 60, 100, 120)


class LiveLinkFormatError(ValueError):
    """A Live Link Face CSV that cannot be read; the message names file, line and column."""


@dataclass
class LiveLinkTake:
    """One Live Link Face take as read from disk."""

    frames: np.ndarray
    """``[T, 61]`` float32 in :data:`~express4d_dataset.arkit.CHANNEL_NAMES` order."""
    fps: float
    """Rows per second, inferred from the timecodes (``default_fps`` when they cannot tell)."""
    timecodes: list[str]
    """The ``Timecode`` column as written (empty when the file has none)."""
    timecode_fps: int | None = None
    """Base of the timecode's frame field (e.g. 60 when it counts 00..59); may differ from ``fps``."""
    missing_channels: tuple[str, ...] = ()
    """Channels absent from the file and zero-filled (only the nine rotation channels may be)."""
    dropped_frames: int = 0
    """Frames missing from the timecode sequence (gaps of more than one row interval)."""
    notes: list[str] = field(default_factory=list)
    """Human-readable remarks on what the reader had to tolerate."""
    path: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


def _err(path, msg, line=None, column=None) -> LiveLinkFormatError:
    where = str(path)
    if line is not None:
        where += f", line {line}"
    if column is not None:
        where += f", column {column!r}"
    return LiveLinkFormatError(f"{where}: {msg}")


def _map_header(path, header: list[str]):
    """Return (timecode column or None, count column or None, {file column -> channel index})."""
    tc_col = count_col = None
    channel_cols: dict[int, int] = {}
    seen: dict[str, int] = {}
    for col, raw in enumerate(header):
        name = raw.strip().strip('"')
        key = name.lower()
        if not key:
            raise _err(path, f"column {col + 1} of the header has no name", line=1)
        if key in seen:
            raise _err(path, f"duplicate column (also column {seen[key] + 1}); remove one of them", line=1, column=name)
        seen[key] = col
        if key in _TIMECODE_KEYS:
            tc_col = col
        elif key in _COUNT_KEYS:
            count_col = col
        elif key in _CHANNEL_INDEX:
            channel_cols[col] = _CHANNEL_INDEX[key]
        else:
            raise _err(
                path,
                "unknown column; expected Timecode, BlendShapeCount and the 61 ARKit channel names "
                "(EyeBlinkLeft ... TongueOut, HeadYaw ... RightEyeRoll)",
                line=1,
                column=name,
            )
    present = set(channel_cols.values())
    missing_blend = [n for i, n in enumerate(BLENDSHAPE_NAMES) if i not in present]
    if missing_blend:
        raise _err(
            path,
            f"missing blendshape column(s) {', '.join(missing_blend)}; a Live Link Face export has all 52",
            line=1,
        )
    missing_rot = tuple(n for n in ROTATION_NAMES if CHANNEL_NAMES.index(n) not in present)
    return tc_col, count_col, channel_cols, missing_rot


def _diagnose(path, lines: list[str], header_len: int, tc_col, count_col, channel_cols, first_line: int):
    """Walk the data lines in Python and raise for the first malformed cell."""
    names = {**{c: CHANNEL_NAMES[i] for c, i in channel_cols.items()}}
    if tc_col is not None:
        names[tc_col] = "Timecode"
    if count_col is not None:
        names[count_col] = "BlendShapeCount"
    for offset, line in enumerate(lines):
        lineno = first_line + offset
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != header_len:
            raise _err(path, f"ragged row: {len(cells)} cells, the header has {header_len}", line=lineno)
        for col, cell in enumerate(cells):
            if col == tc_col:
                continue
            text = cell.strip()
            try:
                value = float(text)
            except ValueError:
                raise _err(path, f"non-numeric value {text!r}", line=lineno, column=names[col]) from None
            if not math.isfinite(value):
                raise _err(path, f"value {text!r} is not finite", line=lineno, column=names[col])
    raise _err(path, "could not be parsed as CSV (no malformed cell found; is the delimiter a comma?)")


def _parse_timecodes(path, timecodes, body: bytes) -> np.ndarray:
    """Return ``[T, 5]`` (h, m, s, frame, sub-frame) from an Arrow string column, vectorised.

    Raises naming the line of the first timecode that is not ``HH:MM:SS:FF[.sss]``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    fields = pc.extract_regex(timecodes, _TIMECODE_PATTERN)  # null where the pattern fails
    if fields.null_count:
        bad = int(np.flatnonzero(~pc.is_valid(fields).to_numpy(zero_copy_only=False))[0])
        raise _err(
            path,
            f"invalid timecode {timecodes[bad].as_py()!r}; expected HH:MM:SS:FF or HH:MM:SS:FF.sss",
            line=_data_line_numbers(body)[bad],
            column="Timecode",
        )
    parts = np.empty((len(timecodes), 5), dtype=np.float64)
    for j, name in enumerate(("h", "m", "s", "f")):
        parts[:, j] = pc.cast(pc.struct_field(fields, name), pa.float64()).to_numpy(zero_copy_only=False)
    sub = pc.struct_field(fields, "sub")
    parts[:, 4] = pc.cast(pc.binary_join_element_wise("0.", pc.if_else(pc.equal(sub, ""), "0", sub), ""), pa.float64()).to_numpy(
        zero_copy_only=False
    )
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


def read_livelink_csv(path: str | os.PathLike, default_fps: float = CAPTURE_FPS) -> LiveLinkTake:
    """Read a Live Link Face CSV into a :class:`LiveLinkTake` (frames ``[T, 61]`` float32).

    Raises :class:`LiveLinkFormatError` for an empty file, unknown or duplicate columns, missing
    blendshape columns, ragged rows, non-numeric / NaN / inf cells and malformed timecodes.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text_head_end = data.find(b"\n")
    header_line = (data if text_head_end < 0 else data[:text_head_end]).decode("utf-8", errors="replace").rstrip("\r")
    if not data or data.isspace() or not header_line.strip():
        raise _err(path, "empty file; expected a Live Link Face header (Timecode,BlendShapeCount,EyeBlinkLeft,...)")
    header = header_line.split(",")
    tc_col, count_col, channel_cols, missing_rot = _map_header(path, header)
    body = b"" if text_head_end < 0 else data[text_head_end + 1 :]
    if not body or body.isspace():
        raise _err(path, "the file has a header but no frames")

    col_names = [f"c{i}" for i in range(len(header))]
    types = {name: (pa.string() if i == tc_col else pa.float64()) for i, name in enumerate(col_names)}
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=col_names),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        lines = body.decode("utf-8", errors="replace").splitlines()
        _diagnose(path, lines, len(header), tc_col, count_col, channel_cols, first_line=2)
        raise  # unreachable: _diagnose always raises

    frames = np.zeros((table.num_rows, NUM_CHANNELS), dtype=np.float32)
    checked = [(col, CHANNEL_NAMES[ch]) for col, ch in channel_cols.items()]
    if count_col is not None:
        checked.append((count_col, "BlendShapeCount"))
    for col, name in checked:
        column = table.column(col)
        values = column.to_numpy(zero_copy_only=False)
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            problem = "empty cell" if not column[bad].is_valid else f"value {values[bad]!r} is not finite"
            raise _err(path, problem, line=_data_line_numbers(body)[bad], column=name)
        if col in channel_cols:
            frames[:, channel_cols[col]] = values

    notes: list[str] = []
    if missing_rot:
        notes.append(f"no rotation columns {', '.join(missing_rot)}: zero-filled")
        logger.warning("%s: no %d head/eye rotation columns; they are zero-filled", path, len(missing_rot))
    timecodes: list[str] = []
    fps, tc_base, dropped = float(default_fps), None, 0
    if tc_col is not None:
        tc_column = table.column(tc_col).combine_chunks()
        parts = _parse_timecodes(path, tc_column, body)
        timecodes = tc_column.to_pylist()
        fps, tc_base, dropped, note = infer_fps(parts, default_fps)
        if note:
            notes.append(note)
        if dropped:
            notes.append(f"{dropped} frame(s) missing from the timecode sequence")
    else:
        notes.append(f"no Timecode column; assumed {default_fps:g} fps")
    return LiveLinkTake(
        frames=frames,
        fps=fps,
        timecodes=timecodes,
        timecode_fps=tc_base,
        missing_channels=missing_rot,
        dropped_frames=dropped,
        notes=notes,
        path=path,
    )


def _data_line_numbers(body: bytes) -> list[int]:
    """1-based file line numbers of the non-blank data lines (the header is line 1)."""
    return [i + 2 for i, line in enumerate(body.decode("utf-8", errors="replace").splitlines()) if line.strip()]


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
