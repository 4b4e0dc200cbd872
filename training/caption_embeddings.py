"""Pooled embeddings of every caption of the corpus, computed once with the frozen text encoder.

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
    """``lookup(captions)`` -> ``[B, D]`` float32 tensor of precomputed pooled embeddings."""

    def __init__(self, table: dict[str, np.ndarray], dim: int, encoder_name: str):
        self.table = table
        self.dim = int(dim)
        self.encoder_name = encoder_name

    @classmethod
    def build(cls, encoder_name: str, captions: Iterable[str], batch_size: int = 256) -> "CaptionEmbeddings":
        from pipelines.text_encoding import encode_prompts, load_text_encoder, text_embedding_dim

        text_encoder, tokenizer = load_text_encoder(encoder_name)
        unique = sorted(set(str(c) for c in captions) | {""})
        table = {}
        for start in range(0, len(unique), batch_size):
            chunk = unique[start : start + batch_size]
            emb = encode_prompts(text_encoder, tokenizer, chunk, device="cpu").numpy()
            table.update(zip(chunk, emb))
        logger.info("Encoded %d distinct captions with %s", len(unique), encoder_name)
        return cls(table, text_embedding_dim(text_encoder), encoder_name)

    def lookup(self, captions: Sequence[str], device=None) -> torch.Tensor:
        try:
            rows = [self.table[str(c)] for c in captions]
        except KeyError as e:
            raise KeyError(f"caption {e.args[0]!r} was not encoded up front; CaptionEmbeddings.build must see every caption") from None
        return torch.from_numpy(np.stack(rows)).to(device=device)


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
