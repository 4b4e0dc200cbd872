import json

import numpy as np
import pytest
import torch

from mdm_tiny import tiny_bert
from pipelines.text_encoding import (
    DEFAULT_TEXT_ENCODER,
    NORMALIZE_ATTR,
    encode_prompts,
    load_cached_text_encoder,
    load_text_encoder,
    resolve_text_encoder,
    resolve_text_encoder_path,
    text_embedding_dim,
)


@pytest.fixture
def bert(tmp_path):
    return tiny_bert(tmp_path / "tok")


def _manual_mean_pool(model, tokenizer, text):
    ids = tokenizer(text, return_tensors="pt")
    hidden = model(**ids).last_hidden_state[0].detach().numpy()  # no padding: every token counts
    return hidden.mean(0)


def test_mean_pooling_matches_manual_and_ignores_padding(bert):
    model, tokenizer = bert
    prompts = ["a person is smiling softly and raises brows", "sad"]
    emb = encode_prompts(model, tokenizer, prompts)
    assert emb.shape == (2, 16) and emb.dtype == torch.float32
    for i, text in enumerate(prompts):  # the short prompt is padded in the batch; padding must not count
        np.testing.assert_allclose(emb[i].numpy(), _manual_mean_pool(model, tokenizer, text), rtol=1e-4, atol=1e-5)
    alone = encode_prompts(model, tokenizer, ["sad"])
    np.testing.assert_allclose(alone[0].numpy(), emb[1].numpy(), atol=1e-5)


def test_empty_prompt_is_the_zero_vector(bert):
    model, tokenizer = bert
    emb = encode_prompts(model, tokenizer, ["", "happy", "   "])
    assert torch.count_nonzero(emb[0]) == 0 and torch.count_nonzero(emb[2]) == 0
    assert emb[1].abs().sum() > 0
    only_empty = encode_prompts(model, tokenizer, [""], dtype=torch.float64)
    assert only_empty.shape == (1, 16) and only_empty.dtype == torch.float64 and not only_empty.any()


def test_normalisation_flag_gives_unit_vectors(bert):
    model, tokenizer = bert
    raw = encode_prompts(model, tokenizer, ["happy face"])
    setattr(model.config, NORMALIZE_ATTR, True)
    unit = encode_prompts(model, tokenizer, ["happy face", ""])
    np.testing.assert_allclose(unit[0].numpy(), (raw[0] / raw[0].norm()).numpy(), atol=1e-6)
    assert not unit[1].any()  # the unconditional embedding stays zero, not normalised


def test_empty_list_errors(bert):
    with pytest.raises(ValueError, match="encode_prompts: prompts is empty"):
        encode_prompts(*bert, [])


def test_clip_text_model_uses_pooler_output(bert):
    from transformers import CLIPTextConfig, CLIPTextModel

    _, tokenizer = bert
    torch.manual_seed(0)
    config = CLIPTextConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=24, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=32, eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
    )
    clip = CLIPTextModel(config).eval()
    assert text_embedding_dim(clip) == 24
    emb = encode_prompts(clip, tokenizer, ["a person is smiling", "sad", ""])
    for i, text in enumerate(["a person is smiling", "sad"]):
        ids = tokenizer(text, return_tensors="pt")
        expected = clip(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).pooler_output[0]
        np.testing.assert_allclose(emb[i].numpy(), expected.detach().numpy(), atol=1e-5)
    assert not emb[2].any()


def test_load_local_folder_reads_sentence_transformers_normalize(tmp_path, bert):
    model, tokenizer = bert
    folder = tmp_path / "enc"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    loaded, tok = load_text_encoder(str(folder))
    assert getattr(loaded.config, NORMALIZE_ATTR) is False
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    loaded, tok = load_text_encoder(str(folder))
    assert getattr(loaded.config, NORMALIZE_ATTR) is True
    np.testing.assert_allclose(encode_prompts(loaded, tok, ["happy"]).norm(dim=-1).numpy(), [1.0], atol=1e-6)


def test_missing_encoder_folder_errors(tmp_path):
    with pytest.raises(OSError, match="Could not load the text encoder"):
        load_text_encoder(str(tmp_path / "nowhere"))


def test_default_encoder_is_offline_minilm():
    assert resolve_text_encoder_path(None) == resolve_text_encoder_path(DEFAULT_TEXT_ENCODER)
    model, tokenizer = load_text_encoder()
    assert text_embedding_dim(model) == 384
    assert getattr(model.config, NORMALIZE_ATTR) is True  # its modules.json lists Normalize
    emb = encode_prompts(model, tokenizer, ["A person is smiling softly", "A person is grinning", "The person frowns", ""])
    np.testing.assert_allclose(emb[:3].norm(dim=-1).numpy(), 1.0, atol=1e-5)
    assert not emb[3].any()
    # a sentence encoder: paraphrases are closer than different expressions
    assert float(emb[0] @ emb[1]) > float(emb[0] @ emb[2])


