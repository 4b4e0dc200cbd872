"""Staged prompts: the grammar that splits them, the windows that lay them out, and the pipeline that blends them."""

import json

import numpy as np
import pytest
import torch

from express4d_dataset.synthetic.captions import caption_plan_with_swaps
from express4d_dataset.synthetic.plan import sample_plan
from pipelines.mdm import prompt_stages
from pipelines.mdm.prompt_stages import (
    StageBlend,
    check_prompt_stages,
    plan_prompt_stages,
    split_prompt_stages,
    stage_seconds,
    stage_steps,
    stage_windows,
)
from tests.mdm_tiny import tiny_pipeline


@pytest.mark.parametrize("prompt,stages", [
    ("A person smiles and then raises their eyebrows", ["A person smiles", "A person raises their eyebrows"]),
    ("She smiles, and after that she puffs out her cheeks", ["She smiles", "She puffs out her cheeks"]),
    ("He smiles, then raises his eyebrows, and finally opens his mouth wide.",
     ["He smiles", "He raises his eyebrows", "He opens his mouth wide"]),
    ("A person smiles, frowns, and then looks up", ["A person smiles", "A person frowns", "A person looks up"]),
    ("First she frowns. Next, her eyes go wide. In the end she puffs out her cheeks.",
     ["She frowns", "Her eyes go wide", "She puffs out her cheeks"]),
    # "before" and "after" put the stages in time order, whichever comes first in the sentence
    ("Before frowning, she looks up", ["She looks up", "She is frowning"]),
    ("She smiles after raising her eyebrows", ["She is raising her eyebrows", "She smiles"]),
    ("After shutting her eyes tight she blows her cheeks out.", ["She is shutting her eyes tight", "She blows her cheeks out"]),
    ("The man pouts before moving on to grinning", ["The man pouts", "The man is grinning"]),
    ("Maria starts by nodding and ends with a frown", ["Maria is nodding", "Maria shows a frown"]),
    ("He nods slowly and finishes with a deep frown.", ["He nods slowly", "He shows a deep frown"]),
    ("They squint, then go on to smile", ["They squint", "They smile"]),
    ("She beams, and a moment later her eyebrows shoot up.", ["She beams", "Her eyebrows shoot up"]),
    ("The woman scowls, and once that passes she glances up", ["The woman scowls", "She glances up"]),
    ("A person is rolling their eyes and then relaxing their face",
     ["A person is rolling their eyes", "A person is relaxing their face"]),
])
def test_splits_a_staged_prompt_into_sentences_in_time_order(prompt, stages):
    assert split_prompt_stages(prompt) == stages


@pytest.mark.parametrize("prompt", [
    "A person frowns while looking to the left",
    "She smiles and raises her eyebrows at the same time",
    "He nods twice as he grins",
    "A person smiles after a pause",  # "after" without an action after it
    "She smiles, as if she just heard good news",
    "The person is smiling softly",
    "",
])
def test_leaves_a_prompt_of_one_stage_whole(prompt):
    assert split_prompt_stages(prompt) == [prompt]


def test_finds_the_steps_of_every_caption_the_corpus_writes():
    """Every caption of 300 random takes (both splits' wording, held-out connectives included) splits into its
    plan's steps, plus one when it ends by relaxing the face."""
    rng = np.random.default_rng(5)
    checked = 0
    for i in range(300):
        split = ("train", "test")[i % 2]
        plan = sample_plan(rng, split=split)
        for caption, _ in caption_plan_with_swaps(rng, plan, split=split):
            relax = any(w in caption.lower() for w in ("relax", "neutral expression"))
            assert len(split_prompt_stages(caption)) == len(plan.steps) + relax, caption
            checked += 1
    assert checked > 900


def test_plan_keeps_short_clips_and_single_stages_whole():
    prompts = ["A person smiles and then frowns", "A person frowns"]
    assert plan_prompt_stages(prompts, [120, 120], fps=20) == [["A person smiles", "A person frowns"], ["A person frowns"]]
    assert plan_prompt_stages(prompts, [39, 120], fps=20) is None  # 1.95 s: under a second per stage
    assert plan_prompt_stages(["A person frowns"], [120], fps=20) is None
    with pytest.raises(ValueError, match="prompt_stages: expected one of 'auto', 'off'"):
        check_prompt_stages("on")


@pytest.mark.parametrize("frames,stages,overlap", [(120, 2, 10), (120, 3, 10), (61, 3, 10), (50, 2, 0), (40, 1, 10)])
def test_windows_cover_the_clip_and_their_weights_sum_to_one(frames, stages, overlap):
    windows = stage_windows(frames, stages, overlap)
    assert len(windows) == stages and windows[0][0] == 0 and windows[-1][1] == frames
    total = np.zeros(frames)
    for start, end, weights in windows:
        assert weights.shape == (end - start,) and weights.min() >= 0 and weights.max() == 1
        total[start:end] += weights
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    for (s0, e0, w0), (s1, e1, w1) in zip(windows, windows[1:]):
        assert e0 - s1 == 2 * overlap  # neighbours share 2 x overlap frames, where one ramps down as the other ramps up
        if overlap:
            assert np.all(np.diff(w0[-2 * overlap:]) < 0) and np.all(np.diff(w1[: 2 * overlap]) > 0)


