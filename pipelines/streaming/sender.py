"""``LiveLinkSender``: Live Link Face packets over UDP, one per frame, paced in real time.

A sender owns one UDP socket, one :class:`~pipelines.streaming.packet.PacketEncoder` (subject name, device id,
frame rate) and a frame counter.  :meth:`LiveLinkSender.play` streams motions (``[T, 61]`` arrays at their own
frame rate, resampled to the sender's; an ``Express4DPipelineOutput``; a Live Link Face CSV take) and
:meth:`LiveLinkSender.stream` any iterator of frames.  Pacing is against an absolute schedule on the monotonic
clock (frame ``k`` is due ``k / fps`` seconds after the start), so sleeping late never accumulates drift; a
stall of more than :data:`MAX_LAG` seconds restarts the schedule instead of sending a burst.

Nothing here listens: UDP has no connection, so a target where nothing runs yet (Unreal not started) is not an
error, only a target that cannot be resolved or reached.
"""

from __future__ import annotations

import datetime
import errno
import logging
import os
import socket
import threading
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from express4d_dataset.arkit import NUM_CHANNELS

from .packet import DEFAULT_DEVICE_ID, DEFAULT_SUBJECT, PacketEncoder

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11111
"""Live Link Face's port: Unreal's Live Link Face source listens on UDP 11111."""
DEFAULT_TARGET = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
DEFAULT_FPS = 60.0
MAX_LAG = 0.25
"""Seconds behind schedule after which pacing restarts from now (a stalled machine) instead of catching up in a burst."""


class StreamTargetError(ConnectionError):
    """A target that cannot be used: unresolvable, unreachable, or a local port already in use."""


