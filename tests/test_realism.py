"""Motion realism statistics (express4d_dataset.realism) and the stand-in corpus against real Live Link Face takes."""

import importlib.util
import warnings

import numpy as np
import pytest

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS, channel_index
from express4d_dataset.livelink import LiveLinkFormatError
from express4d_dataset.realism import (
    CHANNEL_LABELS,
    CHANNELS,
    TARGETS,
    compare,
    corpus_statistics,
    gaussian_lowpass,
    read_corpus_takes,
    read_reference_take,
    read_reference_takes,
    realism_card_section,
)
from express4d_dataset.synthetic import ACTION_NAMES, ACTIONS, sample_performers, synthesize_take, write_synthetic_corpus

from conftest import FIXTURES, ROOT

REAL = FIXTURES / "livelink"


def _col(name):
    return CHANNELS.index(channel_index(name))


def _frames(seconds, fps, **curves):
    t = np.arange(int(round(seconds * fps))) / fps
    frames = np.zeros((len(t), NUM_CHANNELS))
    for name, fn in curves.items():
        frames[:, channel_index(name)] = fn(t)
    return frames


@pytest.fixture(scope="module")
def real_dir():
    if not (REAL / "S88-001.csv").exists():
        pytest.skip(f"real Live Link Face takes missing: {REAL}")
    return REAL


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    raw = tmp_path_factory.mktemp("realism") / "raw"
    write_synthetic_corpus(raw, num_sequences=600, seed=0)  # ~10 s; 300 takes already meet the targets
    return raw


# --- the statistics on curves with known answers ------------------------------------------------


