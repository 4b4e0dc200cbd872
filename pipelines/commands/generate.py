"""``express4d generate``: prompts -> Live Link Face CSVs (60 fps), previews and optional GLBs.

The path from the command to the CSV: :func:`run` -> :func:`load_generator` (the bundled MDM as
``LightMDMSampler``, the same motions without diffusers' import; else :func:`pipelines.auto_pipeline.load_motion_pipeline`,
the explicit class map) -> its ``__call__`` -> ``save_livelink_csv``.
"""

from __future__ import annotations

from pathlib import Path

from .arguments import add_preview_arguments, check_output_folder, check_size, set_torch_threads_for_load

MAX_SEED = 2**63 - 1
MAX_SECONDS = 9.8
"""The longest motion the command asks for: 196 frames at 20 fps, the benchmark's (and the bundled models') longest."""
MIN_SECONDS = 0.05
"""One frame at 20 fps."""
MAX_MOTIONS = 1000
"""Motions one run makes (prompts x --num); they are generated and written in batches of :data:`BATCH_MOTIONS`."""
BATCH_MOTIONS = 16
MAX_STEPS = 1000
OUTPUT_SUFFIXES = (".csv", ".glb", ".gif", ".mp4", ".png")
PREVIEW_FPS = 15.0
"""Frame rate of the GIF previews ``generate`` writes: half the frames of ``express4d render``'s 30 fps, so half
the drawing time (the GIF was most of the command's wall time after the imports); render the CSV for 30 fps."""


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
    gen.add_argument("--num", type=int, default=1, help=f"motions per prompt (default 1; at most {MAX_MOTIONS} motions a run)")
    gen.add_argument("--steps", type=int, default=None,
                     help="denoising steps (MDM only; default: the model's default_num_inference_steps, else 20, for dpm++ and ddim; 1000 for ddpm)")
    gen.add_argument("--sampler", choices=["dpm++", "ddim", "ddpm"], default=None,
                     help="diffusion sampler (MDM only; default: the model's own, dpm++ for the bundled MDM)")
    gen.add_argument("--guidance", type=float, default=None,
                     help="classifier-free guidance scale (MDM only; default: the model's default_guidance_scale, the "
                     "paper's 2.5 unless the model sets another)")
    gen.add_argument("--guidance-rescale", type=float, default=None,
                     help="0-1: pull the guided prediction's spread back to the conditional one's, which softens "
                     "switches (MDM only; default: the model's default_guidance_rescale)")
    gen.add_argument("--lid-guidance", type=float, default=None,
                     help="guidance scale of the lids (EyeBlinkLeft/Right) alone: lower than --guidance keeps lids open "
                     "that a high scale half-closes (MDM only; default: the model's default_lid_guidance_scale, else "
                     "--guidance)")
    gen.add_argument("--prompt-stages", choices=["auto", "off"], default=None,
                     help="auto: a prompt written as stages (\"X, then Y, and finally Z\") is generated one stage after the "
                     "other; off: the whole prompt drives the whole clip (MDM only; default: the model's, auto for the "
                     "bundled MDM)")
    gen.add_argument("--seed", type=int, default=0, help="seed; motion k uses seed + k (default 0)")
    gen.add_argument("--out", default="express4d_out", help="output folder (default: express4d_out); earlier files in "
                     "it are kept: new ones take the next free numbers")
    gen.add_argument("--overwrite", action="store_true", help="number the new files from 000 again, replacing earlier ones")
    gen.add_argument("--size", type=int, default=256, help=f"preview size in pixels (default 256; the GIF plays at "
                     f"{PREVIEW_FPS:g} fps: `express4d render` the CSV for 30)")
    gen.add_argument("--no-mp4", action="store_true", help="skip the MP4 preview even when ffmpeg is available")
    add_preview_arguments(gen)
    gen.add_argument("--glb", action="store_true",
                     help="also write a GLB per motion: the 3D head, ARKit-named morph targets, the animation (three.js, Blender)")
    gen.set_defaults(func=run)


def check_arguments(args) -> list[str]:
    """Every argument that can be checked without the model, before it loads; returns the prompts."""
    import math

    prompts = [p for p in args.prompts if p.strip()]
    if args.prompts_file:
        prompts += read_prompts_file(args.prompts_file)
    if not prompts:
        raise ValueError('give at least one PROMPT (e.g. "A person is smiling softly") or --prompts-file FILE')
    if args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    if len(prompts) * args.num > MAX_MOTIONS:
        raise ValueError(f"--num {args.num} x {len(prompts)} prompt(s) = {len(prompts) * args.num:,} motions; one run makes "
                         f"at most {MAX_MOTIONS:,}: split it into several runs")
    if not 0 <= args.seed <= MAX_SEED - len(prompts) * args.num:
        raise ValueError(f"--seed must be between 0 and 2**63 - 1 (minus the number of motions), got {args.seed}")
    if not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ValueError(f"--seconds must be positive, got {args.seconds}")
    if not MIN_SECONDS <= args.seconds <= MAX_SECONDS:
        raise ValueError(f"--seconds must be between {MIN_SECONDS:g} (one frame at 20 fps) and {MAX_SECONDS:g} (196 frames), "
                         f"got {args.seconds:g}")
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise ValueError(f"--steps must be between 1 and {MAX_STEPS}, got {args.steps}")
    if args.guidance is not None:
        from pipelines.mdm.pipeline_mdm import Express4DPipeline

        Express4DPipeline.check_guidance_scale(args.guidance, "--guidance")
    if args.guidance_rescale is not None:
        from pipelines.mdm.guidance import check_guidance_rescale

        check_guidance_rescale(args.guidance_rescale, "--guidance-rescale")
    if args.lid_guidance is not None:
        from pipelines.mdm.guidance import check_lid_guidance_scale

        check_lid_guidance_scale(args.lid_guidance, "--lid-guidance")
    check_size(args.size)
    if args.preview == "3d":
        from pipelines.preview.head3d import camera_yaw

        try:
            camera_yaw(args.camera)
        except ValueError as e:
            raise ValueError(f"--camera: {e}") from None
    out = Path(args.out)
    if out.suffix.lower() in OUTPUT_SUFFIXES and not out.is_dir():
        raise ValueError(f"--out {out}: names a {out.suffix} file, but --out is a folder (the files are numbered in it, "
                         f"000_<prompt>.csv, ...); pass a folder, e.g. --out {out.with_suffix('')}")
    return prompts


