"""The previews (pipelines.preview): a face drawn from the 61 channels, GIF/PNG writers and `express4d render`."""

import math

import numpy as np
import pytest
from PIL import Image

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS, channel_index
from express4d_dataset.livelink import read_livelink_csv, write_livelink_csv
from pipelines.preview import (
    FACE_REGIONS,
    plot_channel_curves,
    preview_fps,
    preview_frame_indices,
    render_csv,
    render_frame,
    render_frames,
    save_gif,
    save_mp4,
    write_gif,
)
from pipelines.preview import video

SIZE = 192


def _frame(**channels):
    f = np.zeros(NUM_CHANNELS, dtype=np.float32)
    for name, value in channels.items():
        f[channel_index(name)] = value
    return f


def _crop(img, region):
    x0, y0, x1, y1 = FACE_REGIONS[region]
    w, h = img.size
    return np.asarray(img, dtype=np.float64)[int(y0 * h) : int(math.ceil(y1 * h)), int(x0 * w) : int(math.ceil(x1 * w))]


def _region_diff(a, b, region):
    """Mean absolute pixel difference (0..255) inside a FACE_REGIONS box."""
    return float(np.abs(_crop(a, region) - _crop(b, region)).mean())


def _lip_rows(img, region):
    """Mean row (0..1 of the box height) of lip-coloured pixels inside a box, or None."""
    px = _crop(img, region)
    r, g = px[..., 0], px[..., 1]
    rows, _ = np.nonzero((r - g > 60) & (g < 140))
    return None if rows.size == 0 else rows.mean() / px.shape[0]


@pytest.fixture(scope="module")
def faces():
    named = {
        "neutral": _frame(),
        "blink": _frame(EyeBlinkLeft=1.0, EyeBlinkRight=1.0),
        "open": _frame(JawOpen=0.8),
        "smile": _frame(MouthSmileLeft=1.0, MouthSmileRight=1.0),
        "smile_left": _frame(MouthSmileLeft=1.0),
        "frown": _frame(MouthFrownLeft=1.0, MouthFrownRight=1.0),
        "brows": _frame(BrowInnerUp=1.0, BrowOuterUpLeft=1.0, BrowOuterUpRight=1.0),
        "left_eye_yaw": _frame(LeftEyeYaw=0.5),
        "look_out_left": _frame(EyeLookOutLeft=1.0),
        "head_yaw": _frame(HeadYaw=0.5),
    }
    images = render_frames(np.stack(list(named.values())), size=SIZE)
    return dict(zip(named, images))


def test_render_frame_size_and_mode():
    img = render_frame(_frame(), size=96)
    assert isinstance(img, Image.Image)
    assert img.size == (96, 96) and img.mode == "RGB"
    imgs = render_frames(np.zeros((3, NUM_CHANNELS), dtype=np.float32), size=64)
    assert len(imgs) == 3 and all(im.size == (64, 64) and im.mode == "RGB" for im in imgs)
    # the same frame alone or within a batch draws the same pixels
    assert np.array_equal(np.asarray(imgs[0]), np.asarray(render_frame(np.zeros(NUM_CHANNELS), size=64)))


def test_face_regions_are_normalised_boxes():
    for name, (x0, y0, x1, y1) in FACE_REGIONS.items():
        assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0, name
    # the subject's left eye is drawn on the image's right
    assert FACE_REGIONS["left_eye"][0] > FACE_REGIONS["right_eye"][0]


def test_blink_changes_the_eyes_not_the_mouth(faces):
    assert _region_diff(faces["blink"], faces["neutral"], "eyes") > 8.0
    assert _region_diff(faces["blink"], faces["neutral"], "mouth") < 0.5
    assert _region_diff(faces["blink"], faces["neutral"], "brows") < 0.5


def test_open_mouth_changes_the_mouth_not_the_eyes(faces):
    assert _region_diff(faces["open"], faces["neutral"], "mouth") > 8.0
    assert _region_diff(faces["open"], faces["neutral"], "eyes") < 0.5
    assert _region_diff(faces["open"], faces["neutral"], "brows") < 0.5


