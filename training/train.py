#!/usr/bin/env python
"""Train an express4d model with accelerate: ``accelerate launch training/train.py --model {mdm,vqvae,t2m_gpt,evaluator}``.

One entry point for the MDM denoiser, the T2M-GPT VQ-VAE and prior, and the benchmark evaluator,
on one CPU, one GPU or many (accelerate: DDP, multi-node, mixed precision)::

    accelerate launch training/train.py --model mdm --config training/configs/mdm_small.json \\
        --dataset express4d --output_dir runs/mdm --max_train_steps 20000
    accelerate launch training/train.py --model mdm --output_dir runs/mdm --resume_from_checkpoint latest
    accelerate launch training/train.py --model t2m_gpt --vqvae runs/vqvae --set model_config.num_layers=8

Options come from the JSON preset (``--config``, default ``training/configs/<model>_paper.json``),
then ``--set KEY=VALUE`` overrides, then ``--<option> VALUE`` flags (see ``training/config.py``).

The run folder (``--output_dir``) receives ``checkpoints/checkpoint-<step>`` (atomic, resumable:
weights, optimizer, LR scheduler, EMA, RNG states, step), ``logs/`` (TensorBoard), and at the end
the model in Hugging Face layout (``save_pretrained``) with a model card ``README.md``.  It must be new, empty
or an earlier run's; every entry a run writes is listed in its manifest first, and ``--overwrite_output_dir``
deletes only those (``training/run_folder.py``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `accelerate launch training/train.py` puts only training/ on the path
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from training.checkpointing import (  # noqa: E402
    EMA_FILENAME,
    extend_phases,
    find_latest_checkpoint,
    load_ema,
    read_training_state,
    resolve_resume_path,
    save_checkpoint,
    schedule_phases,
)
from training.config import TrainingConfig, parse_training_args  # noqa: E402
from training.data import (  # noqa: E402
    EpochSampler,
    balanced_training_split,
    composed_training_split,
    recaptioned_training_split,
    dataset_card_text,
    is_stand_in_corpus,
    load_training_dataset,
    resolve_stats,
)
from training.model_card import render_model_card  # noqa: E402
from training.run_folder import CONFIG_FILENAME, RunFolder, check_output_dir, place_final  # noqa: E402
from training.registry import task_class, validate_model_config  # noqa: E402
from training.task import TaskData  # noqa: E402

def apply_schedule(lr_scheduler, optimizer, learning_rate: float) -> None:
    """After a resume: this run's ``--learning_rate`` and schedule from the restored step on.

    ``load_state`` restores the checkpoint's base rate and the optimizer's last rate, so a run resumed with
    another ``--learning_rate`` would silently keep the old one and the first step would use the old
    schedule's value. Recomputed the way the schedule computes it, so an unchanged run resumes bit for bit.
    """
    inner = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps the torch scheduler
    lambdas = getattr(inner, "lr_lambdas", None)
    if lambdas is None:  # every diffusers schedule is a LambdaLR; leave any other as restored
        return
    inner.base_lrs = [float(learning_rate)] * len(inner.base_lrs)
    for group, rate, fn in zip(optimizer.param_groups, inner.base_lrs, lambdas):
        group["initial_lr"] = rate
        group["lr"] = rate * fn(inner.last_epoch)
    inner._last_lr = [group["lr"] for group in optimizer.param_groups]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; raised on every process before the bad step is applied."""


def _tracker(report_to: str, logger) -> str | None:
    if report_to == "none":
        return None
    if report_to == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            try:
                import tensorboardX  # noqa: F401
            except ImportError:
                logger.warning("report_to=tensorboard but neither tensorboard nor tensorboardX is installed "
                               "(pip install tensorboard); training continues without loss curves")
                return None
    return report_to


def _hparams(config: TrainingConfig) -> dict:
    """Scalar-only view of the config for the trackers' hyperparameter tables."""
    out = {}
    for key, value in config.to_dict().items():
        if isinstance(value, (int, float, str, bool)):
            out[key] = value
        else:
            out[key] = json.dumps(value)
    return out


