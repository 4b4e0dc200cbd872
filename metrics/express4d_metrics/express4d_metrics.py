"""Express4D text-to-facial-motion metrics: R-precision, FID, MM-Dist, Diversity, MultiModality.

The evaluator-based protocol of Guo et al. (2022), as used by the Express4D paper's code, with
its formulas as plain numpy functions (importable on their own) and an ``evaluate.Metric``
wrapper that embeds motions and texts with an ``Express4DEvaluator`` checkpoint.
"""

import logging
from typing import Optional, Sequence

import datasets
import evaluate
import numpy as np

logger = logging.getLogger(__name__)

_CITATION = """\
@inproceedings{guo2022generating,
  title     = {Generating Diverse and Natural 3D Human Motions From Text},
  author    = {Guo, Chuan and Zou, Shihao and Zuo, Xinxin and Wang, Sen and Ji, Wei and Li, Xingyu and Cheng, Li},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {5152--5161},
  year      = {2022}
}
@inproceedings{heusel2017gans,
  title     = {GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium},
  author    = {Heusel, Martin and Ramsauer, Hubert and Unterthiner, Thomas and Nessler, Bernhard and Hochreiter, Sepp},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2017}
}
@article{aloni2025express4d,
  title   = {Express4D: Expressive, Friendly, and Extensible 4D Facial Motion Generation Benchmark},
  author  = {Aloni, Yaron and Shalev-Arkushin, Rotem and Shafir, Yonatan and Tevet, Guy and Fried, Ohad and Bermano, Amit Haim},
  journal = {arXiv preprint arXiv:2508.12438},
  year    = {2025}
}
"""

_DESCRIPTION = """\
Evaluator-based metrics for text-to-facial-motion generation on Express4D (61 ARKit / Live Link
Face channels), following the text-to-motion literature (Guo et al. 2022): a contrastively
trained evaluator embeds texts and motions into one space, then

* R-precision top-1/2/3: in shuffled batches of 32 (text, motion) pairs, the share of texts whose
  own motion is among the k nearest motions (Euclidean distance between embeddings);
* FID: Frechet distance between Gaussians fitted to real and generated motion embeddings;
* MM-Dist (matching score): mean distance between each text and its motion;
* Diversity: mean distance between two random index sets of generated motions;
* MultiModality: mean distance between pairs of motions generated for the same text.

Every metric is reported for the generated motions and for the real motions (the ground-truth
row, ``real_*`` keys) which shows how good the evaluator itself is. With ``num_replications``
> 1 the random draws (batch shuffling, caption choice, diversity indices) are repeated and the
mean and the 95% interval ``1.96 * std / sqrt(n)`` (``*_ci95`` keys) are returned; embeddings
are computed once and reused.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `[T_i, 61]` float arrays): generated motions, one per text,
        **denormalised** (raw channel values at the evaluator's fps, 20 fps for the benchmark).
    references (`list` of `[T_i, 61]` float arrays): the real motion of each text, same order.
    texts (`list` of `str`): the caption each prediction was generated from.
    evaluator (`str` or `Express4DEvaluator`): path or Hub id of an evaluator checkpoint, or a
        loaded model. Not needed when all embeddings are given.
    item_ids (`list`, optional): one id per entry; entries sharing an id are alternative captions
        of one real motion, and each replication draws one entry per id (as the paper's loader
        draws one caption per item). Default: every entry is its own item.
    multimodality_predictions (`list` of `list` of motions, optional): for M texts, R generations
        each; enables MultiModality.
    prediction_embeddings, reference_embeddings, text_embeddings (`[N, D]` arrays, optional):
        precomputed evaluator embeddings; with them `predictions`/`references` may be omitted
        (`prediction_embeddings=None` then scores the real motions only).
    multimodality_embeddings (`[M, R, D]` array, optional): precomputed MultiModality embeddings.
    num_replications (`int`, default 1): repetitions of the random draws (20 in the benchmark).
    seed (`int`, default 0): seed of all draws.
    batch_size (`int`, default 32): R-precision batch size (incomplete last batch dropped).
    top_k (`int`, default 3): R-precision is reported for k = 1..top_k.
    diversity_times (`int`, optional): size of the Diversity index sets; default 300 when there
        are more than 300 motions (HumanML3D), otherwise 48 (the Express4D paper code), capped
        at N - 1.
    multimodality_times (`int`, default 10): pairs drawn per text for MultiModality.
Returns:
    dict of floats: `R_precision_top1..top{k}`, `FID`, `MM_Dist`, `Diversity`, and
    `MultiModality` (when given), for the generated motions; the same with a `real_` prefix for
    the real motions (no real MultiModality); every key also with a `_ci95` suffix (0.0 for a
    single replication).
Examples:
    >>> import numpy as np, evaluate
    >>> metric = evaluate.load("metrics/express4d_metrics")
    >>> rng = np.random.default_rng(0)
    >>> text = rng.normal(size=(64, 8)).astype("float32")
    >>> results = metric.compute(text_embeddings=text, reference_embeddings=text,
    ...                          prediction_embeddings=text + 0.01, seed=0)
    >>> round(results["real_R_precision_top1"], 2), round(results["R_precision_top3"], 2)
    (1.0, 1.0)

    With motions and a trained evaluator checkpoint:

    >>> results = metric.compute(predictions=generated, references=real, texts=captions,
    ...                          evaluator="path/to/express4d-evaluator", num_replications=20)  # doctest: +SKIP
"""


