"""The model card (README.md) written beside a trained model: data, configuration, steps, losses, metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .checkpointing import CONSTANT_SCHEDULES


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _schedule(name: str, warmup_steps: int, planned_over: int | None = None) -> str:
    """``cosine planned over N steps, 500 warm-up steps``: the length only for a schedule that depends on it
    (``planned_over``, given for a resumed run's phases), a warm-up only for a schedule that has one."""
    planned = f" planned over {planned_over} steps" if planned_over and name not in CONSTANT_SCHEDULES else ""
    return name + planned + ("" if name == "constant" else f", {warmup_steps} warm-up steps")


def _learning_rate_rows(config, phases: list[dict]) -> list[str]:
    """One row for a run trained under one schedule; one row per phase for a run resumed under another."""
    if len(phases) <= 1:
        # a schedule planned over more steps than it ran (a run stopped early) says so
        planned = phases[0].get("max_train_steps") if phases else None
        planned = planned if phases and planned != phases[0]["end"] else None
        schedule = _schedule(config.lr_scheduler, config.lr_warmup_steps, planned)
        return [f"| learning rate | {config.learning_rate:g} ({schedule}) |"]
    rows = []
    for k, p in enumerate(phases):
        how = "" if k == 0 else ", resumed from the checkpoint of the phase above"
        schedule = _schedule(p["lr_scheduler"], p["lr_warmup_steps"], p["max_train_steps"])
        rows.append(f"| learning rate, steps {p['start']}-{p['end']} | {p['learning_rate']:g} ({schedule}{how}) |")
    return rows


def render_model_card(task, config, summary: dict) -> str:
    """Markdown with YAML front matter for the Hub.

    ``summary``: ``global_step``, ``final_loss``, ``validation_loss`` (or None), ``metrics`` (dict),
    ``stand_in`` (bool), ``stats_source``, ``num_train_items``, ``effective_batch_size``, ``num_processes``,
    ``phases`` (the learning-rate schedules, :func:`training.checkpointing.schedule_phases`; optional).
    """
    tags = task.card_tags()
    dataset = config.dataset
    # weights trained on the real captures inherit the corpus's terms; the stand-in corpus is Apache-2.0
    license_line = "license: apache-2.0" if summary.get("stand_in") else "license: other"
    yaml = ["---", f"library_name: {task.library_name}", license_line, "tags:"]
    yaml += [f"- {t}" for t in tags]
    if not Path(dataset).exists():
        yaml += ["datasets:", f"- {dataset}"]
    yaml.append("---")

    title = {"mdm": "MDM text-to-facial-motion diffusion model", "vqvae": "T2M-GPT motion VQ-VAE",
             "t2m_gpt": "T2M-GPT text-to-facial-motion pipeline", "evaluator": "Express4D benchmark evaluator"}[task.name]
    body = [f"# {title} (express4d)", ""]
    if summary.get("stand_in"):
        body += [
            "> **Trained on the procedural stand-in corpus, not on the real Express4D captures.** The dataset card",
            "> of the training data says so; this checkpoint exercises the pipeline end to end and says nothing about",
            "> the quality reachable on real faces.",
            "",
        ]
    body += [
        f"Trained with `accelerate launch training/train.py --model {task.name}` from the express4d package.",
        "Motions are 61 Live Link Face (ARKit) channels per frame.",
        "",
        "## Usage",
        "",
        "```python",
        f"REPO = {config.push_to_hub or '.'!r}  # this folder or its Hub id",
        task.card_usage(),
        "```",
        "",
        "## Training data",
        "",
        f"- dataset: `{dataset}` (config `{config.dataset_config}`, split `{config.train_split}`, "
        f"{summary.get('num_train_items', '?')} items)",
        f"- normalisation statistics: {summary.get('stats_source', '?')} (stored in the model config)",
        f"- text encoder (frozen, referenced by name, weights not included): `{config.text_encoder}`",
    ]
    if not summary.get("stand_in"):
        body.append("- licence: the weights are derived from the Express4D captures (faces are personal data); "
                    "use them under the dataset's terms")
    if config.model == "t2m_gpt":
        body.append(f"- VQ-VAE: `{config.vqvae}`")
    body += [
        "",
        "## Training",
        "",
        "| | |",
        "|---|---|",
        *([f"| initial weights | `{config.init_from}` (fine-tuned from it; its training below) |"] if config.init_from else []),
        f"| optimizer steps | {summary.get('global_step')} |",
        f"| effective batch size | {summary.get('effective_batch_size')} ({summary.get('num_processes')} process(es) x "
        f"{config.train_batch_size} x {config.gradient_accumulation_steps} accumulation) |",
        *_learning_rate_rows(config, summary.get("phases") or []),
        f"| AdamW betas / weight decay | ({config.adam_beta1}, {config.adam_beta2}) / {config.adam_weight_decay} |",
        f"| gradient clipping | {config.max_grad_norm} |",
        f"| EMA | {'decay ' + str(config.ema_decay) + (' with warm-up' if config.ema_warmup else ' (constant)') + ' (saved weights are the EMA)' if summary.get('ema') else 'no'} |",
        f"| mixed precision | {config.mixed_precision} |",
        *([f"| loss channel weights | {_channel_weights(config.loss_channel_weights)} |"] if config.loss_channel_weights else []),
        *([f"| velocity loss weight | {config.loss_velocity_weight:g} (MSE of frame-to-frame differences) |"]
          if getattr(config, "loss_velocity_weight", 0) else []),
        *([f"| extra captions | {config.extra_captions} per training take, drawn from its recorded plan (training "
            "wording only) |"] if getattr(config, "extra_captions", 0) else []),
        *([f"| balanced takes | {config.balanced_takes} new single-action takes, every intensity of every action "
            "equally often (training wording only) |"] if getattr(config, "balanced_takes", 0) else []),
        *([f"| composed takes | {config.compose_takes} added to the training split ({_composed(config)}; never a "
            "held-out pair) |"] if config.compose_takes else []),
        f"| seed | {config.seed} |",
        f"| final training loss | {_fmt(summary.get('final_loss'))} |",
    ]
    if summary.get("validation_loss") is not None:
        body.append(f"| validation loss (`{config.validation_split}` split) | {_fmt(summary['validation_loss'])} |")
    if config.init_from:
        body += _initial_training(config.init_from)
    metrics = summary.get("metrics") or {}
    if metrics:
        body += ["", f"## Metrics (evaluator `{config.evaluator}`, {summary.get('metrics_items')} validation items, 1 replication)", "",
                 "| metric | value |", "|---|---|"]
        body += [f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items())]
        body += ["", "These are a training-time indication, not the benchmark (20 replications over the whole test split)."]
    else:
        body += ["", "No benchmark metrics were measured during training."]
    body += [
        "",
        "## Full configuration",
        "",
        "```json",
        json.dumps(config.to_dict(), indent=2),
        "```",
        "",
    ]
    return "\n".join(yaml + body)


def _composed(config) -> str:
    share = getattr(config, "compose_three_step_share", 0.0)
    two = "two single-action takes joined, \"X and then Y\""
    if not share:
        return two
    return f"{two}, or for {share:.0%} of them three, \"X, then Y, and finally Z\""


def _channel_weights(weights: dict) -> str:
    return ", ".join(f"{name} x{value:g}" for name, value in weights.items()) + " (others x1; weighted mean over channels)"


def _initial_training(folder) -> list[str]:
    """The table of the "## Training" section in the card of the folder a fine-tune started from."""
    path = Path(folder) / "README.md"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Training"), None)
    if start is None:
        return ["", "### Training of the initial weights", "", f"Not recorded (no model card with a Training section in `{folder}`)."]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    rows = [line for line in lines[start + 1:end] if line.startswith("|")]  # its tables, not its remarks
    out = []
    for i, line in enumerate(rows):  # a table starts at a header row followed by a separator: the chain of fine-tunes
        if i + 1 < len(rows) and re.fullmatch(r"\|(\s*-+\s*\|)+", rows[i + 1].strip()):
            out += ["", "### Training of the initial weights", ""]
        out.append(line)
    return out
