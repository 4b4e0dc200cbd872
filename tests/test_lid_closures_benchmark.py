"""benchmarks/lid_closures.py: unasked lid closures counted on hand-built motions and a scripted pipeline."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.lid_closures import lid_seconds, measure, smile_peak, table  # noqa: E402
from express4d_dataset.arkit import channel_index  # noqa: E402

L, R, SL, SR = (channel_index(n) for n in ("EyeBlinkLeft", "EyeBlinkRight", "MouthSmileLeft", "MouthSmileRight"))


def test_lid_seconds_reads_the_mean_of_both_lids_over_the_threshold():
    m = np.zeros((60, 61), np.float32)
    m[10:35, [L, R]] = 0.6  # 25 frames = 1.25 s at 20 fps
    assert lid_seconds(m, 20.0) == 1.25
    one = np.zeros((60, 61), np.float32)
    one[:30, L] = 0.9  # a wink: mean 0.45 counts
    one[30:, [L, R]] = 0.4  # exactly at the threshold: does not
    assert lid_seconds(one, 20.0) == 1.5 and lid_seconds(one, 60.0) == 0.5
    m[:, SL], m[:, SR] = 0.2, 0.6
    m[5, SL] = 1.0
    assert smile_peak(m) == np.float32(0.8)


class _Scripted:
    """A pipeline whose motions close the lids for 2 s when the prompt says "softly", for 0.5 s otherwise."""

    fps = 20.0

    def __call__(self, prompts, num_frames, generator):
        motions = []
        for p, n in zip(prompts, num_frames):
            m = np.zeros((n, 61), np.float32)
            m[: 40 if "softly" in p else 10, [L, R]] = 0.7
            m[:, [SL, SR]] = 0.5 if "softly" in p else 0.9
            motions.append(m)
        return SimpleNamespace(motions=motions, fps=self.fps)


def test_measure_counts_generations_and_the_table_shows_them():
    rows = measure(_Scripted(), [("A person smiles softly", 3.0), ("A person smiles", 3.0)], seeds=4, seed=0)
    assert [(r["closures"], r["n"], r["lid_seconds"]) for r in rows] == [(4, 4, 2.0), (0, 4, 0.5)]
    assert [r["smile"] for r in rows] == pytest.approx([0.5, 0.9])
    text = table("scripted", rows)
    assert "| A person smiles softly | 4/4 | 2.00 | 0.50 |" in text and "| A person smiles | 0/4 | 0.50 | 0.90 |" in text
