"""benchmarks/unasked_actions.py: actions nobody asked for, counted on hand-built motions and a cached run."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "metrics"))

from benchmarks.unasked_actions import cached_motions, rate, unasked_actions, unasked_candidates  # noqa: E402
from express4d_metrics.prompt_following import action_channels, lid_actions  # noqa: E402


def _motion(*keys, frames=80):
    """A still face that performs ``keys`` (each of its channels moved by 0.8 in its direction) in frames 20-50."""
    m = np.zeros((frames, 61), np.float32)
    for key in keys:
        for channel, sign in action_channels(key):
            m[20:50, channel] += 0.8 * (sign or 1.0)
    return m


def _plan(*steps):
    return json.dumps({"steps": [list(s) for s in steps]})


def test_candidates_leave_out_the_asked_their_overlaps_and_the_lids():
    candidates = unasked_candidates(_plan(["smile"], ["raise_brows"]))
    assert "smile" not in candidates and "raise_brows" not in candidates
    assert "raise_left_brow" not in candidates  # shares the brows' channels
    assert "open_mouth" in candidates and "puff_cheeks" in candidates
    assert not lid_actions() & set(candidates)


def test_counts_only_what_moves_and_was_not_asked():
    plan = _plan(["smile"], ["raise_brows"])
    total = len(unasked_candidates(plan))
    assert unasked_actions(_motion("smile", "raise_brows"), plan) == (0, total)
    assert unasked_actions(_motion("smile", "raise_brows", "open_mouth"), plan) == (1, total)
    assert unasked_actions(_motion("smile", "open_mouth", "puff_cheeks"), plan) == (2, total)
    assert unasked_actions(_motion("smile", "blink"), plan) == (0, total)  # lids are not counted
    share, per_motion = rate([_motion("smile"), _motion("smile", "open_mouth")], [plan, plan])
    assert share == pytest.approx(1 / (2 * total)) and per_motion == 0.5


def test_reads_a_fixed_generations_cache_and_names_what_is_missing(tmp_path):
    folder = tmp_path / "run" / "generations" / "MDM-1234"
    folder.mkdir(parents=True)
    motions = {"0:0:0": np.ones((5, 61), np.float32), "0:1:0": np.zeros((3, 61), np.float32)}
    np.savez(folder / "batch-a.npz", header=np.array("h"), keys=np.array(list(motions)),
             lengths=np.array([5, 3]), frames=np.concatenate(list(motions.values())))
    got = cached_motions(tmp_path / "run", 2)
    assert [m.shape for m in got] == [(5, 61), (3, 61)] and got[0].sum() == 5 * 61
    with pytest.raises(ValueError, match="1 of 3 captions have no cached generation"):
        cached_motions(tmp_path / "run", 3)
    (tmp_path / "run" / "generations" / "Other-5678").mkdir()
    with pytest.raises(ValueError, match="the generation cache of one model"):
        cached_motions(tmp_path / "run", 2)
    assert [m.shape for m in cached_motions(folder, 2)] == [(5, 61), (3, 61)]  # one model's folder of a larger run
    import os

    np.savez(folder / "batch-b.npz", header=np.array("older settings"), keys=np.array(["0:0:0", "0:1:0"]),
             lengths=np.array([2, 2]), frames=np.zeros((4, 61), np.float32))
    os.utime(folder / "batch-b.npz", (1, 1))  # written before batch-a: batch-a's settings are read
    assert [m.shape for m in cached_motions(folder, 2)] == [(5, 61), (3, 61)]
    os.utime(folder / "batch-b.npz")  # now the newest
    assert [m.shape for m in cached_motions(folder, 2)] == [(2, 61), (2, 61)]
