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
