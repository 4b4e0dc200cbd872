"""Unasked actions: how much of the face moves that the caption did not ask for?

The prompt-following columns count the actions a caption names (recall, order, co-occurrence) and unasked lid
closures; a motion that moves more of the face in every stage scores as well or better on all of them.  This
benchmark counts the rest: per motion, over the stand-in corpus's actions that share no channel with any asked
action (lid actions left out: idle blinks are no error), the share the prompt-following detector finds active
(``express4d_metrics.prompt_following``'s activity and thresholds).  Real motion has a rate of its own (idle
movement, spontaneous expressions of the stand-in performers), so a model is read against it.

It scores the cached generations of ``express4d evaluate --protocol fixed-generations --out DIR`` runs (one
motion per caption, stand-in corpus), so it costs seconds:

    express4d evaluate --model mdm --split validation --protocol fixed-generations --out runs/val
    python benchmarks/unasked_actions.py runs/val runs/val-8-steps     # one row per run, and real motion's
    python benchmarks/unasked_actions.py runs/test/generations/*      # a run of several models: one row each
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "metrics"))


def unasked_candidates(annotation) -> list[str]:
    """The actions a motion for ``annotation`` (a take's plan) is not asked for and that share no channel with
    any asked action; lid actions are left out."""
    from express4d_dataset.synthetic import ACTION_NAMES
    from express4d_metrics.prompt_following import _annotation, _disjoint, lid_actions

    asked = {key for step in _annotation(annotation)["steps"] for key in step}
    return [k for k in ACTION_NAMES
            if k not in asked and k not in lid_actions() and all(_disjoint(k, a) for a in asked)]


def unasked_actions(motion: np.ndarray, annotation, thresholds: dict[str, float] | None = None) -> tuple[int, int]:
    """``(active, candidates)``: of :func:`unasked_candidates`, how many are active in ``motion`` ``[T, 61]``."""
    from express4d_metrics.prompt_following import _active, action_thresholds

    thresholds = thresholds or action_thresholds()
    candidates = unasked_candidates(annotation)
    return sum(bool(_active(motion, k, thresholds).any()) for k in candidates), len(candidates)


def rate(motions, annotations) -> tuple[float, float]:
    """``(share of candidates active, mean active per motion)`` over paired motions and plans."""
    from express4d_metrics.prompt_following import action_thresholds

    thresholds = action_thresholds()
    counts = [unasked_actions(m, a, thresholds) for m, a in zip(motions, annotations)]
    total = sum(c for _, c in counts)
    return (sum(h for h, _ in counts) / total if total else float("nan")), float(np.mean([h for h, _ in counts]))


def cached_motions(run_dir: Path, num_entries: int) -> list[np.ndarray]:
    """The one generation per caption a fixed-generations run cached (request keys ``0:<entry>:0``): ``run_dir`` is
    the run's ``--out`` folder (one model) or one model's folder under its ``generations/``.  Where earlier runs
    of other settings left batches in the folder, the newest batch's settings are read."""
    from pipelines.evaluation.benchmark_generation import _read_cache

    run_dir = Path(run_dir)
    folders = [run_dir] if any(run_dir.glob("batch-*.npz")) else sorted((run_dir / "generations").glob("*"))
    if len(folders) != 1:
        raise ValueError(f"{run_dir}: expected the generation cache of one model under generations/, found "
                         f"{len(folders)}; give one of them (RUN/generations/NAME) or a run with one --model")
    batches = sorted(folders[0].glob("batch-*.npz"), key=lambda path: path.stat().st_mtime)
    found = {}
    if batches:  # a folder reused by runs of other settings: the last run's (its header) are the ones it scored
        with np.load(batches[-1], allow_pickle=False) as data:
            found = _read_cache(folders[0], str(data["header"]))
    missing = [e for e in range(num_entries) if f"0:{e}:0" not in found]
    if missing:
        raise ValueError(f"{run_dir}: {len(missing)} of {num_entries} captions have no cached generation; "
                         "finish the run first (it resumes from its cache)")
    return [found[f"0:{e}:0"] for e in range(num_entries)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path,
                        help="--out folders of `express4d evaluate --protocol fixed-generations` (one model each), or "
                             "a model's folder under one's generations/")
    args = parser.parse_args(argv)

    from pipelines.auto_pipeline import default_model_path
    from pipelines.evaluation.benchmark import load_split, prepare_entries

    def results(run: Path) -> Path:  # a run folder, or a model's cache folder inside one
        return run / "results.json" if (run / "results.json").is_file() else run.parent.parent / "results.json"

    configs = [json.loads(results(run).read_text(encoding="utf-8"))["config"] for run in args.runs]
    for run, config in zip(args.runs, configs):
        if config.get("protocol") != "fixed-generations":
            raise SystemExit(f"error: {run}: a {config.get('protocol')!r} run; give fixed-generations runs")
    if len({(c.get("dataset"), c.get("split"), c.get("dataset_config"), c.get("limit")) for c in configs}) > 1:
        raise SystemExit("error: the runs scored different splits; compare runs of one split")
    config = configs[0]
    evaluator = json.loads((default_model_path("evaluator") / "config.json").read_text(encoding="utf-8"))
    rows = load_split(config["dataset"], split=config["split"], config_name=config.get("dataset_config"))
    entries = prepare_entries(rows, fps=float(evaluator["fps"]), max_frames=int(evaluator["max_frames"]),
                              min_frames=int(evaluator["unit_length"]), limit=config.get("limit"))
    if not entries.has_annotations:
        raise SystemExit("error: the split has no plans (annotations): unasked actions need the stand-in corpus")
    print(f"| source | unasked actions active (share) | per motion |\n|---|---|---|")
    real = rate([entries.motions[i] for i in entries.item_index], entries.annotations)
    print(f"| real motion ({config['split']}) | {real[0]:.3f} | {real[1]:.2f} |")
    for run in args.runs:
        share, per = rate(cached_motions(run, len(entries.texts)), entries.annotations)
        print(f"| {run} | {share:.3f} | {per:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
