"""Guidance variants on the validation split: does some other use of classifier-free guidance keep what scale 5
buys (prompt following) without what it costs (expressions switching within a frame)?

    python benchmarks/guidance_variants.py                    # the bundled MDM, all 240 validation motions
    python benchmarks/guidance_variants.py --model runs/mdm --captions 96 --variants plain:5,projected:5
    python benchmarks/guidance_variants.py --variants plain:5,split:0.5:3.5:5 --evaluate runs/variants

Variants (``--variants``, comma-separated):

* ``plain:S``: ``uncond + S (cond - uncond)`` at every step (``plain:1`` is no guidance);
* ``first:F:S``: scale S in the first fraction F of the steps (the noisiest), none after;
* ``late:F:S``: none in the first fraction F of the steps, scale S after;
* ``split:F:S1:S2``: scale S1 in the first fraction F of the steps, S2 after;
* ``lids:L:S``: scale L for the lids' two channels (``EyeBlinkLeft`` / ``EyeBlinkRight``), S for the other 59;
* ``projected:S``: adaptive projected guidance (Sadat et al., ICLR 2025) with eta 0: per motion, the part of
  ``cond - uncond`` along the conditional prediction (which only makes the prediction more of what it
  already is) is dropped and the rest is scaled by ``S - 1``.

One motion per validation motion (one of its captions, its length, seed = its index), sampled with the light
sampler (DPM-Solver++ 20 steps, fp32).  Per variant: action recall, order, three steps in order, held-out
wording recall / order (the prompt-following metric), the changes over 0.2 per 1,000 channel-frames and the
99.9th percentile of the per-frame change (naturalness, 30 fps), and the quickstart prompt's largest one-frame
change of the smile (4 seeds, mean).  None of these variants is in the pipelines: none beat plain guidance
(docs/free_wording.md).  About 1 min per variant per 100 captions on one CPU thread.

``--evaluate OUT`` scores each variant with the benchmark instead: ``express4d evaluate --split validation
--protocol fixed-generations --precision bf16`` (every validation caption, the diffusers pipeline with its default
sampler and prompt stages; R@3, FID and the prompt-following table), one folder per variant under OUT, then one
table of them.  About 3 min per variant on two CPU threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "metrics"))

from express4d_dataset.arkit import CHANNEL_NAMES  # noqa: E402
from pipelines.mdm.guidance import guided_prediction  # noqa: E402  (the pipelines' own plain guidance)

LID_CHANNELS = [CHANNEL_NAMES.index("EyeBlinkLeft"), CHANNEL_NAMES.index("EyeBlinkRight")]
QUICKSTART = "A person is smiling softly and then raising their eyebrows"
DEFAULT_VARIANTS = "plain:5,plain:1,first:0.5:5,late:0.2:5,projected:5,projected:7.5"


def projected(uncond, cond, scale: float, mask):
    """Guidance without the part of ``cond - uncond`` along ``cond`` (per motion, over its own frames)."""
    w = mask[..., None].to(cond.dtype)
    delta = (cond - uncond) * w
    unit = cond * w
    unit = unit / unit.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]
    along = (delta * unit).flatten(1).sum(dim=1)[:, None, None] * unit
    return cond + (scale - 1) * ((cond - uncond) - along)


class Variant:
    """One way of combining the two predictions at denoising step ``i`` of ``steps``: every kind is a schedule, scale
    ``early`` in the first ``fraction`` of the steps and ``late_scale`` after (``first`` ends with none, ``late``
    starts with none, ``plain`` and ``projected`` keep one scale throughout)."""

    def __init__(self, spec: str):
        parts = spec.split(":")
        kind, args = parts[0], [float(p) for p in parts[1:]]
        schedules = {"plain": lambda s: (1.0, s, s), "first": lambda f, s: (f, s, 1.0), "late": lambda f, s: (f, 1.0, s),
                     "split": lambda f, s1, s2: (f, s1, s2), "projected": lambda s: (1.0, s, s),
                     "lids": lambda lids, s: (1.0, s, s)}
        if kind not in schedules or len(args) != schedules[kind].__code__.co_argcount:
            raise ValueError(f"--variants: bad {spec!r}; use plain:S, first:F:S, late:F:S, split:F:S1:S2, lids:L:S "
                             "or projected:S")
        self.spec, self.kind = spec, kind
        self.fraction, self.early, self.late_scale = schedules[kind](*args)
        # the scale the sampler is given: it guides only when that is not 1
        self.scale = self.late_scale if self.late_scale != 1.0 else self.early
        self.lids = args[0] if kind == "lids" else None
        self.step, self.steps = 0, 20

    def __call__(self, uncond, cond, scale, rescale, mask):  # the light sampler's guided_prediction signature
        i, self.step = self.step, self.step + 1
        s = self.early if i < self.fraction * self.steps else self.late_scale
        if self.kind == "projected":
            return projected(uncond, cond, s, mask)
        guided = guided_prediction(uncond, cond, s, 0.0, mask)
        if self.lids is not None:
            guided[..., LID_CHANNELS] = guided_prediction(uncond, cond, self.lids, 0.0, mask)[..., LID_CHANNELS]
        return guided


@contextmanager
def sampling_with(variant: Variant):
    """The light sampler's guidance replaced by ``variant`` (it looks ``guided_prediction`` up at each step)."""
    import pipelines.mdm.light_sampler as light

    original = light.guided_prediction
    light.guided_prediction = variant
    try:
        yield
    finally:
        light.guided_prediction = original


