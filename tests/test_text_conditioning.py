"""Word-level text conditioning: token states reach the MDM denoiser, the T2M-GPT prior and the evaluator."""

import hashlib

import numpy as np
import pytest
import torch

from pipelines.denoiser_mdm import MDMDenoiser
from pipelines.text_encoding import TextEmbeddings

TINY = dict(latent_dim=32, num_layers=2, num_heads=2, ff_size=64, max_frames=40, text_embed_dim=16)


def text(batch=3, length=5, dim=16, seed=0, valid=(5, 3, 4)):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(length)[None, :] < torch.tensor(valid[:batch])[:, None]
    tokens = torch.randn(batch, length, dim, generator=g) * mask[..., None]
    return TextEmbeddings(torch.randn(batch, dim, generator=g), tokens, mask)


def denoiser(conditioning="tokens", attention="prefix", seed=0):
    torch.manual_seed(seed)
    return MDMDenoiser.from_preset("small", text_conditioning=conditioning, text_attention=attention, **TINY).eval()


def inputs(batch=3, frames=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, frames, dtype=torch.bool)
    mask[1, 8:] = False
    return torch.randn(batch, frames, 61, generator=g), torch.tensor([5, 500, 999][:batch]), mask


def test_pooled_denoiser_is_unchanged_bit_for_bit():
    """The faithful pooled path: the same initialisation, bit for bit, and the same outputs as before token
    conditioning existed (both recorded from the code before the change, commit be566bc's parent, which gives
    bitwise the same outputs as this code on one host).  The weights are compared by hash; the outputs against
    recorded values to float32 rounding, because matrix products sum in a CPU-dependent order (a hash of the
    outputs differs between an Intel and an AMD host with the same code)."""
    d = denoiser("pooled")
    weights = hashlib.sha256()
    for name, tensor in d.state_dict().items():
        weights.update(name.encode())
        weights.update(tensor.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    assert weights.hexdigest() == "d7e04355c979685fbe1edb53c6cec362051d9d5e8a24c29b7c6379e937a4995e"
    _, t, mask = inputs()
    g = torch.Generator().manual_seed(1)
    x, pooled = torch.randn(3, 12, 61, generator=g), torch.randn(3, 16, generator=g)
    with torch.no_grad():
        out = d(x, t, pooled, attention_mask=mask).sample
    recorded = {
        (0, 0): [0.561982274055481, -0.5257735848426819, 0.3822101354598999, 0.5957479476928711],  # out[0, 0, :4]
        (2, 11): [0.4557875692844391, 0.14426681399345398, -0.8716855049133301, -0.3860144019126892],  # out[2, 11, -4:]
    }
    np.testing.assert_allclose(out[0, 0, :4].numpy(), recorded[0, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[2, 11, -4:].numpy(), recorded[2, 11], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.double().sum().item(), 46.656793577596545, rtol=1e-5)
    np.testing.assert_allclose(out.double().abs().sum().item(), 896.4965069107711, rtol=1e-5)
    assert not any("text_token" in name for name, _ in d.named_parameters())
    with torch.no_grad():  # a TextEmbeddings with the same pooled vectors gives the same result
        again = d(x, t, TextEmbeddings(pooled, torch.zeros(3, 1, 16), torch.zeros(3, 1, dtype=torch.bool)), attention_mask=mask)
    torch.testing.assert_close(again.sample, out, rtol=0, atol=0)


@pytest.mark.parametrize("attention", ["prefix", "cross"])
def test_token_path_shapes_masks_and_word_order(attention):
    d = denoiser("tokens", attention)
    x, t, mask = inputs()
    emb = text()
    with torch.no_grad():
        out = d(x, t, emb, attention_mask=mask).sample
        assert out.shape == (3, 12, 61)
        # what sits under the token mask never matters
        noisy = TextEmbeddings(emb.pooled, emb.tokens + 5.0 * (~emb.mask)[..., None], emb.mask)
        torch.testing.assert_close(d(x, t, noisy, attention_mask=mask).sample, out, rtol=1e-5, atol=1e-5)
        # the order of the tokens does: the same states reversed (same pooled vector) give another prediction
        rev = emb.tokens.clone()
        rev[0, :5] = emb.tokens[0, :5].flip(0)
        swapped = d(x, t, TextEmbeddings(emb.pooled, rev, emb.mask), attention_mask=mask).sample
    assert not torch.allclose(swapped[0], out[0], atol=1e-4)
    torch.testing.assert_close(swapped[1:], out[1:], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="reads the prompt's token states"):
        d(x, t, emb.pooled, attention_mask=mask)


@pytest.mark.parametrize("attention", ["prefix", "cross"])
def test_classifier_free_guidance_drops_every_token(attention):
    d = denoiser("tokens", attention)
    x, t, mask = inputs()
    emb = text()
    with torch.no_grad():
        dropped = d(x, t, emb, attention_mask=mask, force_drop_condition=True).sample
        empty = d(x, t, emb.unconditional_like(), attention_mask=mask).sample  # the empty prompt: no token at all
        per_row = d(x, t, emb, attention_mask=mask, force_drop_condition=torch.tensor([True, False, False])).sample
        kept = d(x, t, emb, attention_mask=mask).sample
    torch.testing.assert_close(dropped, empty, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(per_row[0], empty[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(per_row[1:], kept[1:], rtol=1e-5, atol=1e-5)
    d.train()
    d.register_to_config(cond_drop_prob=0.5)
    torch.manual_seed(0)
    drops = [bool(d._keep_text(False, 1, "cpu")[0]) for _ in range(200)]
    assert 60 < sum(drops) < 140  # about half the texts kept


@pytest.mark.parametrize("attention", ["prefix", "cross"])
def test_token_denoiser_save_load_round_trip(tmp_path, attention):
    d = denoiser("tokens", attention)
    d.save_pretrained(tmp_path)
    loaded = MDMDenoiser.from_pretrained(tmp_path).eval()
    assert loaded.config.text_conditioning == "tokens" and loaded.config.text_attention == attention
    x, t, mask = inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t, text(), attention_mask=mask).sample, d(x, t, text(), attention_mask=mask).sample)


def test_prior_reads_tokens_with_cache_and_order(tmp_path):
    from pipelines import T2MGPTModel

    torch.manual_seed(0)
    prior = T2MGPTModel.from_preset("small", num_codes=8, text_embed_dim=16, hidden_size=16, num_heads=2, num_layers=2,
                                    block_size=12, text_conditioning="tokens",
                                    initializer_range=0.3).eval()  # weights large enough to see what the text does
    emb = text()
    ids = torch.randint(0, 8, (3, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = prior(emb, input_ids=ids).logits
        step = prior(emb, use_cache=True)
        cached = [step.logits]
        for i in range(6):
            step = prior(emb, input_ids=ids[:, i : i + 1], kv_cache=step.kv_cache, use_cache=True)
            cached.append(step.logits)
        torch.testing.assert_close(torch.cat(cached, dim=1), full, rtol=1e-5, atol=1e-5)
        rev = emb.tokens.clone()
        rev[0, :5] = emb.tokens[0, :5].flip(0)
        swapped = prior(TextEmbeddings(emb.pooled, rev, emb.mask), input_ids=ids).logits
    assert not torch.allclose(swapped[0], full[0], atol=1e-3)
    torch.testing.assert_close(swapped[1:], full[1:], rtol=1e-5, atol=1e-5)
    sample = prior.sample(emb, num_codes=[3, 4, 5], generator=torch.Generator().manual_seed(0))
    assert sample.lengths.tolist() == [3, 4, 5]
    with pytest.raises(ValueError, match="reads the prompt's token states"):
        prior(emb.pooled, input_ids=ids)
    prior.save_pretrained(tmp_path)
    loaded = T2MGPTModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(emb, input_ids=ids).logits, full)


def test_evaluator_text_side_is_order_aware_and_learns_from_swapped_captions(tmp_path):
    from mdm_tiny import tiny_evaluator

    model = tiny_evaluator(tmp_path / "enc", text_conditioning="tokens", dropout=0.0)
    emb = model.encode_sentences(["smiling sad", "happy face", "sad"])
    rev = emb.tokens.clone()
    n = int(emb.mask[0].sum())
    rev[0, :n] = emb.tokens[0, :n].flip(0)
    with torch.no_grad():
        ordered = model.encode_text(sentence_embeds=emb)
        reversed_ = model.encode_text(sentence_embeds=TextEmbeddings(emb.pooled, rev, emb.mask))
    assert not torch.allclose(ordered[0], reversed_[0], atol=1e-5)  # the GRU reads the states in order
    torch.testing.assert_close(ordered[1:], reversed_[1:])
    swapped = model.encode_sentences(["sad smiling", "face happy"])
    motion = torch.randn(3, 16, 61)
    lengths = torch.tensor([16, 12, 8])
    valid = torch.tensor([True, True, False])
    base = model(motion=motion, lengths=lengths, sentence_embeds=emb, motion_normalized=True,
                 generator=torch.Generator().manual_seed(0)).loss
    with_swaps = model(motion=motion, lengths=lengths, sentence_embeds=emb, motion_normalized=True,
                       generator=torch.Generator().manual_seed(0), swapped_sentence_embeds=swapped, swapped_valid=valid)
    m = model.encode_motion(motion, lengths, normalized=True)
    hard = torch.nn.functional.pairwise_distance(model.encode_text(sentence_embeds=swapped), m[:2])
    expected = base + model.config.order_swap_weight * (torch.clamp(model.config.margin - hard, min=0) ** 2).mean()
    torch.testing.assert_close(with_swaps.loss, expected)
