"""Live Link Face streaming: the packet, the real-time sender, the interactive session.

Every packet here is read back by an independent decoder written from Unreal's receiver
(``AppleARKitLiveLinkSource.cpp``): version byte, big-endian int32-length UTF-8 device id and subject,
frame time (int32 frame, float32 sub-frame, int32 rate numerator / denominator), a count byte and 61
big-endian float32 in Unreal's ``EARFaceBlendShape`` order.  Network traffic stays on 127.0.0.1; every
receive loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import csv
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "livelink"

# Unreal's EARFaceBlendShape, written out here independently of pipelines.streaming.packet
UNREAL_ENUM = """EyeBlinkLeft EyeLookDownLeft EyeLookInLeft EyeLookOutLeft EyeLookUpLeft EyeSquintLeft EyeWideLeft
EyeBlinkRight EyeLookDownRight EyeLookInRight EyeLookOutRight EyeLookUpRight EyeSquintRight EyeWideRight
JawForward JawLeft JawRight JawOpen MouthClose MouthFunnel MouthPucker MouthLeft MouthRight MouthSmileLeft
MouthSmileRight MouthFrownLeft MouthFrownRight MouthDimpleLeft MouthDimpleRight MouthStretchLeft MouthStretchRight
MouthRollLower MouthRollUpper MouthShrugLower MouthShrugUpper MouthPressLeft MouthPressRight MouthLowerDownLeft
MouthLowerDownRight MouthUpperUpLeft MouthUpperUpRight BrowDownLeft BrowDownRight BrowInnerUp BrowOuterUpLeft
BrowOuterUpRight CheekPuff CheekSquintLeft CheekSquintRight NoseSneerLeft NoseSneerRight TongueOut
HeadYaw HeadPitch HeadRoll LeftEyeYaw LeftEyePitch LeftEyeRoll RightEyeYaw RightEyePitch RightEyeRoll""".split()


def decode(packet: bytes) -> dict:
    """The test's own reader of a Live Link Face packet: a dict with the header fields and ``values`` by name."""
    pos = 0

    def take(n):
        nonlocal pos
        assert pos + n <= len(packet), f"packet truncated at byte {pos}"
        chunk = packet[pos : pos + n]
        pos += n
        return chunk

    def text():
        (n,) = struct.unpack(">i", take(4))
        assert 0 <= n <= len(packet)
        return take(n).decode("utf-8")

    version = take(1)[0]
    device, subject = text(), text()
    frame, sub_frame, num, den = struct.unpack(">ifii", take(16))
    count = take(1)[0]
    values = struct.unpack(f">{count}f", take(4 * count))
    assert pos == len(packet), "bytes left over after the values"
    return dict(version=version, device=device, subject=subject, frame=frame, sub_frame=sub_frame, rate=(num, den),
                count=count, values=dict(zip(UNREAL_ENUM, values)), size=len(packet))


def csv_order(values_by_name: dict) -> np.ndarray:
    return np.array([values_by_name[n] for n in CHANNEL_NAMES], dtype=np.float32)


