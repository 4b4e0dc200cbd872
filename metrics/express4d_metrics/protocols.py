"""The two evaluation protocols: which items, captions and generations each replication scores.

``paper`` (the default of ``express4d evaluate``): the Express4D paper's code exactly
(eval/eval_humanml.py with data_loaders/humanml/utils/metrics.py and its motion loaders), point by point:

1. *Leftover items*: loaders use batches of 32 with ``drop_last`` (``get_dataset_loader`` /
   ``get_mdm_loader``), so R-precision, MM-Dist, FID and Diversity only see the items that fill whole
   batches.  The ground truth is read in its own shuffled passes: one for R-precision / MM-Dist / the
   real row's activations (``evaluate_matching_score`` over ``gt_loader``), another for the FID reference
   statistics (``evaluate_fid`` iterates ``gt_loader`` again), so the real row's FID is not 0.
2. *Replications*: the generated motions are regenerated in every replication (the ``eval_motion_loaders``
   lambdas build a new ``CompMDMGeneratedDataset`` each time), 20 for the main table.
3. *MultiModality*: 100 captions are asked, but whole batches are drawn (``mm_num_samples // batch_size + 1``
   = 4 batches of 32), so 128 captions x 30 generations, the first of which is the caption's ordinary
   generation; 10 pairs per caption, the same index draws for every caption (``calculate_multimodality``).
4. *Diversity*: 48 pairs (``diversity_times`` of the Express4D code), whatever the set size.
5. *Captions*: an item's caption is drawn at random each time the item is read, independently for the
   real and the generated passes (``Text2MotionDatasetV2.__getitem__``).

One deliberate choice where the paper's code is silent on fairness: within a replication every model is
given the same generation draws (the same items, captions and order), where the paper's loaders draw them
independently per model; the distribution is the same, and the models are compared on paired draws.

``fixed-generations`` (:func:`score_fixed_generations`): today's cheaper protocol, see its docstring.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .formulas import (
    activation_statistics,
    confidence_interval,
    default_diversity_times,
    diversity,
    frechet_with_root,
    full_batches,
    matching_score,
    multimodality,
    psd_sqrt,
    r_precision,
    single_threaded_blas,
)

logger = logging.getLogger("express4d_metrics")  # one name, not the hash-named module evaluate.load creates

PROTOCOLS = ("paper", "fixed-generations")
PAPER_BATCH_SIZE = 32
PAPER_DIVERSITY_TIMES = 48
PAPER_MM_REPEATS = 30
PAPER_MM_TIMES = 10


def _item_groups(item_ids: Sequence) -> list[np.ndarray]:
    """Entry indices of each item (entries sharing an id are captions of one motion), in first-seen order."""
    groups: dict = {}
    for i, key in enumerate(item_ids):
        groups.setdefault(key, []).append(i)
    return [np.asarray(v) for v in groups.values()]


@dataclass
class PaperDraws:
    """The random draws of one replication of the paper's protocol.

    Args:
        matching: ``[K]`` entries (item + caption) the ground-truth pass reads, in batch order (whole batches).
        fid: ``[K]`` items of the FID reference pass (its own shuffle).
        generation: ``[K]`` entries the models generate for, in batch order (whole batches).
        multimodality: ``[M]`` positions into ``generation`` whose captions get ``mm_repeats`` generations
            (whole batches; empty without MultiModality).
    """

    matching: np.ndarray
    fid: np.ndarray
    generation: np.ndarray
    multimodality: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def paper_draws(
    item_ids: Sequence,
    num_replications: int = 20,
    seed: int = 0,
    batch_size: int = PAPER_BATCH_SIZE,
    mm_texts: int | None = None,
) -> list[PaperDraws]:
    """The draws of every replication (deterministic in ``seed``): what to generate, and what is scored.

    ``item_ids``: one per entry (an entry is a caption of an item).  ``mm_texts``: captions asked for
    MultiModality (100 in the paper; whole batches are taken), or None for none.
    """
    groups = _item_groups(item_ids)
    n = len(groups)
    if n < batch_size:
        raise ValueError(
            f"the paper's protocol needs at least one whole batch of {batch_size} test motions, the split has {n}; "
            "use --protocol fixed-generations for smaller sets"
        )
    kept = (n // batch_size) * batch_size

    def read(rng) -> np.ndarray:  # one shuffled pass with drop_last: an entry (random caption) per kept item
        order = rng.permutation(n)[:kept]
        return np.array([groups[i][rng.integers(len(groups[i]))] for i in order], dtype=np.int64)

    draws = []
    for r in range(num_replications):
        matching = read(np.random.default_rng([seed, r, 0]))
        fid_items = np.random.default_rng([seed, r, 1]).permutation(n)[:kept]
        gen_rng = np.random.default_rng([seed, r, 2])
        generation = read(gen_rng)
        mm = np.zeros(0, dtype=np.int64)
        if mm_texts:
            num_batches = kept // batch_size
            picked = gen_rng.choice(num_batches, min(mm_texts // batch_size + 1, num_batches), replace=False)
            mm = np.concatenate([np.arange(b * batch_size, (b + 1) * batch_size) for b in np.sort(picked)])
        draws.append(PaperDraws(matching, fid_items, generation, mm))
    return draws


def item_index(item_ids: Sequence) -> np.ndarray:
    """``[E]`` the item (0..I-1, first-seen order) of each entry."""
    index, seen = np.zeros(len(item_ids), dtype=np.int64), {}
    for i, key in enumerate(item_ids):
        index[i] = seen.setdefault(key, len(seen))
    return index


def score_paper(
    text_embeddings: np.ndarray,
    item_embeddings: np.ndarray,
    item_ids: Sequence,
    draws: Sequence[PaperDraws],
    generated_embeddings: Sequence[np.ndarray] | None = None,
    multimodality_embeddings: Sequence[np.ndarray] | None = None,
    seed: int = 0,
    batch_size: int = PAPER_BATCH_SIZE,
    top_k: int = 3,
    diversity_times: int = PAPER_DIVERSITY_TIMES,
    multimodality_times: int = PAPER_MM_TIMES,
) -> dict:
    """The paper's protocol on precomputed embeddings: the metric dict (``real_*`` keys for the real row).

    Args:
        text_embeddings: ``[E, D]`` one per entry.
        item_embeddings: ``[I, D]`` one per real motion (item), in ``item_index(item_ids)`` order.
        item_ids: ``[E]`` the item of each entry.
        draws: from :func:`paper_draws` (one per replication).
        generated_embeddings: per replication, ``[K, D]`` embeddings of the motions generated for
            ``draws[r].generation`` (same order); None scores the real row only.
        multimodality_embeddings: per replication (or only the first ones), ``[M, R, D]`` for
            ``draws[r].multimodality``; MultiModality is averaged over the replications given.
    """
    with single_threaded_blas():
        t = np.asarray(text_embeddings, dtype=np.float64)
        items = np.asarray(item_embeddings, dtype=np.float64)
        of_item = item_index(item_ids)
        if len(of_item) != len(t):
            raise ValueError(f"item_ids has {len(of_item)} entries for {len(t)} text embeddings")
        if items.shape[0] != of_item.max() + 1:
            raise ValueError(f"item_embeddings has {items.shape[0]} rows for {of_item.max() + 1} items")
        if generated_embeddings is not None and len(generated_embeddings) != len(draws):
            raise ValueError(f"generated_embeddings: {len(generated_embeddings)} replications for {len(draws)} draws")
        rows: dict[str, dict[str, list]] = {"real": {}, "gen": {}}

        def add(row, values):
            for key, value in values.items():
                rows[row].setdefault(key, []).append(value)

        def matching(texts, motions) -> dict:
            rp = r_precision(texts, motions, batch_size=batch_size, top_k=top_k, rng=None)  # already in batch order
            out = {f"R_precision_top{k + 1}": float(rp[k]) for k in range(top_k)}
            out["MM_Dist"] = matching_score(texts, motions)
            return out

        for r, draw in enumerate(draws):
            rng = np.random.default_rng([seed, r, 3])
            ref = items[draw.fid]
            mu, sigma = activation_statistics(ref)
            root = psd_sqrt(sigma)
            real_motions = items[of_item[draw.matching]]
            real = matching(t[draw.matching], real_motions)
            real["FID"] = frechet_with_root(mu, sigma, root, *activation_statistics(real_motions))
            real["Diversity"] = diversity(real_motions, min(diversity_times, len(real_motions)), rng)
            add("real", real)
            if generated_embeddings is None:
                continue
            gen_motions = np.asarray(generated_embeddings[r], dtype=np.float64)
            if gen_motions.shape != (len(draw.generation), t.shape[1]):
                raise ValueError(
                    f"generated_embeddings[{r}]: expected shape {(len(draw.generation), t.shape[1])} (one per drawn entry), "
                    f"got {gen_motions.shape}"
                )
            gen = matching(t[draw.generation], gen_motions)
            gen["FID"] = frechet_with_root(mu, sigma, root, *activation_statistics(gen_motions))
            gen["Diversity"] = diversity(gen_motions, min(diversity_times, len(gen_motions)), rng)
            if multimodality_embeddings is not None and r < len(multimodality_embeddings):
                gen["MultiModality"] = multimodality(multimodality_embeddings[r], multimodality_times, rng)
            add("gen", gen)
        return _summarise(rows)


def _summarise(rows: dict) -> dict:
    out = {}
    for row, prefix in (("gen", ""), ("real", "real_")):
        for key, values in rows[row].items():
            mean, ci = confidence_interval(values)
            out[prefix + key] = mean
            out[prefix + key + "_ci95"] = ci
    return out


def score_fixed_generations(
    text_embeddings: np.ndarray,
    reference_embeddings: np.ndarray,
    prediction_embeddings: Optional[np.ndarray] = None,
    item_ids: Optional[Sequence] = None,
    multimodality_embeddings: Optional[np.ndarray] = None,
    num_replications: int = 1,
    seed: int = 0,
    batch_size: int = 32,
    top_k: int = 3,
    diversity_times: Optional[int] = None,
    multimodality_times: int = 10,
) -> dict:
    """The ``fixed-generations`` protocol on precomputed embeddings; returns the metric dict.

    Cheaper than the paper's, and it isolates evaluation noise from generation noise: one generation per
    (motion, caption) entry is reused by every replication, which redraws only the caption per motion,
    the shuffled batches and the Diversity pairs; FID compares the drawn generations with all real motions
    (one per item), so the real row's FID is 0 by construction.  Not comparable with the paper's table.

    Per replication: draw one entry per item (``item_ids``), then R-precision and MM-Dist on the
    same shuffled full batches, FID of the drawn generations against all real motions (one per
    item), Diversity, and MultiModality.
    """
    with single_threaded_blas():
        return _score_fixed_generations(
            text_embeddings, reference_embeddings, prediction_embeddings, item_ids, multimodality_embeddings,
            num_replications, seed, batch_size, top_k, diversity_times, multimodality_times,
        )


def _score_fixed_generations(
    text_embeddings, reference_embeddings, prediction_embeddings, item_ids, multimodality_embeddings,
    num_replications, seed, batch_size, top_k, diversity_times, multimodality_times,
) -> dict:
    t = np.asarray(text_embeddings, dtype=np.float64)
    r = np.asarray(reference_embeddings, dtype=np.float64)
    p = None if prediction_embeddings is None else np.asarray(prediction_embeddings, dtype=np.float64)
    n = len(t)
    for name, arr in (("reference_embeddings", r), ("prediction_embeddings", p)):
        if arr is not None and arr.shape != t.shape:
            raise ValueError(f"{name} has shape {arr.shape} but text_embeddings has {t.shape}; give one row per text")
    if t.ndim != 2 or n < 2:
        raise ValueError(f"text_embeddings must have shape [N, D] with N >= 2, got {t.shape}")
    if num_replications < 1:
        raise ValueError(f"num_replications must be >= 1, got {num_replications}")
    if item_ids is None:
        groups = [np.array([i]) for i in range(n)]
    else:
        if len(item_ids) != n:
            raise ValueError(f"item_ids has {len(item_ids)} entries for {n} texts; give one id per text")
        groups = _item_groups(item_ids)
    num_items = len(groups)
    if num_items < 2:
        raise ValueError("need at least 2 distinct items to score")
    if num_items < batch_size:
        logger.warning("only %d items, fewer than one R-precision batch of %d: using one batch of all", num_items, batch_size)
    times = diversity_times if diversity_times is not None else default_diversity_times(num_items)
    real_items = r[np.array([g[0] for g in groups])]  # one real motion per item
    mu_real, sigma_real = activation_statistics(real_items)
    root_real = psd_sqrt(sigma_real)  # computed once: the real set is the same in every replication
    fid_cache = {}

    def fid_against_real(row, motions, chosen):
        key = (row, chosen.tobytes())
        if key not in fid_cache:
            mu, sigma = activation_statistics(motions[chosen])
            fid_cache[key] = frechet_with_root(mu_real, sigma_real, root_real, mu, sigma)
        return fid_cache[key]

    rng = np.random.default_rng(seed)

    rows = {"real": {}, "gen": {}}
    for _ in range(num_replications):
        chosen = np.array([g[rng.integers(len(g))] for g in groups])
        perm = rng.permutation(num_items)  # the same shuffled batches for both rows
        kept = np.concatenate(full_batches(perm, batch_size))
        tt = t[chosen]
        for row, motions in (("real", r), ("gen", p)):
            if motions is None:
                continue
            m = motions[chosen]
            rp = r_precision(tt[perm], m[perm], batch_size=batch_size, top_k=top_k, rng=None)
            values = {f"R_precision_top{k + 1}": rp[k] for k in range(top_k)}
            values["FID"] = fid_against_real(row, motions, chosen)
            values["MM_Dist"] = matching_score(tt[kept], m[kept])
            values["Diversity"] = diversity(m, times, rng)
            if row == "gen" and multimodality_embeddings is not None:
                values["MultiModality"] = multimodality(multimodality_embeddings, multimodality_times, rng)
            for key, value in values.items():
                rows[row].setdefault(key, []).append(value)
    out = _summarise(rows)
    if p is None and multimodality_embeddings is not None:
        mean, ci = confidence_interval(
            [multimodality(multimodality_embeddings, multimodality_times, rng) for _ in range(num_replications)]
        )
        out["MultiModality"], out["MultiModality_ci95"] = mean, ci
    return out


