"""The procedural stand-in corpus: layout, determinism, ranges, actions, captions, splits."""

import dataclasses
import json
import re

import numpy as np
import pytest

from express4d_dataset.arkit import CHANNEL_NAMES, MIRROR_PERMUTATION, NUM_BLENDSHAPES, channel_index, mirror_motion
from express4d_dataset.livelink import read_livelink_csv
from express4d_dataset.synthetic import (
    ACTION_NAMES,
    ACTIONS,
    EYE_LIMITS,
    EYE_PITCH_PER_UNIT,
    EYE_YAW_PER_UNIT,
    NUM_PERFORMERS,
    SyntheticCorpusSummary,
    generate_take,
    sample_performers,
    synthesize_take,
    write_synthetic_corpus,
)
from express4d_dataset.synthetic.captions import intensity_expressions
from express4d_dataset.synthetic.signals import READ_GAIN

REQUIRED_ACTIONS = (
    "smile", "frown", "blink", "wink_left", "wink_right", "raise_brows", "furrow_brows", "squint", "widen_eyes",
    "open_mouth", "pucker", "puff_cheeks", "press_lips", "sneer", "look_left", "look_right", "look_up", "look_down",
    "roll_eyes", "nod", "shake_head", "tilt_head_left", "tilt_head_right", "tongue_out",
)  # fmt: skip

QUIET = dict(spontaneous_blinks=False, tracking_noise=False, idle_motion=False)


