"""Hand-made Live Link Face CSVs for the reader's tests (test_livelink.py, test_livelink_untracked.py)."""

import numpy as np

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS
from express4d_dataset.livelink import format_timecode


def _motion(num_frames=12, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.uniform(0, 1, size=(num_frames, NUM_CHANNELS)).astype(np.float32)
    m[:, 52:] = rng.uniform(-0.5, 0.5, size=(num_frames, 9))
    return m


def _csv(path, header, rows, bom=False, trailing="\n"):
    text = ",".join(header) + "\n" + "\n".join(",".join(str(c) for c in r) for r in rows) + trailing
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _rows(motion, timecodes, names=CHANNEL_NAMES):
    idx = [CHANNEL_NAMES.index(n) for n in names]
    return [[tc, 61, *[f"{v:.6f}" for v in motion[i, idx]]] for i, tc in enumerate(timecodes)]


def _tcs(n, step=1, sub=True):
    return [format_timecode(i * step, 60) if sub else format_timecode(i * step, 60)[:11] for i in range(n)]


HEADER = ["Timecode", "BlendShapeCount", *CHANNEL_NAMES]


def _good_rows(n=4):
    return _rows(_motion(n), _tcs(n))
