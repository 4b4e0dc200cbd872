"""The Express4D benchmark: generate for every test caption, embed once, score 20 replications, tabulate.

Used by ``express4d evaluate`` and ``benchmarks/evaluation.py``::

    from pipelines.benchmark import run_benchmark
    result = run_benchmark(["path/to/mdm-pipeline"], evaluator="path/to/evaluator", dataset="express4d")
    print(result.to_markdown())

Protocol (Guo et al. 2022 as used by the Express4D paper code, see the metric card):

1. Test rows are brought to the evaluator's frame rate (20 fps) and cropped to its
   ``max_frames`` (196). Each (row, caption) pair is one *entry*.
2. Each model generates one motion per entry, with the real motion's length (seeded per entry;
   saved under ``out_dir`` so an interrupted run resumes where it stopped).
3. Texts, real motions and generated motions are embedded once with the evaluator.
4. The metric module (``evaluate.load(metrics/express4d_metrics)``) repeats the random draws
   ``replications`` times — one caption per row, shuffled batches of 32 for R-precision,
   Diversity indices — and reports mean and 95% interval. The real-motion row is always scored.
5. ``multimodality=True`` also generates ``mm_repeats`` motions for ``mm_texts`` entries.
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

logger = logging.getLogger(__name__)

def _metric_path() -> Path:
    try:  # installed with the package (pyproject maps metrics/express4d_metrics -> express4d_metrics)
        import express4d_metrics

        return Path(express4d_metrics.PATH)
    except ImportError:  # a checkout on sys.path without installation
        return Path(__file__).resolve().parents[1] / "metrics" / "express4d_metrics"


METRIC_PATH = _metric_path()
"""Folder of the ``evaluate`` metric module (``evaluate.load(str(METRIC_PATH))``)."""

REAL_ROW = "Real motion"
GT_TOP3_WARNING_THRESHOLD = 0.5

COLUMNS = [
    ("R_precision_top1", "R-Precision Top-1 ↑"),
    ("R_precision_top2", "Top-2 ↑"),
    ("R_precision_top3", "Top-3 ↑"),
    ("FID", "FID ↓"),
    ("MM_Dist", "MM-Dist ↓"),
    ("Diversity", "Diversity →"),
    ("MultiModality", "MultiModality ↑"),
]


@dataclass
class BenchmarkEntries:
    """The evaluation entries: one per (test row, caption)."""

    item_ids: list  # row id of each entry
    texts: list  # caption of each entry
    item_index: np.ndarray  # [N] index into ``motions``
    motions: list  # one real [T, 61] motion per row (evaluator fps, cropped)
    fps: float

    @property
    def lengths(self) -> list:
        return [len(self.motions[i]) for i in self.item_index]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class BenchmarkResult:
    """Scores per row (``{"Real motion": {metric: {"mean", "ci95"}}, model: ...}``) and run details."""

    rows: dict
    config: dict
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "config": self.config, "timings_s": self.timings, "warnings": self.warnings}

    def to_markdown(self, decimals: int = 3) -> str:
        """One table: rows Real motion + each model, columns the metrics as ``mean ± ci95``."""
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
        return "\n".join(lines)

    def save(self, out_dir: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``results.json`` and ``results.md`` into ``out_dir``; returns both paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        json_path, md_path = out / "results.json", out / "results.md"
        json_path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        notes = "".join(f"\n> **Warning:** {w}\n" for w in self.warnings)
        md_path.write_text(
            f"{self.to_markdown()}\n\nMean ± 95% interval over {self.config.get('replications')} replications "
            "(1.96·std/√n). Each caption is generated once and reused by every replication, which redraws "
            "the caption per motion, the R-precision batches and the Diversity pairs: the interval leaves out "
            "sampling variance (the paper code regenerates per replication), so FID and MM-Dist show ± 0 "
            f"when every motion has one caption. Split `{self.config.get('split')}`, {self.config.get('num_entries')} captions of "
            f"{self.config.get('num_items')} motions; evaluator `{self.config.get('evaluator')}`.\n{notes}",
            encoding="utf-8",
        )
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
    try:
        return datasets.load_dataset(str(dataset), name=config_name, split=split)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"Could not load the dataset {dataset!r}: {e}. Build it with `express4d data build --raw RAW --out {dataset}`"
        ) from None


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
    linearly resampled. Rows shorter than ``min_frames`` after that are skipped with a warning.
    """
    from express4d_dataset.motion import check_motion, row_captions, to_fps

    item_ids, texts, item_index, motions = [], [], [], []
    skipped = []
    for r, row in enumerate(rows):
        if limit is not None and len(motions) >= limit:
            break
        rid = row.get("id", r)
        m = check_motion(row["motion"], name=f"dataset row {rid}")
        m = to_fps(m, float(row.get("fps") or fps), fps)[:max_frames]
        if len(m) < min_frames:
            skipped.append(rid)
            continue
        captions = row_captions(row)
        if not captions:
            raise ValueError(f"dataset row {rid} has no caption; every test motion needs at least one")
        if max_captions_per_item is not None:
            captions = captions[:max_captions_per_item]
        for c in captions:
            item_ids.append(rid)
            texts.append(c)
            item_index.append(len(motions))
        motions.append(m)
    if skipped:
        logger.warning("Skipped %d rows shorter than %d frames at %g fps: %s", len(skipped), min_frames, fps, skipped[:10])
    if len(motions) < 2:
        raise ValueError(f"the split has {len(motions)} usable motions; the benchmark needs at least 2")
    return BenchmarkEntries(item_ids, texts, np.asarray(item_index), motions, fps)


