"""The MDM denoiser's network without diffusers: its layers and its forward pass, as a mixin.

:class:`~pipelines.models.modeling_mdm.MDMDenoiser` (a diffusers ``ModelMixin``) is this network plus config
registration and Hub loading; :class:`~pipelines.mdm.light_sampler.LightMDMSampler` runs the same code on the
bundled MDM without importing diffusers (``express4d generate``'s cold start).  The class using the mixin is an
``nn.Module`` with a ``config`` holding the denoiser's config values.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from .text_encoding import TextEmbeddings

TEXT_CONDITIONING = ("pooled", "tokens")
TEXT_ATTENTION = ("prefix", "cross")


def sinusoidal_embedding(positions: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """MDM/Transformer sinusoids: ``[..., dim]`` with ``sin`` on even and ``cos`` on odd features.

    Feature pair ``k`` uses frequency ``max_period ** (-2k / dim)``; ``positions`` may be fractional.
    """
    if dim % 2:
        raise ValueError(f"sinusoidal_embedding: dim must be even, got {dim}")
    freqs = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) * (-math.log(max_period) / dim))
    angles = positions.float().unsqueeze(-1) * freqs
    emb = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-1)  # [..., dim/2, 2] -> interleaved
    return emb.flatten(-2)


class MDMNetwork:
    """Layers (:meth:`_build_layers`) and forward pass (:meth:`predict_x0`) of the MDM denoiser; see
    :class:`~pipelines.models.modeling_mdm.MDMDenoiser` for the arguments."""

    def _build_layers(
        self, num_channels: int, latent_dim: int, num_layers: int, num_heads: int, ff_size: int, dropout: float,
        activation: str, norm_first: bool, text_embed_dim: int, text_conditioning: str, text_attention: str,
        text_token_dim: int | None, max_frames: int,
    ) -> None:
        """Create the layers (the names of the saved weights) from the config's values."""
        self.input_proj = nn.Linear(num_channels, latent_dim)
        self.time_mlp = nn.Sequential(nn.Linear(latent_dim, latent_dim), nn.SiLU(), nn.Linear(latent_dim, latent_dim))
        self.text_proj = nn.Linear(text_embed_dim, latent_dim)
        self.pos_dropout = nn.Dropout(dropout)
        layer_kwargs = dict(
            d_model=latent_dim, nhead=num_heads, dim_feedforward=ff_size, dropout=dropout, activation=activation,
            batch_first=True, norm_first=norm_first,
        )
        cross = text_conditioning == "tokens" and text_attention == "cross"
        if cross:
            self.encoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer_kwargs), num_layers=num_layers)
        else:
            # enable_nested_tensor=True lets the fused inference path skip padded frames entirely.
            self.encoder = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(**layer_kwargs), num_layers=num_layers, enable_nested_tensor=not norm_first
            )
        self.output_proj = nn.Linear(latent_dim, num_channels)
        # Positions 0..max_frames (condition token + frames), cached; recomputed for longer inputs.
        self.register_buffer("pos_table", sinusoidal_embedding(torch.arange(max_frames + 1), latent_dim), persistent=False)
        if text_conditioning == "tokens":  # created last: the pooled model's initialisation is untouched
            self.text_token_proj = nn.Linear(text_token_dim or text_embed_dim, latent_dim)
            # marks text tokens apart from frames (prefix), or is the always-valid "no text" key (cross)
            self.text_type_embedding = nn.Parameter(torch.zeros(latent_dim))

    def _positions(self, length: int, device, dtype) -> torch.Tensor:
        table = self.pos_table
        if length > table.shape[0]:
            table = sinusoidal_embedding(torch.arange(length, device=device), self.config.latent_dim)
        return table[:length].to(device=device, dtype=dtype)

    def _text_inputs(self, encoder_hidden_states, batch: int) -> TextEmbeddings:
        """The text as :class:`TextEmbeddings`, checked against the config (a ``[B, D]`` tensor is pooled-only)."""
        cfg = self.config
        text = encoder_hidden_states
        if isinstance(text, torch.Tensor):
            if cfg.text_conditioning == "tokens":
                raise ValueError(
                    "encoder_hidden_states: this denoiser reads the prompt's token states (text_conditioning='tokens'); "
                    "pass the TextEmbeddings of pipe.encode_prompt / pipelines.models.text_encoding.encode_text, not pooled vectors"
                )
            if text.ndim != 2:
                raise ValueError(f"encoder_hidden_states: expected pooled embeddings [{batch}, {cfg.text_embed_dim}], got {tuple(text.shape)}")
            empty = TextEmbeddings.unconditional(text.shape[0], text.shape[1], text.shape[1], text.device, text.dtype)
            text = TextEmbeddings(text, empty.tokens, empty.mask)
        elif not isinstance(text, TextEmbeddings):
            raise TypeError(f"encoder_hidden_states: expected TextEmbeddings or a [B, D] tensor, got {type(text).__name__}")
        if len(text) != batch or text.dim != cfg.text_embed_dim:
            raise ValueError(
                f"encoder_hidden_states: expected pooled embeddings [{batch}, {cfg.text_embed_dim}], got {tuple(text.pooled.shape)}"
            )
        token_dim = cfg.text_token_dim or cfg.text_embed_dim
        if cfg.text_conditioning == "tokens" and text.token_dim != token_dim:
            raise ValueError(f"encoder_hidden_states: token states of size {text.token_dim}, the denoiser expects {token_dim}")
        return text

    def _keep_text(self, force_drop_condition, batch: int, device) -> torch.Tensor | None:
        """``[B]`` bool: whose text is kept (None = everyone's).  Classifier-free guidance drops the whole text."""
        if isinstance(force_drop_condition, torch.Tensor):
            return ~force_drop_condition.to(device=device, dtype=torch.bool).reshape(batch)
        if force_drop_condition:
            return torch.zeros(batch, dtype=torch.bool, device=device)
        if self.training and self.config.cond_drop_prob > 0:
            return torch.rand(batch, device=device) >= self.config.cond_drop_prob
        return None

    def embed_condition(
        self,
        timestep: torch.Tensor,
        encoder_hidden_states,
        force_drop_condition: bool | torch.Tensor = False,
    ) -> torch.Tensor:
        """The condition token ``[B, d]``: ``MLP(sinusoid(t)) + Linear(pooled text)``, the text dropped as configured."""
        batch = timestep.shape[0] if timestep.ndim else 1
        text = self._text_inputs(encoder_hidden_states, batch)
        keep = self._keep_text(force_drop_condition, batch, text.device)
        return self._condition(timestep, text.pooled, keep)

    def _condition(self, timestep: torch.Tensor, pooled: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        pooled = pooled.to(self.text_proj.weight.dtype)
        if keep is not None:
            pooled = pooled * keep.reshape(-1, 1).to(pooled.dtype)
        t_emb = self.time_mlp(sinusoidal_embedding(timestep, self.config.latent_dim).to(pooled.dtype))
        return t_emb + self.text_proj(pooled)

    def predict_x0(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states,
        attention_mask: torch.Tensor | None = None,
        force_drop_condition: bool | torch.Tensor = False,
    ) -> torch.Tensor:
        """The predicted clean motion ``x0`` ``[B, T, num_channels]``: ``MDMDenoiser.forward``'s ``sample``."""
        cfg = self.config
        if sample.ndim != 3 or sample.shape[-1] != cfg.num_channels:
            raise ValueError(f"sample: expected [B, T, {cfg.num_channels}], got {tuple(sample.shape)}")
        batch, length, _ = sample.shape
        text = self._text_inputs(encoder_hidden_states, batch)
        timestep = torch.as_tensor(timestep, device=sample.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(batch)
        elif timestep.shape != (batch,):
            raise ValueError(f"timestep: expected a scalar or [{batch}] values, got shape {tuple(timestep.shape)}")
        dtype = self.input_proj.weight.dtype
        keep = self._keep_text(force_drop_condition, batch, sample.device)
        cond = self._condition(timestep, text.pooled.to(sample.device), keep)  # [B, d]
        tokens = torch.cat([cond.unsqueeze(1).to(dtype), self.input_proj(sample.to(dtype))], dim=1)  # [B, 1+T, d]
        tokens = self.pos_dropout(tokens + self._positions(length + 1, tokens.device, dtype))
        valid = torch.ones(batch, length, dtype=torch.bool, device=tokens.device)
        if attention_mask is not None:
            if attention_mask.shape != (batch, length):
                raise ValueError(f"attention_mask: expected [{batch}, {length}], got {tuple(attention_mask.shape)}")
            valid = attention_mask.to(device=tokens.device, dtype=torch.bool)
        motion_valid = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=tokens.device), valid], dim=1)
        if cfg.text_conditioning == "pooled":
            hidden = self._encode(tokens, None if bool(valid.all()) else ~motion_valid)
        else:
            words, words_valid = self._text_tokens(text, keep, tokens.device, dtype)
            if cfg.text_attention == "prefix":
                sequence = torch.cat([tokens, words], dim=1)
                hidden = self._encode(sequence, ~torch.cat([motion_valid, words_valid], dim=1))[:, : length + 1]
            else:
                null = self.text_type_embedding.to(dtype).expand(batch, 1, -1)  # the always-valid "no text" key
                memory = torch.cat([null, words], dim=1)
                memory_valid = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=tokens.device), words_valid], dim=1)
                hidden = self.encoder(tokens, memory, tgt_key_padding_mask=~motion_valid, memory_key_padding_mask=~memory_valid)
        return self.output_proj(hidden[:, 1:])

    def _text_tokens(self, text: TextEmbeddings, keep, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected token states ``[B, L, d]`` and their validity ``[B, L]`` (all False for a dropped text)."""
        words = self.text_token_proj(text.tokens.to(device=device, dtype=dtype))
        # the token's place in the prompt, explicitly (the encoder's states carry it too): order is the point
        words = words + sinusoidal_embedding(torch.arange(words.shape[1], device=device), self.config.latent_dim).to(dtype)
        if self.config.text_attention == "prefix":
            words = words + self.text_type_embedding.to(dtype)
        words_valid = text.mask.to(device)
        if keep is not None:
            words_valid = words_valid & keep.reshape(-1, 1)
        return words, words_valid

    def _encode(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """The self-attention encoder over ``tokens`` with a key padding mask (True = ignore)."""
        with warnings.catch_warnings():
            # The fused inference path packs padded batches into (prototype) nested tensors; the result is exact.
            warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors is in prototype stage")
            if not self.training and torch.is_autocast_enabled(tokens.device.type):
                # the fused inference path ignores autocast and fails on mixed dtypes: run it in the weights' dtype
                with torch.autocast(tokens.device.type, enabled=False):
                    return self.encoder(tokens.to(self.input_proj.weight.dtype), src_key_padding_mask=padding_mask)
            return self.encoder(tokens, src_key_padding_mask=padding_mask)


__all__ = ["MDMNetwork", "TEXT_ATTENTION", "TEXT_CONDITIONING", "sinusoidal_embedding"]
