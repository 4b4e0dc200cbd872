"""The 3D preview: the shipped ICT head, the 61-channel mapping, the numpy rasteriser and `render --preview`."""

import numpy as np
import pytest
from PIL import Image

from express4d_dataset.arkit import BLENDSHAPE_NAMES, NUM_CHANNELS, channel_index
from express4d_dataset.livelink import read_livelink_csv, write_livelink_csv
from pipelines.preview import (
    CAMERAS,
    camera_yaw,
    head_regions,
    load_head,
    preview_frame_indices,
    render_csv,
    render_head_frame,
    render_head_frames,
    save_head_gif,
)
from pipelines.preview.arkit_head import ASSET_PATH, MISSING_BLENDSHAPES, arkit_name, rotation_matrices, rotation_quaternions
from pipelines.preview.raster import interpolate, rasterize

SIZE = 128


def _frame(**channels):
    f = np.zeros(NUM_CHANNELS, dtype=np.float32)
    for name, value in channels.items():
        f[channel_index(name)] = value
    return f


def _crop(img, box):
    x0, y0, x1, y1 = box
    return np.asarray(img, dtype=np.float64)[y0:y1, x0:x1]


def _diff(a, b, box):
    """Mean absolute pixel difference (0..255) inside a pixel box."""
    return float(np.abs(_crop(a, box) - _crop(b, box)).mean())


@pytest.fixture(scope="module")
def head():
    return load_head()


@pytest.fixture(scope="module")
def front():
    named = {
        "neutral": _frame(),
        "jaw": _frame(JawOpen=1.0),
        "smile": _frame(MouthSmileLeft=1.0, MouthSmileRight=1.0),
        "blink_left": _frame(EyeBlinkLeft=1.0),
        "brows": _frame(BrowInnerUp=1.0, BrowOuterUpLeft=1.0, BrowOuterUpRight=1.0),
        "yaw": _frame(HeadYaw=0.5),
        "pitch": _frame(HeadPitch=0.4),
        "gaze": _frame(LeftEyeYaw=0.5, RightEyeYaw=0.5),
        "tongue": _frame(TongueOut=1.0),
    }
    images = render_head_frames(np.stack(list(named.values())), size=SIZE, camera="front")
    return dict(zip(named, images)), head_regions(SIZE, camera="front")


# ----------------------------------------------------------------------------- the asset and the mapping
def test_shipped_head_is_small_and_complete(head):
    assert ASSET_PATH.is_file() and ASSET_PATH.stat().st_size < 3_000_000
    assert (ASSET_PATH.parent / "LICENSE-ICT-FaceKit").is_file()
    assert 3_000 < head.num_vertices < 20_000 and head.triangles.shape[1] == 3
    assert head.triangles.min() >= 0 and head.triangles.max() < head.num_vertices
    for part in ("face", "head_and_neck", "mouth_socket", "teeth", "gums_and_tongue", "eyeball_left", "eyeball_right"):
        assert head.part_mask(part).any(), part
    # every Live Link Face blendshape but TongueOut drives one target named with ARKit's spelling
    expected = [arkit_name(n) for n in BLENDSHAPE_NAMES if n not in MISSING_BLENDSHAPES]
    assert list(head.target_names) == expected and len(expected) == 51
    assert head.target_names[0] == "eyeBlinkLeft" and "tongueOut" not in head.target_names
    assert [BLENDSHAPE_NAMES[c] for c in head.target_channels] == [n for n in BLENDSHAPE_NAMES if n != "TongueOut"]
    # the subject's left eye is at +x
    assert head.eyes["left"].centre[0] > 0 > head.eyes["right"].centre[0]


def test_split_shapes_are_driven_by_one_channel(head):
    """ARKit's one BrowInnerUp / CheekPuff moves both of ICT's _L and _R halves."""
    for name in ("browInnerUp", "cheekPuff"):
        idx = head.target_indices[head.target_names.index(name)]
        x = head.positions[idx, 0]
        assert (x > 2).sum() > 50 and (x < -2).sum() > 50, name
    posed = head.posed_vertices(np.stack([_frame(), _frame(BrowInnerUp=1.0)]))
    moved = np.linalg.norm(posed[1] - posed[0], axis=1) > 0.05
    assert (head.positions[moved, 0] > 1).any() and (head.positions[moved, 0] < -1).any()
    # TongueOut has no shape: it moves nothing
    posed = head.posed_vertices(np.stack([_frame(), _frame(TongueOut=1.0)]))
    np.testing.assert_array_equal(posed[0], posed[1])