# --------------------------------------------------------------------------- models
def _entry_seed(seed: int, index: int) -> int:
    return (int(seed) * 1_000_003 + int(index)) % (2**63 - 1)


def generate_motions(
    pipe,
    texts: Sequence[str],
    num_frames: Sequence[int],
    fps: float,
    num_inference_steps: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
    num_motions_per_prompt: int = 1,
    progress: bool = True,
    cache_file: str | os.PathLike | None = None,
    desc: str = "generate",
) -> list:
    """One motion per text (``num_motions_per_prompt`` each) at ``fps``, with the given lengths.

    Lengths are in frames at ``fps``; a pipeline with another native ``fps`` is asked for the same
    duration and its output resampled. Pipelines with ``max_frames`` are capped to it.

    Entry ``i`` draws from ``torch.Generator().manual_seed(f(seed, i))`` (one generator per motion).
    ``num_inference_steps`` is passed to pipelines that support it (``pipe.supports``; T2M-GPT has
    no steps).  Every text is encoded once up front and passed as ``prompt_embeds``.  With ``cache_file``, finished
    batches are stored (``.npz``, no pickle) and reused when the same call is repeated.
    """
    import torch
    from tqdm.auto import tqdm

    from express4d_dataset.motion import resample

    texts = list(texts)
    num_frames = [int(n) for n in num_frames]
    if len(texts) != len(num_frames):
        raise ValueError(f"generate_motions: {len(texts)} texts but {len(num_frames)} lengths")
    pipe_fps = getattr(pipe, "fps", None)
    pipe_fps = float(pipe_fps) if isinstance(pipe_fps, (int, float)) and pipe_fps > 0 else float(fps)
    # ask for the same duration at the pipeline's own rate; resampled (and cropped) to ``fps`` below
    request = [max(1, int(round(n * pipe_fps / fps))) for n in num_frames]
    cap = getattr(pipe, "max_frames", None)
    if isinstance(cap, int):
        request = [min(n, cap) for n in request]
    fingerprint = pipeline_fingerprint(pipe) if cache_file is not None else None
    key = _cache_key(texts, num_frames, num_inference_steps, seed, num_motions_per_prompt, fingerprint)
    done = _read_cache(cache_file, key)
    order = np.argsort(request, kind="stable")  # similar lengths together: less padding
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    kwargs = {"output_type": "np"}
    if num_inference_steps is not None and "num_inference_steps" in pipe.supports:
        kwargs["num_inference_steps"] = int(num_inference_steps)
    embeds = None
    bar = tqdm(total=len(texts), desc=desc, unit="text", disable=not progress, initial=len(done))
    for batch in batches:
        if all(int(i) in done for i in batch):
            continue
        gens = [
            torch.Generator().manual_seed(_entry_seed(seed, int(i) * num_motions_per_prompt + j))
            for i in batch
            for j in range(num_motions_per_prompt)
        ]
        if embeds is None:  # every text encoded once, only when something is left to generate
            embeds = pipe.encode_prompt(texts, do_classifier_free_guidance=False)[0]
        out = pipe(
            [texts[i] for i in batch],
            prompt_embeds=embeds[[int(i) for i in batch]],
            num_frames=[request[i] for i in batch],
            num_motions_per_prompt=num_motions_per_prompt,
            generator=gens,
            **kwargs,
        )
        out_fps = float(getattr(out, "fps", fps) or fps)
        for k, i in enumerate(batch):
            group = []
            for j in range(num_motions_per_prompt):
                m = np.asarray(out.motions[k * num_motions_per_prompt + j], dtype=np.float32)
                if out_fps != fps:
                    m = resample(m, out_fps, fps)
                group.append(m[: num_frames[i]])  # e.g. T2M-GPT rounds lengths up to a multiple of 4
            done[int(i)] = group
        _write_cache(cache_file, key, done)
        bar.update(len(batch))
    bar.close()
    result = [done[i] for i in range(len(texts))]
    return [g[0] for g in result] if num_motions_per_prompt == 1 else result


