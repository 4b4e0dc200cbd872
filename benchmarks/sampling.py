"""Sampling speed of Express4DPipeline per scheduler on the CPU.

For the MDM ``small`` preset (random weights: speed does not depend on training) and 196-frame
motions, prints seconds per batch (median of repeats) for DDPM-1000 (the paper's sampler),
DDIM-50, DPM-Solver++-20 and -10, the speed-up over DDPM-1000 and the real-time factor
(seconds of 20 fps motion generated per wall-clock second), with classifier-free guidance on
(scale 2.5, cond + uncond in one batched forward) and the default text encoder.  Also times the
issue's goal case: one prompt, a 6-second clip, DPM-Solver++ with 20 steps. The T2M-GPT rows
(small presets, KV cache on and off) come from ``benchmarks/sampling_t2m_gpt.py``.

DDPM-1000 at batch sizes above ``--ddpm-full-max-batch`` is timed over ``--ddpm-probe-steps``
DDPM steps and extrapolated linearly to 1000 (every DDPM step costs the same); such rows are
marked ``*``.

    python benchmarks/sampling.py                 # full table (several minutes on 2 cores)
    python benchmarks/sampling.py --quick         # batch 1 only, DDPM extrapolated (~15 s)
    python benchmarks/sampling.py --threads 1     # pin intra-op threads (helps on a busy machine)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

SAMPLERS = [("DDPM", 1000), ("DDIM", 50), ("DPM-Solver++", 20), ("DPM-Solver++", 10)]


def build_pipeline(preset: str, seed: int = 0):
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    from express4d_dataset.motion import MotionStats
    from pipelines.mdm.pipeline_mdm import Express4DPipeline

    torch.manual_seed(seed)
    stats = MotionStats(mean=np.zeros(61), std=np.ones(61))
    pipe = Express4DPipeline.from_denoiser_config(stats, preset=preset)
    pipe.set_progress_bar_config(disable=True)
    base = dict(pipe.scheduler.config)
    schedulers = {
        "DDPM": DDPMScheduler.from_config(base),
        "DDIM": DDIMScheduler.from_config(base),
        "DPM-Solver++": DPMSolverMultistepScheduler.from_config(base, algorithm_type="dpmsolver++", solver_order=2),
    }
    return pipe, schedulers


def time_call(pipe, batch: int, num_frames: int, steps: int, repeats: int) -> list[float]:
    prompts = ["A person is smiling softly"] * batch
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        pipe(prompts, num_frames=num_frames, num_inference_steps=steps, guidance_scale=2.5,
             generator=torch.Generator().manual_seed(r))
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # keep the table free of cast notices
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", choices=["small", "paper"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--num-frames", type=int, default=196)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median reported)")
    parser.add_argument("--ddpm-repeats", type=int, default=1, help="timed runs for DDPM-1000")
    parser.add_argument("--ddpm-full-max-batch", type=int, default=1, help="largest batch run for all 1000 DDPM steps")
    parser.add_argument("--ddpm-probe-steps", type=int, default=20, help="DDPM steps timed when extrapolating")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="batch 1, one repeat, DDPM-1000 extrapolated")
    parser.add_argument("--no-t2m-gpt", action="store_true", help="skip the T2M-GPT rows (benchmarks/sampling_t2m_gpt.py)")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.repeats, args.ddpm_repeats, args.ddpm_full_max_batch = [1], 1, 1, 0
    if args.threads:
        torch.set_num_threads(args.threads)

    pipe, schedulers = build_pipeline(args.preset)
    fps = pipe.fps
    params = sum(p.numel() for p in pipe.denoiser.parameters())
    print(f"# Express4DPipeline sampling speed ({args.preset} preset, {params / 1e6:.1f}M parameters, CPU)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"{args.num_frames} frames = {args.num_frames / fps:.1f} s at {fps:g} fps; guidance 2.5 (batched cond+uncond); "
          "text encoder all-MiniLM-L6-v2")
    pipe.scheduler = schedulers["DPM-Solver++"]
    pipe("warm-up", num_frames=args.num_frames, num_inference_steps=2)  # loads the text encoder, warms kernels

    print()
    print("| batch | sampler | steps | s / batch (median) | runs | speed-up vs DDPM-1000 | real-time factor |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for batch in args.batch_sizes:
        rows, ddpm_seconds = [], None
        for name, steps in SAMPLERS:
            pipe.scheduler = schedulers[name]
            note = ""
            if name == "DDPM" and batch > args.ddpm_full_max_batch:
                probe = min(args.ddpm_probe_steps, steps)
                times = [t * steps / probe for t in time_call(pipe, batch, args.num_frames, probe, args.ddpm_repeats)]
                note = "*"
            else:
                times = time_call(pipe, batch, args.num_frames, steps, args.ddpm_repeats if name == "DDPM" else args.repeats)
            seconds = statistics.median(times)
            if name == "DDPM":
                ddpm_seconds = seconds
            realtime = batch * args.num_frames / fps / seconds
            rows.append(f"| {batch} | {name} | {steps} | {seconds:.2f}{note} | {len(times)} | "
                        f"{ddpm_seconds / seconds:.1f}x | {realtime:.2f} |")
            print(rows[-1], flush=True)

    if not args.no_t2m_gpt:
        # The VQ baseline beside the diffusion rows (small presets, KV cache, exactly num_frames / 4 codes).
        from sampling_t2m_gpt import benchmark_t2m_gpt

        for row in benchmark_t2m_gpt(args.batch_sizes, args.num_frames, repeats=args.repeats, preset="small"):
            steps = f"{args.num_frames // 4} codes"
            print(f"| {row['batch']} | {row['name']} | {steps} | {row['seconds']:.2f} | {row['runs']} | — | "
                  f"{row['realtime_factor']:.2f} |", flush=True)

    pipe.scheduler = schedulers["DPM-Solver++"]
    clip_frames = int(round(6 * fps))
    print()
    for dtype in (torch.float32, torch.bfloat16):
        pipe.denoiser.to(dtype)  # latents and scheduler maths stay float32 inside the pipeline
        time_call(pipe, 1, clip_frames, 2, 1)  # warm-up for this dtype
        times = time_call(pipe, 1, clip_frames, 20, max(args.repeats, 3))
        print(f"Goal case: 1 prompt, 6 s clip ({clip_frames} frames), DPM-Solver++ 20 steps, guidance 2.5, denoiser "
              f"{str(dtype).replace('torch.', '')}: {statistics.median(times):.3f} s (median of {len(times)}; goal < 1 s)")
    pipe.denoiser.to(torch.float32)
    if any(b > args.ddpm_full_max_batch for b in args.batch_sizes):
        print(f"* DDPM-1000 timed over {args.ddpm_probe_steps} DDPM steps and scaled to 1000 (constant cost per step).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