def test_smile_lifts_and_frown_drops_the_mouth_corners(faces):
    for corner in ("mouth_left_corner", "mouth_right_corner"):
        assert _region_diff(faces["smile"], faces["neutral"], corner) > 3.0
        neutral, smile, frown = (_lip_rows(faces[k], corner) for k in ("neutral", "smile", "frown"))
        assert None not in (neutral, smile, frown)
        assert smile < neutral - 0.03 < frown - 0.06
    assert _region_diff(faces["smile"], faces["neutral"], "eyes") < 0.5


def test_one_sided_smile_is_drawn_on_the_subjects_side(faces):
    # MouthSmileLeft is the subject's left: the image's right-hand corner
    moved_left = _region_diff(faces["smile_left"], faces["neutral"], "mouth_left_corner")
    moved_right = _region_diff(faces["smile_left"], faces["neutral"], "mouth_right_corner")
    assert moved_left > 2.0 * moved_right


def test_raised_brows_change_the_brows_not_the_mouth(faces):
    assert _region_diff(faces["brows"], faces["neutral"], "brows") > 5.0
    assert _region_diff(faces["brows"], faces["neutral"], "mouth") < 0.5


def test_gaze_moves_only_the_eye_it_belongs_to(faces):
    for key in ("left_eye_yaw", "look_out_left"):
        assert _region_diff(faces[key], faces["neutral"], "left_eye") > 2.0, key
        assert _region_diff(faces[key], faces["neutral"], "right_eye") < 0.3, key
    # blendshape gaze and eye rotation agree on the direction (out = image right for the left eye;
    # positive eye yaw looks toward the subject's right, the image left)
    dark = lambda img: np.nonzero(_crop(img, "left_eye").sum(axis=-1) < 200)[1].mean()  # noqa: E731
    assert dark(faces["look_out_left"]) > dark(faces["neutral"]) > dark(faces["left_eye_yaw"])


def test_head_yaw_moves_the_features(faces):
    assert _region_diff(faces["head_yaw"], faces["neutral"], "nose") > 5.0
    assert _region_diff(faces["head_yaw"], faces["neutral"], "eyes") > 5.0


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match=r"\[T, 61\]"):
        render_frames(np.zeros((4, 60)))
    with pytest.raises(ValueError, match="render_frames"):
        render_frame(np.zeros((2, NUM_CHANNELS)))
    with pytest.raises(ValueError, match="size"):
        render_frame(np.zeros(NUM_CHANNELS), size=8)
    with pytest.raises(ValueError, match="fps"):
        preview_frame_indices(10, 0)


def test_non_finite_values_are_drawn_as_zero(caplog):
    f = _frame(JawOpen=0.5)
    bad = f.copy()
    bad[channel_index("EyeBlinkLeft")] = np.nan
    with caplog.at_level("WARNING"):
        img = render_frames(bad[None], size=64)[0]
    assert "NaN" in caplog.text
    assert np.array_equal(np.asarray(img), np.asarray(render_frame(f, size=64)))


@pytest.mark.parametrize(
    "num_frames, fps, expected, rate",
    [(120, 20, 120, 20.0), (120, 30, 120, 30.0), (360, 60, 180, 30.0), (361, 60, 181, 30.0), (100, 90, 34, 30.0),
     (50, 25, 50, 25.0), (7, 120, 2, 30.0)],
)  # fmt: skip
def test_preview_frame_indices_formula(num_frames, fps, expected, rate):
    idx = preview_frame_indices(num_frames, fps)
    step = math.ceil(fps / 30)
    assert len(idx) == expected == math.ceil(num_frames / step)
    assert idx[0] == 0 and np.all(np.diff(idx) == step) and idx[-1] < num_frames
    assert preview_fps(fps) == pytest.approx(rate)


def _gif_durations(path):
    with Image.open(path) as im:
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
        return im.n_frames, durations


