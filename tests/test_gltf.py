"""GLB export (pipelines.preview.gltf, `express4d export`, `generate --glb`), checked with the Khronos glTF validator.

The validator is the npm package `gltf-validator`, run under node from `.ci/node/` (`.ci/run` installs it:
`npm install --prefix .ci/node gltf-validator`).  Without node or the package the validator tests skip with
the reason, except under CI (CI=true), where they fail.
"""

import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from express4d_dataset.arkit import NUM_CHANNELS, channel_index
from express4d_dataset.livelink import write_livelink_csv
from pipelines.preview import export_csv, glb_bytes, load_head, save_glb
from pipelines.preview.arkit_head import rotation_quaternions

from conftest import ROOT

VALIDATOR_DIR = ROOT / ".ci" / "node" / "node_modules"
_VALIDATE_JS = r"""
const fs = require("fs");
const validator = require("gltf-validator");
const file = process.argv[process.argv.length - 1];
validator.validateBytes(new Uint8Array(fs.readFileSync(file)), {uri: file, maxIssues: 100, format: "glb"})
  .then((report) => { process.stdout.write(JSON.stringify(report)); })
  .catch((error) => { process.stderr.write(String(error)); process.exit(3); });
"""


def _validator_or_skip() -> str:
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not on PATH"
    elif not (VALIDATOR_DIR / "gltf-validator" / "package.json").is_file():
        missing = f"the npm package gltf-validator is not installed in {VALIDATOR_DIR.parent}"
    if missing:
        message = f"glTF validator unavailable: {missing}; install it with `npm install --prefix .ci/node gltf-validator`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (.ci/run installs it; under CI this must not be skipped)")
        pytest.skip(message)
    return node


