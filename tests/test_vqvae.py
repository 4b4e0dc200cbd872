"""Express4DVQVAE: shapes, loss formula, EMA codebook (init, update, dead-code reset), save/load, overfitting."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pipelines import Express4DVQVAE, Express4DVQVAEConfig
from pipelines.modeling_vqvae import EMACodebook


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run fastest single-threaded; on a shared, loaded CPU 2 threads can be 20x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def sinusoid_motions(n=4, frames=64, seed=0, channels=61):
    """Smooth random sinusoids per channel: a stand-in for normalised facial motion."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames).float()[None, :, None]
    freq = torch.rand(n, 1, channels, generator=g) * 0.2 + 0.05
    phase = torch.rand(n, 1, channels, generator=g) * 2 * np.pi
    amp = torch.rand(n, 1, channels, generator=g) + 0.5
    return amp * torch.sin(freq * t + phase)


def min_distance(rows, points):
    """Distance from each row to its nearest point (exact pairwise differences, unlike cdist's matmul trick)."""
    return (rows[:, None, :] - points[None, :, :]).norm(dim=-1).min(dim=1).values


def tiny_vqvae(**overrides):
    torch.manual_seed(0)
    kwargs = dict(width=32, code_dim=16, codebook_size=16, depth=2)
    kwargs.update(overrides)
    return Express4DVQVAE.from_preset("small", **kwargs)


def trained_once(model, motion, mask=None, seed=0):
    model.train()
    model(motion, attention_mask=mask, generator=torch.Generator().manual_seed(seed))
    model.eval()
    return model


def test_presets_are_faithful_and_small():
    cfg = Express4DVQVAEConfig()
    assert (cfg.width, cfg.code_dim, cfg.codebook_size, cfg.depth, cfg.dilation_growth_rate) == (512, 512, 512, 3, 3)
    assert (cfg.ema_decay, cfg.commitment_weight, cfg.velocity_weight, cfg.downsampling_factor) == (0.99, 0.02, 0.5, 4)
    assert cfg.fps == 20 and len(cfg.channel_names) == 61 and cfg.channel_names[0] == "EyeBlinkLeft"
    small = Express4DVQVAEConfig.from_preset("small")
    assert small.width < cfg.width and small.preset == "small"
    model = Express4DVQVAE.from_preset("small", depth=3)
    from pipelines.modeling_vqvae import ResidualConvBlock

    for part in (model.encoder, model.decoder):
        dilations = [m.conv1.dilation[0] for m in part.modules() if isinstance(m, ResidualConvBlock)]
        assert dilations == [9, 3, 1, 9, 3, 1]  # two stages of depth 3, growth 3
    strides = [m.stride[0] for m in model.encoder.modules() if isinstance(m, torch.nn.Conv1d) and m.stride[0] == 2]
    assert strides == [2, 2]
    with pytest.raises(ValueError, match="Unknown VQ-VAE preset 'huge'"):
        Express4DVQVAEConfig.from_preset("huge")


def test_round_trip_shapes_and_padding_codes():
    model = tiny_vqvae()
    motion = sinusoid_motions(n=3, frames=30)
    mask = torch.ones(3, 30, dtype=torch.bool)
    mask[1, 18:] = False  # 18 valid frames -> ceil(18 / 4) = 5 codes
    trained_once(model, motion, mask)
    codes = model.encode(motion, mask)
    assert codes.shape == (3, 8) and codes.dtype == torch.long
    assert (codes[1, 5:] == -1).all() and (codes[1, :5] >= 0).all() and (codes[0] >= 0).all()
    assert model.code_lengths(torch.tensor([30, 18])).tolist() == [8, 5]
    recon = model.decode(codes[[0]])
    assert recon.shape == (1, 32, 61)
    out = model(motion, attention_mask=mask)
    assert out.reconstruction.shape == motion.shape
    assert torch.equal(out.codes, codes)
    as_tuple = model(motion, attention_mask=mask, return_dict=False)
    assert torch.allclose(as_tuple[0], out.loss) and torch.allclose(as_tuple[1], out.reconstruction)
    assert 1.0 <= float(out.perplexity) <= model.config.codebook_size


