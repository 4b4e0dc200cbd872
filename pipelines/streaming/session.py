"""``InteractiveSession``: a warm pipeline turns prompts into a live face streamed over Live Link, no wait, no seams.

Three threads share one :class:`~pipelines.streaming.timeline.FaceTimeline`:

* the **sender** thread reads the timeline frame by frame and sends one packet per frame, paced in real time,
  whatever else happens: between prompts the face idles (:class:`~pipelines.streaming.idle.IdleFace`);
* the **generation** thread takes prompts in order.  For each it plans where the new motion will begin: the
  frame the sender will reach once a generation is done (``lead``, the median of the last three generation
  times plus 10 %).  The frames up to there are already decided, so the motion is generated *from them*: the
  MDM continues the last ``prefix_seconds`` of them (its ``motion_prefix``: those frames are kept exactly and
  the motion is in-painted after them), and is scheduled at the planned frame.  When the generation takes
  longer than planned, the motion starts at the next frame not yet sent instead (``late``).  Pipelines
  without prefix editing (T2M-GPT) generate from scratch and are cross-faded in by the timeline's join.

  **Draft, then refine** (MDM): a full 20-step generation of a 6 s motion takes 0.3-1.2 s on a 2-core CPU,
  depending on what else runs.  So the motion is first generated with ``draft_steps`` (5) DPM-Solver++ steps,
  which plays at once, and then again with the pipeline's own steps from the same noise, continuing the
  draft frames that will have been sent by the time it is done (its prefix); it takes over from there and
  plays to the end.  A new prompt waiting abandons the refinement.
* the caller's thread :meth:`InteractiveSession.submit`\\ s prompts (the CLI reads them from stdin).

Each :class:`PromptRecord` says when its prompt came, when generation started and ended, the frame its
motion begins at and when that frame's packet left: ``latency`` = first packet of the prompt's own motion
minus submission time.  ``packet_times`` holds every packet's send time (for gap checks).
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from express4d_dataset.motion import resample, resample_duration

from .idle import IdleFace
from .sender import LiveLinkSender
from .timeline import FaceTimeline

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = 6.0
DEFAULT_PREFIX_SECONDS = 0.5
EXAMPLE_PROMPT = "A person is smiling softly and then raising their eyebrows"


class _Cancelled(Exception):
    """Raised from the step callback to abandon a generation when the session stops."""


class _Superseded(Exception):
    """Raised from the step callback to abandon a refinement when a new prompt is waiting."""


@dataclass
class PromptRecord:
    """One prompt's way through the session (times on the monotonic clock, seconds)."""

    prompt: str
    index: int
    submitted_at: float
    generation_started_at: float | None = None
    generated_at: float | None = None
    planned_frame: int | None = None
    """The frame the motion was planned to begin at (its prefix ends just before it)."""
    start_frame: int | None = None
    """The frame it really begins at (later than planned when the generation took longer)."""
    first_packet_at: float | None = None
    num_frames: int = 0
    """Frames from ``start_frame`` to the motion's end (draft and refinement together)."""
    refine_seconds: float | None = None
    """Time of the refining generation (None: no refinement, or it was abandoned)."""
    refined_frame: int | None = None
    """The frame where the refined motion took over from the draft."""
    error: str | None = None

    @property
    def late(self) -> bool:
        return self.start_frame is not None and self.planned_frame is not None and self.start_frame > self.planned_frame

    @property
    def generation_seconds(self) -> float | None:
        if self.generated_at is None or self.generation_started_at is None:
            return None
        return self.generated_at - self.generation_started_at

    @property
    def latency(self) -> float | None:
        """Seconds from submission to the packet of the first frame of this prompt's motion."""
        return None if self.first_packet_at is None else self.first_packet_at - self.submitted_at


def check_prompt(text) -> str:
    """A prompt line, stripped; raises ``ValueError`` for an empty one."""
    prompt = str(text).strip()
    if not prompt:
        raise ValueError(f'empty prompt: type a description of the expression, e.g. "{EXAMPLE_PROMPT}"')
    return prompt


