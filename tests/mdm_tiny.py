"""Tiny seeded components for the MDM / Express4DPipeline tests (not a test module itself)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from express4d_dataset.arkit import NUM_CHANNELS
from express4d_dataset.motion import MotionStats

WORDS = (
    "a person is smiling softly frowning sad happy the and raises brows opens mouth wide blinks slowly "
    "left right eye looks surprised angry neutral face"
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TINY_DENOISER = dict(latent_dim=32, num_layers=2, num_heads=2, ff_size=64, max_frames=40)


def write_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(SPECIAL + WORDS) + "\n", encoding="utf-8")
    return path


def tiny_bert(folder: Path, hidden_size: int = 16, seed: int = 0):
    """A random 1-layer BERT + a word-piece tokenizer over a tiny vocabulary."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tokenizer = BertTokenizerFast(vocab_file=str(write_vocab(folder)))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(SPECIAL) + len(WORDS), hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )
    model = BertModel(config).eval().requires_grad_(False)
    return model, tokenizer


def tiny_training_corpus(root: Path, num_sequences: int) -> Path:
    """A ``num_sequences``-take stand-in corpus exported under ``root/express4d`` (fps20) and a tiny BERT text
    encoder saved under ``root/bert``: what a training test needs; returns ``root``."""
    from express4d_dataset.hub import export_dataset
    from express4d_dataset.synthetic import write_synthetic_corpus

    write_synthetic_corpus(root / "raw", num_sequences=num_sequences, seed=0)
    export_dataset(root / "raw", root / "express4d", configs=["fps20"])
    encoder, tokenizer = tiny_bert(root / "bert")
    encoder.save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    return root


def tiny_stats(seed: int = 0) -> MotionStats:
    rng = np.random.default_rng(seed)
    return MotionStats(mean=rng.normal(size=NUM_CHANNELS), std=rng.uniform(0.5, 2.0, size=NUM_CHANNELS))


def tiny_pipeline(folder: Path, scheduler=None, seed: int = 0, **overrides):
    from pipelines.pipeline_express4d import Express4DPipeline

    text_encoder, tokenizer = tiny_bert(folder, seed=seed)
    torch.manual_seed(seed)
    kwargs = dict(TINY_DENOISER, **overrides)
    pipe = Express4DPipeline.from_denoiser_config(
        tiny_stats(seed), preset="small", text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler, **kwargs
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


class CallCounter:
    """Counts forward calls of a module and records the batch size of each."""

    def __init__(self, module: torch.nn.Module):
        self.batches: list[int] = []
        self.handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        first = args[0] if args else next(iter(kwargs.values()))
        self.batches.append(int(first.shape[0]))

    @property
    def calls(self) -> int:
        return len(self.batches)

    def remove(self):
        self.handle.remove()


def tiny_t2m_gpt(folder, seed=0):
    from pipelines import Express4DVQVAE, T2MGPTModel, T2MGPTPipeline

    text_encoder, tokenizer = tiny_bert(folder, hidden_size=16, seed=seed)
    torch.manual_seed(seed)
    vqvae = Express4DVQVAE.from_preset("small", width=16, code_dim=8, codebook_size=8, depth=1, stats=tiny_stats(seed))
    vqvae.train()
    vqvae(torch.randn(2, 16, 61, generator=torch.Generator().manual_seed(seed)), generator=torch.Generator().manual_seed(seed))
    vqvae.eval()
    prior = T2MGPTModel.from_preset(
        "small", num_codes=8, text_embed_dim=16, hidden_size=16, num_heads=2, num_layers=1, block_size=12
    ).eval()
    return T2MGPTPipeline(vqvae=vqvae, prior=prior, text_encoder=text_encoder, tokenizer=tokenizer)


def tiny_evaluator(folder: Path, seed: int = 0, **config_overrides):
    """A tiny random Express4DEvaluator whose text side is a tiny BERT saved (by name) in ``folder``."""
    from pipelines import Express4DEvaluator, Express4DEvaluatorConfig

    bert, tokenizer = tiny_bert(folder, hidden_size=16, seed=seed)
    bert.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    stats = tiny_stats(seed)
    config_overrides.setdefault("motion_mean", stats.mean.tolist())
    config_overrides.setdefault("motion_std", stats.std.tolist())
    config = Express4DEvaluatorConfig(
        movement_hidden_size=16, movement_latent_size=16, motion_hidden_size=16, text_hidden_size=16, embedding_dim=8,
        text_encoder_name_or_path=str(folder), text_embed_dim=16, **config_overrides,
    )
    return Express4DEvaluator(config).eval()


def evaluator_step(model, batch: dict, optimizer, generator=None, max_grad_norm: float = 0.5) -> float:
    """One optimisation step of an evaluator on a MotionCollator batch (normalised motions), as train.py takes it."""
    model.train()
    out = model(motion=batch["motion"], lengths=batch["lengths"], texts=batch.get("captions"),
                sentence_embeds=batch.get("sentence_embeds"), motion_normalized=True, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return float(out.loss.detach())