def pipeline_fingerprint(pipe) -> str:
    """Hash of a pipeline's class, component configs (scheduler included) and weights.

    Part of the generation cache key, so a retrained checkpoint in the same folder, or another
    scheduler, never reuses generations of the previous one.
    """
    import torch

    h = hashlib.sha256(type(pipe).__qualname__.encode())
    components = getattr(pipe, "components", None)
    if not isinstance(components, dict):
        components = {"pipeline": pipe}
    for name in sorted(components):
        component = components[name]
        if component is None:
            continue
        h.update(name.encode())
        config = getattr(component, "config", None)
        if config is not None:
            config = config.to_dict() if hasattr(config, "to_dict") else dict(config)
            h.update(json.dumps(config, sort_keys=True, default=str).encode())
        if isinstance(component, torch.nn.Module):
            for key, tensor in component.state_dict().items():
                h.update(key.encode())
                h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode("utf-8")).hexdigest()


def _read_cache(cache_file, key: str) -> dict:
    if cache_file is None or not Path(cache_file).is_file():
        return {}
    try:
        with np.load(cache_file, allow_pickle=False) as data:
            if str(data["key"]) != key:
                logger.info("%s was made with other settings; regenerating", cache_file)
                return {}
            index, counts, lengths, frames = data["index"], data["counts"], data["lengths"], data["frames"]
    except (OSError, KeyError, ValueError) as e:
        logger.warning("Ignoring unreadable generation cache %s (%s)", cache_file, e)
        return {}
    done, offset, li = {}, 0, 0
    for i, c in zip(index, counts):
        group = []
        for _ in range(int(c)):
            n = int(lengths[li])
            group.append(frames[offset : offset + n])
            offset += n
            li += 1
        done[int(i)] = group
    logger.info("Resuming: %d generations read from %s", len(done), cache_file)
    return done


def _write_cache(cache_file, key: str, done: dict) -> None:
    if cache_file is None:
        return
    keys = sorted(done)
    motions = [m for i in keys for m in done[i]]
    tmp = Path(str(cache_file) + ".tmp.npz")
    Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        tmp,
        key=np.array(key),
        index=np.array(keys, dtype=np.int64),
        counts=np.array([len(done[i]) for i in keys], dtype=np.int64),
        lengths=np.array([len(m) for m in motions], dtype=np.int64),
        frames=np.concatenate(motions).astype(np.float32) if motions else np.zeros((0, 61), np.float32),
    )
    os.replace(tmp, cache_file)


def _slug(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name).rstrip("/"))
    return (stem[-60:] or "model") + "-" + hashlib.sha1(str(name).encode()).hexdigest()[:8]


def _row_from_scores(scores: dict, prefix: str = "") -> dict:
    row = {}
    for key, _ in COLUMNS:
        if prefix + key in scores:
            row[key] = {"mean": float(scores[prefix + key]), "ci95": float(scores[prefix + key + "_ci95"])}
    return row


