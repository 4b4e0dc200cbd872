"""``T2MGPTModel``: T2M-GPT's causal transformer prior over VQ-VAE code ids, conditioned on text.

Sequence layout: position 0 is ``Linear(text_embedding)``, positions 1.. are embedded tokens
(codes, End, Pad) plus fixed sinusoidal positions; pre-LN causal blocks; the head predicts the
next code or End (``num_codes + 1`` logits).  Training corrupts input codes (each replaced by a
random code with probability ``tau``) and uses cross-entropy over codes and End, averaged per
sequence then over the batch (as T2M-GPT does).

Sampling is a custom :meth:`T2MGPTModel.sample` with a key/value cache rather than
``GenerationMixin.generate``: the first position is a continuous text embedding rather than a
token, rows of one batch may ask for different exact lengths (End forbidden before, forced at),
and the draws must come from a caller's ``torch.Generator`` so that pipelines are reproducible
(``generate`` draws from the global RNG).

Imports only torch, transformers and its own configuration, for ``trust_remote_code`` loading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_t2m_gpt import T2MGPTConfig
from .modeling_utils import SafeTensorsOnly, register_auto_classes
from .text_encoding import TextEmbeddings

try:  # transformers >= 5: init functions that respect already-loaded weights
    from transformers import initialization as init
except ImportError:  # older transformers
    from torch.nn import init

IGNORE_INDEX = -100

KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]


def sinusoidal_positions(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Fixed sinusoidal table ``[len(positions), dim]`` (sin on even, cos on odd features)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * freqs[None, :]
    table = torch.zeros(len(positions), dim, device=positions.device)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table


class CausalSelfAttention(nn.Module):
    def __init__(self, config: T2MGPTConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.head_dim = config.hidden_size // config.num_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.attn_dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None):
        batch, length, width = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        past_len = 0
        if past is not None:
            past_len = past[0].shape[2]
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        dropout = self.attn_dropout if self.training else 0.0
        if past_len == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=length > 1)
        elif length == 1:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        else:
            mask = torch.ones(length, past_len + length, dtype=torch.bool, device=x.device).tril(diagonal=past_len)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(batch, length, width)
        return self.resid_dropout(self.proj(y)), (k, v)


class TextCrossAttention(nn.Module):
    """Attention from code positions to the prompt's token states (keys with a padding mask)."""

    def __init__(self, config: T2MGPTConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.head_dim = config.hidden_size // config.num_heads
        self.q = nn.Linear(config.hidden_size, config.hidden_size)
        self.kv = nn.Linear(config.hidden_size, 2 * config.hidden_size)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.attn_dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_valid: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q = self.q(x).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(memory).view(batch, memory.shape[1], 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        mask = memory_valid[:, None, None, :]  # [B, 1, 1, M], True = attend
        dropout = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(batch, length, width)))


class T2MGPTBlock(nn.Module):
    """Pre-LN block: ``x + attn(ln1(x))``, with token conditioning ``x + cross(ln_cross(x), text)``, then
    ``x + mlp(ln2(x))``."""

    def __init__(self, config: T2MGPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.hidden_size)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.hidden_size)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_size, config.ff_mult * config.hidden_size),
            nn.GELU(),
            nn.Linear(config.ff_mult * config.hidden_size, config.hidden_size),
            nn.Dropout(config.dropout),
        )
        if config.text_conditioning == "tokens":  # created last: the pooled prior's initialisation is untouched
            self.ln_cross = nn.LayerNorm(config.hidden_size)
            self.cross_attn = TextCrossAttention(config)

    def forward(self, x: torch.Tensor, past=None, memory=None, memory_valid=None):
        h, present = self.attn(self.ln1(x), past)
        x = x + h
        if memory is not None:
            x = x + self.cross_attn(self.ln_cross(x), memory, memory_valid)
        x = x + self.mlp(self.ln2(x))
        return x, present


