"""Training throughput (samples/s) of every model's small preset on this machine.

    python benchmarks/training.py                      # stand-in corpus of 64 takes, all four models
    python benchmarks/training.py --models mdm vqvae --steps 20 --dataset express4d
    python benchmarks/training.py --models mdm --precision fp32 bf16   # bf16 autocast vs fp32

For each model the script builds the task exactly as ``training/train.py`` does (same preset
JSON, collator, loss), then times full optimisation steps (forward, backward, clipping, AdamW) on
real batches: ``--warmup`` untimed steps, then the median over ``--steps`` timed steps.  The text
encoder runs once up front (captions are pre-encoded in training too), so it is not timed.
T2M-GPT trains on the codes of a freshly initialised small VQ-VAE (the speed does not depend on
the VQ-VAE being trained).  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

MODELS = ("mdm", "vqvae", "t2m_gpt", "evaluator")


def build_corpus(folder: Path, num_sequences: int, seed: int) -> str:
    from express4d_dataset.hub import export_dataset
    from express4d_dataset.synthetic import write_synthetic_corpus

    write_synthetic_corpus(folder / "raw", num_sequences=num_sequences, seed=seed)
    export_dataset(folder / "raw", folder / "express4d", configs=["fps20"])
    return str(folder / "express4d")


def random_vqvae(folder: Path, dataset: str) -> str:
    """A small VQ-VAE with an initialised codebook (one training-mode forward), saved for the T2M-GPT task."""
    from training.config import CONFIGS_DIR, read_config_file
    from training.data import load_training_dataset, resolve_stats
    from pipelines.models.modeling_vqvae import Express4DVQVAE
    from express4d_dataset.motion import pad_and_mask

    ds = load_training_dataset(dataset, "fps20")
    stats, _ = resolve_stats(dataset, "fps20", ds["train"])
    preset = read_config_file(CONFIGS_DIR / "vqvae_small.json")["model_config"]["preset"]
    vqvae = Express4DVQVAE.from_preset(preset, stats=stats).train()
    motions = [stats.normalize(m[:64]) for m in ds["train"]["motion"][:32]]
    padded, mask, _ = pad_and_mask(motions)
    with torch.no_grad():
        vqvae(padded, attention_mask=mask)
    vqvae.save_pretrained(folder / "vqvae")
    return str(folder / "vqvae")


def time_model(model_name: str, dataset: str, vqvae: str | None, steps: int, warmup: int, batch_size: int | None,
               work_dir: Path, precision: str = "fp32") -> dict:
    from torch.utils.data import DataLoader

    from training.config import CONFIGS_DIR, TrainingConfig, read_config_file
    from training.data import EpochSampler, load_training_dataset, resolve_stats
    from training.registry import task_class
    from training.task import TaskData

    values = read_config_file(CONFIGS_DIR / f"{model_name}_small.json")
    values.update(dataset=dataset, output_dir=str(work_dir / model_name))  # nothing is written there
    if batch_size:
        values["train_batch_size"] = batch_size
    if model_name == "t2m_gpt":
        values["vqvae"] = vqvae
    config = TrainingConfig(**values)
    torch.manual_seed(config.seed)
    ds = load_training_dataset(dataset, config.dataset_config)
    stats, source = resolve_stats(dataset, config.dataset_config, ds[config.train_split])
    task = task_class(model_name)(TaskData(config, ds, stats, source, 20.0, torch.device("cpu")))
    model = task.build_model().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  betas=(config.adam_beta1, config.adam_beta2), weight_decay=config.adam_weight_decay)
    train_ds, collate = task.train_dataset()
    loader = DataLoader(train_ds, batch_size=config.train_batch_size, sampler=EpochSampler(len(train_ds), config.seed),
                        collate_fn=collate, drop_last=True)
    if len(loader) == 0:
        raise ValueError(f"{model_name}: the training split has fewer than {config.train_batch_size} items; "
                         "use more --num_sequences or a smaller --batch_size")
    times, epoch = [], 0
    while len(times) < warmup + steps:
        loader.sampler.set_epoch(epoch)
        collate.set_epoch(epoch)
        for batch in loader:
            start = time.perf_counter()
            # bf16: what `--mixed_precision bf16` does on CPU (autocast around the forward, fp32 weights)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss, _ = task.training_loss(model, batch)
            loss.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - start)
            if len(times) >= warmup + steps:
                break
        epoch += 1
    step = statistics.median(times[warmup:])
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"model": model_name, "precision": precision, "params": params, "batch": config.train_batch_size, "step_s": step,
            "samples_s": config.train_batch_size / step}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--dataset", default=None, help="dataset folder (default: a fresh stand-in corpus)")
    parser.add_argument("--num_sequences", type=int, default=96, help="takes in the stand-in corpus (default 96)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--batch_size", type=int, default=None, help="override the presets' batch size")
    parser.add_argument("--precision", nargs="+", choices=["fp32", "bf16"], default=["fp32"],
                        help="fp32 and/or bf16 autocast (what --mixed_precision bf16 does; default fp32)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="express4d-bench-") as tmp:
        tmp = Path(tmp)
        dataset = args.dataset or build_corpus(tmp, args.num_sequences, seed=0)
        vqvae = random_vqvae(tmp, dataset) if "t2m_gpt" in args.models else None
        rows = [time_model(m, dataset, vqvae, args.steps, args.warmup, args.batch_size, tmp, precision)
                for m in args.models for precision in args.precision]
    print(f"\nTraining throughput, small presets, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.steps} steps after {args.warmup} warm-up\n")
    print("| model | precision | parameters | batch | s/step | samples/s | speed-up vs fp32 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    fp32 = {r["model"]: r["step_s"] for r in rows if r["precision"] == "fp32"}
    for r in rows:
        ratio = f"{fp32[r['model']] / r['step_s']:.2f}x" if r["model"] in fp32 else "–"
        print(f"| {r['model']} | {r['precision']} | {r['params'] / 1e6:.2f}M | {r['batch']} | {r['step_s']:.3f} "
              f"| {r['samples_s']:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
