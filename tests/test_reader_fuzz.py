"""Seeded fuzzing of the Live Link Face reader (no hypothesis database: plain numpy seeds, a few seconds).

Hundreds of mutations of a small valid take (byte flips, stray quotes and commas, blank and
whitespace lines, truncation, huge / NaN / inf values, impossible timecodes, lost-tracking rows,
other delimiters, binary junk, ...).  For each one the reader must either return a take whose rows
account for every data line of the file (tracked + untracked) with only finite values, or raise
:class:`LiveLinkFormatError` naming the file and, for anything about a row, the line.
"""

from __future__ import annotations

import collections
import re

import numpy as np
import pytest

from express4d_dataset.arkit import NUM_CHANNELS
from express4d_dataset.livelink import LiveLinkFormatError, format_timecode, read_livelink_csv, write_livelink_csv

NUM_MUTATIONS = 500
ROWS, FPS = 40, 30  # the base take: 1.3 s at Live Link Face's 30 rows/s (0.5 s of lost tracking = 15 rows)
# Errors about the file as a whole; every other kind concerns a line and must name it.
FILE_LEVEL_KINDS = {"empty", "no-frames", "row-rate", "untracked"}
# Fallbacks that mean the reader could not find the bad line: the fuzz must never reach them.
NEVER_KINDS = {"csv", "row-count", "format"}