def test_weights_are_clipped(head):
    w = head.target_weights(np.stack([_frame(JawOpen=1.7), _frame(JawOpen=-0.3)]))
    k = head.target_names.index("jawOpen")
    assert w[0, k] == 1.0 and w[1, k] == 0.0


def test_rotation_sign_conventions():
    """Live Link Face / the 2D preview: yaw > 0 turns toward the subject's right (-x), pitch > 0 tilts
    down, roll > 0 tilts the top toward the subject's right."""
    forward, up = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    (r,) = rotation_matrices([0.4], [0.0], [0.0])
    assert (r @ forward)[0] < -0.3
    (r,) = rotation_matrices([0.0], [0.4], [0.0])
    assert (r @ forward)[1] < -0.3
    (r,) = rotation_matrices([0.0], [0.0], [0.4])
    assert (r @ up)[0] < -0.3
    rng = np.random.default_rng(0)
    yaw, pitch, roll = rng.uniform(-1, 1, size=(3, 20))
    mats = rotation_matrices(yaw, pitch, roll)
    np.testing.assert_allclose(mats @ mats.transpose(0, 2, 1), np.broadcast_to(np.eye(3), mats.shape), atol=1e-12)
    q = rotation_quaternions(yaw, pitch, roll)
    x, y, z, w = q.T
    from_q = np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)  # fmt: skip
    np.testing.assert_allclose(from_q, mats, atol=1e-12)
    assert (w >= 0).all()


def test_eye_rotation_matches_the_real_capture(alex_rom_path, head):
    """In alex_rom_3.csv, LeftEyeYaw > 0 comes with EyeLookInLeft (toward the nose: the subject's
    right) and eye pitch > 0 with EyeLookDown: the mapped eyeball turns the same way."""
    take = read_livelink_csv(alex_rom_path)
    f = take.frames
    look_in = f[:, channel_index("EyeLookInLeft")] - f[:, channel_index("EyeLookOutLeft")]
    assert np.corrcoef(look_in, f[:, channel_index("LeftEyeYaw")])[0, 1] > 0.9
    down = f[:, channel_index("EyeLookDownLeft")] - f[:, channel_index("EyeLookUpLeft")]
    assert np.corrcoef(down, f[:, channel_index("LeftEyePitch")])[0, 1] > 0.9
    i_in, i_down = int(np.argmax(look_in)), int(np.argmax(down))
    eye = head.eyes["left"]
    for i, axis, sign in ((i_in, 0, -1), (i_down, 1, -1)):  # toward -x (subject's right) / -y (down)
        gaze = head.eye_rotations(f[i : i + 1], "left")[0] @ eye.axis
        assert sign * (gaze[axis] - eye.axis[axis]) > 0.1


def test_posed_vertices_move_the_right_parts(head):
    rest, jaw, yaw, gaze = head.posed_vertices(
        np.stack([_frame(), _frame(JawOpen=1.0), _frame(HeadYaw=0.5), _frame(LeftEyeYaw=0.5)])
    )
    chin = head.part_mask("face") & (head.positions[:, 1] < -8) & (head.positions[:, 2] > 5)
    assert (jaw[chin, 1] - rest[chin, 1]).mean() < -1.0  # the chin drops (cm)
    nose = int(np.argmax(np.where(head.part_mask("face"), head.positions[:, 2], -np.inf)))
    assert yaw[nose, 0] < rest[nose, 0] - 2.0  # the nose turns toward the subject's right
    # an eye turns in place: its vertices keep their distance to the centre, the other eye does not move
    left, right = head.eyes["left"], head.eyes["right"]
    np.testing.assert_allclose(np.linalg.norm(gaze[left.vertices] - left.centre, axis=1),
                               np.linalg.norm(rest[left.vertices] - left.centre, axis=1), atol=1e-4)  # fmt: skip
    assert np.abs(gaze[left.vertices] - rest[left.vertices]).max() > 0.3
    np.testing.assert_array_equal(gaze[right.vertices], rest[right.vertices])


