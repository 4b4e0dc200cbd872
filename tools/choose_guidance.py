"""Choose an MDM's default classifier-free guidance scale (and rescale) on a validation split, from
``express4d evaluate`` runs.

One run per scale, on the validation split (never the test split: that is where the model is reported)::

    for g in 2.5 3.5 5 7.5; do
      express4d evaluate --model runs/mdm --split validation --protocol fixed-generations --guidance $g \\
        --precision bf16 --out runs/guidance-$g
    done
    python tools/choose_guidance.py runs/guidance-*                      # the table and the choice
    python tools/choose_guidance.py runs/guidance-* --write runs/mdm     # also store it in the model

The choice: among the scales whose FID is at most ``--fid-factor`` (2) times the FID at the paper's 2.5 (or
at the smallest scale run, without a 2.5 run), the one with the highest score, the mean of R-precision top-3,
action recall and order accuracy (the last two only where the split has the stand-in corpus's annotations);
scores within 0.005 of the best count as a tie, won by the smaller scale.  Where the runs measured unasked lid
closures (the share of generations, for captions that name no lid action, whose lids stay closed over 1 s; the
prompt-following table's "Unasked lid closures"), a scale is eligible only if its rate is at most ``--lid-factor``
(2) times real motion's rate on the same captions, or at most 0.01 above it, whichever is larger; when no scale
passes both, the eligible ones are those with the fewest closures among the FID-eligible.  Where the runs measured
the recall of the actions that move the lids ("Recall, lid actions"), a candidate whose recall is more than
``--lid-recall-slack`` (0.02) under the best candidate's is not eligible either: fewer unasked closures must not
cost the blinks and closed eyes a caption asks for.  ``--write`` sets
``default_guidance_scale`` in the pipeline's ``model_index.json`` (what ``guidance_scale=None`` samples with)
and adds the table to its model card.

Runs may also differ in ``--guidance-rescale`` (``express4d evaluate --guidance G --guidance-rescale R``): each
(scale, rescale) pair is a candidate, a tie goes to the smaller scale and then to the larger rescale (the gentler
guidance), and ``--write`` stores the pair (``default_guidance_rescale`` too).  The reference FID is that of
the paper's 2.5 without rescale (or of the smallest scale).  Runs may also guide the lids at their own scale
(``express4d evaluate --guidance G --lid-guidance L``): each triple is a candidate, a tie goes last to the smaller
lid scale, and ``--write`` stores it (``default_lid_guidance_scale``).  Runs may also differ in sampling steps
(``--steps N``; then every run must give it): a tie goes last to the fewer steps (the faster sampling), and
``--write`` stores them (``default_num_inference_steps``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere: the repository root

from express4d_dataset.atomic_file import atomic_path  # noqa: E402
from tools.bundle_default_models import GUIDANCE_HEADING, replace_section  # noqa: E402

PAPER_SCALE = 2.5
TIE = 0.005
LID_SLACK = 0.01
LID_RECALL_SLACK = 0.02
CARD_HEADING = GUIDANCE_HEADING


@dataclass
class ScaleRun:
    """The scores of one ``express4d evaluate`` run at one guidance scale."""

    scale: float
    r_precision_top3: float
    fid: float
    action_recall: float | None = None
    order_accuracy: float | None = None
    path: str = ""
    rescale: float = 0.0
    unasked_lid_closures: float | None = None
    real_unasked_lid_closures: float | None = None
    lid_scale: float | None = None
    """The lids' own guidance scale (None: ``scale``, like every other channel)."""
    action_recall_lids: float | None = None
    steps: int | None = None
    """The sampling steps the run asked for (None: the model's default)."""

    @property
    def lids(self) -> float:
        return self.scale if self.lid_scale is None else self.lid_scale

    @property
    def label(self) -> str:
        return (f"{self.scale:g}" + (f" rescaled {self.rescale:g}" if self.rescale else "")
                + (f", lids {self.lids:g}" if self.lids != self.scale else "")
                + (f", {self.steps} steps" if self.steps is not None else ""))

    @property
    def score(self) -> float:
        parts = [self.r_precision_top3] + [v for v in (self.action_recall, self.order_accuracy) if v is not None]
        return sum(parts) / len(parts)


