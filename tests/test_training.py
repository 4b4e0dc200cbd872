"""training/train.py: every model trains and saves a loadable folder, resumes exactly, runs on 2 processes,
stops on a NaN loss with an intact checkpoint, and writes checkpoints atomically.

Fast suite: `accelerate launch` subprocesses for MDM (1 process) and a 2-process gloo run; the VQ-VAE,
T2M-GPT and evaluator runs, resume, NaN and config tests call ``training.train.main(argv)`` in-process
to stay fast.  The `accelerate launch` runs of the other three models are marked slow (-m slow).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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

TINY_MODEL = {
    "mdm": ["model_config.latent_dim=32", "model_config.num_layers=2", "model_config.num_heads=2", "model_config.ff_size=64"],
    "vqvae": ["model_config.width=32", "model_config.code_dim=16", "model_config.codebook_size=32", "model_config.depth=1"],
    "t2m_gpt": ["model_config.hidden_size=32", "model_config.num_heads=2", "model_config.num_layers=2"],
    "evaluator": ["model_config.movement_hidden_size=16", "model_config.movement_latent_size=16",
                  "model_config.motion_hidden_size=16", "model_config.text_hidden_size=16", "model_config.embedding_dim=16"],
}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A 12-take stand-in corpus exported as a dataset folder, and a tiny BERT text encoder folder."""
    from mdm_tiny import tiny_training_corpus

    root = tiny_training_corpus(tmp_path_factory.mktemp("training"), num_sequences=12)
    return {"dataset": str(root / "express4d"), "text_encoder": str(root / "bert"), "root": root}


def tiny_argv(model: str, corpus: dict, output_dir, steps: int = 4, **options) -> list[str]:
    argv = ["--model", model, "--config", str(ROOT / "training" / "configs" / f"{model}_small.json"),
            "--dataset", corpus["dataset"], "--text_encoder", corpus["text_encoder"], "--output_dir", str(output_dir),
            "--max_train_steps", str(steps), "--train_batch_size", "4", "--checkpointing_steps", "2",
            "--validation_steps", "2", "--report_to", "tensorboard"]
    if model != "vqvae":
        argv += ["--max_frames", "40"]
    else:
        argv += ["--max_frames", "32"]
    for item in TINY_MODEL[model]:
        argv += ["--set", item]
    for key, value in options.items():
        argv += [f"--{key}", str(value)]
    return argv


def accelerate_launch(args: list[str], num_processes: int = 1, timeout: int = 240) -> subprocess.CompletedProcess:
    if num_processes == 1:
        launch = ["--num_processes", "1", "--cpu"]
    else:  # accelerate's torchrun launcher; train.py picks the gloo backend on a CPU-only machine
        launch = ["--multi_gpu", "--num_processes", str(num_processes), "--main_process_port", "29517"]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *launch, "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(ROOT / "training" / "train.py"), *args]
    env = dict(os.environ, **OFFLINE_ENV)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
    assert proc.returncode == 0, f"accelerate launch failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def _stats(corpus):
    from express4d_dataset.motion import MotionStats

    return MotionStats.load(Path(corpus["dataset"]) / "fps20" / "stats.json")


@pytest.fixture(scope="session")
def trained_vqvae(corpus):
    """A tiny VQ-VAE trained in-process (the T2M-GPT stage reads it)."""
    out = corpus["root"] / "vqvae_run"
    train_module.main(tiny_argv("vqvae", corpus, out, steps=4))
    return out


@pytest.fixture(scope="session")
def trained_evaluator(corpus):
    """A tiny evaluator trained in-process (MDM validation metrics use it)."""
    out = corpus["root"] / "evaluator_run"
    train_module.main(tiny_argv("evaluator", corpus, out, steps=2))
    return out