@contextmanager
def pipeline_sampling_with(variant: Variant):
    """The diffusers pipeline's guidance replaced by ``variant``, its step count restarted at each denoising loop."""
    import pipelines.mdm.pipeline_mdm as pm

    original_loop, original_guidance = pm.Express4DPipeline._denoise, pm.guided_prediction

    def loop(pipe, request, latents, timesteps, *args, **kwargs):
        variant.step, variant.steps = 0, len(timesteps)
        return original_loop(pipe, request, latents, timesteps, *args, **kwargs)

    pm.Express4DPipeline._denoise, pm.guided_prediction = loop, variant
    try:
        yield
    finally:
        pm.Express4DPipeline._denoise, pm.guided_prediction = original_loop, original_guidance


def evaluate_variants(model: str, variants: list[Variant], out: Path, dataset: str, extra_args=(),
                      precision: str = "bf16") -> None:
    """``express4d evaluate`` on the validation split once per variant (``OUT/<variant>``; its own output goes to
    stderr), then one table of them.  A rerun reads the generations back from OUT and only scores them.
    ``extra_args``: more ``express4d evaluate`` arguments (``--evaluator``, ``--limit``, ...)."""
    import json
    from contextlib import redirect_stdout

    from pipelines.commands.express4d_cli import main as express4d

    lines = []
    for variant in variants:
        folder = out / variant.spec.replace(":", "_")
        name = f"{model}, guidance {variant.spec}"  # the generation cache is named after the row: one per variant
        with pipeline_sampling_with(variant), redirect_stdout(sys.stderr):
            rc = express4d(["evaluate", "--model", model, "--name", name, "--dataset", dataset, "--split", "validation",
                            "--protocol", "fixed-generations", "--precision", precision, "--guidance", f"{variant.scale:g}",
                            "--out", str(folder), *extra_args])
        if rc:
            raise SystemExit(rc)
        results = json.loads((folder / "results.json").read_text())
        row, pf = results["rows"][name], results.get("prompt_following", {}).get(name, {})

        def cell(key):  # a split without the stand-in's annotations has no prompt-following numbers
            value = pf.get(key)
            return "–" if value is None or value != value else f"{value:.3f}"

        lines.append(f"| {variant.spec} | {row['R_precision_top3']['mean']:.3f} | {row['FID']['mean']:.3f} "
                     f"| {cell('action_recall')} | {cell('order_accuracy')} | {cell('order_accuracy_held_out')} "
                     f"| {cell('action_recall_held_out_wording')} / {cell('order_accuracy_held_out_wording')} "
                     f"| {cell('order_accuracy_three_step')} |")
    print(f"{model}, validation split, one generation per caption (express4d evaluate --protocol fixed-generations)\n")
    print("| guidance | R@3 | FID | action recall | order | order, held-out pairs | recall / order, held-out wording "
          "| three steps in order |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mdm", help="mdm (default) or an MDM folder")
    parser.add_argument("--dataset", default="express4d", help="the built corpus folder (default express4d)")
    parser.add_argument("--captions", type=int, default=240, help="validation motions to use (default 240, all)")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated (default {DEFAULT_VARIANTS})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp32"),
                        help="--evaluate's generation precision (default bf16; fp32 on a CPU without bfloat16)")
    parser.add_argument("--evaluate", type=Path, metavar="OUT",
                        help="score each variant with express4d evaluate on the validation split instead, under OUT")
    args = parser.parse_args(argv)
    try:
        variants = [Variant(v.strip()) for v in args.variants.split(",") if v.strip()]
    except ValueError as e:
        parser.error(str(e))
    if args.captions < 1:
        parser.error("--captions must be at least 1")

    import torch

    torch.set_num_threads(args.threads)
    if args.evaluate is not None:
        evaluate_variants(args.model, variants, args.evaluate, args.dataset, precision=args.precision)
        return 0

    from express4d_dataset.arkit import CHANNEL_NAMES
    from express4d_dataset.load import load_express4d
    from express4d_dataset.naturalness import naturalness
    from express4d_metrics.prompt_following import prompt_following
    from pipelines.auto_pipeline import resolve_model_path
    from pipelines.mdm.light_sampler import LightMDMSampler

    val = load_express4d(args.dataset, "fps20")["validation"]
    rng = np.random.default_rng(0)
    picked = rng.permutation(len(val))[: args.captions]
    texts, annotations, lengths = [], [], []
    for i in picked:
        row = val[int(i)]
        texts.append(row["captions"][int(rng.integers(len(row["captions"])))])
        annotations.append(row["annotations"])
        lengths.append(int(row["num_frames"]))
    sampler = LightMDMSampler(resolve_model_path(args.model))
    smile = [CHANNEL_NAMES.index(c) for c in ("MouthSmileLeft", "MouthSmileRight")]
    order = np.argsort(lengths)  # similar lengths share a batch: less padding

    def sample(variant, prompts, frames, seeds):
        variant.step = 0
        with sampling_with(variant):
            return sampler(prompts, num_frames=frames, guidance_scale=variant.scale,
                           generator=[torch.Generator().manual_seed(int(s)) for s in seeds]).motions

    print(f"{args.model}: {len(texts)} validation captions, DPM-Solver++ 20 steps, one motion each\n")
    print("| guidance | action recall | order | three steps | held-out wording recall / order "
          "| changes > 0.2 per 1,000 "
          "| per-frame change p99.9 | quickstart smile, largest one-frame change | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant in variants:
        start = time.perf_counter()
        motions = [None] * len(texts)
        for b in range(0, len(texts), 32):
            batch = order[b : b + 32]
            for j, m in zip(batch, sample(variant, [texts[j] for j in batch], [lengths[j] for j in batch], batch)):
                motions[j] = m
        pf = prompt_following(motions, annotations, texts=texts)
        nat = naturalness([(m, sampler.fps) for m in motions])
        quick = sample(variant, [QUICKSTART] * 4, [120] * 4, range(4))
        step = np.mean([np.abs(np.diff(m[:, smile].mean(1))).max() for m in quick])
        cell = {k: "–" if np.isnan(v) else f"{v:.3f}" for k, v in pf.items() if isinstance(v, float)}
        print(f"| {variant.spec} | {cell['action_recall']} | {cell['order_accuracy']} | "
              f"{cell['order_accuracy_three_step']} | {cell['action_recall_held_out_wording']} / "
              f"{cell['order_accuracy_held_out_wording']} | {nat.jump_rate:.2f} | {nat.percentiles[99.9]:.3f} | "
              f"{step:.2f} | {time.perf_counter() - start:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