def test_loss_matches_independent_formula():
    model = tiny_vqvae()
    motion = sinusoid_motions(n=2, frames=20, seed=3)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[0, 13:] = False
    trained_once(model, motion, mask)
    with torch.no_grad():
        out = model(motion, attention_mask=mask)
    x, r, m = motion.numpy(), out.reconstruction.detach().numpy(), mask.numpy().astype(np.float64)

    def smooth_l1(a, b):
        d = np.abs(a - b)
        return np.where(d < 1.0, 0.5 * d**2, d - 0.5)

    rec = (smooth_l1(r, x) * m[..., None]).sum() / (m.sum() * 61)
    vm = m[:, 1:] * m[:, :-1]
    vel = (smooth_l1(np.diff(r, axis=1), np.diff(x, axis=1)) * vm[..., None]).sum() / (vm.sum() * 61)
    assert np.isclose(out.reconstruction_loss.item(), rec, rtol=1e-5)
    assert np.isclose(float(out.velocity_loss), vel, rtol=1e-5)
    expected = rec + 0.5 * vel + 0.02 * float(out.commitment_loss)
    assert np.isclose(float(out.loss), expected, rtol=1e-5)


def test_ema_update_matches_formula():
    torch.manual_seed(0)
    q = EMACodebook(codebook_size=4, code_dim=3, decay=0.9, reset_threshold=1.0)
    x = torch.randn(8, 3)
    q.initialize(x, torch.Generator().manual_seed(0))
    assert bool(q.initialized) and torch.all(q.code_count == 1)
    # every initial code is one of the batch rows
    assert min_distance(q.codebook, x).max() < 1e-6
    old_sum, old_count = q.code_sum.clone(), q.code_count.clone()
    codes = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])  # code 3 unused
    q.ema_update(x, codes, torch.Generator().manual_seed(1))
    onehot = torch.nn.functional.one_hot(codes, 4).float().t()
    assert torch.allclose(q.code_sum, 0.9 * old_sum + 0.1 * (onehot @ x))
    assert torch.allclose(q.code_count, 0.9 * old_count + 0.1 * onehot.sum(1))
    alive = q.code_count >= 1.0
    assert alive.tolist() == [True, True, True, False]  # 0.9 + 0.1 * n >= 1 iff n >= 1
    assert torch.allclose(q.codebook[:3], q.code_sum[:3] / q.code_count[:3, None])
    assert min_distance(q.codebook[3:], x).max() < 1e-6  # the dead code was reset to a batch output


def test_codebook_reset_revives_dead_codes():
    model = tiny_vqvae(codebook_size=8)
    motion = sinusoid_motions(n=4, frames=64, seed=1)
    trained_once(model, motion)
    q = model.quantizer
    with torch.no_grad():  # kill codes 2..7: far away from every encoder output and never counted
        q.codebook[2:] = 1e4
        q.code_sum[2:] = 1e4
        q.code_count[2:] = 0.0
    model.eval()
    assert set(model.encode(motion).unique().tolist()) <= {0, 1}
    model.train()
    out = model(motion, generator=torch.Generator().manual_seed(5))
    assert int(out.num_reset_codes) >= 6
    z, _ = model.encode_latents(motion)
    flat = z.detach().transpose(1, 2).reshape(-1, z.shape[1])
    # each revived code now sits on an encoder output of the batch ...
    assert min_distance(q.codebook[2:], flat).max() < 1e-5
    model.eval()
    # ... so the revived codes are used again
    used = set(model.encode(motion).unique().tolist())
    assert len(used - {0, 1}) >= 4