def test_statistics_of_known_curves():
    frames = _frames(
        4.0, 60,
        EyeBlinkLeft=lambda t: 0.125 * t,  # a ramp: 0.125 per second
        JawOpen=lambda t: 0.05 * t * t,  # constant second derivative 0.1 per s^2
        MouthSmileLeft=lambda t: np.where((t // 0.5) % 2 == 0, 0.2, 0.6),  # square wave 0.2 / 0.6
        LeftEyeYaw=lambda t: np.full_like(t, -0.3),
    )
    stats = corpus_statistics([(frames, 60.0)], rate=30.0)
    assert stats.num_takes == 1 and stats.rate == 30.0 and stats.seconds == pytest.approx(120 / 30)
    assert len(stats.speed) == len(CHANNELS) == 58 and "HeadYaw" not in CHANNEL_LABELS
    assert stats.speed[_col("EyeBlinkLeft")] == pytest.approx(0.125)
    assert stats.jitter[_col("EyeBlinkLeft")] == pytest.approx(0.0, abs=1e-9)
    assert stats.jitter[_col("JawOpen")] == pytest.approx(0.1)
    assert stats.spread[_col("MouthSmileLeft")] == pytest.approx(0.2, abs=2e-3)
    assert stats.rest[_col("MouthSmileLeft")] == pytest.approx(0.2)  # a blendshape rests at its 10th percentile
    assert stats.rest[_col("LeftEyeYaw")] == pytest.approx(-0.3)  # a rotation at its median
    assert stats.speed[_col("LeftEyeYaw")] == 0.0 and stats.spread[_col("TongueOut")] == 0.0


def test_rates_agree_and_gaps_are_not_crossed():
    ramp = dict(BrowInnerUp=lambda t: 0.2 * t)
    at60 = corpus_statistics([(_frames(3.0, 60, **ramp), 60.0)])
    at30 = corpus_statistics([(_frames(3.0, 30, **ramp), 30.0)])
    assert at60.speed[_col("BrowInnerUp")] == pytest.approx(0.2) == at30.speed[_col("BrowInnerUp")]
    # a jump across lost rows is not motion: each run of tracked rows is measured on its own
    frames = _frames(4.0, 30, BrowInnerUp=lambda t: np.where(t < 2.0, 0.1, 0.7))
    frames[58:62] = np.nan
    stats = corpus_statistics([(frames, 30.0)])
    assert stats.speed[_col("BrowInnerUp")] == 0.0 and stats.seconds == pytest.approx(116 / 30)


def test_tracking_noise_estimate():
    rng = np.random.default_rng(0)
    t = np.arange(3000) / 30

    def noise_of(noise, smooth_rows=0.0):
        if smooth_rows:  # noise correlated over neighbouring rows
            noise = gaussian_lowpass(noise[:, None], smooth_rows)[:, 0]
        frames = _frames(100.0, 30, BrowInnerUp=lambda _: 0.5 + 0.1 * np.sin(2 * np.pi * 0.05 * t) + noise)
        stats = corpus_statistics([(frames, 30.0)])
        return stats.noise[_col("BrowInnerUp")], stats.noise_autocorrelation[_col("BrowInnerUp")]

    white = rng.normal(0.0, 1.0, len(t))
    smooth_std, _ = noise_of(np.zeros(len(t)))
    assert smooth_std < 1e-4  # a slow curve leaves no residual
    small, white_ac = noise_of(0.002 * white)
    large, _ = noise_of(0.004 * white)
    assert large == pytest.approx(2 * small, rel=1e-3) and 0.0015 < small < 0.002  # ~0.86 x the std for white noise
    assert white_ac < -0.1  # white noise minus its low-pass anticorrelates
    _, correlated_ac = noise_of(0.002 * white, smooth_rows=1.0)
    assert correlated_ac > 0.3  # like real tracking noise (0.3-0.55)
    # a blendshape clipped at 0 shows no noise at all: NaN, and no warning on the way
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = corpus_statistics([(_frames(5.0, 30), 30.0)])
    assert np.isnan(stats.noise[_col("TongueOut")])


def test_blink_statistics():
    def blinks(t):
        return sum(np.clip(0.8 - np.abs(t - c) * 8.0, 0.0, None) for c in (1.0, 3.0, 3.3))

    stats = corpus_statistics([(_frames(6.0, 30, EyeBlinkLeft=blinks, EyeBlinkRight=blinks), 30.0)])
    b = stats.blinks
    assert b.count == 3 and b.rate_per_minute == pytest.approx(30.0)
    assert b.median_interval == pytest.approx(1.15) and b.median_peak == pytest.approx(0.8)
    assert b.median_width == pytest.approx(3 / 30)  # the rows above half height: the peak and one either side


def test_compare_identical_and_scaled():
    t = np.arange(150)[:, None] / 30
    frames = np.zeros((150, NUM_CHANNELS))
    k = np.arange(len(CHANNELS))[None, :]
    frames[:, list(CHANNELS)] = 0.05 * (1 + k % 7) * (1 + np.sin(t * (1 + k % 5) + k))  # every channel moves its own way
    same = compare(corpus_statistics([(frames, 30.0)]), corpus_statistics([(frames, 30.0)]))
    assert same.summary["speed_ratio"] == 1.0 and same.summary["spread_correlation"] == pytest.approx(1.0)
    assert same.meets_targets
    fast = compare(corpus_statistics([(frames * 3.0, 30.0)]), corpus_statistics([(frames, 30.0)]))
    assert fast.speed_ratio[_col("JawOpen")] == pytest.approx(3.0) and not fast.meets_targets
    assert fast.worst_channels(2)["speed"][0][1] == pytest.approx(3.0)
    assert "median speed ratio" in fast.summary_table() and "| JawOpen |" in fast.channel_table()
    with pytest.raises(ValueError, match="one rate"):
        compare(corpus_statistics([(frames, 30.0)], rate=20.0), corpus_statistics([(frames, 30.0)]))


# --- reading real takes -------------------------------------------------------------------------------


def test_read_reference_take_keeps_lost_rows_as_gaps(tmp_path):
    header = "Timecode,BlendShapeCount," + ",".join(CHANNEL_NAMES)
    lines = [header]
    values = ",".join(["0.1"] * NUM_CHANNELS)
    for row in range(10):
        if row == 6:
            continue  # a frame missing from the timecode sequence
        timecode = f"12:00:00:{2 * row:02d}.{500 + row:03d}"  # 60 fps timecode, two frames per row: 30 rows/s
        lines.append(f"{timecode},0" if row == 3 else f"{timecode},61,{values}")  # row 3: face not tracked
    path = tmp_path / "take.csv"
    path.write_text("\n".join(lines) + "\n")
    take = read_reference_take(path)
    assert take.fps == 30.0 and take.frames.shape == (10, NUM_CHANNELS)
    assert np.isnan(take.frames[[3, 6]]).all() and np.isfinite(np.delete(take.frames, [3, 6], axis=0)).all()
    assert (take.lost_rows, take.missing_rows) == (1, 1)
    (tmp_path / "bad.csv").write_text(header + "\n12:00:00:xx,61," + values + "\n")
    with pytest.raises(LiveLinkFormatError, match=r"bad.csv, line 2, column 'Timecode': invalid timecode"):
        read_reference_take(tmp_path / "bad.csv")


def test_real_reference_takes(real_dir):
    takes = {t.name: t for t in read_reference_takes(real_dir)}
    assert {"S88-001.csv", "apfel.csv", "alex_rom_3.csv"} <= set(takes)
    assert takes["S88-001.csv"].lost_rows == 277 and takes["apfel.csv"].lost_rows == 35
    assert all(t.fps == 30.0 for t in takes.values())
    stats = corpus_statistics((t.frames, t.fps) for t in takes.values())
    assert 0.3 < np.median(stats.noise_autocorrelation[np.isfinite(stats.noise_autocorrelation)]) < 0.6  # not white
    assert stats.blinks.rate_per_minute > 10


# --- the stand-in corpus against the real takes --------------------------------------------------------


def test_stand_in_meets_the_realism_targets(stand_in, real_dir):
    reference = corpus_statistics((t.frames, t.fps) for t in read_reference_takes(real_dir))
    report = compare(corpus_statistics(read_corpus_takes(stand_in)), reference)
    s = report.summary
    lo, hi = TARGETS["speed_ratio"]
    assert lo <= s["speed_ratio"] <= hi, report.summary_table()
    assert s["spread_correlation"] >= TARGETS["spread_correlation"], report.summary_table()
    assert report.meets_targets
    # calibrated beyond the targets: resting face, noise amount and colour, blink rate
    assert s["rest_correlation"] > 0.6 and 0.5 < s["noise_ratio"] < 2.5, report.summary_table()
    assert abs(s["noise_autocorrelation"] - s["reference_noise_autocorrelation"]) < 0.15, report.summary_table()
    assert 12 < s["blink_rate"] < 35


def test_actions_stay_clearly_visible_over_the_idle_face():
    """The weakest intensity of every action, with tracking noise and idle motion on (gaze, drift, head sway),
    peaks on its check channels well above anything the face does outside the action."""

    def activity(frames, key):
        parts = []
        for name, sign in ACTIONS[key].check:
            x = frames[:, channel_index(name)].astype(np.float64)
            parts.append(np.abs(x - np.median(x)) if sign == 0 else sign * x - np.percentile(sign * x, 10))
        return np.mean(parts, axis=0)

    performers = sample_performers(np.random.default_rng([0, 0]), 6)
    worst = {}
    for k, key in enumerate(ACTION_NAMES):
        for j, performer in enumerate(performers):
            take = synthesize_take(np.random.default_rng([3, k, j]), performer, [key], intensity=ACTIONS[key].levels[0],
                                   speed="normal", spontaneous_blinks=False)
            a, event = activity(take.frames, key), take.plan.events[0]
            t = np.arange(len(a)) / 60
            inside = a[(t >= event.start) & (t <= event.end)].max()
            outside = a[(t < event.start - 0.25) | (t > event.end + 0.25)].max()
            worst[key] = min(worst.get(key, np.inf), inside / max(outside, 1e-6))
    assert min(worst.values()) > 1.5, sorted(worst.items(), key=lambda kv: kv[1])[:5]


def test_card_section(real_dir, tmp_path):
    takes = [(_frames(3.0, 60, JawOpen=lambda t: 0.2 * (1 + np.sin(t * 4))), 60.0)]
    missing = realism_card_section(takes, reference_dir=tmp_path / "nowhere")
    assert missing[0] == "## Realism" and any("were not available" in line for line in missing)
    lines = realism_card_section(takes, reference_dir=real_dir)
    text = "\n".join(lines)
    assert "median speed ratio" in text and "spread correlation" in text and "benchmarks/realism.py" in text


def test_benchmark_script(stand_in, real_dir, capsys):
    spec = importlib.util.spec_from_file_location("realism_benchmark", ROOT / "benchmarks" / "realism.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--synth", str(stand_in), "--real", str(real_dir), "--limit", "40", "--channels"]) == 0
    out = capsys.readouterr().out
    assert "real: 5 takes" in out and "40 takes" in out and "| MouthSmileLeft |" in out
    assert bench.main(["--synth", str(stand_in), "--real", str(ROOT / "nowhere")]) == 2
