"""Express4DPipeline with a tiny random denoiser and a tiny random text encoder."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np

from express4d_dataset.arkit import clip_to_valid_range
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from express4d_dataset.livelink import read_livelink_csv
from mdm_tiny import CallCounter, tiny_pipeline
from pipelines.pipeline_express4d import Express4DPipeline
from pipelines.pipeline_output import Express4DPipelineOutput
from pipelines.text_encoding import encode_prompts

PROMPTS = ["a person is smiling softly", "sad face"]


@pytest.fixture
def pipe(tmp_path):
    return tiny_pipeline(tmp_path / "tok")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_shapes_lengths_and_captions(pipe):
    out = pipe(PROMPTS, num_frames=[7, 25], num_inference_steps=2, generator=gen(), num_motions_per_prompt=2)
    assert isinstance(out, Express4DPipelineOutput) and out.fps == 20.0
    assert [m.shape for m in out.motions] == [(7, 61), (7, 61), (25, 61), (25, 61)]
    assert all(m.dtype == np.float32 and np.isfinite(m).all() for m in out.motions)
    assert out.captions == [PROMPTS[0], PROMPTS[0], PROMPTS[1], PROMPTS[1]]
    assert not np.allclose(out.motions[0], out.motions[1])  # two different samples of one prompt
    seconds = pipe("happy", seconds=1.5, num_inference_steps=2, generator=gen())
    assert seconds.motions[0].shape == (30, 61)
    default = pipe("happy", num_inference_steps=1, generator=gen())
    assert default.motions[0].shape == (40, 61)  # the model's max_frames
    motions, fps, captions = pipe("happy", num_frames=4, num_inference_steps=1, return_dict=False)
    assert motions[0].shape == (4, 61) and fps == 20.0 and captions == ["happy"]


def test_output_type_pt_and_60fps(pipe):
    np_out = pipe(PROMPTS, num_frames=[10, 20], num_inference_steps=2, generator=gen())
    pt_out = pipe(PROMPTS, num_frames=[10, 20], num_inference_steps=2, generator=gen(), output_type="pt")
    assert all(isinstance(m, torch.Tensor) for m in pt_out.motions)
    np.testing.assert_allclose(pt_out.motions[1].numpy(), np_out.motions[1], atol=1e-6)
    hi = pipe(PROMPTS, num_frames=[10, 20], num_inference_steps=2, generator=gen(), output_fps=60)
    assert hi.fps == 60.0 and [m.shape[0] for m in hi.motions] == [30, 60]  # 3 T: the same duration (1 s, 0.5 s)
    np.testing.assert_allclose(hi.motions[1][1::3], np_out.motions[1], atol=1e-5)  # the native frames' centres
    np.testing.assert_allclose(hi.motions[1][0], np_out.motions[1][0], atol=1e-6)  # held at the start
    np.testing.assert_allclose(hi.motions[1][2], (2 * np_out.motions[1][0] + np_out.motions[1][1]) / 3, atol=1e-5)


def test_denormalisation_uses_config_stats(pipe):
    stats = pipe.motion_stats
    latents = torch.randn(1, 6, 61, generator=gen(3))
    captured = {}

    def keep_final(p, i, t, kwargs):
        captured["latents"] = kwargs["latents"].clone()
        return {}

    out = pipe("happy", num_frames=6, num_inference_steps=2, latents=latents, callback_on_step_end=keep_final)
    expected = captured["latents"][0].numpy() * stats.std + stats.mean  # independent denormalisation
    lo = np.array([0.0] * 52 + [-np.pi / 2] * 3 + [-np.pi / 4] * 6)  # then the valid ranges
    hi = np.array([1.0] * 52 + [np.pi / 2] * 3 + [np.pi / 4] * 6)
    np.testing.assert_allclose(out.motions[0], np.clip(expected, lo, hi), rtol=1e-5, atol=1e-5)
    assert (out.motions[0][:, :52] >= 0).all() and (out.motions[0][:, :52] <= 1).all()


def test_determinism_with_generator(pipe):
    a = pipe(PROMPTS, num_frames=12, num_inference_steps=3, generator=gen(5))
    b = pipe(PROMPTS, num_frames=12, num_inference_steps=3, generator=gen(5))
    c = pipe(PROMPTS, num_frames=12, num_inference_steps=3, generator=gen(6))
    for x, y in zip(a.motions, b.motions):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.motions[0], c.motions[0])
    per_motion = pipe(PROMPTS, num_frames=12, num_inference_steps=3, generator=[gen(1), gen(2)])
    assert len(per_motion.motions) == 2


def test_padding_never_influences_valid_frames(pipe):
    latents = torch.randn(2, 15, 61, generator=gen(1))
    a = pipe(PROMPTS, num_frames=[6, 15], num_inference_steps=3, generator=gen(2), latents=latents)
    changed = latents.clone()
    changed[0, 6:] = 50.0  # noise in the padded frames of the short motion
    b = pipe(PROMPTS, num_frames=[6, 15], num_inference_steps=3, generator=gen(2), latents=changed)
    np.testing.assert_allclose(a.motions[0], b.motions[0], atol=1e-5)
    np.testing.assert_allclose(a.motions[1], b.motions[1], atol=1e-5)


def test_cfg_is_one_batched_forward_equal_to_two_passes(pipe):
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    latents = torch.randn(2, 9, 61, generator=gen(4))
    counter = CallCounter(pipe.denoiser)
    out = pipe(PROMPTS, num_frames=[5, 9], num_inference_steps=3, guidance_scale=2.5, latents=latents, output_type="pt")
    counter.remove()
    assert counter.batches == [4, 4, 4]  # one forward per step with [uncond; cond]

    # reference: separate conditional and unconditional passes, DDIM by hand from the scheduler's alphas
    cond = encode_prompts(pipe.text_encoder, pipe.tokenizer, PROMPTS)
    mask = torch.tensor([[True] * 5 + [False] * 4, [True] * 9])
    sched = DDIMScheduler.from_config(pipe.scheduler.config)
    sched.set_timesteps(3)
    alphas = sched.alphas_cumprod
    x = latents.clone()
    ts = sched.timesteps.tolist()
    for k, t in enumerate(ts):
        x0_c = pipe.denoiser(x, t, cond, attention_mask=mask).sample
        x0_u = pipe.denoiser(x, t, torch.zeros_like(cond), attention_mask=mask).sample
        x0 = x0_u + 2.5 * (x0_c - x0_u)
        a_t = alphas[t]
        prev = t - 1000 // 3  # DDIM steps back by num_train_timesteps // num_inference_steps
        a_prev = alphas[prev] if prev >= 0 else torch.tensor(1.0)
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    stats = pipe.motion_stats
    for i, length in enumerate([5, 9]):
        expected = clip_to_valid_range(x[i, :length].detach().numpy() * stats.std + stats.mean)
        np.testing.assert_allclose(out.motions[i].numpy(), expected, rtol=1e-4, atol=1e-4)

    counter = CallCounter(pipe.denoiser)
    pipe(PROMPTS, num_frames=5, num_inference_steps=2, guidance_scale=1.0)
    counter.remove()
    assert counter.batches == [2, 2]  # guidance 1: no unconditional branch


def test_negative_prompt_replaces_unconditional(pipe):
    plain = pipe("happy", num_frames=8, num_inference_steps=2, generator=gen())
    neg = pipe("happy", negative_prompt="sad", num_frames=8, num_inference_steps=2, generator=gen())
    empty = pipe("happy", negative_prompt="", num_frames=8, num_inference_steps=2, generator=gen())
    assert not np.allclose(plain.motions[0], neg.motions[0])
    np.testing.assert_allclose(plain.motions[0], empty.motions[0], atol=1e-6)  # "" is the zero embedding


@pytest.mark.parametrize("scheduler_cls", [DDPMScheduler, DDIMScheduler, DPMSolverMultistepScheduler])
def test_every_scheduler(pipe, scheduler_cls):
    pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
    assert pipe.scheduler.config.prediction_type == "sample"
    assert pipe.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    out = pipe(PROMPTS, num_frames=[8, 12], num_inference_steps=4, generator=gen())
    assert [m.shape for m in out.motions] == [(8, 61), (12, 61)]
    assert all(np.isfinite(m).all() for m in out.motions)
    again = pipe(PROMPTS, num_frames=[8, 12], num_inference_steps=4, generator=gen())
    np.testing.assert_array_equal(out.motions[1], again.motions[1])


def test_default_step_counts(pipe):
    assert pipe.scheduler.config.num_train_timesteps == 1000
    assert pipe._default_num_inference_steps() == 1000  # the paper's DDPM sampling
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    assert pipe._default_num_inference_steps() == 20


def test_callback_on_step_end_and_interrupt(pipe):
    seen = []

    def cb(p, i, t, kwargs):
        seen.append((i, int(t), sorted(kwargs)))
        return {"latents": torch.zeros_like(kwargs["latents"])} if i == 2 else {}

    out = pipe("happy", num_frames=5, num_inference_steps=3, generator=gen(), callback_on_step_end=cb,
               callback_on_step_end_tensor_inputs=["latents", "x0_pred"], guidance_scale=1.0)
    assert [s[0] for s in seen] == [0, 1, 2] and seen[0][2] == ["latents", "x0_pred"]
    mean = clip_to_valid_range(pipe.motion_stats.mean)
    np.testing.assert_allclose(out.motions[0], np.broadcast_to(mean, (5, 61)), atol=1e-6)

    calls = []

    def stop(p, i, t, kwargs):
        calls.append(i)
        p._interrupt = True
        return {}

    counter = CallCounter(pipe.denoiser)
    pipe("happy", num_frames=5, num_inference_steps=4, callback_on_step_end=stop)
    counter.remove()
    assert calls == [0] and counter.calls == 1


def test_motion_prefix_is_kept(pipe):
    prefix = clip_to_valid_range(np.random.default_rng(0).normal(size=(6, 61)).astype(np.float32))  # a valid motion
    out = pipe(PROMPTS, num_frames=[10, 16], motion_prefix=prefix, num_inference_steps=3, generator=gen())
    for m in out.motions:
        np.testing.assert_allclose(m[:6], prefix, atol=1e-5)
        assert not np.allclose(m[6], prefix[-1], atol=1e-3)
    per_prompt = pipe(PROMPTS, num_frames=10, motion_prefix=[prefix[:2], None], num_inference_steps=2, generator=gen())
    np.testing.assert_allclose(per_prompt.motions[0][:2], prefix[:2], atol=1e-5)
    assert not np.allclose(per_prompt.motions[1][:2], prefix[:2], atol=1e-3)


def test_keyframe_inbetweening_keeps_frames_and_channels(pipe):
    rng = np.random.default_rng(1)
    keys = clip_to_valid_range(rng.normal(size=(12, 61)).astype(np.float32))  # a valid motion
    frame_mask = np.zeros(12, dtype=bool)
    frame_mask[[0, 11]] = True  # start and end poses
    out = pipe("happy", num_frames=12, keyframes=keys, keyframe_mask=frame_mask, num_inference_steps=3, generator=gen())
    m = out.motions[0]
    np.testing.assert_allclose(m[[0, 11]], keys[[0, 11]], atol=1e-5)
    assert not np.allclose(m[5], keys[5], atol=1e-3)
    channel_mask = np.zeros((12, 61), dtype=bool)
    channel_mask[:, 17] = True  # JawOpen pinned on every frame; the rest is generated
    out = pipe("happy", num_frames=12, keyframes=keys, keyframe_mask=channel_mask, num_inference_steps=3,
               generator=gen(), output_type="pt")
    m = out.motions[0].numpy()
    np.testing.assert_allclose(m[:, 17], keys[:, 17], atol=1e-5)
    assert not np.allclose(np.delete(m, 17, axis=1), np.delete(keys, 17, axis=1), atol=1e-3)  # the rest is generated


def test_csv_export_reimports(pipe, tmp_path):
    out = pipe(PROMPTS, num_frames=[8, 5], num_inference_steps=2, generator=gen(), output_fps=60)
    paths = out.save_livelink_csv(tmp_path / "csv")
    assert [os.path.basename(p) for p in paths] == ["000_a_person_is_smiling_softly.csv", "001_sad_face.csv"]
    for path, motion in zip(paths, out.motions):
        take = read_livelink_csv(path)
        assert take.fps == pytest.approx(60.0)
        np.testing.assert_allclose(take.frames, motion, atol=1e-6)
    single = pipe("happy", num_frames=4, num_inference_steps=2, generator=gen())
    (path,) = single.save_livelink_csv(tmp_path / "one" / "happy.csv")
    take = read_livelink_csv(path)
    assert take.fps == pytest.approx(20.0) and take.num_frames == 4
    np.testing.assert_allclose(take.frames, single.motions[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"save_livelink_csv: .*x\.csv is a single \.csv file but there are 2 motions"):
        out.save_livelink_csv(tmp_path / "x.csv")


def test_save_load_round_trip(pipe, tmp_path):
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "denoiser" / "diffusion_pytorch_model.safetensors").exists()
    assert (tmp_path / "saved" / "text_encoder" / "model.safetensors").exists()
    loaded = Express4DPipeline.from_pretrained(tmp_path / "saved")
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.scheduler, DPMSolverMultistepScheduler)
    a = pipe(PROMPTS, num_frames=[9, 4], num_inference_steps=3, generator=gen(7))
    b = loaded(PROMPTS, num_frames=[9, 4], num_inference_steps=3, generator=gen(7))
    for x, y in zip(a.motions, b.motions):
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_default_guidance_scale_is_saved_and_used(pipe, tmp_path):
    """guidance_scale=None samples with the pipeline's default_guidance_scale (model_index.json; 2.5 unless set)."""
    assert pipe.default_guidance_scale == 2.5 and pipe.describe().endswith("steps)")

    def run(p, **kw):
        return p(PROMPTS, num_frames=[6, 4], num_inference_steps=2, generator=gen(3), **kw).motions

    paper = run(pipe, guidance_scale=2.5)
    for x, y in zip(run(pipe), paper):
        np.testing.assert_array_equal(x, y)
    pipe.register_to_config(default_guidance_scale=5.0)
    pipe.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "model_index.json").read_text())["default_guidance_scale"] == 5.0
    loaded = Express4DPipeline.from_pretrained(tmp_path / "saved")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.default_guidance_scale == 5.0
    assert loaded.describe() == pipe.describe() and loaded.describe().endswith(", guidance 5)")
    assert loaded.describe(guidance_scale=2.5).endswith("steps)")
    for x, y, z in zip(run(loaded), run(loaded, guidance_scale=5.0), paper):
        np.testing.assert_array_equal(x, y)
        assert not np.allclose(x, z)
    assert loaded.guidance_scale == 5.0
    with pytest.raises(ValueError, match=r"default_guidance_scale \(model_index.json\): must be between 0 and 20"):
        Express4DPipeline(pipe.denoiser, pipe.scheduler, default_guidance_scale=-1.0)


