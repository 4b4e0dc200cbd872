"""The paper's evaluation protocol, rebuilt independently on tiny cases, and the benchmark driver's determinism."""

import numpy as np
import pytest

from express4d_metrics.protocols import paper_draws, score_paper

BATCH = 32


def _entries(num_items, rng):
    """Items with 1-3 captions each: item id per entry."""
    ids = []
    for item in range(num_items):
        ids += [item] * int(rng.integers(1, 4))
    return ids


def test_paper_draws_keep_whole_batches_and_draw_passes_independently():
    rng = np.random.default_rng(0)
    item_ids = _entries(70, rng)  # 70 items: 2 whole batches (64), 6 left over in each pass
    draws = paper_draws(item_ids, num_replications=4, seed=5)
    of_entry = np.asarray(item_ids)
    for d in draws:
        for entries in (d.matching, d.generation):
            items = of_entry[entries]
            assert len(entries) == 64 and len(set(items.tolist())) == 64  # each kept item read once
        assert len(d.fid) == 64 and len(set(d.fid.tolist())) == 64
    # each pass drops its own leftover items: the real row's FID pass is not the matching pass
    assert any(set(of_entry[d.matching].tolist()) != set(d.fid.tolist()) for d in draws)
    assert any(set(of_entry[d.matching].tolist()) != set(of_entry[d.generation].tolist()) for d in draws)
    # the draws differ between replications and repeat for a seed
    assert not np.array_equal(draws[0].generation, draws[1].generation)
    again = paper_draws(item_ids, num_replications=4, seed=5)
    assert all(np.array_equal(a.generation, b.generation) and np.array_equal(a.fid, b.fid) for a, b in zip(draws, again))
    # a caption is drawn each time an item is read: over many replications every caption of a 3-caption item shows up
    many = paper_draws(item_ids, num_replications=60, seed=1)
    three = next(i for i in set(item_ids) if item_ids.count(i) == 3)
    seen = {int(e) for d in many for e in d.generation if item_ids[e] == three}
    assert seen == {e for e, i in enumerate(item_ids) if i == three}
    with pytest.raises(ValueError, match="at least one whole batch of 32 test motions"):
        paper_draws(list(range(20)))


