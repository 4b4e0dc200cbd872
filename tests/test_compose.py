"""express4d_dataset.synthetic.compose: composed training takes ("X and then Y" from two single-action takes)
and ``--compose_takes`` in training."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from express4d_dataset.synthetic.compose import compose_takes, join_motions, with_composed_takes
from express4d_dataset.synthetic.plan import holds_out

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "metrics"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A 200-take stand-in corpus (enough single-action takes per performer to pair), exported at 20 fps."""
    from express4d_dataset.hub import export_dataset
    from express4d_dataset.load import load_express4d
    from express4d_dataset.synthetic import write_synthetic_corpus

    root = tmp_path_factory.mktemp("compose")
    write_synthetic_corpus(root / "raw", num_sequences=200, seed=3)
    export_dataset(root / "raw", root / "express4d", configs=["fps20"])
    train = load_express4d(str(root / "express4d"), "fps20")["train"].with_format("numpy")
    return {"root": root, "dataset": str(root / "express4d"), "train": train}


@pytest.fixture(scope="module")
def composed(corpus):
    return compose_takes(corpus["train"], 30, seed=0, fps=20.0, max_frames=196)


def test_join_motions_cross_fades_linearly():
    first, second = np.zeros((5, 2), np.float32), np.ones((4, 2), np.float32)
    joined = join_motions(first, second, crossfade=3)
    np.testing.assert_allclose(joined[:, 0], [0, 0, 0.25, 0.5, 0.75, 1])
    assert joined.dtype == np.float32
    np.testing.assert_array_equal(join_motions(first, second, 0), np.concatenate([first, second]))


def test_rows_pair_two_actions_of_one_performer_never_held_out(corpus, composed):
    train = corpus["train"]
    by_id = {str(i): k for k, i in enumerate(train["id"])}
    assert [r["id"] for r in composed] == [f"composed_{k:05d}" for k in range(30)]
    assert set(composed[0]) == set(train.column_names)
    for row in composed:
        a = json.loads(row["annotations"])
        first, second = (train[by_id[i]] for i in a["composed_from"])
        assert row["source"] == f"{first['id']}+{second['id']}"
        assert first["participant"] == second["participant"] == row["participant"]
        keys = [json.loads(t["annotations"])["actions"] for t in (first, second)]
        assert keys == [[a["actions"][0]], [a["actions"][1]]] and a["actions"][0] != a["actions"][1]
        assert a["steps"] == [[k] for k in a["actions"]] and a["composition"] == "sequential"
        assert not holds_out(a["actions"]) and a["held_out"] is False
        # the modifiers the captions describe are the source takes' own
        for source, j in ((first, 0), (second, 1)):
            s = json.loads(source["annotations"])
            assert (s["intensities"][0], s["speeds"][0], s["counts"][0]) == (a["intensities"][j], a["speeds"][j], a["counts"][j])
        assert len(row["captions"]) == 3 and len(set(row["captions"])) == 3
        assert all(s and s != c for c, s in zip(row["captions"], a["swapped_captions"]))
        m = row["motion"]
        assert m.dtype == np.float32 and m.shape == (row["num_frames"], 61) and len(m) <= 196
        assert a["seconds"] == pytest.approx(len(m) / 20.0, abs=1e-4)


def test_motion_is_the_two_takes_cut_around_their_actions(corpus, composed):
    """Outside the cross-fade, the frames are the source takes' own, at the offsets the events record."""
    train = corpus["train"]
    by_id = {str(i): k for k, i in enumerate(train["id"])}
    for row in composed:
        a = json.loads(row["annotations"])
        first, second = (train[by_id[i]] for i in a["composed_from"])
        ea, eb = (json.loads(t["annotations"])["events"][0] for t in (first, second))
        a0 = round((ea["start"] - a["events"][0]["start"]) * 20)  # where the composed take starts in the first
        b_shift = round((a["events"][1]["start"] - eb["start"]) * 20)  # composed frame = second's frame + b_shift
        assert a["events"][0]["end"] - a["events"][0]["start"] == pytest.approx(ea["end"] - ea["start"], abs=1e-3)
        assert a["events"][1]["end"] - a["events"][1]["start"] == pytest.approx(eb["end"] - eb["start"], abs=1e-3)
        m = row["motion"]
        head = int(np.floor(a["events"][0]["end"] * 20))  # frames up to the first action's end: the first take's
        np.testing.assert_array_equal(m[:head], first["motion"][a0 : a0 + head])
        tail = int(np.ceil(a["events"][1]["start"] * 20))  # from the second action's start: the second take's
        np.testing.assert_array_equal(m[tail:], second["motion"][tail - b_shift : len(m) - b_shift])
        assert a["events"][0]["end"] < a["events"][1]["start"]  # the seam lies between the actions


