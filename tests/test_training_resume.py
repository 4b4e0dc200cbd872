"""training/train.py: a resumed run ends with the same weights, schedule phases are recorded, a NaN loss or gradient
stops the run with an intact checkpoint, checkpoints are written atomically, and configuration errors name the
option."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from training import train as train_module  # noqa: E402
from training.checkpointing import (  # noqa: E402
    STATE_FILENAME,
    find_latest_checkpoint,
    list_checkpoints,
    resolve_resume_path,
    save_checkpoint,
)
from training.config import parse_training_args  # noqa: E402
from training_runs import ROOT, tiny_argv, weights  # noqa: E402


# ---------------------------------------------------------------------------- resume equivalence (in-process)
@pytest.mark.parametrize("model", ["mdm", "vqvae"])
def test_resumed_run_ends_with_the_sameweights(corpus, tmp_path, model):
    # lr high enough that any divergence in data order, noise or RNG state changes the weights; 3 batches per
    # epoch with 2 accumulation steps, so step 3 (the resume point) lies in the middle of the second epoch
    opts = dict(learning_rate=3e-3, lr_warmup_steps=2, gradient_accumulation_steps=2, checkpointing_steps=3,
                validation_steps=2, checkpoints_total_limit=1)
    full = tmp_path / "full"
    train_module.main(tiny_argv(model, corpus, full, steps=6, **opts))
    part = tmp_path / "part"
    train_module.main(tiny_argv(model, corpus, part, steps=3, **opts))  # "interrupted" after step 3
    at_step3 = weights(part / "checkpoints" / "checkpoint-3" / "model.safetensors")
    summary = train_module.main(tiny_argv(model, corpus, part, steps=6, resume_from_checkpoint="latest", **opts))
    assert summary["global_step"] == 6
    assert [s for s, _ in list_checkpoints(part)] == [6] and [s for s, _ in list_checkpoints(full)] == [6]  # limit 1
    # resuming under the same constant schedule (planned for 3 steps, then 6) is one phase, one learning-rate row
    state = json.loads((part / "checkpoints" / "checkpoint-6" / STATE_FILENAME).read_text())
    assert [(p["start"], p["end"]) for p in state["phases"]] == [(0, 6)] == [(p["start"], p["end"]) for p in summary["phases"]]
    assert (part / "README.md").read_text().count("| learning rate") == 1
    a = weights(full / "checkpoints" / "checkpoint-6" / "model.safetensors")
    b = weights(part / "checkpoints" / "checkpoint-6" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=lambda m: f"{key}: {m}")
    assert any(not torch.equal(at_step3[k], a[k]) for k in a), "weights did not change between steps 3 and 6"
    if model == "mdm":
        ea = weights(full / "checkpoints" / "checkpoint-6" / "ema.safetensors")
        eb = weights(part / "checkpoints" / "checkpoint-6" / "ema.safetensors")
        for key in ea:
            torch.testing.assert_close(ea[key], eb[key], rtol=0, atol=0)
        fa = weights(full / "denoiser" / "diffusion_pytorch_model.safetensors")
        fb = weights(part / "denoiser" / "diffusion_pytorch_model.safetensors")
    else:
        fa, fb = weights(full / "model.safetensors"), weights(part / "model.safetensors")
    for key in fa:
        torch.testing.assert_close(fa[key], fb[key], rtol=0, atol=0)
    opt_a = torch.load(full / "checkpoints" / "checkpoint-6" / "optimizer.bin", weights_only=True)
    opt_b = torch.load(part / "checkpoints" / "checkpoint-6" / "optimizer.bin", weights_only=True)
    for k, state in opt_a["state"].items():
        torch.testing.assert_close(state["exp_avg_sq"], opt_b["state"][k]["exp_avg_sq"], rtol=0, atol=0)


def test_resumed_under_another_schedule_records_both_phases(corpus, tmp_path):
    out = tmp_path / "phases"
    train_module.main(tiny_argv("vqvae", corpus, out, steps=2, lr_scheduler="constant", lr_warmup_steps=0))
    summary = train_module.main(tiny_argv("vqvae", corpus, out, steps=6, resume_from_checkpoint="latest",
                                          lr_scheduler="cosine", learning_rate=5e-4, lr_warmup_steps=0))
    expected = [
        {"start": 0, "end": 2, "lr_scheduler": "constant", "learning_rate": 2e-4, "lr_warmup_steps": 0, "max_train_steps": 2},
        {"start": 2, "end": 6, "lr_scheduler": "cosine", "learning_rate": 5e-4, "lr_warmup_steps": 0, "max_train_steps": 6},
    ]
    assert summary["phases"] == expected
    assert json.loads((out / "checkpoints" / "checkpoint-6" / STATE_FILENAME).read_text())["phases"] == expected
    # the resumed steps ran at the new rate and schedule, not at the checkpoint's 2e-4: after step 4 the rate
    # is 5e-4 * cosine(4 of 6 steps) = 5e-4 * 0.25
    optimizer_state = torch.load(out / "checkpoints" / "checkpoint-4" / "optimizer.bin", weights_only=True)
    group = optimizer_state["param_groups"][0]
    assert group["initial_lr"] == pytest.approx(5e-4) and group["lr"] == pytest.approx(5e-4 * 0.25, rel=1e-6)
    card = (out / "README.md").read_text()
    assert "| learning rate, steps 0-2 | 0.0002 (constant) |" in card  # a constant rate has no warm-up to name
    assert ("| learning rate, steps 2-6 | 0.0005 (cosine planned over 6 steps, 0 warm-up steps, resumed from the "
            "checkpoint of the phase above) |") in card


def test_a_resume_that_trains_no_step_adds_no_phase():
    """Stopping a run early: resuming at the checkpoint's step with --max_train_steps there saves the final model;
    the card keeps the one schedule that ran (not a second, empty one)."""
    from training.checkpointing import extend_phases
    from training.config import parse_training_args

    earlier = [{"start": 0, "end": 4500, "lr_scheduler": "cosine", "learning_rate": 1e-4, "lr_warmup_steps": 200,
                "max_train_steps": 6000}]
    config = parse_training_args(["--model", "mdm", "--dataset", "x", "--output_dir", "o", "--max_train_steps", "4500",
                                  "--learning_rate", "1e-4", "--lr_scheduler", "cosine", "--lr_warmup_steps", "200"])
    assert extend_phases(earlier, config, 4500, 4500) == earlier
    assert [(p["start"], p["end"]) for p in extend_phases(earlier, config, 4500, 4600)] == [(0, 4500), (4500, 4600)]
    assert [(p["start"], p["end"]) for p in extend_phases([], config, 0, 0)] == [(0, 0)]
    from training.model_card import _learning_rate_rows

    assert _learning_rate_rows(config, earlier) == [
        "| learning rate | 0.0001 (cosine planned over 6000 steps, 200 warm-up steps) |"]
    assert _learning_rate_rows(config, [dict(earlier[0], max_train_steps=4500)]) == [
        "| learning rate | 0.0001 (cosine, 200 warm-up steps) |"]


def test_schedule_phases_of_a_checkpoint_without_them_come_from_its_config():
    from training.checkpointing import schedule_phases

    state = {"step": 9000, "config": {"lr_scheduler": "constant_with_warmup", "learning_rate": 2e-4,
                                      "lr_warmup_steps": 500, "max_train_steps": 9000}}
    assert schedule_phases(state) == [{"start": 0, "end": 9000, "lr_scheduler": "constant_with_warmup",
                                       "learning_rate": 2e-4, "lr_warmup_steps": 500, "max_train_steps": 9000}]


# ---------------------------------------------------------------------------- NaN guard
def test_injected_nan_stops_with_message_and_keeps_last_checkpoint(corpus, tmp_path):
    out = tmp_path / "nan"
    argv = tiny_argv("mdm", corpus, out, steps=8, debug_inject_nan_at_step=5, validation_split="")
    with pytest.raises(train_module.TrainingDiverged) as info:
        train_module.main(argv)
    message = str(info.value)
    assert "Training of mdm stopped: the loss is nan (not finite) at step 5" in message
    assert f"Last good checkpoint: {out / 'checkpoints' / 'checkpoint-4'}" in message
    assert [s for s, _ in list_checkpoints(out)] == [2, 4]
    assert not (out / "model_index.json").exists()  # no final model from a diverged run
    state = json.loads((out / "checkpoints" / "checkpoint-4" / STATE_FILENAME).read_text())
    assert state["step"] == 4 and state["model"] == "mdm"
    saved = load_file(str(out / "checkpoints" / "checkpoint-4" / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in saved.values())
    # the run resumes from the intact checkpoint once the problem is gone
    summary = train_module.main(tiny_argv("mdm", corpus, out, steps=6, validation_split="", resume_from_checkpoint="latest"))
    assert summary["global_step"] == 6 and (out / "model_index.json").is_file()


def test_cli_exit_code_and_message_on_nan(corpus, tmp_path, capsys):
    out = tmp_path / "nan_cli"
    code = train_module.cli(tiny_argv("evaluator", corpus, out, steps=3, debug_inject_nan_at_step=1, validation_split=""))
    assert code == 2
    err = capsys.readouterr().err
    assert "ERROR: Training of evaluator stopped: the loss is nan (not finite) at step 1" in err
    assert "Last good checkpoint: none (no checkpoint was saved yet)" in err


# ---------------------------------------------------------------------------- atomic checkpoints
class _CrashingAccelerator:
    """Stands in for Accelerator: save_state writes part of a checkpoint, then 'crashes'."""

    is_main_process = True

    def wait_for_everyone(self):
        pass

    def save_state(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "model.safetensors").write_bytes(b"partial")
        raise KeyboardInterrupt("killed mid-save")


class _GoodAccelerator(_CrashingAccelerator):
    def save_state(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "model.safetensors").write_bytes(b"complete")


def test_crash_mid_save_never_leaves_a_checkpoint_latest_would_pick(tmp_path):
    save_checkpoint(_GoodAccelerator(), tmp_path, 10, {"model": "mdm"})
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_CrashingAccelerator(), tmp_path, 20, {"model": "mdm"})
    assert not (tmp_path / "checkpoints" / "checkpoint-20").exists()
    assert (tmp_path / "checkpoints" / ".tmp-checkpoint-20").exists()
    assert find_latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "checkpoint-10"
    assert resolve_resume_path(tmp_path, "latest") == tmp_path / "checkpoints" / "checkpoint-10"
    # a folder named like a checkpoint but without training_state.json is not complete either
    (tmp_path / "checkpoints" / "checkpoint-30").mkdir()
    assert find_latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "checkpoint-10"
    with pytest.raises(ValueError, match="not a complete express4d checkpoint"):
        resolve_resume_path(tmp_path, str(tmp_path / "checkpoints" / "checkpoint-30"))
    # the next save clears the leftover temporary folder
    save_checkpoint(_GoodAccelerator(), tmp_path, 40, {"model": "mdm"}, total_limit=1)
    assert not (tmp_path / "checkpoints" / ".tmp-checkpoint-20").exists()
    assert [s for s, _ in list_checkpoints(tmp_path)] == [40]


# ---------------------------------------------------------------------------- configuration
def test_config_precedence_and_errors(tmp_path):
    cfg = parse_training_args(["--model", "mdm", "--config", str(ROOT / "training/configs/mdm_small.json"),
                               "--set", "model_config.num_layers=2", "--set", "learning_rate=0.5",
                               "--learning_rate", "0.25", "--max_grad_norm", "null", "--use_ema", "false"])
    assert cfg.model_config["num_layers"] == 2 and cfg.model_config["preset"] == "small"
    assert cfg.learning_rate == 0.25 and cfg.max_grad_norm is None and cfg.use_ema is False
    assert parse_training_args(["--model", "vqvae"]).model_config["preset"] == "paper"  # default: the paper preset
    by_name = parse_training_args(["--model", "mdm", "--config", "mdm_small"]).model_config
    assert by_name == parse_training_args(["--model", "mdm", "--config", "mdm_small.json"]).model_config
    assert by_name["preset"] == "small"  # a bare preset name reads training/configs
    with pytest.raises(FileNotFoundError, match=r"--config mdm_tiny: no such file \(presets in .*mdm_small.json"):
        parse_training_args(["--model", "mdm", "--config", "mdm_tiny"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "mdm", "learnig_rate": 1}))
    with pytest.raises(ValueError, match=r"unknown option\(s\) learnig_rate"):
        parse_training_args(["--model", "mdm", "--config", str(bad)])
    with pytest.raises(ValueError, match="is for model 'mdm' but --model is 'vqvae'"):
        parse_training_args(["--model", "vqvae", "--config", str(ROOT / "training/configs/mdm_small.json")])
    with pytest.raises(ValueError, match="training option vqvae: the t2m_gpt prior is trained on the codes of a trained VQ-VAE"):
        parse_training_args(["--model", "t2m_gpt"])
    with pytest.raises(ValueError, match="--train_batch_size: train_batch_size expects int"):
        parse_training_args(["--model", "mdm", "--train_batch_size", "many"])
    with pytest.raises(ValueError, match="training option mixed_precision: must be one of no, fp16, bf16"):
        parse_training_args(["--model", "mdm", "--mixed_precision", "fp8"])


def test_resume_refuses_a_checkpoint_of_another_model(corpus, trained_evaluator, tmp_path):
    import shutil

    out = tmp_path / "ev"
    shutil.copytree(trained_evaluator / "checkpoints", out / "checkpoints")
    with pytest.raises(ValueError, match="a 'evaluator' checkpoint, but --model is 'mdm'"):
        train_module.main(tiny_argv("mdm", corpus, out, steps=4, validation_split="", resume_from_checkpoint="latest"))
    with pytest.raises(FileNotFoundError, match="--resume_from_checkpoint nowhere: no such checkpoint folder"):
        train_module.main(tiny_argv("mdm", corpus, tmp_path / "x", steps=4, resume_from_checkpoint="nowhere"))


def test_non_finite_gradient_norm_stops_the_run(corpus, tmp_path, monkeypatch):
    from training.task_mdm import MDMTask

    original = MDMTask.training_loss

    def exploding(self, model, batch):
        loss, logs = original(self, model, batch)
        weight = getattr(model, "module", model).output_proj.weight
        return loss + 1e37 * weight.sum(), logs  # finite loss, gradient norm overflows float32

    monkeypatch.setattr(MDMTask, "training_loss", exploding)
    with pytest.raises(train_module.TrainingDiverged, match=r"the gradient norm is inf \(not finite\) at step 1"):
        train_module.main(tiny_argv("mdm", corpus, tmp_path / "grad", steps=2, validation_split=""))
