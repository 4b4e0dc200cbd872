"""T2MGPTModel: training batch layout, loss formula, corruption, training, constrained sampling,
KV cache, save/load, Auto-class registration and trust_remote_code loading in a fresh process."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from pipelines import Express4DVQVAE, T2MGPTConfig, T2MGPTModel


NUM_CODES, TEXT_DIM = 16, 8


def tiny_prior(**overrides):
    torch.manual_seed(0)
    kwargs = dict(num_codes=NUM_CODES, text_embed_dim=TEXT_DIM, hidden_size=32, num_heads=2, num_layers=2, block_size=20)
    kwargs.update(overrides)
    return T2MGPTModel.from_preset("small", **kwargs).eval()


def test_presets_and_token_ids():
    cfg = T2MGPTConfig()
    assert (cfg.hidden_size, cfg.num_heads, cfg.num_layers, cfg.dropout, cfg.block_size) == (1024, 16, 18, 0.1, 51)
    assert (cfg.end_token_id, cfg.pad_token_id, cfg.vocab_size, cfg.max_codes) == (512, 513, 514, 49)
    assert cfg.max_codes * cfg.frames_per_code == 196
    small = T2MGPTConfig.from_preset("small")
    assert small.hidden_size < cfg.hidden_size and small.num_codes == 256
    from pipelines.text_encoding import DEFAULT_TEXT_ENCODER

    assert cfg.text_encoder_name_or_path == DEFAULT_TEXT_ENCODER and cfg.text_embed_dim == 384
    prior = tiny_prior()
    assert prior.head.out_features == NUM_CODES + 1  # codes + End, never Pad
    assert prior.token_embedding.num_embeddings == NUM_CODES + 2
    with pytest.raises(ValueError, match="Unknown T2M-GPT preset 'xl'"):
        T2MGPTConfig.from_preset("xl")
    with pytest.raises(ValueError, match=r"corruption_schedule must be 'fixed' or 'uniform', got 'cosine'"):
        T2MGPTConfig(corruption_schedule="cosine")


def test_build_training_batch_layout():
    prior = tiny_prior()
    codes = torch.tensor([[3, 4, 5, 6], [7, 8, -1, -1]])
    batch = prior.build_training_batch(codes)  # lengths from the -1 padding: [4, 2]
    end, pad = NUM_CODES, NUM_CODES + 1
    assert batch["input_ids"].tolist() == [[3, 4, 5, 6], [7, 8, pad, pad]]
    assert batch["labels"].tolist() == [[3, 4, 5, 6, end], [7, 8, end, -100, -100]]
    with pytest.raises(ValueError, match=r"lengths: each must lie in \[1, 4\]"):
        prior.build_training_batch(codes, [5, 2])
    with pytest.raises(ValueError, match=r"codes: ids within each length must lie in \[0, 16\), got values in \[3, 16\]"):
        prior.build_training_batch(torch.tensor([[3, 16]]))


def test_loss_matches_independent_cross_entropy():
    prior = tiny_prior()
    text = torch.randn(2, TEXT_DIM, generator=torch.Generator().manual_seed(1))
    batch = prior.build_training_batch(torch.tensor([[1, 2, 3], [4, 5, -1]]))
    out = prior(text, **batch)
    assert out.logits.shape == (2, 4, NUM_CODES + 1)
    logits = out.logits.detach().double().numpy()
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    labels = batch["labels"].numpy()
    per_seq = []
    for b in range(2):
        keep = labels[b] != -100
        per_seq.append(-logp[b, keep, labels[b, keep]].mean())  # mean per sequence, then over the batch
    assert np.isclose(out.loss.item(), np.mean(per_seq), rtol=1e-5)
    assert isinstance(prior(text, **batch, return_dict=False), tuple)


def test_corruption_replaces_only_codes():
    prior = tiny_prior()
    ids = torch.full((64, 40), 3)
    ids[:, 30:] = prior.config.pad_token_id
    ids[:, 29] = prior.config.end_token_id
    all_replaced = prior._corrupt(ids, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(all_replaced[:, 29:], ids[:, 29:])  # End and Pad never touched
    assert (all_replaced[:, :29] < NUM_CODES).all()
    assert torch.equal(prior._corrupt(ids, 0.0, None), ids)
    half = prior._corrupt(ids, 0.5, torch.Generator().manual_seed(0))
    changed = (half[:, :29] != 3).float().mean().item()
    assert abs(changed - 0.5 * (NUM_CODES - 1) / NUM_CODES) < 0.05  # replaced w.p. 0.5, by a different code 15/16 of the time
    # corruption only in training mode
    text = torch.randn(1, TEXT_DIM)
    a = prior(text, input_ids=ids[:1, :5], corruption_prob=1.0).logits
    b = prior(text, input_ids=ids[:1, :5], corruption_prob=0.0).logits
    assert torch.equal(a, b)


def test_training_steps_reduce_loss():
    prior = tiny_prior(dropout=0.0)
    gen = torch.Generator().manual_seed(0)
    text = torch.randn(4, TEXT_DIM, generator=gen)
    codes = torch.randint(0, NUM_CODES, (4, 8), generator=gen)
    batch = prior.build_training_batch(codes, [8, 5, 3, 6])
    with torch.no_grad():
        before = prior(text, **batch).loss.item()
    opt = torch.optim.AdamW(prior.parameters(), lr=3e-3, betas=(0.5, 0.9))
    prior.train()
    for _ in range(30):
        loss = prior(text, **batch, generator=gen).loss  # tau = 0.5 corruption of the inputs
        opt.zero_grad()
        loss.backward()
        opt.step()
    prior.eval()
    with torch.no_grad():
        after = prior(text, **batch).loss.item()
    assert after < 0.7 * before, (before, after)


def test_length_constrained_generation_returns_exact_lengths():
    prior = tiny_prior()
    text = torch.randn(3, TEXT_DIM)
    wanted = [1, 7, prior.config.max_codes]
    out = prior.sample(text, num_codes=wanted, generator=torch.Generator().manual_seed(0))
    assert out.lengths.tolist() == wanted
    assert out.codes.shape == (3, prior.config.max_codes)
    for row, n in zip(out.codes, wanted):
        assert ((row[:n] >= 0) & (row[:n] < NUM_CODES)).all() and (row[n:] == -1).all()
    same = prior.sample(text, num_codes=5, generator=torch.Generator().manual_seed(0))
    assert same.lengths.tolist() == [5, 5, 5] and same.codes.shape == (3, 5)


def test_free_generation_respects_min_and_max():
    # make the final hidden state constant (ln_f weight 0, bias 1) and the End logit dominate:
    # without constraints every row would stop at once
    prior = tiny_prior()
    with torch.no_grad():
        prior.ln_f.weight.zero_()
        prior.ln_f.bias.fill_(1.0)
        prior.head.weight[NUM_CODES].fill_(5.0)
    text = torch.randn(4, TEXT_DIM)
    out = prior.sample(text, min_codes=3, generator=torch.Generator().manual_seed(0))
    assert out.lengths.tolist() == [3, 3, 3, 3]
    # End forbidden everywhere but forced at max_codes
    with torch.no_grad():
        prior.head.weight[NUM_CODES].fill_(-5.0)
    out = prior.sample(text, max_codes=6, generator=torch.Generator().manual_seed(0))
    assert out.lengths.tolist() == [6, 6, 6, 6]


def test_kv_cache_matches_full_recompute_and_generator_determinism():
    prior = tiny_prior()
    text = torch.randn(2, TEXT_DIM)
    ids = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    full = prior(text, input_ids=ids).logits
    step = prior(text, use_cache=True)
    pieces = [step.logits]
    past = step.kv_cache
    for i in range(4):
        step = prior(input_ids=ids[:, i : i + 1], kv_cache=past, use_cache=True)
        pieces.append(step.logits)
        past = step.kv_cache
    assert torch.allclose(torch.cat(pieces, 1), full, atol=1e-5)
    chunk = prior(input_ids=ids[:, 2:], kv_cache=prior(text, input_ids=ids[:, :2], use_cache=True).kv_cache)
    assert torch.allclose(chunk.logits, full[:, 3:], atol=1e-5)

    a = prior.sample(text, generator=torch.Generator().manual_seed(3))
    b = prior.sample(text, generator=torch.Generator().manual_seed(3), use_cache=False)
    c = prior.sample(text, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.codes, b.codes) and torch.equal(a.lengths, b.lengths)
    assert not torch.equal(a.codes, c.codes)
    greedy = prior.sample(text, num_codes=6, do_sample=False)
    top1 = prior.sample(text, num_codes=6, top_k=1, generator=torch.Generator().manual_seed(9))
    assert torch.equal(greedy.codes, top1.codes)


def test_sampling_bad_inputs():
    prior = tiny_prior()
    text = torch.randn(2, TEXT_DIM)
    with pytest.raises(ValueError, match=r"num_codes: each length must lie in \[1, 18\] codes \(1 to 72 frames\), got \[0, 19\]"):
        prior.sample(text, num_codes=[0, 19])
    with pytest.raises(ValueError, match="num_codes: got 3 lengths for a batch of 2"):
        prior.sample(text, num_codes=[1, 2, 3])
    with pytest.raises(ValueError, match="temperature: must be a positive number, got 0"):
        prior.sample(text, temperature=0)
    with pytest.raises(ValueError, match=r"top_k: must be None or an integer in \[1, 17\], got 0"):
        prior.sample(text, top_k=0)
    with pytest.raises(ValueError, match=r"text_embeds: expected shape \[B, 8\], got \(2, 5\)"):
        prior(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"input_ids: token ids must lie in \[0, 18\)"):
        prior(text, input_ids=torch.tensor([[0, 18], [0, 1]]))
    with pytest.raises(ValueError, match="exceeds block_size=20"):
        prior(text, input_ids=torch.zeros(2, 20, dtype=torch.long))


def test_save_load_and_auto_model(tmp_path):
    from transformers import AutoConfig, AutoModel

    prior = tiny_prior()
    prior.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "express4d_t2m_gpt"
    assert config["auto_map"] == {"AutoConfig": "configuration_t2m_gpt.T2MGPTConfig", "AutoModel": "modeling_t2m_gpt.T2MGPTModel"}
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "modeling_t2m_gpt.py").exists()
    assert isinstance(AutoConfig.from_pretrained(tmp_path), T2MGPTConfig)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is T2MGPTModel
    text = torch.randn(2, TEXT_DIM)
    a = prior.sample(text, num_codes=4, generator=torch.Generator().manual_seed(0))
    b = loaded.sample(text, num_codes=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.codes, b.codes)


REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockExpress4D(importlib.abc.MetaPathFinder):
        # the express4d packages must not be importable: only the files copied beside the weights
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("pipelines", "express4d_dataset"):
                raise ImportError("blocked " + name)
            return None

    sys.meta_path.insert(0, BlockExpress4D())
    import torch
    from transformers import AutoModel

    root = sys.argv[1]
    vq = AutoModel.from_pretrained(root + "/vqvae", trust_remote_code=True)
    prior = AutoModel.from_pretrained(root + "/prior", trust_remote_code=True)
    motion = torch.load(root + "/motion.pt", weights_only=True)
    codes = vq.encode(motion)
    sample = prior.sample(torch.ones(1, 8), num_codes=3, generator=torch.Generator().manual_seed(0))
    print(type(vq).__module__, type(prior).__module__)
    print("CODES", codes.tolist())
    print("SAMPLE", sample.codes.tolist())
    """
)