def _base_file(path, seed: int, lost: range | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    frames = rng.uniform(-0.5, 1.0, (ROWS, NUM_CHANNELS)).astype(np.float32)
    write_livelink_csv(path, frames, fps=FPS)
    data = path.read_bytes()
    if lost is not None:
        lines = data.split(b"\n")
        for k in lost:
            lines[k + 1] = lines[k + 1].split(b",")[0] + b",0"
        data = b"\n".join(lines)
    return data


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _data_lines(data: bytes) -> int:
    """Rows in, counted independently: the lines after the header (split at LF, one trailing CR
    dropped) that are not empty; the CR/LF run that ends the file ends its last line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    count = 0
    for line in data.rstrip(b"\r\n").split(b"\n")[1:]:
        if line.endswith(b"\r"):
            line = line[:-1]
        count += bool(line)
    return count


def _replace_cell(data, rng, values, col_range=(2, 63)):
    lines = _lines(data)
    if len(lines) < 3:
        return data
    k = int(rng.integers(1, len(lines) - 1))
    cells = lines[k].split(b",")
    if len(cells) < col_range[1]:
        return data
    cells[int(rng.integers(*col_range))] = rng.choice(values).encode("utf-8")
    lines[k] = b",".join(cells)
    return b"\n".join(lines)


def _insert(data, rng, piece: bytes):
    at = int(rng.integers(0, len(data) + 1))
    return data[:at] + piece + data[at:]


def _at_line_start(data, rng, piece: bytes):
    lines = _lines(data)
    k = int(rng.integers(1, len(lines) + 1))
    return b"\n".join([*lines[:k], piece, *lines[k:]])


def _lost_tracking(data, rng):
    lines = _lines(data)
    n = len(lines) - 1 if lines[-1] else len(lines) - 2
    if n < 1:
        return data
    length = int(rng.integers(1, n + 1))
    start = int(rng.integers(1, n - length + 2))
    for k in range(start, start + length):
        lines[k] = lines[k].split(b",")[0] + b",0"
    return b"\n".join(lines)


def _flip(data, rng):
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        buf[int(rng.integers(0, len(buf)))] ^= 1 << int(rng.integers(0, 8))
    return bytes(buf)


def _swap_delimiter(data, rng):
    sep = rng.choice([b";", b"\t", b"|"])
    if rng.random() < 0.5:
        return data.replace(b",", sep)
    head, _, body = data.partition(b"\n")
    return head + b"\n" + body.replace(b",", sep)


MUTATIONS = {
    "byte flip": _flip,
    "stray quote": lambda d, r: _insert(d, r, b'"'),
    "stray comma": lambda d, r: _insert(d, r, b","),
    "blank line": lambda d, r: _at_line_start(d, r, r.choice([b"", b"\r"])),
    "whitespace line": lambda d, r: _at_line_start(d, r, r.choice([b" ", b"\t", b"   ", b" \r"])),
    "truncation": lambda d, r: d[: int(r.integers(0, len(d)))],
    "huge value": lambda d, r: _replace_cell(d, r, ["1e39", "3.5e38", "-1e39", "1e400", "1e308", "-3.4028236e38"]),
    "nan/inf": lambda d, r: _replace_cell(d, r, ["nan", "NaN", "inf", "-inf", "Infinity", "nan(1)", "+inf"]),
    "odd number": lambda d, r: _replace_cell(d, r, ["1_000", "\u0661\u0662", "0x10", "1,5", " ", "", "1e", "--1", ".", "\u00a00.5"]),
    "bad timecode": lambda d, r: _replace_cell(
        d, r, ["25:61:61:99", "99:99:99:999", "12:00", "00:00:00:00:00", "", "ab:cd:ef:gh", "23:59:59:120", "1:2:3:4"], (0, 1)
    ),
    "lost tracking": _lost_tracking,
    "delimiter swap": _swap_delimiter,
    "binary junk": lambda d, r: _insert(d, r, bytes(r.integers(0, 256, int(r.integers(1, 200)), dtype=np.uint8))),
    "CRLF / bare CR": lambda d, r: d.replace(b"\n", b"\r\n") if r.random() < 0.5 else _insert(d, r, b"\r"),
    "line deleted / doubled": lambda d, r: (lambda ls, k: b"\n".join(ls[:k] + ls[k + 1 :] if r.random() < 0.5 else ls[: k + 1] + ls[k:]))(
        _lines(d), int(r.integers(0, len(_lines(d))))
    ),
}


def _mutate(data: bytes, rng) -> tuple[bytes, list[str]]:
    names = list(MUTATIONS)
    picked = [names[int(rng.integers(len(names)))] for _ in range(1 if rng.random() < 0.7 else int(rng.integers(2, 4)))]
    for name in picked:
        data = MUTATIONS[name](data, rng)
    return data, picked


def _check_take(take, data: bytes, policy: str, picked: list[str], base_frames):
    rows_in = _data_lines(data)
    assert take.data_rows == rows_in, (picked, take.data_rows, rows_in)
    assert take.tracked_frames + take.untracked_frames == rows_in
    assert take.frames.dtype == np.float32 and take.frames.shape[1] == NUM_CHANNELS
    assert np.isfinite(take.frames).all(), picked
    assert 0 < take.fps < np.inf and np.isfinite(take.duration)
    if policy == "split":
        assert 1 <= take.num_frames and take.first_row + take.num_frames <= rows_in
    else:
        assert take.num_frames == rows_in and take.first_row == 0
    assert sum(s.frames for s in take.untracked_spans) == take.untracked_frames
    if take.timecodes:
        assert len(take.timecodes) == take.num_frames
    if picked in (["blank line"], ["CRLF / bare CR"]) and take.untracked_frames == 0:
        np.testing.assert_array_equal(take.frames, base_frames)


def _check_error(e: LiveLinkFormatError, path, data: bytes, picked):
    message = str(e)
    assert message.startswith(f"{path}"), message
    assert e.path == str(path)
    assert e.kind not in NEVER_KINDS, (picked, message)
    assert "np." not in message and len(message) - len(str(path)) < 500, message
    if e.kind not in FILE_LEVEL_KINDS:
        assert e.line is not None and f", line {e.line}" in message, (picked, message)
        assert 1 <= e.line <= data.count(b"\n") + 1, (e.line, message)
    if e.line is not None:
        assert re.search(rf", line {e.line}\b", message)


@pytest.mark.parametrize("seed", [0, 1])
def test_reader_fuzz(tmp_path, seed):
    rng = np.random.default_rng(seed)
    clean = _base_file(tmp_path / "base.csv", seed)
    with_lost = _base_file(tmp_path / "base_lost.csv", seed + 100, lost=range(5, 9))
    base_frames = read_livelink_csv(tmp_path / "base.csv").frames
    tally = collections.Counter()
    path = tmp_path / "mutant.csv"
    for n in range(NUM_MUTATIONS // 2):
        base = with_lost if n % 5 == 4 else clean
        data, picked = _mutate(base, rng)
        policy = ["interpolate", "split", "error"][n % 3] if n % 4 == 0 else "interpolate"
        path.write_bytes(data)
        try:
            take = read_livelink_csv(path, untracked=policy)
        except LiveLinkFormatError as e:
            _check_error(e, path, data, picked)
            tally[f"rejected: {e.kind}"] += 1
        else:  # any other exception fails the test
            _check_take(take, data, policy, picked, base_frames if base is clean else None)
            tally["accepted" + (" with lost tracking" if take.untracked_frames else "")] += 1
    print(f"\nreader fuzz, seed {seed}: {NUM_MUTATIONS // 2} mutations")
    for kind, count in sorted(tally.items()):
        print(f"  {count:4d} {kind}")
    assert tally["accepted"] > 0 and sum(v for k, v in tally.items() if k.startswith("rejected")) > 0


def test_lost_tracking_mutations_are_counted_exactly(tmp_path):
    """Every run of lost-tracking rows a mutation writes is found, wherever it lies."""
    rng = np.random.default_rng(7)
    base = _base_file(tmp_path / "base.csv", 7)
    path = tmp_path / "lost.csv"
    for _ in range(60):
        data = _lost_tracking(base, rng)
        path.write_bytes(data)
        lost = [k for k, line in enumerate(_lines(data)[1:], start=2) if line.endswith(b",0")]
        try:
            take = read_livelink_csv(path, untracked="split")
        except LiveLinkFormatError as e:
            assert len(lost) == ROWS and "no tracked frames" in str(e)
            continue
        assert take.untracked_frames == len(lost)
        assert [line for s in take.untracked_spans for line in range(s.first_line, s.last_line + 1)] == lost
        assert take.timecodes[0] == format_timecode(take.first_row, FPS, timecode_fps=60)
