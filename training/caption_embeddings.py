"""Embeddings of every caption of the corpus (pooled vectors and token states), computed once with the frozen
text encoder.

The text encoder is frozen in every express4d model, so encoding each caption once up front
(instead of once per step) gives identical inputs at a fraction of the cost.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np
import torch

logger = logging.getLogger(__name__)


class CaptionEmbeddings:
    """``lookup(captions)`` -> :class:`~pipelines.text_encoding.TextEmbeddings` of precomputed captions.

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
    def build(cls, encoder_name: str, captions: Iterable[str], batch_size: int = 256) -> "CaptionEmbeddings":
        from pipelines.text_encoding import encode_text, load_text_encoder, text_embedding_dim, text_token_dim

        text_encoder, tokenizer = load_text_encoder(encoder_name)
        unique = sorted(set(str(c) for c in captions) | {""})
        pooled, tokens = {}, {}
        for start in range(0, len(unique), batch_size):
            chunk = unique[start : start + batch_size]
            emb = encode_text(text_encoder, tokenizer, chunk, device="cpu")
            for caption, p, t, m in zip(chunk, emb.pooled.numpy(), emb.tokens.numpy(), emb.mask.numpy()):
                pooled[caption] = p
                tokens[caption] = t[m]
        logger.info("Encoded %d distinct captions with %s", len(unique), encoder_name)
        return cls(pooled, tokens, text_embedding_dim(text_encoder), text_token_dim(text_encoder), encoder_name)

    def lookup(self, captions: Sequence[str], device=None):
        """The batch's :class:`~pipelines.text_encoding.TextEmbeddings` (token states padded to the longest)."""
        from pipelines.text_encoding import TextEmbeddings

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


def split_captions(split) -> list[str]:
    """Every caption of a dataset split (rows with a ``captions`` list)."""
    out = []
    for caps in split["captions"]:
        out.extend(str(c) for c in (caps if caps is not None else []))
    return out


def corpus_captions(dataset, mirrored: bool = False) -> list[str]:
    """Every distinct caption of every split of ``dataset``, sorted.

    ``mirrored`` adds each caption with left/right swapped
    (:func:`~express4d_dataset.arkit.mirror_caption`), the caption flip augmentation pairs with a
    mirrored motion, so a run with ``flip_prob > 0`` finds every caption it can draw in the table.
    """
    captions = {c for name in dataset for c in split_captions(dataset[name])}
    if mirrored:
        from express4d_dataset.arkit import mirror_caption

        captions |= {mirror_caption(c) for c in captions}
    return sorted(captions)
