"""Does a model follow intensity words?  Peak activity per level (slight / soft / normal / strong) against the corpus.

For actions that take all four intensity levels, the stand-in corpus's own single-action takes give each
level's range of peak activity (the action's check channels, rest subtracted:
``express4d_metrics.prompt_following.action_activity``); each model generates the same actions from
captions the corpus's caption generator writes for that level (training wording: "A person smiles
softly", "She gives a big smile", ...), several seeds each, and its peaks are set beside the corpus's.

    python benchmarks/intensity.py                        # the bundled MDM and T2M-GPT
    python benchmarks/intensity.py --model mdm --seeds 8 --guidance 3.5
    python benchmarks/intensity.py --model runs/my-mdm --actions smile frown

Prints one table per model: per level, the corpus's mean and 10th-90th percentile range of peaks, the
model's mean peak (with a 95% interval, 1.96 std / sqrt(n)) and the share of its peaks inside the corpus's
range, then whether the model's means are ordered slight < soft < normal < strong and each inside the corpus's
range.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "metrics"))

LEVELS = ("slight", "soft", "normal", "strong")
DEFAULT_ACTIONS = ("smile", "frown", "raise_brows", "furrow_brows", "open_mouth", "pucker", "puff_cheeks", "squint")
SECONDS = 4.0


def corpus_peaks(actions, num_takes: int, seed: int) -> dict:
    """``{(action, level): [peak, ...]}`` of the stand-in generator's own single-action takes."""
    from express4d_dataset.synthetic import sample_performers, synthesize_take
    from express4d_metrics.prompt_following import action_activity

    performers = sample_performers(np.random.default_rng([seed, 21]))
    out = {}
    for a, key in enumerate(actions):
        for lv, level in enumerate(LEVELS):
            peaks = []
            for j in range(num_takes):
                take = synthesize_take(np.random.default_rng([seed, 22, a, lv, j]), performers[j % len(performers)], [key],
                                       intensity=level, speed="normal", spontaneous_blinks=False)
                peaks.append(float(action_activity(take.frames, key).max()))
            out[key, level] = peaks
    return out


def level_captions(actions, seeds: int, seed: int) -> dict:
    """``{(action, level): [caption, ...]}``: one training-wording caption per seed, from the corpus's generator."""
    from express4d_dataset.synthetic import caption_plan, sample_plan

    out = {}
    for a, key in enumerate(actions):
        for lv, level in enumerate(LEVELS):
            rng = np.random.default_rng([seed, 23, a, lv])
            plan = sample_plan(rng, [key], intensity=level, speed="normal")
            out[key, level] = [caption_plan(rng, plan, num_captions=1, split="train")[0] for _ in range(seeds)]
    return out


def model_peaks(pipe, captions: dict, seed: int, guidance=None) -> dict:
    from express4d_metrics.prompt_following import action_activity
    from naturalness import generate  # the naturalness table's batched generation

    keys = list(captions)
    texts = [t for k in keys for t in captions[k]]
    motions = [m for m, _ in generate(pipe, texts, [SECONDS] * len(texts), seed, guidance)]
    peaks, i = {}, 0
    for k in keys:
        peaks[k] = [float(action_activity(motions[i + j], k[0]).max()) for j in range(len(captions[k]))]
        i += len(captions[k])
    return peaks


def table(name: str, actions, corpus: dict, model: dict) -> tuple[str, bool]:
    lines = [f"### {name}", "",
             "| level | corpus mean peak | corpus range (p10-p90) | model mean peak (± 95%) | model peaks in corpus range |",
             "|---|---|---|---|---|"]
    means, inside = [], []
    for level in LEVELS:
        c = np.concatenate([corpus[a, level] for a in actions])
        # the range of the level's mean over actions, as the model's mean is compared against it
        lo, hi = np.percentile(c, [10, 90])
        m = np.concatenate([model[a, level] for a in actions])
        means.append(float(m.mean()))
        inside.append(lo <= m.mean() <= hi)
        half = 1.96 * m.std(ddof=1) / np.sqrt(len(m)) if len(m) > 1 else float("nan")  # normal interval of the mean
        lines.append(f"| {level} | {c.mean():.3f} | {lo:.3f}-{hi:.3f} | {m.mean():.3f} ± {half:.3f} | "
                     f"{np.mean((m >= lo) & (m <= hi)):.2f} |")
    ordered = all(a < b for a, b in zip(means, means[1:]))
    lines += ["", f"ordered slight < soft < normal < strong: {'yes' if ordered else 'no'}; "
                  f"every level's mean inside the corpus's range: {'yes' if all(inside) else 'no'}"]
    return "\n".join(lines), ordered and all(inside)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="mdm, t2m_gpt or a folder (repeatable; default both bundled)")
    parser.add_argument("--actions", nargs="+", default=list(DEFAULT_ACTIONS))
    parser.add_argument("--seeds", type=int, default=6, help="captions (and generations) per action and level")
    parser.add_argument("--corpus-takes", type=int, default=12, help="stand-in takes per action and level")
    parser.add_argument("--guidance", type=float, default=None, help="the MDM's guidance scale (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from pipelines import load_motion_pipeline

    corpus = corpus_peaks(args.actions, args.corpus_takes, args.seed)
    captions = level_captions(args.actions, args.seeds, args.seed)
    for model in args.model or ["mdm", "t2m_gpt"]:
        pipe = load_motion_pipeline(model)
        pipe.set_progress_bar_config(disable=True)
        start = time.perf_counter()
        peaks = model_peaks(pipe, captions, args.seed, args.guidance if "T2MGPT" not in type(pipe).__name__ else None)
        text, _ = table(f"{model} ({time.perf_counter() - start:.0f} s)", args.actions, corpus, peaks)
        print(text, "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