def test_multimodality_takes_whole_batches_128_captions():
    item_ids = list(range(150))  # 4 whole batches: 100 // 32 + 1 = 4 batches asked
    (d,) = paper_draws(item_ids, num_replications=1, seed=0, mm_texts=100)
    assert len(d.multimodality) == 128 and len(set(d.multimodality.tolist())) == 128
    assert all(len({p // BATCH for p in d.multimodality[k * BATCH:(k + 1) * BATCH]}) == 1 for k in range(4))


def _independent_paper_scores(text, items, item_ids, draws, generated, mm, seed):
    """The paper's eval loop written out with plain loops and scipy's sqrtm (not our formulas)."""
    from scipy import linalg

    def dist(a, b):
        return np.array([[np.sqrt(((x - y) ** 2).sum()) for y in b] for x in a])

    def r_prec_and_matching(t, m):
        hits, trace = np.zeros(3), 0.0
        for s in range(0, len(t), BATCH):
            d = dist(t[s:s + BATCH], m[s:s + BATCH])
            trace += np.trace(d)
            for i in range(len(d)):
                rank = np.argsort(d[i], kind="stable")
                for k in range(3):
                    hits[k] += i in rank[: k + 1]
        return hits / len(t), trace / len(t)

    def fid(a, b):
        mu1, mu2 = a.mean(0), b.mean(0)
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        covmean = linalg.sqrtm(s1.dot(s2))
        if not np.isfinite(covmean).all():
            offset = np.eye(s1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
        return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))

    def div(m, rng):
        a, b = rng.choice(len(m), 48, replace=False), rng.choice(len(m), 48, replace=False)
        return float(np.mean([np.sqrt(((m[i] - m[j]) ** 2).sum()) for i, j in zip(a, b)]))

    of_item = {}
    index = np.array([of_item.setdefault(i, len(of_item)) for i in item_ids])
    rows = {"real": [], "gen": []}
    for r, d in enumerate(draws):
        rng = np.random.default_rng([seed, r, 3])
        ref = items[d.fid]
        real_m = items[index[d.matching]]
        rp, mm_dist = r_prec_and_matching(text[d.matching], real_m)
        rows["real"].append(dict(R1=rp[0], R2=rp[1], R3=rp[2], MM=mm_dist, FID=fid(ref, real_m), Div=div(real_m, rng)))
        g = generated[r]
        rp, mm_dist = r_prec_and_matching(text[d.generation], g)
        row = dict(R1=rp[0], R2=rp[1], R3=rp[2], MM=mm_dist, FID=fid(ref, g), Div=div(g, rng))
        if mm is not None:
            first, second = rng.choice(mm[r].shape[1], 10, replace=False), rng.choice(mm[r].shape[1], 10, replace=False)
            row["MModality"] = float(np.mean([np.sqrt(((mm[r][c, i] - mm[r][c, j]) ** 2).sum())
                                              for c in range(mm[r].shape[0]) for i, j in zip(first, second)]))
        rows["gen"].append(row)
    return {k: {key: float(np.mean([x[key] for x in v])) for key in v[0]} for k, v in rows.items()}


@pytest.mark.parametrize("num_items, with_mm", [(70, False), (150, True)])
def test_score_paper_matches_an_independent_rebuild(num_items, with_mm):
    rng = np.random.default_rng(3)
    item_ids = _entries(num_items, rng)
    dim = 6
    items = rng.normal(size=(num_items, dim))
    text = items[np.asarray(item_ids)] + 0.8 * rng.normal(size=(len(item_ids), dim))
    draws = paper_draws(item_ids, num_replications=3, seed=7, mm_texts=100 if with_mm else None)
    generated = [items[np.asarray(item_ids)[d.generation]] + 0.5 * rng.normal(size=(len(d.generation), dim)) for d in draws]
    mm = [rng.normal(size=(len(d.multimodality), 30, dim)) for d in draws] if with_mm else None
    ours = score_paper(text, items, item_ids, draws, generated, mm, seed=7)
    ref = _independent_paper_scores(text, items, item_ids, draws, generated, mm, seed=7)
    names = dict(R1="R_precision_top1", R2="R_precision_top2", R3="R_precision_top3", MM="MM_Dist", FID="FID",
                 Div="Diversity", MModality="MultiModality")
    for row, prefix in (("real", "real_"), ("gen", "")):
        for short, value in ref[row].items():
            assert ours[prefix + names[short]] == pytest.approx(value, rel=1e-6, abs=1e-8), (row, short)
    assert ours["real_FID"] > 0  # the independent FID pass keeps other items than the matching pass
    assert ("MultiModality" in ours) == with_mm


def test_same_seed_same_table_bit_for_bit(tmp_path):
    """The whole driver twice on a tiny model: identical results (and a third run reads everything from the cache)."""
    import datasets

    from mdm_tiny import tiny_evaluator, tiny_pipeline
    from pipelines.benchmark import run_benchmark

    rng = np.random.default_rng(0)
    rows = {"id": [f"t{i:02d}" for i in range(40)], "fps": [20.0] * 40,
            "motion": [rng.normal(size=(int(rng.integers(8, 20)), 61)).astype(np.float32) for _ in range(40)],
            "captions": [["a person is smiling softly", "sad face"][: 1 + i % 2] for i in range(40)]}
    dataset = datasets.Dataset.from_dict(rows)
    evaluator = tiny_evaluator(tmp_path / "eval_text")
    pipe = tiny_pipeline(tmp_path / "vocab", max_frames=40)
    kwargs = dict(evaluator=evaluator, dataset=dataset, replications=2, num_inference_steps=2, seed=3, progress=False,
                  model_names=["tiny"], batch_size=16)
    first = run_benchmark([pipe], out_dir=tmp_path / "a", **kwargs)
    second = run_benchmark([pipe], out_dir=tmp_path / "b", **kwargs)
    assert first.rows == second.rows and first.config["protocol"] == "paper"
    assert first.config["generations_per_model"] == 2 * 32  # 40 items -> one whole batch per replication
    calls = []
    original = pipe.__class__.__call__
    pipe.__class__.__call__ = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
    try:
        third = run_benchmark([pipe], out_dir=tmp_path / "a", **kwargs)
    finally:
        pipe.__class__.__call__ = original
    assert calls == [] and third.rows == first.rows  # resumed entirely from the cache