# ----------------------------------------------------------------------------- the rasteriser
def test_rasterizer_z_buffer_and_coverage():
    # two overlapping squares (two triangles each), the nearer (larger inverse depth) one on top
    xy = np.array([[2, 2], [30, 2], [30, 30], [2, 30], [10, 10], [40, 10], [40, 40], [10, 40]], dtype=np.float32)
    inv = np.array([1, 1, 1, 1, 2, 2, 2, 2], dtype=np.float32)
    tris = np.array([[0, 3, 2], [0, 2, 1], [4, 7, 6], [4, 6, 5]])  # counter-clockwise as seen (y down)
    frags = rasterize(xy, inv, tris, 48, 48, cull="cw")
    ids = np.full(48 * 48, -1)
    ids[frags.pixels] = frags.triangles
    ids = ids.reshape(48, 48)
    assert ids[5, 5] in (0, 1) and ids[20, 20] in (2, 3) and ids[35, 35] in (2, 3) and ids[45, 45] == -1
    # no gaps along the shared diagonals: the squares are filled completely
    assert (ids[2:30, 2:30] >= 0).all() and (ids[10:40, 10:40] >= 2).all()
    assert len(frags.pixels) == 28 * 28 + 30 * 30 - 20 * 20
    np.testing.assert_allclose(frags.barycentric.sum(axis=1), 1.0, atol=1e-6)
    # barycentric interpolation of x reproduces the pixel centres
    px = interpolate(frags, tris, xy)
    np.testing.assert_allclose(px[:, 0], frags.pixels % 48 + 0.5, atol=1e-3)
    # back faces are culled: the same squares wound the other way vanish
    assert rasterize(xy, inv, tris[:, ::-1], 48, 48, cull="cw").pixels.size == 0
    assert rasterize(xy, inv, tris[:, ::-1], 48, 48, cull="none").pixels.size == len(frags.pixels)


# ----------------------------------------------------------------------------- renders
def test_render_head_frame_size_and_background():
    img = render_head_frame(_frame(), size=96)
    assert isinstance(img, Image.Image) and img.size == (96, 96) and img.mode == "RGB"
    px = np.asarray(img)
    assert tuple(px[0, 0]) == (234, 236, 240)  # background in the corner
    assert (np.abs(px.astype(int) - [234, 236, 240]).sum(axis=2) > 30).mean() > 0.2  # the head covers the middle


def test_jaw_open_changes_the_lower_face(front):
    img, box = front
    lower = _diff(img["neutral"], img["jaw"], box["lower_face"])
    assert lower > 8.0
    assert _diff(img["neutral"], img["jaw"], box["brows"]) < lower / 4


def test_blink_closes_the_subjects_left_eye_on_the_image_right(front):
    img, box = front
    assert box["left_eye"][0] > SIZE / 2 > box["right_eye"][2]  # the subject's left eye is drawn on the image's right
    left = _diff(img["neutral"], img["blink_left"], box["left_eye"])
    right = _diff(img["neutral"], img["blink_left"], box["right_eye"])
    assert left > 8.0 and right < left / 5
    assert _diff(img["neutral"], img["blink_left"], box["mouth"]) < left / 5


def test_smile_and_brows_change_their_regions(front):
    img, box = front
    smile = _diff(img["neutral"], img["smile"], box["mouth"])
    assert smile > 5.0 and _diff(img["neutral"], img["smile"], box["brows"]) < smile / 2
    brows = _diff(img["neutral"], img["brows"], box["brows"])
    assert brows > 3.0 and _diff(img["neutral"], img["brows"], box["mouth"]) < brows / 2
    np.testing.assert_array_equal(np.asarray(img["neutral"]), np.asarray(img["tongue"]))  # no tongue on this head


def _centroid_x(img):
    px = np.asarray(img, dtype=int)
    fg = np.abs(px - [234, 236, 240]).sum(axis=2) > 30
    fg[int(0.85 * SIZE) :] = False  # the neck and shoulders
    return np.nonzero(fg)[1].mean()


def test_head_yaw_turns_the_face_toward_the_image_left(front):
    img, box = front
    # the face (skin pixels in the face box) moves left; so does the head's silhouette centroid
    assert _centroid_x(img["yaw"]) < _centroid_x(img["neutral"]) - 1.0

    def dark_x(im):  # nostrils, lips, eyes: the darker features of the face
        px = np.asarray(im, dtype=float).mean(axis=2)[box["right_eye"][1] : box["lower_face"][3]]
        ys, xs = np.nonzero(px < 120)
        return xs.mean()

    assert dark_x(img["yaw"]) < dark_x(img["neutral"]) - 3.0
    # pitch > 0 tilts the face down: the dark features move down
    def dark_y(im):
        ys, _ = np.nonzero(np.asarray(im, dtype=float).mean(axis=2)[: int(0.85 * SIZE)] < 120)
        return ys.mean()

    assert dark_y(img["pitch"]) > dark_y(img["neutral"]) + 2.0


