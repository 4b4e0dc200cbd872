"""The Live Link Face UDP packet: one ARKit face frame as Unreal's Live Link Face source reads it.

Layout (packet version 6, every number big-endian, "network byte order"):

=====================  ======================================================================
``uint8``              packet version, 6
``int32`` + bytes      device id: UTF-8 byte length, then the bytes (no terminator)
``int32`` + bytes      subject name: the same
``int32``              frame time: frame number
``float32``            frame time: sub-frame (0.0 here)
``int32``, ``int32``   frame rate: numerator, denominator (60 / 1)
``uint8``              blendshape count, 61
61 x ``float32``       the values in the order of Unreal's ``EARFaceBlendShape`` enum
=====================  ======================================================================

Sources read for this layout (the encoder below is written from them, not copied):

* Unreal Engine's receiver and sender, ``Engine/Plugins/Runtime/AR/AppleAR/AppleARKitFaceSupport/Source/
  AppleARKitFaceSupport/Private/AppleARKitLiveLinkSource.cpp`` (``FAppleARKitLiveLinkRemotePublisher::PublishBlendShapes``
  writes version, DeviceId, SubjectName, the frame time, a ``uint8`` count and one float per enum value through
  ``FNboSerializeToBuffer``; its ``MIN_/MAX_BLEND_SHAPE_PACKET_SIZE`` bound a packet to 264..774 bytes), and
  ``FNboSerializeToBuffer``'s ``operator<<(FString)`` (an ``int32`` UTF-8 length, then the bytes; numbers in
  network byte order).
* github.com/think-biq/LLV, ``readme.md`` ("Frame layout": version 1 byte, frame time int32 + float + int32 +
  int32, count 1 byte, 264..774 bytes) and ``src/llv/gesicht.py`` (reads/writes version 6 packets: strings as
  big-endian int32 length + UTF-8, the ``EARFaceBlendShape`` name order).
* github.com/JimWest/PyLiveLinkFace, ``pylivelinkface/pylivelinkface.py`` (the same order; its decoder unpacks
  the frame time as ``!if2i`` followed by the count byte and ``!61f``).

Live Link Face's CSV columns (:data:`~express4d_dataset.arkit.CHANNEL_NAMES`) are in another order (the CSV has
JawRight before JawLeft and MouthRight before MouthLeft): values are mapped by name, never by position.
"""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np

from express4d_dataset.arkit import NUM_CHANNELS, channel_index

PACKET_VERSION = 6
MIN_PACKET_SIZE = 264
"""Smallest packet Unreal's receiver accepts (bytes)."""
MAX_PACKET_SIZE = 774
"""Largest packet Unreal's receiver reads whole (its receive buffer); longer names do not fit."""
DEFAULT_SUBJECT = "Express4D"
DEFAULT_DEVICE_ID = "express4d"

UNREAL_CHANNEL_ORDER: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip
"""The 61 values of a packet, in Unreal's ``EARFaceBlendShape`` enum order."""

PACKET_FROM_CSV: np.ndarray = np.array([channel_index(n) for n in UNREAL_CHANNEL_ORDER], dtype=np.int64)
"""``packet_values = frame[PACKET_FROM_CSV]`` for a frame in Live Link Face CSV order."""

_FIXED_SIZE = 1 + 4 + 4 + 16 + 1 + 4 * NUM_CHANNELS  # everything but the two strings' bytes
_FRAME_TIME = struct.Struct(">ifiiB")


def frame_rate_fraction(fps: float) -> tuple[int, int]:
    """``fps`` as Unreal's ``FFrameRate`` (numerator, denominator): 60 -> (60, 1), 29.97 -> (30000, 1001)."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not 0 < float(fps) <= 1000:
        raise ValueError(f"fps: expected a frame rate in (0, 1000], got {fps!r}")
    rate = Fraction(float(fps)).limit_denominator(1001)
    return rate.numerator, rate.denominator


class PacketEncoder:
    """Encodes frames (``[61]`` in CSV order) as Live Link Face packets for one device, subject and frame rate.

    The strings are checked and packed once; :meth:`encode` then packs the frame time and values.
    """

    def __init__(self, subject: str = DEFAULT_SUBJECT, device_id: str = DEFAULT_DEVICE_ID, fps: float = 60):
        parts = []
        for label, text in (("device id", device_id), ("subject name", subject)):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{label}: expected a non-empty text, got {text!r}")
            data = text.encode("utf-8")
            parts.append(struct.pack(">i", len(data)) + data)
        self.header = bytes([PACKET_VERSION]) + parts[0] + parts[1]
        self.size = _FIXED_SIZE + len(self.header) - 9
        if self.size > MAX_PACKET_SIZE:
            raise ValueError(
                f"subject name and device id are too long: the packet would be {self.size} bytes, Unreal reads at most "
                f"{MAX_PACKET_SIZE} (the two may take {MAX_PACKET_SIZE - _FIXED_SIZE} UTF-8 bytes together)"
            )
        self.fps = float(fps)
        self.rate = frame_rate_fraction(fps)
        self.subject, self.device_id = subject, device_id

    def encode(self, frame, frame_number: int, sub_frame: float = 0.0) -> bytes:
        """One packet: ``frame`` (61 values, Live Link Face CSV order) at ``frame_number`` (int32)."""
        values = np.asarray(frame, dtype=np.float32).reshape(-1)
        if values.shape[0] != NUM_CHANNELS:
            raise ValueError(f"frame: expected {NUM_CHANNELS} values, got {values.shape[0]}")
        head = _FRAME_TIME.pack(int(frame_number) & 0x7FFFFFFF, float(sub_frame), *self.rate, NUM_CHANNELS)
        return self.header + head + values[PACKET_FROM_CSV].astype(">f4").tobytes()


def encode_packet(frame, frame_number: int, subject: str = DEFAULT_SUBJECT, device_id: str = DEFAULT_DEVICE_ID,
                  fps: float = 60) -> bytes:
    """One Live Link Face packet (see the module docstring); a :class:`PacketEncoder` is cheaper for many frames."""
    return PacketEncoder(subject, device_id, fps).encode(frame, frame_number)
