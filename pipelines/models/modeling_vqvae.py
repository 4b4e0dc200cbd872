"""``Express4DVQVAE``: T2M-GPT's Conv1d motion VQ-VAE with an EMA codebook and dead-code reset.

Encoder: Conv1d(61 -> w, k3) + act, then ``down_t`` stages of [Conv1d(k4, stride 2, pad 1) +
residual dilated stack], then Conv1d(w -> code_dim, k3).  Decoder mirrors it with nearest x2
upsampling.  A residual block is ``act -> Conv1d(k3, dilation d) -> act -> Conv1d(k1)`` plus the
skip; a stack uses dilations ``rate ** (depth-1), ..., 1`` (9, 3, 1 by default).

The quantiser keeps an exponential moving average of the code sums and counts (decay 0.99);
codes whose EMA count drops below ``reset_threshold`` are replaced by random encoder outputs of
the current batch; the codebook is initialised from the first training batch.  Under
``torch.distributed`` (DDP) these updates are synchronised across ranks (see ``EMACodebook``).  Padded frames
(``attention_mask`` False) take part in neither the EMA statistics nor the losses.

The model works on *normalised* motions ``[B, T, 61]``; ``motion_mean`` / ``motion_std`` in the
config let callers (the pipeline) map to and from Live Link Face values.

This file imports only torch, transformers and its own configuration (relative import) so the
checkpoint folder works with ``trust_remote_code=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_vqvae import Express4DVQVAEConfig
from .modeling_utils import SafeTensorsOnly, register_auto_classes

try:  # transformers >= 5: init functions that respect already-loaded weights
    from transformers import initialization as init
except ImportError:  # older transformers
    from torch.nn import init


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}[name]()


class ResidualConvBlock(nn.Module):
    """``x + Conv1d_k1(act(Conv1d_k3_dilated(act(x))))``."""

    def __init__(self, width: int, dilation: int, activation: str):
        super().__init__()
        self.act1 = _activation(activation)
        self.conv1 = nn.Conv1d(width, width, kernel_size=3, padding=dilation, dilation=dilation)
        self.act2 = _activation(activation)
        self.conv2 = nn.Conv1d(width, width, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act2(self.conv1(self.act1(x))))


class ResidualStack(nn.Sequential):
    """``depth`` residual blocks with dilations ``rate ** (depth - 1), ..., rate, 1``."""

    def __init__(self, width: int, depth: int, growth_rate: int, activation: str):
        dilations = [growth_rate**i for i in range(depth)][::-1]
        super().__init__(*[ResidualConvBlock(width, d, activation) for d in dilations])


class MotionEncoder(nn.Sequential):
    def __init__(self, config: Express4DVQVAEConfig):
        w = config.width
        layers: list[nn.Module] = [nn.Conv1d(config.num_channels, w, 3, padding=1), _activation(config.activation)]
        for _ in range(config.down_t):
            layers += [
                nn.Conv1d(w, w, kernel_size=4, stride=2, padding=1),
                ResidualStack(w, config.depth, config.dilation_growth_rate, config.activation),
            ]
        layers.append(nn.Conv1d(w, config.code_dim, 3, padding=1))
        super().__init__(*layers)


class MotionDecoder(nn.Sequential):
    def __init__(self, config: Express4DVQVAEConfig):
        w = config.width
        layers: list[nn.Module] = [nn.Conv1d(config.code_dim, w, 3, padding=1), _activation(config.activation)]
        for _ in range(config.down_t):
            layers += [
                ResidualStack(w, config.depth, config.dilation_growth_rate, config.activation),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv1d(w, w, 3, padding=1),
            ]
        layers += [nn.Conv1d(w, w, 3, padding=1), _activation(config.activation), nn.Conv1d(w, config.num_channels, 3, padding=1)]
        super().__init__(*layers)


def _distributed_world_size() -> int:
    """``torch.distributed`` world size, 1 when it is unavailable or not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class EMACodebook(nn.Module):
    """Codebook ``[K, D]`` updated by EMA of assigned encoder outputs, with dead-code reset.

    Buffers (all saved in the state dict): ``codebook`` [K, D], ``code_sum`` [K, D],
    ``code_count`` [K], ``initialized`` (0/1 flag).

    Under ``torch.distributed`` (initialised, world size > 1; e.g. DDP training) the training-time
    updates are collective, so every rank keeps the same codebook: the per-batch code sums and
    counts are all-reduced before the EMA update, and the rows used to initialise the codebook or
    reset dead codes are drawn from the candidates of all ranks (each rank offers ``K`` random rows
    of its batch; rank 0 picks ``K`` of them and broadcasts them).  Every rank must therefore run the
    training forward together.  Set ``sync_distributed = False`` to opt out (rank-local updates).
    A single process behaves exactly as without ``torch.distributed``.
    """

    sync_distributed: bool = True

    def __init__(self, codebook_size: int, code_dim: int, decay: float, reset_threshold: float):
        super().__init__()
        self.codebook_size = codebook_size
        self.code_dim = code_dim
        self.decay = decay
        self.reset_threshold = reset_threshold
        self.register_buffer("codebook", torch.zeros(codebook_size, code_dim))
        self.register_buffer("code_sum", torch.zeros(codebook_size, code_dim))
        self.register_buffer("code_count", torch.zeros(codebook_size))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.long))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code (Euclidean) for each row of ``x`` [N, D]."""
        codebook = self.codebook.to(x.dtype)
        dist = x.pow(2).sum(-1, keepdim=True) - 2 * x @ codebook.t() + codebook.pow(2).sum(-1)[None, :]
        return dist.argmin(dim=-1)

    def _random_rows(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``K`` random rows of ``x`` [N, D]; tiled (plus tiny noise) when N < K, as in T2M-GPT."""
        n = x.shape[0]
        draw_device = x.device if generator is None else generator.device
        if n < self.codebook_size:
            repeats = math.ceil(self.codebook_size / n)
            x = x.repeat(repeats, 1)
            noise = torch.randn(x.shape, generator=generator, device=draw_device)
            x = x + noise.to(device=x.device, dtype=x.dtype) * (0.01 / math.sqrt(self.code_dim))
        perm = torch.randperm(x.shape[0], generator=generator, device=draw_device)
        return x[perm.to(x.device)[: self.codebook_size]]

    def _world_size(self) -> int:
        return _distributed_world_size() if self.sync_distributed else 1

    def _shared_random_rows(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``K`` random rows of the (global) batch, identical on every rank when distributed."""
        rows = self._random_rows(x, generator)
        world = self._world_size()
        if world == 1:
            return rows
        rows = rows.contiguous()
        candidates = [torch.empty_like(rows) for _ in range(world)]
        dist.all_gather(candidates, rows)
        if dist.get_rank() == 0:
            pool = torch.cat(candidates)
            draw_device = pool.device if generator is None else generator.device
            pick = torch.randperm(pool.shape[0], generator=generator, device=draw_device)[: self.codebook_size]
            rows = pool[pick.to(pool.device)].contiguous()
        dist.broadcast(rows, src=0)
        return rows

    @torch.no_grad()
    def initialize(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        rows = self._shared_random_rows(x.float(), generator)
        self.codebook.copy_(rows)
        self.code_sum.copy_(rows)
        self.code_count.fill_(1.0)
        self.initialized.fill_(1)

    @torch.no_grad()
    def ema_update(self, x: torch.Tensor, codes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """EMA update from valid encoder outputs ``x`` [N, D] and their codes [N]; returns the reset mask [K].

        Distributed (see the class docstring): the batch sums and counts are summed over ranks first.
        """
        x = x.float()
        onehot = torch.zeros(self.codebook_size, x.shape[0], device=x.device)
        onehot.scatter_(0, codes.view(1, -1), 1.0)
        batch_sum = onehot @ x
        batch_count = onehot.sum(-1)
        distributed = self._world_size() > 1
        if distributed:
            dist.all_reduce(batch_sum)
            dist.all_reduce(batch_count)
        mu = self.decay
        self.code_sum.mul_(mu).add_(batch_sum, alpha=1 - mu)
        self.code_count.mul_(mu).add_(batch_count, alpha=1 - mu)
        alive = self.code_count >= self.reset_threshold
        updated = self.code_sum / self.code_count.clamp(min=1e-6)[:, None]
        if distributed and bool(alive.all()):  # same answer on every rank: skip the row exchange
            self.codebook.copy_(updated)
            return ~alive
        random_rows = self._shared_random_rows(x, generator)
        self.codebook.copy_(torch.where(alive[:, None], updated, random_rows))
        return ~alive


@dataclass
class Express4DVQVAEOutput(ModelOutput):
    """Output of :meth:`Express4DVQVAE.forward`.

    Args:
        loss: ``reconstruction_loss + velocity_weight * velocity_loss + commitment_weight * commitment_loss``.
        reconstruction: decoded motion ``[B, T, C]`` (normalised units, same ``T`` as the input).
        codes: code ids ``[B, ceil(T / 4)]``; -1 where the whole 4-frame window is padding.
        commitment_loss: masked ``MSE(z_e, sg(z_q))``.
        perplexity: ``exp(entropy)`` of the code usage over the valid positions of the batch.
        reconstruction_loss: masked smooth-L1 between reconstruction and input.
        velocity_loss: masked smooth-L1 between their frame differences.
        num_reset_codes: number of dead codes reset by this (training) step (a long tensor; 0 in eval mode).
    """

    loss: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    codes: torch.Tensor | None = None
    commitment_loss: torch.Tensor | None = None
    perplexity: torch.Tensor | None = None
    reconstruction_loss: torch.Tensor | None = None
    velocity_loss: torch.Tensor | None = None
    num_reset_codes: torch.Tensor | None = None


class Express4DVQVAEPreTrainedModel(SafeTensorsOnly, PreTrainedModel):
    config_class = Express4DVQVAEConfig
    base_model_prefix = "vqvae"
    main_input_name = "motion"

    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's default Conv1d init, as the original T2M-GPT uses.
        if isinstance(module, nn.Conv1d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight.shape[1] * module.weight.shape[2]
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, EMACodebook):
            init.zeros_(module.codebook)
            init.zeros_(module.code_sum)
            init.zeros_(module.code_count)
            init.zeros_(module.initialized)


class Express4DVQVAE(Express4DVQVAEPreTrainedModel):
    """T2M-GPT's motion VQ-VAE for ``[B, T, 61]`` normalised facial motion (time downsampling ``2 ** down_t``).

    Example::

        config = Express4DVQVAEConfig.from_preset("small")
        vqvae = Express4DVQVAE(config)
        codes = vqvae.encode(motion)          # [B, T // 4]
        recon = vqvae.decode(codes)           # [B, T, 61]
        out = vqvae(motion, attention_mask=mask)   # out.loss, out.perplexity, ...
    """

    def __init__(self, config: Express4DVQVAEConfig):
        super().__init__(config)
        self.encoder = MotionEncoder(config)
        self.quantizer = EMACodebook(config.codebook_size, config.code_dim, config.ema_decay, config.reset_threshold)
        self.decoder = MotionDecoder(config)
        self.post_init()

    @classmethod
    def from_preset(cls, preset: str = "small", **overrides) -> "Express4DVQVAE":
        """A randomly initialised model from :meth:`Express4DVQVAEConfig.from_preset`."""
        return cls(Express4DVQVAEConfig.from_preset(preset, **overrides))

    # ------------------------------------------------------------------ normalisation
    @property
    def downsampling_factor(self) -> int:
        return self.config.downsampling_factor

    @property
    def has_motion_stats(self) -> bool:
        return self.config.motion_mean is not None and self.config.motion_std is not None

    def set_motion_stats(self, stats) -> None:
        """Store ``stats`` (anything with ``mean`` / ``std``, e.g. ``MotionStats``) in the config."""
        mean = [float(v) for v in stats.mean]
        std = [float(v) for v in stats.std]
        if len(mean) != self.config.num_channels or len(std) != self.config.num_channels:
            raise ValueError(
                f"set_motion_stats: the VQ-VAE has {self.config.num_channels} channels, the stats have {len(mean)} means / {len(std)} stds"
            )
        if any(v <= 0 for v in std):
            raise ValueError("set_motion_stats: std must be > 0 everywhere (floor it with an eps)")
        self.config.motion_mean, self.config.motion_std = mean, std

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.has_motion_stats:
            raise ValueError(
                "Express4DVQVAE config has no normalisation statistics (motion_mean / motion_std); "
                "set them with vqvae.set_motion_stats(MotionStats.load(...))"
            )
        mean = torch.tensor(self.config.motion_mean, dtype=x.dtype, device=x.device)
        std = torch.tensor(self.config.motion_std, dtype=x.dtype, device=x.device)
        return mean, std

    def normalize_motion(self, motion: torch.Tensor) -> torch.Tensor:
        """``(motion - mean) / std`` with the config's statistics."""
        mean, std = self._stats(motion)
        return (motion - mean) / std

    def denormalize_motion(self, motion: torch.Tensor) -> torch.Tensor:
        """``motion * std + mean`` with the config's statistics."""
        mean, std = self._stats(motion)
        return motion * std + mean

    # ------------------------------------------------------------------ helpers
    def _check_motion(self, motion: torch.Tensor, name: str = "motion") -> None:
        if not torch.is_tensor(motion) or motion.ndim != 3 or motion.shape[-1] != self.config.num_channels:
            shape = tuple(motion.shape) if torch.is_tensor(motion) else type(motion).__name__
            raise ValueError(f"{name}: expected a tensor of shape [B, T, {self.config.num_channels}], got {shape}")
        if motion.shape[1] < 1:
            raise ValueError(f"{name}: has no frames")

    def _pad_time(self, motion: torch.Tensor, mask: torch.Tensor | None):
        """Pad ``T`` up to a multiple of the downsampling factor (zeros, masked out)."""
        batch, frames, _ = motion.shape
        if mask is None:
            mask = torch.ones(batch, frames, dtype=torch.bool, device=motion.device)
        else:
            if mask.shape != (batch, frames):
                raise ValueError(f"attention_mask: expected shape {(batch, frames)}, got {tuple(mask.shape)}")
            mask = mask.to(device=motion.device, dtype=torch.bool)
        f = self.downsampling_factor
        extra = (-frames) % f
        if extra:
            motion = F.pad(motion, (0, 0, 0, extra))
            mask = F.pad(mask, (0, extra), value=False)
        return motion, mask

    def _latent_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """A latent step is valid when any frame of its window is valid."""
        f = self.downsampling_factor
        return mask.view(mask.shape[0], -1, f).any(-1)

    def code_lengths(self, num_frames: torch.Tensor | int):
        """Number of codes describing ``num_frames`` frames: ``ceil(num_frames / factor)``."""
        f = self.downsampling_factor
        if torch.is_tensor(num_frames):
            return torch.div(num_frames + f - 1, f, rounding_mode="floor")
        return -(-int(num_frames) // f)

    # ------------------------------------------------------------------ public API
    def encode_latents(self, motion: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Continuous encoder outputs ``z_e`` [B, code_dim, T'] and the latent mask [B, T']."""
        self._check_motion(motion)
        motion, mask = self._pad_time(motion, attention_mask)
        z = self.encoder(motion.transpose(1, 2))
        return z, self._latent_mask(mask)

    @torch.no_grad()
    def encode(self, motion: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Code ids ``[B, ceil(T / 4)]`` (long) for normalised motion ``[B, T, C]``.

        ``attention_mask`` [B, T] (True on valid frames) marks padding; code positions whose whole window is
        padding are set to -1.  ``T`` need not be a multiple of 4 (zero padded internally).
        """
        if not bool(self.quantizer.initialized):
            raise ValueError("Express4DVQVAE.encode: the codebook is not initialised; train the model or load a checkpoint")
        z, latent_mask = self.encode_latents(motion, attention_mask)
        flat = z.transpose(1, 2).reshape(-1, z.shape[1])
        codes = self.quantizer.nearest(flat).view(z.shape[0], z.shape[2])
        return codes.masked_fill(~latent_mask, -1)

    def codes_to_latents(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors ``[B, code_dim, T']`` for ids ``[B, T']`` (raises on ids outside ``[0, K)``)."""
        if not torch.is_tensor(codes) or codes.ndim != 2:
            shape = tuple(codes.shape) if torch.is_tensor(codes) else type(codes).__name__
            raise ValueError(f"codes: expected a [B, T'] tensor of code ids, got {shape}")
        if codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise ValueError(f"codes: expected integer code ids, got dtype {codes.dtype}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.config.codebook_size):
            raise ValueError(
                f"codes: ids must lie in [0, {self.config.codebook_size}) for this codebook, got values in "
                f"[{int(codes.min())}, {int(codes.max())}]; trim End/Pad tokens and padding (-1) before decoding"
            )
        return self.quantizer.codebook[codes.long()].transpose(1, 2)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Normalised motion ``[B, T' * 4, C]`` for code ids ``[B, T']``."""
        z_q = self.codes_to_latents(codes).to(self.quantizer.codebook.dtype)
        return self.decoder(z_q).transpose(1, 2)

    def forward(
        self,
        motion: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        return_dict: bool = True,
        generator: torch.Generator | None = None,
    ):
        """Encode, quantise (straight-through), decode and compute the masked VQ-VAE loss.

        In training mode the codebook is initialised from the first batch and EMA-updated with
        dead-code reset (random draws from ``generator``).  ``return_dict=False`` returns the
        :class:`Express4DVQVAEOutput` fields as a tuple.
        """
        self._check_motion(motion)
        frames = motion.shape[1]
        z_e, latent_mask = self.encode_latents(motion, attention_mask)
        _, frame_mask = self._pad_time(motion, attention_mask)
        frame_mask = frame_mask[:, :frames]
        batch, dim, steps = z_e.shape
        flat = z_e.transpose(1, 2).reshape(-1, dim)
        valid = latent_mask.reshape(-1)
        if not bool(valid.any()):
            raise ValueError("attention_mask: every frame of the batch is padding; nothing to encode")
        num_reset = 0
        if self.training:
            if not bool(self.quantizer.initialized):
                self.quantizer.initialize(flat[valid].detach(), generator)
        elif not bool(self.quantizer.initialized):
            raise ValueError("Express4DVQVAE.forward: the codebook is not initialised; run a training step or load a checkpoint")
        codes = self.quantizer.nearest(flat.detach())
        # dequantise with the codebook the codes were chosen from, before the EMA update / dead-code
        # reset changes it (as T2M-GPT does): decoder input and commitment target match ``codes``
        z_q = self.quantizer.codebook[codes].to(flat.dtype)  # advanced indexing: a copy, not a view
        if self.training:
            num_reset = int(self.quantizer.ema_update(flat[valid].detach(), codes[valid], generator).sum())

        # masked commitment loss MSE(z_e, sg(z_q)) over valid latent steps
        vm = valid.to(flat.dtype)[:, None]
        commitment = ((flat - z_q.detach()).pow(2) * vm).sum() / (vm.sum() * dim)
        z_st = flat + (z_q - flat).detach()
        recon = self.decoder(z_st.view(batch, steps, dim).transpose(1, 2)).transpose(1, 2)[:, :frames]

        # perplexity of the code usage
        counts = torch.bincount(codes[valid], minlength=self.config.codebook_size).float()
        probs = counts / counts.sum()
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())

        fm = frame_mask.to(motion.dtype)[..., None]
        channels = motion.shape[-1]
        rec_loss = (F.smooth_l1_loss(recon, motion, reduction="none") * fm).sum() / (fm.sum() * channels)
        if frames > 1:
            vel_mask = fm[:, 1:] * fm[:, :-1]
            vel = F.smooth_l1_loss(recon[:, 1:] - recon[:, :-1], motion[:, 1:] - motion[:, :-1], reduction="none")
            vel_loss = (vel * vel_mask).sum() / (vel_mask.sum() * channels).clamp(min=1.0)
        else:
            vel_loss = recon.new_zeros(())
        loss = rec_loss + self.config.velocity_weight * vel_loss + self.config.commitment_weight * commitment

        out_codes = codes.view(batch, steps).masked_fill(~latent_mask, -1)
        output = Express4DVQVAEOutput(
            loss=loss, reconstruction=recon, codes=out_codes, commitment_loss=commitment, perplexity=perplexity,
            reconstruction_loss=rec_loss, velocity_loss=vel_loss,
            num_reset_codes=torch.tensor(num_reset, device=motion.device),
        )
        return output if return_dict else output.to_tuple()


__all__ = ["Express4DVQVAE", "Express4DVQVAEOutput", "Express4DVQVAEPreTrainedModel", "EMACodebook"]


register_auto_classes(Express4DVQVAEConfig, Express4DVQVAE)
