import numpy as np
import pytest
import torch

from express4d_dataset.arkit import (
    BLENDSHAPE_NAMES,
    CHANNEL_NAMES,
    GROUPS,
    MIRROR_PERMUTATION,
    MIRROR_SIGN,
    NUM_CHANNELS,
    channel_index,
    mirror_caption,
    mirror_motion,
)
from express4d_dataset.motion import MotionCollator, MotionStats, pad_and_mask, random_crop, resample


# --- ARKit schema ------------------------------------------------------------------------------


def test_channel_layout():
    assert NUM_CHANNELS == 61 and len(BLENDSHAPE_NAMES) == 52 and len(set(CHANNEL_NAMES)) == 61
    assert CHANNEL_NAMES[0] == "EyeBlinkLeft" and CHANNEL_NAMES[51] == "TongueOut"
    assert CHANNEL_NAMES[52:] == ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                                  "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
    assert channel_index("jawOpen") == channel_index("JAWOPEN") == 17
    with pytest.raises(KeyError, match="Unknown ARKit channel 'JawClose'"):
        channel_index("JawClose")


def test_groups_partition_all_channels():
    members = [i for idx in GROUPS.values() for i in idx]
    assert sorted(members) == list(range(61))
    assert set(GROUPS) == {"eyes", "brows", "jaw", "mouth", "cheeks", "nose", "tongue", "head", "eye_rotation"}
    assert [CHANNEL_NAMES[i] for i in GROUPS["brows"]] == ["BrowDownLeft", "BrowDownRight", "BrowInnerUp",
                                                           "BrowOuterUpLeft", "BrowOuterUpRight"]


def test_mirror_map_is_an_involution():
    perm = MIRROR_PERMUTATION
    assert sorted(perm) == list(range(61))
    assert np.array_equal(perm[perm], np.arange(61))
    assert np.array_equal(MIRROR_SIGN[perm], MIRROR_SIGN)  # swapped pairs share their sign
    m = np.random.default_rng(0).normal(size=(5, 7, 61)).astype(np.float32)
    np.testing.assert_array_equal(mirror_motion(mirror_motion(m)), m)
    t = torch.as_tensor(m)
    assert torch.equal(mirror_motion(mirror_motion(t)), t)
    np.testing.assert_array_equal(mirror_motion(t).numpy(), mirror_motion(m))


def test_mirror_swaps_pairs_and_negates_yaw_roll():
    name = {n: i for i, n in enumerate(CHANNEL_NAMES)}
    m = np.zeros((1, 61), np.float32)
    m[0, name["EyeBlinkLeft"]] = 1.0
    m[0, name["MouthSmileRight"]] = 0.5
    m[0, name["JawLeft"]] = 0.3
    m[0, name["BrowInnerUp"]] = 0.7  # unpaired: unchanged
    m[0, name["HeadYaw"]] = 0.2
    m[0, name["HeadPitch"]] = 0.1  # pitch keeps its sign
    m[0, name["LeftEyeYaw"]] = 0.4
    m[0, name["LeftEyePitch"]] = -0.3
    m[0, name["RightEyeRoll"]] = 0.05
    f = mirror_motion(m)[0]
    assert f[name["EyeBlinkRight"]] == 1.0 and f[name["EyeBlinkLeft"]] == 0.0
    assert f[name["MouthSmileLeft"]] == 0.5 and f[name["JawRight"]] == pytest.approx(0.3)
    assert f[name["BrowInnerUp"]] == pytest.approx(0.7)
    assert f[name["HeadYaw"]] == pytest.approx(-0.2) and f[name["HeadPitch"]] == pytest.approx(0.1)
    assert f[name["RightEyeYaw"]] == pytest.approx(-0.4) and f[name["RightEyePitch"]] == pytest.approx(-0.3)
    assert f[name["LeftEyeRoll"]] == pytest.approx(-0.05)
    with pytest.raises(ValueError, match="61 channels"):
        mirror_motion(np.zeros((3, 60)))