def parse_address(text, option: str = "target", default_port: int | None = None) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:11111"`` for IPv6) or a ``(host, port)`` pair -> ``(host, port)``; raises naming ``option``."""
    example = f"e.g. {DEFAULT_TARGET}"
    if isinstance(text, tuple) and len(text) == 2:
        host, port = text
    else:
        raw = str(text).strip()
        if raw.startswith("["):  # [v6]:port
            host, sep, rest = raw[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else (None if not rest else "bad")
            if not sep:
                raise ValueError(f"{option} {raw!r}: unclosed '[' in an IPv6 address; {example} or [::1]:{DEFAULT_PORT}")
        elif raw.count(":") == 1:
            host, port = raw.split(":")
        elif ":" not in raw and default_port is not None:
            host, port = raw, default_port
        else:
            raise ValueError(f"{option} {raw!r}: expected HOST:PORT, {example}")
        if port is None:
            port = default_port
    host = str(host).strip()
    if not host:
        raise ValueError(f"{option} {text!r}: no host; expected HOST:PORT, {example}")
    try:
        port_number = int(str(port).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{option} {text!r}: port {port!r} is not a number; expected HOST:PORT, {example}") from None
    if not 0 < port_number < 65536:
        raise ValueError(f"{option} {text!r}: port {port_number} is outside 1..65535")
    return host, port_number


def resolve_address(host: str, port: int, option: str = "target") -> tuple[int, tuple]:
    """``(address family, socket address)`` of a UDP ``host:port``; raises :class:`StreamTargetError` when unresolvable."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise StreamTargetError(f"{option} {host}:{port}: cannot resolve host {host!r} ({reason}); "
                                "check the name or pass an IP address") from None
    family, _, _, _, address = infos[0]
    return family, address


def frames_since_midnight(fps: float) -> int:
    """The frame number a Live Link Face device would stamp now: frames since local midnight at ``fps``."""
    now = datetime.datetime.now()
    seconds = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
    return int(seconds * fps)


def motion_sequence(source, fps: float | None = None) -> list[tuple[np.ndarray, float]]:
    """``[(frames [T, 61] float32, fps), ...]`` from what :meth:`LiveLinkSender.play` accepts: an array or
    tensor with ``fps``, a list of them, an ``Express4DPipelineOutput`` (every motion, in order) or a
    ``LiveLinkTake``.  Raises ``ValueError`` for a wrong shape, non-finite values or a missing frame rate."""
    from express4d_dataset.motion import check_motion

    if hasattr(source, "motions") and hasattr(source, "fps"):  # Express4DPipelineOutput
        items, rate = list(source.motions), float(source.fps)
    elif hasattr(source, "frames") and hasattr(source, "fps"):  # LiveLinkTake
        items, rate = [source.frames], float(source.fps)
    else:
        items = list(source) if isinstance(source, (list, tuple)) else [source]
        if fps is None:
            raise ValueError("fps: give the frame rate of the motion (e.g. play(motion, fps=60))")
        rate = float(fps)
    if fps is not None:
        rate = float(fps)
    if not 0 < rate <= 1000:
        raise ValueError(f"fps: expected a frame rate in (0, 1000], got {rate!r}")
    result = []
    for i, item in enumerate(items):
        if hasattr(item, "detach"):
            item = item.detach().cpu().numpy()
        motion = check_motion(item, f"motion {i}")
        if len(motion) == 0:
            raise ValueError(f"motion {i}: no frames")
        bad = np.argwhere(~np.isfinite(motion))
        if len(bad):
            raise ValueError(f"motion {i}: non-finite value at frame {bad[0][0]}, channel {bad[0][1]}")
        result.append((motion, rate))
    return result


class LiveLinkSender:
    """Sends ARKit face frames to Unreal's Live Link Face source (or anything reading its packets) over UDP.

    Args:
        target: ``"HOST:PORT"`` or ``(host, port)`` of the machine running Unreal (default ``127.0.0.1:11111``).
        subject: the Live Link subject name Unreal shows (default ``"Express4D"``).
        device_id: the device id in each packet (Unreal tells devices apart by it).
        fps: the stream's frame rate (default 60): motions at another rate are resampled to it.
        bind: optional local ``"HOST:PORT"`` to send from (a fixed source port for a firewall rule).
        start_frame: the first packet's frame number (default: frames since local midnight, as the app stamps).

    Example::

        with LiveLinkSender("127.0.0.1:11111", subject="Express4D") as sender:
            sender.play(pipe("A person is smiling softly", seconds=6))   # an Express4DPipelineOutput
            sender.play(motion, fps=20)                                   # a [T, 61] array at 20 fps
    """

    def __init__(
        self,
        target=DEFAULT_TARGET,
        subject: str = DEFAULT_SUBJECT,
        device_id: str = DEFAULT_DEVICE_ID,
        fps: float = DEFAULT_FPS,
        bind=None,
        start_frame: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.encoder = PacketEncoder(subject, device_id, fps)
        self.fps = self.encoder.fps
        self.host, self.port = parse_address(target, "target")
        family, self.address = resolve_address(self.host, self.port, "target")
        self.clock = clock
        self.frame_number = frames_since_midnight(self.fps) if start_frame is None else int(start_frame)
        self.packets_sent = 0
        self.last_sent_at: float | None = None
        self._refused_logged = False
        self._lock = threading.Lock()
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if bind is not None:
                local_host, local_port = parse_address(bind, "bind")
                _, local = resolve_address(local_host, local_port, "bind")
                try:
                    self._socket.bind(local)
                except OSError as e:
                    if e.errno == errno.EADDRINUSE:
                        raise StreamTargetError(f"bind {local_host}:{local_port}: port {local_port} is already in use; "
                                                "choose another or leave bind out") from None
                    raise StreamTargetError(f"bind {local_host}:{local_port}: {e.strerror or e}") from None
        except BaseException:
            self._socket.close()
            raise
        logger.info("Live Link Face stream to %s:%d, subject %r, device %r, %g fps", self.host, self.port, subject,
                    device_id, self.fps)

    # ------------------------------------------------------------------ lifecycle
    @property
    def target(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def closed(self) -> bool:
        return self._socket.fileno() < 0

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self._socket.close()

    def __enter__(self) -> "LiveLinkSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ sending
    def send(self, frame) -> bytes:
        """Send one frame (61 values, Live Link Face CSV order) now, unpaced; returns the packet."""
        packet = self.encoder.encode(frame, self.frame_number)
        with self._lock:
            try:
                self._socket.sendto(packet, self.address)
            except ConnectionRefusedError:  # an ICMP "port unreachable" from an earlier packet: nothing listens yet
                if not self._refused_logged:
                    logger.warning("nothing is listening on %s yet; still sending", self.target)
                    self._refused_logged = True
            except OSError as e:
                if self.closed:
                    raise StreamTargetError("the sender is closed") from None
                reason = os.strerror(e.errno) if e.errno else str(e)
                raise StreamTargetError(f"target {self.target}: cannot send ({reason}); check the address, the network "
                                        "and the firewall") from None
            self.frame_number = (self.frame_number + 1) & 0x7FFFFFFF
            self.packets_sent += 1
            self.last_sent_at = self.clock()
        return packet

    def stream(self, frames: Iterable, stop: threading.Event | None = None,
               on_sent: Callable[[int, float], None] | None = None) -> int:
        """Send ``frames`` (an iterable of 61-value frames at the sender's fps) paced in real time, until it ends
        or ``stop`` is set; ``on_sent(index, monotonic time)`` after each packet.  Returns the packets sent."""
        period = 1.0 / self.fps
        start = self.clock()
        sent = 0
        for k, frame in enumerate(frames):
            if stop is not None and stop.is_set():
                break
            due = start + k * period
            now = self.clock()
            if due > now:
                if stop is not None:
                    if stop.wait(due - now):
                        break
                else:
                    time.sleep(due - now)
            elif now - due > MAX_LAG:
                logger.warning("stream fell %.0f ms behind (a busy machine?); restarting the pacing from now",
                               1000 * (now - due))
                start = now - k * period
            self.send(frame)
            sent += 1
            if on_sent is not None:
                on_sent(k, self.last_sent_at)
        return sent

    def play(self, motion, fps: float | None = None, loop: bool = False, stop: threading.Event | None = None,
             on_sent: Callable[[int, float], None] | None = None) -> int:
        """Stream ``motion`` in real time and return the packets sent.

        ``motion``: a ``[T, 61]`` array or tensor (Live Link Face channel order) at ``fps``; a list of them; an
        ``Express4DPipelineOutput`` (its motions one after the other, at its fps); or a ``LiveLinkTake``.
        Frames are resampled to the sender's fps when the rates differ (keeping the duration).  ``loop``
        repeats until ``stop`` is set (or Ctrl-C).
        """
        from express4d_dataset.motion import resample_duration

        pieces = [m if rate == self.fps else resample_duration(m, rate, self.fps) for m, rate in motion_sequence(motion, fps)]
        frames = np.concatenate(pieces).astype(np.float32)
        return self.stream(_cycle(frames) if loop else iter(frames), stop=stop, on_sent=on_sent)

    def play_csv(self, path, loop: bool = False, stop: threading.Event | None = None, untracked=None,
                 max_untracked_gap: float | None = None, on_sent=None) -> int:
        """Stream a Live Link Face CSV take (lost-tracking rows handled by the reader's policy, default: gaps up to
        0.5 s interpolated) at the sender's fps; create the sender with ``fps=take.fps`` to keep the take's rate."""
        from express4d_dataset.livelink import read_livelink_csv

        take = read_livelink_csv(path, untracked=untracked, max_untracked_gap=max_untracked_gap)
        return self.play(take, loop=loop, stop=stop, on_sent=on_sent)


def _cycle(frames: np.ndarray) -> Iterator[np.ndarray]:
    while True:
        yield from frames


__all__ = [
    "DEFAULT_FPS", "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_TARGET", "LiveLinkSender", "MAX_LAG", "StreamTargetError",
    "frames_since_midnight", "motion_sequence", "parse_address", "resolve_address",
]
