"""The metric formulas against independent numpy computations, and the module through evaluate.load."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
METRIC_DIR = ROOT / "metrics" / "express4d_metrics"


def _load_functions():
    from types import SimpleNamespace

    from express4d_metrics import formulas, protocols

    names = {k: v for module in (formulas, protocols) for k, v in vars(module).items() if not k.startswith("_")}
    return SimpleNamespace(**names)


M = _load_functions()


@pytest.fixture(scope="module")
def metric():
    import evaluate

    return evaluate.load(str(METRIC_DIR))


# ------------------------------------------------------------------ FID
def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 16))
    assert abs(M.fid(x, x)) < 1e-8


def test_frechet_distance_closed_form_diagonal_gaussians():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.5, 2, size=5), rng.uniform(0.5, 2, size=5)
    # N(mu1, diag(s1^2)) vs N(mu2, diag(s2^2)): ||mu1 - mu2||^2 + sum (s1 - s2)^2
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert M.frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_scipy_sqrtm_for_full_covariances():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(3)
    x = rng.normal(loc=0.0, scale=1.0, size=(20000, 3))
    y = rng.normal(loc=[1.0, 0.0, -0.5], scale=[2.0, 1.0, 0.5], size=(20000, 3))
    expected = 1.0 + 0.25 + (1 - 2) ** 2 + 0 + (1 - 0.5) ** 2
    assert M.fid(x, y) == pytest.approx(expected, abs=0.1)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="frechet_distance: shapes do not match"):
        M.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ------------------------------------------------------------------ R-precision, MM-Dist
def test_top_k_hits_against_rank_loop():
    rng = np.random.default_rng(4)
    d = rng.uniform(size=(10, 10))
    hits = M.top_k_hits(d, top_k=3)
    for i in range(10):
        rank = int(np.sum(d[i] < d[i, i]))  # no ties with continuous values
        assert list(hits[i]) == [rank < 1, rank < 2, rank < 3]


def test_r_precision_is_one_for_identical_embeddings():
    x = np.random.default_rng(5).normal(size=(96, 8))
    np.testing.assert_array_equal(M.r_precision(x, x, rng=np.random.default_rng(0)), [1.0, 1.0, 1.0])


def test_r_precision_of_random_embeddings_is_near_chance():
    rng = np.random.default_rng(6)
    n = 32 * 200
    t, m = rng.normal(size=(n, 8)), rng.normal(size=(n, 8))
    rp = M.r_precision(t, m, batch_size=32, top_k=3, rng=rng)
    for k in (1, 2, 3):
        p = k / 32
        assert abs(rp[k - 1] - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_r_precision_drops_the_incomplete_last_batch():
    x = np.random.default_rng(7).normal(size=(40, 4))
    y = x.copy()
    y[32:] = 0.0  # entries of the dropped last batch would be misses
    np.testing.assert_array_equal(M.r_precision(x, y, batch_size=32), [1.0, 1.0, 1.0])


def test_matching_score_and_distance_matrix_against_loops():
    rng = np.random.default_rng(8)
    t, m = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    direct = np.mean([np.sqrt(np.sum((t[i] - m[i]) ** 2)) for i in range(7)])
    assert M.matching_score(t, m) == pytest.approx(direct, rel=1e-12)
    d = M.euclidean_distance_matrix(t, m)
    assert d[2, 5] == pytest.approx(np.sqrt(np.sum((t[2] - m[5]) ** 2)), rel=1e-10)


# ------------------------------------------------------------------ Diversity, MultiModality, interval
def test_diversity_against_direct_numpy():
    x = np.random.default_rng(9).normal(size=(50, 6))
    value = M.diversity(x, 10, np.random.default_rng(123))
    rng = np.random.default_rng(123)
    a, b = rng.choice(50, 10, replace=False), rng.choice(50, 10, replace=False)
    direct = np.mean([np.sqrt(np.sum((x[i] - x[j]) ** 2)) for i, j in zip(a, b)])
    assert value == pytest.approx(direct, rel=1e-12)


def test_diversity_rejects_too_many_draws():
    with pytest.raises(ValueError, match=r"diversity_times=11 is larger than the number of motions \(10\)"):
        M.diversity(np.zeros((10, 3)), 11, np.random.default_rng(0))


def test_multimodality_zero_for_identical_and_positive_for_different_generations():
    rng = np.random.default_rng(10)
    same = np.repeat(rng.normal(size=(4, 1, 8)), 12, axis=1)
    assert M.multimodality(same, 10, np.random.default_rng(0)) == 0.0
    different = rng.normal(size=(4, 12, 8))
    value = M.multimodality(different, 10, np.random.default_rng(0))
    draw = np.random.default_rng(0)
    a, b = draw.choice(12, 10, replace=False), draw.choice(12, 10, replace=False)
    direct = np.mean([np.linalg.norm(different[i, a[j]] - different[i, b[j]]) for i in range(4) for j in range(10)])
    assert value > 0.5 and value == pytest.approx(direct, rel=1e-12)


def test_multimodality_needs_enough_generations():
    with pytest.raises(ValueError, match=r"multimodality_times=10 is larger than the generations per text \(5\)"):
        M.multimodality(np.zeros((3, 5, 2)), 10, np.random.default_rng(0))


def test_confidence_interval_formula():
    v = [0.1, 0.4, 0.35, 0.2, 0.3]
    mean, ci = M.confidence_interval(v)
    n = len(v)
    mu = sum(v) / n
    std = (sum((x - mu) ** 2 for x in v) / n) ** 0.5  # population std
    assert mean == pytest.approx(mu) and ci == pytest.approx(1.96 * std / n**0.5)


def test_fixed_generations_draws_one_caption_per_item():
    rng = np.random.default_rng(11)
    motions = rng.normal(size=(40, 8))
    item_ids = [i // 2 for i in range(80)]  # two captions per item
    real = motions[np.array(item_ids)]
    texts = real + 0.01 * rng.normal(size=real.shape)
    out = M.score_fixed_generations(texts, real, prediction_embeddings=real, item_ids=item_ids, num_replications=3, seed=0)
    assert out["real_R_precision_top1"] == 1.0 and out["R_precision_top1"] == 1.0
    assert abs(out["real_FID"]) < 1e-8 and abs(out["FID"]) < 1e-8
    assert out["MM_Dist_ci95"] > 0  # the caption draw changes between replications
    with pytest.raises(ValueError, match="item_ids has 3 entries for 80 texts"):
        M.score_fixed_generations(texts, real, item_ids=[0, 1, 2])


# ------------------------------------------------------------------ through evaluate.load
def test_metric_loads_from_path_and_runs_the_docstring_example(metric):
    rng = np.random.default_rng(0)
    text = rng.normal(size=(64, 8)).astype("float32")
    results = metric.compute(text_embeddings=text, reference_embeddings=text, prediction_embeddings=text + 0.01,
                             protocol="fixed-generations", seed=0)
    assert (round(results["real_R_precision_top1"], 2), round(results["R_precision_top3"], 2)) == (1.0, 1.0)
    assert all(isinstance(v, float) for v in results.values())
    assert "MultiModality" not in results
    assert metric.info.features["predictions"].shape == (None, 61)


def test_metric_replications_give_intervals_and_are_seeded(metric):
    rng = np.random.default_rng(1)
    t, m = rng.normal(size=(100, 8)), rng.normal(size=(100, 8))
    kwargs = dict(text_embeddings=t, reference_embeddings=t, prediction_embeddings=m, num_replications=5, seed=3,
                  protocol="fixed-generations")
    a, b = metric.compute(**kwargs), metric.compute(**kwargs)
    assert a == b
    assert a["R_precision_top3_ci95"] > 0 and a["Diversity_ci95"] > 0
    assert a["FID_ci95"] == pytest.approx(0.0, abs=1e-12)  # one caption per item: the same sets each time


@pytest.fixture(scope="module")
def tiny_evaluator(tmp_path_factory):
    from mdm_tiny import tiny_evaluator as build

    model = build(tmp_path_factory.mktemp("tiny_text"), motion_mean=[0.2] * 61, motion_std=[0.5] * 61)
    path = tmp_path_factory.mktemp("evaluator")
    model.save_pretrained(path)
    return model, str(path)


def test_metric_with_motions_and_an_evaluator_path(metric, tiny_evaluator):
    model, path = tiny_evaluator
    rng = np.random.default_rng(2)
    real = [rng.normal(size=(int(n), 61)).astype(np.float32) for n in rng.integers(20, 60, size=12)]
    gen = [m + 0.3 * rng.normal(size=m.shape).astype(np.float32) for m in real]
    texts = [f"a person smiles {w}" for w in "softly sad happy wide slowly angry neutral left right eye brows mouth".split()]
    mm = [[rng.normal(size=(30, 61)).astype(np.float32) for _ in range(4)] for _ in range(3)]
    out = metric.compute(
        predictions=gen, references=real, texts=texts, evaluator=path, multimodality_predictions=mm,
        multimodality_times=3, num_replications=2, seed=0, protocol="fixed-generations", fps=20,
    )
    expected = M.score_fixed_generations(
        model.embed_texts(texts), model.embed_motions(real), model.embed_motions(gen),
        multimodality_embeddings=model.embed_motions([m for g in mm for m in g]).reshape(3, 4, -1),
        multimodality_times=3, num_replications=2, seed=0,
    )
    assert out.keys() == expected.keys()
    for key in out:
        assert out[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-5), key
    assert out["MultiModality"] > 0


def test_metric_error_messages(metric):
    with pytest.raises(ValueError, match="pass predictions/references"):
        metric.compute(texts=["a"])
    with pytest.raises(ValueError, match=r"pass evaluator= "):
        metric.compute(predictions=[np.zeros((8, 61))], references=[np.zeros((8, 61))], texts=["a"])
    with pytest.raises(ValueError, match="protocol='paper' regenerates the motions in every replication"):
        metric.compute(predictions=[np.zeros((8, 61))] * 40, references=[np.zeros((8, 61))] * 40, texts=["a"] * 40,
                       text_embeddings=np.zeros((40, 4)), reference_embeddings=np.zeros((40, 4)))
    with pytest.raises(ValueError, match="protocol must be one of"):
        metric.compute(text_embeddings=np.zeros((40, 4)), reference_embeddings=np.zeros((40, 4)), protocol="mine")



def test_metric_checks_the_frame_rate_and_says_what_it_crops(metric, tiny_evaluator, caplog):
    import logging

    from express4d_dataset.motion import resample_duration

    _, path = tiny_evaluator
    rng = np.random.default_rng(5)
    real = [np.cumsum(rng.normal(size=(int(n), 61)), axis=0).astype(np.float32) * 0.05 for n in rng.integers(40, 60, 10)]
    texts = [f"a person smiles {i}" for i in range(10)]
    kwargs = dict(texts=texts, evaluator=path, num_replications=1, seed=0, protocol="fixed-generations")
    with pytest.raises(ValueError, match=r"pass fps= \(the frame rate of the motions given"):
        metric.compute(predictions=real, references=real, **kwargs)
    at_20 = metric.compute(predictions=real, references=real, fps=20, **kwargs)
    at_60 = [resample_duration(m, 20, 60) for m in real]  # the same motions, as `express4d generate` writes them
    with caplog.at_level(logging.WARNING, logger="express4d_metrics"):
        mixed = metric.compute(predictions=at_60, references=real, fps=60, reference_fps=20, **kwargs)
    assert "predictions: motions at 60 fps resampled to the evaluator's 20 fps" in caplog.text
    assert mixed["FID"] == pytest.approx(at_20["FID"], abs=0.05) and mixed["R_precision_top3"] == at_20["R_precision_top3"]
    caplog.clear()
    long = [np.concatenate([m] * 6) for m in real]  # 240..354 frames at 20 fps
    with caplog.at_level(logging.WARNING, logger="express4d_metrics"):
        metric.compute(predictions=long, references=real, fps=20, **kwargs)
    assert "predictions: 10 of 10 motion(s) are longer than the evaluator's 196 frames" in caplog.text
    assert "only their first 196 frames are scored" in caplog.text


@pytest.mark.parametrize("change, message", [
    (dict(predictions="nan"), r"predictions\[3\]: 61 value\(s\) are NaN or infinite \(the first at frame 2, channel 0\)"),
    (dict(predictions="inf"), r"predictions\[3\]: 61 value\(s\) are NaN or infinite"),
    (dict(predictions="60"), r"predictions\[0\]: expected a \[T, 61\] motion .* got shape \(30, 60\)"),
    (dict(batch_size=0), r"batch_size must be an integer >= 1, got 0"),
    (dict(num_replications=0), r"num_replications must be an integer >= 1, got 0"),
    (dict(texts=list(range(8))), r"texts\[0\]: expected a caption string, got int 0"),
    (dict(evaluator="missing"), r"evaluator .*missing_evaluator: no such folder; pass the output folder"),
    (dict(fps=0), r"fps must be a positive frame rate"),
    (dict(fps=float("nan")), r"fps must be a positive frame rate"),
])
def test_metric_input_errors_are_one_line_and_named(metric, tiny_evaluator, tmp_path, change, message):
    _, path = tiny_evaluator
    rng = np.random.default_rng(0)
    motions = [rng.normal(size=(30, 61)).astype(np.float32) for _ in range(8)]
    kwargs = dict(predictions=motions, references=motions, texts=[f"t {i}" for i in range(8)], evaluator=path, fps=20,
                  protocol="fixed-generations", num_replications=1)
    kwargs.update(change)
    if change.get("predictions") in ("nan", "inf"):
        bad = [m.copy() for m in motions]
        bad[3][2] = np.nan if change["predictions"] == "nan" else np.inf
        kwargs["predictions"] = bad
    elif change.get("predictions") == "60":
        kwargs["predictions"] = [m[:, :60] for m in motions]
    if kwargs["evaluator"] == "missing":
        kwargs["evaluator"] = str(tmp_path / "missing_evaluator")
    with pytest.raises(ValueError, match=message) as info:
        metric.compute(**kwargs)
    assert "\n" not in str(info.value)


def test_r_precision_with_fewer_motions_than_k():
    """Two candidates and k=3: top-1 depends on the distances, top-2 and top-3 always hit."""
    text = np.array([[0.0, 0.0], [10.0, 0.0]])
    motion = np.array([[9.0, 0.0], [1.0, 0.0]])  # each text is nearer the other's motion
    np.testing.assert_allclose(M.r_precision(text, motion, batch_size=32, top_k=3), [0.0, 1.0, 1.0])
    np.testing.assert_allclose(M.r_precision(text, text, batch_size=32, top_k=3), [1.0, 1.0, 1.0])


def test_metric_inputs_accept_any_sequence_of_motions_and_name_a_single_array():
    from express4d_metrics.inputs import check_motions

    motions = [np.zeros((5, 61), np.float32), np.ones((7, 61), np.float32)]

    class Column:  # a sequence that is not a list, as datasets' column objects
        def __init__(self, items):
            self.items = items

        def __len__(self):
            return len(self.items)

        def __iter__(self):
            return iter(self.items)

    got = check_motions(Column(motions), "references")
    assert [m.shape for m in got] == [(5, 61), (7, 61)]
    with pytest.raises(ValueError, match=r"references: expected a list of \[T, 61\] motions, got one array of shape \(5, 61\)"):
        check_motions(motions[0], "references")
    with pytest.raises(ValueError, match="got str"):
        check_motions("motions.csv", "references")
