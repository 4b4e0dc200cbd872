"""The Live Link Face reader on lost tracking: rows with BlendShapeCount 0 and no values, real and hand-made."""

from pathlib import Path

import numpy as np
import pytest

from express4d_dataset.arkit import NUM_CHANNELS
from express4d_dataset.livelink import LiveLinkFormatError, UntrackedGapError, format_timecode, read_livelink_csv, untracked_policy
from livelink_rows import HEADER, _csv, _good_rows, _tcs


# --- lost tracking: rows with BlendShapeCount 0 and no values ------------------------------------

LIVELINK_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "livelink"
# Runs of lost-tracking rows in the real takes (file lines, the header is line 1), read off the files.
REAL_UNTRACKED = {
    "S88-001.csv": (1939, [(384, 512), (1713, 1835), (1841, 1865)]),
    "apfel.csv": (1926, [(224, 226), (238, 241), (402, 404), (567, 572), (579, 586), (1229, 1231), (1443, 1450)]),
}


def _fixture(name):
    path = LIVELINK_FIXTURES / name
    if not path.exists():
        pytest.skip(f"real capture fixture missing: {path}")
    return path


def _data_lines(path):
    """(line number, text) of every non-blank data line, counted here independently of the reader."""
    lines = path.read_bytes().decode("utf-8").split("\n")
    return [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip("\r")]


