import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from express4d_dataset.arkit import BLENDSHAPE_NAMES, CHANNEL_NAMES, NUM_CHANNELS, ROTATION_NAMES
from express4d_dataset.livelink import (
    LiveLinkFormatError,
    LiveLinkTake,
    format_timecode,
    read_livelink_csv,
    write_livelink_csv,
)
from livelink_rows import HEADER, _csv, _good_rows, _motion, _rows, _tcs


# --- the real capture -------------------------------------------------------------------------


def test_real_capture(alex_rom_path, tmp_path):
    take = read_livelink_csv(alex_rom_path)
    assert take.frames.shape == (4030, 61)
    assert take.frames.dtype == np.float32
    assert take.missing_channels == ()
    # The timecode counts frames at 60 (00..59) ...
    assert take.timecode_fps == 60
    # ... but consecutive rows are two timecode frames apart: 4,030 rows span 134 s of timecode,
    # so the rows are sampled at 30 per second, with 3 frames dropped by the app.
    assert take.fps == 30.0
    assert take.dropped_frames == 3
    assert take.timecodes[0] == "13:13:04:31.652"
    assert take.timecodes[-1] == "13:15:18:54.561"
    # First value of the file, EyeBlinkLeft of row 1.
    assert take.frames[0, 0] == pytest.approx(0.1236470118)
    # Blendshapes are nominally 0..1; real ARKit output overshoots slightly and is kept as is.
    assert take.frames[:, :52].min() >= 0 and 1.0 < take.frames[:, :52].max() < 1.01
    # Round trip through the writer, keeping the original timecodes.
    out = tmp_path / "rt.csv"
    write_livelink_csv(out, take.frames, fps=take.fps, timecodes=take.timecodes)
    again = read_livelink_csv(out)
    np.testing.assert_allclose(again.frames, take.frames, atol=1e-6, rtol=0)
    assert again.timecodes == take.timecodes
    assert again.fps == 30.0
    # The written header is byte-identical to the app's.
    assert out.read_text().splitlines()[0] == alex_rom_path.read_text().splitlines()[0]


# --- the writer --------------------------------------------------------------------------------


def test_writer_exact_layout(tmp_path):
    m = _motion(3)
    m[0, 0] = -0.0
    write_livelink_csv(tmp_path / "a.csv", m, fps=60, start_seconds=3600 + 61.5)
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0] == "Timecode,BlendShapeCount," + ",".join(CHANNEL_NAMES)
    assert len(lines) == 4
    cells = lines[1].split(",")
    assert cells[0] == "01:01:01:30.000" and cells[1] == "61" and len(cells) == 63
    assert cells[2] == "0.0000000000"  # no "-0.0000000000"
    assert lines[2].split(",")[0] == "01:01:01:31.000"
    assert all(len(c.split(".")[1]) == 10 for c in cells[2:])


@pytest.mark.parametrize("fps", [60, 30, 20, 25, 24])
def test_writer_fps_round_trip(tmp_path, fps):
    m = _motion(150)
    write_livelink_csv(tmp_path / "a.csv", m, fps=fps)
    take = read_livelink_csv(tmp_path / "a.csv")
    assert take.fps == fps
    assert take.dropped_frames == 0
    np.testing.assert_allclose(take.frames, m, atol=1e-6, rtol=0)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 20), st.just(NUM_CHANNELS)), elements=st.floats(-3, 3, width=32)))
def test_round_trip_property(tmp_path_factory, m):
    path = tmp_path_factory.mktemp("rt") / "p.csv"
    write_livelink_csv(path, m, fps=60)
    np.testing.assert_allclose(read_livelink_csv(path).frames, m, atol=1e-6, rtol=0)


def test_writer_rejects_bad_frames(tmp_path):
    with pytest.raises(ValueError, match=r"shape \[T, 61\], got \(4, 60\)"):
        write_livelink_csv(tmp_path / "a.csv", np.zeros((4, 60)))
    bad = np.zeros((4, 61))
    bad[2, 17] = np.nan
    with pytest.raises(ValueError, match="frame 2 channel JawOpen is not finite"):
        write_livelink_csv(tmp_path / "a.csv", bad)


# --- reader tolerances -------------------------------------------------------------------------


def test_count_column_spelling_and_camel_case(tmp_path):
    m = _motion(5)
    camel = [n[0].lower() + n[1:] for n in CHANNEL_NAMES]
    header = ["Timecode", "BlendshapeCount", *camel]
    take = read_livelink_csv(_csv(tmp_path / "a.csv", header, _rows(m, _tcs(5))))
    np.testing.assert_allclose(take.frames, m, atol=1e-6)


