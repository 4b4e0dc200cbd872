"""Ablation: how the prompt reaches the model (pooled vector vs token states; prefix vs cross attention).

Trains (or reuses) one run per variant with ``training/train.py`` and scores every run on the test split with
``express4d evaluate``'s driver, printing the benchmark columns beside the prompt-following ones::

    python benchmarks/text_conditioning.py --dataset express4d --evaluator runs/evaluator --steps 2000 \\
        --variant pooled --variant tokens-prefix --variant tokens-cross --out runs/ablation

A variant is ``pooled``, ``tokens-prefix`` or ``tokens-cross`` for ``--model mdm`` (``pooled`` / ``tokens`` for
``--model t2m_gpt``, which needs ``--vqvae``).  Existing run folders under ``--out`` are reused (delete one to
retrain it).  The protocol defaults to fixed-generations with one replication: a quick comparison, not the paper's
table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "mdm": {"pooled": {"text_conditioning": "pooled"},
            "tokens-prefix": {"text_conditioning": "tokens", "text_attention": "prefix"},
            "tokens-cross": {"text_conditioning": "tokens", "text_attention": "cross"}},
    "t2m_gpt": {"pooled": {"text_conditioning": "pooled"}, "tokens": {"text_conditioning": "tokens"}},
}


def train_variant(model: str, variant: str, args, run: Path) -> float:
    from training.train import main as train_main

    argv = ["--model", model, "--config", str(ROOT / "training" / "configs" / f"{model}_small.json"),
            "--dataset", args.dataset, "--output_dir", str(run), "--max_train_steps", str(args.steps),
            "--validation_split", "", "--report_to", "none", "--checkpointing_steps", str(max(args.steps, 1)),
            "--mixed_precision", args.mixed_precision]
    if model == "t2m_gpt":
        argv += ["--vqvae", args.vqvae]
    for key, value in VARIANTS[model][variant].items():
        argv += ["--set", f"model_config.{key}={value}"]
    if args.learning_rate:
        argv += ["--learning_rate", str(args.learning_rate)]
    start = time.perf_counter()
    train_main(argv)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(VARIANTS), default="mdm")
    parser.add_argument("--variant", action="append", default=None, help="variants to compare (default: all)")
    parser.add_argument("--dataset", default="express4d")
    parser.add_argument("--evaluator", required=True, help="an evaluator folder (e.g. runs/evaluator)")
    parser.add_argument("--vqvae", default=None, help="t2m_gpt: the VQ-VAE run")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--learning_rate", type=float, default=None)
    parser.add_argument("--mixed_precision", default="bf16")
    parser.add_argument("--protocol", default="fixed-generations", choices=["paper", "fixed-generations"])
    parser.add_argument("--replications", type=int, default=1)
    parser.add_argument("--num_inference_steps", type=int, default=20)
    parser.add_argument("--out", default="runs/ablation")
    args = parser.parse_args(argv)
    if args.model == "t2m_gpt" and not args.vqvae:
        parser.error("--model t2m_gpt needs --vqvae RUN")

    from pipelines.evaluation.benchmark import run_benchmark

    variants = args.variant or list(VARIANTS[args.model])
    out = Path(args.out)
    runs, train_s = [], {}
    for variant in variants:
        if variant not in VARIANTS[args.model]:
            parser.error(f"--variant {variant}: choose from {', '.join(VARIANTS[args.model])}")
        run = out / f"{args.model}-{variant}"
        if not (run / "model_index.json").is_file():
            train_s[variant] = train_variant(args.model, variant, args, run)
        runs.append(run)
    if args.model == "mdm":
        import diffusers

        from pipelines.auto_pipeline import load_motion_pipeline

        pipes = []
        for run in runs:  # sample with DPM-Solver++ as the bundled model does
            pipe = load_motion_pipeline(str(run))
            pipe.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
            pipes.append(pipe)
    else:
        pipes = [str(r) for r in runs]
    result = run_benchmark(
        pipes, evaluator=args.evaluator, dataset=args.dataset, protocol=args.protocol, replications=args.replications,
        num_inference_steps=args.num_inference_steps if args.model == "mdm" else None, model_names=variants,
        out_dir=out / "benchmark", run_info={"command": " ".join(["python", "benchmarks/text_conditioning.py", *(argv or sys.argv[1:])])},
    )
    print(f"{args.model}: {args.steps} training steps per variant ({', '.join(f'{k} {v / 60:.0f} min' for k, v in train_s.items()) or 'reused runs'})")
    print(result.to_markdown())
    print(f"\n{result.caption()}")
    (out / "ablation.json").write_text(json.dumps({"variants": variants, "steps": args.steps, "train_s": train_s,
                                                   **result.to_dict()}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