@pytest.fixture(scope="module")
def performers():
    return sample_performers(np.random.default_rng(123), NUM_PERFORMERS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "raw"
    summary = write_synthetic_corpus(out, num_sequences=24, seed=0)
    return out, summary


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _ids(path):
    return path.read_text(encoding="utf-8").split()


def _level(key):
    return "normal" if "normal" in ACTIONS[key].levels else ACTIONS[key].levels[-1]


def _solo(key, performer, seed=0, **kwargs):
    kwargs.setdefault("intensity", _level(key))
    kwargs.setdefault("speed", "normal")
    return synthesize_take(np.random.default_rng(seed), performer, [key], **QUIET, **kwargs)


def _deviation(take, name, sign):
    """How far a channel moves from its value before the action starts, in direction ``sign``."""
    x = take.frames[:, channel_index(name)].astype(np.float64)
    event = take.plan.events[0]
    before = int(event.start * 60) - 2
    assert before >= 1, "the action should start after a short rest"
    rest = float(np.median(x[:before]))
    window = x[int(event.start * 60) : int(np.ceil(event.end * 60)) + 1]
    if sign == 0:
        return float(np.abs(window - rest).max())
    return float((sign * (window - rest)).max())


# --- layout -----------------------------------------------------------------------------------


def test_layout_and_counts(corpus):
    out, summary = corpus
    ids = [f"synth_{i:05d}" for i in range(24 + 5)]  # 24 train/test takes, then round(24 * 0.2) validation takes
    assert sorted(p.name for p in out.iterdir()) == [
        "SYNTHETIC.md", "data", "metadata.jsonl", "test.txt", "texts", "train.txt", "val.txt",
    ]
    assert sorted(p.stem for p in (out / "data").glob("*.csv")) == ids
    assert sorted(p.stem for p in (out / "texts").glob("*.txt")) == ids
    assert len(list((out / "data").iterdir())) == 29 and len(list((out / "texts").iterdir())) == 29
    assert isinstance(summary, SyntheticCorpusSummary)
    assert (summary.num_sequences, summary.num_train, summary.num_validation, summary.num_test) == (24, 19, 5, 5)
    assert (out / "val.txt").read_text().split() == ids[24:]
    splits = [set((out / f).read_text().split()) for f in ("train.txt", "val.txt", "test.txt")]
    assert set.union(*splits) == set(ids) and sum(map(len, splits)) == 29  # disjoint, complete
    text = str(summary)
    for needle in (str(out), "sequences : 29", "train 19", "validation 5", "test 5", "performers: 18", "60 fps", "min", "actions"):
        assert needle in text, (needle, text)
    assert "5 validation takes in `val.txt`" in (out / "SYNTHETIC.md").read_text()


def test_validation_takes_leave_train_and_test_unchanged(tmp_path):
    """The validation takes are extra takes: every train/test file is the same bytes with or without them."""
    with_val = write_synthetic_corpus(tmp_path / "a", num_sequences=20, seed=3, validation_fraction=0.5)
    without = write_synthetic_corpus(tmp_path / "b", num_sequences=20, seed=3, validation_fraction=0)
    assert (with_val.num_validation, without.num_validation) == (10, 0)
    a, b = tmp_path / "a", tmp_path / "b"
    assert not (b / "val.txt").exists() and "(train 16, test 4)" in str(without)
    for name in ("train.txt", "test.txt"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    for i in range(20):
        for sub, ext in (("data", "csv"), ("texts", "txt")):
            assert (a / sub / f"synth_{i:05d}.{ext}").read_bytes() == (b / sub / f"synth_{i:05d}.{ext}").read_bytes()
    meta_a = (a / "metadata.jsonl").read_text().splitlines()
    assert meta_a[:20] == (b / "metadata.jsonl").read_text().splitlines() and len(meta_a) == 30
    with pytest.raises(ValueError, match="validation_fraction"):
        write_synthetic_corpus(tmp_path / "c", num_sequences=4, validation_fraction=-0.1)


def test_validation_split_composes_held_out_pairs_like_the_test_split():
    """Drawn like the test split: a share of held-out compositions, which the training split never has."""
    from express4d_dataset.synthetic import HELD_OUT_SHARE, holds_out, sample_plan

    def share(split):
        rng = np.random.default_rng(0)
        return np.mean([holds_out(sample_plan(rng, split=split).actions) for _ in range(2000)])

    assert share("train") == 0.0
    assert abs(share("validation") - HELD_OUT_SHARE) < 0.04 and abs(share("test") - HELD_OUT_SHARE) < 0.04


def test_csvs_read_back_at_60fps(corpus):
    out, _ = corpus
    meta = {m["id"]: m for m in map(json.loads, (out / "metadata.jsonl").read_text().splitlines())}
    for path in sorted((out / "data").glob("*.csv")):
        take = read_livelink_csv(path)
        assert take.frames.shape[1] == 61 and take.frames.dtype == np.float32
        assert take.fps == 60.0 and take.timecode_fps == 60
        assert not take.missing_channels and take.dropped_frames == 0
        assert take.num_frames == meta[path.stem]["num_frames"]
        assert take.duration == pytest.approx(meta[path.stem]["seconds"], abs=1e-3)
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert header == "Timecode,BlendShapeCount," + ",".join(CHANNEL_NAMES)


def test_captions_files(corpus):
    out, summary = corpus
    meta = {m["id"]: m for m in map(json.loads, (out / "metadata.jsonl").read_text().splitlines())}
    total = 0
    for path in sorted((out / "texts").glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        assert raw.endswith("\n") and "\n\n" not in raw
        lines = raw.splitlines()
        total += len(lines)
        assert 3 <= len(lines) <= 5 and len(set(lines)) == len(lines)
        for line in lines:
            assert line == line.strip() and line[0].isupper() and "  " not in line and "#" not in line
            for key in meta[path.stem]["actions"]:
                assert any(k in line.lower() for k in ACTIONS[key].keywords), (key, line)
    assert total == summary.num_captions


def test_split_disjoint_and_complete(corpus):
    out, _ = corpus
    train, test = _ids(out / "train.txt"), _ids(out / "test.txt")
    assert not set(train) & set(test)
    assert sorted(train + test) == [f"synth_{i:05d}" for i in range(24)]
    assert len(test) == round(24 * 0.2) and len(set(train)) == len(train)
    assert test != [f"synth_{i:05d}" for i in range(19, 24)]  # a random split, not the last ids


def test_metadata_consistent(corpus):
    out, summary = corpus
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"synth_{i:05d}" for i in range(24 + 5)]  # train/test, then validation
    performers = {f"P{i:02d}" for i in range(1, 19)}
    for r in rows:
        assert {"id", "participant", "actions", "seconds"} <= set(r)
        assert r["participant"] in performers
        assert 1 <= len(r["actions"]) <= 3 and all(a in ACTIONS for a in r["actions"])
        assert len(set(r["actions"])) == len(r["actions"])
        assert 2.0 <= r["seconds"] <= 8.0
        assert [a for step in r["steps"] for a in step] == r["actions"]
        assert len(r["intensities"]) == len(r["speeds"]) == len(r["actions"])
    assert sum(r["num_frames"] for r in rows) == summary.total_frames
    assert len({r["participant"] for r in rows}) == 18  # 24 takes spread over all 18 performers
    assert sum(summary.action_counts.values()) == sum(len(r["actions"]) for r in rows)


def test_ranges(corpus):
    out, _ = corpus
    frames = np.concatenate([read_livelink_csv(p).frames for p in sorted((out / "data").glob("*.csv"))])
    bs = frames[:, :NUM_BLENDSHAPES]
    assert bs.min() >= 0.0 and bs.max() <= 1.0
    head = frames[:, NUM_BLENDSHAPES : NUM_BLENDSHAPES + 3]
    eyes = frames[:, NUM_BLENDSHAPES + 3 :]
    assert np.abs(head[:, 0]).max() < 0.6 and np.abs(head[:, 1:]).max() < 0.55
    # eye yaw / pitch / roll within EYE_LIMITS (real Live Link Face takes: |yaw| up to 0.64, pitch -0.35..0.39)
    assert (np.abs(eyes).reshape(-1, 2, 3).max(axis=(0, 1)) <= np.array(EYE_LIMITS) + 1e-6).all()
    assert np.abs(eyes[:, [0, 3]]).max() > 0.3  # gaze actions reach far
    # not degenerate: real variation on many channels, and tracking noise everywhere
    assert (frames.std(axis=0) > 1e-3).sum() >= 55


# --- determinism and the output folder ------------------------------------------------------------


def test_deterministic_for_a_seed(tmp_path, corpus):
    out, _ = corpus
    again = tmp_path / "again"
    write_synthetic_corpus(again, num_sequences=24, seed=0, progress=True)  # progress bar: same bytes
    assert _files(again) == _files(out)
    other = tmp_path / "other"
    write_synthetic_corpus(other, num_sequences=24, seed=1)
    a, b = _files(out), _files(other)
    assert a.keys() == b.keys()
    assert sum(a[k] != b[k] for k in a if k.startswith("data/")) == 29


def test_in_memory_generator_deterministic(performers):
    a = generate_take(np.random.default_rng(5), performers[3])
    b = generate_take(np.random.default_rng(5), performers[3])
    c = generate_take(np.random.default_rng(6), performers[3])
    assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])
    p1 = sample_performers(np.random.default_rng(9))
    p2 = sample_performers(np.random.default_rng(9))
    assert [dataclasses.astuple(x)[:4] for x in p1] == [dataclasses.astuple(x)[:4] for x in p2]


