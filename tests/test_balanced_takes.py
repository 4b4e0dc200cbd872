"""express4d_dataset.synthetic.balanced: new single-action training takes with every intensity of every action
equally often, and ``--balanced_takes`` in training."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from express4d_dataset.synthetic import ACTION_NAMES, ACTIONS, held_out_wording
from express4d_dataset.synthetic.balanced import balanced_takes, intensity_cells, with_balanced_takes
from express4d_dataset.synthetic.captions import intensity_expressions

sys.path.insert(0, str(Path(__file__).resolve().parent))

CELLS = intensity_cells()


@pytest.fixture(scope="module")
def rows():
    return balanced_takes(len(CELLS), seed=3, fps=20.0, max_frames=196)


def _pronouns(text: str) -> str:
    return re.sub(r"\b(they|he|she|i|his|her|their|them|him)\b", "_", text.lower())


def test_the_cells_are_every_intensity_of_the_actions_that_take_several():
    assert len(CELLS) == len(set(CELLS)) == sum(len(ACTIONS[k].levels) for k in ACTION_NAMES if len(ACTIONS[k].levels) > 1)
    assert ("smile", "soft") in CELLS and ("close_eyes", "soft") in CELLS
    assert not any(key == "blink" for key, _ in CELLS)  # one intensity only


def test_one_round_of_takes_visits_every_cell_once(rows):
    seen = Counter()
    for row in rows:
        a = json.loads(row["annotations"])
        assert a["composition"] == "single" and len(a["actions"]) == 1
        seen[(a["actions"][0], a["intensities"][0])] += 1
    assert seen == Counter({cell: 1 for cell in CELLS})
    more = balanced_takes(2 * len(CELLS), seed=3, fps=20.0, max_frames=196)
    assert Counter(json.loads(r["annotations"])["intensities"][0] for r in more)["soft"] == 2 * sum(
        level == "soft" for _, level in CELLS)


def test_rows_are_at_the_split_rate_and_captions_name_the_level_in_training_wording(rows):
    named = 0
    for row in rows:
        a = json.loads(row["annotations"])
        m = row["motion"]
        assert m.dtype == np.float32 and m.shape == (row["num_frames"], 61) and row["fps"] == 20.0
        assert row["num_frames"] == min(196, -(-a["num_frames"] // 3))  # every third 60 fps frame
        assert row["id"].startswith("balanced_") and row["participant"].startswith("balanced-P")
        assert len(row["captions"]) == 3 and len(a["swapped_captions"]) == 3
        key, level = a["actions"][0], a["intensities"][0]
        for caption in row["captions"]:
            assert not held_out_wording(caption), caption
            if level != "normal":
                words = intensity_expressions(key, level)
                assert any(f" {_pronouns(w)}" in f" {_pronouns(caption)}" for w in words), (key, level, caption)
                named += 1
    assert named >= 200
    short = balanced_takes(5, seed=3, fps=20.0, max_frames=30)
    assert max(r["num_frames"] for r in short) == 30


def test_takes_are_seeded(rows):
    again = balanced_takes(4, seed=3, fps=20.0, max_frames=196)
    for a, b in zip(again, rows[:4]):
        assert a["captions"] == b["captions"] and a["annotations"] == b["annotations"]
        np.testing.assert_array_equal(a["motion"], b["motion"])
    other = balanced_takes(4, seed=4, fps=20.0, max_frames=196)
    assert [r["annotations"] for r in other] != [r["annotations"] for r in rows[:4]]
    with pytest.raises(ValueError, match="num_takes must be an integer >= 0"):
        balanced_takes(-1, seed=0, fps=20.0, max_frames=196)


def test_only_the_stand_in_corpus_takes_them(rows):
    from datasets import Dataset

    stand_in = Dataset.from_dict({k: [rows[0][k]] for k in rows[0]})
    out = with_balanced_takes(stand_in, 3, seed=0, fps=20.0, max_frames=196)
    assert len(out) == 4 and out.column_names == stand_in.column_names
    assert isinstance(out[3]["motion"], np.ndarray) and out[3]["motion"].shape[1] == 61
    assert with_balanced_takes(stand_in, 0, seed=0, fps=20.0, max_frames=196) is stand_in
    real = Dataset.from_dict({"id": ["take"], "motion": [rows[0]["motion"]], "captions": [["A person smiles"]],
                              "annotations": [None]})
    with pytest.raises(ValueError, match="no stand-in annotations \\(a real corpus\\)"):
        with_balanced_takes(real, 3, seed=0, fps=20.0, max_frames=196)


def test_training_with_balanced_takes(corpus, tmp_path, caplog):
    """--balanced_takes trains on the corpus and the new takes (recorded in the config and the card)."""
    import logging

    from training_runs import tiny_argv

    from training import train as train_module
    from training.config import parse_training_args

    with caplog.at_level(logging.INFO):
        summary = train_module.main(tiny_argv("mdm", corpus, tmp_path / "run", steps=2, validation_split="", balanced_takes=7))
    assert summary["global_step"] == 2
    assert "Training split: + 7 balanced single-action takes" in caplog.text
    assert json.loads((tmp_path / "run" / "training_config.json").read_text())["balanced_takes"] == 7
    assert "| balanced takes | 7 new single-action takes" in (tmp_path / "run" / "README.md").read_text()
    with pytest.raises(ValueError, match="balanced_takes: must be an integer >= 0"):
        parse_training_args(["--model", "mdm", "--balanced_takes", "-1"])
