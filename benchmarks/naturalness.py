"""Do the faces move with real timing?  The naturalness table: real captures, the stand-in corpus, the models.

For each source, over 14 slow expression channels at 30 rows/s (``express4d_dataset.naturalness``): the
per-frame change's 50th / 99th / 99.9th percentiles, changes over 0.2 per 1,000 channel-frames, and the
10-90% rise and 90-10% fall times of every action-sized movement (p10 / p50 / p90, seconds); and over the lids,
blinks per minute with the median blink's peak (counted as ``benchmarks/realism.py`` counts them).

    python benchmarks/naturalness.py                          # real fixtures, stand-in corpus, bundled MDM and T2M-GPT
    python benchmarks/naturalness.py --model runs/my-mdm --num 96 --guidance 3.5
    python benchmarks/naturalness.py --model mdm --steps 20 --steps 5     # one MDM row per step count
    python benchmarks/naturalness.py --prompts "A person is smiling softly and then raising their eyebrows" --seeds 8

The models generate from the captions of fresh stand-in test takes (``--num`` of them, the takes' own
lengths, one seed per caption) or, with ``--prompts``, from the given prompts (6 s, ``--seeds`` each).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "livelink"


def stand_in_test_takes(num: int, seed: int):
    """``num`` fresh stand-in takes drawn like the test split: (frames at 60 fps, one caption, seconds)."""
    from express4d_dataset.synthetic import sample_performers, synthesize_take

    performers = sample_performers(np.random.default_rng([seed, 31]))
    takes = []
    for i in range(num):
        rng = np.random.default_rng([seed, 32, i])
        take = synthesize_take(rng, performers[i % len(performers)], split="test")
        takes.append((take.frames, take.captions[int(rng.integers(len(take.captions)))], take.seconds))
    return takes


def generate(pipe, prompts, seconds, seed: int, guidance=None, prompt_stages=None, lid_guidance=None, steps=None):
    import torch

    out_motions, fps = [], None
    for start in range(0, len(prompts), 32):
        frames = [max(int(round(s * pipe.fps)), 1) for s in seconds[start:start + 32]]
        kwargs = {"guidance_scale": guidance} if guidance is not None else {}
        if prompt_stages is not None:
            kwargs["prompt_stages"] = prompt_stages
        if lid_guidance is not None:
            kwargs["lid_guidance_scale"] = lid_guidance
        if steps is not None:
            kwargs["num_inference_steps"] = steps
        out = pipe(prompts[start:start + 32], num_frames=frames, generator=torch.Generator().manual_seed(seed + start), **kwargs)
        out_motions += [np.asarray(m) for m in out.motions]
        fps = out.fps
    return [(m, fps) for m in out_motions]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(DEFAULT_REAL), help="folder of real Live Link Face CSVs")
    parser.add_argument("--model", action="append", help="mdm, t2m_gpt or a folder (repeatable; default both bundled)")
    parser.add_argument("--num", type=int, default=64, help="stand-in test takes (and generations per model)")
    parser.add_argument("--prompts", nargs="+", help="generate from these prompts instead (6 s each)")
    parser.add_argument("--seeds", type=int, default=8, help="generations per --prompts prompt")
    parser.add_argument("--guidance", type=float, default=None, help="the MDM's guidance scale (default: the model's)")
    parser.add_argument("--prompt-stages", choices=("auto", "off"), action="append",
                        help="the MDM's prompt_stages (repeatable: one row each; default: the model's)")
    parser.add_argument("--steps", type=int, action="append",
                        help="the MDM's sampling steps (repeatable: one row each; default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from express4d_dataset.naturalness import naturalness, naturalness_markdown
    from express4d_dataset.realism import read_reference_takes
    from pipelines import load_motion_pipeline

    rows = []
    if Path(args.real).is_dir():
        real = read_reference_takes(args.real)
        rows.append(naturalness([(t.frames, t.fps) for t in real], f"real Live Link Face takes ({Path(args.real).name})"))
    else:
        print(f"(no real takes: {args.real} is not a folder; pass --real DIR)", file=sys.stderr)
    takes = stand_in_test_takes(args.num, args.seed)
    rows.append(naturalness([(f, 60.0) for f, _, _ in takes], "stand-in corpus (test-split takes)"))
    if args.prompts:
        prompts = [p for p in args.prompts for _ in range(args.seeds)]
        seconds = [6.0] * len(prompts)
    else:
        prompts, seconds = [c for _, c, _ in takes], [s for _, _, s in takes]
    timings = []
    for model in args.model or ["mdm", "t2m_gpt"]:
        pipe = load_motion_pipeline(model)
        pipe.set_progress_bar_config(disable=True)
        start = time.perf_counter()
        is_mdm = "T2MGPT" not in type(pipe).__name__
        settings = [(stages, steps) for stages in (args.prompt_stages or [None]) for steps in (args.steps or [None])]
        for stages, steps in settings if is_mdm else [(None, None)]:
            motions = generate(pipe, prompts, seconds, args.seed, args.guidance if is_mdm else None, stages, steps=steps)
            timings.append(f"{model}: {len(motions)} generations in {time.perf_counter() - start:.0f} s")
            label = f"{model}" + (f", guidance {args.guidance:g}" if is_mdm and args.guidance is not None else "")
            label += f", prompt_stages={stages}" if stages else ""
            label += f", {steps} steps" if steps else ""
            rows.append(naturalness(motions, label))
            start = time.perf_counter()
    print(naturalness_markdown(rows))
    print("\n" + "; ".join(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