def test_windows_refuse_impossible_splits():
    with pytest.raises(ValueError, match="cannot split 2 frames into 3 stages"):
        stage_windows(2, 3, 1)
    with pytest.raises(ValueError, match="overlap must be >= 0"):
        stage_windows(20, 2, -1)
    with pytest.raises(ValueError, match="50 frames cannot give 3 stages 20 frames each"):
        stage_windows(50, 3, 5, [1, 1, 1], min_frames=20)
    with pytest.raises(ValueError, match="expected 2 positive weights"):
        stage_windows(50, 2, 5, [1, 0])


@pytest.mark.parametrize("stage,seconds", [
    ("She frowns for about three seconds", 3.0), ("He holds the smile for 2.5 seconds", 2.5),
    ("They squint for a couple of seconds", 2.0), ("She smiles for a second", 1.0),
    ("She winks for half a second", 0.5), ("He nods for 4 long seconds", 4.0),
    # no named duration: the untimed default (speed words are the model's to follow)
    ("She smiles briefly", 1.75), ("They slowly raise their brows", 1.75), ("A person smiles softly", 1.75),
    ("A second later she frowns", 1.75),
])
def test_stage_seconds_reads_named_seconds(stage, seconds):
    assert stage_seconds(stage) == seconds


def test_windows_share_the_clip_by_weight_above_a_floor():
    """Each stage gets ``min_frames``, and the rest in proportion to its weight; equal weights are equal shares."""
    windows = stage_windows(100, 2, 0, [3.0, 1.0], min_frames=20)
    assert [(s, e) for s, e, _ in windows] == [(0, 65), (65, 100)]  # 20 + 60 * 3/4, 20 + 60 * 1/4
    windows = stage_windows(120, 3, 5, [1.0, 2.0, 1.0])
    assert [(s, e) for s, e, _ in windows] == [(0, 35), (25, 95), (85, 120)]  # bounds 30 and 90, 5 frames each way
    for (s0, e0, w0), (s1, e1, w1) in zip(stage_windows(120, 3, 5, [2.0, 2.0, 2.0]), stage_windows(120, 3, 5)):
        assert (s0, e0) == (s1, e1) and np.array_equal(w0, w1)


def test_blend_gives_stages_shares_by_their_named_seconds():
    """A stage that names its seconds gets its share of the clip by them (each at least MIN_STAGE_SECONDS); without
    named seconds the shares are equal."""
    blend = StageBlend([["She smiles for about four seconds", "She frowns"], ["She smiles briefly", "She frowns slowly"]],
                       [120, 120], num_per_prompt=1, fps=20, num_frames=120)
    ends = blend.mask.sum(1).tolist()  # window lengths: [smile 4 s, frown, brief smile, slow frown]
    first = 20 + 80 * (4 + 0.3) / (4 + 0.3 + 1.75 + 0.3)  # 74 frames, then 10 into the frown's
    assert ends == [round(first) + 10, 120 - round(first) + 10, 70, 70]


def test_blend_of_the_crops_gives_the_motion_back():
    stages = [["a", "b", "c"], ["d"]]
    blend = StageBlend(stages, [60, 60, 45, 45], num_per_prompt=2, fps=20, num_frames=60)
    assert blend.rows.tolist() == [0, 1, 2, 0, 1, 2, 3, 3]  # windows of motions 0-1 (prompt 0), then 2-3 (prompt 1)
    x = torch.randn(4, 60, 61)
    x[2:, 45:] = 0  # padding of the shorter motions
    crops = blend.crop(x)
    assert crops.shape == (8, blend.mask.shape[1], 61)
    assert torch.equal(crops[~blend.mask], torch.zeros_like(crops[~blend.mask]))
    torch.testing.assert_close(blend.blend(crops), x)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return tiny_pipeline(tmp_path_factory.mktemp("stages"))


def _pooled_denoiser(pipe, seen):
    """A denoiser stand-in that returns, for every frame of a clip, the first value of its text's pooled vector."""
    def fake_forward(sample, timestep, text, attention_mask=None, **_):
        seen.append((tuple(sample.shape[:2]), text.pooled.clone()))
        value = text.pooled[:, None, :1].expand(-1, sample.shape[1], sample.shape[2])
        return type("Out", (), {"sample": value})()
    return fake_forward


def _staged_yaw(pipe, monkeypatch, steps, seen):
    monkeypatch.setattr(pipe.denoiser, "forward", _pooled_denoiser(pipe, seen))
    out = pipe("A person smiles and then frowns", num_frames=40, num_inference_steps=steps, guidance_scale=1.0,
               generator=torch.Generator().manual_seed(0), output_type="pt", prompt_stages="auto")
    return pipe.motion_stats.normalize(out.motions[0].numpy())[:, 52]  # HeadYaw (not clipped), in normalised units