def test_refuses_non_empty_folder(tmp_path):
    out = tmp_path / "raw"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    with pytest.raises(FileExistsError, match=r"raw is not empty and is not an express4d stand-in corpus") as refused:
        write_synthetic_corpus(out, num_sequences=3)
    assert "--overwrite" not in str(refused.value)
    with pytest.raises(FileExistsError, match=r"not an express4d stand-in corpus \(no SYNTHETIC.md\)"):
        write_synthetic_corpus(out, num_sequences=3, overwrite=True)  # a real corpus folder is never replaced
    assert (out / "notes.md").read_text() == "mine"
    write_synthetic_corpus(tmp_path / "empty_ok", num_sequences=3)  # a missing folder is created
    (tmp_path / "empty").mkdir()
    write_synthetic_corpus(tmp_path / "empty", num_sequences=3)  # an empty folder is fine


def test_overwrite_replaces_the_corpus(tmp_path):
    out = tmp_path / "raw"
    write_synthetic_corpus(out, num_sequences=8, seed=0)
    (out / "notes.md").write_text("mine")
    write_synthetic_corpus(out, num_sequences=4, seed=2, overwrite=True)  # + round(0.8) = 1 validation take
    assert len(list((out / "data").iterdir())) == 5 and len(list((out / "texts").iterdir())) == 5
    assert sorted(_ids(out / "train.txt") + _ids(out / "test.txt")) == [f"synth_{i:05d}" for i in range(4)]
    assert (out / "notes.md").read_text() == "mine"  # unrelated files are left alone


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_sequences"):
        write_synthetic_corpus(tmp_path / "a", num_sequences=0)
    with pytest.raises(ValueError, match="test_fraction"):
        write_synthetic_corpus(tmp_path / "b", num_sequences=4, test_fraction=1.0)
    with pytest.raises(ValueError, match="unknown action 'dance'"):
        generate_take(np.random.default_rng(0), sample_performers(np.random.default_rng(0), 1)[0], ["dance"])