def test_saved_without_text_encoder_loads_it_by_name(pipe, tmp_path):
    enc = tmp_path / "encoder"
    pipe.text_encoder.save_pretrained(enc)
    pipe.tokenizer.save_pretrained(enc)
    reference = pipe("happy", num_frames=6, num_inference_steps=2, generator=gen())
    slim = Express4DPipeline(denoiser=pipe.denoiser, scheduler=pipe.scheduler)
    slim.denoiser.register_to_config(text_encoder_name_or_path=str(enc))
    slim.save_pretrained(tmp_path / "slim")
    index = json.loads((tmp_path / "slim" / "model_index.json").read_text())
    assert index["text_encoder"] == [None, None] and not (tmp_path / "slim" / "text_encoder").exists()
    loaded = Express4DPipeline.from_pretrained(tmp_path / "slim")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.text_encoder is None
    out = loaded("happy", num_frames=6, num_inference_steps=2, generator=gen())
    np.testing.assert_allclose(out.motions[0], reference.motions[0], atol=1e-6)
    assert loaded.get_text_encoder()[0] is loaded.get_text_encoder()[0]  # loaded once, cached
    from pipelines.text_encoding import load_cached_text_encoder

    shared = load_cached_text_encoder(loaded.denoiser.config.text_encoder_name_or_path)  # the process-wide cache
    assert loaded.get_text_encoder(device="cpu") == shared