def load_generator(model: str, sampler: str | None = None):
    """The bundled MDM as :class:`~pipelines.mdm.light_sampler.LightMDMSampler` (the same motions as its pipeline,
    without importing diffusers or transformers: ~4 s less cold start) when it computes what was asked; any other
    model or sampler through :func:`~pipelines.auto_pipeline.load_motion_pipeline`."""
    from pipelines.auto_pipeline import is_bundled_path, load_motion_pipeline

    if is_bundled_path(model) and sampler in (None, "dpm++"):
        from pipelines.mdm.light_sampler import LightMDMSampler

        if LightMDMSampler.refusal(model) is None:
            return LightMDMSampler(model)
    return load_motion_pipeline(model)


def run(args) -> int:
    from pipelines.auto_pipeline import resolve_model_path

    prompts = check_arguments(args)
    out_dir = check_output_folder(args.out)
    model = resolve_model_path(args.model, "--model")

    import torch

    from pipelines.pipeline_output import next_free_index
    from pipelines.preview import export_csv, render_motion

    set_torch_threads_for_load()
    pipe = load_generator(model, args.sampler)
    options = {"--sampler": ("set_sampler", args.sampler), "--steps": ("num_inference_steps", args.steps),
               "--guidance": ("guidance_scale", args.guidance),
               "--guidance-rescale": ("guidance_rescale", args.guidance_rescale),
               "--lid-guidance": ("lid_guidance_scale", args.lid_guidance),
               "--prompt-stages": ("prompt_stages", args.prompt_stages)}
    for flag, (feature, value) in options.items():
        if value is not None and feature not in pipe.supports:
            raise ValueError(f"{flag}: {pipe.describe()} has no {feature.replace('set_', '')} (only MDM models do); leave it out")
    if args.sampler is not None:
        pipe.set_sampler(args.sampler)
    # one (prompt, seed) per motion, generated and written in batches: memory stays flat however many are asked for
    requests = [(p, args.seed + k) for k, p in enumerate(p for p in prompts for _ in range(args.num))]
    number = 0 if args.overwrite else next_free_index(out_dir)
    extras = {k: v for k, v in (("guidance_rescale", args.guidance_rescale), ("prompt_stages", args.prompt_stages),
                                ("lid_guidance_scale", args.lid_guidance)) if v is not None}
    for first in range(0, len(requests), BATCH_MOTIONS):
        batch = requests[first : first + BATCH_MOTIONS]
        out = pipe(
            [p for p, _ in batch], seconds=args.seconds, num_inference_steps=args.steps, guidance_scale=args.guidance,
            generator=[torch.Generator().manual_seed(seed) for _, seed in batch], output_fps=60, output_type="np",
            **extras,
        )
        paths = out.save_livelink_csv(out_dir, overwrite=args.overwrite, start=number)
        number += len(paths)
        for csv_path, caption, motion in zip(paths, out.captions, out.motions):
            # the previews from the motion in memory: reading the CSV back would cost pyarrow's and pandas' imports
            files = render_motion(motion, out.fps, out_dir, Path(csv_path).stem, size=args.size, mp4=not args.no_mp4,
                                  preview=args.preview, camera=args.camera, overwrite=args.overwrite,
                                  title=f"{Path(csv_path).name} ({out.fps:g} fps)", max_preview_fps=PREVIEW_FPS)
            if args.glb:
                files["glb"] = export_csv(csv_path, out_dir=out_dir, format="glb", overwrite=args.overwrite)
            print(f"{caption!r}")
            print(f"  animation (Live Link Face CSV, 60 fps): {csv_path}")
            for kind in ("gif", "mp4", "png", "glb"):
                if kind in files:
                    label = {"gif": "preview GIF", "mp4": "preview MP4", "png": "channel curves",
                             "glb": "3D animation (GLB)"}[kind]  # fmt: skip
                    print(f"  {label}: {files[kind]}")
    return 0


__all__ = ["BATCH_MOTIONS", "MAX_MOTIONS", "MAX_SECONDS", "MAX_SEED", "MAX_STEPS", "MIN_SECONDS", "PREVIEW_FPS", "add_parser",
           "check_arguments", "load_generator", "read_prompts_file", "run"]
