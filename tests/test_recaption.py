"""express4d_dataset.synthetic.recaption: more training captions drawn from each take's recorded plan, and
``--extra_captions`` in training."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from express4d_dataset.synthetic import ACTIONS, held_out_wording, sample_performers
from express4d_dataset.synthetic.corpus import plan_annotations, synthesize_take
from express4d_dataset.synthetic.recaption import plan_from_annotations, recaption_rows, with_more_captions

sys.path.insert(0, str(Path(__file__).resolve().parent))

def _pronouns(text: str) -> str:
    """Subjects and possessives made one word (an intensity phrase says "as far as they can" / "as far as he can")."""
    import re

    return re.sub(r"\b(they|he|she|i|his|her|their|them|him)\b", "_", text)


QUIET = dict(spontaneous_blinks=False, tracking_noise=False, idle_motion=False)


@pytest.fixture(scope="module")
def takes():
    performers = sample_performers(np.random.default_rng(0))
    return [synthesize_take(np.random.default_rng([21, i]), performers[i % len(performers)], split="train", **QUIET)
            for i in range(120)]


@pytest.fixture(scope="module")
def split(takes):
    from datasets import Dataset

    return Dataset.from_dict({
        "id": [f"t{i}" for i in range(len(takes))],
        "motion": [np.zeros((4, 61), np.float32) + i for i in range(len(takes))],
        "captions": [t.captions for t in takes],
        "annotations": [json.dumps({"actions": t.actions, "seconds": t.plan.seconds, **plan_annotations(t.plan),
                                    "swapped_captions": t.swapped_captions}) for t in takes],
    }).with_format("numpy")


def test_plan_from_annotations_inverts_plan_annotations(takes):
    compositions = set()
    for t in takes:
        a = plan_annotations(t.plan)
        back = plan_from_annotations(a)
        again = plan_annotations(back)
        assert {k: again[k] for k in again if k != "events"} == {k: a[k] for k in a if k != "events"}
        for mine, theirs in zip(again["events"], a["events"]):
            assert mine["key"] == theirs["key"]
            assert mine["start"] == pytest.approx(theirs["start"], abs=1e-4)
            assert mine["end"] == pytest.approx(theirs["end"], abs=1e-4)
        # the duration a caption's time words read ("for about two seconds") is the recorded one
        assert [round(e.duration, 3) for e in back.events] == [round(b["end"] - b["start"], 3) for b in a["events"]]
        compositions.add(a["composition"])
    assert {"single", "sequential", "simultaneous"} <= compositions


def test_plan_from_annotations_names_what_is_wrong():
    good = {"steps": [["smile"]], "events": [{"key": "smile", "start": 0.5, "end": 2.0}], "intensities": ["soft"],
            "speeds": ["normal"], "counts": [1]}
    assert plan_from_annotations(good).events[0].intensity == "soft"
    with pytest.raises(ValueError, match="annotations without 'intensities'"):
        plan_from_annotations({k: v for k, v in good.items() if k != "intensities"})
    with pytest.raises(ValueError, match="steps 1, events 2"):
        plan_from_annotations({**good, "events": good["events"] * 2})
    with pytest.raises(ValueError, match="does not know: grimace_wildly"):
        plan_from_annotations({**good, "steps": [["grimace_wildly"]]})


def test_new_captions_follow_the_originals_name_every_action_and_never_use_held_out_wording(split, takes):
    rows = recaption_rows(split, 6, seed=0)
    added = 0
    for i, (t, (captions, text)) in enumerate(zip(takes, rows)):
        assert captions[: len(t.captions)] == t.captions  # the corpus' own captions first, unchanged
        new = captions[len(t.captions):]
        assert len(new) == 6 and len(set(captions)) == len(captions)
        a = json.loads(text)
        assert len(a["swapped_captions"]) == len(captions)
        assert a["swapped_captions"][: len(t.captions)] == t.swapped_captions
        for caption, swapped in zip(new, a["swapped_captions"][len(t.captions):]):
            for key in t.actions:
                assert any(k in caption.lower() for k in ACTIONS[key].keywords), (key, caption)
            assert not held_out_wording(caption) and not (swapped and held_out_wording(swapped)), caption
            assert (swapped is None) == (len(t.plan.steps) == 1)
            added += 1
        # the rest of the annotations is the take's own
        assert {k: v for k, v in a.items() if k != "swapped_captions"} == \
            {k: v for k, v in json.loads(split[i]["annotations"]).items() if k != "swapped_captions"}
    assert added == 6 * len(takes)


def test_new_captions_say_each_actions_recorded_intensity(split, takes):
    """Every new caption of a one-action take names its recorded intensity, and over the takes an action shows
    several of its words: the point of the augmentation."""
    from express4d_dataset.synthetic.captions import intensity_expressions

    rows = recaption_rows(split, 8, seed=1)
    seen: dict[tuple[str, str], set] = {}
    checked = 0
    for t, (captions, _) in zip(takes, rows):
        if len(t.plan.events) > 1 or t.plan.events[0].intensity == "normal":
            continue
        e = t.plan.events[0]
        mine = intensity_expressions(e.key, e.intensity)
        for caption in captions[len(t.captions):]:
            words = {w for w in mine if f" {_pronouns(w)}" in f" {_pronouns(caption.lower())}"}
            assert words, (e.key, e.intensity, caption)
            seen.setdefault((e.key, e.intensity), set()).update(words)
            checked += 1
    assert checked >= 40 and max(len(v) for v in seen.values()) >= 3


def test_recaptioning_is_seeded_and_keeps_the_rest_of_the_split(split):
    a, b, c = (recaption_rows(split, 3, seed=s) for s in (5, 5, 6))
    assert a == b and a != c
    more = with_more_captions(split, 3, seed=5)
    assert more.column_names == split.column_names and len(more) == len(split)
    assert [list(x) for x in more["captions"]] == [caps for caps, _ in a]
    np.testing.assert_array_equal(more[7]["motion"], split[7]["motion"])
    assert isinstance(more[0]["motion"], np.ndarray)
    assert with_more_captions(split, 0, seed=5) is split


def test_rows_without_annotations_keep_their_captions_and_errors_name_the_fix(split):
    from datasets import Dataset

    mixed = Dataset.from_dict({"captions": [["A real caption"], list(split[0]["captions"])],
                               "annotations": [None, split[0]["annotations"]]})
    rows = recaption_rows(mixed, 2, seed=0)
    assert rows[0] == (["A real caption"], None) and len(rows[1][0]) == len(split[0]["captions"]) + 2
    with pytest.raises(ValueError, match=r"no `annotations` column here; the real corpus's captions cannot be redrawn"):
        recaption_rows(mixed.remove_columns("annotations"), 2, seed=0)
    with pytest.raises(ValueError, match="captions_per_take must be >= 0"):
        recaption_rows(split, -1, seed=0)


def test_training_with_extra_captions(corpus, tmp_path):
    """--extra_captions trains on the recaptioned split (recorded in the config and the card); a corpus without
    annotations is refused with the option's name."""
    from training_runs import tiny_argv

    from training import train as train_module
    from training.config import parse_training_args

    summary = train_module.main(tiny_argv("mdm", corpus, tmp_path / "run", steps=2, validation_split="", extra_captions=5))
    assert summary["global_step"] == 2
    assert json.loads((tmp_path / "run" / "training_config.json").read_text())["extra_captions"] == 5
    assert "| extra captions | 5 per training take, drawn from its recorded plan" in (tmp_path / "run" / "README.md").read_text()
    with pytest.raises(ValueError, match="extra_captions: must be an integer >= 0"):
        parse_training_args(["--model", "mdm", "--extra_captions", "-1"])