@dataclass
class T2MGPTOutput(ModelOutput):
    """Output of :meth:`T2MGPTModel.forward`.

    Args:
        loss: cross-entropy over codes and End (labels != -100), mean per sequence then over the batch.
        logits: ``[B, S, num_codes + 1]``; position ``i`` predicts token ``i`` of the code sequence.
        kv_cache: per-layer ``(key, value)`` ``[B, heads, S, head_dim]`` when ``use_cache``.  Named
            ``kv_cache`` (not ``past_key_values``): transformers 5 renames that field of every
            ``ModelOutput`` to ``cache``, so this name keeps one meaning on every transformers release.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    kv_cache: KVCache | None = None


@dataclass
class T2MGPTSampleOutput(ModelOutput):
    """Output of :meth:`T2MGPTModel.sample`.

    Args:
        codes: ``[B, max(lengths)]`` long code ids, ``-1`` after each row's length.
        lengths: ``[B]`` number of codes per row (End excluded).
    """

    codes: torch.Tensor | None = None
    lengths: torch.Tensor | None = None


class T2MGPTPreTrainedModel(SafeTensorsOnly, PreTrainedModel):
    config_class = T2MGPTConfig
    base_model_prefix = "t2m_gpt"
    main_input_name = "text_embeds"
    _no_split_modules = ["T2MGPTBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            init.normal_(module.weight, mean=0.0, std=std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class T2MGPTModel(T2MGPTPreTrainedModel):
    """Causal transformer prior: text -> code ids (T2M-GPT).

    The pooled text vector is position 0 of the sequence; with ``text_conditioning="tokens"`` every block
    also cross-attends to the prompt's projected token states, so word order reaches the prior.

    Example::

        prior = T2MGPTModel(T2MGPTConfig.from_preset("small", num_codes=256, text_embed_dim=384))
        batch = prior.build_training_batch(codes, lengths)     # input_ids, labels
        loss = prior(text_embeds, **batch).loss
        out = prior.sample(text_embeds, num_codes=49, generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, config: T2MGPTConfig):
        super().__init__(config)
        self.text_proj = nn.Linear(config.text_embed_dim, config.hidden_size)
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([T2MGPTBlock(config) for _ in range(config.num_layers)])
        self.ln_f = nn.LayerNorm(config.hidden_size)
        self.head = nn.Linear(config.hidden_size, config.num_codes + 1, bias=False)
        if config.text_conditioning == "tokens":
            self.text_token_proj = nn.Linear(config.text_token_dim or config.text_embed_dim, config.hidden_size)
            self.text_null = nn.Parameter(torch.zeros(config.hidden_size))  # the always-valid "no text" key
        self.post_init()

    @classmethod
    def from_preset(cls, preset: str = "small", **overrides) -> "T2MGPTModel":
        """A randomly initialised prior from :meth:`T2MGPTConfig.from_preset`."""
        return cls(T2MGPTConfig.from_preset(preset, **overrides))

    # ------------------------------------------------------------------ training inputs
    def build_training_batch(self, codes: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None) -> dict:
        """``input_ids`` [B, L] and ``labels`` [B, L + 1] for code ids ``codes`` [B, L] with ``lengths`` [B].

        ``labels`` holds the codes, End at each row's length and -100 after; ``input_ids`` holds the
        codes and Pad after each length (position 0 of the sequence is the text, so the inputs are
        the labels shifted right by one).  With ``lengths=None`` a row's length is its number of
        ids >= 0 (the VQ-VAE's ``encode`` marks padding with -1).
        """
        cfg = self.config
        if not torch.is_tensor(codes) or codes.ndim != 2:
            raise ValueError(f"codes: expected a [B, L] tensor of code ids, got {getattr(codes, 'shape', type(codes).__name__)}")
        codes = codes.long()
        if lengths is None:
            lengths = (codes >= 0).sum(-1)
        lengths = torch.as_tensor(lengths, dtype=torch.long, device=codes.device).view(-1)
        if lengths.shape[0] != codes.shape[0]:
            raise ValueError(f"lengths: got {lengths.shape[0]} lengths for {codes.shape[0]} code sequences")
        if int(lengths.min()) < 1 or int(lengths.max()) > min(codes.shape[1], cfg.max_codes):
            raise ValueError(
                f"lengths: each must lie in [1, {min(codes.shape[1], cfg.max_codes)}] (the codes' width and the "
                f"prior's max_codes={cfg.max_codes}), got {lengths.tolist()}"
            )
        width = int(lengths.max())
        codes = codes[:, :width]
        valid = torch.arange(width, device=codes.device)[None, :] < lengths[:, None]
        used = codes[valid]
        if used.numel() and (int(used.min()) < 0 or int(used.max()) >= cfg.num_codes):
            raise ValueError(
                f"codes: ids within each length must lie in [0, {cfg.num_codes}), got values in [{int(used.min())}, {int(used.max())}]"
            )
        input_ids = torch.where(valid, codes, torch.full_like(codes, cfg.pad_token_id))
        labels = torch.full((codes.shape[0], width + 1), IGNORE_INDEX, dtype=torch.long, device=codes.device)
        labels[:, :width] = torch.where(valid, codes, torch.full_like(codes, IGNORE_INDEX))
        labels[torch.arange(codes.shape[0], device=codes.device), lengths] = cfg.end_token_id
        return {"input_ids": input_ids, "labels": labels}

    def _corrupt(self, input_ids: torch.Tensor, tau: float | None, generator: torch.Generator | None) -> torch.Tensor:
        cfg = self.config
        gen_device = generator.device if generator is not None else input_ids.device
        if tau is None:
            if cfg.corruption_schedule == "uniform":
                tau = float(torch.rand((), generator=generator, device=gen_device))
            else:
                tau = cfg.corruption_prob
        if tau <= 0:
            return input_ids
        replace = torch.rand(input_ids.shape, generator=generator, device=gen_device).to(input_ids.device) < tau
        random_codes = torch.randint(0, cfg.num_codes, input_ids.shape, generator=generator, device=gen_device)
        is_code = input_ids < cfg.num_codes
        return torch.where(replace & is_code, random_codes.to(input_ids.device), input_ids)

    # ------------------------------------------------------------------ forward
    def _text_inputs(self, text_embeds, name: str = "text_embeds") -> TextEmbeddings:
        cfg = self.config
        if isinstance(text_embeds, torch.Tensor):
            if cfg.text_conditioning == "tokens":
                raise ValueError(
                    f"{name}: this prior reads the prompt's token states (text_conditioning='tokens'); pass the "
                    "TextEmbeddings of pipe.encode_prompt / pipelines.models.text_encoding.encode_text, not pooled vectors"
                )
            if text_embeds.ndim != 2:
                raise ValueError(f"{name}: expected shape [B, {cfg.text_embed_dim}], got {tuple(text_embeds.shape)}")
            empty = TextEmbeddings.unconditional(text_embeds.shape[0], text_embeds.shape[1], text_embeds.shape[1],
                                                 text_embeds.device, text_embeds.dtype)
            text_embeds = TextEmbeddings(text_embeds, empty.tokens, empty.mask)
        elif not isinstance(text_embeds, TextEmbeddings):
            raise TypeError(f"{name}: expected TextEmbeddings or a [B, D] tensor, got {type(text_embeds).__name__}")
        if text_embeds.dim != cfg.text_embed_dim:
            raise ValueError(
                f"{name}: expected shape [B, {cfg.text_embed_dim}], got {tuple(text_embeds.pooled.shape)}; "
                "use the text encoder the prior was trained with"
            )
        token_dim = cfg.text_token_dim or cfg.text_embed_dim
        if cfg.text_conditioning == "tokens" and text_embeds.token_dim != token_dim:
            raise ValueError(f"{name}: token states of size {text_embeds.token_dim}, the prior expects {token_dim}")
        return text_embeds

    def text_memory(self, text_embeds) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The cross-attention keys for token conditioning: ``([B, 1 + L, hidden], valid [B, 1 + L])`` (None when pooled)."""
        if self.config.text_conditioning != "tokens":
            return None
        text = self._text_inputs(text_embeds)
        dtype, device = self.text_proj.weight.dtype, self.text_proj.weight.device
        words = self.text_token_proj(text.tokens.to(device=device, dtype=dtype))
        # the token's place in the prompt, explicitly (the encoder's states carry it too): order is the point
        words = words + sinusoidal_positions(torch.arange(words.shape[1], device=device), self.config.hidden_size).to(dtype)
        batch = len(text)
        null = self.text_null.to(dtype).expand(batch, 1, -1)
        valid = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=device), text.mask.to(device)], dim=1)
        return torch.cat([null, words], dim=1), valid

    def forward(
        self,
        text_embeds=None,
        input_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        use_cache: bool = False,
        corruption_prob: float | None = None,
        generator: torch.Generator | None = None,
        return_dict: bool = True,
        text_memory: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """Logits for the sequence ``[text, input_ids...]`` (or only ``input_ids`` after ``kv_cache``).

        Args:
            text_embeds: the prompt as :class:`~pipelines.models.text_encoding.TextEmbeddings` (pooled vector and token
                states), or ``[B, text_embed_dim]`` pooled vectors for ``text_conditioning="pooled"``.  Required
                without a cache; with a cache, token conditioning still needs it (or ``text_memory``).
            input_ids: ``[B, L]`` token ids (codes, End, Pad), or None for the text position alone.
            labels: ``[B, L + 1]`` targets (-100 ignored), e.g. from :meth:`build_training_batch`.
            kv_cache / use_cache: the ``kv_cache`` of an earlier call (incremental decoding) / return this call's.
            corruption_prob: ``tau`` override for training-mode input corruption (0 disables it);
                None uses the config (fixed ``corruption_prob`` or ``U[0, 1]`` per batch).
            generator: source of the corruption draws.
            text_memory: precomputed :meth:`text_memory` (sampling computes it once per call).

        Returns:
            :class:`T2MGPTOutput` (``loss`` with ``labels``, ``logits`` ``[B, S, num_codes + 1]``, ``kv_cache``).
        """
        cfg = self.config
        pieces = []
        past_len = 0 if kv_cache is None else kv_cache[0][0].shape[2]
        text = None
        if kv_cache is None:
            if text_embeds is None:
                raise ValueError("text_embeds: required unless kv_cache is given")
            text = self._text_inputs(text_embeds)
            pieces.append(self.text_proj(text.pooled.to(self.text_proj.weight.device, self.text_proj.weight.dtype))[:, None])
        if text_memory is None and cfg.text_conditioning == "tokens":
            if text_embeds is None:
                raise ValueError("text_embeds: token conditioning needs the prompt at every call (or text_memory=)")
            text_memory = self.text_memory(text if text is not None else text_embeds)
        memory, memory_valid = text_memory if text_memory is not None else (None, None)
        if input_ids is not None and input_ids.shape[1] > 0:
            if int(input_ids.min()) < 0 or int(input_ids.max()) >= cfg.vocab_size:
                raise ValueError(f"input_ids: token ids must lie in [0, {cfg.vocab_size}), got [{int(input_ids.min())}, {int(input_ids.max())}]")
            if self.training:
                input_ids = self._corrupt(input_ids, corruption_prob, generator)
            pieces.append(self.token_embedding(input_ids))
        if not pieces:
            raise ValueError("input_ids: nothing to process (no text position and no tokens)")
        x = torch.cat(pieces, dim=1)
        length = x.shape[1]
        if past_len + length > cfg.block_size:
            raise ValueError(f"sequence of {past_len + length} positions exceeds block_size={cfg.block_size}")
        positions = torch.arange(past_len, past_len + length, device=x.device)
        x = self.dropout(x + sinusoidal_positions(positions, cfg.hidden_size).to(x.dtype))
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, None if kv_cache is None else kv_cache[i], memory, memory_valid)
            if use_cache:
                presents.append(present)
        logits = self.head(self.ln_f(x))

        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:2]:
                raise ValueError(f"labels: expected shape {tuple(logits.shape[:2])} (one target per position), got {tuple(labels.shape)}")
            per_token = F.cross_entropy(
                logits.float().transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
            )
            counts = (labels != IGNORE_INDEX).sum(-1)
            per_seq = per_token.sum(-1) / counts.clamp(min=1)
            has_target = counts > 0
            loss = per_seq[has_target].mean() if bool(has_target.any()) else per_seq.sum() * 0.0
        output = T2MGPTOutput(loss=loss, logits=logits, kv_cache=tuple(presents) if use_cache else None)
        return output if return_dict else output.to_tuple()

    # ------------------------------------------------------------------ sampling
    def _resolve_lengths(self, num_codes, batch: int, device) -> torch.Tensor | None:
        if num_codes is None:
            return None
        max_codes = self.config.max_codes
        values = torch.as_tensor(num_codes, dtype=torch.float64).view(-1)
        if values.numel() == 1:
            values = values.expand(batch)
        if values.numel() != batch:
            raise ValueError(f"num_codes: got {values.numel()} lengths for a batch of {batch}; pass one or one per row")
        if not bool(torch.all(values == values.round())):
            raise ValueError(f"num_codes: expected whole numbers of codes, got {values.tolist()}")
        if int(values.min()) < 1 or int(values.max()) > max_codes:
            raise ValueError(
                f"num_codes: each length must lie in [1, {max_codes}] codes (1 to {max_codes * self.config.frames_per_code} "
                f"frames), got {[int(v) for v in values.tolist()]}"
            )
        return values.long().to(device)

    @staticmethod
    def _draw(probs: torch.Tensor, generator) -> torch.Tensor:
        """One multinomial draw per row of ``probs`` [B, V] from a generator or a list of per-row generators."""
        if isinstance(generator, (list, tuple)):
            return torch.cat([T2MGPTModel._draw(probs[i : i + 1], g) for i, g in enumerate(generator)])
        gen_device = generator.device if generator is not None else probs.device
        return torch.multinomial(probs.to(gen_device), 1, generator=generator).view(-1)

    @torch.no_grad()
    def sample(
        self,
        text_embeds,
        num_codes: int | Sequence[int] | torch.Tensor | None = None,
        min_codes: int = 1,
        max_codes: int | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        do_sample: bool = True,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        use_cache: bool = True,
        step_callback=None,
    ) -> T2MGPTSampleOutput:
        """Write code ids for each text embedding.

        Args:
            text_embeds: :class:`~pipelines.models.text_encoding.TextEmbeddings` (or ``[B, text_embed_dim]`` pooled vectors
                for a pooled prior).
            num_codes: exact length(s) in codes (int or one per row): End is forbidden before and
                forced at that length.  None lets the model end on its own, between ``min_codes``
                and ``max_codes`` (default ``config.max_codes``; End is forced there).
            temperature: logits are divided by it (> 0); 1.0 samples the model's distribution.
            top_k: keep only the ``top_k`` most likely tokens (None = full softmax, as T2M-GPT).
            do_sample: False takes the arg-max (better FID, no diversity).
            generator: source of the multinomial draws (reproducible sampling), or one generator per row.
            use_cache: reuse keys/values of earlier positions (same result, much faster).
            step_callback: ``fn(step, codes)`` after every step (``codes`` ``[B, step + 1]``, -1 once a row ended);
                the pipelines use it for their progress bar and ``callback_on_step_end``.
        """
        cfg = self.config
        text_embeds = self._text_inputs(text_embeds)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature: must be a positive number, got {temperature!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= cfg.num_codes + 1):
            raise ValueError(f"top_k: must be None or an integer in [1, {cfg.num_codes + 1}], got {top_k!r}")
        max_codes = cfg.max_codes if max_codes is None else int(max_codes)
        if not 1 <= max_codes <= cfg.max_codes:
            raise ValueError(f"max_codes: must lie in [1, {cfg.max_codes}], got {max_codes}")
        if not 1 <= int(min_codes) <= max_codes:
            raise ValueError(f"min_codes: must lie in [1, max_codes={max_codes}], got {min_codes}")
        device = self.text_proj.weight.device
        text_embeds = text_embeds.to(device=device, dtype=self.text_proj.weight.dtype)
        batch = len(text_embeds)
        memory = self.text_memory(text_embeds)
        if isinstance(generator, (list, tuple)) and len(generator) != batch:
            raise ValueError(f"generator: got a list of {len(generator)} generators for {batch} rows; pass one or one per row")
        exact = self._resolve_lengths(num_codes, batch, device)
        if exact is not None:
            lo, hi = exact, exact
        else:
            lo = torch.full((batch,), int(min_codes), dtype=torch.long, device=device)
            hi = torch.full((batch,), max_codes, dtype=torch.long, device=device)
        steps = int(hi.max())
        end_id = cfg.end_token_id

        codes = torch.full((batch, steps), -1, dtype=torch.long, device=device)
        lengths = hi.clone()
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        past = None
        tokens = None  # tokens fed so far (no-cache path)
        for k in range(steps + 1):
            if use_cache:
                out = self(text_embeds if past is None else None, input_ids=None if past is None else last,
                           kv_cache=past, use_cache=True, text_memory=memory)
                past = out.kv_cache
            else:
                out = self(text_embeds, input_ids=tokens, text_memory=memory)
            logits = out.logits[:, -1].float()
            end_forbidden = lo > k
            end_forced = hi <= k
            logits[:, end_id] = logits[:, end_id].masked_fill(end_forbidden, float("-inf"))
            logits = logits / temperature
            if top_k is not None:
                kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            if do_sample:
                nxt = self._draw(torch.softmax(logits, dim=-1), generator).to(device)
            else:
                nxt = logits.argmax(-1)
            nxt = torch.where(end_forced, torch.full_like(nxt, end_id), nxt)
            ended_now = (nxt == end_id) & ~finished
            lengths = torch.where(ended_now, torch.full_like(lengths, k), lengths)
            finished = finished | ended_now
            if k < steps:
                codes[:, k] = torch.where(finished, torch.full_like(nxt, -1), nxt)
            if step_callback is not None:
                step_callback(k, codes[:, : k + 1])
            if bool(finished.all()):
                break
            last = torch.where(finished, torch.full_like(nxt, cfg.pad_token_id), nxt)[:, None]
            tokens = last if tokens is None else torch.cat([tokens, last], dim=1)
        width = int(lengths.max())
        return T2MGPTSampleOutput(codes=codes[:, :width], lengths=lengths)


register_auto_classes(T2MGPTConfig, T2MGPTModel)

__all__ = ["T2MGPTModel", "T2MGPTOutput", "T2MGPTSampleOutput", "T2MGPTPreTrainedModel", "sinusoidal_positions"]
