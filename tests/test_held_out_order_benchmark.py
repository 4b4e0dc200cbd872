"""benchmarks/held_out_order.py: which captions it asks and how it sorts each pair (hand-built motions)."""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.held_out_order import classify, held_out_items  # noqa: E402
from express4d_dataset.synthetic import HELD_OUT_PAIRS  # noqa: E402
from express4d_metrics.prompt_following import _disjoint, action_channels, action_thresholds  # noqa: E402

FIRST, SECOND = next((a, b) for a, b in HELD_OUT_PAIRS if _disjoint(a, b))


def _pulse(motion, key, start, stop, amount=0.8):
    for channel, sign in action_channels(key):
        motion[start:stop, channel] += (sign or 1.0) * amount


def _row(steps, captions, num_frames=300):
    return {"captions": captions, "num_frames": num_frames, "annotations": json.dumps({"steps": steps})}


def test_held_out_items_keep_only_captions_naming_a_held_out_pair():
    rows = [
        _row([[FIRST], [SECOND]], ["a", "b"]),  # held out, sequential: both captions, length capped at 196
        _row([[FIRST, SECOND]], ["c"]),  # the same pair at once: no order to judge
        _row([["smile"]], ["d"]),  # one action
        {"captions": ["e"], "num_frames": 50},  # no plan (a real take)
    ]
    assert held_out_items(rows) == [("a", 196, [(FIRST, SECOND)]), ("b", 196, [(FIRST, SECOND)])]


def test_classify_sorts_hits_misses_and_wrong_order():
    th = action_thresholds()
    empty = np.zeros((120, 61), dtype=np.float32)
    both = empty.copy()
    _pulse(both, FIRST, 10, 31)
    _pulse(both, SECOND, 70, 91)
    swapped = empty.copy()
    _pulse(swapped, FIRST, 70, 91)
    _pulse(swapped, SECOND, 10, 31)
    only_first = empty.copy()
    _pulse(only_first, FIRST, 10, 31)
    assert classify(both, FIRST, SECOND, th) == "in order"
    assert classify(swapped, FIRST, SECOND, th) == "wrong order"
    assert classify(only_first, FIRST, SECOND, th) == "second missing"
    assert classify(empty, FIRST, SECOND, th) == "first missing"


def test_main_rejects_bad_counts_before_loading_anything(capsys):
    import pytest

    from benchmarks.held_out_order import main

    for argv, message in ((["--steps", "0"], "--steps must be at least 1"), (["--seeds", "0"], "--seeds must be at least 1")):
        with pytest.raises(SystemExit) as err:
            main(argv + ["--dataset", "/nonexistent"])
        assert err.value.code == 2
        assert message in capsys.readouterr().err


def test_tally_counts_every_pair_of_every_generation_and_forwards_the_call_options():
    from types import SimpleNamespace

    from benchmarks.held_out_order import tally

    both = np.zeros((120, 61), dtype=np.float32)
    _pulse(both, FIRST, 10, 31)
    _pulse(both, SECOND, 70, 91)
    calls = []

    def pipe(prompts, num_frames, generator, **kwargs):  # caption "hit" shows both actions, "miss" nothing
        calls.append((list(prompts), list(num_frames), len(generator), kwargs))
        return SimpleNamespace(motions=[both if p == "hit" else np.zeros_like(both) for p in prompts])

    items = [("hit", 120, [(FIRST, SECOND)]), ("miss", 90, [(FIRST, SECOND)]), ("hit", 120, [(FIRST, SECOND)])]
    counts, missed = tally(pipe, items, seeds=3, batch_size=2, thresholds=action_thresholds(), num_inference_steps=7)
    assert counts == {"in order": 6, "first missing": 3}
    assert missed == {FIRST: 3}
    assert len(calls) == 6  # 2 batches per seed
    assert calls[0][:3] == (["hit", "miss"], [120, 90], 2) and calls[1][:3] == (["hit"], [120], 1)
    assert all(kwargs == {"num_inference_steps": 7} for *_, kwargs in calls)