def test_prompt_following_finds_both_actions_in_order(composed):
    """The benchmark's own activity detector on composed takes: every action visible, in the caption's order."""
    from express4d_metrics.prompt_following import prompt_following

    scores = prompt_following([r["motion"] for r in composed], [r["annotations"] for r in composed])
    assert scores["action_recall"] == 1.0 and scores["action_recall_n"] == 60
    assert scores["order_accuracy"] >= 0.9 and scores["order_accuracy_n"] >= 15


def test_deterministic_for_a_seed_and_bounded_by_max_frames(corpus, composed):
    again = compose_takes(corpus["train"], 30, seed=0, fps=20.0, max_frames=196)
    assert [r["source"] for r in again] == [r["source"] for r in composed]
    assert all(np.array_equal(x["motion"], y["motion"]) and x["captions"] == y["captions"] for x, y in zip(again, composed))
    other = compose_takes(corpus["train"], 30, seed=1, fps=20.0, max_frames=196)
    assert [r["source"] for r in other] != [r["source"] for r in composed]
    short = compose_takes(corpus["train"], 10, seed=0, fps=20.0, max_frames=80)
    assert all(len(r["motion"]) <= 80 for r in short)
    assert compose_takes(corpus["train"], 0, seed=0, fps=20.0, max_frames=196) == []


def test_with_composed_takes_appends_rows(corpus):
    train = corpus["train"]
    both = with_composed_takes(train, 5, seed=0, fps=20.0, max_frames=196)
    assert len(both) == len(train) + 5
    assert list(both["id"][: len(train)]) == list(train["id"]) and str(both[len(train)]["id"]) == "composed_00000"
    assert isinstance(both[len(train)]["motion"], np.ndarray) and both[len(train)]["motion"].shape[1] == 61
    assert with_composed_takes(train, 0, seed=0, fps=20.0, max_frames=196) is train


def test_errors_name_the_problem(corpus):
    from datasets import Dataset

    plain = Dataset.from_dict({"id": ["a"], "motion": [np.zeros((30, 61), np.float32)], "captions": [["x"]],
                               "participant": ["P01"]})
    with pytest.raises(ValueError, match=r"needs the stand-in corpus' annotations and performers \(no `annotations` column"):
        compose_takes(plain, 3, seed=0, fps=20.0, max_frames=196)
    with pytest.raises(ValueError, match="no `annotations` or `participant` column"):
        compose_takes(plain.remove_columns("participant"), 3, seed=0, fps=20.0, max_frames=196)
    with pytest.raises(ValueError, match="num_takes must be >= 0"):
        compose_takes(corpus["train"], -1, seed=0, fps=20.0, max_frames=196)
    with pytest.raises(ValueError, match="within max_frames=10"):
        compose_takes(corpus["train"], 1, seed=0, fps=20.0, max_frames=10)


def test_takes_without_a_participant_are_never_joined(corpus):
    train = corpus["train"]
    unnamed = train.map(lambda row: {"participant": None})  # an all-null participant column
    with pytest.raises(ValueError, match=r"no such pair; \d+ of them have no participant \(a null `participant` value\)"):
        compose_takes(unnamed, 3, seed=0, fps=20.0, max_frames=196)
    names = list(train["participant"])
    first_performer = names[0]
    partly = train.map(lambda row, i: {"participant": None if names[i] == first_performer else names[i]}, with_indices=True)
    ids = list(partly["id"])
    performer = dict(zip(ids, partly["participant"]))
    for row in compose_takes(partly, 20, seed=0, fps=20.0, max_frames=196):
        a, b = row["source"].split("+")
        assert performer[a] is not None and performer[a] == performer[b] == row["participant"]