# ---------------------------------------------------------------------------- accelerate launch
def test_mdm_accelerate_launch_saves_loadable_pipeline(corpus, tmp_path):
    from pipelines.pipeline_express4d import Express4DPipeline

    out = tmp_path / "mdm"
    proc = accelerate_launch(tiny_argv("mdm", corpus, out))
    assert "Done: mdm trained for 4 steps" in proc.stdout
    pipe = Express4DPipeline.from_pretrained(out)
    assert pipe.text_encoder is None and not (out / "text_encoder").exists()  # referenced by name only
    assert pipe.denoiser.config.text_encoder_name_or_path == corpus["text_encoder"]
    np.testing.assert_allclose(pipe.motion_stats.mean, _stats(corpus).mean, rtol=1e-6)
    pipe.set_progress_bar_config(disable=True)
    motion = pipe("a person smiles", num_frames=8, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).motions[0]
    assert motion.shape == (8, 61) and np.isfinite(motion).all()
    # the final weights are the EMA weights of the last checkpoint
    ema = load_file(str(out / "checkpoints" / "checkpoint-4" / "ema.safetensors"))
    final = [p.detach() for p in pipe.denoiser.parameters()]
    assert len(final) == len(ema)
    for i, p in enumerate(final):
        torch.testing.assert_close(p, ema[f"shadow.{i}"], rtol=0, atol=0)
    card = (out / "README.md").read_text()
    assert "library_name: diffusers" in card and "procedural stand-in" in card and "| optimizer steps | 4 |" in card
    if importlib.util.find_spec("tensorboard") is not None:  # the tracker is skipped (with a warning) without it
        assert list((out / "logs").rglob("events.out.tfevents*")), "no TensorBoard event file"


def _check_vqvae_folder(out, corpus):
    from transformers import AutoModel

    from pipelines.modeling_vqvae import Express4DVQVAE

    vqvae = Express4DVQVAE.from_pretrained(out)
    assert bool(vqvae.quantizer.initialized) and vqvae.config.codebook_size == 32
    np.testing.assert_allclose(vqvae.config.motion_std, _stats(corpus).std, rtol=1e-6)
    assert type(AutoModel.from_pretrained(out)).__name__ == "Express4DVQVAE"
    assert "library_name: transformers" in (out / "README.md").read_text()


def _check_evaluator_folder(out, corpus):
    from pipelines.modeling_evaluator import Express4DEvaluator

    evaluator = Express4DEvaluator.from_pretrained(out)
    assert evaluator.config.text_encoder_name_or_path == corpus["text_encoder"]
    assert evaluator.config.embedding_dim == 16
    np.testing.assert_allclose(evaluator.config.motion_mean, _stats(corpus).mean, rtol=1e-6)
    assert evaluator.embed_texts(["a person smiles"]).shape == (1, 16)


def test_vqvae_trains_and_saves_loadable_model(corpus, trained_vqvae):
    _check_vqvae_folder(trained_vqvae, corpus)  # trained in-process by the fixture


def test_evaluator_trains_and_saves_loadable_model(corpus, trained_evaluator):
    _check_evaluator_folder(trained_evaluator, corpus)  # trained in-process by the fixture


@pytest.mark.slow
def test_vqvae_accelerate_launch_saves_loadable_model(corpus, tmp_path):
    out = tmp_path / "vqvae"
    accelerate_launch(tiny_argv("vqvae", corpus, out))
    _check_vqvae_folder(out, corpus)


@pytest.mark.slow
def test_evaluator_accelerate_launch_saves_loadable_model(corpus, tmp_path):
    out = tmp_path / "evaluator"
    accelerate_launch(tiny_argv("evaluator", corpus, out))
    _check_evaluator_folder(out, corpus)


def test_mdm_validation_reports_benchmark_metrics_with_an_evaluator(corpus, trained_evaluator, tmp_path):
    out = tmp_path / "mdm_metrics"
    summary = train_module.main(tiny_argv("mdm", corpus, out, steps=2, evaluator=trained_evaluator,
                                          metrics_inference_steps=2, checkpointing_steps=100))
    assert {"R_precision_top1", "FID", "MM_Dist", "Diversity", "real_FID"} <= set(summary["metrics"])
    assert all(np.isfinite(v) for v in summary["metrics"].values())
    card = (out / "README.md").read_text()
    assert f"## Metrics (evaluator `{trained_evaluator}`, 2 validation items, 1 replication)" in card
    assert "| R_precision_top1 |" in card


