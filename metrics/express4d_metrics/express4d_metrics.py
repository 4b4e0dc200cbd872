"""Express4D text-to-facial-motion metrics as an ``evaluate`` module (a thin wrapper).

R-precision, FID, MM-Dist, Diversity, MultiModality (the formulas: ``formulas.py``), under the paper's
protocol or the cheaper fixed-generations one (``protocols.py``), plus prompt following on the stand-in
corpus (``prompt_following.py``).  It imports ``pipelines`` only lazily, to load an evaluator.
"""

import logging
from typing import Optional

import datasets
import evaluate
import numpy as np

from .formulas import diversity, euclidean_distance_matrix, fid, frechet_distance, matching_score, multimodality, r_precision
from .inputs import (
    at_evaluator_rate,
    check_count,
    check_embeddings,
    check_evaluator_path,
    check_fps,
    check_motions,
    check_texts,
    require_fps,
)
from .prompt_following import order_swap_accuracy, prompt_following
from .protocols import PROTOCOLS, item_index, paper_draws, score_fixed_generations, score_paper

__all__ = [  # the formulas and protocols, for users of the loaded module, beside the Metric class
    "Express4DMetrics", "diversity", "euclidean_distance_matrix", "fid", "frechet_distance", "matching_score",
    "multimodality", "order_swap_accuracy", "paper_draws", "prompt_following", "r_precision", "score_fixed_generations",
    "score_paper",
]

