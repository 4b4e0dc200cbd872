"""Does a model follow the README's quickstart prompt in the order it says?  Seeds x both orders.

For "A person is smiling softly and then raising their eyebrows" and the same prompt with its two steps
swapped, each model generates one motion per seed; the prompt-following metric's action activity (the
stand-in corpus' own action definitions: ``smile`` and ``raise_brows``) gives when each action is centred.
A seed counts as *in order* when the first-named action is centred before the second-named one::

    python benchmarks/prompt_order.py                       # the bundled mdm and t2m_gpt, 8 seeds
    python benchmarks/prompt_order.py --model runs/mdm --seeds 16

Prints one row per model and prompt (in-order seeds out of all, each action's median centre in seconds) and,
with ``--verbose``, every seed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST, SECOND = ("smiling softly", "smile"), ("raising their eyebrows", "raise_brows")
FPS = 20.0


def prompts() -> list[tuple[str, str, str]]:
    """(prompt, first action, second action) in both orders."""
    return [(f"A person is {a[0]} and then {b[0]}", a[1], b[1]) for a, b in ((FIRST, SECOND), (SECOND, FIRST))]


def centres(motion: np.ndarray, keys: list[str], fps: float) -> dict[str, float | None]:
    """Median time (s) of the frames where each action is active, None when it never is."""
    from express4d_metrics.prompt_following import action_activity, action_thresholds

    thresholds = action_thresholds()
    out = {}
    for key in keys:
        frames = np.flatnonzero(action_activity(motion, key) >= thresholds[key])
        out[key] = float(np.median(frames)) / fps if len(frames) else None
    return out


def in_order(c: dict[str, float | None], first: str, second: str) -> bool:
    """Both actions found, and the first-named one centred before the second-named one."""
    return c[first] is not None and c[second] is not None and c[first] < c[second]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None, help="mdm | t2m_gpt | FOLDER (repeatable; "
                        "default: both bundled models)")
    parser.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1 per prompt (default 8)")
    parser.add_argument("--seconds", type=float, default=6.0, help="motion length (default 6, the CLI's)")
    parser.add_argument("--verbose", action="store_true", help="also print every seed")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")

    import torch

    from pipelines.auto_pipeline import load_motion_pipeline, resolve_model_path

    rows = []
    for model in args.model or ["mdm", "t2m_gpt"]:
        pipe = load_motion_pipeline(resolve_model_path(model))
        pipe.set_progress_bar_config(disable=True)
        for prompt, first, second in prompts():
            hits, first_t, second_t = 0, [], []
            for seed in range(args.seeds):
                motion = pipe(prompt, seconds=args.seconds, output_fps=FPS,
                              generator=torch.Generator().manual_seed(seed)).motions[0]
                c = centres(motion, [first, second], FPS)
                ok = in_order(c, first, second)
                hits += ok
                first_t += [c[first]] if c[first] is not None else []
                second_t += [c[second]] if c[second] is not None else []
                if args.verbose:
                    fmt = lambda t: "never" if t is None else f"{t:.2f} s"  # noqa: E731
                    print(f"{model} seed {seed} '{prompt}': {first} {fmt(c[first])}, {second} {fmt(c[second])}"
                          f" -> {'in order' if ok else 'NOT in order'}")
            med = lambda xs: f"{statistics.median(xs):.2f}" if xs else "—"  # noqa: E731
            rows.append((model, prompt, f"{hits}/{args.seeds}", med(first_t), med(second_t)))

    header = ("model", "prompt", "in order", "1st centre (s)", "2nd centre (s)")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
