"""Wall time of full benchmark runs under both protocols: the ground-truth row and each model, 20 replications.

Builds (or reuses) a dataset whose test split has 250 sequences, then times
``pipelines.evaluation.benchmark.run_benchmark`` per protocol: ``paper`` regenerates every model's motions in each of
the 20 replications (all of them batched together), ``fixed-generations`` generates once per caption.
Without trained checkpoints it uses randomly initialised models (the paper-size evaluator and the small
MDM preset), which cost the same time as trained ones but give meaningless scores; pass ``--evaluator`` /
``--model`` (folders, or the bundled ``mdm`` / ``t2m_gpt`` / ``evaluator``) to time real checkpoints.

    python benchmarks/evaluation.py                       # synthetic corpus, GT row + small MDM, both protocols
    python benchmarks/evaluation.py --no-model            # GT row only
    python benchmarks/evaluation.py --dataset express4d --evaluator evaluator --model mdm --model t2m_gpt

Prints a table of wall times per protocol and model, then the benchmark tables.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path


def build_dataset(workdir: Path, num_test: int, seed: int) -> Path:
    from express4d_dataset.hub import export_dataset
    from express4d_dataset.synthetic import write_synthetic_corpus

    out = workdir / "express4d"
    if (out / "README.md").is_file():
        return out
    raw = workdir / "raw"
    write_synthetic_corpus(raw, num_sequences=num_test * 5, seed=seed, test_fraction=0.2, overwrite=True)
    export_dataset(raw, out, configs=["fps20"], overwrite=True)
    return out


def random_evaluator(dataset: Path, preset: str, seed: int):
    import torch

    from express4d_dataset.motion import MotionStats
    from pipelines import Express4DEvaluator, Express4DEvaluatorConfig

    stats = MotionStats.load(dataset / "fps20" / "stats.json")
    kwargs = dict(motion_mean=stats.mean.tolist(), motion_std=stats.std.tolist())
    config = Express4DEvaluatorConfig.from_preset(preset, **kwargs)
    torch.manual_seed(seed)
    return Express4DEvaluator(config).eval()


def random_mdm(dataset: Path, seed: int):
    import torch
    from diffusers import DDIMScheduler

    from express4d_dataset.motion import MotionStats
    from pipelines import Express4DPipeline
    from pipelines.models.text_encoding import load_text_encoder

    stats = MotionStats.load(dataset / "fps20" / "stats.json")
    text_encoder, tokenizer = load_text_encoder(None)
    torch.manual_seed(seed)
    pipe = Express4DPipeline.from_denoiser_config(stats, preset="small", text_encoder=text_encoder, tokenizer=tokenizer)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    return pipe


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=None, help="built dataset folder (default: synthesise one in --workdir)")
    parser.add_argument("--workdir", default=None, help="where the synthetic dataset is cached (default: a temp dir)")
    parser.add_argument("--num-test", type=int, default=250, help="test sequences of the synthetic split (default 250)")
    parser.add_argument("--evaluator", default=None, help="evaluator checkpoint (default: random weights)")
    parser.add_argument("--evaluator-preset", choices=["paper", "small"], default="paper",
                        help="size of the random evaluator (default: paper)")
    parser.add_argument("--model", action="append", default=None,
                        help="pipeline folder or bundled name (repeatable; default: a random small MDM)")
    parser.add_argument("--no-model", action="store_true", help="time the ground-truth row only")
    parser.add_argument("--protocol", choices=["paper", "fixed-generations", "both"], default="both")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps of diffusion models (default: theirs)")
    parser.add_argument("--max-captions", type=int, default=None, help="captions per test motion (default: all)")
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write results here (one subfolder per protocol)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import torch

    from pipelines.evaluation.benchmark import run_benchmark
    from pipelines.auto_pipeline import load_motion_pipeline, resolve_model_path

    t0 = time.perf_counter()
    protocols = ["paper", "fixed-generations"] if args.protocol == "both" else [args.protocol]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        dataset = Path(args.dataset) if args.dataset else build_dataset(workdir, args.num_test, args.seed)
        t_data = time.perf_counter() - t0
        evaluator = (resolve_model_path(args.evaluator, "--evaluator", bundled=("evaluator",)) if args.evaluator
                     else random_evaluator(dataset, args.evaluator_preset, args.seed))
        for protocol in protocols:
            models = []
            if not args.no_model:
                models = ([load_motion_pipeline(resolve_model_path(m)) for m in args.model] if args.model
                          else [random_mdm(dataset, args.seed)])
            results[protocol] = run_benchmark(
                models, evaluator=evaluator, dataset=str(dataset), split="test", protocol=protocol,
                replications=args.replications, num_inference_steps=args.steps, seed=args.seed,
                max_captions_per_item=args.max_captions, batch_size=args.batch_size, precision=args.precision,
                out_dir=str(Path(args.out) / protocol) if args.out else None, progress=True,
            )
    cfg = next(iter(results.values())).config
    print(f"\nDataset: {dataset if args.dataset else 'synthetic stand-in corpus'} (test split: {cfg['num_items']} "
          f"sequences, {cfg['num_entries']} captions); evaluator: "
          f"{args.evaluator or f'random-weight {args.evaluator_preset} preset'}; {args.replications} replications; "
          f"torch threads: {torch.get_num_threads()}")
    if not args.dataset:
        print(f"(synthesising + building the dataset took {t_data:.1f} s, not part of the evaluation)")
    print("\n| protocol | row | generations | generate s | score s |\n|---|---|---:|---:|---:|")
    for protocol, result in results.items():
        t = result.timings
        print(f"| {protocol} | Real motion (load + embed + score) | – | – | "
              f"{t['load'] + t['embed_real'] + t['score_real']:.1f} |")
        for name in list(result.rows)[1:]:
            print(f"| {protocol} | {name} | {result.config['generations_per_model']} | {t[f'generate[{name}]']:.1f} | "
                  f"{t[f'score[{name}]']:.1f} |")
        print(f"| {protocol} | total | | | {t['total']:.1f} |")
    for protocol, result in results.items():
        print(f"\n{result.to_markdown()}\n\n{result.caption()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
