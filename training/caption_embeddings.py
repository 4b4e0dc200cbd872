"""Embeddings of every caption of the corpus (pooled vectors and token states), computed once with the frozen
text encoder.

The text encoder is frozen in every express4d model, so encoding each caption once up front
(instead of once per step) gives identical inputs at a fraction of the cost.  The table is also kept on
disk (safetensors, keyed by the encoder's files and the captions), so a second launch on the same
corpus, a resumed run included, reads it instead of encoding for a minute again: ``$EXPRESS4D_CACHE``
(default ``~/.cache/express4d``) ``/caption-embeddings/``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from express4d_dataset.atomic_file import atomic_path

logger = logging.getLogger(__name__)


class CaptionEmbeddings:
    """``lookup(captions)`` -> :class:`~pipelines.models.text_encoding.TextEmbeddings` of precomputed captions.

    Each caption's pooled vector ``[D]`` and token states ``[L_i, H]`` (its own length, no padding) are
    kept once; a lookup pads the batch's token states to its longest caption.
    """

    def __init__(self, pooled: dict[str, np.ndarray], tokens: dict[str, np.ndarray], dim: int, token_dim: int,
                 encoder_name: str):
        self.pooled = pooled
        self.tokens = tokens
        self.dim = int(dim)
        self.token_dim = int(token_dim)
        self.encoder_name = encoder_name

    @classmethod
    def build(cls, encoder_name: str, captions: Iterable[str], batch_size: int = 256, cache: bool = True) -> "CaptionEmbeddings":
        """Encode every distinct caption once (or read them from the on-disk cache, when ``cache``)."""
        from pipelines.models.text_encoding import encode_text, load_text_encoder, text_embedding_dim, text_token_dim

        text_encoder, tokenizer = load_text_encoder(encoder_name)
        unique = sorted(set(str(c) for c in captions) | {""})
        path = _cache_path(text_encoder, unique) if cache else None
        if path is not None and path.is_file():
            cached = _read(path, unique, encoder_name)
            if cached is not None:
                logger.info("Read %d caption embeddings from %s", len(unique), path)
                return cached
        from tqdm.auto import tqdm

        pooled, tokens = {}, {}
        for start in tqdm(range(0, len(unique), batch_size), desc=f"encode {len(unique)} captions", unit="batch",
                          disable=len(unique) <= batch_size):
            chunk = unique[start : start + batch_size]
            emb = encode_text(text_encoder, tokenizer, chunk, device="cpu")
            for caption, p, t, m in zip(chunk, emb.pooled.numpy(), emb.tokens.numpy(), emb.mask.numpy()):
                pooled[caption] = p
                tokens[caption] = t[m]
        logger.info("Encoded %d distinct captions with %s", len(unique), encoder_name)
        table = cls(pooled, tokens, text_embedding_dim(text_encoder), text_token_dim(text_encoder), encoder_name)
        if path is not None:
            table._write(path, unique)
        return table

    def _write(self, path: Path, captions: list[str]) -> None:
        from safetensors.numpy import save_file

        lengths = np.array([len(self.tokens[c]) for c in captions], dtype=np.int64)
        tensors = {
            "pooled": np.stack([self.pooled[c] for c in captions]).astype(np.float32),
            "tokens": np.concatenate([self.tokens[c] for c in captions]).astype(np.float32).reshape(-1, self.token_dim),
            "lengths": lengths,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                save_file(tensors, str(tmp), metadata={"count": str(len(captions))})
        except OSError as e:  # a read-only cache costs a minute of encoding next time, nothing else
            logger.warning("Could not keep the caption embeddings in %s (%s)", path, e)

    def lookup(self, captions: Sequence[str], device=None):
        """The batch's :class:`~pipelines.models.text_encoding.TextEmbeddings` (token states padded to the longest)."""
        from pipelines.models.text_encoding import TextEmbeddings

        try:
            pooled = [self.pooled[str(c)] for c in captions]
        except KeyError as e:
            raise KeyError(f"caption {e.args[0]!r} was not encoded up front; CaptionEmbeddings.build must see every caption") from None
        rows = [self.tokens[str(c)] for c in captions]
        width = max(1, max(len(r) for r in rows))
        tokens = np.zeros((len(rows), width, self.token_dim), dtype=np.float32)
        mask = np.zeros((len(rows), width), dtype=bool)
        for i, r in enumerate(rows):
            tokens[i, : len(r)] = r
            mask[i, : len(r)] = True
        return TextEmbeddings(torch.from_numpy(np.stack(pooled)), torch.from_numpy(tokens), torch.from_numpy(mask)).to(device)


