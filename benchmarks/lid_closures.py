"""Do the lids close where the prompt does not ask?  Unasked lid closures per prompt, and the smile they ride on.

The bundled MDM half-closes the lids during the README's quickstart smile ("smiling softly"): the corpus's
training captions put "softly" on the lids of another action more often than on a smile
(docs/free_wording.md).  For each prompt, every model generates ``--seeds`` motions (one batch, one seeded
generator); a generation counts as an unasked closure when the mean of ``EyeBlinkLeft`` and ``EyeBlinkRight``
stays above 0.4 for more than 1 s in all (the corpus's own smiles: 0.1 s on average, over 1 s in one in 50).
None of the prompts names the eyes.

    python benchmarks/lid_closures.py                      # the bundled MDM and T2M-GPT
    python benchmarks/lid_closures.py --model mdm --model runs/my-mdm/mdm --seeds 16
    python benchmarks/lid_closures.py --model mdm --lid-guidance 5      # the lids guided like the rest

Prints one table per model: per prompt, the generations with an unasked closure, the median seconds with the
lids above 0.4, and the median peak of the smile (``MouthSmileLeft/Right``; "softly" should sit below plain
"smiles").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root, so `benchmarks.naturalness` imports as a package module

PROMPTS = (
    ("A person is smiling softly and then raising their eyebrows", 6.0),  # the README's quickstart
    ("A person is smiling softly", 3.0),
    ("She smiles softly", 3.0),
    ("A person smiles", 3.0),
    ("A person is smiling slightly", 3.0),
    ("A person smiles gently", 3.0),
    ("A person frowns softly", 3.0),
)
# the benchmark's own definition (the prompt-following table's "Unasked lid closures" over the split's captions)
from express4d_metrics.prompt_following import LID_LEVEL as THRESHOLD  # noqa: E402
from express4d_metrics.prompt_following import LID_SECONDS as SECONDS_OVER  # noqa: E402
from express4d_metrics.prompt_following import lid_closure_seconds as lid_seconds  # noqa: E402


def smile_peak(motion: np.ndarray) -> float:
    """The peak of the mean of ``MouthSmileLeft`` and ``MouthSmileRight``."""
    from express4d_dataset.arkit import channel_index

    return float(((motion[:, channel_index("MouthSmileLeft")] + motion[:, channel_index("MouthSmileRight")]) / 2).max())


def measure(pipe, prompts, seeds: int, seed: int, guidance=None, lid_guidance=None) -> list[dict]:
    from benchmarks.naturalness import generate  # the naturalness table's batched generation

    rows = []
    for prompt, seconds in prompts:
        motions = generate(pipe, [prompt] * seeds, [seconds] * seeds, seed, guidance, lid_guidance=lid_guidance)
        closed = np.array([lid_seconds(m, fps) for m, fps in motions])
        rows.append({"prompt": prompt, "closures": int((closed > SECONDS_OVER).sum()), "n": seeds,
                     "lid_seconds": float(np.median(closed)), "smile": float(np.median([smile_peak(m) for m, _ in motions]))})
    return rows


def table(name: str, rows: list[dict]) -> str:
    lines = [f"### {name}", "", f"| prompt | unasked closures (lids > {THRESHOLD} for > {SECONDS_OVER:g} s) | "
             f"median s with lids > {THRESHOLD} | median smile peak |", "|---|---|---|---|"]
    lines += [f"| {r['prompt']} | {r['closures']}/{r['n']} | {r['lid_seconds']:.2f} | {r['smile']:.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="mdm, t2m_gpt or a folder (repeatable; default both bundled)")
    parser.add_argument("--seeds", type=int, default=16, help="generations per prompt")
    parser.add_argument("--guidance", type=float, default=None, help="the MDM's guidance scale (default: the model's)")
    parser.add_argument("--lid-guidance", type=float, default=None,
                        help="the MDM's guidance scale of the lids alone (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")

    from pipelines import load_motion_pipeline

    for model in args.model or ["mdm", "t2m_gpt"]:
        pipe = load_motion_pipeline(model)
        pipe.set_progress_bar_config(disable=True)
        start = time.perf_counter()
        mdm = "T2MGPT" not in type(pipe).__name__
        rows = measure(pipe, PROMPTS, args.seeds, args.seed, args.guidance if mdm else None,
                       args.lid_guidance if mdm else None)
        print(table(f"{model} ({time.perf_counter() - start:.0f} s)", rows), "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
