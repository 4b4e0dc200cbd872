"""The Express4D benchmark: generate, embed, score replications, tabulate (``express4d evaluate``).

Used by ``express4d evaluate`` and ``benchmarks/evaluation.py``::

    from pipelines.evaluation.benchmark import run_benchmark
    result = run_benchmark(["path/to/mdm-pipeline"], evaluator="path/to/evaluator", dataset="express4d")
    print(result.to_markdown())

1. Test rows are brought to the evaluator's frame rate (20 fps) and cropped to its ``max_frames``
   (196). Each (row, caption) pair is one *entry*; a row is an *item*.
2. Texts and real motions are embedded once with the evaluator.
3. ``protocol="paper"`` (default): the Express4D paper's protocol exactly (see the metric card and
   ``express4d_metrics/protocols.py``): every replication draws its own ground-truth passes and its
   own generation pass (whole batches of 32, a random caption per item read), and the models generate
   anew for each.  All replications' generations are batched together and cached
   (:mod:`pipelines.evaluation.benchmark_generation`), so an interrupted run resumes.
   ``protocol="fixed-generations"``: one generation per entry, reused by every replication (cheaper;
   isolates evaluation noise; not comparable with the paper's table).
4. The metric module (``evaluate.load(express4d_metrics)``) scores the draws; the real-motion row is
   always there.  On the stand-in corpus (rows with ``annotations``) a second table reports prompt
   following: action recall, order accuracy (also on held-out compositions), co-occurrence, and the
   evaluator's order-swap accuracy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from express4d_dataset.atomic_file import atomic_path

from .benchmark_generation import GenerationRequest, generate_requests

logger = logging.getLogger(__name__)


def metric_path() -> Path:
    """Folder of the ``evaluate`` metric module (``evaluate.load(str(metric_path()))``)."""
    try:  # installed with the package (pyproject maps metrics/express4d_metrics -> express4d_metrics)
        import express4d_metrics

        return Path(express4d_metrics.PATH)
    except ImportError:  # a checkout on sys.path without installation
        return Path(__file__).resolve().parents[2] / "metrics" / "express4d_metrics"


METRIC_PATH = metric_path()

REAL_ROW = "Real motion"
GT_TOP3_WARNING_THRESHOLD = 0.5
PROTOCOL_LABELS = {
    "paper": "the Express4D paper's protocol (whole batches of 32, independent ground-truth pass, motions regenerated "
             "in every replication, 48 Diversity pairs, 128 MultiModality captions): comparable with the paper's table",
    "fixed-generations": "the fixed-generations protocol (one generation per caption reused by every replication): "
                         "cheaper, isolates evaluation noise; NOT comparable with the paper's table",
}

COLUMNS = [
    ("R_precision_top1", "R-Precision Top-1 ↑"),
    ("R_precision_top2", "Top-2 ↑"),
    ("R_precision_top3", "Top-3 ↑"),
    ("FID", "FID ↓"),
    ("MM_Dist", "MM-Dist ↓"),
    ("Diversity", "Diversity →"),
    ("MultiModality", "MultiModality ↑"),
]
FOLLOWING_COLUMNS = [
    ("action_recall", "Action recall ↑"),
    ("action_recall_lids", "Recall, lid actions ↑"),
    ("order_accuracy", "Order ↑"),
    ("order_accuracy_held_out", "Order, held-out pairs ↑"),
    ("action_recall_held_out_wording", "Recall, held-out wording ↑"),
    ("order_accuracy_held_out_wording", "Order, held-out wording ↑"),
    ("order_accuracy_three_step", "Three steps in order ↑"),
    ("cooccurrence", "Co-occurrence ↑"),
    ("unasked_lid_closures", "Unasked lid closures ↓"),
    ("order_swap_accuracy", "Evaluator order-swap ↑"),
]


@dataclass
class BenchmarkEntries:
    """The evaluation entries: one per (test row, caption)."""

    item_ids: list  # row id of each entry
    texts: list  # caption of each entry
    item_index: np.ndarray  # [N] index into ``motions``
    motions: list  # one real [T, 61] motion per row (evaluator fps, cropped)
    fps: float
    annotations: list = field(default_factory=list)  # per entry: the take's plan (stand-in corpus) or None
    swapped: list = field(default_factory=list)  # per entry: the caption with its steps reversed, or None

    @property
    def lengths(self) -> list:
        return [len(self.motions[i]) for i in self.item_index]

    @property
    def has_annotations(self) -> bool:
        return bool(self.annotations) and all(a is not None for a in self.annotations)

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class BenchmarkResult:
    """Scores per row (``{"Real motion": {metric: {"mean", "ci95"}}, model: ...}``) and run details."""

    rows: dict
    config: dict
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    following: dict = field(default_factory=dict)
    """Prompt-following table (stand-in corpus): ``{row: {metric: value}}``."""

    def to_dict(self) -> dict:
        return {"rows": self.rows, "prompt_following": self.following, "config": self.config, "timings_s": self.timings,
                "warnings": self.warnings}

    def caption(self) -> str:
        c = self.config
        return (f"Protocol: {PROTOCOL_LABELS.get(c.get('protocol'), c.get('protocol'))}. Mean ± 95% interval "
                f"(1.96·std/√n) over {c.get('replications')} replications; split `{c.get('split')}`, "
                f"{c.get('num_entries')} captions of {c.get('num_items')} motions; evaluator `{c.get('evaluator')}`.")

    def to_markdown(self, decimals: int = 3) -> str:
        """The benchmark table (rows Real motion + each model, ``mean ± ci95``), then the prompt-following table."""
        present = [(k, label) for k, label in COLUMNS if any(k in r for r in self.rows.values())]
        lines = ["| Model | " + " | ".join(label for _, label in present) + " |", "|---" * (len(present) + 1) + "|"]
        for name, metrics in self.rows.items():
            cells = []
            for key, _ in present:
                if key in metrics:
                    mean, ci = (v if abs(v) >= 0.5 * 10**-decimals else 0.0 for v in (metrics[key]["mean"], metrics[key]["ci95"]))
                    cells.append(f"{mean:.{decimals}f} ± {ci:.{decimals}f}")
                else:
                    cells.append("–")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        if self.following:
            lines += ["", self.following_markdown(decimals)]
        return "\n".join(lines)

    def following_markdown(self, decimals: int = 3) -> str:
        present = [(k, label) for k, label in FOLLOWING_COLUMNS if any(k in r for r in self.following.values())]
        lines = ["| Prompt following | " + " | ".join(label for _, label in present) + " |",
                 "|---" * (len(present) + 1) + "|"]
        for name, metrics in self.following.items():
            cells = []
            for key, _ in present:
                value = metrics.get(key)
                count = metrics.get(key + "_n")
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    cells.append("–")
                else:
                    cells.append(f"{value:.{decimals}f}" + (f" (n={count})" if count else ""))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def save(self, out_dir: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``results.json`` and ``results.md`` into ``out_dir`` (atomically); returns both paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        json_path, md_path = out / "results.json", out / "results.md"
        notes = "".join(f"\n> **Warning:** {w}\n" for w in self.warnings)
        for path, text in ((json_path, json.dumps(self.to_dict(), indent=2)),
                           (md_path, f"{self.to_markdown()}\n\n{self.caption()}\n{notes}")):
            with atomic_path(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        return json_path, md_path


# --------------------------------------------------------------------------- data
def load_split(dataset, split: str = "test", config_name: str | None = None):
    """A ``datasets.Dataset`` from a folder / Hub id (``load_dataset``), a ``DatasetDict`` or a ``Dataset``."""
    import datasets

    if isinstance(dataset, datasets.Dataset):
        return dataset
    if isinstance(dataset, datasets.DatasetDict):
        if split not in dataset:
            raise ValueError(f"dataset has no split {split!r} (it has {list(dataset)}); pass --split")
        return dataset[split]
    from express4d_dataset.load import load_express4d

    return load_express4d(str(dataset), config_name, split=split)


def prepare_entries(
    rows,
    fps: float = 20.0,
    max_frames: int = 196,
    min_frames: int = 4,
    max_captions_per_item: int | None = None,
    limit: int | None = None,
) -> BenchmarkEntries:
    """Real motions at ``fps`` cropped to ``max_frames`` and one entry per (row, caption).

    Rows at a multiple of ``fps`` keep every k-th frame (the paper's 60 -> 20 fps); other rates are
    linearly resampled. Rows shorter than ``min_frames`` after that are skipped with a warning.  Rows with
    ``annotations`` (the stand-in corpus) give each entry its plan and its step-swapped caption.
    """
    from express4d_dataset.motion import check_motion, row_annotations, row_caption_pairs, to_fps

    entries = BenchmarkEntries([], [], np.zeros(0, dtype=np.int64), [], fps)
    item_index, skipped = [], []
    for r, row in enumerate(rows):
        if limit is not None and len(entries.motions) >= limit:
            break
        rid = row.get("id", r)
        m = check_motion(row["motion"], name=f"dataset row {rid}")
        m = to_fps(m, float(row.get("fps") or fps), fps)[:max_frames]
        if len(m) < min_frames:
            skipped.append(rid)
            continue
        annotation = row_annotations(row)
        pairs = row_caption_pairs(row)
        if not pairs:
            raise ValueError(f"dataset row {rid} has no caption; every test motion needs at least one")
        if max_captions_per_item is not None:
            pairs = pairs[:max_captions_per_item]
        for caption, swap in pairs:
            entries.item_ids.append(rid)
            entries.texts.append(caption)
            entries.annotations.append(annotation)
            entries.swapped.append(swap)
            item_index.append(len(entries.motions))
        entries.motions.append(m)
    if skipped:
        logger.warning("Skipped %d rows shorter than %d frames at %g fps: %s", len(skipped), min_frames, fps, skipped[:10])
    if len(entries.motions) < 2:
        raise ValueError(f"the split has {len(entries.motions)} usable motions; the benchmark needs at least 2")
    entries.item_index = np.asarray(item_index, dtype=np.int64)
    return entries


# --------------------------------------------------------------------------- orchestration
def _row_from_scores(scores: dict, prefix: str = "") -> dict:
    row = {}
    for key, _ in COLUMNS:
        if prefix + key in scores:
            row[key] = {"mean": float(scores[prefix + key]), "ci95": float(scores[prefix + key + "_ci95"])}
    return row


def _following_from_scores(scores: dict, prefix: str = "") -> dict:
    out = {}
    for key, _ in FOLLOWING_COLUMNS:
        if prefix + key in scores:
            out[key] = float(scores[prefix + key])
            if prefix + key + "_n" in scores:
                out[key + "_n"] = int(scores[prefix + key + "_n"])
    return out


def _cache_dir(out_dir, name: str, fingerprint_hint: str) -> Path | None:
    """The generation cache of one model: named after its row, never after this machine's paths."""
    if out_dir is None:
        return None
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60] or "model"
    return Path(out_dir) / "generations" / f"{stem}-{hashlib.sha1(fingerprint_hint.encode()).hexdigest()[:8]}"