def test_cli_synth(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["data", "synth", "--out", str(tmp_path / "raw"), "--num-sequences", "5", "--seed", "3",
                 "--validation-fraction", "0.4"]) == 0
    assert "sequences : 7 (train 4, validation 2, test 1)" in capsys.readouterr().out
    assert (tmp_path / "raw" / "val.txt").read_text().split() == ["synth_00005", "synth_00006"]
    assert main(["data", "synth", "--out", str(tmp_path / "raw"), "--num-sequences", "5"]) == 2
    assert "--overwrite" in capsys.readouterr().err


# --- content ----------------------------------------------------------------------------------------


def test_action_catalogue():
    assert len(ACTIONS) >= 20 and set(REQUIRED_ACTIONS) <= set(ACTION_NAMES)
    for key, spec in ACTIONS.items():
        assert spec.check, key
        for template in spec.templates + spec.fixed_templates:
            assert any(k in template.lower() for k in spec.keywords), (key, template)
            if spec.side:
                assert spec.side in template and ({"left", "right"} - {spec.side}).pop() not in template


@pytest.mark.parametrize("left", [k for k in ACTION_NAMES if ACTIONS[k].side == "left"])
def test_left_right_twins_mirror_each_other(left, performers):
    right = left.replace("left", "right")
    assert ACTIONS[right].side == "right"
    # a perfectly symmetric performer: the left action, mirrored, is exactly the right action
    p = performers[0]
    sym = dataclasses.replace(
        p, asymmetry=0.0, rest=(p.rest + p.rest[MIRROR_PERMUTATION[:NUM_BLENDSHAPES]]) / 2,
        rest_gaze=(0.0, p.rest_gaze[1]), rest_head=(0.0, p.rest_head[1], 0.0),
    )
    sym.style = np.ones_like(p.style)
    a = _solo(left, sym, seed=4)
    b = _solo(right, sym, seed=4)
    np.testing.assert_allclose(mirror_motion(a.frames), b.frames, atol=1e-5)


@pytest.mark.parametrize("key", ACTION_NAMES)
def test_each_action_moves_its_main_channels(key, performers):
    spec = ACTIONS[key]
    for performer in (performers[0], min(performers, key=lambda p: p.amplitude)):
        take = _solo(key, performer, seed=1)
        assert take.actions == [key]
        for name, sign in spec.check:
            moved = _deviation(take, name, sign)
            # 0.2 on a blendshape, less on those ARKit reads weakly (READ_GAIN: CheekPuff, MouthPress, JawLeft/Right)
            threshold = 0.05 if channel_index(name) >= NUM_BLENDSHAPES else 0.2 * READ_GAIN.get(name, 1.0)
            assert moved > threshold, (key, name, moved)
            if spec.side:  # the same channel on the other side moves much less in that direction
                mirrored = CHANNEL_NAMES[MIRROR_PERMUTATION[channel_index(name)]]
                flip = -1 if (name.endswith("Yaw") or name.endswith("Roll")) else 1
                if mirrored != name:
                    assert moved > _deviation(take, mirrored, sign * flip) + 0.1, (key, mirrored)
        for caption in take.captions:
            assert any(k in caption.lower() for k in spec.keywords), caption
            if spec.side:
                other = {"left": "right", "right": "left"}[spec.side]
                assert re.search(rf"\b{spec.side}\b", caption) and not re.search(rf"\b{other}\b", caption), caption


