"""Express4DVQVAE: shapes, loss formula, EMA codebook (init, update, dead-code reset), save/load, overfitting."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from pipelines import Express4DVQVAE, Express4DVQVAEConfig
from pipelines.modeling_vqvae import EMACodebook


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


def test_forward_dequantises_with_the_codebook_before_the_update():
    """A code assigned in this step and reset by the same EMA update must still give its pre-update
    vector as z_q: the decoder input and the commitment target are the vector the input was quantised to."""
    model = tiny_vqvae()
    motion = sinusoid_motions(n=4, frames=64, seed=2)
    trained_once(model, motion)
    q = model.quantizer
    with torch.no_grad():  # every code's EMA count collapses below the threshold -> all reset this step
        q.code_sum.zero_()
        q.code_count.zero_()
    before = q.codebook.clone()
    model.train()
    out = model(motion, generator=torch.Generator().manual_seed(3))
    assert int(out.num_reset_codes) == model.config.codebook_size
    codes = out.codes.reshape(-1)
    assert not torch.allclose(q.codebook[codes], before[codes])  # the assigned codes did move
    with torch.no_grad():
        z, _ = model.encode_latents(motion)
        flat = z.transpose(1, 2).reshape(-1, z.shape[1])
        z_q = before[codes]
        expected_commitment = (flat - z_q).pow(2).mean()
        expected_recon = model.decoder(z_q.view(z.shape[0], z.shape[2], -1).transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(out.commitment_loss, expected_commitment, rtol=1e-5)
    assert torch.allclose(out.reconstruction, expected_recon, atol=1e-5)


class _FakeReplicaGroup:
    """A stand-in for ``torch.distributed`` with ``world`` ranks that all hold this rank's batch:
    all_reduce sums the replicas, all_gather returns a copy per rank; records the calls made."""

    def __init__(self, world=2, rank=0):
        self.world, self.rank, self.calls = world, rank, []

    def is_available(self):
        return True

    def is_initialized(self):
        return True

    def get_world_size(self):
        return self.world

    def get_rank(self):
        return self.rank

    def all_reduce(self, tensor):
        self.calls.append("all_reduce")
        tensor.mul_(self.world)

    def all_gather(self, out, tensor):
        self.calls.append("all_gather")
        for o in out:
            o.copy_(tensor)

    def broadcast(self, tensor, src):
        self.calls.append("broadcast")
        assert src == 0


def test_ema_update_sums_the_batch_statistics_over_ranks(monkeypatch):
    """With torch.distributed initialised, the batch sums / counts are all-reduced before the EMA
    update (two replicas of a batch update like one process on the batch twice) and the reset rows
    go through the rank-0 broadcast; without it nothing collective is called."""
    import pipelines.modeling_vqvae as vq

    torch.manual_seed(0)
    x = torch.randn(8, 3)
    codes = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])  # code 3 unused -> reset
    reference = EMACodebook(codebook_size=4, code_dim=3, decay=0.9, reset_threshold=1.0)
    reference.initialize(x, torch.Generator().manual_seed(0))
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    reference.ema_update(torch.cat([x, x]), torch.cat([codes, codes]), torch.Generator().manual_seed(1))

    fake = _FakeReplicaGroup()
    monkeypatch.setattr(vq, "dist", fake)
    q = EMACodebook(codebook_size=4, code_dim=3, decay=0.9, reset_threshold=1.0)
    q.load_state_dict(state)
    reset = q.ema_update(x, codes, torch.Generator().manual_seed(1))
    assert fake.calls == ["all_reduce", "all_reduce", "all_gather", "broadcast"]
    assert reset.tolist() == [False, False, False, True]
    assert torch.allclose(q.code_sum, reference.code_sum) and torch.allclose(q.code_count, reference.code_count)
    assert torch.allclose(q.codebook[:3], reference.codebook[:3])
    assert min_distance(q.codebook[3:], x).max() < 1e-6

    fake.calls.clear()  # every code alive: no row exchange
    q.code_count.fill_(100.0)
    q.ema_update(x, codes, torch.Generator().manual_seed(1))
    assert fake.calls == ["all_reduce", "all_reduce"]

    fake.calls.clear()  # opted out: rank-local, like a single process
    q.sync_distributed = False
    q.load_state_dict(state)
    q.ema_update(x, codes, torch.Generator().manual_seed(1))
    assert fake.calls == []
    single = EMACodebook(codebook_size=4, code_dim=3, decay=0.9, reset_threshold=1.0)
    single.load_state_dict(state)
    monkeypatch.undo()
    single.ema_update(x, codes, torch.Generator().manual_seed(1))
    for key in ("codebook", "code_sum", "code_count"):
        assert torch.equal(getattr(q, key), getattr(single, key))


def _ddp_codebook_worker(rank, world, init_file, chunks, state, out_dir):
    """One rank of the gloo test below: initialise, then two EMA updates on this rank's chunk."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        x = chunks[rank]
        q = EMACodebook(codebook_size=8, code_dim=3, decay=0.9, reset_threshold=1.0)
        q.initialize(x, torch.Generator().manual_seed(100 + rank))
        initial = q.codebook.clone()
        q.load_state_dict(state)
        results = {"initial": initial}
        for step in range(2):
            if step == 1:
                q.code_count.fill_(100.0)  # all alive: the EMA path without resets
                q.code_sum.copy_(q.codebook * 100.0)
            reset = q.ema_update(x, q.nearest(x), torch.Generator().manual_seed(10 * step + rank))
            results[step] = {k: v.clone() for k, v in q.state_dict().items()}
            results[step]["reset"] = reset.clone()
        flat = {"initial": results["initial"]}
        flat.update({f"{step}.{k}": v.contiguous() for step in range(2) for k, v in results[step].items()})
        save_file(flat, f"{out_dir}/rank{rank}.safetensors")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_codebook_updates_agree_across_two_gloo_ranks(tmp_path):
    """Two real processes (gloo) with different-sized batches end with identical codebooks; the EMA
    statistics equal one process updating on the concatenated batch, and every initial / reset row
    is an encoder output of some rank's batch."""
    import torch.multiprocessing as mp

    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(10, 3, generator=g), torch.randn(14, 3, generator=g)]
    full = torch.cat(chunks)
    single = EMACodebook(codebook_size=8, code_dim=3, decay=0.9, reset_threshold=1.0)
    single.initialize(full, torch.Generator().manual_seed(0))
    with torch.no_grad():
        single.code_count[5:] = 0.0  # codes 5..7 will be reset
    state = {k: v.clone() for k, v in single.state_dict().items()}
    mp.spawn(_ddp_codebook_worker, args=(2, str(tmp_path / "init"), chunks, state, str(tmp_path)), nprocs=2, join=True)
    ranks = []
    for r in range(2):
        flat = load_file(tmp_path / f"rank{r}.safetensors")
        nested = {"initial": flat.pop("initial"), 0: {}, 1: {}}
        for key, value in flat.items():
            step, name = key.split(".", 1)
            nested[int(step)][name] = value
        ranks.append(nested)
    assert torch.equal(ranks[0]["initial"], ranks[1]["initial"])
    assert min_distance(ranks[0]["initial"], full).max() < 1e-6
    for step in range(2):
        if step == 1:
            single.code_count.fill_(100.0)
            single.code_sum.copy_(single.codebook * 100.0)
        reset = single.ema_update(full, single.nearest(full), torch.Generator().manual_seed(7))
        a, b = ranks[0][step], ranks[1][step]
        for key in ("codebook", "code_sum", "code_count", "reset"):
            assert torch.equal(a[key], b[key]), (step, key)
        assert torch.equal(a["reset"], reset)
        assert torch.allclose(a["code_sum"], single.code_sum, atol=1e-6)
        assert torch.allclose(a["code_count"], single.code_count, atol=1e-6)
        alive = ~reset
        assert torch.allclose(a["codebook"][alive], single.codebook[alive], atol=1e-6)
        if step == 0:
            assert reset.sum() >= 3
            assert min_distance(a["codebook"][reset], full).max() < 1e-6
            single.codebook.copy_(a["codebook"])  # same reset rows for the next step's comparison
        else:
            assert not reset.any()
