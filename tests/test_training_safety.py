"""Nothing lost, nothing silently wrong in training: run folders, config errors, the caption-embedding cache."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mdm_tiny import tiny_training_corpus

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_training_corpus(tmp_path_factory.mktemp("training"), num_sequences=16)


def _argv(corpus, out, *extra):
    return ["--model", "evaluator", "--config", str(ROOT / "training" / "configs" / "evaluator_small.json"),
            "--dataset", str(corpus / "express4d"), "--text_encoder", str(corpus / "bert"), "--output_dir", str(out),
            "--max_train_steps", "2", "--train_batch_size", "4", "--checkpointing_steps", "1", "--report_to", "none",
            "--validation_split", "", "--max_frames", "40", *extra]


def test_training_never_clobbers_an_earlier_run(corpus, tmp_path):
    sys.path.insert(0, str(ROOT))
    from training import train as train_module

    out = tmp_path / "run"
    train_module.main(_argv(corpus, out))
    first = sorted(p.name for p in (out / "checkpoints").iterdir())
    weights = (out / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="already holds an earlier training run; continue it with --resume_from_checkpoint"):
        train_module.main(_argv(corpus, out, "--checkpoints_total_limit", "1"))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == first and (out / "model.safetensors").read_bytes() == weights
    train_module.main(_argv(corpus, out, "--overwrite_output_dir", "true", "--max_train_steps", "1"))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-1"]  # the old run's step 2 is gone
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not a training run .*not with --overwrite_output_dir"):
        train_module.main(_argv(corpus, other, "--overwrite_output_dir", "true"))
    assert (other / "notes.txt").read_text() == "mine"


def test_training_writes_only_into_runs_and_clears_only_what_a_run_wrote(corpus, tmp_path):
    sys.path.insert(0, str(ROOT))
    from training import train as train_module

    mine = tmp_path / "mine"  # a folder that is not a run, with files named like a run's
    mine.mkdir()
    files = {"README.md": "my notes", "model_index.json": "{}", "training_config.json": "{}", "data.csv": "1,2"}
    for name, text in files.items():
        (mine / name).write_text(text)
    for extra in (["--resume_from_checkpoint", "latest"], ["--overwrite_output_dir"], ["--overwrite_output_dir", "true"],
                  ["--resume_from_checkpoint", "latest", "--overwrite_output_dir"]):
        with pytest.raises(FileExistsError, match="is not a training run .*choose a new or empty --output_dir"):
            train_module.main(_argv(corpus, mine, *extra))
    assert {p.name: p.read_text() for p in mine.iterdir()} == files  # nothing written, nothing deleted

    run = tmp_path / "run"
    train_module.main(_argv(corpus, run))
    (run / "my_notes.txt").write_text("kept")  # a person's file beside the run's
    train_module.main(_argv(corpus, run, "--overwrite_output_dir", "--max_train_steps", "1"))  # bare, as README writes it
    assert (run / "my_notes.txt").read_text() == "kept"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-1"]
    assert not list(run.glob(".tmp*")) and not list(run.glob(".old*"))

    (run / ".express4d_run.json").unlink()  # a run saved before runs kept a manifest: resumable, never cleared
    train_module.main(_argv(corpus, run, "--resume_from_checkpoint", "latest"))
    (run / ".express4d_run.json").unlink()
    with pytest.raises(FileExistsError, match="saved before runs kept a manifest"):
        train_module.main(_argv(corpus, run, "--overwrite_output_dir"))
    assert (run / "my_notes.txt").read_text() == "kept" and (run / "checkpoints" / "checkpoint-2").is_dir()


def test_unknown_model_config_key_fails_before_any_heavy_work(corpus, tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT))
    from training import caption_embeddings
    from training import train as train_module

    calls = []
    monkeypatch.setattr(caption_embeddings.CaptionEmbeddings, "build", classmethod(lambda *a, **k: calls.append(1)))
    with pytest.raises(ValueError, match=r"model_config: unknown key\(s\) hiden_size for --model evaluator; known keys:"):
        train_module.main(_argv(corpus, tmp_path / "r", "--set", "model_config.hiden_size=4"))
    assert calls == []  # no caption was encoded


def test_config_error_under_accelerate_quiet_is_one_line(corpus, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--quiet", str(ROOT / "training" / "train.py"),
         *_argv(corpus, tmp_path / "r", "--set", "model_config.hiden_size=4")],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert proc.returncode != 0
    assert "ERROR: model_config: unknown key(s) hiden_size" in proc.stderr and "Traceback" not in proc.stderr


def test_caption_embeddings_are_read_back_from_the_cache(corpus, monkeypatch):
    sys.path.insert(0, str(ROOT))
    from pipelines import text_encoding
    from training.caption_embeddings import CaptionEmbeddings

    captions = ["a person is smiling", "sad face", "a person raises brows and then is smiling"]
    first = CaptionEmbeddings.build(str(corpus / "bert"), captions)
    calls = []
    original = text_encoding.encode_text
    monkeypatch.setattr(text_encoding, "encode_text", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = CaptionEmbeddings.build(str(corpus / "bert"), captions)
    assert calls == []  # read from disk, not encoded
    for c in captions:
        np.testing.assert_array_equal(first.pooled[c], again.pooled[c])
        np.testing.assert_array_equal(first.tokens[c], again.tokens[c])