# --------------------------------------------------------------------------- orchestration
def run_benchmark(
    models: Sequence = (),
    evaluator=None,
    dataset="express4d",
    split: str = "test",
    dataset_config: str | None = None,
    replications: int = 20,
    multimodality: bool = False,
    mm_texts: int = 100,
    mm_repeats: int = 30,
    mm_times: int = 10,
    num_inference_steps: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
    out_dir: str | os.PathLike | None = None,
    model_names: Sequence[str] | None = None,
    max_captions_per_item: int | None = None,
    limit: int | None = None,
    device: str | None = None,
    metric_path: str | os.PathLike | None = None,
    progress: bool = True,
    run_info: dict | None = None,
) -> BenchmarkResult:
    """Score the real test motions and each model; see the module docstring for the protocol.

    Args:
        models: pipeline folders / Hub ids, or loaded pipeline objects (anything with
            ``__call__(prompts, num_frames=[...], num_motions_per_prompt=..., generator=[...],
            output_type="np")`` returning ``.motions``).
        evaluator: evaluator folder / Hub id or a loaded :class:`Express4DEvaluator`.
        dataset: dataset folder / Hub id (``load_dataset``), or a ``Dataset`` / ``DatasetDict``.
        num_inference_steps: sampling steps for pipelines that have them (their default when None).
        out_dir: where ``results.json`` / ``results.md`` and the resumable generation caches go.
        limit: use only the first ``limit`` test rows (quick checks).
        run_info: entries recorded in ``result.config`` (and results.json) over the defaults, e.g. the
            command line, or how ``models`` / ``evaluator`` should be named instead of their paths.
    """
    import evaluate

    from .loading import is_bundled_path, load_motion_pipeline
    from .modeling_evaluator import Express4DEvaluator

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
    real_item_emb = model_eval.embed_motions(entries.motions, progress=progress)
    real_emb = real_item_emb[entries.item_index]
    timings["embed_real"] = time.perf_counter() - t

    metric_dir = Path(metric_path or METRIC_PATH)
    if not (metric_dir / "express4d_metrics.py").is_file():
        raise FileNotFoundError(
            f"The metric module is missing at {metric_dir}; pass metric_path= (a folder holding express4d_metrics.py) "
            "or reinstall express4d (pip install express4d)"
        )
    metric = evaluate.load(str(metric_dir))
    common = dict(item_ids=entries.item_ids, num_replications=replications, seed=seed)
    t = time.perf_counter()
    real_scores = metric.compute(text_embeddings=text_emb, reference_embeddings=real_emb, **common)
    timings["score_real"] = time.perf_counter() - t
    result_rows = {REAL_ROW: _row_from_scores(real_scores, prefix="real_")}

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
    if multimodality:
        mm_index = np.sort(np.random.default_rng(seed).choice(len(entries), min(mm_texts, len(entries)), replace=False))

    names = list(model_names) if model_names is not None else []
    for k, model in enumerate(models):
        t = time.perf_counter()
        is_path = isinstance(model, (str, os.PathLike))
        pipe = load_motion_pipeline(str(model), device=device) if is_path else model
        if k < len(names):
            name = names[k]
        elif is_path and not is_bundled_path(model):
            name = str(model).rstrip("/").split("/")[-1]
        else:  # a bundled model or a pipeline object: what it is and how it samples
            name = pipe.describe(num_inference_steps)
        if name in result_rows:
            name = f"{name} ({k + 1})"
        pipe.set_progress_bar_config(disable=True)  # one bar per model over all captions instead
        cache = Path(out_dir) / "generations" / f"{_slug(str(model) if isinstance(model, (str, os.PathLike)) else name)}.npz" if out_dir else None
        generated = generate_motions(
            pipe, entries.texts, entries.lengths, fps=entries.fps, num_inference_steps=num_inference_steps, seed=seed,
            batch_size=batch_size, progress=progress, cache_file=cache, desc=f"generate [{name}]",
        )
        timings[f"generate[{name}]"] = time.perf_counter() - t
        mm_emb = None
        if mm_index is not None:
            t = time.perf_counter()
            mm_cache = cache.with_name(cache.stem + "-mm.npz") if cache is not None else None
            groups = generate_motions(
                pipe, [entries.texts[i] for i in mm_index], [entries.lengths[i] for i in mm_index], fps=entries.fps,
                num_inference_steps=num_inference_steps, seed=seed + 1, batch_size=max(1, batch_size // mm_repeats),
                num_motions_per_prompt=mm_repeats, progress=progress, cache_file=mm_cache, desc=f"multimodality [{name}]",
            )
            if mm_repeats == 1:
                groups = [[g] for g in groups]
            mm_emb = model_eval.embed_motions([m for g in groups for m in g]).reshape(len(groups), mm_repeats, -1)
            timings[f"generate_mm[{name}]"] = time.perf_counter() - t
        t = time.perf_counter()
        gen_emb = model_eval.embed_motions(generated, progress=progress)
        scores = metric.compute(
            text_embeddings=text_emb, reference_embeddings=real_emb, prediction_embeddings=gen_emb,
            multimodality_embeddings=mm_emb, multimodality_times=mm_times, **common,
        )
        timings[f"score[{name}]"] = time.perf_counter() - t
        result_rows[name] = _row_from_scores(scores)
        del pipe

    timings["total"] = time.perf_counter() - t0
    config = {
        "models": [str(m) if isinstance(m, (str, os.PathLike)) else type(m).__name__ for m in models],
        "evaluator": str(evaluator) if isinstance(evaluator, (str, os.PathLike)) else type(evaluator).__name__,
        "dataset": str(dataset) if isinstance(dataset, (str, os.PathLike)) else type(dataset).__name__,
        "dataset_config": dataset_config, "split": split, "replications": replications, "seed": seed, "num_inference_steps": num_inference_steps,
        "multimodality": multimodality, "mm_texts": mm_texts if multimodality else None,
        "mm_repeats": mm_repeats if multimodality else None, "num_items": len(entries.motions),
        "num_entries": len(entries), "fps": entries.fps, "limit": limit,
    }
    config.update(run_info or {})
    result = BenchmarkResult(rows=result_rows, config=config, timings=timings, warnings=warnings)
    if out_dir is not None:
        result.save(out_dir)
    return result