def test_gif_frame_count_and_duration(tmp_path):
    rng = np.random.default_rng(0)
    motion = np.clip(rng.normal(0.3, 0.2, size=(45, NUM_CHANNELS)), 0, 1).astype(np.float32)
    motion[:, 52:] = 0.0
    path = save_gif(motion, tmp_path / "clip.gif", fps=60, size=64)
    n, durations = _gif_durations(path)
    assert n == len(preview_frame_indices(45, 60)) == 23
    # 23 frames at 30 fps: delays of 30/40 ms adding up to the clip's length
    assert set(durations) <= {30, 40} and sum(durations) == round(23 / 30 * 100) * 10
    with Image.open(path) as im:
        assert im.size == (64, 64)


def test_gif_of_a_still_motion_keeps_every_frame(tmp_path):
    # identical faces in consecutive frames must not be merged by the GIF writer
    path = save_gif(np.zeros((10, NUM_CHANNELS), dtype=np.float32), tmp_path / "still.gif", fps=20, size=48)
    n, durations = _gif_durations(path)
    assert n == 10 and durations == [50] * 10


def test_gif_frames_match_the_renderer(tmp_path):
    motion = np.stack([_frame(), _frame(EyeBlinkLeft=1.0, EyeBlinkRight=1.0), _frame(JawOpen=0.9)])
    path = save_gif(motion, tmp_path / "three.gif", fps=20, size=96)
    reference = render_frames(motion, size=96, fps=20)
    with Image.open(path) as im:
        for k in range(3):
            im.seek(k)
            decoded = np.asarray(im.convert("RGB"), dtype=np.float64)
            assert np.abs(decoded - np.asarray(reference[k], dtype=np.float64)).mean() < 2.0


def test_write_gif_takes_images_or_a_renderer(tmp_path):
    motion = np.stack([_frame(), _frame(EyeBlinkLeft=1.0, EyeBlinkRight=1.0), _frame(JawOpen=0.9), _frame()])
    images = render_frames(motion, size=64, fps=60)
    from_list = write_gif(images, tmp_path / "list.gif", fps=60)
    from_callable = write_gif(lambda idx: (images[i] for i in idx), tmp_path / "call.gif", fps=60, num_frames=4)
    assert from_list.read_bytes() == from_callable.read_bytes()
    assert _gif_durations(from_list) == (2, [30, 40])  # 60 fps: every second frame, at 30 fps
    with pytest.raises(ValueError, match="write_gif: frames must be PIL images"):
        write_gif(motion, tmp_path / "motion.gif", fps=60)
    with pytest.raises(ValueError, match="write_gif: pass num_frames"):
        write_gif(lambda idx: iter(images), tmp_path / "n.gif", fps=60)


def test_render_module_still_offers_every_name():
    from pipelines import preview, render

    for name in render.__all__:
        assert getattr(render, name) is getattr(preview, name), name