def test_mirror_caption():
    assert mirror_caption("A person winks their left eye, then looks Right") == "A person winks their right eye, then looks Left"
    assert mirror_caption("leftover brightness") == "leftover brightness"


# --- statistics --------------------------------------------------------------------------------


def test_stats_match_numpy_and_constant_channel_is_safe(tmp_path):
    rng = np.random.default_rng(0)
    motions = [rng.normal(3.0, 2.0, size=(n, 61)).astype(np.float32) for n in (10, 25, 7)]
    for m in motions:
        m[:, 51] = 0.25  # constant channel
    stats = MotionStats.from_motions(motions, eps=1e-3)
    allf = np.concatenate(motions).astype(np.float64)
    np.testing.assert_allclose(stats.mean, allf.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.std[:51], allf.std(0)[:51], rtol=1e-5)  # population std (ddof=0)
    assert stats.std[51] == pytest.approx(1e-3)
    z = stats.normalize(motions[0])
    assert np.isfinite(z).all() and np.all(z[:, 51] == 0)
    np.testing.assert_allclose(stats.denormalize(z), motions[0], atol=1e-5)
    zt = stats.normalize(torch.as_tensor(motions[0]))
    np.testing.assert_allclose(zt.numpy(), z, atol=1e-6)
    assert stats.num_frames == 42
    stats.save(tmp_path / "s.json")
    again = MotionStats.load(tmp_path / "s.json")
    np.testing.assert_array_equal(again.mean, stats.mean)
    np.testing.assert_array_equal(again.std, stats.std)


def test_stats_accurate_far_from_zero():
    m = (1000.0 + np.random.default_rng(1).normal(0, 1e-2, size=(500, 61))).astype(np.float32)
    stats = MotionStats.from_motions([m], eps=1e-6)
    np.testing.assert_allclose(stats.std, m.astype(np.float64).std(0), rtol=1e-3)


def test_stats_errors(tmp_path):
    with pytest.raises(ValueError, match="zero frames"):
        MotionStats.from_motions([])
    with pytest.raises(ValueError, match="must have 61 values"):
        MotionStats(mean=np.zeros(60), std=np.ones(60))
    with pytest.raises(ValueError, match="lack 'std'"):
        MotionStats.from_dict({"mean": [0.0] * 61}, source="cfg.json")
    with pytest.raises(FileNotFoundError, match="express4d data build"):
        MotionStats.load(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="shape \\[T, 61\\]"):
        MotionStats.from_motions([np.zeros((3, 5))])


# --- resampling, crop, pad + mask -------------------------------------------------------------


def test_resample_linear_and_exact_endpoints():
    t = np.arange(21, dtype=np.float32)[:, None] * np.ones((1, 61), np.float32)  # ramp at 20 fps
    up = resample(t, 20, 60)
    assert up.shape == (61, 61)
    np.testing.assert_allclose(up[:, 0], np.arange(61) / 3, atol=1e-5)
    down = resample(up, 60, 20)
    np.testing.assert_allclose(down, t, atol=1e-5)
    tt = resample(torch.as_tensor(t)[None], 20, 60)
    assert tt.shape == (1, 61, 61)
    np.testing.assert_allclose(tt[0].numpy(), up, atol=1e-5)
    with pytest.raises(ValueError, match="fps must be positive"):
        resample(t, 0, 20)