def test_default_text_encoder_from_package(tmp_path):
    pipe = tiny_pipeline(tmp_path / "tok")
    default = Express4DPipeline.from_denoiser_config(pipe.motion_stats, num_layers=1, latent_dim=32, ff_size=32, max_frames=20)
    default.set_progress_bar_config(disable=True)
    assert default.denoiser.config.text_embed_dim == 384 and default.text_encoder is None
    out = default("A person is smiling softly", seconds=0.5, num_inference_steps=2, generator=gen())
    assert out.motions[0].shape == (10, 61)


_HUB_SCRIPT = r"""
import sys, numpy as np, torch
from pipelines.pipeline_express4d import Express4DPipeline
pipe = Express4DPipeline.from_pretrained("express4d-test/tiny-mdm")
pipe.set_progress_bar_config(disable=True)
out = pipe(["a person is smiling softly", "sad face"], num_frames=[9, 4], num_inference_steps=3,
           generator=torch.Generator().manual_seed(7))
np.save(sys.argv[1], np.concatenate(out.motions))
"""


def test_offline_load_from_hub_cache(pipe, tmp_path):
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf_home" / "hub" / "models--express4d-test--tiny-mdm"
    pipe.save_pretrained(repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1")
    env.pop("HF_HUB_CACHE", None)
    result = subprocess.run([sys.executable, "-c", _HUB_SCRIPT, str(tmp_path / "out.npy")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = pipe(PROMPTS, num_frames=[9, 4], num_inference_steps=3, generator=gen(7))
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), np.concatenate(expected.motions), atol=1e-6)


def test_custom_pipeline_with_trust_remote_code(pipe, tmp_path):
    from diffusers import DiffusionPipeline

    pipe.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "pipeline_express4d.py").exists()
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "saved", custom_pipeline="pipeline_express4d", trust_remote_code=True)
    assert type(loaded).__name__ == "Express4DPipeline"
    loaded.set_progress_bar_config(disable=True)
    a = pipe("happy", num_frames=5, num_inference_steps=2, generator=gen())
    b = loaded("happy", num_frames=5, num_inference_steps=2, generator=gen())
    np.testing.assert_allclose(a.motions[0], b.motions[0], atol=1e-6)