def test_plot_channel_curves_png(tmp_path):
    t = np.arange(40) / 20.0
    motion = np.zeros((40, NUM_CHANNELS), dtype=np.float32)
    motion[:, channel_index("JawOpen")] = 0.5 + 0.5 * np.sin(2 * np.pi * t)
    motion[:, channel_index("HeadYaw")] = 0.2 * np.sin(np.pi * t)
    path = plot_channel_curves(motion, 20, tmp_path / "curves.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (1000, 600)
        pixels = np.asarray(im.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # curves, legend and text were drawn
    path = plot_channel_curves(motion, 20, tmp_path / "jaw.png", channels=["jawOpen"], size=(400, 300))
    with Image.open(path) as im:
        assert im.size == (400, 300)
    with pytest.raises(KeyError, match="NotAChannel"):
        plot_channel_curves(motion, 20, tmp_path / "bad.png", channels=["NotAChannel"])


def test_curve_channels_show_what_the_motion_moves():
    from pipelines.preview import DEFAULT_CURVE_CHANNELS, curve_channels

    rest = np.zeros((30, NUM_CHANNELS), dtype=np.float32)
    # nothing moves: the familiar defaults, in channel order, then the head rotations
    assert curve_channels(rest) == [n for n in CHANNEL_NAMES if n in DEFAULT_CURVE_CHANNELS]
    puff = rest.copy()
    puff[10:20, channel_index("CheekPuff")] = 0.6  # not among the defaults
    puff[:, channel_index("TongueOut")] = np.linspace(0, 0.05, 30)  # too little to count as moving
    names = curve_channels(puff)
    assert "CheekPuff" in names and "TongueOut" not in names and names[-3:] == ["HeadYaw", "HeadPitch", "HeadRoll"]
    assert len(names) == 13 and names[:-3] == sorted(names[:-3], key=CHANNEL_NAMES.index)
    # many moving blendshapes: the ten that move most, the defaults left out
    busy = rest.copy()
    for k, name in enumerate(CHANNEL_NAMES[20:34]):
        busy[5:, channel_index(name)] = 0.2 + 0.05 * k
    names = curve_channels(busy)
    assert names[:-3] == list(CHANNEL_NAMES[24:34])
    assert curve_channels(busy, limit=2)[:-3] == list(CHANNEL_NAMES[32:34])
    with pytest.raises(ValueError, match="limit must be between 1 and 10"):
        curve_channels(busy, limit=11)


def test_save_mp4_without_ffmpeg_returns_none(tmp_path, monkeypatch):
    monkeypatch.setattr(video.shutil, "which", lambda name: None)
    assert save_mp4(np.zeros((3, NUM_CHANNELS)), tmp_path / "x.mp4", fps=20) is None
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.skipif(not video.ffmpeg_available(), reason="ffmpeg not on PATH")
def test_save_mp4_with_ffmpeg(tmp_path):
    path = save_mp4(np.zeros((6, NUM_CHANNELS)), tmp_path / "x.mp4", fps=20, size=63)
    assert path is not None and path.stat().st_size > 0


def _small_take(path, fps=60.0, num_frames=36):
    t = np.arange(num_frames) / fps
    motion = np.zeros((num_frames, NUM_CHANNELS), dtype=np.float32)
    motion[:, channel_index("JawOpen")] = 0.5 - 0.5 * np.cos(2 * np.pi * t / t[-1])
    motion[:, channel_index("EyeBlinkLeft")] = (np.abs(t - t[-1] / 2) < 0.1).astype(np.float32)
    write_livelink_csv(path, motion, fps=fps)
    return motion


def test_render_csv_writes_gif_and_png(tmp_path):
    csv = tmp_path / "take.csv"
    _small_take(csv)
    written = render_csv(csv, out_dir=tmp_path / "out", size=64, mp4=False)
    assert set(written) == {"gif", "png"}
    assert written["gif"] == tmp_path / "out" / "take.gif"
    assert written["png"] == tmp_path / "out" / "take_curves.png"
    fps = read_livelink_csv(csv).fps
    assert fps == 60
    assert _gif_durations(written["gif"])[0] == len(preview_frame_indices(36, fps)) == 18


def test_cli_render(tmp_path, capsys):
    from pipelines.cli import main

    for name in ("a", "b"):
        _small_take(tmp_path / f"{name}.csv", fps=30.0, num_frames=12)
    out = tmp_path / "previews"
    csvs = [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    rc = main(["render", *csvs, "--out", str(out), "--size", "48", "--no-mp4"])
    assert rc == 0
    printed = capsys.readouterr().out
    for name in ("a", "b"):
        assert (out / f"{name}.gif").is_file() and (out / f"{name}_curves.png").is_file()
        assert str(out / f"{name}.gif") in printed and str(out / f"{name}_curves.png") in printed
        assert _gif_durations(out / f"{name}.gif")[0] == 12
    assert not list(out.glob("*.mp4"))


def test_cli_render_missing_file(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["render", str(tmp_path / "nope.csv"), "--no-mp4"]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_real_capture_renders(alex_rom_path):
    take = read_livelink_csv(alex_rom_path)
    assert take.fps == 30
    images = render_frames(take.frames[:30], size=96, fps=take.fps)
    assert len(images) == 30 and all(im.size == (96, 96) for im in images)
    stack = np.stack([np.asarray(im, dtype=np.int16) for im in images])
    assert np.abs(np.diff(stack, axis=0)).sum(axis=(1, 2, 3)).min() > 0  # every frame differs (face or time stamp)
    # the face itself moves over the first second of the capture
    faces = render_frames(take.frames[[0, 29]], size=96)
    assert _region_diff(faces[0], faces[1], "head") > 0.05