def read_run(folder: str | os.PathLike) -> tuple[ScaleRun, dict]:
    """The model row of one ``express4d evaluate --out`` folder, and the run's config."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no results.json (pass the --out folders of `express4d evaluate`)")
    info = json.loads(path.read_text(encoding="utf-8"))
    config = info.get("config", {})
    models = [name for name in info.get("rows", {}) if name != "Real motion"]
    if len(models) != 1:
        raise ValueError(f"{folder}: expected one model row, found {len(models)} ({', '.join(models) or 'none'}); "
                         "run `express4d evaluate` with one --model per scale")
    if config.get("guidance_scale") is None:
        raise ValueError(f"{folder}: the run did not set --guidance; rerun it with --guidance SCALE")
    row = info["rows"][models[0]]
    following = info.get("prompt_following", {}).get(models[0], {})
    real = info.get("prompt_following", {}).get("Real motion", {})
    run = ScaleRun(
        scale=float(config["guidance_scale"]), r_precision_top3=float(row["R_precision_top3"]["mean"]),
        fid=float(row["FID"]["mean"]), action_recall=following.get("action_recall"),
        order_accuracy=following.get("order_accuracy"), path=str(folder),
        rescale=float(config.get("guidance_rescale") or 0.0),
        unasked_lid_closures=_rate(following.get("unasked_lid_closures")),
        real_unasked_lid_closures=_rate(real.get("unasked_lid_closures")),
        lid_scale=None if config.get("lid_guidance_scale") is None else float(config["lid_guidance_scale"]),
        action_recall_lids=_rate(following.get("action_recall_lids")),
        steps=None if config.get("num_inference_steps") is None else int(config["num_inference_steps"]),
    )
    return run, config


def _rate(value) -> float | None:
    """A rate from results.json, None where it was not measured (absent or NaN)."""
    return None if value is None or value != value else float(value)


def lid_limit(run: ScaleRun, lid_factor: float) -> float | None:
    """The most unasked lid closures ``run`` may show (None where the run did not measure them)."""
    if run.unasked_lid_closures is None or run.real_unasked_lid_closures is None:
        return None
    return max(lid_factor * run.real_unasked_lid_closures, run.real_unasked_lid_closures + LID_SLACK)


def read_runs(folders) -> tuple[list[ScaleRun], dict]:
    """The runs of ``folders`` (by scale) and their shared config, checked to score one model on one split that
    is not the test split."""
    runs, configs = zip(*(read_run(f) for f in folders)) if folders else ((), ())
    if not runs:
        raise ValueError("give the --out folders of `express4d evaluate` runs, one per guidance scale")
    for key in ("models", "dataset", "split", "protocol", "seed", "replications"):
        values = {json.dumps(c.get(key)) for c in configs}
        if len(values) > 1:
            raise ValueError(f"the runs differ in {key} ({', '.join(sorted(values))}); compare one model on one split")
    if configs[0].get("split") == "test":
        raise ValueError("the runs scored the test split; choose the scale on a validation split (--split validation) "
                         "and keep the test split for reporting")
    if len({r.steps is None for r in runs}) > 1:
        raise ValueError("some runs set --steps and some did not; give every run --steps N to compare step counts "
                         f"({', '.join(r.path for r in runs if r.steps is None)} did not)")
    candidates = [_key(r) for r in runs]
    if len(set(candidates)) != len(candidates):
        raise ValueError("two runs share a guidance scale, rescale, lid scale and steps "
                         f"({', '.join(r.label for r in sorted(runs, key=_key))})")
    return sorted(runs, key=_key), configs[0]


def _key(run: ScaleRun) -> tuple[float, float, float, int]:
    """Gentler guidance first: the smaller scale, then the larger rescale, then the smaller lid scale; then the
    fewer steps."""
    return run.scale, -run.rescale, run.lids, run.steps or 0


def fid_reference(runs: list[ScaleRun]) -> ScaleRun:
    """The run whose FID bounds the others': the paper's 2.5 without rescale, else the gentlest plain scale."""
    plain = [r for r in runs if not r.rescale and r.lids == r.scale] or runs
    return next((r for r in plain if r.scale == PAPER_SCALE), min(plain, key=_key))


def lid_recall_floor(runs: list[ScaleRun], slack: float = LID_RECALL_SLACK) -> float | None:
    """The least lid-action recall a candidate may show (None where a run did not measure it)."""
    if any(r.action_recall_lids is None for r in runs):
        return None
    return max(r.action_recall_lids for r in runs) - slack


def choose_scale(runs: list[ScaleRun], fid_factor: float = 2.0, lid_factor: float = 2.0,
                 lid_recall_slack: float = LID_RECALL_SLACK) -> tuple[ScaleRun, list[ScaleRun]]:
    """The chosen run and the eligible ones (see the module docstring)."""
    reference = fid_reference(runs)
    floor = lid_recall_floor(runs, lid_recall_slack)
    eligible = [r for r in runs if r.fid <= fid_factor * reference.fid
                and (floor is None or r.action_recall_lids >= floor - 1e-12)]
    if not eligible:  # every FID-eligible run loses the lids: keep the best lid recall among them
        fid_ok = [r for r in runs if r.fid <= fid_factor * reference.fid]
        most = max(r.action_recall_lids for r in fid_ok)
        eligible = [r for r in fid_ok if r.action_recall_lids == most]
    if all(lid_limit(r, lid_factor) is not None for r in eligible):
        lids_ok = [r for r in eligible if r.unasked_lid_closures <= lid_limit(r, lid_factor) + 1e-12]
        fewest = min(r.unasked_lid_closures for r in eligible)
        eligible = lids_ok or [r for r in eligible if r.unasked_lid_closures == fewest]
    best = max(r.score for r in eligible)
    return min((r for r in eligible if r.score >= best - TIE), key=_key), eligible


def table(runs: list[ScaleRun], chosen: ScaleRun, eligible: list[ScaleRun], fid_factor: float,
          lid_recall_slack: float = LID_RECALL_SLACK) -> str:
    def cell(v):
        return "–" if v is None else f"{v:.3f}"

    best = max(r.score for r in eligible)
    reference = fid_reference(runs)
    floor = lid_recall_floor(runs, lid_recall_slack)
    lids_column = floor is not None
    lines = ["| Guidance | R@3 ↑ | FID ↓ | Action recall ↑ |" + (" Recall, lid actions ↑ |" if lids_column else "")
             + " Order ↑ | Unasked lid closures (real) | Score ↑ | |",
             "|---|---|---|---|---|---|---|---|" + ("---|" if lids_column else "")]
    for r in runs:
        lids = "–" if r.unasked_lid_closures is None else (
            f"{r.unasked_lid_closures:.3f} ({cell(r.real_unasked_lid_closures)})")
        if r is chosen:
            note = "chosen"
        elif r not in eligible:
            note = (f"FID over {fid_factor:g}x the reference" if r.fid > fid_factor * reference.fid
                    else f"lid-action recall over {lid_recall_slack:g} under the best"
                    if floor is not None and r.action_recall_lids < floor - 1e-12
                    else "unasked lid closures over the limit")
        else:
            note = (f"a tie (within {TIE:g} of the best score): the gentler guidance (then the fewer steps) wins" if r.score >= best - TIE
                    else "")
        lid_recall = f" {cell(r.action_recall_lids)} |" if lids_column else ""
        lines.append(f"| {r.label} | {r.r_precision_top3:.3f} | {r.fid:.3f} | {cell(r.action_recall)} |{lid_recall} "
                     f"{cell(r.order_accuracy)} | {lids} | {r.score:.3f} | {note} |")
    return "\n".join(lines)


def write_choice(model_dir: str | os.PathLike, chosen: ScaleRun, markdown: str, split: str) -> None:
    """Store ``chosen.scale`` as the pipeline's ``default_guidance_scale`` and the table in its card."""
    folder = Path(model_dir)
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"--write {folder}: no model_index.json (give a saved Express4DPipeline folder)")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    if index.get("_class_name") != "Express4DPipeline":
        raise ValueError(f"--write {folder}: a {index.get('_class_name')} folder; only Express4DPipeline (MDM) has guidance")
    index["default_guidance_scale"] = chosen.scale
    index["default_guidance_rescale"] = chosen.rescale
    if chosen.lid_scale is not None and chosen.lids != chosen.scale:
        index["default_lid_guidance_scale"] = chosen.lids
    else:
        index.pop("default_lid_guidance_scale", None)
    if chosen.steps is not None:  # runs without --steps leave the model's steps as they are
        index["default_num_inference_steps"] = chosen.steps
    with atomic_path(index_path) as tmp:
        tmp.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card_path = folder / "README.md"
    if card_path.is_file():
        body = (f"`guidance_scale=None` samples with **{chosen.scale:g}** (`default_guidance_scale` in "
                f"`model_index.json`; `guidance_rescale=None` with {chosen.rescale:g}"
                + (f"; the lids, `lid_guidance_scale=None`, with {chosen.lids:g}" if chosen.lids != chosen.scale else "")
                + (f"; `num_inference_steps=None` takes {chosen.steps}" if chosen.steps is not None else "")
                + f"), chosen on the `{split}` split with `python tools/choose_guidance.py` from one "
                "`express4d evaluate --protocol fixed-generations --guidance G [--guidance-rescale R] [--lid-guidance L] [--steps N]` run per "
                "candidate: the highest mean of R@3, action recall and order accuracy among the candidates whose FID "
                f"stays within twice the FID at the paper's {PAPER_SCALE:g} (or at the smallest scale run, without a "
                f"{PAPER_SCALE:g} run) and whose unasked lid closures stay within twice real motion's rate (or "
                f"{LID_SLACK:g} above it) and whose recall of lid actions is at most {LID_RECALL_SLACK:g} under the best "
                f"candidate's; scores within {TIE:g} of the best are a tie, won by the gentler guidance (the smaller scale, then the larger rescale, then the smaller lid scale), then by the fewer steps.\n\n{markdown}")
        card = replace_section(card_path.read_text(encoding="utf-8"), CARD_HEADING, body)
        with atomic_path(card_path) as tmp:
            tmp.write_text(card, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="DIR", help="--out folders of `express4d evaluate`, one per --guidance")
    parser.add_argument("--fid-factor", type=float, default=2.0,
                        help="a scale is eligible when its FID is at most this times the FID at 2.5 (default 2)")
    parser.add_argument("--lid-factor", type=float, default=2.0,
                        help="a scale is eligible when its unasked lid closures are at most this times real motion's "
                             f"rate (or {LID_SLACK:g} above it), where the runs measured them (default 2)")
    parser.add_argument("--lid-recall-slack", type=float, default=LID_RECALL_SLACK,
                        help="a candidate is eligible when its recall of lid actions is at most this under the best "
                             f"candidate's, where the runs measured it (default {LID_RECALL_SLACK:g})")
    parser.add_argument("--write", metavar="MODEL_DIR", default=None,
                        help="store the chosen scale as default_guidance_scale of this saved MDM pipeline (and its card)")
    args = parser.parse_args(argv)
    try:
        runs, config = read_runs(args.runs)
        chosen, eligible = choose_scale(runs, args.fid_factor, args.lid_factor, args.lid_recall_slack)
        markdown = table(runs, chosen, eligible, args.fid_factor, args.lid_recall_slack)
        print(markdown)
        split = config.get("split")
        print(f"\nChosen guidance scale: {chosen.label} (split `{split}`)")
        if args.write:
            write_choice(args.write, chosen, markdown, split)
            lids = f", default_lid_guidance_scale={chosen.lids:g}" if chosen.lids != chosen.scale else ""
            lids += f", default_num_inference_steps={chosen.steps}" if chosen.steps is not None else ""
            print(f"Wrote default_guidance_scale={chosen.scale:g}, default_guidance_rescale={chosen.rescale:g}{lids} into {Path(args.write) / 'model_index.json'}")
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