class _EMAWeights:
    """Context manager: the model holds the EMA weights inside, its own weights again after (exactly)."""

    def __init__(self, ema, model):
        self.ema, self.params = ema, list(model.parameters()) if ema is not None else []

    def __enter__(self):
        if self.ema is not None:
            self.ema.store(self.params)
            self.ema.copy_to(self.params)

    def __exit__(self, *exc):
        if self.ema is not None:
            self.ema.restore(self.params)
        return False


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default ``sys.argv[1:]``) and train; returns the run summary."""
    return train(parse_training_args(argv))


def train(config: TrainingConfig) -> dict:
    from accelerate import Accelerator
    from accelerate.logging import get_logger
    from accelerate.utils import ProjectConfiguration, set_seed
    from diffusers.optimization import get_scheduler
    from tqdm.auto import tqdm

    output_dir = Path(config.output_dir)
    project_config = ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs"))
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    logger = get_logger("express4d.train")
    tracker = _tracker(config.report_to, logger)
    # A torchrun-style launch (`accelerate launch --multi_gpu --num_processes N`) on a machine without CUDA:
    # run the processes on CPU with the gloo backend instead of failing to find GPUs.
    cpu_distributed = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    accelerator = Accelerator(
        cpu=cpu_distributed,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        mixed_precision=config.mixed_precision,
        log_with=tracker,
        project_config=project_config,
    )
    if not accelerator.is_main_process:
        logging.getLogger().setLevel(logging.WARNING)
    logger.info("%s", accelerator.state, main_process_only=True)
    if config.mixed_precision == "bf16" and accelerator.device.type == "cpu":
        from pipelines.pipeline_utils import slow_bfloat16_warning

        if (warning := slow_bfloat16_warning("--mixed_precision bf16", "--mixed_precision no")) is not None:
            logger.warning(warning, main_process_only=True)
    set_seed(config.seed)
    fresh = check_output_dir(output_dir, config.resume_from_checkpoint, config.overwrite_output_dir)
    validate_model_config(config.model, config.model_config)  # before any heavy work
    accelerator.wait_for_everyone()  # every process checked the folder before the main one writes into it
    if accelerator.is_main_process:
        run_folder = RunFolder(output_dir)
        if fresh:
            logger.info("--overwrite_output_dir: deleting what the earlier run wrote in %s: %s", output_dir,
                        ", ".join(run_folder.clear()) or "nothing", main_process_only=True)
        run_folder.record(CONFIG_FILENAME, "checkpoints", "logs")  # before writing any of them
        config.save(output_dir / CONFIG_FILENAME)

    # ------------------------------------------------------------------ data, task, model
    with accelerator.main_process_first():
        dataset = load_training_dataset(config.dataset, config.dataset_config)
    if config.train_split not in dataset:
        raise ValueError(f"train_split {config.train_split!r}: the dataset has only {', '.join(dataset)}")
    train_rows = dataset[config.train_split]
    stats, stats_source = resolve_stats(config.dataset, config.dataset_config, train_rows, config.stats)
    fps = float(train_rows[0]["fps"]) if "fps" in train_rows.column_names else 20.0
    if config.extra_captions:  # captions only: the motions, and so the statistics, are the corpus's
        train_rows = dataset[config.train_split] = recaptioned_training_split(train_rows, config)
        logger.info("Training split: %d captions per take on average (%d drawn afresh per take)",
                    sum(len(c) for c in train_rows["captions"]) / max(len(train_rows), 1), config.extra_captions,
                    main_process_only=True)
    if config.compose_takes:  # after the statistics: they describe the corpus, not the augmentation
        dataset[config.train_split] = composed_training_split(train_rows, config, fps)
        logger.info("Training split: %d takes + %d composed ones", len(train_rows), config.compose_takes,
                    main_process_only=True)
    if config.balanced_takes:  # after the statistics and the compositions: the corpus' own takes only
        dataset[config.train_split] = balanced_training_split(dataset[config.train_split], config, fps)
        logger.info("Training split: + %d balanced single-action takes (every action's intensities equally often)",
                    config.balanced_takes, main_process_only=True)
    task = task_class(config.model)(TaskData(config, dataset, stats, stats_source, fps, accelerator.device))
    model = task.build_model()
    resume_path = resolve_resume_path(output_dir, config.resume_from_checkpoint)
    if config.init_from and resume_path is None:  # a checkpoint, when resuming, holds the weights
        weights = task.load_initial_weights(model, config.init_from)
        logger.info("Initial weights from %s (fine-tuning)", weights, main_process_only=True)
    set_seed(config.seed, device_specific=True)  # distinct noise / dropout per process from here on
    num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info("Model %s: %.2fM trainable parameters", config.model, num_params / 1e6, main_process_only=True)

    ema = None
    if config.use_ema:
        from training.ema import build_ema

        ema = build_ema(model.parameters(), config.ema_decay, config.ema_warmup)

    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2), weight_decay=config.adam_weight_decay, eps=config.adam_epsilon,
    )
    train_ds, train_collate = task.train_dataset()
    train_dl = DataLoader(
        train_ds, batch_size=config.train_batch_size, sampler=EpochSampler(len(train_ds), config.seed),
        collate_fn=train_collate, num_workers=config.dataloader_num_workers, drop_last=False,
        # its own generator: creating an iterator would otherwise draw from the global torch RNG, and a
        # resumed run creates one more iterator than an uninterrupted run at the resume point
        generator=torch.Generator().manual_seed(config.seed),
    )
    val = task.validation_dataset()
    val_dl = None
    if val is not None:
        val_ds, val_collate = val
        val_dl = DataLoader(val_ds, batch_size=config.train_batch_size, shuffle=False, collate_fn=val_collate,
                            num_workers=config.dataloader_num_workers, generator=torch.Generator().manual_seed(config.seed))
    lr_scheduler = get_scheduler(
        config.lr_scheduler, optimizer=optimizer,
        num_warmup_steps=config.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=config.max_train_steps * accelerator.num_processes,
    )
    model, optimizer, train_dl, lr_scheduler = accelerator.prepare(model, optimizer, train_dl, lr_scheduler)
    if val_dl is not None:
        val_dl = accelerator.prepare(val_dl)
    if ema is not None:
        ema.to(accelerator.device)

    steps_per_epoch = math.ceil(len(train_dl) / config.gradient_accumulation_steps)
    total_batch = config.train_batch_size * accelerator.num_processes * config.gradient_accumulation_steps

    # ------------------------------------------------------------------ resume
    global_step = 0
    earlier_phases: list[dict] = []  # the LR schedules of the checkpoint this run resumes, for the card
    if resume_path is not None:
        state = read_training_state(resume_path)
        if state.get("model") != config.model:
            raise ValueError(f"--resume_from_checkpoint {resume_path}: a {state.get('model')!r} checkpoint, but --model is {config.model!r}")
        logger.info("Resuming from %s (step %d)", resume_path, state["step"], main_process_only=True)
        accelerator.load_state(str(resume_path))
        apply_schedule(lr_scheduler, optimizer, config.learning_rate)
        if ema is not None:
            load_ema(ema, resume_path / EMA_FILENAME)
        global_step = int(state["step"])
        earlier_phases = schedule_phases(state)
    elif config.resume_from_checkpoint == "latest":
        logger.info("No checkpoint in %s yet; starting a new run", output_dir / "checkpoints", main_process_only=True)

    if tracker is not None:
        accelerator.init_trackers(f"express4d-{config.model}", config=_hparams(config))

    logger.info(
        "Training %s: %d items, %d batches/epoch, %d steps, batch %d (= %d x %d processes x %d accumulation)",
        config.model, len(train_ds), len(train_dl), config.max_train_steps, total_batch, config.train_batch_size,
        accelerator.num_processes, config.gradient_accumulation_steps, main_process_only=True,
    )

    evaluator = None
    if config.evaluator and accelerator.is_main_process:
        from pipelines.modeling_evaluator import Express4DEvaluator

        evaluator = Express4DEvaluator.from_pretrained(config.evaluator).to(accelerator.device).eval()

    def run_validation() -> tuple[float | None, dict]:
        if val_dl is None:
            return None, {}
        unwrapped = accelerator.unwrap_model(model)
        model.eval()
        generator = torch.Generator().manual_seed(config.seed)  # CPU: every task accepts it
        total = torch.zeros(2, device=accelerator.device, dtype=torch.float64)
        with _EMAWeights(ema, unwrapped):
            for i, batch in enumerate(val_dl):
                if config.validation_max_batches is not None and i >= config.validation_max_batches:
                    break
                loss_sum, count = task.validation_loss(model, batch, generator)
                total += torch.stack([loss_sum.detach().double(), torch.tensor(float(count), device=total.device, dtype=torch.float64)])
            total = accelerator.reduce(total, reduction="sum")
            metrics = {}
            if evaluator is not None:
                try:
                    metrics = task.generation_metrics(unwrapped, evaluator, torch.Generator().manual_seed(config.seed))
                except Exception as e:  # a metric problem must not end a long run; the loss curves go on
                    logger.warning("Benchmark metrics failed at step %d (%s: %s); training continues",
                                   global_step, type(e).__name__, e, main_process_only=True)
        accelerator.wait_for_everyone()
        model.train()
        return float(total[0] / total[1].clamp(min=1)), metrics

    def diverged(what: str, step: int, epoch: int) -> TrainingDiverged:
        latest = find_latest_checkpoint(output_dir)
        return TrainingDiverged(
            f"Training of {config.model} stopped: {what} at step {step} (epoch {epoch}); that step was not applied "
            f"and no checkpoint was written after it. Last good checkpoint: "
            f"{latest if latest else 'none (no checkpoint was saved yet)'}. Resume with --resume_from_checkpoint latest "
            "after lowering --learning_rate or --max_grad_norm, or try --mixed_precision no."
        )

    resumed_at = global_step

    def training_state() -> dict:
        return {"model": config.model, "max_train_steps": config.max_train_steps, "config": config.to_dict(),
                "phases": extend_phases(earlier_phases, config, resumed_at, global_step)}

    # ------------------------------------------------------------------ loop
    first_epoch = global_step // steps_per_epoch
    skip_batches = (global_step % steps_per_epoch) * config.gradient_accumulation_steps
    progress = tqdm(total=config.max_train_steps, initial=global_step, desc=f"train {config.model}",
                    disable=not accelerator.is_local_main_process, dynamic_ncols=True)
    last_loss, val_loss, metrics = None, None, {}
    epoch = first_epoch
    model.train()
    while global_step < config.max_train_steps:
        train_dl.set_epoch(epoch)
        train_collate.set_epoch(epoch)
        loader = train_dl
        if skip_batches:
            loader = accelerator.skip_first_batches(train_dl, skip_batches)
            loader.set_epoch(epoch)  # accelerate < 1.15 starts the new loader at epoch 0

        skip_batches = 0
        accumulated, micro = 0.0, 0
        extra_logs: dict = {}
        for batch in loader:
            with accelerator.accumulate(model):
                loss, logs = task.training_loss(model, batch)
                if config.debug_inject_nan_at_step is not None and global_step + 1 == config.debug_inject_nan_at_step:
                    loss = loss * float("nan")
                finite = accelerator.gather(torch.isfinite(loss.detach()).all().reshape(1).float()).min()
                if float(finite) < 1.0:
                    progress.close()
                    accelerator.end_training()
                    raise diverged(f"the loss is {float(loss.detach()):g} (not finite)", global_step + 1, epoch)
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm is not None:
                    grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    if grad_norm is not None and not bool(torch.isfinite(torch.as_tensor(grad_norm))):
                        progress.close()
                        accelerator.end_training()
                        raise diverged(f"the gradient norm is {float(grad_norm):g} (not finite)", global_step + 1, epoch)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            accumulated += float(loss.detach())
            micro += 1
            for k, v in logs.items():
                extra_logs[k] = extra_logs.get(k, 0.0) + float(v)
            if not accelerator.sync_gradients:
                continue
            global_step += 1
            if ema is not None:
                ema.step(accelerator.unwrap_model(model).parameters())
            step_loss = float(accelerator.reduce(torch.tensor(accumulated / micro, device=accelerator.device), reduction="mean"))
            logs = {"train/loss": step_loss, "train/lr": lr_scheduler.get_last_lr()[0]}
            logs.update({f"train/{k}": v / micro for k, v in extra_logs.items()})
            accumulated, micro, extra_logs = 0.0, 0, {}
            last_loss = step_loss
            progress.update(1)
            progress.set_postfix(loss=f"{step_loss:.4g}", lr=f"{logs['train/lr']:.2e}")
            if global_step % config.checkpointing_steps == 0:
                path = save_checkpoint(accelerator, output_dir, global_step, training_state(), ema, config.checkpoints_total_limit)
                logger.info("Saved %s", path, main_process_only=True)
            if global_step % config.validation_steps == 0 or global_step == config.max_train_steps:
                val_loss, metrics = run_validation()
                if val_loss is not None:
                    logs["validation/loss"] = val_loss
                    logger.info("step %d: validation loss %.5g", global_step, val_loss, main_process_only=True)
                if metrics:
                    logger.info("step %d: %s", global_step, ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())),
                                main_process_only=True)
                logs.update({f"validation/{k}": v for k, v in metrics.items()})
            accelerator.log(logs, step=global_step)
            if global_step >= config.max_train_steps:
                break
        epoch += 1
    progress.close()

    # ------------------------------------------------------------------ final model
    accelerator.wait_for_everyone()
    summary = {
        "model": config.model, "global_step": global_step, "final_loss": last_loss, "validation_loss": val_loss,
        "metrics": metrics, "ema": ema is not None, "phases": training_state()["phases"],
        "stats_source": stats_source, "num_train_items": len(train_ds),
        "effective_batch_size": total_batch, "num_processes": accelerator.num_processes,
        "output_dir": str(output_dir), "is_main_process": accelerator.is_main_process,
        "metrics_items": min(config.metrics_num_samples, len(val_dl.dataset)) if val_dl is not None else 0,
    }
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        if ema is not None:
            ema.copy_to(unwrapped.parameters())
        unwrapped.eval()
        staging = output_dir / ".tmp-final"  # written beside, then moved in: each name recorded in the manifest first
        if staging.exists():
            shutil.rmtree(staging)
        task.save_final(unwrapped, staging)
        summary["stand_in"] = is_stand_in_corpus(dataset_card_text(config.dataset))
        (staging / "README.md").write_text(render_model_card(task, config, summary), encoding="utf-8")
        place_final(output_dir, staging)
        logger.info("Saved the final %s to %s", config.model, output_dir)
        if config.push_to_hub:
            from huggingface_hub import create_repo, upload_folder

            create_repo(config.push_to_hub, private=config.hub_private, exist_ok=True)
            upload_folder(repo_id=config.push_to_hub, folder_path=str(output_dir),
                          ignore_patterns=["checkpoints/*", "checkpoints/**", ".tmp*", ".express4d_run.json"],
                          commit_message=f"express4d {config.model}: {global_step} steps")
            logger.info("Uploaded %s to https://huggingface.co/%s", output_dir, config.push_to_hub)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # leave no process group for interpreter shutdown to tear down (torch warns; a rank could wait on the
        # store of a rank that already exited)
        torch.distributed.destroy_process_group()
    return summary


def cli(argv: list[str] | None = None) -> int:
    try:
        summary = main(argv)
    except TrainingDiverged as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    if summary["is_main_process"]:
        print(f"Done: {summary['model']} trained for {summary['global_step']} steps; final model in {summary['output_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