def test_each_stage_window_is_denoised_with_its_own_text(pipe, monkeypatch):
    """With stage windows at every step the staged motion is the first stage's text in its window, the second's in
    its own, and a ramp between them."""
    monkeypatch.setattr(prompt_stages, "STAGE_STEPS_SHARE", 1.0)
    embeds = pipe.encode_prompt(["A person smiles", "A person frowns"], do_classifier_free_guidance=False)[0]
    seen = []
    yaw = _staged_yaw(pipe, monkeypatch, 2, seen)
    assert [shape for shape, _ in seen] == [(2, 30)] * 2  # two windows of 20 frames + 10 shared (0.5 s at 20 fps)
    torch.testing.assert_close(seen[-1][1], embeds.pooled)
    a, b = embeds.pooled[0, 0].item(), embeds.pooled[1, 0].item()
    share = np.clip((np.arange(40) + 0.5 - 10) / 20, 0, 1)  # the second window's weight: 0 until frame 10, 1 from 30
    np.testing.assert_allclose(yaw, (1 - share) * a + share * b, atol=1e-4)


@pytest.mark.parametrize("steps,staged", [(4, 2), (5, 3), (1, 1)])
def test_later_steps_see_the_whole_clip_with_the_whole_prompt(pipe, monkeypatch, steps, staged):
    """The first half of the steps (rounded up) denoise the stage windows with the stages' texts; the rest denoise
    the whole clip with the whole prompt, whose prediction is then the motion."""
    prompt = "A person smiles and then frowns"
    embeds = pipe.encode_prompt(["A person smiles", "A person frowns", prompt], do_classifier_free_guidance=False)[0]
    assert stage_steps(steps) == staged
    seen = []
    yaw = _staged_yaw(pipe, monkeypatch, steps, seen)
    assert [shape for shape, _ in seen] == [(2, 30)] * staged + [(1, 40)] * (steps - staged)
    for _, pooled in seen[:staged]:
        torch.testing.assert_close(pooled, embeds.pooled[:2])
    for _, pooled in seen[staged:]:
        torch.testing.assert_close(pooled, embeds.pooled[2:])
    if steps > staged:
        np.testing.assert_allclose(yaw, np.full(40, embeds.pooled[2, 0].item()), atol=1e-4)


def test_blend_texts_rows_and_owners():
    """Stage texts come first, prompt by prompt, then the whole prompts of the staged ones; a one-stage prompt's whole
    row is its only text."""
    blend = StageBlend([["a", "b"], ["C"], ["d", "e", "f"]], [40, 40, 60], num_per_prompt=1, fps=20, num_frames=60)
    assert blend.texts(["A, then B", "C", "D, E, then F"]) == ["a", "b", "C", "d", "e", "f", "A, then B", "D, E, then F"]
    assert blend.owners == [0, 0, 1, 2, 2, 2, 0, 2]
    assert blend.whole_rows.tolist() == [6, 2, 7]
    assert blend.rows.tolist() == [0, 1, 2, 3, 4, 5]


def test_staged_prompts_change_only_staged_prompts(pipe):
    """``auto`` gives a one-stage prompt exactly what ``off`` gives it, in the same batch as a staged one, and the
    staged prompt a different motion; the pipeline's default is ``off`` unless its model_index.json sets it."""
    prompts = ["A person frowns", "A person smiles, then frowns"]

    def run(mode):
        return pipe(prompts, num_frames=[30, 40], num_inference_steps=3,
                    generator=[torch.Generator().manual_seed(s) for s in (1, 2)], prompt_stages=mode).motions

    off, auto, default = run("off"), run("auto"), run(None)
    np.testing.assert_allclose(auto[0], off[0], atol=1e-5)
    assert not np.allclose(auto[1], off[1], atol=1e-3)
    assert pipe.default_prompt_stages == "off" and all(np.array_equal(a, b) for a, b in zip(default, off))
    assert "prompt stages" in pipe.describe(prompt_stages="auto") and "prompt stages" not in pipe.describe()
    with pytest.raises(ValueError, match="prompt_stages: expected one of"):
        pipe(prompts, num_frames=30, prompt_stages=True)


def test_saved_default_is_loaded_and_checked(pipe, tmp_path):
    from pipelines.mdm.pipeline_mdm import Express4DPipeline

    pipe.register_to_config(default_prompt_stages="auto")
    try:
        pipe.save_pretrained(tmp_path / "m")
    finally:
        pipe.register_to_config(default_prompt_stages="off")
    index = json.loads((tmp_path / "m" / "model_index.json").read_text())
    assert index["default_prompt_stages"] == "auto"
    loaded = Express4DPipeline.from_pretrained(tmp_path / "m", text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer)
    assert loaded.default_prompt_stages == "auto"
    index["default_prompt_stages"] = "sometimes"
    (tmp_path / "m" / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"default_prompt_stages \(model_index.json\): expected one of"):
        Express4DPipeline.from_pretrained(tmp_path / "m", text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer)
