"""``express4d evaluate``: the benchmark table of pipelines on the test split (:mod:`pipelines.evaluation`)."""

from __future__ import annotations

import shlex
from pathlib import Path

from .arguments import check_output_folder


def add_parser(sub) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="benchmark pipelines on the test split (R-precision, FID, MM-Dist, Diversity, MultiModality)",
        description="Generate for every test caption with each --model, embed with --evaluator, and print one table "
        "(Real motion + each model; mean ± 95%% interval over --replications), also written as JSON and Markdown.",
    )
    ev.add_argument("--model", action="append", default=[], metavar="PATH_OR_ID",
                    help="mdm | t2m_gpt (bundled defaults) or a saved Express4DPipeline / T2MGPTPipeline folder or Hub id "
                    "(repeatable; none: score the real motions only)")
    ev.add_argument("--name", action="append", default=None, metavar="NAME", help="table row name of each --model, in order")
    ev.add_argument("--evaluator", default="evaluator", metavar="PATH_OR_ID",
                    help="Express4DEvaluator folder or Hub id (default: the bundled evaluator, trained on the stand-in corpus)")
    ev.add_argument("--dataset", default="express4d", help="dataset folder or Hub id (default: express4d)")
    ev.add_argument("--dataset-config", default=None, help="dataset config (default: the dataset's default, fps20)")
    ev.add_argument("--split", default="test", help="split to evaluate on (default: test)")
    ev.add_argument("--protocol", choices=["paper", "fixed-generations"], default="paper",
                    help="paper (default): the Express4D paper's protocol exactly (whole batches of 32, an independent "
                    "ground-truth pass, motions regenerated in every replication): comparable with its table; "
                    "fixed-generations: one generation per caption reused by every replication (cheaper; not comparable)")
    ev.add_argument("--replications", type=int, default=20, help="replications (default 20, as the paper's main table)")
    ev.add_argument("--multimodality", action="store_true",
                    help="also measure MultiModality (paper: 128 captions x --mm-repeats generations in each replication)")
    ev.add_argument("--mm-texts", type=int, default=100, help="captions asked for MultiModality (default 100; the paper "
                    "protocol rounds up to whole batches: 128)")
    ev.add_argument("--mm-repeats", type=int, default=30, help="generations per MultiModality caption (default 30)")
    ev.add_argument("--mm-replications", type=int, default=None,
                    help="paper protocol: MultiModality in the first N replications only (default: all, as the paper)")
    ev.add_argument("--steps", type=int, default=None, help="sampling steps of diffusion pipelines (default: the pipeline's)")
    ev.add_argument("--guidance", type=float, default=None,
                    help="classifier-free guidance scale of MDM models (default: each model's default_guidance_scale, the "
                    "paper's 2.5 unless the model sets another; the bundled MDM's was chosen on the validation split); "
                    "models without guidance (T2M-GPT) generate as usual")
    ev.add_argument("--guidance-rescale", type=float, default=None,
                    help="guidance rescale of MDM models, 0-1 (default: each model's default_guidance_rescale)")
    ev.add_argument("--lid-guidance", type=float, default=None,
                    help="guidance scale of the lids (EyeBlinkLeft/Right) alone in MDM models (default: each model's "
                    "default_lid_guidance_scale, else --guidance)")
    ev.add_argument("--prompt-stages", choices=["auto", "off"], default=None,
                    help="MDM models: auto generates a prompt written as stages (\"X, then Y\") one stage after the other, "
                    "off generates every caption whole (default: each model's default_prompt_stages)")
    ev.add_argument("--seed", type=int, default=0, help="seed of generation and metric draws (default 0)")
    ev.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: the models generate in bfloat16, about 2x faster on a CPU with native bfloat16 "
                    "(avx512_bf16 or amx_bf16 in lscpu), several times slower on one without (default fp32)")
    ev.add_argument("--batch-size", type=int, default=64,
                    help="motions per generation batch (default 64; results do not depend on it)")
    ev.add_argument("--max-captions", type=int, default=None, help="use at most this many captions per test motion")
    ev.add_argument("--limit", type=int, default=None, help="use only the first N test motions (quick checks)")
    ev.add_argument("--device", default=None, help="torch device, e.g. cuda (default: cpu)")
    ev.add_argument("--out", default=None, metavar="DIR",
                    help="write results.json / results.md here; generations are cached here so a rerun resumes")
    ev.set_defaults(func=run)


def run(args) -> int:
    from pipelines.auto_pipeline import resolve_model_path

    if args.out:
        check_output_folder(args.out)
    if args.guidance_rescale is not None:
        from pipelines.mdm.guidance import check_guidance_rescale

        check_guidance_rescale(args.guidance_rescale, "--guidance-rescale")
    if args.lid_guidance is not None:
        from pipelines.mdm.guidance import check_lid_guidance_scale

        check_lid_guidance_scale(args.lid_guidance, "--lid-guidance")
    if args.name and len(args.name) != len(args.model):
        raise ValueError(f"--name: give one name per --model ({len(args.model)} models, {len(args.name)} names)")
    models = [resolve_model_path(m, "--model") for m in args.model]
    evaluator = resolve_model_path(args.evaluator, "--evaluator", bundled=("evaluator",))
    run_info = {
        "command": shlex.join(["express4d", *args.argv]),  # bundled models by name, not by this machine's path
        "models": [f"{m} (bundled with express4d)" if used != m else m for m, used in zip(args.model, models)],
    }
    if evaluator != args.evaluator:
        run_info["evaluator"] = f"{args.evaluator} (bundled with express4d)"
    from pipelines.evaluation.benchmark import run_benchmark

    result = run_benchmark(
        models, evaluator=evaluator, dataset=args.dataset, split=args.split, dataset_config=args.dataset_config,
        protocol=args.protocol, replications=args.replications, multimodality=args.multimodality, mm_texts=args.mm_texts,
        mm_repeats=args.mm_repeats, mm_replications=args.mm_replications, num_inference_steps=args.steps,
        guidance_scale=args.guidance, guidance_rescale=args.guidance_rescale, prompt_stages=args.prompt_stages, seed=args.seed,
        lid_guidance_scale=args.lid_guidance,
        batch_size=args.batch_size,
        out_dir=args.out, model_names=args.name, max_captions_per_item=args.max_captions, limit=args.limit,
        device=args.device, run_info=run_info, precision=args.precision,
    )
    print(result.to_markdown())
    print(f"\n{result.caption()} {result.timings['total']:.1f} s.")
    # result.warnings were already shown through logging (the CLI shows WARNING and above)
    if args.out:
        out = Path(args.out)
        print(f"Wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0
