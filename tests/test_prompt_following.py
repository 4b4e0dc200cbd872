"""Prompt following on hand-built motions whose answers are known."""

import json

import numpy as np
import pytest

from express4d_dataset.arkit import NUM_CHANNELS, channel_index
from express4d_metrics.prompt_following import (
    action_activity,
    action_thresholds,
    caption_following,
    order_swap_accuracy,
    prompt_following,
)

T = 100


def motion(**spans):
    """A resting motion with channels raised to 0.8 on frame spans: name=(start, end)."""
    m = np.zeros((T, NUM_CHANNELS), dtype=np.float32)
    m[:, channel_index("MouthSmileLeft")] = 0.1  # a resting half-smile must not count as a smile
    for name, (start, end) in spans.items():
        m[start:end, channel_index(name)] += 0.8
    return m


def smile_then_brows(smile, brows):
    return motion(MouthSmileLeft=smile, MouthSmileRight=smile, BrowInnerUp=brows, BrowOuterUpLeft=brows)


PLAN = {"steps": [["smile"], ["raise_brows"]]}


def test_thresholds_come_from_the_generator_and_are_positive():
    th = action_thresholds()
    assert 0.02 < th["smile"] < 0.5 and 0.01 < th["nod"] < 0.2
    assert action_thresholds() is th  # computed once


def test_activity_ignores_the_resting_level():
    m = motion()
    assert action_activity(m, "smile").max() == pytest.approx(0.0, abs=1e-6)


def test_order_recall_and_swap():
    right = caption_following(smile_then_brows((10, 30), (50, 70)), PLAN)
    assert right["recall"] == (2, 2) and right["order"] == (1, 1)
    wrong = caption_following(smile_then_brows((50, 70), (10, 30)), PLAN)
    assert wrong["recall"] == (2, 2) and wrong["order"] == (0, 1)
    missing = caption_following(motion(MouthSmileLeft=(10, 30), MouthSmileRight=(10, 30)), PLAN)
    assert missing["recall"] == (1, 2) and missing["order"] == (0, 1)  # brows never move: no order either


def test_held_out_pairs_are_counted_apart_and_json_annotations_work():
    plan = json.dumps({"steps": [["frown"], ["raise_brows"]]})  # a held-out pair
    m = motion(MouthFrownLeft=(10, 30), MouthFrownRight=(10, 30), BrowInnerUp=(50, 70), BrowOuterUpLeft=(50, 70))
    out = caption_following(m, plan)
    assert out["order"] == (1, 1) and out["order_held_out"] == (1, 1)
    assert caption_following(smile_then_brows((10, 30), (50, 70)), PLAN)["order_held_out"] == (0, 0)


def test_cooccurrence_needs_overlap():
    plan = {"steps": [["smile", "raise_brows"]]}
    assert caption_following(smile_then_brows((10, 60), (30, 80)), plan)["cooccurrence"] == (1, 1)
    assert caption_following(smile_then_brows((10, 30), (60, 80)), plan)["cooccurrence"] == (0, 1)


def test_rates_over_motions():
    motions = [smile_then_brows((10, 30), (50, 70)), smile_then_brows((50, 70), (10, 30))]
    out = prompt_following(motions, [PLAN, PLAN])
    assert out["action_recall"] == 1.0 and out["order_accuracy"] == 0.5 and out["order_accuracy_n"] == 2
    assert np.isnan(out["cooccurrence"]) and out["cooccurrence_n"] == 0
    with pytest.raises(ValueError, match="2 motions for 1 annotations"):
        prompt_following(motions, [PLAN])
    with pytest.raises(ValueError, match="unknown action 'dance'"):
        caption_following(motions[0], {"steps": [["dance"]]})


def test_order_swap_accuracy_formula():
    m = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    true = np.array([[0.1, 0.0], [1.0, 2.0], [5.0, 5.0]])
    swapped = np.array([[1.0, 0.0], [1.0, 0.5], [0.0, 0.0]])
    assert order_swap_accuracy(true, swapped, m) == pytest.approx(2 / 3)


THREE = {"steps": [["smile"], ["raise_brows"], ["open_mouth"]]}


def three(smile, brows, jaw):
    return motion(MouthSmileLeft=smile, MouthSmileRight=smile, BrowInnerUp=brows, BrowOuterUpLeft=brows, JawOpen=jaw)


