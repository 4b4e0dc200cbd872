"""``express4d generate``: prompts -> Live Link Face CSVs (60 fps), previews and optional GLBs.

The path from the command to the CSV: :func:`run` -> :func:`pipelines.auto_pipeline.load_motion_pipeline`
(the explicit class map) -> the pipeline's ``__call__`` -> ``Express4DPipelineOutput.save_livelink_csv``.
"""

from __future__ import annotations

from pathlib import Path

from .arguments import add_preview_arguments, check_output_folder, check_size

MAX_SEED = 2**63 - 1


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


def add_parser(sub) -> None:
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
    add_preview_arguments(gen)
    gen.add_argument("--glb", action="store_true",
                     help="also write a GLB per motion: the 3D head, ARKit-named morph targets, the animation (three.js, Blender)")
    gen.set_defaults(func=run)


def run(args) -> int:
    from pipelines.auto_pipeline import resolve_model_path

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

    from pipelines.auto_pipeline import load_motion_pipeline
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


__all__ = ["MAX_SEED", "add_parser", "read_prompts_file", "run"]