# --------------------------------------------------------------------------- formulas (pure numpy)
def euclidean_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[N, M]`` Euclidean distances between the rows of ``a`` [N, D] and ``b`` [M, D] (float64)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    sq = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(sq, 0.0))


def top_k_hits(distances: np.ndarray, top_k: int = 3) -> np.ndarray:
    """``[N, top_k]`` bool: is column ``i`` (the true match of row ``i``) among row ``i``'s k nearest?

    Cumulative in k. Ties are broken by a stable sort (lower index first), as ``argsort`` does.
    """
    n = distances.shape[0]
    order = np.argsort(distances, axis=1, kind="stable")[:, :top_k]
    correct = order == np.arange(n)[:, None]
    hits = np.cumsum(correct, axis=1) > 0
    if hits.shape[1] < top_k:  # fewer candidates than k: the true match is always among the k nearest
        hits = np.concatenate([hits, np.ones((n, top_k - hits.shape[1]), dtype=bool)], axis=1)
    return hits


def r_precision(
    text_embeddings: np.ndarray,
    motion_embeddings: np.ndarray,
    batch_size: int = 32,
    top_k: int = 3,
    rng: Optional[np.random.Generator] = None,
) -> np.ndarray:
    """R-precision ``[top_k]``: shuffle (with ``rng``; no shuffle if None), split into full batches of
    ``batch_size`` (the remainder is dropped; fewer samples than a batch -> one batch of all),
    rank each batch's motions by distance to each text, and count hits among the k nearest."""
    n = len(text_embeddings)
    idx = rng.permutation(n) if rng is not None else np.arange(n)
    hits = np.zeros(top_k)
    count = 0
    for batch in _full_batches(idx, batch_size):
        d = euclidean_distance_matrix(text_embeddings[batch], motion_embeddings[batch])
        hits += top_k_hits(d, top_k).sum(0)
        count += len(batch)
    return hits / count


def _full_batches(idx: np.ndarray, batch_size: int) -> list:
    if len(idx) < batch_size:
        return [idx]
    n_full = len(idx) // batch_size
    return [idx[i * batch_size : (i + 1) * batch_size] for i in range(n_full)]


def matching_score(text_embeddings: np.ndarray, motion_embeddings: np.ndarray) -> float:
    """MM-Dist: mean Euclidean distance between each text and its own motion."""
    t = np.asarray(text_embeddings, dtype=np.float64)
    m = np.asarray(motion_embeddings, dtype=np.float64)
    return float(np.linalg.norm(t - m, axis=1).mean())


def activation_statistics(embeddings: np.ndarray):
    """Mean ``[D]`` and covariance ``[D, D]`` (``np.cov(rowvar=False)``, unbiased) of ``[N, D]`` embeddings."""
    x = np.asarray(embeddings, dtype=np.float64)
    if len(x) < 2:
        raise ValueError(f"FID needs at least 2 embeddings per set, got {len(x)}")
    return x.mean(0), np.cov(x, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``.

    ``Tr((S1 S2)^(1/2))`` is computed as the sum of the square roots of the eigenvalues of the
    symmetric PSD matrix ``S1^(1/2) S2 S1^(1/2)``, which has the same eigenvalues as ``S1 S2``.
    This equals the usual ``scipy.linalg.sqrtm`` route (real part, 1e-6 ridge on failure) without
    its complex round-off, and needs no scipy.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"frechet_distance: shapes do not match (mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape})"
        )
    return _frechet_with_root(mu1, sigma1, _psd_sqrt(sigma1), mu2, sigma2)


