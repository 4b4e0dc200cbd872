"""Shared by the training tests: tiny model settings and a tiny run's command line, and `accelerate launch`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TINY_MODEL = {
    "mdm": ["model_config.latent_dim=32", "model_config.num_layers=2", "model_config.num_heads=2", "model_config.ff_size=64"],
    "vqvae": ["model_config.width=32", "model_config.code_dim=16", "model_config.codebook_size=32", "model_config.depth=1"],
    "t2m_gpt": ["model_config.hidden_size=32", "model_config.num_heads=2", "model_config.num_layers=2"],
    "evaluator": ["model_config.movement_hidden_size=16", "model_config.movement_latent_size=16",
                  "model_config.motion_hidden_size=16", "model_config.text_hidden_size=16", "model_config.embedding_dim=16"],
}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               "TOKENIZERS_PARALLELISM": "false"}


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


def corpus_stats(corpus):
    """The tiny corpus's motion statistics."""
    from express4d_dataset.motion import MotionStats

    return MotionStats.load(Path(corpus["dataset"]) / "fps20" / "stats.json")


def weights(path) -> dict:
    """The tensors of a safetensors file."""
    from safetensors.torch import load_file

    return load_file(str(path))
