"""Training the MDM denoiser: x0 prediction under the cosine DDPM schedule, masked MSE, EMA weights.

Output: an :class:`~pipelines.pipeline_express4d.Express4DPipeline` folder holding the denoiser
(EMA weights when ``use_ema``) and the DDPM scheduler, without text-encoder weights: the denoiser
config names the encoder (``text_encoder_name``) and the pipeline loads it on first use.
"""

from __future__ import annotations

import logging

import torch

from .task import MotionGeneratorTask

logger = logging.getLogger(__name__)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
               channel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-item MSE ``[B]``: each item's squared error averaged over its valid frames and all channels.

    As MDM's ``masked_l2``: the loss is the batch mean of these, so every motion weighs the same
    whatever its length (not every frame).  ``channel_weights`` ``[C]``: a weighted mean over channels
    instead (``loss_channel_weights``); None is the paper's plain mean.
    """
    m = mask[..., None].to(torch.float32)
    err = (pred.float() - target.float()).pow(2) * m
    if channel_weights is not None:
        err = err * channel_weights.to(err.device, torch.float32)
    total_weight = pred.shape[-1] if channel_weights is None else channel_weights.sum()
    return err.sum((1, 2)) / (m.sum((1, 2)) * total_weight).clamp(min=1e-12)


def masked_velocity_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                        channel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-item MSE ``[B]`` of the frame-to-frame differences (MDM's velocity loss), over the pairs of
    consecutive valid frames; an item with fewer than two valid frames counts 0."""
    m = (mask[:, 1:] & mask[:, :-1]) if mask.dtype == torch.bool else mask[:, 1:] * mask[:, :-1]
    return masked_mse(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1], m, channel_weights)


class MDMTask(MotionGeneratorTask):
    name = "mdm"
    library_name = "diffusers"
    uses_ema = True
    weights_subfolder = "denoiser"
    channel_weights: torch.Tensor | None = None
    """``[61]`` loss weights from ``loss_channel_weights``; None: the paper's plain mean."""
    velocity_weight: float = 0.0
    """Weight of the velocity term (``loss_velocity_weight``); 0: the paper's objective."""
    output_class = "pipelines.pipeline_express4d:Express4DPipeline"
    card_import = "from pipelines import Express4DPipeline"

    def __init__(self, data):
        super().__init__(data)
        from diffusers import DDPMScheduler

        self.captions = self.caption_embeddings()
        steps = int(self.config.model_config.get("num_train_timesteps", 1000))
        self.scheduler = DDPMScheduler(**self.output_type().default_scheduler_config(steps))
        if self.config.loss_channel_weights:
            from .config import channel_loss_weights

            self.channel_weights = torch.tensor(channel_loss_weights(self.config.loss_channel_weights))
        self.velocity_weight = float(self.config.loss_velocity_weight)

    def build_model(self):
        from pipelines.denoiser_mdm import MDMDenoiser

        kwargs = dict(self.config.model_config)
        preset = kwargs.pop("preset", "small")
        kwargs.setdefault("max_frames", self.config.max_frames)
        kwargs.setdefault("fps", self.data.fps)
        model = MDMDenoiser.from_preset(
            preset, stats=self.data.stats, text_embed_dim=self.captions.dim, text_token_dim=self.captions.token_dim,
            text_encoder_name_or_path=self.config.text_encoder,
            **kwargs,
        )
        return model.train()

    def _noisy(self, x0, generator=None):
        batch = x0.shape[0]
        steps = self.scheduler.config.num_train_timesteps
        gen_device = generator.device if generator is not None else x0.device
        t = torch.randint(0, steps, (batch,), generator=generator, device=gen_device).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=x0.dtype).to(x0.device)
        return self.scheduler.add_noise(x0, noise, t), t

    def _item_losses(self, model, batch, generator=None) -> torch.Tensor:
        x0, mask = batch["motion"], batch["mask"]
        text = self.captions.lookup(batch["captions"], x0.device)
        xt, t = self._noisy(x0, generator)
        pred = model(xt, t, text, attention_mask=mask).sample
        loss = masked_mse(pred, x0, mask, self.channel_weights)
        if self.velocity_weight:
            loss = loss + self.velocity_weight * masked_velocity_mse(pred, x0, mask, self.channel_weights)
        return loss

    def training_loss(self, model, batch):
        return self._item_losses(model, batch).mean(), {}

    @torch.no_grad()
    def validation_loss(self, model, batch, generator):
        losses = self._item_losses(model, batch, generator)
        return losses.sum(), losses.shape[0]

    def pipeline_components(self, model):
        return {"denoiser": model, "scheduler": self.scheduler}

    def metrics_scheduler(self):
        from diffusers import DDIMScheduler

        return DDIMScheduler.from_config(self.scheduler.config)

    def card_tags(self):
        return super().card_tags() + ["text-to-motion", "diffusion", "mdm"]