def _frechet_with_root(mu1, sigma1, root1, mu2, sigma2) -> float:
    inner = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid(real_embeddings: np.ndarray, generated_embeddings: np.ndarray) -> float:
    """FID between two sets of embeddings (Gaussians fitted with :func:`activation_statistics`)."""
    mu1, s1 = activation_statistics(real_embeddings)
    mu2, s2 = activation_statistics(generated_embeddings)
    return frechet_distance(mu1, s1, mu2, s2)


def diversity(embeddings: np.ndarray, diversity_times: int, rng: np.random.Generator) -> float:
    """Mean distance between ``embeddings[i]`` and ``embeddings[j]`` for two independent draws of
    ``diversity_times`` indices each (without replacement within a draw)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if diversity_times > len(x):
        raise ValueError(f"diversity_times={diversity_times} is larger than the number of motions ({len(x)}); lower it")
    first = rng.choice(len(x), diversity_times, replace=False)
    second = rng.choice(len(x), diversity_times, replace=False)
    return float(np.linalg.norm(x[first] - x[second], axis=1).mean())


def multimodality(embeddings: np.ndarray, multimodality_times: int, rng: np.random.Generator) -> float:
    """``embeddings`` [M, R, D]: R generations for each of M texts. Two independent draws of
    ``multimodality_times`` of the R indices (shared by all texts); mean distance over pairs and texts."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"multimodality: embeddings must have shape [M, R, D], got {x.shape}")
    if multimodality_times > x.shape[1]:
        raise ValueError(
            f"multimodality_times={multimodality_times} is larger than the generations per text ({x.shape[1]}); "
            "generate more per text or lower multimodality_times"
        )
    first = rng.choice(x.shape[1], multimodality_times, replace=False)
    second = rng.choice(x.shape[1], multimodality_times, replace=False)
    return float(np.linalg.norm(x[:, first] - x[:, second], axis=2).mean())


