"""Sampling speed of T2MGPTPipeline (T2M-GPT prior + VQ-VAE decoder) on the CPU.

For the ``small`` presets (random weights: speed does not depend on training) and 196-frame
motions (exactly 49 codes, length-constrained so every run does the same work), prints seconds
per batch (median of repeats) with the key/value cache, and without it for comparison, plus the
real-time factor (seconds of 20 fps motion generated per wall-clock second).  The text encoder
is the default all-MiniLM-L6-v2, as in the diffusion rows of ``benchmarks/sampling.py``.

    python benchmarks/sampling_t2m_gpt.py                # batch 1 and 32
    python benchmarks/sampling_t2m_gpt.py --threads 1    # pin intra-op threads (helps on a busy machine)
    python benchmarks/sampling_t2m_gpt.py --preset t2m_gpt --batch-sizes 1
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch


def build_pipeline(preset: str = "small", seed: int = 0):
    """A T2MGPTPipeline with randomly initialised VQ-VAE and prior of ``preset`` (codebook initialised)."""
    from express4d_dataset.motion import MotionStats
    from pipelines import Express4DVQVAE, T2MGPTModel
    from pipelines.t2m_gpt.pipeline_t2m_gpt import T2MGPTPipeline

    torch.manual_seed(seed)
    stats = MotionStats(mean=np.zeros(61), std=np.ones(61))
    vqvae = Express4DVQVAE.from_preset(preset, stats=stats)
    vqvae.train()
    with torch.no_grad():  # initialise the codebook from one random batch
        vqvae(torch.randn(4, 64, 61), generator=torch.Generator().manual_seed(seed))
    vqvae.eval()
    prior = T2MGPTModel.from_preset(preset, num_codes=vqvae.config.codebook_size).eval()
    pipe = T2MGPTPipeline(vqvae=vqvae, prior=prior)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _time(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def benchmark_t2m_gpt(batch_sizes=(1, 32), num_frames: int = 196, repeats: int = 3, preset: str = "small",
                      include_no_cache: bool = True) -> list[dict]:
    """Time ``T2MGPTPipeline`` end to end (text encoding, prior sampling, decoding, denormalisation).

    Returns one dict per row: ``name``, ``batch``, ``seconds`` (median per batch), ``runs``,
    ``realtime_factor`` (motion seconds generated per wall-clock second) and ``kv_cache``.
    """
    pipe = build_pipeline(preset)
    pipe("warm-up", num_frames=num_frames, generator=torch.Generator().manual_seed(0))  # loads the text encoder
    fps = pipe.fps
    rows = []
    modes = [True, False] if include_no_cache else [True]
    for batch in batch_sizes:
        prompts = ["A person is smiling softly"] * batch
        for use_cache in modes:
            original = pipe.prior.sample

            def sample_no_cache(*args, **kwargs):
                kwargs["use_cache"] = False
                return original(*args, **kwargs)

            if not use_cache:
                pipe.prior.sample = sample_no_cache
            try:
                seeds = iter(range(10**6))
                times = _time(lambda: pipe(prompts, num_frames=num_frames, generator=torch.Generator().manual_seed(next(seeds))),
                              repeats)
            finally:
                if not use_cache:
                    del pipe.prior.sample  # back to the class method
            seconds = statistics.median(times)
            rows.append({
                "name": f"T2M-GPT {preset}" + (" (KV cache)" if use_cache else " (no cache)"),
                "batch": batch,
                "seconds": seconds,
                "runs": len(times),
                "realtime_factor": batch * num_frames / fps / seconds,
                "kv_cache": use_cache,
            })
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", choices=["small", "t2m_gpt"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--num-frames", type=int, default=196)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median reported)")
    parser.add_argument("--no-cache-rows", action=argparse.BooleanOptionalAction, default=True,
                        help="also time sampling without the KV cache (default on)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = build_pipeline(args.preset)
    params_prior = sum(p.numel() for p in pipe.prior.parameters()) / 1e6
    params_vq = sum(p.numel() for p in pipe.vqvae.parameters()) / 1e6
    del pipe
    print(f"# T2MGPTPipeline sampling speed ({args.preset} presets: prior {params_prior:.1f}M, VQ-VAE {params_vq:.1f}M parameters, CPU)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"{args.num_frames} frames = {args.num_frames / 20:.1f} s at 20 fps = {args.num_frames // 4} codes; "
          "full-softmax sampling; text encoder all-MiniLM-L6-v2")
    print()
    print("| batch | model | s / batch (median) | runs | real-time factor |")
    print("|---:|---|---:|---:|---:|")
    rows = benchmark_t2m_gpt(args.batch_sizes, args.num_frames, args.repeats, args.preset, args.no_cache_rows)
    for row in rows:
        print(f"| {row['batch']} | {row['name']} | {row['seconds']:.3f} | {row['runs']} | {row['realtime_factor']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
