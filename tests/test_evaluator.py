"""Express4DEvaluator: shapes, normalisation, losses, a few training steps, save / load."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mdm_tiny import tiny_bert

from express4d_dataset.motion import MotionStats, pad_and_mask
from pipelines import Express4DEvaluator, Express4DEvaluatorConfig, Express4DEvaluatorOutput
from mdm_tiny import evaluator_step

TINY = dict(movement_hidden_size=16, movement_latent_size=16, motion_hidden_size=24, text_hidden_size=16, embedding_dim=12)
CAPTIONS = [
    "a person is smiling softly", "sad face frowning", "raises brows surprised", "opens mouth wide",
    "blinks slowly", "left eye looks right", "angry face", "neutral face",
]


@pytest.fixture(scope="module")
def text_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_text")
    bert, tokenizer = tiny_bert(folder, hidden_size=16)
    bert.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def make(text_folder, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    stats = dict(motion_mean=rng.normal(size=61).tolist(), motion_std=rng.uniform(0.5, 2, size=61).tolist())
    kwargs = dict(TINY, text_encoder_name_or_path=text_folder, text_embed_dim=16, **stats)
    kwargs.update(overrides)
    torch.manual_seed(seed)
    return Express4DEvaluator(Express4DEvaluatorConfig(**kwargs)).eval()


def motions(seed=0, lengths=(12, 30, 7, 25)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 61)).astype(np.float32) for n in lengths]


def test_config_validation():
    with pytest.raises(ValueError, match="loss_type must be one of"):
        Express4DEvaluatorConfig(loss_type="triplet")
    with pytest.raises(ValueError, match="motion_mean needs 61 values, got 3"):
        Express4DEvaluatorConfig(motion_mean=[0.0] * 3, motion_std=[1.0] * 3)
    with pytest.raises(ValueError, match="give both motion_mean and motion_std"):
        Express4DEvaluatorConfig(motion_mean=[0.0] * 61)
    with pytest.raises(ValueError, match="unit_length is fixed to 4"):
        Express4DEvaluatorConfig(unit_length=2)


def test_forward_shapes_dict_and_tuple(text_folder):
    model = make(text_folder)
    padded, _, lengths = pad_and_mask(motions())
    out = model(motion=padded, lengths=lengths, texts=CAPTIONS[:4])
    assert isinstance(out, Express4DEvaluatorOutput)
    assert out.text_embeds.shape == (4, 12) and out.motion_embeds.shape == (4, 12) and out.loss.ndim == 0
    loss, t, m = model(motion=padded, lengths=lengths, texts=CAPTIONS[:4], return_dict=False)
    torch.testing.assert_close(t, out.text_embeds)
    assert model(motion=padded, lengths=lengths, texts=CAPTIONS[:4], return_loss=False).loss is None


def test_encode_motion_is_padding_invariant_and_normalises(text_folder):
    model = make(text_folder)
    ms = motions()
    batched = model.embed_motions(ms, batch_size=64)
    single = np.stack([model.embed_motions([m])[0] for m in ms])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    stats = model.motion_stats
    assert isinstance(stats, MotionStats)
    normed = model.embed_motions([stats.normalize(m) for m in ms], normalized=True)
    np.testing.assert_allclose(normed, batched, atol=1e-5)


def test_encode_motion_errors(text_folder):
    model = make(text_folder)
    with pytest.raises(ValueError, match=r"motion must have shape \[B, T, 61\]"):
        model.encode_motion(torch.zeros(2, 10, 60))
    with pytest.raises(ValueError, match=r"every length must be in \[4, 10\]"):
        model.encode_motion(torch.zeros(2, 10, 61), lengths=[3, 10])
    with pytest.raises(ValueError, match="pass texts"):
        model.encode_text()


def test_margin_loss_matches_manual_formula(text_folder):
    model = make(text_folder, margin=3.0)
    t, m = torch.randn(5, 12), torch.randn(5, 12)
    loss = model.contrastive_loss(t, m, generator=torch.Generator().manual_seed(7))
    shift = int(torch.randint(1, 5, (1,), generator=torch.Generator().manual_seed(7)))
    pos = ((t - m) ** 2).sum(1)
    neg_d = torch.stack([torch.linalg.norm(t[i] - m[(i + shift) % 5]) for i in range(5)])
    expected = pos.mean() + (torch.clamp(3.0 - neg_d, min=0) ** 2).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)


def test_infonce_loss_matches_manual_formula(text_folder):
    model = make(text_folder, loss_type="infonce", infonce_temperature=0.5)
    t, m = torch.randn(4, 12), torch.randn(4, 12)
    sim = torch.tensor([[F.cosine_similarity(t[i], m[j], dim=0) / 0.5 for j in range(4)] for i in range(4)])
    target = torch.arange(4)
    expected = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
    torch.testing.assert_close(model.contrastive_loss(t, m), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss_type", ["margin", "infonce"])
def test_a_few_training_steps_decrease_the_loss(text_folder, loss_type):
    model = make(text_folder, loss_type=loss_type, dropout=0.0)
    ms = motions(seed=1, lengths=(16, 20, 24, 28, 16, 20, 24, 28))
    stats = model.motion_stats
    padded, _, lengths = pad_and_mask([stats.normalize(m) for m in ms])
    sentence = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))  # distinct frozen embeddings
    batch = {"motion": padded, "lengths": lengths, "captions": CAPTIONS, "sentence_embeds": sentence}
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = float(model(**{k: batch[k] for k in ("motion", "lengths")}, sentence_embeds=sentence,
                             motion_normalized=True, generator=torch.Generator().manual_seed(0)).loss)
    losses = [evaluator_step(model, batch, optimizer, generator=gen) for _ in range(15)]
    model.eval()
    with torch.no_grad():
        after = float(model(motion=padded, lengths=lengths, sentence_embeds=sentence, motion_normalized=True,
                            generator=torch.Generator().manual_seed(0)).loss)
    assert np.isfinite(losses).all()
    assert after < 0.7 * before, (before, after)


def test_save_load_round_trip_without_text_encoder_weights(text_folder, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModel

    model = make(text_folder, seed=3)
    ms = motions(seed=2)
    expected_m = model.embed_motions(ms)
    expected_t = model.embed_texts(CAPTIONS)
    model.save_pretrained(tmp_path)
    keys = load_file(str(tmp_path / "model.safetensors")).keys()
    assert keys and all(k.split(".")[0] in {"movement_encoder", "motion_encoder", "text_projection"} for k in keys)
    for loaded in (Express4DEvaluator.from_pretrained(tmp_path), AutoModel.from_pretrained(tmp_path)):
        assert isinstance(loaded, Express4DEvaluator)
        assert loaded.config.text_encoder_name_or_path == text_folder
        np.testing.assert_allclose(loaded.embed_motions(ms), expected_m, atol=1e-6)
        np.testing.assert_allclose(loaded.embed_texts(CAPTIONS), expected_t, atol=1e-6)
    assert (tmp_path / "modeling_evaluator.py").is_file()  # registered for AutoModel + trust_remote_code


def test_text_encoder_dimension_mismatch_is_reported(text_folder, tmp_path):
    model = make(text_folder, text_embed_dim=32)
    with pytest.raises(ValueError, match="embeds to 16 dims but this evaluator's config has text_embed_dim=32"):
        model.embed_texts(["a person smiles"])


def test_default_sentence_encoder_embeds_texts():
    model = Express4DEvaluator(Express4DEvaluatorConfig(**TINY)).eval()
    emb = model.embed_texts(["A person squints", "A person pouts"])
    assert emb.shape == (2, 12) and np.isfinite(emb).all() and not np.allclose(emb[0], emb[1])


def test_named_text_encoder_is_loaded_once_per_process(text_folder, tmp_path):
    """Evaluators (and pipelines) naming the same encoder share one frozen copy; it is still not saved."""
    from safetensors.torch import load_file

    from pipelines.text_encoding import load_cached_text_encoder

    first, second = make(text_folder, seed=1), make(text_folder, seed=2)
    encoder, tokenizer = first.get_text_encoder()
    assert second.get_text_encoder()[0] is encoder and load_cached_text_encoder(text_folder) == (encoder, tokenizer)
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    first.save_pretrained(tmp_path)
    keys = load_file(str(tmp_path / "model.safetensors")).keys()
    assert all(k.split(".")[0] in {"movement_encoder", "motion_encoder", "text_projection"} for k in keys)
