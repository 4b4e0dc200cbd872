"""Where do "X and then Y" generations fail on held-out compositions?  Hit / an action left out / wrong order.

For every caption of a stand-in split whose plan has a consecutive pair of actions on disjoint channels
that training never composed (``holds_out``), each model generates ``--seeds`` motions of the take's
length; the prompt-following metric's own activity and thresholds sort each pair into *in order*,
*first missing*, *second missing* or *wrong order*, and count which actions were left out::

    python benchmarks/held_out_order.py --dataset express4d --split validation --seeds 4
    python benchmarks/held_out_order.py --model mdm --model candidate/mdm --guidance 3.5

The "in order" share is the held-out order accuracy of ``express4d evaluate`` with more generations per
caption (and so a smaller interval), plus why the misses miss.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def held_out_items(rows, max_frames: int = 196):
    """``(caption, num_frames, [(first, second), ...])`` for each caption with a held-out disjoint pair."""
    from express4d_dataset.motion import row_annotations
    from express4d_metrics.prompt_following import ordered_pairs

    items = []
    for row in rows:
        plan = row_annotations(row)
        if not plan:
            continue
        pairs = [(a, b) for a, b, held_out in ordered_pairs([list(s) for s in plan["steps"]]) if held_out]
        if pairs:
            frames = min(int(row["num_frames"]), max_frames)
            items += [(caption, frames, pairs) for caption in row["captions"]]
    return items


def classify(motion, first: str, second: str, thresholds) -> str:
    from express4d_metrics.prompt_following import _active, _centre

    a, b = _centre(_active(motion, first, thresholds)), _centre(_active(motion, second, thresholds))
    if a is None:
        return "first missing"
    if b is None:
        return "second missing"
    return "in order" if a < b else "wrong order"


def tally(pipe, items, seeds: int, batch_size: int, thresholds, bar=None, **call_kwargs):
    """Generate ``seeds`` motions per item (seeded per item) and sort its pairs: ``(verdict counts, left-out
    action counts)``. ``call_kwargs`` go to the pipeline (``guidance_scale``, ``num_inference_steps``)."""
    import torch

    counts, missed = collections.Counter(), collections.Counter()
    for seed in range(seeds):
        for i in range(0, len(items), batch_size):
            chunk = items[i:i + batch_size]
            gens = [torch.Generator().manual_seed(seed * 1_000_003 + i + j) for j in range(len(chunk))]
            motions = pipe([c for c, _, _ in chunk], num_frames=[n for _, n, _ in chunk], generator=gens,
                           **call_kwargs).motions
            for (_, _, pairs), motion in zip(chunk, motions):
                for first, second in pairs:
                    verdict = classify(motion, first, second, thresholds)
                    counts[verdict] += 1
                    if verdict.endswith("missing"):
                        missed[first if verdict.startswith("first") else second] += 1
            if bar is not None:
                bar.update(len(chunk))
    return counts, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None, help="mdm | FOLDER (repeatable; default: mdm)")
    parser.add_argument("--dataset", default="express4d", help="stand-in dataset folder (default: express4d)")
    parser.add_argument("--split", default="validation", help="split (default: validation)")
    parser.add_argument("--seeds", type=int, default=4, help="generations per caption (default 4)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: each model's own default_guidance_scale, e.g. 5 for the bundled mdm "
                        "and 2.5 for a model without one: pass it to compare a candidate with the bundled model)")
    parser.add_argument("--steps", type=int, action="append", default=None,
                        help="sampling steps (repeatable: one row per model and count; default: the pipeline's own, 20 for DPM-Solver++)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if any(s < 1 for s in args.steps or []):
        parser.error("--steps must be at least 1")

    from tqdm.auto import tqdm

    from express4d_metrics.prompt_following import action_thresholds
    from pipelines.evaluation.benchmark import load_split
    from pipelines.auto_pipeline import load_motion_pipeline, resolve_model_path

    items = held_out_items(load_split(args.dataset, args.split, "fps20"))
    if not items:
        parser.error(f"--dataset {args.dataset} split {args.split}: no caption names a held-out pair "
                     "(a stand-in corpus built by `express4d data synth` + `express4d data build` has them)")
    thresholds = action_thresholds()
    rows = []
    for model in args.model or ["mdm"]:
        pipe = load_motion_pipeline(resolve_model_path(model))  # once per model, whatever the step counts
        pipe.set_progress_bar_config(disable=True)
        for steps in args.steps or [None]:  # None: the pipeline's own count
            label = model if steps is None else f"{model}, {steps} steps"
            with tqdm(total=args.seeds * len(items), desc=f"generate [{label}]", unit="motion") as bar:
                counts, missed = tally(pipe, items, args.seeds, args.batch_size, thresholds, bar,
                                       guidance_scale=args.guidance, num_inference_steps=steps)
            n = sum(counts.values())
            top = ", ".join(f"{k} {v}" for k, v in missed.most_common(4))
            rows.append((label, str(n), f"{counts['in order'] / n:.3f}", str(counts["first missing"]),
                         str(counts["second missing"]), str(counts["wrong order"]), top))

    header = ("model", "pairs", "in order", "1st missing", "2nd missing", "wrong order", "most left out")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