def _tiny_clip_text_config(tokenizer, **overrides):
    from transformers import CLIPTextConfig

    kwargs = dict(
        vocab_size=tokenizer.vocab_size, hidden_size=24, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=32, eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id, projection_dim=12,
    )
    kwargs.update(overrides)
    return CLIPTextConfig(**kwargs)


def test_clip_with_projection_embeds_like_encode_text(bert):
    """MDM / T2M-GPT condition on CLIP's encode_text: text_projection(pooler_output), not pooler_output."""
    from transformers import CLIPTextModelWithProjection

    _, tokenizer = bert
    torch.manual_seed(0)
    clip = CLIPTextModelWithProjection(_tiny_clip_text_config(tokenizer)).eval()
    assert text_embedding_dim(clip) == 12  # the projection size, not hidden_size=24
    emb = encode_prompts(clip, tokenizer, ["a person is smiling", "sad", ""])
    assert emb.shape == (3, 12)
    for i, text in enumerate(["a person is smiling", "sad"]):
        ids = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            pooled = clip.text_model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).pooler_output
            expected = clip.text_projection(pooled)[0]
        np.testing.assert_allclose(emb[i].numpy(), expected.numpy(), atol=1e-5)
    assert not emb[2].any()


def test_load_clip_checkpoints_with_their_projection(tmp_path, bert, caplog):
    from transformers import CLIPConfig, CLIPModel, CLIPTextModel, CLIPTextModelWithProjection

    _, tokenizer = bert
    text_config = _tiny_clip_text_config(tokenizer)
    torch.manual_seed(0)
    full = CLIPModel(CLIPConfig(
        text_config=text_config.to_dict(), projection_dim=12,
        vision_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=8, patch_size=4),
    )).eval()
    folders = {name: tmp_path / name for name in ("full", "text", "no_projection")}
    full.save_pretrained(folders["full"])
    CLIPTextModelWithProjection(text_config).save_pretrained(folders["text"])
    CLIPTextModel(text_config).save_pretrained(folders["no_projection"])
    for folder in folders.values():
        tokenizer.save_pretrained(folder)

    loaded, tok = load_text_encoder(str(folders["full"]))  # a full CLIPModel checkpoint -> its text tower + projection
    assert isinstance(loaded, CLIPTextModelWithProjection) and text_embedding_dim(loaded) == 12
    ids = tok(["a person is smiling"], return_tensors="pt")
    with torch.no_grad():
        expected = full.get_text_features(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"])
    expected = expected if torch.is_tensor(expected) else expected.pooler_output
    np.testing.assert_allclose(encode_prompts(loaded, tok, ["a person is smiling"]).numpy(), expected.numpy(), atol=1e-5)

    loaded, _ = load_text_encoder(str(folders["text"]))
    assert isinstance(loaded, CLIPTextModelWithProjection) and text_embedding_dim(loaded) == 12
    with caplog.at_level("WARNING", logger="pipelines.models.text_encoding"):
        loaded, _ = load_text_encoder(str(folders["no_projection"]))  # no projection weights: never a random one
    assert type(loaded) is CLIPTextModel and text_embedding_dim(loaded) == 24
    assert "has no text_projection weights" in caplog.text


def test_resolve_text_encoder_checks_and_caches(tmp_path, bert, monkeypatch):
    import pipelines.text_encoding as te

    model, tokenizer = bert
    with pytest.raises(ValueError, match="text_encoder and tokenizer must be given together"):
        resolve_text_encoder(model, None, "enc", 16, "denoiser")
    with pytest.raises(ValueError, match="text encoder: produces 16-d embeddings but the prior expects text_embed_dim=24; "
                                         "use the encoder the checkpoint was trained with \\('enc'\\)"):
        resolve_text_encoder(model, tokenizer, "enc", 24, "prior")
    assert resolve_text_encoder(model, tokenizer, "enc", 16, "denoiser") == (model, tokenizer)

    loads = []
    monkeypatch.setattr(te, "_LOADED_TEXT_ENCODERS", {})
    monkeypatch.setattr(te, "load_text_encoder", lambda name=None: loads.append(name) or (model, tokenizer))
    monkeypatch.setattr(te, "resolve_text_encoder_path", lambda name=None: "/default" if name in (None, DEFAULT_TEXT_ENCODER) else name)
    assert resolve_text_encoder(None, None, None, 16, "denoiser", device="cpu") == (model, tokenizer)
    assert load_cached_text_encoder(DEFAULT_TEXT_ENCODER)[0] is model  # the aliases share one entry
    assert resolve_text_encoder(None, None, DEFAULT_TEXT_ENCODER, 16, "prior")[0] is model
    assert loads == [None]  # loaded once per process
    moves = []
    monkeypatch.setattr(model, "to", lambda device: moves.append(device))  # record instead of moving
    resolve_text_encoder(model, tokenizer, None, 16, "denoiser", device="meta")
    assert moves == []  # given components stay where their owner put them
    resolve_text_encoder(None, None, None, 16, "denoiser", device="meta")
    assert moves == ["meta"]  # the cached default follows the caller's device
    with pytest.raises(ValueError, match="but the evaluator expects text_embed_dim=8"):
        resolve_text_encoder(None, None, None, 8, "evaluator")