def confidence_interval(values: Sequence[float]):
    """``(mean, 1.96 * std / sqrt(n))`` with the population std (``np.std``, ddof=0)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("confidence_interval: no values")
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(v.size))


def default_diversity_times(num_motions: int) -> int:
    """300 (HumanML3D) when more than 300 motions, else 48 (Express4D paper code), at most N - 1."""
    times = 300 if num_motions > 300 else 48
    return max(1, min(times, num_motions - 1))


def _single_threaded_blas():
    """Limit BLAS to one thread while scoring if threadpoolctl is installed (optional).

    The matrices are small (512 x 512); on a busy machine a multi-threaded BLAS oversubscribes
    the cores and runs an order of magnitude slower than one thread.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def score_embeddings(
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
    """The whole protocol on precomputed embeddings; returns the metric dict (see the module docs).

    Per replication: draw one entry per item (``item_ids``), then R-precision and MM-Dist on the
    same shuffled full batches, FID of the drawn generations against all real motions (one per
    item), Diversity, and MultiModality.
    """
    with _single_threaded_blas():
        return _score_embeddings(
            text_embeddings, reference_embeddings, prediction_embeddings, item_ids, multimodality_embeddings,
            num_replications, seed, batch_size, top_k, diversity_times, multimodality_times,
        )


def _score_embeddings(
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
        first_seen = {}
        for i, key in enumerate(item_ids):
            first_seen.setdefault(key, []).append(i)
        groups = [np.array(v) for v in first_seen.values()]
    num_items = len(groups)
    if num_items < 2:
        raise ValueError("need at least 2 distinct items to score")
    if num_items < batch_size:
        logger.warning("only %d items, fewer than one R-precision batch of %d: using one batch of all", num_items, batch_size)
    times = diversity_times if diversity_times is not None else default_diversity_times(num_items)
    real_items = r[np.array([g[0] for g in groups])]  # one real motion per item
    mu_real, sigma_real = activation_statistics(real_items)
    root_real = _psd_sqrt(sigma_real)  # computed once: the real set is the same in every replication
    fid_cache = {}

    def fid_against_real(row, motions, chosen):
        key = (row, chosen.tobytes())
        if key not in fid_cache:
            mu, sigma = activation_statistics(motions[chosen])
            fid_cache[key] = _frechet_with_root(mu_real, sigma_real, root_real, mu, sigma)
        return fid_cache[key]

    rng = np.random.default_rng(seed)

    rows = {"real": {}, "gen": {}}
    for _ in range(num_replications):
        chosen = np.array([g[rng.integers(len(g))] for g in groups])
        perm = rng.permutation(num_items)  # the same shuffled batches for both rows
        kept = np.concatenate(_full_batches(perm, batch_size))
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
    out = {}
    for row, prefix in (("gen", ""), ("real", "real_")):
        for key, values in rows[row].items():
            mean, ci = confidence_interval(values)
            out[prefix + key] = mean
            out[prefix + key + "_ci95"] = ci
    if p is None and multimodality_embeddings is not None:
        mean, ci = confidence_interval(
            [multimodality(multimodality_embeddings, multimodality_times, rng) for _ in range(num_replications)]
        )
        out["MultiModality"], out["MultiModality_ci95"] = mean, ci
    return out


# --------------------------------------------------------------------------- evaluate wrapper
_EVALUATOR_CACHE = {}


def _load_evaluator(evaluator):
    if evaluator is None:
        raise ValueError(
            "express4d_metrics: pass evaluator= (path or Hub id of an Express4DEvaluator checkpoint, or the model), "
            "or precomputed *_embeddings"
        )
    if not isinstance(evaluator, str):
        return evaluator
    if evaluator not in _EVALUATOR_CACHE:
        try:
            import pipelines  # noqa: F401  (registers the express4d model types)
            from pipelines.modeling_evaluator import Express4DEvaluator
        except ImportError:
            raise ImportError("express4d_metrics: loading an evaluator needs the express4d package (pip install express4d)") from None
        _EVALUATOR_CACHE[evaluator] = Express4DEvaluator.from_pretrained(evaluator).eval()
    return _EVALUATOR_CACHE[evaluator]


def _as_motions(values, name: str) -> list:
    out = []
    for i, v in enumerate(values):
        a = np.asarray(v, dtype=np.float32)
        if a.ndim != 2 or a.shape[1] != 61:
            raise ValueError(f"{name}[{i}]: expected a [T, 61] motion, got shape {a.shape}")
        out.append(a)
    return out


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Express4DMetrics(evaluate.Metric):
    """R-precision, FID, MM-Dist, Diversity and MultiModality of generated facial motions."""

    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Array2D((None, 61), "float32"),
                    "references": datasets.Array2D((None, 61), "float32"),
                }
            ),
            reference_urls=[
                "https://github.com/EricGuo5513/text-to-motion",
                "https://arxiv.org/abs/2508.12438",
            ],
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """As ``evaluate.Metric.compute``; with precomputed embeddings and no motions, scores directly."""
        if predictions is None and references is None:
            if kwargs.get("reference_embeddings") is None or kwargs.get("text_embeddings") is None:
                raise ValueError(
                    "express4d_metrics: pass predictions/references (motions) or text_embeddings and reference_embeddings"
                )
            return self._compute(predictions=None, references=None, **kwargs)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(
        self,
        predictions=None,
        references=None,
        texts=None,
        evaluator=None,
        item_ids=None,
        multimodality_predictions=None,
        prediction_embeddings=None,
        reference_embeddings=None,
        text_embeddings=None,
        multimodality_embeddings=None,
        num_replications: int = 1,
        seed: int = 0,
        batch_size: int = 32,
        top_k: int = 3,
        diversity_times: Optional[int] = None,
        multimodality_times: int = 10,
    ):
        model = None
        if text_embeddings is None:
            if texts is None:
                raise ValueError("express4d_metrics: pass texts= (one caption per prediction) or text_embeddings=")
            model = _load_evaluator(evaluator)
            text_embeddings = model.embed_texts(list(texts))
        if reference_embeddings is None:
            if references is None:
                raise ValueError("express4d_metrics: pass references= (real motions) or reference_embeddings=")
            model = model or _load_evaluator(evaluator)
            reference_embeddings = model.embed_motions(_as_motions(references, "references"))
        if prediction_embeddings is None and predictions is not None:
            model = model or _load_evaluator(evaluator)
            prediction_embeddings = model.embed_motions(_as_motions(predictions, "predictions"))
        if multimodality_embeddings is None and multimodality_predictions is not None:
            model = model or _load_evaluator(evaluator)
            groups = [_as_motions(g, f"multimodality_predictions[{i}]") for i, g in enumerate(multimodality_predictions)]
            if len({len(g) for g in groups}) != 1:
                raise ValueError("multimodality_predictions: give the same number of generations for every text")
            flat = model.embed_motions([m for g in groups for m in g])
            multimodality_embeddings = flat.reshape(len(groups), len(groups[0]), -1)
        return score_embeddings(
            text_embeddings,
            reference_embeddings,
            prediction_embeddings,
            item_ids=item_ids,
            multimodality_embeddings=multimodality_embeddings,
            num_replications=num_replications,
            seed=seed,
            batch_size=batch_size,
            top_k=top_k,
            diversity_times=diversity_times,
            multimodality_times=multimodality_times,
        )