# ------------------------------------------------------------------ bad input, all before any compute

BAD_CALLS = [
    (dict(prompt=[]), ValueError, "prompt: got an empty list; pass at least one text prompt"),
    (dict(prompt=["ok", 3]), TypeError, r"prompt\[1\]: expected a string, got int"),
    (dict(prompt="x", num_frames=0), ValueError, r"num_frames\[0\]: the motion length must be at least 1 frame, got 0"),
    (dict(prompt="x", num_frames=-3), ValueError, "at least 1 frame, got -3"),
    (dict(prompt="x", num_frames=41), ValueError, r"num_frames\[0\]: 41 frames \(2.05 s at 20 fps\) exceeds the model's maximum of 40 frames"),
    (dict(prompt="x", seconds=2.5), ValueError, r"seconds\[0\]: 50 frames .* exceeds the model's maximum of 40 frames"),
    (dict(prompt="x", seconds=0), ValueError, r"seconds\[0\]: must be a positive duration, got 0.0"),
    (dict(prompt="x", num_frames=2.5), ValueError, r"num_frames\[0\]: expected a whole number of frames, got 2.5"),
    (dict(prompt=["a", "b"], num_frames=[5, 6, 7]), ValueError, "num_frames: got 3 values for 2 prompts"),
    (dict(prompt=["a", "b"], seconds=[1.0]), ValueError, "seconds: got 1 values for 2 prompts"),
    (dict(prompt="x", num_frames=5, seconds=1), ValueError, "num_frames and seconds were both given"),
    (dict(prompt="x", guidance_scale=-1), ValueError, r"guidance_scale: must be between 0 and 20 \(1 = no guidance, 2.5 = the paper's value; larger pins every blendshape at 0 or 1\), got -1"),
    (dict(prompt="x", guidance_scale=1e9), ValueError, r"guidance_scale: must be between 0 and 20 .*got 1e\+09"),
    (dict(prompt="x", num_inference_steps=0), ValueError, "num_inference_steps: must be a positive integer, got 0"),
    (dict(prompt="x", num_inference_steps=1001), ValueError, "num_inference_steps: 1001 exceeds the scheduler's 1000"),
    (dict(prompt="x", num_motions_per_prompt=0), ValueError, "num_motions_per_prompt: must be a positive integer, got 0"),
    (dict(prompt="x", output_type="pil"), ValueError, "output_type: must be 'np'"),
    (dict(prompt="x", output_fps=0), ValueError, "output_fps: must be positive, got 0.0"),
    (dict(prompt=["a", "b"], negative_prompt=["c"]), ValueError, "negative_prompt: got 1 prompts for 2 prompts"),
    (dict(prompt="x", num_frames=5, latents=torch.zeros(1, 4, 61)), ValueError, r"latents: expected shape \(1, 5, 61\), got \(1, 4, 61\)"),
    (dict(prompt=["a", "b"], generator=[torch.Generator()]), ValueError, "generator: got a list of 1 generators for 2 motions"),
    (dict(prompt="x", num_frames=5, motion_prefix=np.zeros((5, 61))), ValueError, r"motion_prefix\[0\]: 5 frames, but the motion is 5 frames long"),
    (dict(prompt="x", num_frames=5, motion_prefix=np.zeros((2, 60))), ValueError, r"motion_prefix\[0\]: expected a \[T, 61\] motion"),
    (dict(prompt="x", num_frames=5, keyframes=np.zeros((5, 61))), ValueError, "keyframes and keyframe_mask must be given together"),
    (dict(prompt="x", num_frames=5, keyframes=np.zeros((5, 61)), keyframe_mask=np.ones((5, 3), bool)), ValueError,
     r"keyframe_mask\[0\]: shape \(5, 3\) does not match keyframes\[0\] \(5, 61\)"),
    (dict(prompt="x", num_frames=5, keyframes=np.zeros((8, 61)), keyframe_mask=np.arange(8) == 6), ValueError,
     r"keyframes\[0\]: a keyframe lies at or after frame 5"),
    (dict(prompt="x", callback_on_step_end_tensor_inputs=["noise"]), ValueError, r"callback_on_step_end_tensor_inputs: \['noise'\]"),
]


