"""benchmarks/prompt_order.py: the prompts it asks and when it finds each action (hand-built motions)."""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.prompt_order import centres, in_order, prompts  # noqa: E402
from express4d_metrics.prompt_following import action_channels  # noqa: E402


def _pulse(motion, key, start, stop, amount=0.8):
    for channel, sign in action_channels(key):
        motion[start:stop, channel] += (sign or 1.0) * amount


def test_prompts_are_the_quickstart_prompt_in_both_orders():
    (p1, a1, b1), (p2, a2, b2) = prompts()
    assert p1 == "A person is smiling softly and then raising their eyebrows" and (a1, b1) == ("smile", "raise_brows")
    assert p2 == "A person is raising their eyebrows and then smiling softly" and (a2, b2) == ("raise_brows", "smile")


def test_centres_find_each_action_in_time():
    motion = np.zeros((120, 61), dtype=np.float32)  # 6 s at 20 fps
    _pulse(motion, "smile", 10, 31)  # frames 10..30: centre frame 20 = 1.0 s
    _pulse(motion, "raise_brows", 70, 91)  # centre frame 80 = 4.0 s
    c = centres(motion, ["smile", "raise_brows"], 20.0)
    assert c == {"smile": 1.0, "raise_brows": 4.0}
    still = centres(np.zeros((120, 61), dtype=np.float32), ["smile"], 20.0)
    assert still == {"smile": None}


def test_in_order_needs_both_actions_and_the_first_earlier():
    assert in_order({"smile": 1.0, "raise_brows": 4.0}, "smile", "raise_brows")
    assert not in_order({"smile": 4.0, "raise_brows": 1.0}, "smile", "raise_brows")
    assert not in_order({"smile": 1.0, "raise_brows": None}, "smile", "raise_brows")
    assert not in_order({"smile": None, "raise_brows": 4.0}, "smile", "raise_brows")