def test_three_step_order_needs_all_three_in_order():
    assert caption_following(three((5, 20), (35, 50), (65, 80)), THREE)["order_three_step"] == (1, 1)
    assert caption_following(three((5, 20), (65, 80), (35, 50)), THREE)["order_three_step"] == (0, 1)  # last two swapped
    missing = three((5, 20), (35, 50), (0, 0))  # the mouth never opens
    assert caption_following(missing, THREE)["order_three_step"] == (0, 1)
    assert caption_following(three((5, 20), (35, 50), (65, 80)), PLAN)["order_three_step"] == (0, 0)  # not a 3-step plan
    rates = prompt_following([three((5, 20), (35, 50), (65, 80)), missing], [THREE, THREE])
    assert rates["order_accuracy_three_step"] == 0.5 and rates["order_accuracy_three_step_n"] == 2


def test_held_out_wording_rates_count_only_held_out_captions():
    good, bad = smile_then_brows((10, 30), (50, 70)), smile_then_brows((50, 70), (10, 30))
    texts = ["A person smiles and then raises their eyebrows",  # training wording
             "She beams, after which her eyebrows shoot up"]  # held-out verb, connective and clause
    rates = prompt_following([good, bad], [PLAN, PLAN], texts=texts)
    assert rates["order_accuracy"] == 0.5 and rates["order_accuracy_held_out_wording"] == 0.0
    assert rates["order_accuracy_held_out_wording_n"] == 1 and rates["action_recall_held_out_wording_n"] == 2
    assert "order_accuracy_held_out_wording" not in prompt_following([good], [PLAN])  # no texts, no wording rates
    with pytest.raises(ValueError, match="1 texts for 2 motions"):
        prompt_following([good, bad], [PLAN, PLAN], texts=texts[:1])


def closed_lids(start, end, level=0.8):
    """A smile over frames 10-30 with both lids at ``level`` on frames [start, end)."""
    m = smile_then_brows((10, 30), (0, 0))
    m[start:end, channel_index("EyeBlinkLeft")] = level
    m[start:end, channel_index("EyeBlinkRight")] = level
    return m


def test_unasked_lid_closures_count_long_closures_where_no_lid_action_is_named():
    from express4d_metrics.prompt_following import lid_actions, lid_closure_seconds

    smile = {"steps": [["smile"]]}
    assert {"blink", "close_eyes", "squint", "wink_left", "wink_right", "look_sad"} == lid_actions()
    assert lid_closure_seconds(closed_lids(10, 40), fps=20) == 1.5
    assert lid_closure_seconds(closed_lids(10, 40, level=0.4), fps=20) == 0.0  # not above 0.4
    # over 1 s (30 frames at 20 fps) counts; 0.5 s (a long blink) does not; at 60 fps 30 frames are 0.5 s
    assert caption_following(closed_lids(10, 40), smile)["unasked_lid_closure"] == (1, 1)
    assert caption_following(closed_lids(10, 20), smile)["unasked_lid_closure"] == (0, 1)
    assert caption_following(closed_lids(10, 40), smile, fps=60)["unasked_lid_closure"] == (0, 1)
    # two closures of 0.6 s add up to 1.2 s
    both = closed_lids(10, 22)
    both[50:62] = closed_lids(50, 62)[50:62]
    assert caption_following(both, smile)["unasked_lid_closure"] == (1, 1)
    # a caption that asks for the lids is not counted at all
    for key in ("close_eyes", "squint", "blink"):
        assert caption_following(closed_lids(10, 40), {"steps": [["smile"], [key]]})["unasked_lid_closure"] == (0, 0)
    rates = prompt_following([closed_lids(10, 40), closed_lids(0, 0), closed_lids(10, 40)],
                             [smile, smile, {"steps": [["close_eyes"]]}])
    assert rates["unasked_lid_closures"] == 0.5 and rates["unasked_lid_closures_n"] == 2


def test_lid_action_recall_counts_only_the_actions_that_move_the_lids():
    closing, open_lids = closed_lids(40, 60, level=1.0), closed_lids(0, 0)
    plan = {"steps": [["smile"], ["close_eyes"]]}
    # the smile (frames 10-30) is made either way; the closure only where the lids close
    assert caption_following(closing, plan)["recall_lids"] == (1, 1)
    assert caption_following(open_lids, plan)["recall_lids"] == (0, 1)
    assert caption_following(open_lids, plan)["recall"] == (1, 2)
    assert caption_following(closing, {"steps": [["smile"]]})["recall_lids"] == (0, 0)  # no lid action named
    rates = prompt_following([closing, open_lids, closing], [plan, plan, {"steps": [["smile"]]}])
    assert rates["action_recall_lids"] == 0.5 and rates["action_recall_lids_n"] == 2
    assert rates["action_recall"] == 0.8 and rates["action_recall_n"] == 5
