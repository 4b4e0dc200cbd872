"""Configuration of :class:`~pipelines.modeling_vqvae.Express4DVQVAE`, the T2M-GPT motion VQ-VAE.

This file only imports ``transformers`` (plus an optional, guarded import of the channel names),
so that a saved checkpoint can be loaded with ``trust_remote_code=True`` where the ``express4d``
package is not installed.
"""

from __future__ import annotations

from transformers import PretrainedConfig

try:  # optional: only used to fill channel_names by default
    from express4d_dataset.arkit import CHANNEL_NAMES as _LIVE_LINK_CHANNELS
except ImportError:  # remote-code use without the express4d package
    _LIVE_LINK_CHANNELS = None

VQVAE_PRESETS: dict[str, dict] = {
    # T2M-GPT's VQ-VAE: width 512, 512 codes of 512 dims, 2 x2 down stages, depth 3, dilations 9/3/1.
    "paper": dict(
        width=512, code_dim=512, codebook_size=512, down_t=2, depth=3, dilation_growth_rate=3,
    ),
    # A CPU-sized variant with the same structure.
    "small": dict(
        width=128, code_dim=64, codebook_size=256, down_t=2, depth=2, dilation_growth_rate=3,
    ),
}
"""Named hyperparameter sets for :meth:`Express4DVQVAEConfig.from_preset`."""


class Express4DVQVAEConfig(PretrainedConfig):
    r"""Hyperparameters of the Conv1d VQ-VAE that turns ``[B, T, 61]`` motions into ``T / 4`` code ids.

    Args:
        num_channels: motion features per frame (61 Live Link Face channels).
        width: channels of every hidden Conv1d (T2M-GPT: 512).
        code_dim: size of a code vector / the encoder output (T2M-GPT: 512).
        codebook_size: number of codes ``K`` (T2M-GPT: 512).
        down_t: number of stride-2 down (encoder) / nearest x2 up (decoder) stages; the time
            downsampling factor is ``2 ** down_t`` (T2M-GPT: 2, i.e. x4).
        depth: residual blocks per stage (T2M-GPT: 3).
        dilation_growth_rate: the stage's dilations are ``rate ** (depth - 1), ..., rate, 1``
            (T2M-GPT: 3, i.e. 9, 3, 1).
        activation: ``"relu"`` (T2M-GPT) or ``"gelu"`` / ``"silu"``.
        ema_decay: decay ``mu`` of the EMA codebook update (T2M-GPT: 0.99).
        reset_threshold: codes whose EMA usage count is below this are reset to random encoder
            outputs of the batch (T2M-GPT: 1.0).
        commitment_weight: weight of ``MSE(z_e, sg(z_q))`` in the loss (T2M-GPT: 0.02).
        velocity_weight: weight of the frame-velocity loss (smooth-L1 between frame differences;
            T2M-GPT: 0.5).
        fps: native frame rate of the motions (the benchmark's 20 fps).
        max_frames: longest motion the prior is trained to describe (196 at 20 fps).
        channel_names: channel order of the features (Live Link Face order by default).
        motion_mean / motion_std: per-channel normalisation statistics (the model works on
            normalised motions; the pipeline denormalises with these), or None until known.
        preset: name of the preset the config started from (informational).
    """

    model_type = "express4d_vqvae"

    def __init__(
        self,
        num_channels: int = 61,
        width: int = 512,
        code_dim: int = 512,
        codebook_size: int = 512,
        down_t: int = 2,
        depth: int = 3,
        dilation_growth_rate: int = 3,
        activation: str = "relu",
        ema_decay: float = 0.99,
        reset_threshold: float = 1.0,
        commitment_weight: float = 0.02,
        velocity_weight: float = 0.5,
        fps: float = 20.0,
        max_frames: int = 196,
        channel_names: list[str] | None = None,
        motion_mean: list[float] | None = None,
        motion_std: list[float] | None = None,
        preset: str | None = None,
        **kwargs,
    ):
        if activation not in ("relu", "gelu", "silu"):
            raise ValueError(f"Express4DVQVAEConfig.activation must be 'relu', 'gelu' or 'silu', got {activation!r}")
        if down_t < 1:
            raise ValueError(f"Express4DVQVAEConfig.down_t must be >= 1, got {down_t}")
        if not 0.0 < ema_decay < 1.0:
            raise ValueError(f"Express4DVQVAEConfig.ema_decay must be in (0, 1), got {ema_decay}")
        if channel_names is None and _LIVE_LINK_CHANNELS is not None and num_channels == len(_LIVE_LINK_CHANNELS):
            channel_names = list(_LIVE_LINK_CHANNELS)
        if channel_names is not None and len(channel_names) != num_channels:
            raise ValueError(f"Express4DVQVAEConfig.channel_names has {len(channel_names)} names for num_channels={num_channels}")
        for label, values in (("motion_mean", motion_mean), ("motion_std", motion_std)):
            if values is not None and len(values) != num_channels:
                raise ValueError(f"Express4DVQVAEConfig.{label} has {len(values)} values for num_channels={num_channels}")
        if motion_std is not None and any(float(v) <= 0 for v in motion_std):
            raise ValueError("Express4DVQVAEConfig.motion_std must be > 0 everywhere (floor it with an eps)")
        self.num_channels = int(num_channels)
        self.width = int(width)
        self.code_dim = int(code_dim)
        self.codebook_size = int(codebook_size)
        self.down_t = int(down_t)
        self.depth = int(depth)
        self.dilation_growth_rate = int(dilation_growth_rate)
        self.activation = activation
        self.ema_decay = float(ema_decay)
        self.reset_threshold = float(reset_threshold)
        self.commitment_weight = float(commitment_weight)
        self.velocity_weight = float(velocity_weight)
        self.fps = float(fps)
        self.max_frames = int(max_frames)
        self.channel_names = list(channel_names) if channel_names is not None else None
        self.motion_mean = [float(v) for v in motion_mean] if motion_mean is not None else None
        self.motion_std = [float(v) for v in motion_std] if motion_std is not None else None
        self.preset = preset
        super().__init__(**kwargs)

    @property
    def downsampling_factor(self) -> int:
        """Frames per code: ``2 ** down_t`` (4 for T2M-GPT)."""
        return 2**self.down_t

    @classmethod
    def from_preset(cls, preset: str = "small", **overrides) -> "Express4DVQVAEConfig":
        """A config from a named preset (``"paper"``, T2M-GPT's faithful sizes, or ``"small"`` for CPU) plus overrides.

        ``stats=`` accepts an object with ``mean`` / ``std`` (e.g. ``MotionStats``) and fills
        ``motion_mean`` / ``motion_std``.
        """
        if preset not in VQVAE_PRESETS:
            raise ValueError(f"Unknown VQ-VAE preset {preset!r}; choose one of {', '.join(VQVAE_PRESETS)}")
        kwargs = dict(VQVAE_PRESETS[preset])
        stats = overrides.pop("stats", None)
        if stats is not None:
            overrides.update(motion_mean=[float(v) for v in stats.mean], motion_std=[float(v) for v in stats.std])
        kwargs.update(overrides)
        kwargs.setdefault("preset", preset)
        return cls(**kwargs)


__all__ = ["Express4DVQVAEConfig", "VQVAE_PRESETS"]
