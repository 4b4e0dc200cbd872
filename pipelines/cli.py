"""The ``express4d`` command line: ``express4d data|generate|evaluate|render|export|demo ...``.

Each subcommand registers itself through an ``_add_<name>_command(subparsers)`` function and
imports its heavy dependencies only when it runs, so ``express4d --help`` stays instant.
The CLI prints; library code logs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

MAX_PREVIEW_SIZE = 2048
"""Largest --size of a preview (pixels): beyond it a GIF of a long take no longer fits in memory."""
MAX_SEED = 2**63 - 1


def check_output_folder(path, option: str = "--out") -> Path:
    """``path`` as a folder this command can write into (created if needed); raises naming the option otherwise.
    Checked before any heavy work, so a typo never costs a generation."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{option} {out}: a file, not a folder; pass a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".express4d-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"{option} {out}: cannot write there ({e.strerror or e}); choose another folder") from None
    return out


def check_size(size: int) -> int:
    if not 32 <= size <= MAX_PREVIEW_SIZE:
        raise ValueError(f"--size must be between 32 and {MAX_PREVIEW_SIZE} pixels, got {size}")
    return size


def read_prompts_file(path) -> list[str]:
    """One prompt per line of a UTF-8 text file (a BOM is dropped; blank lines and lines starting with # skipped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--prompts-file {path} not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"--prompts-file {path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                         "pass a text file with one prompt per line") from None
    if "\x00" in text:
        raise ValueError(f"--prompts-file {path}: binary data, not a text file with one prompt per line")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="build, synthesise and publish the Express4D corpus")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    synth = data_sub.add_parser("synth", help="write the procedural stand-in corpus in the raw Express4D layout")
    synth.add_argument("--out", required=True, help="output folder (data/, texts/, train.txt, val.txt, test.txt)")
    synth.add_argument("--num-sequences", type=int, default=1200, help="number of takes (default 1200)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--test-fraction", type=float, default=0.2, help="share of ids in test.txt (default 0.2)")
    synth.add_argument("--validation-fraction", type=float, default=0.2,
                       help="extra takes for val.txt, drawn like the test ones, as a share of --num-sequences "
                       "(default 0.2; 0: no validation split); train.txt and test.txt do not depend on it")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    synth.set_defaults(func=_run_data_synth)

    build = data_sub.add_parser("build", help="convert a raw corpus into a Parquet dataset with a dataset card")
    build.add_argument("--raw", required=True, help="raw corpus folder (data/, texts/, train.txt, test.txt)")
    build.add_argument("--out", required=True, help="output dataset folder, loadable with datasets.load_dataset(OUT)")
    build.add_argument(
        "--config", action="append", choices=["fps20", "raw"], default=None,
        help="configs to export (repeatable; default: both, fps20 is the default config)",
    )
    build.add_argument("--strict", action="store_true", help="fail on any validation finding instead of reporting it")
    _add_untracked_arguments(build)
    build.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    build.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="also upload the folder as a dataset repo")
    build.add_argument("--private", action="store_true", help="with --push-to-hub: create a private repo")
    build.set_defaults(func=_run_data_build)


def _add_untracked_arguments(parser) -> None:
    """--untracked / --max-untracked-gap: the lost-tracking policy of every Live Link Face read."""
    parser.add_argument(
        "--untracked", choices=["interpolate", "split", "error"], default="interpolate",
        help="what to do with lost-tracking rows (BlendShapeCount 0, no values): interpolate gaps up to "
        "--max-untracked-gap seconds, a take with a longer gap is an error (data build: excluded, the reason in "
        "validation.json) (default); split: keep the longest segment between longer gaps; error: refuse any such row",
    )
    parser.add_argument(
        "--max-untracked-gap", type=float, default=0.5, metavar="SECONDS",
        help="longest run of lost-tracking rows that is interpolated, in seconds (default 0.5)",
    )


def _run_data_synth(args) -> int:
    from express4d_dataset.synthetic import write_synthetic_corpus

    summary = write_synthetic_corpus(
        args.out, num_sequences=args.num_sequences, seed=args.seed, test_fraction=args.test_fraction,
        validation_fraction=args.validation_fraction, overwrite=args.overwrite, progress=True,
    )
    print(summary)
    return 0


def _run_data_build(args) -> int:
    from express4d_dataset.hub import export_dataset, push_dataset_to_hub

    report = export_dataset(
        args.raw, args.out, configs=args.config or ["fps20", "raw"], strict=args.strict, overwrite=args.overwrite,
        progress=True, untracked=args.untracked, max_untracked_gap=args.max_untracked_gap,
    )
    print(report)
    if args.push_to_hub:
        try:
            url = push_dataset_to_hub(args.out, args.push_to_hub, private=args.private)
        except OSError as e:  # offline, no token, no such repo (the Hub client's errors are OSErrors)
            raise ValueError(f"--push-to-hub {args.push_to_hub}: upload failed ({type(e).__name__}: {str(e)[:200]}); "
                             f"the dataset is built in {args.out}: retry when online and logged in (hf auth login)") from None
        print(f"Uploaded to {url}")
    return 0


def _add_evaluate_command(sub) -> None:
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
    ev.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from pipelines.loading import resolve_model_path

    if args.out:
        check_output_folder(args.out)
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
    from pipelines.benchmark import run_benchmark

    result = run_benchmark(
        models, evaluator=evaluator, dataset=args.dataset, split=args.split, dataset_config=args.dataset_config,
        protocol=args.protocol, replications=args.replications, multimodality=args.multimodality, mm_texts=args.mm_texts,
        mm_repeats=args.mm_repeats, mm_replications=args.mm_replications, num_inference_steps=args.steps,
        guidance_scale=args.guidance, seed=args.seed, batch_size=args.batch_size,
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


def _add_render_command(sub) -> None:
    render = sub.add_parser(
        "render",
        help="draw a preview (GIF, MP4 when ffmpeg exists, channel-curve PNG) of Live Link Face CSVs",
        description="Draw the 61 channels of each Live Link Face CSV on the 3D head (or, with --preview 2d, a "
        "procedural 2D face): <stem>.gif (at most 30 fps), <stem>.mp4 (when ffmpeg is on PATH) and <stem>_curves.png.",
    )
    render.add_argument("files", nargs="+", metavar="FILE.csv", help="Live Link Face CSV take(s)")
    render.add_argument("--out", default=None, help="output folder (default: beside each CSV)")
    render.add_argument("--size", type=int, default=256, help="preview width and height in pixels (default 256)")
    render.add_argument("--no-mp4", action="store_true", help="do not write an MP4 even when ffmpeg is available")
    _add_preview_arguments(render)
    _add_untracked_arguments(render)
    render.set_defaults(func=_run_render)


def _add_preview_arguments(parser) -> None:
    """--preview / --camera: what the preview draws and from where."""
    parser.add_argument("--preview", choices=["3d", "2d"], default="3d",
                        help="3d: the ICT-FaceKit head, shaded (default); 2d: the procedural face")
    parser.add_argument("--camera", default="three-quarter", metavar="VIEW",
                        help="3D preview camera: front | three-quarter | side | a yaw in degrees (default: three-quarter, 30; "
                        "positive shows the face turned toward the image left, as a positive HeadYaw)")


def _run_render(args) -> int:
    from pipelines.preview import ffmpeg_available, render_csv

    check_size(args.size)
    for path in args.files:
        if Path(path).is_dir():
            raise ValueError(f"{path} is a folder; pass the CSV files in it (e.g. {Path(path) / '*.csv'})")
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} not found")
    if args.out:
        check_output_folder(args.out)
    if not args.no_mp4 and not ffmpeg_available():
        print("ffmpeg not found on PATH: writing GIF previews only (install ffmpeg for MP4)")
    for path in args.files:
        written = render_csv(
            path, out_dir=args.out, size=args.size, mp4=not args.no_mp4, untracked=args.untracked,
            max_untracked_gap=args.max_untracked_gap, preview=args.preview, camera=args.camera,
        )
        print(f"{path}:")
        for kind in ("gif", "mp4", "png"):
            if kind in written:
                print(f"  {kind:3s} {written[kind]}")
    return 0


def _add_generate_command(sub) -> None:
    gen = sub.add_parser(
        "generate",
        help="facial animation from text: Live Link Face CSV (60 fps), GIF (+ MP4) preview and curve plot per motion",
    )
    gen.add_argument("prompts", nargs="*", metavar="PROMPT", help='e.g. "A person is smiling softly and then raising their eyebrows"')
    gen.add_argument("--prompts-file", default=None, help="a text file with one prompt per line (added to PROMPTs)")
    gen.add_argument("--model", default="mdm", help="mdm | t2m_gpt (bundled defaults) or a pipeline folder / Hub id (default: mdm)")
    gen.add_argument("--seconds", type=float, default=6.0, help="length of each motion (default 6, at most 9.8)")
    gen.add_argument("--num", type=int, default=1, help="motions per prompt (default 1)")
    gen.add_argument("--steps", type=int, default=None,
                     help="denoising steps (MDM only; default: the sampler's, 20 for dpm++ and ddim, 1000 for ddpm)")
    gen.add_argument("--sampler", choices=["dpm++", "ddim", "ddpm"], default=None,
                     help="diffusion sampler (MDM only; default: the model's own, dpm++ for the bundled MDM)")
    gen.add_argument("--guidance", type=float, default=None,
                     help="classifier-free guidance scale (MDM only; default: the model's default_guidance_scale, the "
                     "paper's 2.5 unless the model sets another)")
    gen.add_argument("--seed", type=int, default=0, help="seed; motion k uses seed + k (default 0)")
    gen.add_argument("--out", default="express4d_out", help="output folder (default: express4d_out); earlier files in "
                     "it are kept: new ones take the next free numbers")
    gen.add_argument("--overwrite", action="store_true", help="number the new files from 000 again, replacing earlier ones")
    gen.add_argument("--size", type=int, default=256, help="preview size in pixels (default 256)")
    gen.add_argument("--no-mp4", action="store_true", help="skip the MP4 preview even when ffmpeg is available")
    _add_preview_arguments(gen)
    gen.add_argument("--glb", action="store_true",
                     help="also write a GLB per motion: the 3D head, ARKit-named morph targets, the animation (three.js, Blender)")
    gen.set_defaults(func=_run_generate)


def _run_generate(args) -> int:
    from pipelines.loading import resolve_model_path

    prompts = [p for p in args.prompts if p.strip()]
    if args.prompts_file:
        prompts += read_prompts_file(args.prompts_file)
    if not prompts:
        raise ValueError('give at least one PROMPT (e.g. "A person is smiling softly") or --prompts-file FILE')
    if args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    if not 0 <= args.seed <= MAX_SEED - len(prompts) * args.num:
        raise ValueError(f"--seed must be between 0 and 2**63 - 1 (minus the number of motions), got {args.seed}")
    if not args.seconds > 0:
        raise ValueError(f"--seconds must be positive, got {args.seconds}")
    check_size(args.size)
    out_dir = check_output_folder(args.out)
    model = resolve_model_path(args.model, "--model")

    import torch

    from pipelines.loading import load_motion_pipeline
    from pipelines.preview import export_csv, render_csv

    pipe = load_motion_pipeline(model)
    options = {"--sampler": ("set_sampler", args.sampler), "--steps": ("num_inference_steps", args.steps),
               "--guidance": ("guidance_scale", args.guidance)}
    for flag, (feature, value) in options.items():
        if value is not None and feature not in pipe.supports:
            raise ValueError(f"{flag}: {pipe.describe()} has no {feature.replace('set_', '')} (only MDM models do); leave it out")
    if args.sampler is not None:
        pipe.set_sampler(args.sampler)
    generators = [torch.Generator().manual_seed(args.seed + k) for k in range(len(prompts) * args.num)]
    out = pipe(
        prompts, seconds=args.seconds, num_inference_steps=args.steps, guidance_scale=args.guidance,
        num_motions_per_prompt=args.num, generator=generators, output_fps=60, output_type="np",
    )
    for csv_path, caption in zip(out.save_livelink_csv(out_dir, overwrite=args.overwrite), out.captions):
        files = render_csv(csv_path, out_dir=out_dir, size=args.size, mp4=not args.no_mp4, preview=args.preview,
                           camera=args.camera)  # fmt: skip
        if args.glb:
            files["glb"] = export_csv(csv_path, out_dir=out_dir, format="glb")
        print(f"{caption!r}")
        print(f"  animation (Live Link Face CSV, 60 fps): {csv_path}")
        for kind in ("gif", "mp4", "png", "glb"):
            if kind in files:
                label = {"gif": "preview GIF", "mp4": "preview MP4", "png": "channel curves",
                         "glb": "3D animation (GLB)"}[kind]  # fmt: skip
                print(f"  {label}: {files[kind]}")
    return 0


def _add_export_command(sub) -> None:
    ex = sub.add_parser(
        "export",
        help="convert Live Link Face CSVs to GLB: the 3D head with ARKit morph targets and the animation",
        description="Write <stem>.glb for each CSV: the ICT-FaceKit head, its morph targets named as ARKit's "
        "blendshapes (mesh.extras.targetNames), and the take as one animation (morph weights, head and eye "
        "rotations) at the CSV's row rate.  Opens in three.js, Blender and any glTF 2.0 viewer.",
    )
    ex.add_argument("files", nargs="+", metavar="FILE.csv", help="Live Link Face CSV take(s)")
    ex.add_argument("--format", choices=["glb"], default="glb", help="output format (default: glb)")
    ex.add_argument("--out", default=None, metavar="DIR", help="output folder (default: beside each CSV)")
    _add_untracked_arguments(ex)
    ex.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from pipelines.preview import export_csv

    for path in args.files:
        written = export_csv(path, out_dir=args.out, format=args.format, untracked=args.untracked,
                             max_untracked_gap=args.max_untracked_gap)  # fmt: skip
        print(f"{path}: {written} ({written.stat().st_size / 1e6:.2f} MB)")
    return 0


def _add_demo_command(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="start the browser demo (Gradio): prompt in, 3D preview, curves, interactive GLB and downloads out",
        description="Serve the Gradio app of pipelines/demo.py (the same app a Hugging Face Space runs from app.py). "
        "Needs the demo extra: pip install 'express4d[demo]'.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)")
    demo.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    demo.add_argument("--model", default="mdm", help="the model chosen when the page opens: mdm | t2m_gpt | a folder (default: mdm)")
    demo.add_argument("--out", default=None, metavar="DIR", help="where generated files go (default: a temporary folder)")
    demo.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from pipelines.demo import launch

    try:
        launch(host=args.host, port=args.port, default_model=args.model, out_dir=args.out)
    except ImportError as e:  # no gradio: say how to get it
        raise ValueError(str(e)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="express4d", description="Text-to-facial-motion on the Express4D corpus.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library log messages")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_generate_command(sub)
    _add_evaluate_command(sub)
    _add_render_command(sub)
    _add_export_command(sub)
    _add_demo_command(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError) as e:  # missing or unwritable files, bad values: a message, not a traceback
        print(f"express4d {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