def test_trust_remote_code_loading_in_a_fresh_process(tmp_path):
    """Saved folders load with AutoModel(trust_remote_code=True) in a process where neither
    `pipelines` nor `express4d_dataset` can be imported and nothing is Auto-registered."""
    vq = Express4DVQVAE.from_preset("small", width=16, code_dim=8, codebook_size=8, depth=1)
    motion = torch.randn(1, 12, 61, generator=torch.Generator().manual_seed(0))
    vq.train()
    vq(motion, generator=torch.Generator().manual_seed(0))
    vq.eval()
    vq.save_pretrained(tmp_path / "vqvae")
    prior = tiny_prior()
    prior.save_pretrained(tmp_path / "prior")
    torch.save(motion, tmp_path / "motion.pt")
    expected_codes = vq.encode(motion).tolist()
    expected_sample = prior.sample(torch.ones(1, 8), num_codes=3, generator=torch.Generator().manual_seed(0)).codes.tolist()

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "hf_modules"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    modules = next(line for line in lines if "transformers_modules" in line)
    assert "modeling_vqvae" in modules and "modeling_t2m_gpt" in modules and "pipelines" not in modules
    assert f"CODES {expected_codes}" in lines
    assert f"SAMPLE {expected_sample}" in lines


@pytest.mark.slow
def test_faithful_presets_build_and_run():
    """The T2M-GPT-sized models (~19M VQ-VAE, ~228M prior) instantiate, train one step and sample."""
    vq = Express4DVQVAE.from_preset("paper")
    assert 18e6 < sum(p.numel() for p in vq.parameters()) < 20e6
    vq.train()
    out = vq(torch.randn(2, 64, 61), generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert out.codes.shape == (2, 16)
    prior = T2MGPTModel(T2MGPTConfig()).eval()
    assert 220e6 < sum(p.numel() for p in prior.parameters()) < 235e6
    sample = prior.sample(torch.randn(1, 384), num_codes=3, generator=torch.Generator().manual_seed(0))
    assert sample.lengths.tolist() == [3]
