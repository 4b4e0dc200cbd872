"""training/model_card.py: the rows and sections a trained model's card is written with."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.mark.parametrize("schedule, row", [
    ("constant", "| learning rate | 0.0003 (constant) |"),
    ("constant_with_warmup", "| learning rate | 0.0003 (constant_with_warmup, 100 warm-up steps) |"),
    ("cosine", "| learning rate | 0.0003 (cosine, 100 warm-up steps) |"),
])
def test_card_names_a_warm_up_only_for_schedules_that_have_one(schedule, row):
    from types import SimpleNamespace

    from training.model_card import _learning_rate_rows

    config = SimpleNamespace(learning_rate=3e-4, lr_scheduler=schedule, lr_warmup_steps=100)
    assert _learning_rate_rows(config, []) == [row]


def test_card_keeps_each_earlier_training_as_its_own_table(tmp_path):
    """A fine-tune of a fine-tune: the initial weights' card holds two tables (its own and, under a heading, its
    initial weights'); the new card carries both, each a table of its own under its own heading, and drops the
    remarks between them."""
    from training.model_card import _initial_training

    (tmp_path / "README.md").write_text(
        "# m\n\n## Training\n\n| | |\n|---|---|\n| optimizer steps | 4000 |\n| seed | 41 |\n\n"
        "### Training of the initial weights\n\n| | |\n|---|---|\n| optimizer steps | 6000 |\n| seed | 21 |\n"
        "| | |\n|---|---|\n| optimizer steps | 21000 |\n\nNo benchmark metrics were measured.\n\n## Other\n\n| a | b |\n")
    lines = _initial_training(tmp_path)
    tables = "\n".join(lines).split("### Training of the initial weights")[1:]
    assert len(tables) == 3  # the third was glued to the second by an older card writer: split again
    assert [t.strip().splitlines()[:3] for t in tables] == [
        ["| | |", "|---|---|", "| optimizer steps | 4000 |"],
        ["| | |", "|---|---|", "| optimizer steps | 6000 |"],
        ["| | |", "|---|---|", "| optimizer steps | 21000 |"],
    ]
    assert "No benchmark" not in "\n".join(lines) and "| a | b |" not in lines