def _check_t2m_gpt_folder(out, vqvae_dir):
    from pipelines.modeling_vqvae import Express4DVQVAE
    from pipelines.pipeline_t2m_gpt import T2MGPTPipeline

    pipe = T2MGPTPipeline.from_pretrained(out)
    assert pipe.text_encoder is None and not (out / "text_encoder").exists()
    trained = Express4DVQVAE.from_pretrained(vqvae_dir)
    for (name, a), b in zip(pipe.vqvae.state_dict().items(), trained.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m: f"vqvae {name}: {m}")  # the VQ-VAE is frozen
    assert pipe.prior.config.num_codes == trained.config.codebook_size
    pipe.set_progress_bar_config(disable=True)
    motion = pipe("a person smiles", num_frames=8, generator=torch.Generator().manual_seed(0)).motions[0]
    assert motion.shape == (8, 61) and np.isfinite(motion).all()
    assert "T2MGPTPipeline.from_pretrained(REPO)" in (out / "README.md").read_text()


def test_t2m_gpt_trains_on_vqvae_codes_and_saves_loadable_pipeline(corpus, trained_vqvae, tmp_path):
    out = tmp_path / "t2m_gpt"
    train_module.main(tiny_argv("t2m_gpt", corpus, out, vqvae=trained_vqvae))
    _check_t2m_gpt_folder(out, trained_vqvae)


@pytest.mark.slow
def test_t2m_gpt_accelerate_launch_saves_loadable_pipeline(corpus, trained_vqvae, tmp_path):
    out = tmp_path / "t2m_gpt"
    accelerate_launch(tiny_argv("t2m_gpt", corpus, out, vqvae=trained_vqvae))
    _check_t2m_gpt_folder(out, trained_vqvae)


def test_two_process_run_completes_and_saves_once(corpus, tmp_path):
    out = tmp_path / "mdm2"
    proc = accelerate_launch(tiny_argv("mdm", corpus, out, steps=2, train_batch_size=2), num_processes=2)
    logs = proc.stdout + proc.stderr
    assert "Num processes: 2" in logs and "gloo" in logs
    assert logs.count("Saved the final mdm") == 1
    assert logs.count("Done: mdm trained for 2 steps") == 1
    ckpt = out / "checkpoints" / "checkpoint-2"
    assert (ckpt / "random_states_0.pkl").is_file() and (ckpt / "random_states_1.pkl").is_file()
    assert (out / "model_index.json").is_file()


# ---------------------------------------------------------------------------- resume equivalence (in-process)
def _weights(folder: Path) -> dict:
    return load_file(str(folder))


