"""Express4DEvaluator: the text / motion co-embedding model the benchmark measures with.

Motion side (Guo et al. 2022, as in the Express4D paper's code): a movement encoder of two
``Conv1d(k=4, stride=2)`` layers (time downsampled by 4) and a linear layer, then a
bidirectional GRU over the movement codes whose two last hidden states are projected to the
shared embedding space.  Text side: a frozen sentence encoder (default: the offline
all-MiniLM-L6-v2) followed by a trainable MLP projection into the same space.

The frozen sentence encoder is *not* saved with the evaluator: the config keeps its name
(``text_encoder_name_or_path``) and it is loaded on first use, like the pipelines do.  A
checkpoint therefore holds only the trained parts (a few MB) and the normalisation statistics.

Training losses (``config.loss_type``):

* ``"margin"`` — the paper code's contrastive loss: for each pair, ``d(t_i, m_i)^2`` (positives)
  plus ``max(0, margin - d(t_i, m_{(i+s) mod B}))^2`` for a random cyclic shift ``s`` in
  ``[1, B-1]`` (negatives), each term averaged over the batch.
* ``"infonce"`` — symmetric cross-entropy over the ``B x B`` cosine similarities / temperature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from express4d_dataset.motion import MotionStats

from .configuration_evaluator import Express4DEvaluatorConfig
from .modeling_utils import SafeTensorsOnly, register_auto_classes
from .text_encoding import TextEmbeddings, encode_text, load_cached_text_encoder, text_embedding_dim

logger = logging.getLogger(__name__)


@dataclass
class Express4DEvaluatorOutput(ModelOutput):
    """Output of :meth:`Express4DEvaluator.forward`.

    Args:
        loss: the contrastive loss (``config.loss_type``) when ``return_loss=True``.
        text_embeds: ``[B, embedding_dim]`` text embeddings.
        motion_embeds: ``[B, embedding_dim]`` motion embeddings.
    """

    loss: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    motion_embeds: torch.FloatTensor | None = None


class MovementConvEncoder(nn.Module):
    """``[B, T, C] -> [B, T // 4, latent]``: two stride-2 convolutions (k=4, pad 1) and a linear layer.

    With ``lengths``, the half-rate features past each motion's ``length // 2`` are zeroed, so a
    padded batch gives exactly what each motion alone would (the zeros its own padding gives).
    """

    def __init__(self, config: Express4DEvaluatorConfig):
        super().__init__()
        slope = config.leaky_relu_slope
        self.conv1 = nn.Sequential(
            nn.Conv1d(config.num_channels, config.movement_hidden_size, 4, 2, 1),
            nn.Dropout(config.dropout),
            nn.LeakyReLU(slope),
        )
        self.conv2 = nn.Sequential(
            nn.Conv1d(config.movement_hidden_size, config.movement_latent_size, 4, 2, 1),
            nn.Dropout(config.dropout),
            nn.LeakyReLU(slope),
        )
        self.out = nn.Linear(config.movement_latent_size, config.movement_latent_size)

    def forward(self, motion: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(motion.transpose(1, 2))
        if lengths is not None:
            keep = torch.arange(h.shape[-1], device=h.device)[None, :] < (lengths.to(h.device) // 2)[:, None]
            h = h * keep[:, None, :].to(h.dtype)
        return self.out(self.conv2(h).transpose(1, 2))


class MotionGRUEncoder(nn.Module):
    """Bidirectional GRU over movement codes; the two last hidden states -> embedding."""

    def __init__(self, config: Express4DEvaluatorConfig):
        super().__init__()
        hidden = config.motion_hidden_size
        self.input_emb = nn.Linear(config.movement_latent_size, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.hidden0 = nn.Parameter(torch.zeros(2, 1, hidden))
        self.output_net = nn.Sequential(
            nn.Linear(2 * hidden, hidden),
            nn.LayerNorm(hidden),
            nn.LeakyReLU(config.leaky_relu_slope),
            nn.Linear(hidden, config.embedding_dim),
        )

    def forward(self, codes: torch.Tensor, code_lengths: torch.Tensor) -> torch.Tensor:
        x = self.input_emb(codes)
        h0 = self.hidden0.expand(-1, x.shape[0], -1).contiguous()
        packed = nn.utils.rnn.pack_padded_sequence(x, code_lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, h0)  # [2, B, hidden], already in input order
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))


class TextProjection(nn.Module):
    """``text_conditioning="pooled"``: frozen sentence embedding ``[B, text_embed_dim]`` -> ``[B, embedding_dim]``."""

    def __init__(self, config: Express4DEvaluatorConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.text_embed_dim, config.text_hidden_size),
            nn.LayerNorm(config.text_hidden_size),
            nn.LeakyReLU(config.leaky_relu_slope),
            nn.Linear(config.text_hidden_size, config.embedding_dim),
        )

    def forward(self, text: TextEmbeddings) -> torch.Tensor:
        return self.net(text.pooled)


class TextGRUEncoder(nn.Module):
    """``text_conditioning="tokens"``: a bidirectional GRU reads the frozen encoder's token states in order
    (as Guo et al.'s text encoder read word vectors); its two last hidden states, beside a projection of the
    pooled sentence vector (what is said, whatever the order) -> ``[B, embedding_dim]``.  "X and then Y" and
    "Y and then X" therefore embed apart."""

    def __init__(self, config: Express4DEvaluatorConfig):
        super().__init__()
        hidden = config.text_hidden_size
        self.input_emb = nn.Linear(config.text_token_dim or config.text_embed_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.hidden0 = nn.Parameter(torch.zeros(2, 1, hidden))
        self.pooled_emb = nn.Linear(config.text_embed_dim, hidden)
        self.output_net = nn.Sequential(
            nn.Linear(3 * hidden, hidden),
            nn.LayerNorm(hidden),
            nn.LeakyReLU(config.leaky_relu_slope),
            nn.Linear(hidden, config.embedding_dim),
        )

    def forward(self, text: TextEmbeddings) -> torch.Tensor:
        lengths = text.mask.sum(-1)
        if int(lengths.min()) < 1:
            raise ValueError("the evaluator embeds captions, not the empty prompt: every text needs at least one token")
        x = self.input_emb(text.tokens)
        h0 = self.hidden0.expand(-1, x.shape[0], -1).contiguous()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, h0)
        return self.output_net(torch.cat([last[0], last[1], self.pooled_emb(text.pooled)], dim=-1))


class Express4DEvaluatorPreTrainedModel(SafeTensorsOnly, PreTrainedModel):
    config_class = Express4DEvaluatorConfig
    base_model_prefix = "evaluator"
    main_input_name = "motion"

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.GRU):
            for name, param in module.named_parameters():
                if "weight" in name:
                    nn.init.xavier_uniform_(param)
                else:
                    nn.init.zeros_(param)
        elif isinstance(module, (MotionGRUEncoder, TextGRUEncoder)):
            nn.init.zeros_(module.hidden0)


class Express4DEvaluator(Express4DEvaluatorPreTrainedModel):
    """Text and motion encoders into one ``embedding_dim`` space, trained contrastively.

    Example::

        evaluator = Express4DEvaluator.from_pretrained("path/to/evaluator")
        t = evaluator.embed_texts(["A person smiles", "Eyes squint"])        # np [2, 512]
        m = evaluator.embed_motions([motion_a, motion_b])                      # denormalised [T, 61] arrays
        distances = np.linalg.norm(t[:, None] - m[None], axis=-1)
    """

    def __init__(self, config: Express4DEvaluatorConfig, text_encoder=None, tokenizer=None):
        super().__init__(config)
        self.movement_encoder = MovementConvEncoder(config)
        self.motion_encoder = MotionGRUEncoder(config)
        self.text_projection = TextGRUEncoder(config) if config.text_conditioning == "tokens" else TextProjection(config)
        # kept outside the module tree on purpose: frozen, never saved in the checkpoint
        self.__dict__["_frozen_text_encoder"] = None
        if text_encoder is not None or tokenizer is not None:
            self.set_text_encoder(text_encoder, tokenizer)
        self.post_init()

    @classmethod
    def from_preset(cls, preset: str = "small", **overrides) -> "Express4DEvaluator":
        """A randomly initialised evaluator from :meth:`Express4DEvaluatorConfig.from_preset`."""
        return cls(Express4DEvaluatorConfig.from_preset(preset, **overrides))

    # ------------------------------------------------------------------ text side
    def set_text_encoder(self, text_encoder, tokenizer) -> None:
        """Use an already loaded frozen encoder (e.g. shared with a pipeline) instead of loading one."""
        if text_encoder is None or tokenizer is None:
            raise ValueError("set_text_encoder: pass both text_encoder and tokenizer")
        dim = text_embedding_dim(text_encoder)
        if dim != self.config.text_embed_dim:
            raise ValueError(
                f"set_text_encoder: the text encoder embeds to {dim} dims but this evaluator's config has "
                f"text_embed_dim={self.config.text_embed_dim}; use the encoder it was trained with "
                f"({self.config.text_encoder_name_or_path!r})"
            )
        text_encoder.requires_grad_(False)
        text_encoder.eval()
        self.__dict__["_frozen_text_encoder"] = (text_encoder, tokenizer)

    def get_text_encoder(self):
        """``(text_encoder, tokenizer)``, loading ``config.text_encoder_name_or_path`` on first use
        (once per process: shared with the pipelines and other evaluators naming the same encoder)."""
        if self.__dict__.get("_frozen_text_encoder") is None:
            encoder, tokenizer = load_cached_text_encoder(self.config.text_encoder_name_or_path)
            self.set_text_encoder(encoder, tokenizer)
        return self.__dict__["_frozen_text_encoder"]

    @torch.no_grad()
    def encode_sentences(self, texts: Sequence[str]) -> TextEmbeddings:
        """The frozen encoder's :class:`~pipelines.models.text_encoding.TextEmbeddings` of ``texts`` (precompute these
        to train faster)."""
        encoder, tokenizer = self.get_text_encoder()
        if next(encoder.parameters()).device != self.device:
            encoder.to(self.device)
        return encode_text(encoder, tokenizer, list(texts), device=self.device, dtype=torch.float32)

    def encode_text(self, texts: Sequence[str] | None = None, sentence_embeds=None) -> torch.Tensor:
        """Text embeddings ``[B, embedding_dim]`` from ``texts`` or precomputed ``sentence_embeds``
        (:class:`~pipelines.models.text_encoding.TextEmbeddings`, or ``[B, text_embed_dim]`` pooled vectors for a
        pooled text side)."""
        if sentence_embeds is None:
            if texts is None:
                raise ValueError("encode_text: pass texts (list of str) or sentence_embeds (TextEmbeddings)")
            if isinstance(texts, str):
                texts = [texts]
            sentence_embeds = self.encode_sentences(texts)
        cfg = self.config
        if isinstance(sentence_embeds, torch.Tensor):
            if cfg.text_conditioning == "tokens":
                raise ValueError("encode_text: this evaluator reads token states; pass TextEmbeddings (encode_sentences), not pooled vectors")
            if sentence_embeds.ndim != 2 or sentence_embeds.shape[-1] != cfg.text_embed_dim:
                raise ValueError(
                    f"encode_text: sentence_embeds must have shape [B, {cfg.text_embed_dim}], got {tuple(sentence_embeds.shape)}"
                )
            empty = TextEmbeddings.unconditional(len(sentence_embeds), cfg.text_embed_dim, cfg.text_embed_dim)
            sentence_embeds = TextEmbeddings(sentence_embeds, empty.tokens, empty.mask)
        if sentence_embeds.dim != cfg.text_embed_dim:
            raise ValueError(f"encode_text: sentence_embeds have {sentence_embeds.dim}-d pooled vectors, the evaluator expects {cfg.text_embed_dim}")
        out = self.text_projection(sentence_embeds.to(self.device, self.dtype))
        return F.normalize(out, dim=-1) if cfg.normalize_embeddings else out

    # ------------------------------------------------------------------ motion side
    @property
    def motion_stats(self) -> MotionStats | None:
        """The config's normalisation statistics, or None."""
        if self.config.motion_mean is None:
            return None
        return MotionStats(mean=self.config.motion_mean, std=self.config.motion_std)

    def normalize_motion(self, motion: torch.Tensor) -> torch.Tensor:
        """``(motion - mean) / std`` with the config statistics; raises when the config has none."""
        if self.config.motion_mean is None:
            raise ValueError(
                "Express4DEvaluator: the config has no normalisation statistics (motion_mean / motion_std), so raw "
                "motions cannot be embedded; set them (config.motion_mean / motion_std from the dataset's stats.json) "
                "or pass motions already normalised with normalized=True"
            )
        mean = torch.tensor(self.config.motion_mean, dtype=motion.dtype, device=motion.device)
        std = torch.tensor(self.config.motion_std, dtype=motion.dtype, device=motion.device)
        return (motion - mean) / std

    def encode_motion(
        self, motion: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None, normalized: bool = False
    ) -> torch.Tensor:
        """Motion embeddings ``[B, embedding_dim]``.

        Args:
            motion: ``[B, T, 61]`` padded batch of **denormalised** motions (raw channel values, the
                pipelines' output), normalised here with the config statistics; pass
                ``normalized=True`` if they already are (e.g. from ``MotionCollator(stats)``).
            lengths: valid frames per motion (default: all ``T``); each must be >= 4.
        """
        if motion.ndim != 3 or motion.shape[-1] != self.config.num_channels:
            raise ValueError(
                f"encode_motion: motion must have shape [B, T, {self.config.num_channels}], got {tuple(motion.shape)}"
            )
        batch, frames = motion.shape[:2]
        if lengths is None:
            lengths = torch.full((batch,), frames, dtype=torch.long)
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        if lengths.shape != (batch,):
            raise ValueError(f"encode_motion: lengths must have shape [{batch}], got {tuple(lengths.shape)}")
        unit = self.config.unit_length
        if int(lengths.min()) < unit or int(lengths.max()) > frames:
            raise ValueError(
                f"encode_motion: every length must be in [{unit}, {frames}] (the evaluator downsamples time by {unit}); "
                f"got min {int(lengths.min())}, max {int(lengths.max())}"
            )
        motion = motion.to(self.device, self.dtype)
        if not normalized:
            motion = self.normalize_motion(motion)
        # zero the padding so a batch's result does not depend on what the padding held
        valid = torch.arange(frames, device=motion.device)[None, :] < lengths.to(motion.device)[:, None]
        motion = motion * valid[..., None].to(motion.dtype)
        codes = self.movement_encoder(motion, lengths)
        out = self.motion_encoder(codes, torch.clamp(lengths // unit, min=1))
        return F.normalize(out, dim=-1) if self.config.normalize_embeddings else out

    # ------------------------------------------------------------------ batched numpy helpers
    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """``[N, embedding_dim]`` float32 text embeddings (eval mode, batched)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.config.embedding_dim), dtype=np.float32)
        was_training = self.training
        self.eval()
        try:
            chunks = [self.encode_text(texts[i : i + batch_size]).float().cpu().numpy() for i in range(0, len(texts), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(chunks).astype(np.float32)

    @torch.no_grad()
    def embed_motions(
        self, motions: Sequence, batch_size: int = 64, normalized: bool = False, progress: bool = False
    ) -> np.ndarray:
        """``[N, embedding_dim]`` float32 embeddings of ``[T_i, 61]`` motions (denormalised unless ``normalized``).

        Motions longer than ``config.max_frames`` are cropped to their first ``max_frames`` frames (the
        benchmark protocol); they are batched by similar length to save padding.
        """
        arrays = []
        for i, m in enumerate(motions):
            a = np.asarray(m, dtype=np.float32)
            if a.ndim != 2 or a.shape[1] != self.config.num_channels:
                raise ValueError(f"embed_motions: motion {i} must have shape [T, {self.config.num_channels}], got {a.shape}")
            arrays.append(a[: self.config.max_frames])
        out = np.zeros((len(arrays), self.config.embedding_dim), dtype=np.float32)
        if not arrays:
            return out
        order = np.argsort([len(a) for a in arrays], kind="stable")
        starts = range(0, len(order), batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="embed motions", unit="batch")
        was_training = self.training
        self.eval()
        try:
            for s in starts:
                idx = order[s : s + batch_size]
                lengths = torch.tensor([len(arrays[i]) for i in idx])
                batch = torch.zeros(len(idx), int(lengths.max()), self.config.num_channels)
                for j, i in enumerate(idx):
                    batch[j, : len(arrays[i])] = torch.from_numpy(arrays[i])
                out[idx] = self.encode_motion(batch, lengths, normalized=normalized).float().cpu().numpy()
        finally:
            self.train(was_training)
        return out

    # ------------------------------------------------------------------ training
    def contrastive_loss(
        self,
        text_embeds: torch.Tensor,
        motion_embeds: torch.Tensor,
        generator: torch.Generator | None = None,
        swapped_embeds: torch.Tensor | None = None,
        swapped_valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The ``config.loss_type`` loss between aligned ``[B, E]`` text and motion embeddings.

        ``swapped_embeds`` ``[V, E]``, one per row where ``swapped_valid`` ``[B]`` is True (in order): each caption
        with its steps in reverse order, a hard negative of its own motion ("X and then Y" vs "Y and then X"), weighted by
        ``config.order_swap_weight``: margin loss ``max(0, margin - d(swapped, motion))^2``; InfoNCE an extra
        negative logit per row.
        """
        batch = text_embeds.shape[0]
        use_swaps = swapped_embeds is not None and swapped_valid is not None and bool(swapped_valid.any())
        weight = self.config.order_swap_weight
        if self.config.loss_type == "infonce":
            t = F.normalize(text_embeds, dim=-1)
            m = F.normalize(motion_embeds, dim=-1)
            logits = t @ m.T / self.config.infonce_temperature
            target = torch.arange(batch, device=logits.device)
            loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
            if use_swaps:
                valid = swapped_valid.to(logits.device)
                s = F.normalize(swapped_embeds, dim=-1)
                own = (m[valid] * t[valid]).sum(-1) / self.config.infonce_temperature
                swapped = (m[valid] * s).sum(-1) / self.config.infonce_temperature
                pair = torch.stack([own, swapped], dim=-1)
                loss = loss + weight * F.cross_entropy(pair, torch.zeros(len(pair), dtype=torch.long, device=pair.device))
            return loss
        pos = F.pairwise_distance(text_embeds, motion_embeds)
        loss = (pos**2).mean()
        if batch > 1:
            shift = int(torch.randint(1, batch, (1,), generator=generator).item())
            idx = (torch.arange(batch) + shift) % batch
            neg = F.pairwise_distance(text_embeds, motion_embeds[idx.to(motion_embeds.device)])
            loss = loss + (torch.clamp(self.config.margin - neg, min=0) ** 2).mean()
        if use_swaps:
            valid = swapped_valid.to(motion_embeds.device)
            hard = F.pairwise_distance(swapped_embeds, motion_embeds[valid])
            loss = loss + weight * (torch.clamp(self.config.margin - hard, min=0) ** 2).mean()
        return loss

    def forward(
        self,
        motion: torch.Tensor,
        lengths: torch.Tensor | None = None,
        texts: Sequence[str] | None = None,
        sentence_embeds=None,
        motion_normalized: bool = False,
        return_loss: bool = True,
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
        swapped_sentence_embeds=None,
        swapped_valid: torch.Tensor | None = None,
        **kwargs,
    ):
        """Embed a batch of (motion, text) pairs and, with ``return_loss``, the contrastive loss.

        ``motion`` [B, T, 61] (denormalised unless ``motion_normalized``), ``lengths`` [B]; texts as strings or
        precomputed frozen ``sentence_embeds`` (:class:`~pipelines.models.text_encoding.TextEmbeddings`);
        ``swapped_sentence_embeds`` (one per True row of ``swapped_valid`` [B]): the step-swapped captions as hard
        negatives (see :meth:`contrastive_loss`); ``generator`` seeds the negative shift of the margin loss.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        text_embeds = self.encode_text(texts, sentence_embeds=sentence_embeds)
        motion_embeds = self.encode_motion(motion, lengths, normalized=motion_normalized)
        if text_embeds.shape[0] != motion_embeds.shape[0]:
            raise ValueError(
                f"forward: {text_embeds.shape[0]} texts for {motion_embeds.shape[0]} motions; pass one text per motion"
            )
        loss = None
        if return_loss:
            swapped = None
            if swapped_sentence_embeds is not None and swapped_valid is not None and bool(swapped_valid.any()):
                swapped = self.encode_text(sentence_embeds=swapped_sentence_embeds)
            loss = self.contrastive_loss(text_embeds, motion_embeds, generator, swapped, swapped_valid)
        if not return_dict:
            return tuple(v for v in (loss, text_embeds, motion_embeds) if v is not None)
        return Express4DEvaluatorOutput(loss=loss, text_embeds=text_embeds, motion_embeds=motion_embeds)


register_auto_classes(Express4DEvaluatorConfig, Express4DEvaluator)
