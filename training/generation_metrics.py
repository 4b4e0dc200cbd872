"""Benchmark metrics of a generator during training, on a small fixed subset of the validation split.

Generates one motion per validation item (its first caption, its real length), embeds generated
and real motions and the captions with the evaluator, and scores them with the repository's
``express4d_metrics`` evaluate module (one replication; the full benchmark uses 20).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from express4d_dataset.motion import row_captions

logger = logging.getLogger(__name__)

_METRIC = None


def load_metric():
    global _METRIC
    if _METRIC is None:
        import evaluate

        from pipelines.evaluation.benchmark import METRIC_PATH  # the training loop reads the benchmark's metric module

        if not (METRIC_PATH / "express4d_metrics.py").is_file():
            raise FileNotFoundError(f"{METRIC_PATH}: the express4d_metrics module is missing; reinstall express4d")
        _METRIC = evaluate.load(str(METRIC_PATH))
    return _METRIC


@torch.no_grad()
def motion_generation_metrics(pipe, evaluator, split, num_samples: int, num_inference_steps: int,
                              generator: torch.Generator) -> dict:
    """R-precision, FID, MM-Dist, Diversity of ``pipe``'s samples for the first ``num_samples`` items of ``split``."""
    n = min(int(num_samples), len(split))
    if n < 2:
        raise ValueError(f"generation metrics need at least 2 validation items, the split has {len(split)}")
    max_frames = int(getattr(pipe, "max_frames", 196))
    texts, refs = [], []
    for i in range(n):
        row = split[i]
        texts.append((row_captions(row) or [""])[0])
        refs.append(np.asarray(row["motion"], dtype=np.float32)[:max_frames])
    kwargs = {}
    if "num_inference_steps" in pipe.supports:  # the diffusion baseline; T2M-GPT has no steps
        kwargs["num_inference_steps"] = num_inference_steps
    out = pipe(texts, num_frames=[len(r) for r in refs], generator=generator, output_type="np", **kwargs)
    split_fps = float(split[0]["fps"]) if "fps" in split.column_names else 20.0
    results = load_metric().compute(
        predictions=out.motions, references=refs, texts=texts, evaluator=evaluator, seed=0, batch_size=min(32, n), top_k=3,
        protocol="fixed-generations", num_replications=1, fps=float(out.fps), reference_fps=split_fps,
    )
    return {k: float(v) for k, v in results.items() if not k.endswith("_ci95")}