def test_eye_yaw_moves_the_irises_toward_the_image_left(front):
    img, box = front

    def iris_x(im, side):
        x0, y0, x1, y1 = box[f"{side}_eye"]
        px = np.asarray(im, dtype=int)[y0:y1, x0:x1]
        blue = (px[..., 2] - px[..., 0] > 30) | (px.sum(axis=2) < 150)  # iris or pupil
        return np.nonzero(blue)[1].mean()

    for side in ("left", "right"):
        assert iris_x(img["gaze"], side) < iris_x(img["neutral"], side) - 0.5, side


def test_cameras():
    assert camera_yaw("front") == 0 and camera_yaw("three-quarter") == CAMERAS["three-quarter"] == 30
    assert camera_yaw("side") == 90 and camera_yaw("-45") == -45 and camera_yaw(12.5) == 12.5
    for bad in ("top", "", "nan", float("inf"), None, True):
        with pytest.raises(ValueError, match="front, three-quarter, side or a yaw in degrees"):
            camera_yaw(bad)
    views = {c: np.asarray(render_head_frame(_frame(), size=64, camera=c), dtype=int) for c in ("front", "three-quarter", "side")}
    assert np.abs(views["front"] - views["side"]).mean() > 10
    # a camera yaw looks like the same HeadYaw seen from the front
    turned = np.asarray(render_head_frame(_frame(HeadYaw=np.radians(30)), size=64, camera="front"), dtype=int)
    assert np.abs(turned - views["three-quarter"]).mean() < np.abs(views["front"] - views["three-quarter"]).mean()


def test_gif_has_one_stamped_frame_per_preview_frame(tmp_path):
    t = np.arange(36) / 60
    motion = np.zeros((36, NUM_CHANNELS), dtype=np.float32)
    motion[:, channel_index("JawOpen")] = np.sin(np.pi * t / t[-1])
    path = save_head_gif(motion, tmp_path / "a.gif", fps=60, size=64)
    with Image.open(path) as im:
        assert im.n_frames == len(preview_frame_indices(36, 60)) == 18
        im.seek(0)
        first = np.asarray(im.convert("RGB"), dtype=int)
        im.seek(17)
        last = np.asarray(im.convert("RGB"), dtype=int)
    # the timeline bar fills from left to right along the bottom rows
    def filled(img):
        return float((np.abs(img[-1] - [176, 182, 192]).sum(axis=1) < 6).mean())

    assert filled(first) < 0.1 and filled(last) > 0.9


def test_real_capture_renders_in_3d(alex_rom_path):
    take = read_livelink_csv(alex_rom_path)
    images = render_head_frames(take.frames[:20], size=64, fps=take.fps)
    assert len(images) == 20 and all(im.size == (64, 64) for im in images)


def _take(path, fps=60.0, n=24):
    motion = np.zeros((n, NUM_CHANNELS), dtype=np.float32)
    motion[:, channel_index("EyeBlinkLeft")] = np.linspace(0, 1, n)
    write_livelink_csv(path, motion, fps=fps)


def test_render_csv_3d_by_default_and_2d_on_request(tmp_path):
    _take(tmp_path / "take.csv")
    three = render_csv(tmp_path / "take.csv", out_dir=tmp_path / "3d", size=48, mp4=False)
    two = render_csv(tmp_path / "take.csv", out_dir=tmp_path / "2d", size=48, mp4=False, preview="2d")
    assert set(three) == set(two) == {"gif", "png"}
    with Image.open(three["gif"]) as a, Image.open(two["gif"]) as b:
        assert a.n_frames == b.n_frames == 12
        assert np.abs(np.asarray(a.convert("RGB"), dtype=int) - np.asarray(b.convert("RGB"), dtype=int)).mean() > 5
    with pytest.raises(ValueError, match="preview must be one of 3d, 2d"):
        render_csv(tmp_path / "take.csv", preview="4d")


def test_cli_render_preview_and_camera(tmp_path, capsys):
    from pipelines.cli import main

    _take(tmp_path / "a.csv", fps=30.0, n=6)
    for preview, camera in (("3d", "side"), ("3d", "-20"), ("2d", "front")):
        out = tmp_path / f"{preview}{camera}"
        assert main(["render", str(tmp_path / "a.csv"), "--out", str(out), "--size", "48", "--no-mp4",
                     "--preview", preview, "--camera", camera]) == 0  # fmt: skip
        assert (out / "a.gif").is_file() and (out / "a_curves.png").is_file()
    assert main(["render", str(tmp_path / "a.csv"), "--camera", "top", "--no-mp4"]) == 2
    assert "camera must be front, three-quarter, side or a yaw in degrees" in capsys.readouterr().err
