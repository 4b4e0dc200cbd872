"""Atomic, resumable training checkpoints under ``<output_dir>/checkpoints/checkpoint-<step>``.

A checkpoint is ``accelerator.save_state`` (model weights in safetensors, optimizer, LR scheduler,
RNG states of every process) plus what this script adds: ``ema.safetensors`` (EMA weights, when
used) and ``training_state.json`` (step, model, config).  It is written into a hidden
``.tmp-checkpoint-<step>`` folder and renamed into place with ``os.replace`` only once complete, so
a crash mid-save leaves at most a hidden temporary folder that :func:`find_latest_checkpoint`
ignores (and the next save removes); ``training_state.json`` is written last as a second guard.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKPOINTS_DIRNAME = "checkpoints"
STATE_FILENAME = "training_state.json"
EMA_FILENAME = "ema.safetensors"
_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoints_dir(output_dir) -> Path:
    return Path(output_dir) / CHECKPOINTS_DIRNAME


def list_checkpoints(output_dir) -> list[tuple[int, Path]]:
    """Complete checkpoints ``(step, path)`` sorted by step (temporary and incomplete folders skipped)."""
    root = checkpoints_dir(output_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir() and (p / STATE_FILENAME).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def find_latest_checkpoint(output_dir) -> Path | None:
    ckpts = list_checkpoints(output_dir)
    return ckpts[-1][1] if ckpts else None


def resolve_resume_path(output_dir, resume_from_checkpoint: str | None) -> Path | None:
    """``latest`` -> newest complete checkpoint of the run (None when there is none yet); a path -> that folder."""
    if not resume_from_checkpoint:
        return None
    if resume_from_checkpoint == "latest":
        return find_latest_checkpoint(output_dir)
    path = Path(resume_from_checkpoint)
    if not path.is_dir():
        candidate = checkpoints_dir(output_dir) / resume_from_checkpoint
        if candidate.is_dir():
            path = candidate
        else:
            raise FileNotFoundError(
                f"--resume_from_checkpoint {resume_from_checkpoint}: no such checkpoint folder; pass 'latest' or a "
                f"folder such as {checkpoints_dir(output_dir) / 'checkpoint-1000'}"
            )
    if not (path / STATE_FILENAME).is_file():
        raise ValueError(
            f"--resume_from_checkpoint {path}: not a complete express4d checkpoint (no {STATE_FILENAME}); "
            "it may be from an interrupted save or another tool"
        )
    return path


def read_training_state(path) -> dict:
    try:
        return json.loads((Path(path) / STATE_FILENAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{Path(path) / STATE_FILENAME}: unreadable training state ({e})") from None


CONSTANT_SCHEDULES = ("constant", "constant_with_warmup")
"""Learning-rate schedules whose values do not depend on ``max_train_steps``."""


PHASE_SETTINGS = ("lr_scheduler", "learning_rate", "lr_warmup_steps", "max_train_steps")
"""The training options that define a learning-rate phase (``max_train_steps``: the length it was planned for)."""


def _phase(start: int, end: int, settings: dict) -> dict:
    return {"start": int(start), "end": int(end), **{k: settings.get(k) for k in PHASE_SETTINGS}}


def schedule_phases(state: dict) -> list[dict]:
    """The learning-rate schedules a checkpoint was trained under, oldest first.

    Each phase: ``start`` / ``end`` (optimizer steps) and the :data:`PHASE_SETTINGS`. Checkpoints written
    before phases were recorded give one phase, read from their config.
    """
    if state.get("phases"):
        return [dict(p) for p in state["phases"]]
    return [_phase(0, state["step"], state.get("config") or {})]


def extend_phases(earlier: list[dict], config, start: int, end: int) -> list[dict]:
    """``earlier`` plus the phase ``start``..``end`` run under ``config``, merged into the last one when that
    was the same schedule (a resumed interruption, or a constant rate run for longer, is not a new phase).  A
    resume that trains no step (``--max_train_steps`` at the checkpoint's step: only the final model is saved)
    adds no phase."""
    if end <= start and earlier:
        return earlier
    phase = _phase(start, end, config.to_dict())
    same = [k for k in PHASE_SETTINGS if k != "max_train_steps" or config.lr_scheduler not in CONSTANT_SCHEDULES]
    if earlier and earlier[-1]["end"] == phase["start"] and all(earlier[-1].get(k) == phase[k] for k in same):
        return earlier[:-1] + [dict(phase, start=earlier[-1]["start"])]
    return earlier + [phase]


def save_checkpoint(accelerator, output_dir, step: int, state: dict, ema=None, total_limit: int | None = None) -> Path:
    """Write ``checkpoint-<step>`` atomically on every process's behalf; returns its path.

    Every process must call this (``save_state`` writes each process's RNG state).  The main
    process then adds the EMA weights and ``training_state.json``, renames the folder into place and
    prunes the oldest checkpoints beyond ``total_limit`` (only after the new one is complete).
    """
    root = checkpoints_dir(output_dir)
    final = root / f"checkpoint-{step}"
    tmp = root / f".tmp-checkpoint-{step}"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-checkpoint-*"):  # leftovers of a crash mid-save
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if ema is not None:
            save_ema(ema, tmp / EMA_FILENAME)
        with open(tmp / STATE_FILENAME, "w", encoding="utf-8") as f:
            json.dump(dict(state, step=int(step)), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        if final.exists():  # e.g. the same step saved again after a resume
            old = root / f".old-checkpoint-{step}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        if total_limit is not None:
            for _, stale in list_checkpoints(output_dir)[:-total_limit]:
                logger.info("Removing old checkpoint %s (checkpoints_total_limit=%d)", stale, total_limit)
                shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def save_ema(ema, path) -> None:
    """EMA shadow weights in safetensors, with its step counter and decay in the metadata."""
    from safetensors.torch import save_file

    tensors = {f"shadow.{i}": p.detach().contiguous().cpu() for i, p in enumerate(ema.shadow_params)}
    meta = {"optimization_step": str(int(ema.optimization_step)), "decay": repr(float(ema.decay))}
    save_file(tensors, str(path), metadata=meta)


def load_ema(ema, path) -> None:
    """Restore :func:`save_ema` output into a ``diffusers.training_utils.EMAModel`` (no pickle involved)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the checkpoint has no EMA weights; it was saved by a run without use_ema")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        keys = sorted(f.keys(), key=lambda k: int(k.split(".")[1]))
        if len(keys) != len(ema.shadow_params):
            raise ValueError(f"{path}: {len(keys)} EMA tensors for a model with {len(ema.shadow_params)} parameters")
        for key, shadow in zip(keys, ema.shadow_params):
            value = f.get_tensor(key)
            if value.shape != shadow.shape:
                raise ValueError(f"{path}: {key} has shape {tuple(value.shape)}, expected {tuple(shadow.shape)}")
            shadow.data.copy_(value.to(shadow.device, shadow.dtype))
    ema.optimization_step = int(meta.get("optimization_step", 0))