@pytest.mark.parametrize("name", sorted(REAL_UNTRACKED))
def test_real_lost_tracking_rows_are_accounted_for(name):
    path = _fixture(name)
    rows, spans = REAL_UNTRACKED[name]
    lines = _data_lines(path)
    untracked_lines = [n for n, text in lines if text.split(",")[1:] == ["0"]]
    assert len(lines) == rows
    assert len(untracked_lines) == sum(b - a + 1 for a, b in spans) == {"S88-001.csv": 277, "apfel.csv": 35}[name]
    take = read_livelink_csv(path, untracked="split")
    assert take.data_rows == rows == take.tracked_frames + take.untracked_frames
    assert take.untracked_frames == len(untracked_lines)
    assert [(s.first_line, s.last_line) for s in take.untracked_spans] == spans
    assert [s.frames for s in take.untracked_spans] == [b - a + 1 for a, b in spans]
    assert all(s.first_row == s.first_line - 2 for s in take.untracked_spans)  # no blank lines in these files
    assert np.isfinite(take.frames).all() and take.fps == 30.0
    # the tracked rows kept are the file's values, untouched
    tracked = {n: text for n, text in lines if n not in set(untracked_lines)}
    first_line = take.first_row + 2
    for k in (0, take.num_frames // 2, take.num_frames - 1):
        text = tracked.get(first_line + k)
        if text is not None:
            np.testing.assert_allclose(take.frames[k], np.array(text.split(",")[2:], dtype=np.float32))
        assert take.timecodes[k] == lines[take.first_row + k][1].split(",")[0]


def test_real_short_gaps_are_interpolated():
    path = _fixture("apfel.csv")
    take = read_livelink_csv(path)  # default: interpolate gaps up to 0.5 s; apfel's longest is 8 rows (0.27 s)
    assert take.num_frames == take.data_rows == 1926 and take.first_row == 0
    assert {s.handling for s in take.untracked_spans} == {"interpolated"}
    assert any("35 untracked row(s)" in n and "35 interpolated" in n for n in take.notes)
    for span in take.untracked_spans:
        before, after = take.frames[span.first_row - 1], take.frames[span.last_row + 1]
        for k in range(span.first_row, span.last_row + 1):
            w = (k - span.first_row + 1) / (span.frames + 1)
            np.testing.assert_allclose(take.frames[k], before + w * (after - before), rtol=0, atol=1e-6)


def test_real_long_gap_interpolate_refuses_and_split_keeps_the_longest_segment():
    path = _fixture("S88-001.csv")
    with pytest.raises(UntrackedGapError, match=r"S88-001\.csv, line 384: lost tracking for 129 rows \(4\.30 s, lines 384-512\)"
                       r".*untracked='split'") as refused:
        read_livelink_csv(path)
    assert refused.value.line == 384 and isinstance(refused.value, LiveLinkFormatError)
    take = read_livelink_csv(path, untracked="split")
    # tracked segments: lines 2-383, 513-1712, 1836-1840, 1866-1940; the longest is kept
    assert take.first_row == 511 and take.num_frames == 1712 - 513 + 1
    assert [s.handling for s in take.untracked_spans] == ["dropped"] * 3
    assert any("kept rows 511..1710 (lines 513-1712)" in n for n in take.notes)
    # with a long enough maximum everything is interpolated
    assert read_livelink_csv(path, max_untracked_gap=5.0).num_frames == 1939


def test_real_untracked_error_policy_names_the_line():
    with pytest.raises(LiveLinkFormatError, match=r"apfel\.csv, line 224: lost-tracking row .* policy is 'error'; 35 such rows"):
        read_livelink_csv(_fixture("apfel.csv"), untracked="error")


def _lost_tracking_file(path, pattern, fps=60, header=HEADER):
    """Rows: 'T' tracked (values 10*row + channel/100), 'U' lost tracking; returns the values."""
    values = np.array([[10 * r + c / 100 for c in range(NUM_CHANNELS)] for r in range(len(pattern))], dtype=np.float32)
    tcs = [format_timecode(i, fps) for i in range(len(pattern))]
    rows = [[tc, 61, *[f"{v:.4f}" for v in values[i]]] if p == "T" else [tc, 0] for i, (tc, p) in enumerate(zip(tcs, pattern))]
    _csv(path, header, rows)
    return values


def test_interpolation_of_a_hand_made_take(tmp_path):
    pattern = "UUTTUUUTTUU"  # leading run held, interior run interpolated, trailing run held
    values = _lost_tracking_file(tmp_path / "h.csv", pattern)
    take = read_livelink_csv(tmp_path / "h.csv")
    assert take.data_rows == 11 and take.untracked_frames == 7 and take.tracked_frames == 4
    assert [tuple(s[:5]) for s in take.untracked_spans] == [(2, 3, 0, 1, 2 / 60), (6, 8, 4, 6, 3 / 60), (11, 12, 9, 10, 2 / 60)]
    assert [s.handling for s in take.untracked_spans] == ["held", "interpolated", "held"]
    expected = values.copy()
    expected[0] = expected[1] = values[2]
    for k, w in zip((4, 5, 6), (0.25, 0.5, 0.75)):  # between rows 3 and 7, every channel, rotations included
        expected[k] = values[3] + w * (values[7] - values[3])
    expected[9] = expected[10] = values[8]
    np.testing.assert_allclose(take.frames, expected, rtol=0, atol=1e-4)
    assert take.frames[5, 60] == pytest.approx(50.6, abs=1e-4)  # RightEyeRoll, halfway between 30.6 and 70.6
    assert take.timecodes == [format_timecode(i, 60) for i in range(11)]  # the lost rows keep their timecodes
    assert take.fps == 60


def test_untracked_gap_maximum_is_inclusive(tmp_path):
    # 30 rows at 60 fps = 0.5 s: filled; 31 rows: refused (interpolate) or cut (split)
    _lost_tracking_file(tmp_path / "ok.csv", "T" * 5 + "U" * 30 + "T" * 5)
    assert read_livelink_csv(tmp_path / "ok.csv").num_frames == 40
    _lost_tracking_file(tmp_path / "long.csv", "T" * 5 + "U" * 31 + "T" * 6)
    with pytest.raises(UntrackedGapError, match=r"long\.csv, line 7: lost tracking for 31 rows \(0\.52 s, lines 7-37\)"):
        read_livelink_csv(tmp_path / "long.csv")
    take = read_livelink_csv(tmp_path / "long.csv", untracked="split")
    assert take.first_row == 36 and take.num_frames == 6 and take.data_rows == 42
    assert take.timecodes[0] == format_timecode(36, 60)
    assert read_livelink_csv(tmp_path / "long.csv", max_untracked_gap=1.0).num_frames == 42


def test_untracked_policy_context_and_validation(tmp_path):
    _lost_tracking_file(tmp_path / "u.csv", "TTUTT")
    with untracked_policy("error"):
        with pytest.raises(LiveLinkFormatError, match=r"u\.csv, line 4: lost-tracking row"):
            read_livelink_csv(tmp_path / "u.csv")
        assert read_livelink_csv(tmp_path / "u.csv", untracked="interpolate").num_frames == 5  # an argument wins
    assert read_livelink_csv(tmp_path / "u.csv").num_frames == 5  # the default again
    with pytest.raises(ValueError, match="untracked policy must be one of interpolate, split, error, got 'drop'"):
        read_livelink_csv(tmp_path / "u.csv", untracked="drop")
    with pytest.raises(ValueError, match="max_untracked_gap must be a finite number of seconds >= 0"):
        read_livelink_csv(tmp_path / "u.csv", max_untracked_gap=-1)


def test_only_exact_lost_tracking_rows_are_accepted(tmp_path):
    tcs = _tcs(5)
    good = _good_rows(5)
    for bad, message in (
        ([tcs[2], 1], r"line 4: ragged row: 2 cells, the header has 63"),  # count not 0
        ([tcs[2], 0, "0.5"], r"line 4: ragged row: 3 cells"),  # a value cell
        ([tcs[2], 0, ""], r"line 4: ragged row: 3 cells"),  # a trailing comma
        (["12:00", 0], r"line 4, column 'Timecode': invalid timecode '12:00'"),
    ):
        rows = [*good[:2], bad, *good[3:]]
        with pytest.raises(LiveLinkFormatError, match=message):
            read_livelink_csv(_csv(tmp_path / "x.csv", HEADER, rows))
    with pytest.raises(LiveLinkFormatError, match=r"no tracked frames: all 3 rows are lost-tracking rows"):
        read_livelink_csv(_csv(tmp_path / "all.csv", HEADER, [[tc, 0] for tc in tcs[:3]]))


def test_render_cli_takes_the_untracked_policy(tmp_path, capsys):
    from pipelines.cli import main

    _lost_tracking_file(tmp_path / "gap.csv", "T" * 10 + "U" * 20 + "T" * 12, fps=30)  # 0.67 s of lost tracking
    args = ["render", str(tmp_path / "gap.csv"), "--out", str(tmp_path / "out"), "--no-mp4", "--size", "32"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "gap.csv, line 12: lost tracking for 20 rows (0.67 s, lines 12-31)" in err and "--untracked split" in err
    assert main([*args, "--untracked", "split"]) == 0
    assert (tmp_path / "out" / "gap.gif").exists()
    assert main([*args, "--max-untracked-gap", "0.7"]) == 0
    assert main([*args, "--untracked", "error"]) == 2
    assert "gap.csv, line 12: lost-tracking row" in capsys.readouterr().err