class InteractiveSession:
    """Prompts in, a continuous Live Link Face stream out.

    Args:
        pipe: an ``Express4DPipeline`` (prefix editing: seamless) or ``T2MGPTPipeline`` (cross-faded).
        sender: the :class:`~pipelines.streaming.sender.LiveLinkSender` to stream through (its fps is the stream's).
        seconds: length of each prompt's motion.
        seed: motion ``k`` is generated with seed ``seed + k``.
        num_inference_steps, guidance_scale: passed to the pipeline when it has them (None: its defaults).
        draft_steps: steps of the first, fast generation of each prompt (MDM; None: no draft, one generation).
        num_threads: torch threads while the session runs (default 1: on a 2-core machine shared with other
            work two threads can be several times slower, and the sender needs a core); None leaves torch's.
        prefix_seconds: how much of the current face the MDM continues from.
        idle_seed: picks the idle performer.
        warmup: generations run at :meth:`start` with the session's exact shapes (weights, text encoder and
            kernels warm; the first generation time estimate).
        join_seconds, return_seconds: the timeline's join into a motion and return to idle.
        on_event: called with each :class:`PromptRecord` when its motion is scheduled or fails (the CLI prints).
        history_seconds: how much of what was sent :attr:`sent_frames` keeps (for measurements).

    Use::

        with LiveLinkSender("127.0.0.1:11111") as sender, InteractiveSession(pipe, sender) as session:
            session.submit("A person is smiling softly")
            ...
            session.finish()      # play what is queued, return to idle, stop
    """

    def __init__(
        self,
        pipe,
        sender: LiveLinkSender,
        seconds: float = DEFAULT_SECONDS,
        seed: int = 0,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        prefix_seconds: float = DEFAULT_PREFIX_SECONDS,
        idle_seed: int = 0,
        draft_steps: int | None = 5,
        num_threads: int | None = 1,
        warmup: int = 2,
        join_seconds: float = 0.3,
        return_seconds: float = 0.8,
        on_event: Callable[[PromptRecord], None] | None = None,
        history_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.pipe, self.sender, self.clock = pipe, sender, clock
        self.fps = sender.fps
        self.native_fps = float(pipe.fps)
        self.uses_prefix = "motion_prefix" in getattr(pipe, "supports", ())
        if not seconds > 0:
            raise ValueError(f"seconds: must be positive, got {seconds!r}")
        if not 0 < prefix_seconds:
            raise ValueError(f"prefix_seconds: must be positive, got {prefix_seconds!r}")
        self.prefix_frames = max(1, int(round(prefix_seconds * self.native_fps))) if self.uses_prefix else 0
        self.motion_frames = max(1, int(round(seconds * self.native_fps)))
        longest = int(pipe.max_frames)
        if self.prefix_frames + self.motion_frames > longest:
            raise ValueError(
                f"seconds: {seconds:g} s (+ {self.prefix_frames / self.native_fps:g} s of current pose) is longer than the "
                f"model's {longest / self.native_fps:g} s; ask for at most "
                f"{(longest - self.prefix_frames) / self.native_fps:g} s"
            )
        self.seconds, self.seed, self.warmup = float(seconds), int(seed), int(warmup)
        self.call_options = {}
        if num_inference_steps is not None:
            self.call_options["num_inference_steps"] = num_inference_steps
        if guidance_scale is not None:
            self.call_options["guidance_scale"] = guidance_scale
        can_draft = self.uses_prefix and "num_inference_steps" in getattr(pipe, "supports", ())
        if draft_steps is not None and (isinstance(draft_steps, bool) or not isinstance(draft_steps, int) or draft_steps < 1):
            raise ValueError(f"draft_steps: expected a positive number of steps or None, got {draft_steps!r}")
        self.draft_steps = draft_steps if can_draft else None
        self.num_threads = num_threads
        self.timeline = FaceTimeline(IdleFace(self.fps, seed=idle_seed), join_seconds=join_seconds,
                                     return_seconds=return_seconds)
        self.on_event = on_event
        self.records: list[PromptRecord] = []
        self.packet_times: list[float] = []
        self.sent_frames: collections.deque[tuple[int, np.ndarray]] = collections.deque(
            maxlen=max(1, int(history_seconds * self.fps)))
        """``(frame index, [61] values)`` of the last ``history_seconds`` of packets sent."""
        self.error: BaseException | None = None
        self._times: dict[str, list[float]] = {"draft": [], "full": []}
        self._queue: queue.Queue[PromptRecord | None] = queue.Queue()
        self._stop = threading.Event()
        self._first_packet: dict[int, PromptRecord] = {}
        self._records_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sent_index = -1
        self._next_frame: np.ndarray | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "InteractiveSession":
        """Warm the pipeline up, then start streaming (idle) and generating.  Returns the session."""
        if self._threads:
            return self
        if self.num_threads is not None:
            import torch

            torch.set_num_threads(int(self.num_threads))
        prefix = self._prefix_from(self.timeline.idle.window(0, self._prefix_span(self.prefix_frames)), self.prefix_frames)
        for _ in range(self.warmup):
            for kind in ("draft", "full") if self.draft_steps is not None else ("full",):
                started = self.clock()
                self._generate(EXAMPLE_PROMPT, prefix, seed=self.seed, draft=kind == "draft")
                self._times[kind] = [self.clock() - started]  # the last warm-up run is the first estimate
        logger.info("warm generation: %s", ", ".join(f"{k} {v[-1]:.2f} s" for k, v in self._times.items() if v))
        self._threads = [threading.Thread(target=self._stream, name="livelink-sender", daemon=True),
                         threading.Thread(target=self._work, name="livelink-generation", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def __enter__(self) -> "InteractiveSession":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop now: streaming ends at the next frame, a generation in progress is abandoned."""
        self._stop.set()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            logger.warning("threads still running after %.0f s: %s", timeout, ", ".join(alive))

    def finish(self, timeout: float | None = None) -> None:
        """Let every submitted prompt play to its end and the face return to idle, then :meth:`close`."""
        deadline = None if timeout is None else self.clock() + timeout
        while self.running and (deadline is None or self.clock() < deadline):
            with self._records_lock:
                pending = [r for r in self.records if r.error is None and (r.start_frame is None)]
            if not pending and self._queue.empty():
                segment_end = max((r.start_frame + r.num_frames for r in self.records if r.start_frame is not None),
                                  default=-1)
                if self._sent_index >= segment_end + self.timeline.return_frames:
                    break
            time.sleep(0.02)
        self.close()

    # ------------------------------------------------------------------ prompts
    def submit(self, prompt: str) -> PromptRecord:
        """Queue a prompt (stripped; an empty one raises ``ValueError``); returns its record."""
        text = check_prompt(prompt)
        if self.error is not None:
            raise RuntimeError(f"the stream stopped: {self.error}")
        if not self.running:
            raise RuntimeError("the session is not running: call start() first")
        with self._records_lock:
            record = PromptRecord(prompt=text, index=len(self.records), submitted_at=self.clock())
            self.records.append(record)
        self._queue.put(record)
        return record

    def run(self, lines: Iterable[str], on_error: Callable[[str], None] | None = None) -> None:
        """Submit one prompt per line of ``lines`` (e.g. ``sys.stdin``) until they end, then :meth:`finish`;
        an empty line is reported through ``on_error`` (default: logged) and skipped."""
        for line in lines:
            if self.error is not None:
                break
            try:
                self.submit(line)
            except ValueError as e:
                (on_error or logger.warning)(str(e))
        self.finish()

    # ------------------------------------------------------------------ measurements
    def history(self) -> tuple[np.ndarray, np.ndarray]:
        """``(frame indices [N], frames [N, 61])`` of the packets kept in :attr:`sent_frames`."""
        items = list(self.sent_frames)
        if not items:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 61), dtype=np.float32)
        return np.array([i for i, _ in items]), np.stack([f for _, f in items])

    def gaps(self) -> np.ndarray:
        """Seconds between consecutive packets."""
        return np.diff(np.asarray(self.packet_times, dtype=np.float64))

    def lead_seconds(self, kind: str = "draft") -> float:
        """How far ahead of the stream a motion is planned: the median of the last three generation times of
        that ``kind`` (``"draft"`` or ``"full"``) plus 10 %, one frame at least."""
        recent = self._times[kind if self._times[kind] else "full"][-3:]
        estimate = statistics.median(recent) * 1.1 if recent else 0.5
        return max(estimate, 1.0 / self.fps)

    # ------------------------------------------------------------------ threads
    def _stream(self) -> None:
        def frames():
            n = 0
            while True:
                self._next_frame = self.timeline.play(n)
                yield self._next_frame
                n += 1

        try:
            self.sender.stream(frames(), stop=self._stop, on_sent=self._on_sent)
        except BaseException as e:  # a send error: the session stops, submit() and the CLI say why
            self.error = e
            logger.error("the Live Link stream stopped: %s", e)
            self._stop.set()
            self._queue.put(None)

    def _on_sent(self, index: int, sent_at: float) -> None:
        self._sent_index = index
        self.packet_times.append(sent_at)
        self.sent_frames.append((index, self._next_frame))
        record = self._first_packet.pop(index, None)
        if record is not None:
            record.first_packet_at = sent_at

    def _work(self) -> None:
        while not self._stop.is_set():
            record = self._queue.get()
            if record is None or self._stop.is_set():
                break
            try:
                self._play_prompt(record)
            except _Cancelled:
                break
            except Exception as e:  # a failed prompt leaves the face idling; the next prompt still works
                record.error = f"{type(e).__name__}: {e}"
                logger.error("prompt %r failed: %s", record.prompt, record.error)
            if self.on_event is not None:
                self.on_event(record)

    def _play_prompt(self, record: PromptRecord) -> None:
        draft = self.draft_steps is not None
        kind = "draft" if draft else "full"
        planned = self._sent_index + 1 + int(math.ceil(self.lead_seconds(kind) * self.fps))
        prefix = None
        if self.uses_prefix:  # the frames that will have been sent when the motion begins
            prefix = self._prefix_from(self.timeline.window(planned - self._prefix_span(self.prefix_frames), planned),
                                       self.prefix_frames)
        record.planned_frame = planned
        record.generation_started_at = self.clock()
        native = self._generate(record.prompt, prefix, seed=self.seed + record.index, draft=draft)
        record.generated_at = self.clock()
        self._times[kind].append(record.generated_at - record.generation_started_at)
        with self._records_lock:
            segment = self.timeline.schedule(self._to_stream_rate(native), planned, label=record.prompt)
            record.start_frame, record.num_frames = segment.start, len(segment.frames)
            self._first_packet[segment.start] = record
        self._catch_first_packet(record)
        logger.info("prompt %d %r: %s generated in %.2f s, starts at frame %d%s", record.index, record.prompt, kind,
                    record.generation_seconds, segment.start, " (later than planned)" if record.late else "")
        if draft:
            self._refine(record)

    def _refine(self, record: PromptRecord) -> None:
        """Generate the prompt again with the pipeline's own steps, continuing the draft frames sent by then."""
        if not self._queue.empty():
            return
        switch = self._sent_index + 1 + int(math.ceil(self.lead_seconds("full") * self.fps))
        kept = max(0, int(round((switch - record.start_frame) * self.native_fps / self.fps)))  # draft frames in the prefix
        if kept >= self.motion_frames - int(round(self.native_fps)):  # less than a second left to improve
            return
        switch = record.start_frame + int(round(kept * self.fps / self.native_fps))
        length = self.prefix_frames + kept
        prefix = self._prefix_from(self.timeline.window(switch - self._prefix_span(length), switch), length)
        started = self.clock()
        try:
            native = self._generate(record.prompt, prefix, seed=self.seed + record.index, draft=False, supersede=True)
        except _Superseded:
            logger.info("prompt %d: refinement abandoned for the next prompt", record.index)
            return
        record.refine_seconds = self.clock() - started
        self._times["full"].append(record.refine_seconds)
        with self._records_lock:
            segment = self.timeline.schedule(self._to_stream_rate(native), switch, label=record.prompt)
            record.refined_frame = segment.start
            record.num_frames = segment.end - record.start_frame
        logger.info("prompt %d: refined in %.2f s, takes over at frame %d", record.index, record.refine_seconds,
                    segment.start)

    def _catch_first_packet(self, record: PromptRecord) -> None:
        """The first frame may have been sent between scheduling and registering: read its time back."""
        if record.first_packet_at is None and record.start_frame < len(self.packet_times):
            self._first_packet.pop(record.start_frame, None)
            record.first_packet_at = self.packet_times[record.start_frame]

    # ------------------------------------------------------------------ generation
    def _prefix_span(self, native_frames: int) -> int:
        """Stream frames that cover ``native_frames`` prefix frames (the last one being the newest)."""
        return int(math.ceil((native_frames - 1) * self.fps / self.native_fps)) + 1 if self.uses_prefix else 0

    def _prefix_from(self, stream_frames: np.ndarray, native_frames: int) -> np.ndarray | None:
        """The native-rate prefix ending exactly at the last of ``stream_frames`` (read back to front)."""
        if not self.uses_prefix:
            return None
        backwards = resample(stream_frames[::-1].astype(np.float32), self.fps, self.native_fps)
        return np.ascontiguousarray(backwards[:native_frames][::-1])

    def _generate(self, prompt: str, prefix: np.ndarray | None, seed: int, draft: bool = False,
                  supersede: bool = False) -> np.ndarray:
        """The prompt's motion at the native rate, after the prefix (it ends ``prefix_frames + motion_frames``
        native frames after the prefix's first frame)."""
        import torch

        def check_stop(pipe, step, timestep, tensors):
            if self._stop.is_set():
                raise _Cancelled()
            if supersede and not self._queue.empty():
                raise _Superseded()
            return {}

        options = dict(self.call_options)
        if draft:
            options["num_inference_steps"] = self.draft_steps
        if prefix is not None:
            options.update(num_frames=self.prefix_frames + self.motion_frames, motion_prefix=prefix)
        else:
            options.update(seconds=self.seconds)
        out = self.pipe(prompt, generator=torch.Generator().manual_seed(seed), output_type="np",
                        callback_on_step_end=check_stop, **options)
        motion = np.asarray(out.motions[0], dtype=np.float32)
        return motion[len(prefix) :] if prefix is not None else motion

    def _to_stream_rate(self, native: np.ndarray) -> np.ndarray:
        """Native-rate frames following a prefix to the stream's rate: native frame k lies (k + 1) / native fps
        after the prefix's last frame, stream frame i (i + 1) / fps after it (before the first native frame the
        first is held; the timeline's join moves it from the current pose)."""
        count = max(1, int(round(len(native) * self.fps / self.native_fps)))
        if not self.uses_prefix:
            return resample_duration(native, self.native_fps, self.fps)[:count]
        pos = np.clip((np.arange(count) + 1) * self.native_fps / self.fps - 1, 0, len(native) - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, len(native) - 1)
        w = (pos - lo)[:, None]
        return ((1 - w) * native[lo] + w * native[hi]).astype(np.float32)


def stream_prompt(pipe, sender: LiveLinkSender, prompt: str, seconds: float = DEFAULT_SECONDS, seed: int = 0,
                  stop: threading.Event | None = None, **call_options) -> int:
    """Generate one motion for ``prompt`` and stream it through ``sender`` in real time (``seconds`` x the
    sender's fps packets); returns the packets sent.  ``call_options`` go to the pipeline (e.g. ``num_inference_steps``)."""
    import torch

    out = pipe(check_prompt(prompt), seconds=seconds, generator=torch.Generator().manual_seed(seed), output_type="np",
               output_fps=sender.fps, **call_options)
    return sender.play(out, stop=stop)


__all__ = ["DEFAULT_PREFIX_SECONDS", "DEFAULT_SECONDS", "InteractiveSession", "PromptRecord", "check_prompt", "stream_prompt"]