def test_random_crop_bounds_and_determinism():
    m = np.arange(300)[:, None].repeat(61, 1).astype(np.float32)
    assert random_crop(m, 196)[0, 0] == 0  # no rng: start at 0
    starts = {int(random_crop(m, 196, np.random.default_rng(s), max_offset=10)[0, 0]) for s in range(200)}
    assert starts == set(range(11))
    assert len(random_crop(m[:50], 196, np.random.default_rng(0))) == 50
    # fps20 rows are already cut to 196 frames: the 0..10 start offset must still apply
    starts196 = {int(random_crop(m[:196], 196, np.random.default_rng(s), max_offset=10)[0, 0]) for s in range(200)}
    assert starts196 == set(range(11))
    assert len(random_crop(m[:196], 196, np.random.default_rng(3), max_offset=10)) == 196 - int(
        random_crop(m[:196], 196, np.random.default_rng(3), max_offset=10)[0, 0])
    # ... but never below min_frames: a 25-frame take starts at most at frame 5
    short = {int(random_crop(m[:25], 196, np.random.default_rng(s), max_offset=10)[0, 0]) for s in range(200)}
    assert short == set(range(6))
    assert random_crop(m[:20], 196, np.random.default_rng(0), max_offset=10)[0, 0] == 0
    a = random_crop(m, 100, np.random.default_rng(5))
    b = random_crop(m, 100, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_pad_and_mask():
    motions = [np.ones((n, 61), np.float32) * n for n in (3, 5, 1)]
    x, mask, lengths = pad_and_mask(motions)
    assert x.shape == (3, 5, 61) and mask.shape == (3, 5)
    assert lengths.tolist() == [3, 5, 1]
    assert mask.sum(1).tolist() == [3, 5, 1]
    assert torch.all(x[0, 3:] == 0) and torch.all(x[0, :3] == 3)
    x2, mask2, _ = pad_and_mask(motions, max_frames=8)
    assert x2.shape == (3, 8, 61) and not mask2[:, 5:].any()
    with pytest.raises(ValueError, match="more than max_frames=4"):
        pad_and_mask(motions, max_frames=4)


def test_collator_train_and_eval():
    rng = np.random.default_rng(0)
    rows = [{"id": f"r{i}", "motion": rng.normal(size=(n, 61)).astype(np.float32), "captions": [f"a{i}", f"b{i}"]}
            for i, n in enumerate((250, 30, 100))]
    stats = MotionStats.from_motions([r["motion"] for r in rows])
    batch = MotionCollator(stats, max_frames=196, train=True, seed=0)(rows)
    assert batch["motion"].shape == (3, 196, 61)
    # train items start at a random frame 0..10: lengths shrink by at most 10
    lengths = batch["lengths"].tolist()
    assert lengths[0] == 196 and 20 <= lengths[1] <= 30 and 90 <= lengths[2] <= 100
    assert batch["ids"] == ["r0", "r1", "r2"]
    assert all(c in (f"a{i}", f"b{i}") for i, c in enumerate(batch["captions"]))
    again = MotionCollator(stats, max_frames=196, train=True, seed=0)(rows)
    assert torch.equal(batch["motion"], again["motion"]) and batch["captions"] == again["captions"]
    ev = MotionCollator(stats, max_frames=196, train=False)(rows)
    assert ev["captions"] == ["a0", "a1", "a2"]
    np.testing.assert_allclose(ev["motion"][0, :196].numpy(), stats.normalize(rows[0]["motion"][:196]), atol=1e-5)
    # flip always: the batch is the mirror of the unflipped one, captions swapped
    flip = MotionCollator(None, max_frames=300, train=True, max_offset=0, flip_prob=1.0, seed=1)(
        [{"id": "x", "motion": rows[1]["motion"], "captions": ["wink left"]}]
    )
    np.testing.assert_allclose(flip["motion"][0].numpy(), mirror_motion(rows[1]["motion"]), atol=1e-6)
    assert flip["captions"] == ["wink right"]


def test_row_captions_any_format():
    from express4d_dataset.motion import row_captions

    assert row_captions({"captions": ["a", " ", "b"]}) == ["a", "b"]
    assert row_captions({"captions": np.array(["a", "b"])}) == ["a", "b"]
    assert row_captions({"captions": None}) == [] and row_captions({}) == []