def plan_requests(protocol: str, num_entries: int, draws, mm_index, mm_repeats: int, mm_replications: int) -> list[GenerationRequest]:
    """Every motion a model generates for a run (see :mod:`pipelines.evaluation.benchmark_generation`)."""
    if protocol == "paper":
        requests = [GenerationRequest(r, int(e)) for r, d in enumerate(draws) for e in d.generation]
        for r, d in enumerate(draws[:mm_replications]):
            requests += [GenerationRequest(r, int(d.generation[p]), k) for p in d.multimodality for k in range(1, mm_repeats)]
        return requests
    requests = [GenerationRequest(0, e) for e in range(num_entries)]
    if mm_index is not None:
        requests += [GenerationRequest(1, int(e), k) for e in mm_index for k in range(mm_repeats)]
    return requests


def run_benchmark(
    models: Sequence = (),
    evaluator=None,
    dataset="express4d",
    split: str = "test",
    dataset_config: str | None = None,
    protocol: str = "paper",
    replications: int = 20,
    multimodality: bool = False,
    mm_texts: int = 100,
    mm_repeats: int = 30,
    mm_times: int = 10,
    mm_replications: int | None = None,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    seed: int = 0,
    batch_size: int = 64,
    out_dir: str | os.PathLike | None = None,
    model_names: Sequence[str] | None = None,
    max_captions_per_item: int | None = None,
    limit: int | None = None,
    device: str | None = None,
    metric_path: str | os.PathLike | None = None,
    progress: bool = True,
    run_info: dict | None = None,
    precision: str = "fp32",
    guidance_rescale: float | None = None,
    lid_guidance_scale: float | None = None,
    prompt_stages: str | None = None,
) -> BenchmarkResult:
    """Score the real test motions and each model; see the module docstring for the protocols.

    Args:
        models: pipeline folders / Hub ids, or loaded pipelines (either express4d pipeline: the shared call
            contract, ``encode_prompt``, ``supports``, ``describe``).
        evaluator: evaluator folder / Hub id or a loaded :class:`Express4DEvaluator`.
        dataset: dataset folder / Hub id, or a ``Dataset`` / ``DatasetDict``.
        protocol: ``"paper"`` (default) or ``"fixed-generations"``.
        mm_replications: paper protocol: MultiModality in the first N replications (default: all, as the paper).
        num_inference_steps: sampling steps for pipelines that have them (their default when None).
        guidance_scale: classifier-free guidance scale for pipelines that have it (MDM; their default when None);
            models without it generate as usual, with a warning.  Part of the row's name and of the results.
        guidance_rescale: the same for the guidance rescale (``Express4DPipeline``'s ``guidance_rescale``).
        lid_guidance_scale: the same for the lids' own guidance scale (``Express4DPipeline``'s ``lid_guidance_scale``).
        prompt_stages: ``"auto"`` / ``"off"`` for pipelines that split staged prompts (MDM; their default when None).
        batch_size: motions per generation batch (results do not depend on it: every motion has its own seed).
        out_dir: where ``results.json`` / ``results.md`` and the resumable generation caches go.
        limit: use only the first ``limit`` test rows (quick checks).
        precision: ``"fp32"`` (default) or ``"bf16"``: the models generate in bfloat16 (about 2x faster on a CPU
            with native bfloat16, several times slower on one without; the evaluator and the metrics stay
            float32).  Recorded in the results.
        run_info: entries recorded in ``result.config`` (and results.json) over the defaults, e.g. the
            command line, or how ``models`` / ``evaluator`` should be named instead of their paths.
    """
    import evaluate

    from express4d_metrics.protocols import PROTOCOLS, paper_draws

    from ..auto_pipeline import is_bundled_path, load_motion_pipeline
    from ..models.modeling_evaluator import Express4DEvaluator

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision: must be 'fp32' or 'bf16', got {precision!r}")
    timings = {}
    t0 = time.perf_counter()
    if evaluator is None:
        raise ValueError("run_benchmark: pass evaluator= (an Express4DEvaluator folder, Hub id or model); train one first")
    model_eval = Express4DEvaluator.from_pretrained(str(evaluator)) if isinstance(evaluator, (str, os.PathLike)) else evaluator
    if device is not None:
        model_eval.to(device)
    model_eval.eval()
    rows = load_split(dataset, split=split, config_name=dataset_config)
    entries = prepare_entries(
        rows, fps=float(model_eval.config.fps), max_frames=int(model_eval.config.max_frames),
        min_frames=int(model_eval.config.unit_length), max_captions_per_item=max_captions_per_item, limit=limit,
    )
    timings["load"] = time.perf_counter() - t0
    logger.info("%d entries (%d motions) from split %s", len(entries), len(entries.motions), split)

    t = time.perf_counter()
    text_emb = model_eval.embed_texts(entries.texts)
    item_emb = model_eval.embed_motions(entries.motions, progress=progress)
    real_emb = item_emb[entries.item_index]
    timings["embed_real"] = time.perf_counter() - t

    metric_dir = Path(metric_path or METRIC_PATH)
    if not (metric_dir / "express4d_metrics.py").is_file():
        raise FileNotFoundError(
            f"The metric module is missing at {metric_dir}; pass metric_path= (a folder holding express4d_metrics.py) "
            "or reinstall express4d (pip install express4d)"
        )
    metric = evaluate.load(str(metric_dir))
    following = entries.has_annotations
    common = dict(item_ids=entries.item_ids, num_replications=replications, seed=seed, protocol=protocol, mm_texts=mm_texts,
                  multimodality_times=mm_times)
    extras = {}
    if following:
        extras["annotations"] = entries.annotations
    if any(entries.swapped):
        extras["swapped_texts"] = entries.swapped
    t = time.perf_counter()
    draws = paper_draws(entries.item_ids, replications, seed, mm_texts=mm_texts if multimodality else None) if protocol == "paper" else None
    real_scores = _score(metric, common, text_emb, real_emb, None, None, extras, entries, model_eval)
    timings["score_real"] = time.perf_counter() - t
    result_rows = {REAL_ROW: _row_from_scores(real_scores, prefix="real_")}
    following_rows = {REAL_ROW: _following_from_scores(real_scores, prefix="real_")} if (following or any(entries.swapped)) else {}

    warnings = []
    top3 = real_scores["real_R_precision_top3"]
    if top3 < GT_TOP3_WARNING_THRESHOLD:
        msg = (
            f"The evaluator's R-precision top-3 on real test motions is {top3:.3f} (< {GT_TOP3_WARNING_THRESHOLD}): "
            "it barely matches texts to motions, so the model rows are not meaningful; train the evaluator longer or "
            "check that it was trained on this corpus"
        )
        logger.warning(msg)
        warnings.append(msg)

    mm_index = None
    if multimodality and protocol == "fixed-generations":
        mm_index = np.sort(np.random.default_rng(seed).choice(len(entries), min(mm_texts, len(entries)), replace=False))
    mm_reps = replications if mm_replications is None else max(0, min(int(mm_replications), replications))
    requests = plan_requests(protocol, len(entries), draws, mm_index, mm_repeats, mm_reps if multimodality else 0)

    names = list(model_names) if model_names is not None else []
    for k, model in enumerate(models):
        t = time.perf_counter()
        is_path = isinstance(model, (str, os.PathLike))
        pipe = load_motion_pipeline(str(model), device=device) if is_path else model
        if precision == "bf16":
            import torch

            if k == 0 and str(getattr(pipe, "device", "cpu")).startswith("cpu"):
                from ..pipeline_utils import slow_bfloat16_warning

                if (warning := slow_bfloat16_warning("--precision bf16", "--precision fp32")) is not None:
                    logger.warning(warning)
            pipe.to(dtype=torch.bfloat16)
        guidance = guidance_scale if "guidance_scale" in pipe.supports else None
        rescale = guidance_rescale if "guidance_rescale" in pipe.supports else None
        lids = lid_guidance_scale if "lid_guidance_scale" in pipe.supports else None
        stages = prompt_stages if "prompt_stages" in pipe.supports else None
        for asked, kept, what in ((guidance_scale, guidance, "classifier-free guidance"),
                                  (guidance_rescale, rescale, "guidance rescale"), (lid_guidance_scale, lids, "lid guidance"),
                                  (prompt_stages, stages, "prompt stages")):
            if asked is not None and kept is None:
                msg = f"{what} {asked}: {pipe.describe()} has no {what}; it generates without"
                logger.warning(msg)
                warnings.append(msg)
        # describe() of a pipeline without guidance takes neither guidance argument
        own = {k: v for k, v in (("guidance_scale", guidance), ("guidance_rescale", rescale), ("prompt_stages", stages),
                                 ("lid_guidance_scale", lids)) if v is not None}
        label = pipe.describe(num_inference_steps, **own)
        if k < len(names):
            name = names[k]
        elif is_path and not is_bundled_path(model):
            name = str(model).rstrip("/").split("/")[-1]
        else:  # a bundled model or a pipeline object: what it is and how it samples
            name = label
        if name in result_rows:
            name = f"{name} ({k + 1})"
        pipe.set_progress_bar_config(disable=True)  # one bar per model over all its motions instead
        motions = generate_requests(
            pipe, requests, entries.texts, entries.lengths, fps=entries.fps, num_inference_steps=num_inference_steps,
            seed=seed, batch_size=batch_size, guidance_scale=guidance, guidance_rescale=rescale, prompt_stages=stages,
            lid_guidance_scale=lids, cache_dir=_cache_dir(out_dir, name, label),
            progress=progress, desc=f"generate [{name}]",
        )
        timings[f"generate[{name}]"] = time.perf_counter() - t
        t = time.perf_counter()
        generated, mm = _arrange(protocol, motions, draws, len(entries), mm_index, mm_repeats, mm_reps if multimodality else 0)
        scores = _score(metric, common, text_emb, real_emb, generated, mm, extras, entries, model_eval)
        timings[f"score[{name}]"] = time.perf_counter() - t
        result_rows[name] = _row_from_scores(scores)
        if following_rows:
            following_rows[name] = _following_from_scores(scores)
        del pipe

    timings["total"] = time.perf_counter() - t0
    config = {
        "protocol": protocol,
        "models": [str(m) if isinstance(m, (str, os.PathLike)) else type(m).__name__ for m in models],
        "evaluator": str(evaluator) if isinstance(evaluator, (str, os.PathLike)) else type(evaluator).__name__,
        "dataset": str(dataset) if isinstance(dataset, (str, os.PathLike)) else type(dataset).__name__,
        "dataset_config": dataset_config, "split": split, "replications": replications, "seed": seed,
        "num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale,
        "guidance_rescale": guidance_rescale, "lid_guidance_scale": lid_guidance_scale, "prompt_stages": prompt_stages,
        "precision": precision,
        "multimodality": multimodality,
        "mm_texts": mm_texts if multimodality else None, "mm_repeats": mm_repeats if multimodality else None,
        "mm_replications": (mm_reps if protocol == "paper" else 1) if multimodality else None,
        "num_items": len(entries.motions), "num_entries": len(entries), "fps": entries.fps, "limit": limit,
        "generations_per_model": len(requests) if models else 0,
    }
    config.update(run_info or {})
    result = BenchmarkResult(rows=result_rows, config=config, timings=timings, warnings=warnings, following=following_rows)
    if out_dir is not None:
        result.save(out_dir)
    return result