def validate(path) -> dict:
    """The Khronos glTF validator's report of a GLB file."""
    node = _validator_or_skip()
    proc = subprocess.run([node, "-e", _VALIDATE_JS, str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NODE_PATH": str(VALIDATOR_DIR)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def read_glb(data: bytes) -> tuple[dict, bytes]:
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF" and version == 2 and length == len(data)
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON" and json_len % 4 == 0
    doc = json.loads(data[20 : 20 + json_len])
    bin_len, bin_type = struct.unpack_from("<I4s", data, 20 + json_len)
    assert bin_type == b"BIN\0"
    start = 28 + json_len
    return doc, data[start : start + bin_len]


def accessor_array(doc: dict, blob: bytes, index: int) -> np.ndarray:
    """An accessor's values (sparse accessors expanded), as a [count, components] float array."""
    acc = doc["accessors"][index]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
    dtype = {5126: np.float32, 5123: np.uint16, 5125: np.uint32}[acc["componentType"]]

    def view(i, dt, count):
        v = doc["bufferViews"][i]
        return np.frombuffer(blob, dtype=dt, count=count, offset=v["byteOffset"])

    if "bufferView" in acc:
        out = view(acc["bufferView"], dtype, acc["count"] * width).reshape(acc["count"], width).astype(np.float64)
    else:
        out = np.zeros((acc["count"], width))
    if "sparse" in acc:
        sp = acc["sparse"]
        idx_dt = {5123: np.uint16, 5125: np.uint32}[sp["indices"]["componentType"]]
        idx = view(sp["indices"]["bufferView"], idx_dt, sp["count"])
        out[idx] = view(sp["values"]["bufferView"], np.float32, sp["count"] * width).reshape(-1, width)
    return out


def _motion(seconds=6.0, fps=60.0):
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    m = np.zeros((n, NUM_CHANNELS), dtype=np.float32)
    m[:, channel_index("JawOpen")] = 0.5 - 0.5 * np.cos(2 * np.pi * t / 3)
    m[:, channel_index("MouthSmileLeft")] = m[:, channel_index("MouthSmileRight")] = np.clip(np.sin(t), 0, 1)
    m[:, channel_index("EyeBlinkLeft")] = (np.abs(t % 2 - 1) < 0.1).astype(np.float32)
    m[:, channel_index("HeadYaw")] = 0.4 * np.sin(t)
    m[:, channel_index("HeadPitch")] = 0.2 * np.sin(2 * t)
    m[:, channel_index("HeadRoll")] = 0.1 * np.cos(t)
    m[:, channel_index("LeftEyeYaw")] = m[:, channel_index("RightEyeYaw")] = 0.3 * np.sin(3 * t)
    m[:, channel_index("LeftEyePitch")] = 0.2 * np.cos(3 * t)
    return m


@pytest.fixture(scope="module")
def six_seconds(tmp_path_factory):
    """A 6 s take at 60 fps and its GLB."""
    motion = _motion()
    path = save_glb(motion, tmp_path_factory.mktemp("glb") / "take.glb", fps=60.0)
    doc, blob = read_glb(path.read_bytes())
    return motion, path, doc, blob


def test_glb_is_valid(six_seconds):
    _, path, _, _ = six_seconds
    report = validate(path)
    issues = report["issues"]
    assert issues["numErrors"] == 0, [m for m in issues["messages"] if m["severity"] == 0]
    assert issues["numWarnings"] == 0, [m for m in issues["messages"] if m["severity"] == 1]
    info = report["info"]
    assert info["animationCount"] == 1 and info["hasMorphTargets"] and info["hasDefaultScene"]


def test_six_second_clip_is_small(six_seconds):
    _, path, _, _ = six_seconds
    assert path.stat().st_size < 10_000_000
    assert path.stat().st_size < 3_000_000  # what it is now (about 1.5 MB): catch a regression early


def test_morph_targets_carry_the_arkit_names(six_seconds):
    _, _, doc, blob = six_seconds
    head = load_head()
    (mesh, *eyes) = doc["meshes"]
    names = mesh["extras"]["targetNames"]
    assert names == list(head.target_names) and len(names) == 51
    assert names[:3] == ["eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft"] and "jawOpen" in names
    assert "tongueOut" not in names and "browInnerUp" in names and "cheekPuff" in names
    assert mesh["weights"] == [0.0] * 51
    for prim in mesh["primitives"]:
        assert len(prim["targets"]) == 51
    assert [m["name"] for m in eyes] == ["eyeball_left", "eyeball_right"]
    # the jawOpen target, decoded from the sparse accessors, holds the head's own offsets (in metres)
    k = names.index("jawOpen")
    decoded = np.concatenate([accessor_array(doc, blob, p["targets"][k]["POSITION"]) for p in mesh["primitives"]])
    expected = head.target_offsets[k] * 0.01
    assert decoded[:, 1].min() == pytest.approx(expected[:, 1].min(), abs=1e-6)
    assert decoded[:, 1].min() < -0.02  # the chin drops a few cm
    assert np.abs(decoded).max() == pytest.approx(np.abs(expected).max(), abs=1e-6)


def test_animation_samples_every_frame(six_seconds):
    motion, _, doc, blob = six_seconds
    (anim,) = doc["animations"]
    assert anim["name"] == "motion"
    n = motion.shape[0]
    assert n == 360
    nodes = {node["name"]: i for i, node in enumerate(doc["nodes"])}
    assert {"head", "eye_left", "eye_right"} <= set(nodes)
    targets = {(c["target"]["node"], c["target"]["path"]): anim["samplers"][c["sampler"]] for c in anim["channels"]}
    assert set(targets) == {(nodes["head"], "weights"), (nodes["head"], "rotation"),
                            (nodes["eye_left"], "rotation"), (nodes["eye_right"], "rotation")}  # fmt: skip
    for sampler in anim["samplers"]:
        assert sampler["interpolation"] == "LINEAR"
        times = accessor_array(doc, blob, sampler["input"])[:, 0]
        assert len(times) == n
        np.testing.assert_allclose(times, np.arange(n) / 60.0, atol=1e-6)
        assert doc["accessors"][sampler["input"]]["max"] == [pytest.approx((n - 1) / 60.0)]
    weights = accessor_array(doc, blob, targets[(nodes["head"], "weights")]["output"])
    assert weights.shape == (n * 51, 1)
    weights = weights.reshape(n, 51)
    jaw = list(doc["meshes"][0]["extras"]["targetNames"]).index("jawOpen")
    np.testing.assert_allclose(weights[:, jaw], motion[:, channel_index("JawOpen")], atol=1e-6)
    quats = accessor_array(doc, blob, targets[(nodes["head"], "rotation")]["output"])
    assert quats.shape == (n, 4)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0, atol=1e-6)
    expected = rotation_quaternions(*(motion[:, channel_index(c)] for c in ("HeadYaw", "HeadPitch", "HeadRoll")))
    np.testing.assert_allclose(np.abs((quats * expected).sum(axis=1)), 1.0, atol=1e-5)  # same rotation (q or -q)


def test_eye_nodes_sit_at_the_eyeball_centres(six_seconds):
    _, _, doc, _ = six_seconds
    head = load_head()
    nodes = {node["name"]: node for node in doc["nodes"]}
    pivot = np.array(nodes["head"]["translation"])
    np.testing.assert_allclose(pivot, head.neck_pivot * 0.01, atol=1e-6)
    for side in ("left", "right"):
        node = nodes[f"eye_{side}"]
        np.testing.assert_allclose(pivot + node["translation"], head.eyes[side].centre * 0.01, atol=1e-6)
    assert nodes["eye_left"]["translation"][0] > 0  # the subject's left is +X


def test_glb_rejects_bad_input():
    with pytest.raises(ValueError, match="fps must be positive"):
        glb_bytes(np.zeros((3, NUM_CHANNELS)), fps=0)
    with pytest.raises(ValueError, match=r"shape \[T, 61\]"):
        glb_bytes(np.zeros((3, 60)), fps=60)


def test_cli_export(tmp_path, capsys):
    from pipelines.cli import main

    motion = _motion(seconds=1.0, fps=30.0)
    write_livelink_csv(tmp_path / "a.csv", motion, fps=30.0)
    assert main(["export", str(tmp_path / "a.csv"), "--format", "glb", "--out", str(tmp_path / "out")]) == 0
    glb = tmp_path / "out" / "a.glb"
    assert str(glb) in capsys.readouterr().out
    doc, blob = read_glb(glb.read_bytes())
    sampler = doc["animations"][0]["samplers"][0]
    assert doc["accessors"][sampler["input"]]["count"] == 30
    assert doc["accessors"][sampler["input"]]["max"] == [pytest.approx(29 / 30)]
    assert validate(glb)["issues"]["numErrors"] == 0
    assert export_csv(tmp_path / "a.csv") == tmp_path / "a.glb"  # default: beside the CSV
    with pytest.raises(ValueError, match="format must be one of glb"):
        export_csv(tmp_path / "a.csv", format="fbx")
    assert main(["export", str(tmp_path / "missing.csv")]) == 2


def test_generate_glb(tmp_path, capsys):
    """`express4d generate --glb --preview 3d --camera front` with a tiny saved pipeline."""
    from pipelines.cli import main

    from mdm_tiny import tiny_pipeline

    tiny_pipeline(tmp_path / "bert").save_pretrained(tmp_path / "mdm")
    out = tmp_path / "out"
    assert main(["generate", "A person is smiling", "--model", str(tmp_path / "mdm"), "--seconds", "1", "--steps", "2",
                 "--out", str(out), "--no-mp4", "--size", "48", "--glb", "--camera", "front"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    (glb,) = out.glob("*.glb")
    assert "3D animation (GLB)" in printed and str(glb) in printed
    assert (out / f"{glb.stem}.gif").is_file() and (out / f"{glb.stem}.csv").is_file()
    assert validate(glb)["issues"]["numErrors"] == 0