class Receiver:
    """A UDP socket on 127.0.0.1 (a free port) collecting ``(arrival time, packet)`` in a thread, bounded."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.target = f"127.0.0.1:{self.port}"
        self.packets: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            self.packets.append((time.monotonic(), data))

    def wait_for(self, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.packets) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return [decode(p) for _, p in self.packets]

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# ---------------------------------------------------------------------------------------------- packet
def test_packet_layout_by_name_and_size():
    from pipelines.streaming.packet import MAX_PACKET_SIZE, MIN_PACKET_SIZE, PacketEncoder

    rng = np.random.default_rng(0)
    frame = rng.uniform(-1, 1, NUM_CHANNELS).astype(np.float32)
    packet = PacketEncoder(subject="Face", device_id="dev-1", fps=60).encode(frame, 1234)
    got = decode(packet)
    assert got["version"] == 6 and got["device"] == "dev-1" and got["subject"] == "Face"
    assert got["frame"] == 1234 and got["sub_frame"] == 0.0 and got["rate"] == (60, 1) and got["count"] == 61
    np.testing.assert_array_equal(csv_order(got["values"]), frame)  # exact: float32 in, float32 out
    assert MIN_PACKET_SIZE <= got["size"] <= MAX_PACKET_SIZE
    # the CSV and Unreal orders differ exactly where the Jaw/Mouth Left/Right pairs are swapped
    assert got["values"]["JawLeft"] == frame[CHANNEL_NAMES.index("JawLeft")]
    assert got["values"]["MouthRight"] == frame[CHANNEL_NAMES.index("MouthRight")]
    assert list(got["values"]) != list(CHANNEL_NAMES)


def test_packet_sizes_stay_within_unreal_bounds():
    from pipelines.streaming.packet import MAX_PACKET_SIZE, MIN_PACKET_SIZE, PacketEncoder

    frame = np.zeros(NUM_CHANNELS, dtype=np.float32)
    assert len(PacketEncoder("a", "b").encode(frame, 0)) >= MIN_PACKET_SIZE
    longest = PacketEncoder("s" * 250, "ü" * 127)  # 250 + 254 UTF-8 bytes: exactly the largest packet
    assert len(longest.encode(frame, 0)) == MAX_PACKET_SIZE
    with pytest.raises(ValueError, match="too long: the packet would be 775 bytes, Unreal reads at most 774"):
        PacketEncoder("s" * 251, "ü" * 127)
    with pytest.raises(ValueError, match="subject name: expected a non-empty text"):
        PacketEncoder(subject=" ")
    with pytest.raises(ValueError, match="frame: expected 61 values, got 52"):
        PacketEncoder().encode(np.zeros(52), 0)


def test_frame_rate_fraction():
    from pipelines.streaming.packet import frame_rate_fraction

    assert frame_rate_fraction(60) == (60, 1)
    assert frame_rate_fraction(29.97) == (2997, 100)
    assert frame_rate_fraction(30000 / 1001) == (30000, 1001)
    with pytest.raises(ValueError, match="fps: expected a frame rate"):
        frame_rate_fraction(0)


# ---------------------------------------------------------------------------------------------- sender
def test_sender_streams_motion_values_frames_and_rate(receiver):
    from pipelines.streaming import LiveLinkSender

    rng = np.random.default_rng(1)
    motion = rng.uniform(0, 1, (30, NUM_CHANNELS)).astype(np.float32)
    with LiveLinkSender(receiver.target, subject="Tester", device_id="unit", fps=60, start_frame=100) as sender:
        t0 = time.monotonic()
        assert sender.play(motion, fps=60) == 30
        wall = time.monotonic() - t0
    packets = receiver.wait_for(30, timeout=3)
    assert len(packets) == 30
    assert [p["frame"] for p in packets] == list(range(100, 130))
    assert {p["rate"] for p in packets} == {(60, 1)} and {p["subject"] for p in packets} == {"Tester"}
    np.testing.assert_array_equal(np.stack([csv_order(p["values"]) for p in packets]), motion)
    assert 29 / 60 * 0.9 <= wall <= 30 / 60 * 1.1 + 0.05  # 29 frame periods between the first and the last packet
    times = np.array([t for t, _ in receiver.packets])
    assert np.all(np.diff(times) < 0.1)


def test_sender_resamples_to_its_fps_and_plays_pipeline_outputs(receiver):
    from pipelines.pipeline_output import Express4DPipelineOutput
    from pipelines.streaming import LiveLinkSender

    ramp = np.linspace(0, 1, 10, dtype=np.float32)[:, None].repeat(NUM_CHANNELS, 1)
    out = Express4DPipelineOutput(motions=[ramp, ramp[::-1].copy()], fps=20.0, captions=["a", "b"])
    with LiveLinkSender(receiver.target, fps=60, start_frame=0) as sender:
        sent = sender.play(out)
    assert sent == 60  # 2 motions x 0.5 s x 60 fps
    packets = receiver.wait_for(60, timeout=3)
    assert [p["frame"] for p in packets] == list(range(60))
    first = np.array([p["values"]["JawOpen"] for p in packets[:30]])
    assert np.all(np.diff(first) >= -1e-6) and first[0] < 0.05 and first[-1] > 0.95


def _excerpt(tmp_path, name="apfel.csv", first_line=200, last_line=290) -> Path:
    """Lines first..last of a real take (lines 224-226 and 238-241 of apfel.csv are lost-tracking rows)."""
    source = FIXTURES / name
    if not source.exists():
        pytest.skip(f"real capture fixture missing: {source}")
    lines = source.read_text(encoding="utf-8").splitlines()
    path = tmp_path / f"excerpt_{name}"
    path.write_text("\n".join([lines[0]] + lines[first_line - 1 : last_line]) + "\n", encoding="utf-8")
    return path


def test_csv_playback_delivers_every_frame_in_order_at_the_take_rate(receiver, tmp_path):
    from express4d_dataset.livelink import read_livelink_csv
    from pipelines.streaming import LiveLinkSender

    path = _excerpt(tmp_path)
    take = read_livelink_csv(path)
    assert take.fps == 30 and take.untracked_frames == 7 and take.num_frames == 91
    with LiveLinkSender(receiver.target, fps=take.fps, start_frame=0) as sender:
        assert sender.play_csv(path) == 91
    packets = receiver.wait_for(91, timeout=3)
    assert [p["frame"] for p in packets] == list(range(91)) and {p["rate"] for p in packets} == {(30, 1)}
    arrival = np.array([t for t, _ in receiver.packets])
    assert abs((arrival[-1] - arrival[0]) - 90 / 30) <= 0.1 * 90 / 30
    # tracked rows: exactly the CSV's numbers (parsed here by column name) in float32
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    for row, packet in zip(rows[1:], packets):
        if row[1] == "0":  # lost tracking: the reader's interpolation is what is sent
            continue
        expected = {name: np.float32(row[header.index(name)]) for name in header[2:]}
        assert all(packet["values"][n] == expected[n] for n in expected)
    np.testing.assert_array_equal(np.stack([csv_order(p["values"]) for p in packets]), take.frames)


def test_sender_loops_until_stopped(receiver):
    from pipelines.streaming import LiveLinkSender

    stop = threading.Event()
    motion = np.zeros((5, NUM_CHANNELS), dtype=np.float32)
    motion[:, 0] = np.arange(5) / 10
    with LiveLinkSender(receiver.target, fps=100, start_frame=0) as sender:
        timer = threading.Timer(0.3, stop.set)
        timer.start()
        sent = sender.play(motion, fps=100, loop=True, stop=stop)
        timer.cancel()
    assert 20 <= sent <= 40
    packets = receiver.wait_for(sent, timeout=2)
    blink = [round(p["values"]["EyeBlinkLeft"], 3) for p in packets[:12]]
    assert blink == [0.0, 0.1, 0.2, 0.3, 0.4] * 2 + [0.0, 0.1]


@pytest.mark.parametrize(
    "target, message",
    [
        ("127.0.0.1", "target '127.0.0.1': expected HOST:PORT, e.g. 127.0.0.1:11111"),
        ("127.0.0.1:abc", "port 'abc' is not a number"),
        ("127.0.0.1:70000", "port 70000 is outside 1..65535"),
        (":11111", "no host"),
        ("no-such-host.invalid:11111", "target no-such-host.invalid:11111: cannot resolve host 'no-such-host.invalid'"),
    ],
)
def test_bad_targets_are_one_line_errors(target, message):
    from pipelines.streaming import LiveLinkSender

    with pytest.raises((ValueError, OSError)) as info:
        LiveLinkSender(target)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bound_port_in_use_is_named(receiver):
    from pipelines.streaming import LiveLinkSender, StreamTargetError

    with pytest.raises(StreamTargetError, match=f"bind 127.0.0.1:{receiver.port}: port {receiver.port} is already in use"):
        LiveLinkSender("127.0.0.1:11111", bind=f"127.0.0.1:{receiver.port}")


def test_nothing_listening_is_not_an_error():
    from pipelines.streaming import LiveLinkSender

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    free_port = probe.getsockname()[1]
    probe.close()
    with LiveLinkSender(f"127.0.0.1:{free_port}", fps=200) as sender:
        assert sender.play(np.zeros((10, NUM_CHANNELS)), fps=200) == 10


def test_bad_motions_are_named(receiver):
    from pipelines.streaming import LiveLinkSender

    with LiveLinkSender(receiver.target) as sender:
        with pytest.raises(ValueError, match=r"motion 0: expected an array of shape \[T, 61\], got \(10, 52\)"):
            sender.play(np.zeros((10, 52)), fps=60)
        bad = np.zeros((4, NUM_CHANNELS))
        bad[2, 7] = np.nan
        with pytest.raises(ValueError, match="motion 0: non-finite value at frame 2, channel 7"):
            sender.play(bad, fps=60)
        with pytest.raises(ValueError, match="fps: give the frame rate"):
            sender.play(np.zeros((4, NUM_CHANNELS)))


def test_csv_that_does_not_parse_is_named(tmp_path, receiver):
    from express4d_dataset.livelink import LiveLinkFormatError
    from pipelines.streaming import LiveLinkSender

    path = tmp_path / "bad.csv"
    path.write_text("Timecode,BlendShapeCount,EyeBlinkLeft\n00:00:00:00.000,1,abc\n", encoding="utf-8")
    with LiveLinkSender(receiver.target) as sender, pytest.raises(LiveLinkFormatError, match="bad.csv"):
        sender.play_csv(path)
    assert receiver.packets == []


# ---------------------------------------------------------------------------------------------- prompts
@pytest.fixture(scope="module")
def tiny_mdm(tmp_path_factory):
    from mdm_tiny import tiny_pipeline

    return tiny_pipeline(tmp_path_factory.mktemp("tiny_mdm"))


def test_prompt_stream_delivers_seconds_times_fps_frames(tiny_mdm, receiver):
    from pipelines.streaming import LiveLinkSender, stream_prompt

    with LiveLinkSender(receiver.target, fps=60, start_frame=0) as sender:
        sent = stream_prompt(tiny_mdm, sender, "a person smiles", seconds=1.0, seed=0, num_inference_steps=2)
    assert sent == 60
    packets = receiver.wait_for(60, timeout=3)
    assert [p["frame"] for p in packets] == list(range(60))
    with LiveLinkSender(receiver.target) as sender, pytest.raises(ValueError, match="empty prompt"):
        stream_prompt(tiny_mdm, sender, "  ")


def _joins_smoothly(session, frames: np.ndarray, start: int) -> bool:
    """The first frame of a motion continues the two before it (position and speed), as the join promises.

    ``frames`` is what was sent from frame 0; a motion that starts at frame 1 (a fast model) continues from
    frame -1, which was never sent: the idle face's, read from the session's timeline."""
    from express4d_dataset.arkit import clip_to_valid_range

    def sent(n):
        return frames[n] if n >= 0 else session.timeline.frame(n)

    expected = clip_to_valid_range(2 * sent(start - 1).astype(np.float64) - sent(start - 2))
    return bool(np.allclose(frames[start], expected, atol=1e-5))


def test_interactive_session_streams_continuously_from_the_current_pose(tiny_mdm, receiver):
    from pipelines.streaming import InteractiveSession, LiveLinkSender

    events = []
    with LiveLinkSender(receiver.target, fps=60, start_frame=0) as sender:
        session = InteractiveSession(tiny_mdm, sender, seconds=1.0, num_inference_steps=3, draft_steps=2, warmup=1,
                                     return_seconds=0.2, on_event=events.append)
        with session:
            for prompt in ("a person smiles", "a person frowns", "a person raises brows"):
                session.submit(prompt)
                time.sleep(0.5)
            session.finish(timeout=5)
        assert not any(t.is_alive() for t in session._threads)
    assert [r.prompt for r in events] == ["a person smiles", "a person frowns", "a person raises brows"]
    records = session.records
    assert all(r.error is None and r.start_frame is not None for r in records)
    assert all(r.latency is not None and 0 < r.latency < 0.5 for r in records), [r.latency for r in records]
    assert records[0].start_frame < records[1].start_frame < records[2].start_frame
    indices, frames = session.history()
    assert list(indices) == list(range(len(indices)))
    assert session.gaps().max() < 0.1
    for r in records:
        assert _joins_smoothly(session, frames, r.start_frame)
        if r.refined_frame is not None:
            assert _joins_smoothly(session, frames, r.refined_frame)
    # the last motion plays to its end, then the face returns to idle; every packet arrived, in order
    assert indices[-1] >= records[-1].start_frame + records[-1].num_frames
    packets = receiver.wait_for(len(indices), timeout=3)
    assert [p["frame"] for p in packets] == list(range(len(indices)))
    np.testing.assert_array_equal(np.stack([csv_order(p["values"]) for p in packets]), frames)


def test_interactive_session_idles_between_prompts_and_skips_empty_lines(tiny_mdm, receiver):
    from pipelines.streaming import InteractiveSession, LiveLinkSender

    errors = []
    with LiveLinkSender(receiver.target, fps=60, start_frame=0) as sender:
        session = InteractiveSession(tiny_mdm, sender, seconds=0.5, num_inference_steps=2, draft_steps=None, warmup=0,
                                     return_seconds=0.2).start()
        time.sleep(0.5)  # no prompt yet: idle, but alive
        session.run(["", "   \n", "a person smiles\n"], on_error=errors.append)
    assert errors == ['empty prompt: type a description of the expression, e.g. '
                      '"A person is smiling softly and then raising their eyebrows"'] * 2
    assert [r.prompt for r in session.records] == ["a person smiles"]
    _, frames = session.history()
    idle = frames[: session.records[0].start_frame]
    assert len(idle) >= 25 and np.abs(np.diff(idle, axis=0)).max() > 0  # never a frozen frame
    with pytest.raises(RuntimeError, match="not running"):
        session.submit("a person frowns")


def test_session_close_stops_at_once(tiny_mdm, receiver):
    from pipelines.streaming import InteractiveSession, LiveLinkSender

    with LiveLinkSender(receiver.target, fps=60) as sender:
        session = InteractiveSession(tiny_mdm, sender, seconds=1.0, num_inference_steps=2, warmup=0).start()
        session.submit("a person smiles")
        t0 = time.monotonic()
        session.close()
        assert time.monotonic() - t0 < 1.0
    assert not any(t.is_alive() for t in session._threads)


def test_session_arguments_are_checked(tiny_mdm, receiver):
    from pipelines.streaming import InteractiveSession, LiveLinkSender

    with LiveLinkSender(receiver.target) as sender:
        with pytest.raises(ValueError, match=r"seconds: 5 s \(\+ 0.5 s of current pose\) is longer than the model's 2 s"):
            InteractiveSession(tiny_mdm, sender, seconds=5.0)
        with pytest.raises(ValueError, match="draft_steps: expected a positive number"):
            InteractiveSession(tiny_mdm, sender, draft_steps=0, seconds=1.0)


def test_seam_changes_use_the_naturalness_figure():
    from pipelines.streaming.seams import per_frame_change, seam_changes

    frames = np.zeros((120, NUM_CHANNELS), dtype=np.float32)
    frames[60:, CHANNEL_NAMES.index("JawOpen")] = 0.5  # a jump at frame 60
    frames[30:, CHANNEL_NAMES.index("EyeBlinkLeft")] = 0.9  # not an expression channel: blinks are fast
    frames[90:, CHANNEL_NAMES.index("MouthSmileLeft")] = np.linspace(0, 0.3, 30)  # a smile forming over 0.5 s
    assert per_frame_change(frames, 60).shape == (59, 14)
    jaw, blink, smile = seam_changes(frames, 60, [60, 30, 100])
    assert (jaw.frame, jaw.channel, jaw.change, jaw.jump) == (60, "JawOpen", 0.5, True)
    assert blink.change == 0 and not blink.jump
    assert smile.channel == "MouthSmileLeft" and 0.01 < smile.change < 0.03 and not smile.jump


@pytest.mark.parametrize("played", [0, 1, 40])
def test_timeline_join_continues_position_and_speed_even_at_the_first_frames(played):
    """A motion scheduled right after frame 0 continues from frame -1 (the idle loop's last frame): the case a
    fast model hits when its first prompt is ready before the second frame is sent."""
    from express4d_dataset.arkit import clip_to_valid_range
    from pipelines.streaming.idle import IdleFace
    from pipelines.streaming.timeline import FaceTimeline

    timeline = FaceTimeline(IdleFace(fps=30, seconds=4.0, blend_seconds=0.5), join_seconds=0.3)
    for n in range(played + 1):
        timeline.play(n)
    motion = np.full((20, NUM_CHANNELS), 0.5, dtype=np.float32)
    segment = timeline.schedule(motion, start=0)
    assert segment.start == played + 1  # never rewrites a frame already sent
    last, before = timeline.frame(played).astype(np.float64), timeline.frame(played - 1).astype(np.float64)
    np.testing.assert_allclose(timeline.frame(played + 1), clip_to_valid_range(2 * last - before), atol=1e-6)
    if played == 0:  # frame -1 is the idle loop's last frame
        np.testing.assert_array_equal(timeline.frame(-1), timeline.idle.frames[-1])
    np.testing.assert_allclose(timeline.frame(played + 1 + timeline.join_frames), 0.5, atol=1e-6)  # offset faded out


def test_t2m_gpt_session_cross_fades_from_the_current_pose(tmp_path, receiver):
    from mdm_tiny import tiny_t2m_gpt
    from pipelines.streaming import InteractiveSession, LiveLinkSender

    pipe = tiny_t2m_gpt(tmp_path / "t2m")
    with LiveLinkSender(receiver.target, fps=60, start_frame=0) as sender:
        session = InteractiveSession(pipe, sender, seconds=1.0, warmup=1, return_seconds=0.2)
        assert not session.uses_prefix and session.draft_steps is None
        with session:
            session.submit("a person smiles")
            time.sleep(0.4)
            session.submit("a person frowns")
            session.finish(timeout=5)
    records = session.records
    assert all(r.error is None for r in records), [r.error for r in records]
    _, frames = session.history()
    for r in records:
        assert _joins_smoothly(session, frames, r.start_frame)
    assert session.gaps().max() < 0.1


# ---------------------------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
    from mdm_tiny import tiny_pipeline

    root = tmp_path_factory.mktemp("stream_cli")
    tiny_pipeline(root / "bert").save_pretrained(root / "mdm")
    return root / "mdm"


def test_cli_streams_a_prompt(saved_tiny, receiver, capsys):
    from pipelines.commands.express4d_cli import main

    argv = ["stream", "A person is smiling softly", "--model", str(saved_tiny), "--seconds", "1", "--steps", "2",
            "--target", receiver.target, "--subject", "Face1"]
    assert main(argv) == 0
    packets = receiver.wait_for(60, timeout=3)
    assert len(packets) == 60 and {p["subject"] for p in packets} == {"Face1"}
    frames = [p["frame"] for p in packets]
    assert frames == list(range(frames[0], frames[0] + 60))
    assert "Sent 60 packets." in capsys.readouterr().out


def test_cli_streams_a_csv_at_its_rate(receiver, tmp_path, capsys):
    from pipelines.commands.express4d_cli import main

    path = _excerpt(tmp_path)
    assert main(["stream", "--csv", str(path), "--target", receiver.target]) == 0
    packets = receiver.wait_for(91, timeout=3)
    assert len(packets) == 91 and {p["rate"] for p in packets} == {(30, 1)}
    assert "91 frames at 30 fps" in capsys.readouterr().out


def test_cli_interactive_reads_prompts_until_end_of_input(saved_tiny, receiver, capsys, monkeypatch):
    import io

    from pipelines.commands.express4d_cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("a person smiles\n\n"))
    argv = ["stream", "--interactive", "--model", str(saved_tiny), "--seconds", "0.5", "--steps", "2",
            "--target", receiver.target]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "'a person smiles': generated in" in captured.out and "Done: " in captured.out
    assert [line for line in captured.err.splitlines() if "express4d" in line] == [('express4d stream: empty prompt: type a description of the expression, e.g. '
                                    '"A person is smiling softly and then raising their eyebrows"')]
    assert len(receiver.wait_for(60, timeout=2)) >= 60


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give one of PROMPT, --csv FILE.csv or --interactive"),
        (["smile", "--interactive"], "got PROMPT and --interactive"),
        (["  "], "empty PROMPT"),
        (["smile", "--target", "localhost"], "--target 'localhost': expected HOST:PORT"),
        (["smile", "--target", "no-such-host.invalid:11111"], "cannot resolve host 'no-such-host.invalid'"),
        (["smile", "--fps", "0"], "--fps must be between 1 and 240"),
        (["smile", "--seconds", "-1"], "--seconds must be positive"),
        (["--csv", "missing.csv"], "--csv missing.csv not found"),
        (["--interactive", "--loop"], "--loop repeats a CSV"),
        (["smile", "--subject", ""], "--subject: expected a non-empty text"),
    ],
)
def test_cli_bad_input_is_one_line(argv, message, capsys):
    from pipelines.commands.express4d_cli import main

    assert main(["stream", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("express4d stream: error: ") and message in err and "\n" not in err


def test_cli_csv_that_does_not_parse(tmp_path, capsys):
    from pipelines.commands.express4d_cli import main

    path = tmp_path / "broken.csv"
    path.write_text("Timecode,BlendShapeCount,EyeBlinkLeft\n00:00:00:00.000,1,abc\n", encoding="utf-8")
    assert main(["stream", "--csv", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "broken.csv" in err and "\n" not in err


class _UnreachableSocket:
    """Stands in for the sender's socket: every send fails as on a machine with no route to the target."""

    def sendto(self, *args):
        import errno

        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    def fileno(self):
        return 3

    def close(self):
        pass


def test_unreachable_target_is_one_line(receiver):
    from pipelines.streaming import LiveLinkSender, StreamTargetError

    with LiveLinkSender(receiver.target) as sender:
        real, sender._socket = sender._socket, _UnreachableSocket()
        try:
            with pytest.raises(StreamTargetError, match=f"target {receiver.target}: cannot send \\(Network is unreachable\\); "
                               "check the address, the network and the firewall"):
                sender.play(np.zeros((3, NUM_CHANNELS)), fps=60)
        finally:
            sender._socket = real
