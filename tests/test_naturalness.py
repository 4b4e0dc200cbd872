"""Naturalness (per-frame change, jump rate, onset/offset timing) on hand-built motions with known answers."""

import numpy as np
import pytest

from express4d_dataset.arkit import NUM_CHANNELS, channel_index
from express4d_dataset.motion import to_fps
from express4d_dataset.naturalness import (
    EXPRESSION_CHANNELS,
    JUMP,
    naturalness,
    naturalness_markdown,
    RATE,
)

SMILE = channel_index("MouthSmileLeft")


def flat(frames=90):
    return np.zeros((frames, NUM_CHANNELS))


def test_a_switch_within_one_frame_is_one_jump():
    m = flat()
    m[30:60, SMILE] = 0.9  # on in one frame, off in one frame
    stats = naturalness([(m, 30.0)])
    assert stats.jumps == 2
    assert stats.channel_frames == 89 * len(EXPRESSION_CHANNELS)
    assert stats.jump_rate == pytest.approx(1000 * 2 / (89 * 14))
    assert stats.rises == [pytest.approx(1 / 30)] and stats.falls == [pytest.approx(1 / 30)]


def test_a_ramp_has_no_jump_and_its_10_90_rise_time():
    m = flat(120)
    m[20:50, SMILE] = np.linspace(0, 0.9, 30)  # 0 -> 0.9 over 29 frames at 30 fps: 0.03 per frame
    m[50:80, SMILE] = 0.9
    m[80:110, SMILE] = np.linspace(0.9, 0, 30)
    stats = naturalness([(m, 30.0)])
    assert stats.jumps == 0
    assert stats.percentiles[99.9] == pytest.approx(0.9 / 29, rel=1e-6)
    # 10% -> 90% of a linear 29-frame ramp is 0.8 * 29 = 23.2 frames: the first row at or above 90% is 24 rows on
    assert stats.rises[0] == pytest.approx(24 / 30, abs=1 / 30)
    assert stats.falls[0] == pytest.approx(24 / 30, abs=1 / 30)


def test_rates_are_compared_at_30_rows_per_second():
    m20 = flat(40)
    m20[20:, SMILE] = 0.6  # one 20 fps frame: 0 -> 0.6
    up = to_fps(m20, 20.0, RATE)  # what the statistics use
    assert len(up) == 59  # 39 intervals at 20 fps = 1.95 s = 58.5 intervals at 30 fps, whole rows only
    stats = naturalness([(m20, 20.0)])
    # at 30 rows/s the 20 fps step spreads over two rows, 0 -> 0.2 -> 0.6: one change over 0.2
    assert JUMP == 0.2 and stats.jumps == 1
    assert np.diff(up[:, SMILE]).max() == pytest.approx(0.4)
    with pytest.raises(ValueError, match="must be positive"):
        naturalness([(m20, 0.0)])


def test_gaps_break_differences_and_small_channels_are_no_action():
    m = flat()
    m[:, SMILE] = 0.1
    m[45:, SMILE] = 0.95  # comes back after the gap at another level: no difference spans the gap
    m[:, channel_index("JawOpen")] = np.linspace(0, 0.1, 90)  # moves, but less than an action
    m[40:45] = np.nan  # lost tracking
    stats = naturalness([(m, 30.0)])
    assert stats.jumps == 0
    assert stats.rises == []  # the smile's rise is across the gap: not timed
    assert stats.channel_frames == (39 + 44) * len(EXPRESSION_CHANNELS)


def blinking(fps: float, seconds: float, at: list[float]) -> np.ndarray:
    """A still face whose lids close (1.0 for 0.1 s, half-closed rows either side) at each time in ``at``."""
    m = flat(int(round(seconds * fps)))
    for t in at:
        i = int(round(t * fps))
        for ch in ("EyeBlinkLeft", "EyeBlinkRight"):
            m[i - 1, channel_index(ch)] = m[i + 3, channel_index(ch)] = 0.5
            m[i:i + 3, channel_index(ch)] = 1.0
    return m


def test_blinks_per_minute_on_hand_built_blinks():
    shallow = blinking(30.0, 6.0, [1.0, 3.0])
    shallow[:, [channel_index("EyeBlinkLeft"), channel_index("EyeBlinkRight")]] *= 0.4  # lids 40% closed at most
    assert naturalness([(shallow, 30.0)]).blink_peak == pytest.approx(0.4)
    stats = naturalness([(blinking(30.0, 6.0, [1.0, 3.0, 5.0]), 30.0)])  # 3 blinks in 6 s
    assert stats.blinks_per_minute == pytest.approx(30.0) and stats.blink_peak == 1.0
    # the same face at 60 fps and, with a 10 s still take beside it, 3 blinks in 16 s
    two = naturalness([(blinking(60.0, 6.0, [1.0, 3.0, 5.0]), 60.0), (flat(300), 30.0)])
    assert two.blinks_per_minute == pytest.approx(3 / 16 * 60, rel=0.02)
    still = naturalness([(flat(), 30.0)])
    assert still.blinks_per_minute == 0.0 and np.isnan(still.blink_peak)
    # a closure held for 2 s is one peak, not a train of blinks
    held = flat(180)
    held[60:120, channel_index("EyeBlinkLeft")] = held[60:120, channel_index("EyeBlinkRight")] = 1.0
    assert naturalness([(held, 30.0)]).blinks_per_minute == pytest.approx(10.0)


def test_errors_and_table():
    with pytest.raises(ValueError, match="no motions"):
        naturalness([])
    with pytest.raises(ValueError, match="expected \\[T, 61\\]"):
        naturalness([(np.zeros((10, 3)), 30.0)])
    m = flat()
    m[30:60, SMILE] = 0.9
    table = naturalness_markdown([naturalness([(m, 30.0)], "steps")])
    assert table.splitlines()[2].startswith("| steps | 1 | 0.000 / ") and "| 1.61 |" in table  # 2 jumps in 89 x 14 channel-frames
    assert table.splitlines()[0].endswith("| blinks per minute (median peak) |")
    assert table.splitlines()[2].endswith("| 0.0 (nan) |")