def _arrange(protocol, motions: dict, draws, num_entries: int, mm_index, mm_repeats: int, mm_replications: int):
    """The generated motions in the metric module's layouts: per replication (paper) or per entry."""
    if protocol == "paper":
        generated = [[motions[GenerationRequest(r, int(e))] for e in d.generation] for r, d in enumerate(draws)]
        mm = None
        if mm_replications:
            mm = [[[motions[GenerationRequest(r, int(d.generation[p]), k)] for k in range(mm_repeats)] for p in d.multimodality]
                  for r, d in enumerate(draws[:mm_replications])]
        return generated, mm
    generated = [motions[GenerationRequest(0, e)] for e in range(num_entries)]
    mm = None if mm_index is None else [[motions[GenerationRequest(1, int(e), k)] for k in range(mm_repeats)] for e in mm_index]
    return generated, mm


def _score(metric, common, text_emb, real_emb, generated, mm, extras, entries, evaluator) -> dict:
    """Scores from precomputed text/real embeddings; generated motions (and MultiModality groups) are embedded here."""
    kwargs = dict(common)
    kwargs.update(text_embeddings=text_emb, reference_embeddings=real_emb, evaluator=evaluator, fps=entries.fps)
    if "annotations" in extras:
        kwargs["annotations"] = extras["annotations"]
        kwargs["references"] = [entries.motions[i] for i in entries.item_index]
        kwargs["texts"] = entries.texts  # held-out wording is read from the captions
    if "swapped_texts" in extras:
        kwargs["swapped_texts"] = extras["swapped_texts"]
    if generated is not None:
        paper = common["protocol"] == "paper"
        kwargs["prediction_embeddings"] = ([evaluator.embed_motions(g) for g in generated] if paper
                                           else evaluator.embed_motions(generated))
        if "annotations" in extras:
            kwargs["predictions"] = generated
        if mm is not None:
            kwargs["multimodality_predictions"] = mm
    return metric.score(**kwargs)
