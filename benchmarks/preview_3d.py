"""Speed of the 3D preview (the ICT head, numpy z-buffer rasteriser, CPU only) beside the 2D face.

The case that matters: a 6 s clip at 60 fps (what ``express4d generate`` writes) previewed as a
GIF, which shows every second frame (180 frames at 30 fps), at 256 px.  Each row is timed
``--repeats`` times in this process after one warm-up run (the head is loaded once per process,
as the CLI does); the table gives the median and the rendered frames per second.

    python benchmarks/preview_3d.py                 # 5 repeats
    python benchmarks/preview_3d.py --repeats 9 --sizes 256 512

Rows: the whole GIF (pose, shade, time stamp, palette, encode) for the 3D head and the 2D face;
the 3D frames alone (no encoding); the GLB export of the same clip.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from express4d_dataset.arkit import NUM_CHANNELS, channel_index
from pipelines.preview import preview_frame_indices, save_gif, save_glb, save_head_gif
from pipelines.preview.head3d import HeadRenderer


def clip(seconds: float = 6.0, fps: float = 60.0) -> np.ndarray:
    """A deterministic motion that moves the jaw, mouth, eyes, brows, head and gaze."""
    t = np.arange(int(round(seconds * fps))) / fps
    m = np.zeros((t.size, NUM_CHANNELS), dtype=np.float32)
    wave = lambda f, p=0.0: 0.5 - 0.5 * np.cos(2 * np.pi * f * t + p)  # noqa: E731
    for name, f, p in (("JawOpen", 0.4, 0), ("MouthSmileLeft", 0.25, 1), ("MouthSmileRight", 0.25, 1.2),
                       ("BrowInnerUp", 0.3, 2), ("EyeBlinkLeft", 0.5, 0), ("EyeBlinkRight", 0.5, 0.1),
                       ("MouthPucker", 0.2, 3), ("CheekPuff", 0.15, 4)):  # fmt: skip
        m[:, channel_index(name)] = wave(f, p) ** 3
    m[:, channel_index("HeadYaw")] = 0.35 * np.sin(2 * np.pi * 0.2 * t)
    m[:, channel_index("HeadPitch")] = 0.15 * np.sin(2 * np.pi * 0.3 * t)
    m[:, channel_index("HeadRoll")] = 0.1 * np.sin(2 * np.pi * 0.1 * t)
    for side in ("Left", "Right"):
        m[:, channel_index(f"{side}EyeYaw")] = 0.3 * np.sin(2 * np.pi * 0.5 * t)
        m[:, channel_index(f"{side}EyePitch")] = 0.15 * np.cos(2 * np.pi * 0.5 * t)
    return m


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: loads the head, builds its dense targets, fills caches
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=float, default=60.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256])
    parser.add_argument("--camera", default="three-quarter")
    args = parser.parse_args()

    motion = clip(args.seconds, args.fps)
    shown = len(preview_frame_indices(len(motion), args.fps))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for size in args.sizes:
            cases = [
                (f"3D head GIF ({args.camera}), {size} px", shown,
                 lambda s=size: save_head_gif(motion, out / "a.gif", args.fps, size=s, camera=args.camera)),
                (f"3D head frames only (no encoding), {size} px", shown,
                 lambda s=size: sum(1 for _ in HeadRenderer(s, args.camera).frames(motion, preview_frame_indices(len(motion), args.fps)))),
                (f"2D face GIF, {size} px", shown, lambda s=size: save_gif(motion, out / "b.gif", args.fps, size=s)),
            ]  # fmt: skip
            for label, frames, fn in cases:
                times = timed(fn, args.repeats)
                rows.append((label, frames, times))
                print(f"done: {label}", file=sys.stderr)
        times = timed(lambda: save_glb(motion, out / "a.glb", args.fps), args.repeats)
        size_mb = (out / "a.glb").stat().st_size / 1e6
        rows.append((f"GLB export ({size_mb:.2f} MB)", len(motion), times))

    print(f"\n{args.seconds:g} s clip at {args.fps:g} fps ({len(motion)} frames; the GIF shows {shown}); "
          f"median of {args.repeats} runs after a warm-up, one process\n")  # fmt: skip
    print("| what | frames | median s | min s | frames/s | ms per frame |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, frames, times in rows:
        med = statistics.median(times)
        print(f"| {label} | {frames} | {med:.2f} | {min(times):.2f} | {frames / med:.0f} | {1000 * med / frames:.1f} |")


if __name__ == "__main__":
    main()
