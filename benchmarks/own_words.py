"""Sentences written by hand, not by the corpus's caption generator: does a model do what they say, in order?

Twelve two-step sentences (six action pairs, both orders) and four three-step ones, worded the way people
write (pronouns, idioms, "before", "after", "once", separate sentences), each with the actions it names in
the order they should happen.  Each model generates ``--seeds`` motions per sentence; a motion counts when
every named action is active (the stand-in corpus's own action definitions and thresholds,
``express4d_metrics.prompt_following``) and their centres come in the named order.

    python benchmarks/own_words.py                         # the bundled MDM, 3 seeds per sentence
    python benchmarks/own_words.py --model runs/mdm --model mdm --seeds 6 --verbose

The last column, *leak*, is how often another stage's action shows inside a stage: the share of each stage's
core frames (its equal share of the clip, 0.5 s or, in short clips, a quarter of it trimmed from each end) in
which another named action is active, averaged over stages, actions and motions (0 for a clean sequence).
``--stage-steps-share S`` generates with
``prompt_stages.STAGE_STEPS_SHARE = S`` (the share of denoising steps that see the stage windows; repeatable).

These sentences are a spot check of free wording, never used in training; the benchmark's held-out-wording
rows (``express4d evaluate``) are the systematic measure.  The first set (``--set first``) was also read while
the grammar of :mod:`pipelines.mdm.prompt_stages` was written, so it flatters ``prompt_stages="auto"``; the second
(``--set second``, sixteen more sentences written after that grammar and not used to change it) does not.

    python benchmarks/own_words.py --set second --model mdm --prompt-stages off --prompt-stages auto
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "metrics"))

FPS = 20.0
SENTENCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("She beams, and a moment later her eyebrows shoot up.", ("smile", "raise_brows")),
    ("His eyebrows go up first; after that he breaks into a big grin.", ("raise_brows", "smile")),
    ("He pouts for a second, then his jaw drops wide open.", ("pucker", "open_mouth")),
    ("She lets her mouth hang open before pursing her lips.", ("open_mouth", "pucker")),
    ("The woman scowls, and once that passes she glances up at the ceiling.", ("look_angry", "look_up")),
    ("He glances upward, then turns angry.", ("look_up", "look_angry")),
    ("They puff up their cheeks and afterwards squeeze their eyes shut.", ("puff_cheeks", "close_eyes")),
    ("After shutting her eyes tight she blows her cheeks out.", ("close_eyes", "puff_cheeks")),
    ("Maria frowns, then slowly nods her head.", ("frown", "nod")),
    ("He nods slowly and finishes with a deep frown.", ("nod", "frown")),
    ("Someone wrinkles their nose in disgust, then sticks out their tongue.", ("sneer", "tongue_out")),
    ("She pokes her tongue out and then scrunches up her nose.", ("tongue_out", "sneer")),
    ("He smiles, then raises his eyebrows, and finally opens his mouth wide.", ("smile", "raise_brows", "open_mouth")),
    ("First she frowns. Next, her eyes go wide. In the end she puffs out her cheeks.", ("frown", "widen_eyes", "puff_cheeks")),
    ("The man squints, looks to his left, and ends up grinning.", ("squint", "look_left", "smile")),
    ("She puckers up, then her brows knit together, and last she lets her jaw fall open.", ("pucker", "furrow_brows", "open_mouth")),
)
SECOND_SENTENCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("He rolls his eyes. A few seconds later he shakes his head.", ("roll_eyes", "shake_head")),
    ("She presses her lips together tightly, and right after that she smiles.", ("press_lips", "smile")),
    ("Looking down at first, he then raises his eyebrows.", ("look_down", "raise_brows")),
    ("The man tilts his head to the left, and when that's done he sticks his tongue out.", ("tilt_head_left", "tongue_out")),
    ("Her eyes close for a moment; then she opens her mouth wide.", ("close_eyes", "open_mouth")),
    ("He sneers, and then he lets out a big smile.", ("sneer", "smile")),
    ("She looks sad at first but then breaks into a smile.", ("look_sad", "smile")),
    ("Before shaking her head, the woman squints.", ("squint", "shake_head")),
    ("He nods along and afterwards puffs his cheeks.", ("nod", "puff_cheeks")),
    ("Aiko widens her eyes in surprise, followed by a frown.", ("widen_eyes", "frown")),
    ("The person looks to the left and subsequently puckers their lips.", ("look_left", "pucker")),
    ("Omar glares angrily, then his face relaxes into a grin.", ("look_angry", "smile")),
    ("She squints, smiles, and then looks up.", ("squint", "smile", "look_up")),
    ("First he shakes his head, then he frowns, and at the end he opens his mouth.", ("shake_head", "frown", "open_mouth")),
    ("The woman raises her eyebrows. After a moment she puffs out her cheeks. Finally she sticks out her tongue.",
     ("raise_brows", "puff_cheeks", "tongue_out")),
    ("He smirks on the left, then looks down, and finally nods.", ("smirk_left", "look_down", "nod")),
)
"""Written after :mod:`pipelines.mdm.prompt_stages`' grammar, and not used to change it: its fair test."""
SETS = {"first": SENTENCES, "second": SECOND_SENTENCES}