def test_columns_in_any_order(tmp_path):
    m = _motion(6)
    rng = np.random.default_rng(1)
    names = list(CHANNEL_NAMES)
    rng.shuffle(names)
    idx = [CHANNEL_NAMES.index(n) for n in names]
    header = [*names[:30], "BlendShapeCount", *names[30:], "Timecode"]
    rows = [[*[f"{v:.6f}" for v in m[i, idx[:30]]], 61, *[f"{v:.6f}" for v in m[i, idx[30:]]], tc] for i, tc in enumerate(_tcs(6))]
    take = read_livelink_csv(_csv(tmp_path / "a.csv", header, rows))
    np.testing.assert_allclose(take.frames, m, atol=1e-6)
    assert take.fps == 60


def test_missing_rotation_columns_zero_filled_and_reported(tmp_path, caplog):
    m = _motion(4)
    header = ["Timecode", "BlendShapeCount", *BLENDSHAPE_NAMES]
    with caplog.at_level("WARNING"):
        take = read_livelink_csv(_csv(tmp_path / "a.csv", header, _rows(m, _tcs(4), BLENDSHAPE_NAMES)))
    assert take.missing_channels == ROTATION_NAMES
    assert np.all(take.frames[:, 52:] == 0)
    np.testing.assert_allclose(take.frames[:, :52], m[:, :52], atol=1e-6)
    assert any("zero-filled" in n for n in take.notes)
    assert "rotation columns" in caplog.text


def test_timecodes_without_subframe_bom_and_blank_lines(tmp_path):
    m = _motion(8)
    header = ["Timecode", "BlendShapeCount", *CHANNEL_NAMES]
    path = _csv(tmp_path / "a.csv", header, _rows(m, _tcs(8, sub=False)), bom=True, trailing="\n\n\r\n\n")
    take = read_livelink_csv(path)
    assert take.frames.shape == (8, 61)
    assert take.timecodes[1] == "00:00:00:01"
    assert take.fps == 60


def test_crlf_line_endings(tmp_path):
    m = _motion(5)
    path = tmp_path / "a.csv"
    write_livelink_csv(path, m)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    np.testing.assert_allclose(read_livelink_csv(path).frames, m, atol=1e-6)


def test_no_timecode_column_defaults_to_60(tmp_path):
    m = _motion(4)
    header = ["BlendShapeCount", *CHANNEL_NAMES]
    rows = [r[1:] for r in _rows(m, _tcs(4))]
    take = read_livelink_csv(_csv(tmp_path / "a.csv", header, rows))
    assert take.fps == 60 and take.timecodes == []
    assert any("no Timecode column" in n for n in take.notes)


def test_dropped_frames_and_30fps_rows_on_60_base(tmp_path):
    m = _motion(60)
    tcs = [format_timecode(2 * i + (2 if i >= 30 else 0), 60) for i in range(60)]  # one 30 fps row lost
    path = _csv(tmp_path / "a.csv", ["Timecode", "BlendShapeCount", *CHANNEL_NAMES], _rows(m, tcs))
    take = read_livelink_csv(path)
    assert take.fps == 30 and take.timecode_fps == 60 and take.dropped_frames == 1


# --- bad input: one clear error naming file, line and column -----------------------------------