logger = logging.getLogger("express4d_metrics")  # one name, not the hash-named module evaluate.load creates

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
row, ``real_*`` keys), which shows how good the evaluator itself is, as mean and 95% interval
``1.96 * std / sqrt(n)`` (``*_ci95`` keys) over replications.  ``protocol="paper"`` (default) is the
Express4D paper's code exactly: whole batches of 32 only, an independent ground-truth pass, motions
regenerated in every replication (pass one list of generations per replication, for the entries
``paper_draws`` names), 48 diversity pairs, 128 MultiModality captions.  ``protocol="fixed-generations"``
scores one generation per caption in every replication: cheaper, isolates evaluation noise, not
comparable with the paper.  On the procedural stand-in corpus, ``annotations`` (the dataset's
column) add prompt following: action recall, order accuracy (also on held-out compositions),
co-occurrence; ``swapped_texts`` add the evaluator's order-swap accuracy.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: generated motions (**denormalised** ``[T, 61]`` float arrays at the evaluator's fps, 20 fps
        for the benchmark).  ``protocol="paper"``: a list with one list per replication, holding the motions
        generated for that replication's ``paper_draws(item_ids, num_replications, seed)[r].generation``
        entries, in that order.  ``protocol="fixed-generations"``: one motion per text.
    references (`list` of `[T_i, 61]` float arrays): the real motion of each text (entry), same order as texts.
    texts (`list` of `str`): the caption of each entry.
    fps (`float`): the frame rate of ``predictions`` and ``multimodality_predictions`` (20 for the benchmark's
        data, 60 for ``express4d generate`` CSVs and captures); required with motions.  Motions at another rate
        than the evaluator's (20 fps) are resampled to it, with a warning; motions longer than its ``max_frames``
        (196) are cropped to their first 196 frames, and the warning says how many.
    reference_fps (`float`, optional): the frame rate of ``references`` when it differs from ``fps``.
    evaluator (`str` or `Express4DEvaluator`): path or Hub id of an evaluator checkpoint, or a loaded model.
        Not needed when all embeddings are given.
    item_ids (`list`, optional): one id per entry; entries sharing an id are alternative captions of one
        real motion (the loaders draw one caption per item each time it is read). Default: one item per entry.
    protocol (`str`, default ``"paper"``): ``"paper"`` or ``"fixed-generations"`` (see the description).
    multimodality_predictions (optional): paper: per replication (the first ones, at least one), a list of
        ``[R]`` generations for each of the draw's ``multimodality`` positions; fixed-generations: ``R``
        generations for each of M texts.  Enables MultiModality.
    prediction_embeddings, reference_embeddings, text_embeddings, multimodality_embeddings (optional):
        precomputed evaluator embeddings in the same layouts (``[N, D]`` arrays; per replication for the paper).
    num_replications (`int`, default 20), seed (`int`, default 0), batch_size (`int`, default 32),
    top_k (`int`, default 3), multimodality_times (`int`, default 10), mm_texts (`int`, default 100: captions
    asked for MultiModality under the paper's protocol, rounded up to whole batches),
    diversity_times (`int`, optional): fixed-generations only (default 300 above 300 motions, else 48).
    annotations (`list`, optional): one per entry, the take's plan (dict or JSON string with ``steps``) from a
        stand-in corpus; adds ``action_recall``, ``action_recall_lids``, ``order_accuracy``, ``order_accuracy_held_out``,
        ``cooccurrence``, ``order_accuracy_three_step``, ``unasked_lid_closures`` (seconds counted at ``fps`` /
        ``reference_fps``, 20 when not given) and the ``real_*`` rates.
    swapped_texts (`list`, optional): one per entry, the caption with its steps in reverse order (None where the
        take has one step); adds ``order_swap_accuracy`` (and ``real_order_swap_accuracy``).
Returns:
    dict of floats: `R_precision_top1..top{k}`, `FID`, `MM_Dist`, `Diversity`, `MultiModality` (when given)
    for the generated motions; the same with a `real_` prefix for the real motions (no real MultiModality);
    every key also with a `_ci95` suffix; prompt-following keys when asked for.
Examples:
    >>> import numpy as np, evaluate
    >>> metric = evaluate.load("metrics/express4d_metrics")
    >>> rng = np.random.default_rng(0)
    >>> text = rng.normal(size=(64, 8)).astype("float32")
    >>> results = metric.compute(text_embeddings=text, reference_embeddings=text,
    ...                          prediction_embeddings=text + 0.01, protocol="fixed-generations", seed=0)
    >>> round(results["real_R_precision_top1"], 2), round(results["R_precision_top3"], 2)
    (1.0, 1.0)

    The paper's protocol regenerates per replication (``express4d evaluate`` does this for pipelines):

    >>> from express4d_metrics import paper_draws                                            # doctest: +SKIP
    >>> draws = paper_draws(item_ids, num_replications=20, seed=0)                           # doctest: +SKIP
    >>> generated = [[generate(texts[e], len(real[e])) for e in d.generation] for d in draws]  # doctest: +SKIP
    >>> metric.compute(predictions=generated, references=real, texts=texts, item_ids=item_ids,
    ...                evaluator="path/to/express4d-evaluator")                               # doctest: +SKIP
"""


# --------------------------------------------------------------------------- evaluator
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
        check_evaluator_path(evaluator)
        try:
            from pipelines.modeling_evaluator import Express4DEvaluator
        except ImportError:
            raise ImportError("express4d_metrics: loading an evaluator needs the express4d package (pip install express4d)") from None
        try:
            _EVALUATOR_CACHE[evaluator] = Express4DEvaluator.from_pretrained(evaluator).eval()
        except OSError as e:  # a Hub id that is not there, or offline
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f"express4d_metrics: evaluator {evaluator}: not a folder here and not loadable from the Hub "
                             f"({first}); pass the output folder of `train.py --model evaluator`") from None
    return _EVALUATOR_CACHE[evaluator]


def _as_motions(values, name: str) -> list:
    return check_motions(values, name)


def _is_nested(values) -> bool:
    """True for a list of lists of motions (one list per replication)."""
    return len(values) > 0 and isinstance(values[0], (list, tuple)) and len(values[0]) > 0 and np.asarray(values[0][0]).ndim == 2


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Express4DMetrics(evaluate.Metric):
    """R-precision, FID, MM-Dist, Diversity and MultiModality of generated facial motions (+ prompt following)."""

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
        """As ``evaluate.Metric.compute``; per-replication generations (the paper's protocol) and precomputed
        embeddings are scored directly (they do not fit one Arrow row per prediction)."""
        if predictions is None and references is None:
            if kwargs.get("reference_embeddings") is None or kwargs.get("text_embeddings") is None:
                raise ValueError(
                    "express4d_metrics: pass predictions/references (motions) or text_embeddings and reference_embeddings"
                )
            return self._compute(predictions=None, references=None, **kwargs)
        if predictions is not None and _is_nested(predictions):
            return self._compute(predictions=predictions, references=references, **kwargs)
        if predictions is not None:  # before the Arrow conversion, whose errors name no entry
            check_motions(predictions, "predictions")
        if references is not None:
            check_motions(references, "references")
        return super().compute(predictions=predictions, references=references, **kwargs)

    def score(self, **kwargs) -> dict:
        """:meth:`compute` without the Arrow round trip of the inputs (the benchmark driver's entry): the same
        keyword arguments; motions stay numpy arrays, embeddings as given."""
        return self._compute(**kwargs)

    def _compute(
        self,
        predictions=None,
        references=None,
        texts=None,
        evaluator=None,
        item_ids=None,
        protocol: str = "paper",
        multimodality_predictions=None,
        prediction_embeddings=None,
        reference_embeddings=None,
        text_embeddings=None,
        multimodality_embeddings=None,
        num_replications: int = 20,
        seed: int = 0,
        batch_size: int = 32,
        top_k: int = 3,
        diversity_times: Optional[int] = None,
        multimodality_times: int = 10,
        mm_texts: int = 100,
        annotations=None,
        swapped_texts=None,
        fps: Optional[float] = None,
        reference_fps: Optional[float] = None,
    ):
        if protocol not in PROTOCOLS:
            raise ValueError(f"express4d_metrics: protocol must be one of {PROTOCOLS}, got {protocol!r}")
        paper = protocol == "paper"
        model = None
        num_replications = check_count(num_replications, "num_replications")
        batch_size = check_count(batch_size, "batch_size")
        top_k = check_count(top_k, "top_k")
        multimodality_times = check_count(multimodality_times, "multimodality_times")
        mm_texts = check_count(mm_texts, "mm_texts")
        diversity_times = check_count(diversity_times, "diversity_times", optional=True)
        check_count(seed, "seed", minimum=0)
        if texts is not None:
            texts = check_texts(texts)
        if swapped_texts is not None:
            check_texts([t for t in swapped_texts if t is not None], "swapped_texts")
        fps = check_fps(fps, "fps") if fps is not None else None
        reference_fps = check_fps(reference_fps, "reference_fps") if reference_fps is not None else fps
        for key, value in (("text_embeddings", text_embeddings), ("reference_embeddings", reference_embeddings)):
            if value is not None:
                check_embeddings(value, key)

        def evaluator_model():
            nonlocal model
            model = model or _load_evaluator(evaluator)
            return model

        warned: set = set()

        def embed(motions, name, rate, rate_name="fps"):
            """Checked motions, at the evaluator's rate and length, embedded."""
            motions = _as_motions(motions, name)
            rate = require_fps(rate, rate_name)
            config = evaluator_model().config
            motions = at_evaluator_rate(motions, rate, float(getattr(config, "fps", 20.0)),
                                        int(getattr(config, "max_frames", 196)), name, warned)
            return evaluator_model().embed_motions(motions)

        if text_embeddings is None:
            if texts is None:
                raise ValueError("express4d_metrics: pass texts= (one caption per entry) or text_embeddings=")
            text_embeddings = evaluator_model().embed_texts(list(texts))
        n = len(text_embeddings)
        item_ids = list(range(n)) if item_ids is None else list(item_ids)
        if reference_embeddings is None:
            if references is None:
                raise ValueError("express4d_metrics: pass references= (real motions) or reference_embeddings=")
            reference_embeddings = embed(references, "references", reference_fps)
        if predictions is not None and prediction_embeddings is None:
            if paper and not _is_nested(predictions):
                raise ValueError(
                    "express4d_metrics: protocol='paper' regenerates the motions in every replication: pass predictions as "
                    "one list per replication, generated for paper_draws(item_ids, num_replications, seed)[r].generation; "
                    "or protocol='fixed-generations' to score one generation per text"
                )
            prediction_embeddings = ([embed(p, f"predictions[{r}]", fps) for r, p in enumerate(predictions)]
                                     if paper else embed(predictions, "predictions", fps))
        if multimodality_embeddings is None and multimodality_predictions is not None:
            multimodality_embeddings = self._mm_embeddings(lambda m, name: embed(m, name, fps), multimodality_predictions,
                                                           paper)

        if paper:
            draws = paper_draws(item_ids, num_replications, seed, batch_size, mm_texts if multimodality_embeddings is not None else None)
            first = np.zeros(int(item_index(item_ids).max()) + 1, dtype=np.int64)
            first[item_index(item_ids)[::-1]] = np.arange(n)[::-1]  # the first entry of each item
            scores = score_paper(
                text_embeddings, np.asarray(reference_embeddings)[first], item_ids, draws, prediction_embeddings,
                multimodality_embeddings, seed=seed, batch_size=batch_size, top_k=top_k, multimodality_times=multimodality_times,
            )
        else:
            scores = score_fixed_generations(
                text_embeddings, reference_embeddings, prediction_embeddings, item_ids=item_ids,
                multimodality_embeddings=multimodality_embeddings, num_replications=num_replications, seed=seed,
                batch_size=batch_size, top_k=top_k, diversity_times=diversity_times, multimodality_times=multimodality_times,
            )
        if annotations is not None:
            scores.update(self._prompt_following(annotations, references, predictions, item_ids, paper, seed,
                                                 num_replications, batch_size, texts, fps, reference_fps))
        if swapped_texts is not None:
            scores.update(self._order_swap(evaluator_model, swapped_texts, text_embeddings, reference_embeddings,
                                           prediction_embeddings, item_ids, paper, seed, num_replications, batch_size))
        return scores

    @staticmethod
    def _mm_embeddings(embed, groups_or_replications, paper: bool):
        def embed_groups(groups, where):
            groups = [_as_motions(g, f"{where}[{i}]") for i, g in enumerate(groups)]
            if len({len(g) for g in groups}) != 1:
                raise ValueError(f"{where}: give the same number of generations for every text")
            flat = embed([m for g in groups for m in g], where)
            return flat.reshape(len(groups), len(groups[0]), -1)

        if paper:
            return [embed_groups(g, f"multimodality_predictions[{r}]") for r, g in enumerate(groups_or_replications)]
        return embed_groups(groups_or_replications, "multimodality_predictions")

    @staticmethod
    def _prompt_following(annotations, references, predictions, item_ids, paper, seed, num_replications, batch_size,
                          texts=None, fps=None, reference_fps=None) -> dict:
        """Prompt-following rates; ``reference_fps`` defaults to ``fps`` in :meth:`_compute`, both to 20 here."""
        if len(annotations) != len(item_ids):
            raise ValueError(f"annotations: {len(annotations)} for {len(item_ids)} entries; give one per entry")
        texts = list(texts) if texts is not None and len(texts) == len(annotations) else None
        out = {}
        if references is not None:
            out.update({f"real_{k}": v for k, v in prompt_following(
                _as_motions(references, "references"), annotations, texts=texts, fps=reference_fps).items()})
        if predictions is not None:
            if paper:
                draws = paper_draws(item_ids, num_replications, seed, batch_size)
                motions = [m for r, d in enumerate(draws) for m in predictions[r]]
                plans = [annotations[e] for d in draws for e in d.generation]
                captions = None if texts is None else [texts[e] for d in draws for e in d.generation]
            else:
                motions, plans, captions = list(predictions), list(annotations), texts
            out.update(prompt_following(_as_motions(motions, "predictions"), plans, texts=captions, fps=fps))
        return out

    @staticmethod
    def _order_swap(evaluator_model, swapped_texts, text_emb, ref_emb, pred_emb, item_ids, paper, seed, num_replications,
                    batch_size) -> dict:
        if len(swapped_texts) != len(item_ids):
            raise ValueError(f"swapped_texts: {len(swapped_texts)} for {len(item_ids)} entries; give one per entry (None where none)")
        rows = [i for i, s in enumerate(swapped_texts) if s]
        if not rows:
            return {}
        swapped = np.zeros_like(np.asarray(text_emb))
        swapped[rows] = evaluator_model().embed_texts([swapped_texts[i] for i in rows])
        t, r = np.asarray(text_emb), np.asarray(ref_emb)
        out = {"real_order_swap_accuracy": order_swap_accuracy(t[rows], swapped[rows], r[rows])}
        if pred_emb is not None:
            if paper:
                draws = paper_draws(item_ids, num_replications, seed, batch_size)
                keep = [(e, pred_emb[k][j]) for k, d in enumerate(draws) for j, e in enumerate(d.generation) if swapped_texts[e]]
                entries = np.array([e for e, _ in keep], dtype=np.int64)
                gen = np.stack([g for _, g in keep]) if keep else np.zeros((0, t.shape[1]))
            else:
                entries, gen = np.asarray(rows), np.asarray(pred_emb)[rows]
            if len(entries):
                out["order_swap_accuracy"] = order_swap_accuracy(t[entries], swapped[entries], gen)
        return out
