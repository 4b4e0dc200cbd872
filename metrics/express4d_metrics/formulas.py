"""The benchmark's formulas on evaluator embeddings, as plain numpy (Guo et al. 2022, as in the Express4D
paper's code): distances, R-precision, matching score (MM-Dist), FID, Diversity, MultiModality and the
95% interval over replications.  The protocols that draw what they are computed on are ``protocols.py``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


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
    for batch in full_batches(idx, batch_size):
        d = euclidean_distance_matrix(text_embeddings[batch], motion_embeddings[batch])
        hits += top_k_hits(d, top_k).sum(0)
        count += len(batch)
    return hits / count


def full_batches(idx: np.ndarray, batch_size: int) -> list:
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


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
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
    return frechet_with_root(mu1, sigma1, psd_sqrt(sigma1), mu2, sigma2)


def frechet_with_root(mu1, sigma1, root1, mu2, sigma2) -> float:
    """:func:`frechet_distance` with ``root1 = sigma1^(1/2)`` precomputed (the real set's, reused).

    The exact value is >= 0; round-off can leave a tiny negative (e.g. -5e-05 for identical sets), which
    is clamped to 0."""
    inner = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return max(float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean), 0.0)


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




def single_threaded_blas():
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