@pytest.mark.parametrize("kwargs,exc,message", BAD_CALLS, ids=[str(i) for i in range(len(BAD_CALLS))])
def test_bad_input_errors_before_compute(pipe, kwargs, exc, message):
    denoiser_calls, encoder_calls = CallCounter(pipe.denoiser), CallCounter(pipe.text_encoder)
    with pytest.raises(exc, match=message):
        pipe(**dict(dict(num_inference_steps=2), **kwargs))
    assert denoiser_calls.calls == 0 and encoder_calls.calls == 0


def test_bad_scheduler_and_encoder_errors(pipe, tmp_path):
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, prediction_type="epsilon")
    with pytest.raises(ValueError, match="scheduler: prediction_type='epsilon', but the MDM denoiser predicts the clean motion"):
        pipe("x", num_inference_steps=2)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, prediction_type="sample")
    pipe.denoiser.register_to_config(text_embed_dim=24)
    with pytest.raises(ValueError, match="text encoder: produces 16-d embeddings but the denoiser expects text_embed_dim=24"):
        pipe("x", num_inference_steps=2)


def test_checkpoint_without_stats_or_61_channels_errors(pipe, tmp_path):
    from pipelines.denoiser_mdm import MDMDenoiser

    no_stats = MDMDenoiser.from_preset("small", latent_dim=16, num_layers=1, ff_size=16, text_embed_dim=16)
    with pytest.raises(ValueError, match=r"denoiser: the checkpoint config has no normalisation statistics \(motion_mean / motion_std\)"):
        Express4DPipeline(denoiser=no_stats, scheduler=pipe.scheduler)
    wrong = MDMDenoiser.from_preset("small", num_channels=52, latent_dim=16, num_layers=1, ff_size=16, text_embed_dim=16)
    with pytest.raises(ValueError, match="denoiser: the checkpoint has num_channels=52, but Express4D motions have 61"):
        Express4DPipeline(denoiser=wrong, scheduler=pipe.scheduler)
    # the same errors when a saved checkpoint is loaded
    pipe.save_pretrained(tmp_path / "saved")
    config_path = tmp_path / "saved" / "denoiser" / "config.json"
    config = json.loads(config_path.read_text())
    config["motion_std"] = None
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no normalisation statistics"):
        Express4DPipeline.from_pretrained(tmp_path / "saved")


def test_pickle_weights_are_refused(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "saved")
    shutil.move(tmp_path / "saved" / "denoiser" / "diffusion_pytorch_model.safetensors",
                tmp_path / "saved" / "denoiser" / "diffusion_pytorch_model.bin")
    with pytest.raises(ValueError, match=r"denoiser of .*: found only pickle weights \(diffusion_pytorch_model.bin\); express4d loads safetensors only"):
        Express4DPipeline.from_pretrained(tmp_path / "saved")
    with pytest.raises(ValueError, match="use_safetensors=False is not supported"):
        Express4DPipeline.from_pretrained(tmp_path / "saved", use_safetensors=False)


def test_bfloat16_denoiser_keeps_float32_latents(pipe):
    ref = pipe("happy", num_frames=8, num_inference_steps=2, generator=gen(), guidance_scale=1.0)
    pipe.denoiser.to(torch.bfloat16)
    out = pipe("happy", num_frames=8, num_inference_steps=2, generator=gen(), guidance_scale=1.0, output_type="pt")
    assert out.motions[0].dtype == torch.float32
    np.testing.assert_allclose(out.motions[0].numpy(), ref.motions[0], atol=0.25)  # bf16 rounding only