def test_gaze_drives_blendshapes_and_rotations_consistently(performers):
    take = _solo("look_left", performers[2], intensity="strong")
    f = take.frames
    i = int(np.argmax(f[:, channel_index("EyeLookOutLeft")]))
    assert f[i, channel_index("EyeLookOutLeft")] > 0.6 and f[i, channel_index("EyeLookInRight")] > 0.6
    assert f[i, channel_index("LeftEyeYaw")] < -0.25 and f[i, channel_index("RightEyeYaw")] < -0.25
    assert f[i, channel_index("EyeLookInLeft")] == 0 and f[i, channel_index("EyeLookOutRight")] == 0
    assert f[i, channel_index("HeadYaw")] < 0  # the head follows a little, same direction
    # across a whole random corpus the eye yaw is a function of the look blendshapes
    for seed in range(10):
        frames, _, _ = generate_take(np.random.default_rng(seed), performers[seed], tracking_noise=False)
        h = frames[:, channel_index("EyeLookOutLeft")] - frames[:, channel_index("EyeLookInLeft")]
        np.testing.assert_allclose(frames[:, channel_index("LeftEyeYaw")], -EYE_YAW_PER_UNIT * h, atol=1e-5)
        v = frames[:, channel_index("EyeLookUpLeft")] - frames[:, channel_index("EyeLookDownLeft")]
        np.testing.assert_allclose(frames[:, channel_index("LeftEyePitch")], -EYE_PITCH_PER_UNIT * v, atol=1e-5)
        # ARKit's eye roll is yaw x pitch (real takes: R^2 = 1.00)
        np.testing.assert_allclose(
            frames[:, channel_index("LeftEyeRoll")],
            frames[:, channel_index("LeftEyeYaw")] * frames[:, channel_index("LeftEyePitch")], atol=1e-5,
        )


def test_roll_eyes_sweeps_up_and_around(performers):
    take = _solo("roll_eyes", performers[1])
    yaw = take.frames[:, channel_index("LeftEyeYaw")]
    pitch = take.frames[:, channel_index("LeftEyePitch")]
    assert yaw.max() > 0.08 and yaw.min() < -0.08  # both sides
    assert pitch.min() < -0.15  # and up (negative pitch)
    top = int(np.argmin(pitch))
    assert int(np.argmax(yaw)) != top and int(np.argmin(yaw)) != top


def test_nod_and_shake_are_oscillations(performers):
    nod = _solo("nod", performers[0], seed=2)
    pitch = nod.frames[:, channel_index("HeadPitch")]
    count = nod.plan.events[0].count
    peaks = np.flatnonzero((pitch[1:-1] > pitch[:-2]) & (pitch[1:-1] >= pitch[2:]) & (pitch[1:-1] > pitch.max() * 0.6))
    assert len(peaks) == count
    shake = _solo("shake_head", performers[0], seed=2)
    yaw = shake.frames[:, channel_index("HeadYaw")]
    assert yaw.max() > 0.05 and yaw.min() < -0.05
    assert np.sign(np.diff(yaw[np.abs(yaw) > 0.02])).tolist().count(0) < len(yaw)


def test_blink_count_matches_caption(performers):
    for count, words in ((1, ("blink",)), (2, ("twice", "two times")), (3, ("three times", "a few times"))):
        for seed in range(40):
            take = _solo("blink", performers[5], seed=seed)
            if take.plan.events[0].count == count:
                break
        lid = take.frames[:, channel_index("EyeBlinkLeft")]
        closures = np.flatnonzero((lid[1:] > 0.7) & (lid[:-1] <= 0.7))
        assert len(closures) == count
        assert all(any(w in c for w in words) for c in take.captions), take.captions


def test_intensity_scales_amplitude(performers):
    peaks = {}
    for level in ("slight", "soft", "normal", "strong"):
        take = _solo("smile", performers[4], seed=3, intensity=level)
        peaks[level] = float(take.frames[:, channel_index("MouthSmileLeft")].max())
        words = intensity_expressions("smile", level)
        for caption in take.captions:
            assert all(w not in caption for w in ("slightly", "softly", "widely", "broadly", "gently")) or level != "normal"
            if words:
                assert any(w in caption for w in words), caption
    assert peaks["slight"] < peaks["soft"] < peaks["normal"] < peaks["strong"]
    assert peaks["slight"] < 0.5 * peaks["strong"]