def test_training_with_compose_takes(corpus, tmp_path):
    """--compose_takes adds the rows to the training split (their captions in the embedding table), and the run trains;
    a corpus without a pair to compose is refused with the option's name."""
    from mdm_tiny import tiny_bert
    from training import train as train_module
    from training.config import parse_training_args

    encoder, tokenizer = tiny_bert(tmp_path / "bert")
    encoder.save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    argv = ["--model", "mdm", "--config", "mdm_small", "--dataset", corpus["dataset"], "--text_encoder",
            str(tmp_path / "bert"), "--max_train_steps", "2", "--train_batch_size", "4", "--max_frames", "120",
            "--validation_split", "", "--report_to", "none", "--checkpointing_steps", "100",
            "--set", "model_config.latent_dim=32", "--set", "model_config.num_layers=1", "--set",
            "model_config.num_heads=2", "--set", "model_config.ff_size=32"]
    summary = train_module.main(argv + ["--output_dir", str(tmp_path / "run"), "--compose_takes", "12"])
    assert summary["num_train_items"] == len(corpus["train"]) + 12 and summary["global_step"] == 2
    assert json.loads((tmp_path / "run" / "training_config.json").read_text())["compose_takes"] == 12
    assert "| composed takes | 12 added to the training split" in (tmp_path / "run" / "README.md").read_text()
    with pytest.raises(ValueError, match="compose_takes: must be an integer >= 0"):
        parse_training_args(["--model", "mdm", "--compose_takes", "-2"])

    from express4d_dataset.hub import export_dataset
    from express4d_dataset.synthetic import write_synthetic_corpus

    write_synthetic_corpus(tmp_path / "few", num_sequences=12, seed=0)  # one single-action take per performer at most
    export_dataset(tmp_path / "few", tmp_path / "few_ds", configs=["fps20"])
    with pytest.raises(ValueError, match=r"--compose_takes 4 .*no such pair, or pass --compose_takes 0"):
        train_module.main(argv + ["--dataset", str(tmp_path / "few_ds"), "--output_dir", str(tmp_path / "few_run"),
                                  "--compose_takes", "4"])


def test_three_step_share_joins_three_takes_in_the_captions_order(corpus):
    """--compose_three_step_share: that share of the rows joins three takes of one performer (distinct actions,
    no held-out pair), the events lie where each source take's action lies, and the benchmark's detector finds
    all three in the caption's order; a share of 0 gives exactly the two-step rows."""
    from express4d_metrics.prompt_following import prompt_following

    train = corpus["train"]
    by_id = {str(i): k for k, i in enumerate(train["id"])}
    rows = compose_takes(train, 40, seed=5, fps=20.0, max_frames=196, three_step_share=0.5)
    three = [r for r in rows if len(json.loads(r["annotations"])["actions"]) == 3]
    assert 10 <= len(three) <= 30
    for row in three:
        a = json.loads(row["annotations"])
        sources = [train[by_id[i]] for i in a["composed_from"]]
        assert row["source"] == "+".join(str(s["id"]) for s in sources)
        assert {s["participant"] for s in sources} == {row["participant"]}
        assert len(set(a["actions"])) == 3 and not holds_out(a["actions"])
        assert a["steps"] == [[k] for k in a["actions"]]
        starts = [e["start"] for e in a["events"]]
        assert starts == sorted(starts) and all(e["end"] < n["start"] for e, n in zip(a["events"], a["events"][1:]))
        m = row["motion"]
        for source, event in zip(sources, a["events"]):
            own = json.loads(source["annotations"])["events"][0]
            assert event["end"] - event["start"] == pytest.approx(own["end"] - own["start"], abs=1e-3)
            shift = round((event["start"] - own["start"]) * 20)  # composed frame = source frame + shift
            inside = range(int(np.ceil(event["start"] * 20)), int(np.floor(event["end"] * 20)))  # the action's frames
            np.testing.assert_array_equal(m[inside.start : inside.stop], source["motion"][inside.start - shift : inside.stop - shift])
        assert all(s != c for c, s in zip(row["captions"], a["swapped_captions"]))
    scores = prompt_following([r["motion"] for r in three], [r["annotations"] for r in three])
    assert scores["action_recall"] == 1.0 and scores["order_accuracy_three_step"] >= 0.9
    two = compose_takes(train, 12, seed=5, fps=20.0, max_frames=196)
    assert all(len(json.loads(r["annotations"])["actions"]) == 2 for r in two)
    assert all(len(json.loads(r["annotations"])["actions"]) == 3
               for r in compose_takes(train, 4, seed=5, fps=20.0, max_frames=196, three_step_share=1.0))
    with pytest.raises(ValueError, match="three_step_share"):
        compose_takes(train, 3, seed=5, fps=20.0, max_frames=196, three_step_share=1.5)


def test_three_step_share_option_is_checked_and_on_the_card():
    from training.config import parse_training_args
    from training.model_card import _composed

    base = ["--model", "mdm", "--dataset", "x", "--output_dir", "o"]
    config = parse_training_args([*base, "--compose_takes", "10", "--compose_three_step_share", "0.4"])
    assert config.compose_three_step_share == 0.4
    assert "40% of them three" in _composed(config) and "three" not in _composed(parse_training_args([*base, "--compose_takes", "10"]))
    with pytest.raises(ValueError, match="compose_three_step_share: must be in"):
        parse_training_args([*base, "--compose_takes", "10", "--compose_three_step_share", "1.5"])
    with pytest.raises(ValueError, match="pass --compose_takes N as well"):
        parse_training_args([*base, "--compose_three_step_share", "0.4"])