def cache_root() -> Path:
    """``$EXPRESS4D_CACHE``, else ``$XDG_CACHE_HOME/express4d``, else ``~/.cache/express4d``."""
    if os.environ.get("EXPRESS4D_CACHE"):
        return Path(os.environ["EXPRESS4D_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "express4d"


def _cache_path(text_encoder, captions: list[str]) -> Path:
    """The cache file of these captions under this encoder (its config, weights' identity and the captions)."""
    h = hashlib.sha256()
    config = text_encoder.config
    h.update(config.to_json_string(use_diff=False).encode() if hasattr(config, "to_json_string") else repr(config).encode())
    for name, tensor in sorted(text_encoder.state_dict().items())[:4]:  # cheap identity of the weights
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().numpy().tobytes()[:4096])
    h.update("\x1f".join(captions).encode("utf-8"))
    return cache_root() / "caption-embeddings" / f"{h.hexdigest()[:32]}.safetensors"


def _read(path: Path, captions: list[str], encoder_name: str) -> "CaptionEmbeddings | None":
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        data = load_file(str(path))
    except (OSError, SafetensorError) as e:
        logger.warning("Ignoring the unreadable caption-embedding cache %s (%s)", path, e)
        return None
    lengths = data["lengths"]
    if len(lengths) != len(captions) or data["pooled"].shape[0] != len(captions):
        logger.warning("Ignoring %s: it holds %d captions, not %d", path, len(lengths), len(captions))
        return None
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = {c: data["tokens"][offsets[i] : offsets[i + 1]] for i, c in enumerate(captions)}
    pooled = dict(zip(captions, data["pooled"]))
    return CaptionEmbeddings(pooled, tokens, data["pooled"].shape[1], data["tokens"].shape[1], encoder_name)


def split_captions(split, swapped: bool = True) -> list[str]:
    """Every caption of a dataset split, and (``swapped``) its step-swapped version where the annotations have
    one (the stand-in corpus' hard negatives for the evaluator)."""
    from express4d_dataset.motion import row_caption_pairs

    columns = getattr(split, "column_names", None) or list(split)
    captions = split["captions"]
    annotations = split["annotations"] if "annotations" in columns else [None] * len(captions)
    out = []
    for caps, annotation in zip(captions, annotations):
        for caption, reversed_ in row_caption_pairs({"captions": caps, "annotations": annotation}):
            out += [caption] if reversed_ is None or not swapped else [caption, reversed_]
    return out


def corpus_captions(dataset, mirrored: bool = False, swapped: bool = True) -> list[str]:
    """Every distinct caption of every split of ``dataset``, sorted.

    ``swapped`` adds the step-reversed captions of the stand-in corpus (only the evaluator trains on them).
    ``mirrored`` adds each caption with left/right swapped
    (:func:`~express4d_dataset.arkit.mirror_caption`), the caption flip augmentation pairs with a
    mirrored motion, so a run with ``flip_prob > 0`` finds every caption it can draw in the table.
    """
    captions = {c for name in dataset for c in split_captions(dataset[name], swapped)}
    if mirrored:
        from express4d_dataset.arkit import mirror_caption

        captions |= {mirror_caption(c) for c in captions}
    return sorted(captions)