def leak(motion: np.ndarray, keys: tuple[str, ...], trim_seconds: float = 0.5) -> float:
    """Mean share of a stage's core frames (equal shares, ``trim_seconds`` off each end) where another of ``keys``
    is active: 0 when each action keeps to its own stage."""
    from express4d_metrics.prompt_following import action_activity, action_thresholds

    thresholds = action_thresholds()
    active = {k: action_activity(motion, k) >= thresholds[k] for k in keys}
    n = len(keys)
    bounds = [round(j * len(motion) / n) for j in range(n + 1)]
    trim = min(int(round(trim_seconds * FPS)), (len(motion) // n) // 4)  # short clips keep half of each stage
    shares = [float(active[other][bounds[j] + trim: bounds[j + 1] - trim].mean())
              for j in range(n) for other in keys if other != keys[j]]
    return float(np.mean(shares))


def follows(motion: np.ndarray, keys: tuple[str, ...]) -> tuple[bool, list]:
    """(every action active and centred in the named order, the centres in seconds or None)."""
    from benchmarks.prompt_order import centres  # the quickstart check's own reading of when an action happens

    found = centres(motion, list(keys), FPS)
    times = [found[k] for k in keys]
    ok = all(t is not None for t in times) and all(a < b for a, b in zip(times, times[1:]))
    return ok, times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="mdm | FOLDER (repeatable; default the bundled mdm)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--verbose", action="store_true", help="every sentence's count and centres")
    parser.add_argument("--set", choices=sorted(SETS), action="append",
                        help="which sentences (repeatable; default both; see the module docstring)")
    parser.add_argument("--prompt-stages", choices=("auto", "off"), action="append",
                        help="MDM: split staged prompts or not (repeatable: one row each; default the model's own)")
    parser.add_argument("--stage-steps-share", type=float, action="append",
                        help="MDM: generate with prompt_stages.STAGE_STEPS_SHARE set to this (repeatable: one row each)")
    args = parser.parse_args(argv)

    import torch

    from pipelines import load_motion_pipeline
    from pipelines.mdm import prompt_stages

    print("| model | sentences | two steps in order | three steps in order | all | leak |")
    print("|---|---|---|---|---|---|")
    default_share, pipes = prompt_stages.STAGE_STEPS_SHARE, {}
    try:
        for model, stages, share, name in [(m, st, sh, n) for m in args.model or ["mdm"] for st in args.prompt_stages or [None]
                                           for sh in args.stage_steps_share or [None] for n in args.set or sorted(SETS)]:
            if model not in pipes:  # each model loads once, whatever the rows
                pipes[model] = load_motion_pipeline(model)
                pipes[model].set_progress_bar_config(disable=True)
            pipe = pipes[model]
            kwargs = {} if stages is None else {"prompt_stages": stages}
            label = model if stages is None else f"{model}, prompt_stages={stages}"
            label += "" if share is None else f", stage steps {share:g}"
            prompt_stages.STAGE_STEPS_SHARE = default_share if share is None else share
            counts, leaks = {2: [0, 0], 3: [0, 0]}, []
            for sentence, keys in SETS[name]:
                hits = 0
                for seed in range(args.seeds):
                    motion = np.asarray(pipe(sentence, seconds=args.seconds, output_fps=FPS,
                                             generator=torch.Generator().manual_seed(seed), **kwargs).motions[0])
                    ok, centres = follows(motion, keys)
                    leaks.append(leak(motion, keys))
                    hits += ok
                    if args.verbose:
                        shown = ", ".join(f"{k} {'never' if c is None else f'{c:.1f} s'}" for k, c in zip(keys, centres))
                        print(f"  {label} seed {seed}: {'ok ' if ok else 'MISS'} {sentence}  [{shown}]", file=sys.stderr)
                counts[len(keys)][0] += hits
                counts[len(keys)][1] += args.seeds
            two, three = counts[2], counts[3]
            print(f"| {label} | {name} | {two[0]}/{two[1]} | {three[0]}/{three[1]} | {two[0] + three[0]}/{two[1] + three[1]} "
                  f"| {np.mean(leaks):.3f} |", flush=True)
    finally:  # the module's constant is shared with everything else in this process
        prompt_stages.STAGE_STEPS_SHARE = default_share
    return 0


if __name__ == "__main__":
    sys.exit(main())
