"""The benchmark orchestration (pipelines.benchmark) and `express4d evaluate`, on tiny seeded parts."""

import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mdm_tiny import tiny_evaluator, tiny_t2m_gpt

from pipelines import Express4DEvaluator, Express4DEvaluatorConfig
from pipelines.benchmark import REAL_ROW, prepare_entries, run_benchmark
from pipelines.benchmark_generation import GenerationRequest, generate_requests, pipeline_fingerprint, request_seed

WORDS = "smiling softly frowning sad happy raises brows opens mouth wide blinks slowly angry neutral".split()


def make_rows(n=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        t = int(rng.integers(12, 40))
        rows.append({
            "id": f"take{i:02d}", "motion": rng.normal(size=(t, 61)).astype(np.float32).tolist(), "num_frames": t,
            "fps": 20.0, "captions": [f"a person {WORDS[i % len(WORDS)]}", f"the face {WORDS[(i + 3) % len(WORDS)]}"],
        })
    return rows


@pytest.fixture(scope="module")
def dataset():
    import datasets

    return datasets.Dataset.from_list(make_rows())


@pytest.fixture(scope="module")
def evaluator_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluator")
    tiny_evaluator(tmp_path_factory.mktemp("tiny_text")).save_pretrained(out)
    return str(out)


class FakePipeline:
    """The shared call contract of both pipelines; motion = noise from the per-motion generator."""

    def __init__(self, fps=20.0, diffusion=False, version=0):
        self.fps = fps
        self.calls = []
        self.encoded = []
        self.config = {"version": version}  # stands for weights/config: part of the cache fingerprint
        self.supports = ("num_inference_steps",) if diffusion else ()

    def set_progress_bar_config(self, **kwargs):
        pass

    def describe(self, num_inference_steps=None):
        return "Fake"

    def encode_prompt(self, prompt, device=None, num_motions_per_prompt=1, do_classifier_free_guidance=True, **kwargs):
        self.encoded.append(list(prompt))
        return np.array([f"emb:{p}" for p in prompt], dtype=object), None

    def __call__(self, prompt, num_frames=None, num_motions_per_prompt=1, generator=None, output_type="np",
                 prompt_embeds=None, **kwargs):
        if prompt_embeds is not None or "prompt_stages" not in self.supports:
            assert list(prompt_embeds) == [f"emb:{p}" for p in prompt]  # the precomputed encodings of these prompts
        self.calls.append(dict(prompt=list(prompt), num_frames=list(num_frames), n=num_motions_per_prompt,
                               embeds=prompt_embeds is not None, **kwargs))
        assert output_type == "np" and len(generator) == len(prompt) * num_motions_per_prompt
        motions = []
        for k, gen in enumerate(generator):
            frames = num_frames[k // num_motions_per_prompt]
            motions.append(torch.randn(frames, 61, generator=gen).numpy())
        return SimpleNamespace(motions=motions, fps=self.fps, captions=[p for p in prompt for _ in range(num_motions_per_prompt)])


def test_prepare_entries_one_per_caption_and_resampled():
    rows = make_rows(3)
    rows[0]["fps"] = 60.0
    rows[1]["motion"] = rows[1]["motion"][:3]
    entries = prepare_entries(rows, fps=20.0, max_frames=10, min_frames=4)
    assert len(entries.motions) == 2 and len(entries) == 4  # row 1 too short: skipped
    assert entries.item_ids == ["take00", "take00", "take02", "take02"]
    np.testing.assert_array_equal(entries.motions[0], np.asarray(rows[0]["motion"], np.float32)[::3][:10])
    assert entries.lengths == [len(entries.motions[0])] * 2 + [10, 10]
    rows[2]["captions"] = [""]
    with pytest.raises(ValueError, match="dataset row take02 has no caption"):
        prepare_entries(rows, fps=20.0)


def _gen(pipe, texts, lengths, requests=None, **kwargs):
    requests = requests or [GenerationRequest(0, e) for e in range(len(texts))]
    out = generate_requests(pipe, requests, texts, lengths, fps=20.0, progress=False, **kwargs)
    return [out[r] for r in requests]


def test_each_request_draws_from_its_own_seed_whatever_the_batching(tmp_path):
    texts, lengths = ["a", "b", "c"], [8, 12, 10]
    plain = FakePipeline()
    first = _gen(plain, texts, lengths, num_inference_steps=5, seed=1, batch_size=2)
    assert [m.shape for m in first] == [(8, 61), (12, 61), (10, 61)]
    assert all("num_inference_steps" not in c for c in plain.calls)
    assert plain.encoded == [texts]  # every text encoded once, in one call, whatever the batching
    expected = torch.randn(12, 61, generator=torch.Generator().manual_seed(request_seed(1, GenerationRequest(0, 1)))).numpy()
    np.testing.assert_array_equal(first[1], expected)
    diffusion = FakePipeline(diffusion=True)
    again = _gen(diffusion, texts, lengths, num_inference_steps=5, seed=1, batch_size=3)
    assert all(c["num_inference_steps"] == 5 for c in diffusion.calls)
    for a, b in zip(first, again):  # independent of the batching
        np.testing.assert_array_equal(a, b)
    other = _gen(FakePipeline(), texts, lengths, requests=[GenerationRequest(1, e) for e in range(3)], seed=1)
    assert not np.array_equal(other[0], first[0])  # another replication: other draws
    fast_pipe = FakePipeline(fps=40.0)
    fast = _gen(fast_pipe, texts, lengths, seed=1)
    assert sorted(fast_pipe.calls[0]["num_frames"]) == [16, 20, 24]
    assert [len(m) for m in fast] == lengths  # twice the frames asked at 40 fps, resampled to 20
    cache = tmp_path / "gen"
    _gen(plain, texts, lengths, seed=2, cache_dir=cache, batch_size=2)
    plain.calls.clear()
    resumed = _gen(plain, texts, lengths, seed=2, cache_dir=cache)
    assert plain.calls == []  # everything came from the cache
    fresh = _gen(FakePipeline(), texts, lengths, seed=2)
    for a, b in zip(resumed, fresh):
        np.testing.assert_array_equal(a, b)
    assert not any(str(tmp_path) in p.name for p in cache.iterdir())  # file names carry no machine path


def test_lengths_are_asked_as_the_pipeline_makes_them_and_cropped_back(tmp_path, caplog):
    """T2M-GPT makes multiples of 4 frames: the benchmark asks for the next multiple up (no rounding warning,
    never a motion shorter than its reference) and crops to the reference's length."""
    pipe = tiny_t2m_gpt(tmp_path / "gpt")
    pipe.set_progress_bar_config(disable=True)
    assert pipe.length_multiple == 4 and pipe.max_frames == 40
    with caplog.at_level(logging.WARNING):
        out = _gen(pipe, ["a", "b", "c"], [5, 18, 29])  # 29 frames would round to 28 when asked as is
    assert [len(m) for m in out] == [5, 18, 29]
    assert "not a multiple" not in caplog.text


def test_generation_cache_is_keyed_by_the_model(tmp_path):
    """A retrained checkpoint in the same folder (other weights or config) must not reuse old generations."""
    texts, lengths, cache = ["a", "b"], [8, 12], tmp_path / "gen"
    _gen(FakePipeline(version=1), texts, lengths, seed=0, cache_dir=cache)
    retrained = FakePipeline(version=2)
    _gen(retrained, texts, lengths, seed=0, cache_dir=cache)
    assert len(retrained.calls) == 1  # regenerated


def test_pipeline_fingerprint_follows_weights_scheduler_and_default_guidance():
    from diffusers import DDIMScheduler

    from express4d_dataset.motion import MotionStats
    from pipelines import Express4DPipeline

    stats = MotionStats(mean=np.zeros(61), std=np.ones(61))
    torch.manual_seed(0)
    pipe = Express4DPipeline.from_denoiser_config(stats, preset="small", latent_dim=16, num_layers=1, ff_size=16, num_heads=2)
    first = pipeline_fingerprint(pipe)
    assert pipeline_fingerprint(pipe) == first
    with torch.no_grad():
        next(pipe.denoiser.parameters()).add_(1e-3)
    second = pipeline_fingerprint(pipe)
    assert second != first
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    third = pipeline_fingerprint(pipe)
    assert third != second
    pipe.register_to_config(default_guidance_scale=5.0)  # guidance_scale=None now samples otherwise: no stale cache
    assert pipeline_fingerprint(pipe) != third


def test_generated_lengths_are_cropped_to_the_request():
    """T2M-GPT returns multiples of 4 frames: the benchmark crops each motion to its real length."""

    class RoundingPipeline(FakePipeline):
        def __call__(self, prompt, num_frames=None, **kwargs):
            return super().__call__(prompt, num_frames=[-(-n // 4) * 4 for n in num_frames], **kwargs)

    out = _gen(RoundingPipeline(), ["a", "b"], [9, 14], seed=0)
    assert [len(m) for m in out] == [9, 14]


def test_prepare_entries_accepts_numpy_formatted_rows(dataset):
    entries = prepare_entries(dataset.with_format("numpy"), fps=20.0, max_frames=196)
    assert len(entries.texts) == 2 * len(dataset) and all(isinstance(t, str) for t in entries.texts)


def test_run_benchmark_table_files_and_resume(dataset, evaluator_dir, tmp_path):
    fake = FakePipeline()
    result = run_benchmark(
        [fake], evaluator=evaluator_dir, dataset=dataset, replications=3, seed=0, out_dir=tmp_path,
        model_names=["fake"], multimodality=True, mm_texts=4, mm_repeats=3, mm_times=2, progress=False,
        protocol="fixed-generations",
    )
    assert list(result.rows) == [REAL_ROW, "fake"]
    assert set(result.rows["fake"]) == {
        "R_precision_top1", "R_precision_top2", "R_precision_top3", "FID", "MM_Dist", "Diversity", "MultiModality"
    }
    assert "MultiModality" not in result.rows[REAL_ROW]
    assert result.rows[REAL_ROW]["FID"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert result.rows["fake"]["MultiModality"]["mean"] > 0
    assert result.config["num_items"] == 12 and result.config["num_entries"] == 24
    top3 = result.rows[REAL_ROW]["R_precision_top3"]["mean"]
    assert bool(result.warnings) == (top3 < 0.5)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"] == result.rows
    table = (tmp_path / "results.md").read_text()
    assert table.startswith("| Model | R-Precision Top-1") and "| Real motion |" in table and "| fake |" in table
    assert "fixed-generations protocol" in table and "NOT comparable" in table and saved["config"]["protocol"] == "fixed-generations"
    fake.calls.clear()
    again = run_benchmark(
        [fake], evaluator=evaluator_dir, dataset=dataset, replications=3, seed=0, out_dir=tmp_path,
        model_names=["fake"], multimodality=True, mm_texts=4, mm_repeats=3, mm_times=2, progress=False,
        protocol="fixed-generations",
    )
    assert fake.calls == []  # resumed from the generation cache
    assert again.rows == result.rows


def test_cli_evaluate_with_both_saved_pipelines(dataset, evaluator_dir, tmp_path, capsys):
    from mdm_tiny import tiny_pipeline

    from pipelines.cli import main

    data_dir = tmp_path / "express4d"
    data_dir.mkdir()
    dataset.to_parquet(str(data_dir / "test.parquet"))
    mdm_dir, gpt_dir = tmp_path / "mdm", tmp_path / "t2m_gpt"
    tiny_pipeline(tmp_path / "vocab").save_pretrained(mdm_dir)
    tiny_t2m_gpt(tmp_path / "vocab_gpt").save_pretrained(gpt_dir)
    out = tmp_path / "bench"
    code = main([
        "evaluate", "--model", str(mdm_dir), "--name", "MDM tiny", "--model", str(gpt_dir), "--name", "T2M-GPT tiny",
        "--evaluator", evaluator_dir, "--dataset", str(data_dir), "--split", "test", "--replications", "2",
        "--steps", "2", "--limit", "8", "--out", str(out), "--protocol", "fixed-generations",
    ])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, captured.err
    assert "| Real motion |" in printed and "| MDM tiny |" in printed and "| T2M-GPT tiny |" in printed
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["num_inference_steps"] == 2 and saved["config"]["num_items"] == 8
    assert saved["config"]["command"] == f"express4d evaluate --model {mdm_dir} --name 'MDM tiny' --model {gpt_dir}" + (
        f" --name 'T2M-GPT tiny' --evaluator {evaluator_dir} --dataset {data_dir} --split test --replications 2"
        f" --steps 2 --limit 8 --out {out} --protocol fixed-generations")
    assert list(saved["rows"]) == [REAL_ROW, "MDM tiny", "T2M-GPT tiny"]
    assert all(np.isfinite(v["mean"]) for row in saved["rows"].values() for v in row.values())


def test_cli_evaluate_errors(capsys, tmp_path):
    from pipelines.cli import main

    assert main(["evaluate", "--evaluator", "x", "--model", "a", "--name", "A", "--name", "B"]) == 2
    assert "--name: give one name per --model (1 models, 2 names)" in capsys.readouterr().err


@pytest.mark.slow
def test_full_run_on_the_synthetic_corpus_with_a_briefly_trained_evaluator(tmp_path, capsys):
    """Synthetic corpus -> Parquet dataset -> evaluator trained for a few hundred steps -> `express4d evaluate`."""
    import datasets

    from express4d_dataset.hub import export_dataset
    from express4d_dataset.motion import MotionCollator, MotionStats
    from express4d_dataset.synthetic import write_synthetic_corpus
    from pipelines.cli import main
    from mdm_tiny import evaluator_step

    write_synthetic_corpus(tmp_path / "raw", num_sequences=200, seed=0)
    export_dataset(tmp_path / "raw", tmp_path / "express4d", configs=["fps20"])
    stats = MotionStats.load(tmp_path / "express4d" / "fps20" / "stats.json")
    train = datasets.load_dataset(str(tmp_path / "express4d"), split="train")
    config = Express4DEvaluatorConfig.from_preset("small", motion_mean=stats.mean.tolist(), motion_std=stats.std.tolist())
    torch.manual_seed(0)
    model = Express4DEvaluator(config)
    collate = MotionCollator(stats, max_frames=196, train=True, seed=0)
    loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        for batch in loader:
            evaluator_step(model, batch, optimizer, generator=gen)
    model.save_pretrained(tmp_path / "evaluator")
    code = main(["evaluate", "--evaluator", str(tmp_path / "evaluator"), "--dataset", str(tmp_path / "express4d"),
                 "--replications", "20", "--out", str(tmp_path / "bench")])
    assert code == 0
    saved = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert saved["rows"][REAL_ROW]["R_precision_top3"]["mean"] > 3 / 32 + 0.15  # well above chance


def test_guidance_scale_reaches_only_pipelines_that_have_it(tmp_path):
    texts, lengths, cache = ["a", "b"], [8, 12], tmp_path / "gen"
    guided = FakePipeline(diffusion=True)
    guided.supports = ("num_inference_steps", "guidance_scale")
    first = _gen(guided, texts, lengths, seed=0, guidance_scale=5.0, cache_dir=cache)
    assert [c["guidance_scale"] for c in guided.calls] == [5.0]
    plain = FakePipeline(diffusion=True)
    plain.supports = guided.supports
    _gen(plain, texts, lengths, seed=0, cache_dir=cache)
    assert len(plain.calls) == 1 and "guidance_scale" not in plain.calls[0]  # the default's generations are other ones
    guided.calls.clear()
    again = _gen(guided, texts, lengths, seed=0, guidance_scale=5.0, cache_dir=cache)
    assert guided.calls == []  # same scale: from the cache
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="guidance_scale: Fake has no classifier-free guidance"):
        _gen(FakePipeline(), texts, lengths, guidance_scale=5.0)


def test_staged_prompts_reach_the_pipeline_as_text_and_are_cached_apart(tmp_path, monkeypatch):
    from pipelines.mdm import prompt_stages

    texts, lengths, cache = ["a, then b", "c"], [8, 12], tmp_path / "gen"
    staged = FakePipeline(diffusion=True)
    staged.supports = ("num_inference_steps", "prompt_stages")
    staged.default_prompt_stages = "auto"
    _gen(staged, texts, lengths, seed=0, cache_dir=cache)
    assert staged.encoded == [] and [c["embeds"] for c in staged.calls] == [False]  # only texts can be split
    assert "prompt_stages" not in staged.calls[0]  # the pipeline's own default
    _gen(staged, texts, lengths, seed=0, cache_dir=cache, prompt_stages="off")
    assert staged.encoded == [texts] and staged.calls[1]["embeds"] and staged.calls[1]["prompt_stages"] == "off"
    _gen(staged, texts, lengths, seed=0, cache_dir=cache, prompt_stages="auto")
    assert len(staged.calls) == 2  # "auto" is the default's generations: read back from the cache
    staged.calls.clear()
    staged.default_prompt_stages = "off"
    _gen(staged, texts, lengths, seed=0, cache_dir=cache)
    assert staged.calls == []  # the default is now "off": those generations are cached too
    monkeypatch.setattr(prompt_stages, "STAGE_STEPS_SHARE", 1.0)  # another stage layout: generated again
    _gen(staged, texts, lengths, seed=0, cache_dir=cache, prompt_stages="auto")
    assert len(staged.calls) == 1 and staged.calls[0]["prompt_stages"] == "auto"
    with pytest.raises(ValueError, match="prompt_stages: Fake does not split prompts into stages"):
        _gen(FakePipeline(), texts, lengths, prompt_stages="auto")


def test_run_benchmark_guidance_names_the_row_and_skips_models_without_it(dataset, evaluator_dir, tmp_path):
    from mdm_tiny import tiny_pipeline

    mdm = tiny_pipeline(tmp_path / "vocab")
    gpt = tiny_t2m_gpt(tmp_path / "vocab_gpt")
    common = dict(evaluator=evaluator_dir, dataset=dataset, replications=2, num_inference_steps=2, limit=6,
                  protocol="fixed-generations", progress=False)
    result = run_benchmark([mdm, gpt], guidance_scale=4.0, **common)
    mdm_row = mdm.describe(2, guidance_scale=4.0)
    assert mdm_row.endswith(", guidance 4)") and list(result.rows) == [REAL_ROW, mdm_row, gpt.describe(2)]
    assert result.config["guidance_scale"] == 4.0
    assert any("has no classifier-free guidance; it generates without" in w for w in result.warnings)
    default = run_benchmark([mdm], **common)
    assert list(default.rows) == [REAL_ROW, mdm.describe(2)] and default.config["guidance_scale"] is None
    assert default.rows[mdm.describe(2)]["FID"] != result.rows[mdm_row]["FID"]  # other generations
    rescaled = run_benchmark([mdm, gpt], guidance_scale=4.0, guidance_rescale=0.7, **common)
    rescaled_row = mdm.describe(2, guidance_scale=4.0, guidance_rescale=0.7)
    assert rescaled_row.endswith(", guidance 4 rescaled 0.7)") and list(rescaled.rows)[1] == rescaled_row
    assert rescaled.config["guidance_rescale"] == 0.7 and result.config["guidance_rescale"] is None
    assert any("has no guidance rescale; it generates without" in w for w in rescaled.warnings)
    assert rescaled.rows[rescaled_row]["FID"] != result.rows[mdm_row]["FID"]  # other generations
    lids = run_benchmark([mdm, gpt], guidance_scale=4.0, lid_guidance_scale=1.0, **common)
    lids_row = mdm.describe(2, guidance_scale=4.0, lid_guidance_scale=1.0)
    assert lids_row.endswith(", guidance 4, lids 1)") and list(lids.rows)[1] == lids_row
    assert lids.config["lid_guidance_scale"] == 1.0 and result.config["lid_guidance_scale"] is None
    assert any("has no lid guidance; it generates without" in w for w in lids.warnings)
    assert lids.rows[lids_row]["FID"] != result.rows[mdm_row]["FID"]  # other generations (the lids)
    staged = run_benchmark([mdm, gpt], prompt_stages="auto", **common)
    assert list(staged.rows)[1] == mdm.describe(2, prompt_stages="auto") and list(staged.rows)[1].endswith(", prompt stages)")
    assert staged.config["prompt_stages"] == "auto" and any("has no prompt stages" in w for w in staged.warnings)