def test_codebook_buffers_saved_and_loaded(tmp_path):
    model = tiny_vqvae()
    motion = sinusoid_motions(n=2, frames=32)
    trained_once(model, motion)
    model.set_motion_stats(type("S", (), {"mean": np.linspace(0, 1, 61), "std": np.full(61, 2.0)})())
    model.save_pretrained(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    for key in ("quantizer.codebook", "quantizer.code_sum", "quantizer.code_count", "quantizer.initialized"):
        assert torch.equal(tensors[key], model.state_dict()[key])
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "express4d_vqvae" and config["motion_std"] == [2.0] * 61
    loaded = Express4DVQVAE.from_pretrained(tmp_path)
    assert torch.equal(loaded.quantizer.codebook, model.quantizer.codebook)
    assert torch.equal(loaded.encode(motion), model.encode(motion))
    assert torch.allclose(loaded.decode(model.encode(motion)), model.decode(model.encode(motion)))
    raw = torch.rand(1, 5, 61)
    assert torch.allclose(loaded.denormalize_motion(loaded.normalize_motion(raw)), raw, atol=1e-6)
    from transformers import AutoModel

    assert type(AutoModel.from_pretrained(tmp_path)) is Express4DVQVAE


def test_bad_inputs():
    model = tiny_vqvae()
    model.eval()
    with pytest.raises(ValueError, match="codebook is not initialised"):
        model.encode(torch.zeros(1, 8, 61))
    trained_once(model, sinusoid_motions(n=2, frames=16))
    with pytest.raises(ValueError, match=r"motion: expected a tensor of shape \[B, T, 61\], got \(1, 8, 60\)"):
        model.encode(torch.zeros(1, 8, 60))
    with pytest.raises(ValueError, match=r"codes: ids must lie in \[0, 16\) for this codebook, got values in \[0, 16\]"):
        model.decode(torch.tensor([[0, 16]]))
    with pytest.raises(ValueError, match=r"got values in \[-1, 3\]"):
        model.decode(torch.tensor([[3, -1]]))
    with pytest.raises(ValueError, match="codes: expected integer code ids"):
        model.decode(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"attention_mask: expected shape \(1, 8\)"):
        model(torch.zeros(1, 8, 61), attention_mask=torch.ones(1, 7, dtype=torch.bool))
    with pytest.raises(ValueError, match="no normalisation statistics"):
        model.denormalize_motion(torch.zeros(1, 2, 61))
    with pytest.raises(ValueError, match="motion_mean has 3 values for num_channels=61"):
        Express4DVQVAEConfig(motion_mean=[0.0, 1.0, 2.0])


def test_tiny_vqvae_overfits_a_handful_of_motions():
    """4 motions x 64 frames, 16 codes, faithful EMA decay 0.99: 200 AdamW steps bring the
    reconstruction MSE (eval mode, through the codebook) below 10% of the data variance."""
    model = tiny_vqvae(width=64, code_dim=32, codebook_size=16)
    motion = sinusoid_motions(n=4, frames=64)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(0)
    model.train()
    first = None
    for _ in range(200):
        out = model(motion, generator=gen)
        first = out.loss.item() if first is None else first
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        mse = float(((model.decode(model.encode(motion)) - motion) ** 2).mean())
    assert out.loss.item() < 0.5 * first
    assert mse < 0.1 * float(motion.var()), (mse, float(motion.var()))


def test_tiny_vqvae_overfits_windows_of_a_real_capture(alex_rom_path):
    """Four 64-frame windows of a real Live Link Face take (resampled to 20 fps, normalised):
    200 steps bring the reconstruction MSE below 10% of the data variance."""
    from express4d_dataset.livelink import read_livelink_csv
    from express4d_dataset.motion import MotionStats, resample

    take = read_livelink_csv(alex_rom_path)
    frames = resample(take.frames, take.fps, 20.0)
    normalised = MotionStats.from_motions([frames]).normalize(frames)
    starts = np.linspace(0, len(normalised) - 64, 4).astype(int)
    motion = torch.tensor(np.stack([normalised[s : s + 64] for s in starts]))
    model = tiny_vqvae(width=64, code_dim=32, codebook_size=16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(200):
        out = model(motion, generator=gen)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        mse = float(((model.decode(model.encode(motion)) - motion) ** 2).mean())
    assert mse < 0.1 * float(motion.var()), (mse, float(motion.var()))
