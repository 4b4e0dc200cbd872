import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from express4d_dataset.arkit import BLENDSHAPE_NAMES, CHANNEL_NAMES, NUM_CHANNELS, ROTATION_NAMES
from express4d_dataset.livelink import (
    LiveLinkFormatError,
    format_timecode,
    read_livelink_csv,
    write_livelink_csv,
)


def _motion(num_frames=12, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.uniform(0, 1, size=(num_frames, NUM_CHANNELS)).astype(np.float32)
    m[:, 52:] = rng.uniform(-0.5, 0.5, size=(num_frames, 9))
    return m


def _csv(path, header, rows, bom=False, trailing="\n"):
    text = ",".join(header) + "\n" + "\n".join(",".join(str(c) for c in r) for r in rows) + trailing
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _rows(motion, timecodes, names=CHANNEL_NAMES):
    idx = [CHANNEL_NAMES.index(n) for n in names]
    return [[tc, 61, *[f"{v:.6f}" for v in motion[i, idx]]] for i, tc in enumerate(timecodes)]


def _tcs(n, step=1, sub=True):
    return [format_timecode(i * step, 60) if sub else format_timecode(i * step, 60)[:11] for i in range(n)]


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

HEADER = ["Timecode", "BlendShapeCount", *CHANNEL_NAMES]


def _good_rows(n=4):
    return _rows(_motion(n), _tcs(n))


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


def test_error_is_a_value_error(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(ValueError):
        read_livelink_csv(tmp_path / "e.csv")