def test_speed_changes_timing(performers):
    def rise_time(take, name="BrowInnerUp"):
        x = take.frames[:, channel_index(name)]
        x = x - x[:10].mean()
        return np.argmax(x > 0.9 * x.max()) - np.argmax(x > 0.1 * x.max())

    quick = _solo("raise_brows", performers[6], seed=8, speed="quick")
    slow = _solo("raise_brows", performers[6], seed=8, speed="slow")
    brief = _solo("raise_brows", performers[6], seed=8, speed="brief")
    assert rise_time(slow) > 2.5 * rise_time(quick)
    assert brief.plan.events[0].duration < slow.plan.events[0].duration
    assert all(re.search(r"quickly|rapidly|swiftly", c) for c in quick.captions)
    assert all(re.search(r"slowly|gradually", c) for c in slow.captions)
    assert all(re.search(r"briefly|for a moment|momentarily", c) for c in brief.captions)


def test_sequential_and_simultaneous_composition(performers):
    p = performers[7]
    plain = dict(intensity="normal", speed="normal", **QUIET)
    seq = synthesize_take(np.random.default_rng(0), p, ["smile", "raise_brows"], **plain)
    smile = seq.frames[:, channel_index("MouthSmileLeft")]
    brows = seq.frames[:, channel_index("BrowInnerUp")]
    assert np.argmax(smile) < np.argmax(brows)
    assert smile[np.argmax(brows)] < 0.5 * smile.max()
    assert seq.plan.composition == "sequential"
    connective = r"then|before|after|followed by|next|ends by|ended by|go(es)? on to|went on to"
    assert all(re.search(connective, c, re.IGNORECASE) for c in seq.captions), seq.captions

    sim = synthesize_take(np.random.default_rng(0), p, ["nod", "smile"], composition="simultaneous", **plain)
    smile = sim.frames[:, channel_index("MouthSmileLeft")]
    pitch = sim.frames[:, channel_index("HeadPitch")]
    assert smile[np.argmax(pitch)] > 0.7 * smile.max()  # smiling through the nod
    assert sim.plan.composition == "simultaneous"
    assert all(re.search(r"while|at the same time|as (they|she|he)", c) for c in sim.captions), sim.captions
    with pytest.raises(ValueError, match="cannot play at once"):
        synthesize_take(np.random.default_rng(0), p, ["smile", "frown"], composition="simultaneous")


def test_random_takes_cover_the_space(performers):
    """Many random takes: durations, action counts, every action used, captions consistent."""
    keys, comps, lengths = set(), set(), []
    for seed in range(300):
        take = synthesize_take(np.random.default_rng([99, seed]), performers[seed % NUM_PERFORMERS])
        keys.update(take.actions)
        comps.add(take.plan.composition)
        lengths.append(take.seconds)
        assert 1 <= len(take.actions) <= 3
        bs = take.frames[:, :NUM_BLENDSHAPES]
        assert bs.min() >= 0 and bs.max() <= 1 and np.isfinite(take.frames).all()
        sides = {ACTIONS[k].side for k in take.actions}
        for caption in take.captions:
            for key in take.actions:
                assert any(k in caption.lower() for k in ACTIONS[key].keywords), (key, caption)
            for side in ("left", "right"):
                assert bool(re.search(rf"\b{side}\b", caption)) == (side in sides), (take.actions, caption)
    assert keys == set(ACTION_NAMES)
    assert comps == {"single", "sequential", "simultaneous", "mixed"}
    assert min(lengths) >= 2.0 and max(lengths) <= 8.0 and max(lengths) - min(lengths) > 4.0


def test_performers_differ(performers):
    assert [p.id for p in performers] == [f"P{i:02d}" for i in range(1, 19)]
    for attr in ("amplitude", "asymmetry", "timing", "blink_rate", "head_sway", "noise"):
        values = [getattr(p, attr) for p in performers]
        assert len(set(values)) == 18 and np.std(values) > 0
    assert np.std([p.rest for p in performers], axis=0).max() > 0.02


def test_spontaneous_blinks_are_uncaptioned(performers):
    p = dataclasses.replace(performers[0], blink_rate=60.0)
    with_blinks = synthesize_take(np.random.default_rng(1), p, ["smile"], tracking_noise=False)
    without = synthesize_take(np.random.default_rng(1), p, ["smile"], spontaneous_blinks=False, tracking_noise=False)
    # real blinks often close only part-way (peaks 0.26-0.89 in real takes): a clear closure, not always a full one
    assert with_blinks.frames[:, channel_index("EyeBlinkLeft")].max() > 0.5
    assert without.frames[:, channel_index("EyeBlinkLeft")].max() < 0.5
    assert not any("blink" in c for c in with_blinks.captions)