@pytest.mark.parametrize("model", ["mdm", "vqvae"])
def test_resumed_run_ends_with_the_same_weights(corpus, tmp_path, model):
    # lr high enough that any divergence in data order, noise or RNG state changes the weights; 3 batches per
    # epoch with 2 accumulation steps, so step 3 (the resume point) lies in the middle of the second epoch
    opts = dict(learning_rate=3e-3, lr_warmup_steps=2, gradient_accumulation_steps=2, checkpointing_steps=3,
                validation_steps=2, checkpoints_total_limit=1)
    full = tmp_path / "full"
    train_module.main(tiny_argv(model, corpus, full, steps=6, **opts))
    part = tmp_path / "part"
    train_module.main(tiny_argv(model, corpus, part, steps=3, **opts))  # "interrupted" after step 3
    at_step3 = _weights(part / "checkpoints" / "checkpoint-3" / "model.safetensors")
    summary = train_module.main(tiny_argv(model, corpus, part, steps=6, resume_from_checkpoint="latest", **opts))
    assert summary["global_step"] == 6
    assert [s for s, _ in list_checkpoints(part)] == [6] and [s for s, _ in list_checkpoints(full)] == [6]  # limit 1
    # resuming under the same constant schedule (planned for 3 steps, then 6) is one phase, one learning-rate row
    state = json.loads((part / "checkpoints" / "checkpoint-6" / STATE_FILENAME).read_text())
    assert [(p["start"], p["end"]) for p in state["phases"]] == [(0, 6)] == [(p["start"], p["end"]) for p in summary["phases"]]
    assert (part / "README.md").read_text().count("| learning rate") == 1
    a = _weights(full / "checkpoints" / "checkpoint-6" / "model.safetensors")
    b = _weights(part / "checkpoints" / "checkpoint-6" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=lambda m: f"{key}: {m}")
    assert any(not torch.equal(at_step3[k], a[k]) for k in a), "weights did not change between steps 3 and 6"
    if model == "mdm":
        ea = _weights(full / "checkpoints" / "checkpoint-6" / "ema.safetensors")
        eb = _weights(part / "checkpoints" / "checkpoint-6" / "ema.safetensors")
        for key in ea:
            torch.testing.assert_close(ea[key], eb[key], rtol=0, atol=0)
        fa = _weights(full / "denoiser" / "diffusion_pytorch_model.safetensors")
        fb = _weights(part / "denoiser" / "diffusion_pytorch_model.safetensors")
    else:
        fa, fb = _weights(full / "model.safetensors"), _weights(part / "model.safetensors")
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
    weights = load_file(str(out / "checkpoints" / "checkpoint-4" / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())
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


# ---------------------------------------------------------------------------- review fixes
def test_t2m_gpt_codes_do_not_depend_on_batch_padding(corpus, trained_vqvae):
    """A short motion gets the same codes whether it is encoded alone or with a longer motion."""
    from pipelines.modeling_vqvae import Express4DVQVAE
    from training.data import encode_split_to_codes

    vqvae = Express4DVQVAE.from_pretrained(trained_vqvae).eval()
    stats = _stats(corpus)
    rng = np.random.default_rng(0)

    def motion(frames):
        return (stats.mean + stats.std * rng.standard_normal((frames, 61))).astype(np.float32)

    short, long = motion(40), motion(196)
    rows = [{"id": "short", "motion": short, "captions": ["a"]}, {"id": "long", "motion": long, "captions": ["b"]},
            {"id": "short2", "motion": motion(42), "captions": ["c"]}]  # 42 frames: cut to 40
    together = encode_split_to_codes(vqvae, rows, max_frames=196)
    alone = encode_split_to_codes(vqvae, rows[:1], max_frames=196)
    assert [it["id"] for it in together.items] == ["short", "long", "short2"]  # the split's order is kept
    assert [len(it["codes"]) for it in together.items] == [10, 49, 10]
    torch.testing.assert_close(together[0]["codes"], alone[0]["codes"], rtol=0, atol=0)
    with torch.no_grad():
        direct = vqvae.encode(vqvae.normalize_motion(torch.from_numpy(short)[None]))[0]
        direct_long = vqvae.encode(vqvae.normalize_motion(torch.from_numpy(long)[None]))[0]
    torch.testing.assert_close(together[0]["codes"], direct, rtol=0, atol=0)
    torch.testing.assert_close(together[1]["codes"], direct_long, rtol=0, atol=0)
    assert int(together[2]["codes"].min()) >= 0


def test_flip_augmentation_finds_the_mirrored_captions(corpus, tmp_path):
    """flip_prob > 0: the caption table holds every caption mirrored, so flipped batches look up."""
    from express4d_dataset.arkit import mirror_caption
    from training.caption_embeddings import corpus_captions
    from training.config import TrainingConfig
    from training.data import load_training_dataset
    from training.task import TaskData
    from training.task_evaluator import EvaluatorTask
    from training.task_mdm import MDMTask

    fake = {"train": {"captions": [["A person winks their LEFT eye", "Someone smiles"]]}, "test": {"captions": [None]}}
    assert corpus_captions(fake) == ["A person winks their LEFT eye", "Someone smiles"]
    assert corpus_captions(fake, mirrored=True) == ["A person winks their LEFT eye", "A person winks their RIGHT eye",
                                                    "Someone smiles"]
    staged = {"train": {"captions": [["She smiles and then frowns"]],
                        "annotations": ['{"swapped_captions": ["She frowns and then smiles"]}']}}
    assert corpus_captions(staged) == ["She frowns and then smiles", "She smiles and then frowns"]
    assert corpus_captions(staged, swapped=False) == ["She smiles and then frowns"]  # only the evaluator reads them
    assert MDMTask.reads_swapped_captions is False and EvaluatorTask.reads_swapped_captions is True

    ds = load_training_dataset(corpus["dataset"], "fps20")
    config = TrainingConfig(model="mdm", dataset=corpus["dataset"], text_encoder=corpus["text_encoder"], max_frames=40,
                            flip_prob=1.0, output_dir=str(tmp_path / "unused"))
    task = MDMTask(TaskData(config, ds, _stats(corpus), "test", 20.0, torch.device("cpu")))
    rows, collate = task.train_dataset()
    batch = collate([rows[i] for i in range(len(rows))])
    originals = {str(c) for caps in rows["captions"] for c in caps}
    mirrored = [c for c in batch["captions"] if c not in originals]
    assert mirrored and all(mirror_caption(c) in originals for c in mirrored)  # the corpus has left/right captions
    assert task.captions.lookup(batch["captions"]).pooled.shape == (len(rows), task.captions.dim)
    # and a whole run trains with every batch flipped (it raised KeyError before)
    summary = train_module.main(tiny_argv("mdm", corpus, tmp_path / "flip", steps=2, flip_prob=1.0,
                                          checkpointing_steps=100))
    assert summary["global_step"] == 2 and np.isfinite(summary["validation_loss"])


@pytest.mark.parametrize("warmup", [False, True])
def test_mdm_ema_after_one_step(corpus, tmp_path, monkeypatch, warmup):
    """Without warm-up the EMA after step 1 is d * init + (1 - d) * new (MDM); with it, the new weights."""
    from training.task_mdm import MDMTask

    original = MDMTask.build_model
    captured = {}

    def build_and_capture(self):
        model = original(self)
        captured["names"] = [n for n, _ in model.named_parameters()]
        captured["init"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        return model

    monkeypatch.setattr(MDMTask, "build_model", build_and_capture)
    out = tmp_path / "ema"
    decay = 0.5
    train_module.main(tiny_argv("mdm", corpus, out, steps=1, checkpointing_steps=1, validation_split="", ema_decay=decay,
                                ema_warmup=str(warmup).lower(), learning_rate=1e-2, lr_warmup_steps=0))
    assert json.loads((out / "training_config.json").read_text())["ema_warmup"] is warmup
    ckpt = out / "checkpoints" / "checkpoint-1"
    new = _weights(ckpt / "model.safetensors")
    ema = _weights(ckpt / "ema.safetensors")
    changed = 0
    for i, name in enumerate(captured["names"]):
        init, now, shadow = captured["init"][name], new[name], ema[f"shadow.{i}"]
        expected = now if warmup else decay * init + (1 - decay) * now
        torch.testing.assert_close(shadow, expected, rtol=1e-6, atol=1e-7, msg=lambda m: f"{name}: {m}")
        changed += int(not torch.equal(init, now))
    assert changed > 0, "one step of training changed no weight"


def test_init_from_fine_tunes_the_saved_weights(corpus, tmp_path):
    """--init_from starts from a finished run's weights (fresh optimizer and step count); the card says so and
    carries the initial weights' training table; weights of another architecture are refused by name."""
    base = tmp_path / "base"
    train_module.main(tiny_argv("mdm", corpus, base, steps=2, validation_split="", learning_rate=1e-2, lr_warmup_steps=0))
    saved = _weights(base / "denoiser" / "diffusion_pytorch_model.safetensors")
    # a learning rate too small to move the weights: the fine-tuned model is the one it started from
    tuned = tmp_path / "tuned"
    summary = train_module.main(tiny_argv("mdm", corpus, tuned, steps=1, validation_split="", init_from=base,
                                          learning_rate=1e-12, lr_warmup_steps=0))
    assert summary["global_step"] == 1
    after = _weights(tuned / "denoiser" / "diffusion_pytorch_model.safetensors")
    for key in saved:
        torch.testing.assert_close(after[key], saved[key], rtol=0, atol=1e-6)
    fresh = tmp_path / "fresh"
    train_module.main(tiny_argv("mdm", corpus, fresh, steps=1, validation_split="", learning_rate=1e-12, lr_warmup_steps=0))
    other = _weights(fresh / "denoiser" / "diffusion_pytorch_model.safetensors")
    assert any((other[k] - saved[k]).abs().max() > 1e-3 for k in saved)  # without it: a new initialisation
    card = (tuned / "README.md").read_text()
    assert f"| initial weights | `{base}` (fine-tuned from it; its training below) |" in card
    initial = card.split("### Training of the initial weights", 1)[1]
    assert "| optimizer steps | 2 |" in initial and "| learning rate | 0.01 (constant_with_warmup, 0 warm-up steps) |" in initial
    assert json.loads((tuned / "training_config.json").read_text())["init_from"] == str(base)

    with pytest.raises(ValueError, match=r"--init_from .*base: its weights \(diffusion_pytorch_model.safetensors\) do not "
                                         r"fit the mdm model this run builds: \d+ unexpected \(e.g. encoder.layers.1\."):
        train_module.main(tiny_argv("mdm", corpus, tmp_path / "x", steps=1, validation_split="", init_from=base,
                                    set="model_config.num_layers=1"))
    with pytest.raises(FileNotFoundError, match=r"--init_from .*nowhere: no such folder; pass the output_dir of a finished "
                                                r"`--model mdm` run or pipelines/default_models/mdm"):
        train_module.main(tiny_argv("mdm", corpus, tmp_path / "y", steps=1, init_from=tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"no .safetensors weights in .*empty.denoiser or .*empty"):
        (tmp_path / "empty").mkdir()
        train_module.main(tiny_argv("mdm", corpus, tmp_path / "z", steps=1, init_from=tmp_path / "empty"))


def test_bfloat16_on_a_cpu_without_it_is_warned_about(corpus, tmp_path, monkeypatch, caplog):
    """--mixed_precision bf16 on a CPU without bfloat16 instructions trains (emulated, slowly) and says so,
    naming the fix; with them, or where PyTorch cannot tell, nothing is said."""
    import logging

    from pipelines.pipeline_utils import cpu_bfloat16_is_native, slow_bfloat16_warning

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert cpu_bfloat16_is_native() is False
    text = slow_bfloat16_warning("--precision bf16", "--precision fp32")
    assert text.startswith("--precision bf16 on this CPU: it has no bfloat16 instructions") and "pass --precision fp32" in text
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # earlier in-process runs fixed mixed_precision="no"
    try:
        with caplog.at_level(logging.WARNING):
            summary = train_module.main(tiny_argv("mdm", corpus, tmp_path / "run", steps=1, mixed_precision="bf16"))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert summary["global_step"] == 1
    assert "--mixed_precision bf16 on this CPU" in caplog.text and "pass --mixed_precision no" in caplog.text

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu_bfloat16_is_native() is True and slow_bfloat16_warning("--precision bf16", "--precision fp32") is None

    def broken():
        raise RuntimeError("probe failed")

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", broken, raising=False)
    assert cpu_bfloat16_is_native() is None and slow_bfloat16_warning("--precision bf16", "--precision fp32") is None
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert cpu_bfloat16_is_native() is None