def test_empty_file(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(LiveLinkFormatError, match=r"e\.csv: empty file"):
        read_livelink_csv(tmp_path / "e.csv")
    (tmp_path / "b.csv").write_bytes(b"\xef\xbb\xbf\n\n")
    with pytest.raises(LiveLinkFormatError, match="empty file"):
        read_livelink_csv(tmp_path / "b.csv")


def test_header_only(tmp_path):
    path = _csv(tmp_path / "h.csv", HEADER, [])
    with pytest.raises(LiveLinkFormatError, match="header but no frames"):
        read_livelink_csv(path)


def test_unknown_column(tmp_path):
    header = [*HEADER[:5], "EyeBlinkMiddle", *HEADER[6:]]
    path = _csv(tmp_path / "u.csv", header, _good_rows())
    with pytest.raises(LiveLinkFormatError, match=r"u\.csv, line 1, column 'EyeBlinkMiddle': unknown column"):
        read_livelink_csv(path)


def test_duplicate_column(tmp_path):
    header = [*HEADER, "jawOpen"]
    rows = [[*r, "0.5"] for r in _good_rows()]
    with pytest.raises(LiveLinkFormatError, match=r"line 1, column 'jawOpen': duplicate column \(also column 20\)"):
        read_livelink_csv(_csv(tmp_path / "d.csv", header, rows))


def test_missing_blendshape(tmp_path):
    header = [h for h in HEADER if h != "CheekPuff"]
    rows = [[c for j, c in enumerate(r) if HEADER[j] != "CheekPuff"] for r in _good_rows()]
    with pytest.raises(LiveLinkFormatError, match="missing blendshape column.*CheekPuff"):
        read_livelink_csv(_csv(tmp_path / "m.csv", header, rows))


def test_non_numeric_cell(tmp_path):
    rows = _good_rows()
    rows[2][2 + 17] = "abc"  # JawOpen of the third data row = file line 4
    with pytest.raises(LiveLinkFormatError, match=r"n\.csv, line 4, column 'JawOpen': non-numeric value 'abc'"):
        read_livelink_csv(_csv(tmp_path / "n.csv", HEADER, rows))


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_non_finite_cell(tmp_path, value):
    rows = _good_rows()
    rows[1][2 + 60] = value  # RightEyeRoll, file line 3
    with pytest.raises(LiveLinkFormatError, match=r"line 3, column 'RightEyeRoll': value .* is not finite"):
        read_livelink_csv(_csv(tmp_path / "f.csv", HEADER, rows))


def test_empty_cell(tmp_path):
    rows = _good_rows()
    rows[3][2] = ""
    with pytest.raises(LiveLinkFormatError, match=r"line 5, column 'EyeBlinkLeft': empty cell"):
        read_livelink_csv(_csv(tmp_path / "c.csv", HEADER, rows))


def test_error_line_numbers_count_blank_lines(tmp_path):
    path = tmp_path / "g.csv"
    rows = _good_rows()
    rows[2][2] = "x"
    text = ",".join(HEADER) + "\n" + ",".join(map(str, rows[0])) + "\n\n" + "\n".join(",".join(map(str, r)) for r in rows[1:])
    path.write_text(text)
    with pytest.raises(LiveLinkFormatError, match=r"line 5, column 'EyeBlinkLeft'"):
        read_livelink_csv(path)


def test_ragged_row(tmp_path):
    rows = _good_rows()
    rows[1] = rows[1][:-1]
    with pytest.raises(LiveLinkFormatError, match=r"r\.csv, line 3: ragged row: 62 cells, the header has 63"):
        read_livelink_csv(_csv(tmp_path / "r.csv", HEADER, rows))


def test_bad_timecode(tmp_path):
    rows = _good_rows()
    rows[2][0] = "12:00"
    with pytest.raises(LiveLinkFormatError, match=r"line 4, column 'Timecode': invalid timecode '12:00'"):
        read_livelink_csv(_csv(tmp_path / "t.csv", HEADER, rows))


def test_repeated_or_reversed_timecodes_are_refused_by_line(tmp_path):
    m = _motion(600)
    reversed_take = _csv(tmp_path / "r.csv", HEADER, _rows(m, _tcs(600)[::-1]))  # 10 s played backwards
    with pytest.raises(LiveLinkFormatError, match=r"r.csv, line 3, column 'Timecode': timecode 00:00:09:58.000 goes back from "
                       r"the previous row's 00:00:09:59.000 \(599 such row\(s\)\); the rows of a take must be in time order"):
        read_livelink_csv(reversed_take)
    tcs = _tcs(600)
    tcs[300:] = tcs[:300]  # a second pass over the same clock: 10 s of rows, 5 s of timecodes
    with pytest.raises(LiveLinkFormatError, match=r"line 302, column 'Timecode': timecode 00:00:00:00.000 goes back from"):
        read_livelink_csv(_csv(tmp_path / "twice.csv", HEADER, _rows(m, tcs)))
    tcs = _tcs(5)
    tcs[3] = tcs[2]
    with pytest.raises(LiveLinkFormatError, match=r"line 5, column 'Timecode': timecode 00:00:00:02.000 repeats the previous"):
        read_livelink_csv(_csv(tmp_path / "rep.csv", HEADER, _rows(_motion(5), tcs)))
    midnight = [format_timecode(86400 * 60 - 2 + i, 60) for i in range(4)]  # 23:59:59:58 ... 00:00:00:01: in order
    assert read_livelink_csv(_csv(tmp_path / "m.csv", HEADER, _rows(_motion(4), midnight))).num_frames == 4


def test_error_is_a_value_error(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(ValueError):
        read_livelink_csv(tmp_path / "e.csv")


# --- bad input that used to be read silently wrong -------------------------------------------------


def test_stray_quote_does_not_drop_rows(tmp_path):
    """pyarrow's block parser took one stray '"' for an opening quote: 4,030 rows came back as ~3,700."""
    m = _motion(4030)
    path = tmp_path / "big.csv"
    write_livelink_csv(path, m)
    lines = path.read_text().split("\n")
    cells = lines[1008].split(",")
    cells[10] = '"' + cells[10]
    lines[1008] = ",".join(cells)
    path.write_text("\n".join(lines))
    with pytest.raises(LiveLinkFormatError, match=r"big\.csv, line 1009, column 'EyeLookDownRight': non-numeric value '\"0\.\d+'"):
        read_livelink_csv(path)
    cells = lines[1008].split(",")  # in the Timecode column too
    cells[0], cells[10] = '"' + cells[0], cells[10][1:]
    lines[1008] = ",".join(cells)
    path.write_text("\n".join(lines))
    with pytest.raises(LiveLinkFormatError, match=r"line 1009, column 'Timecode': invalid timecode '\"00:00:16:47\.000'"):
        read_livelink_csv(path)


def test_real_capture_with_a_stray_quote(alex_rom_path, tmp_path):
    lines = alex_rom_path.read_bytes().split(b"\n")
    lines[1240] = lines[1240].replace(b",", b',"', 1)  # BlendShapeCount of line 1241
    (tmp_path / "q.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(LiveLinkFormatError, match=r"q\.csv, line 1241, column 'BlendShapeCount': non-numeric value '\"61'"):
        read_livelink_csv(tmp_path / "q.csv")


@pytest.mark.parametrize("value", ["1e39", "3.5e38", "-1e39"])
def test_values_beyond_float32(tmp_path, value):
    rows = _good_rows()
    rows[2][2 + 17] = value  # JawOpen, file line 4
    with pytest.raises(LiveLinkFormatError, match=rf"v\.csv, line 4, column 'JawOpen': value '{value}' is beyond float32"):
        read_livelink_csv(_csv(tmp_path / "v.csv", HEADER, rows))


@pytest.mark.parametrize(
    "timecode, problem",
    [("25:61:61:99", "hours 25 must be below 24"), ("99:99:99:999", "hours 99 must be below 24"),
     ("12:61:00:00", "minutes 61 must be below 60"), ("12:00:60:00", "seconds 60 must be below 60"),
     ("12:00:00:120", "frame 120 must be below 120")],
)
def test_impossible_timecodes(tmp_path, timecode, problem):
    rows = _good_rows()
    rows[1][0] = timecode
    with pytest.raises(LiveLinkFormatError, match=rf"t\.csv, line 3, column 'Timecode': timecode '{timecode}' out of range: {problem}"):
        read_livelink_csv(_csv(tmp_path / "t.csv", HEADER, rows))


def test_timecodes_implying_no_row_rate_and_duration(tmp_path):
    rows = _good_rows(2)
    rows[0][0], rows[1][0] = "00:00:00:00", "23:00:00:00"  # valid fields, 23 hours apart: "0.0 fps" before
    with pytest.raises(LiveLinkFormatError, match=r"s\.csv, column 'Timecode': the timecodes imply 0 rows per second"):
        read_livelink_csv(_csv(tmp_path / "s.csv", HEADER, rows))
    with pytest.raises(ValueError, match="fps must be positive and finite, got 0.0"):
        LiveLinkTake(frames=np.zeros((3, NUM_CHANNELS), np.float32), fps=0.0, timecodes=[])
    take = LiveLinkTake(frames=np.zeros((3, NUM_CHANNELS), np.float32), fps=30.0, timecodes=[])
    take.fps = 0.0  # even a take changed afterwards never divides by zero
    assert take.duration == 0.0


def test_whitespace_only_line(tmp_path):
    path = tmp_path / "w.csv"
    rows = _good_rows()
    path.write_text(",".join(HEADER) + "\n" + ",".join(map(str, rows[0])) + "\n   \n" + "\n".join(",".join(map(str, r)) for r in rows[1:]))
    with pytest.raises(LiveLinkFormatError, match=r"w\.csv, line 3: whitespace-only line"):
        read_livelink_csv(path)


@pytest.mark.parametrize("value", ["1_000", "\u0661\u0662", "0x10", "1,5".replace(",", "\u066b")])
def test_only_plain_decimals(tmp_path, value):
    """Python's float() accepts '1_000' and Arabic-Indic digits; the file must not."""
    rows = _good_rows()
    rows[1][2 + 5] = value
    with pytest.raises(LiveLinkFormatError, match=rf"d\.csv, line 3, column '{CHANNEL_NAMES[5]}': non-numeric value {re.escape(repr(value))}"):
        read_livelink_csv(_csv(tmp_path / "d.csv", HEADER, rows))


@pytest.mark.parametrize("sep, name", [(";", "';'"), ("\t", "a tab")])
def test_wrong_delimiter(tmp_path, sep, name):
    m = _motion(3)
    path = tmp_path / "s.csv"
    path.write_text(sep.join(HEADER) + "\n" + "\n".join(sep.join(map(str, r)) for r in _rows(m, _tcs(3))) + "\n")
    with pytest.raises(LiveLinkFormatError, match=rf"s\.csv, line 1, column .*: the header is not comma-separated \(it contains {name}\): wrong delimiter") as e:
        read_livelink_csv(path)
    assert len(str(e.value)) - len(str(path)) < 200  # not the whole 1,000-character header
    # a comma header over delimiter-separated rows
    path.write_text(",".join(HEADER) + "\n" + "\n".join(sep.join(map(str, r)) for r in _rows(m, _tcs(3))) + "\n")
    with pytest.raises(LiveLinkFormatError, match=r"line 2: ragged row: 1 cell, the header has 63; .* wrong delimiter") as e:
        read_livelink_csv(path)
    assert len(str(e.value)) - len(str(path)) < 200


def test_binary_content_never_lands_in_messages(tmp_path):
    junk = bytes(range(256)) * 40
    (tmp_path / "bin.csv").write_bytes(junk)
    with pytest.raises(LiveLinkFormatError, match=r"bin\.csv, line 1: binary data \(a NUL byte\)") as e:
        read_livelink_csv(tmp_path / "bin.csv")
    assert len(str(e.value)) - len(str(tmp_path)) < 100
    # no NUL: an unknown column of junk, shown cut to about 60 characters
    (tmp_path / "hdr.csv").write_bytes(bytes(range(128, 256)) * 40 + b"\n" + b"1,2\n")
    with pytest.raises(LiveLinkFormatError, match=r"hdr\.csv, line 1, column '.{40,60}\.\.\.': unknown column") as e:
        read_livelink_csv(tmp_path / "hdr.csv")
    assert len(str(e.value)) - len(str(tmp_path)) < 250
    # binary junk in a data row
    rows = [",".join(map(str, r)).encode() for r in _good_rows()]
    rows[2] = bytes(range(128, 256)) * 10
    (tmp_path / "row.csv").write_bytes(",".join(HEADER).encode() + b"\n" + b"\n".join(rows))
    with pytest.raises(LiveLinkFormatError, match=r"row\.csv, line 4: (not UTF-8 text|ragged row)") as e:
        read_livelink_csv(tmp_path / "row.csv")
    assert len(str(e.value)) - len(str(tmp_path)) < 150


def test_messages_show_cells_not_numpy_reprs(tmp_path):
    rows = _good_rows()
    rows[1][2 + 3] = "NaN"
    with pytest.raises(LiveLinkFormatError) as e:
        read_livelink_csv(_csv(tmp_path / "n.csv", HEADER, rows))
    assert "value 'NaN' is not finite" in str(e.value) and "np." not in str(e.value)
    assert (e.value.path, e.value.line, e.value.column, e.value.kind) == (str(tmp_path / "n.csv"), 3, "EyeLookOutLeft", "not-finite")
    long_cell = "9" * 500 + "x"
    rows[1][2 + 3] = long_cell
    with pytest.raises(LiveLinkFormatError) as e:
        read_livelink_csv(_csv(tmp_path / "n.csv", HEADER, rows))
    assert "non-numeric value '999" in str(e.value) and len(str(e.value)) - len(str(tmp_path)) < 200


def test_rows_in_equal_rows_out_with_blank_lines_and_crlf(tmp_path):
    m = _motion(6)
    body = "\r\n".join(",".join(map(str, r)) for r in _rows(m, _tcs(6)))
    path = tmp_path / "c.csv"
    path.write_text(",".join(HEADER) + "\r\n\r\n" + body.replace("\r\n", "\r\n\n", 1) + "\r\n\r\n")
    take = read_livelink_csv(path)
    assert take.num_frames == take.data_rows == 6
    np.testing.assert_allclose(take.frames, m, atol=1e-6)
    # a bare carriage return inside a row would make the parser see two rows: an error naming the line
    path.write_text(",".join(HEADER) + "\n" + body.replace("\r\n", "\n").replace(",", ",\r", 1))
    with pytest.raises(LiveLinkFormatError, match=r"c\.csv, line 2, column 'BlendShapeCount': non-numeric value"):
        read_livelink_csv(path)
