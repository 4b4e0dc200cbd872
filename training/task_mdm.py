"""Training the MDM denoiser: x0 prediction under the cosine DDPM schedule, masked MSE, EMA weights.

Output: an :class:`~pipelines.pipeline_express4d.Express4DPipeline` folder holding the denoiser
(EMA weights when ``use_ema``) and the DDPM scheduler, without text-encoder weights: the denoiser
config names the encoder (``text_encoder_name``) and the pipeline loads it on first use.
"""

from __future__ import annotations

import logging

import torch

from .caption_embeddings import CaptionEmbeddings, split_captions
from .data import motion_collator
from .generation_metrics import motion_generation_metrics
from .task import TrainingTask

logger = logging.getLogger(__name__)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reduce: bool = True) -> torch.Tensor:
    """MSE averaged per valid frame and channel (``reduce``), or per item ``[B]``."""
    m = mask[..., None].to(pred.dtype)
    err = (pred.float() - target.float()).pow(2) * m
    if reduce:
        return err.sum() / (m.sum() * pred.shape[-1]).clamp(min=1)
    return err.sum((1, 2)) / (m.sum((1, 2)) * pred.shape[-1]).clamp(min=1)


class MDMTask(TrainingTask):
    name = "mdm"
    library_name = "diffusers"
    uses_ema = True

    def __init__(self, data):
        super().__init__(data)
        from diffusers import DDPMScheduler

        from pipelines.pipeline_express4d import Express4DPipeline

        ds = data.dataset
        captions = [c for split in ds for c in split_captions(ds[split])]
        self.captions = CaptionEmbeddings.build(self.config.text_encoder, captions)
        steps = int(self.config.model_config.get("num_train_timesteps", 1000))
        self.scheduler = DDPMScheduler(**Express4DPipeline.default_scheduler_config(steps))

    def build_model(self):
        from pipelines.denoiser_mdm import MDMDenoiser

        kwargs = dict(self.config.model_config)
        preset = kwargs.pop("preset", "small")
        kwargs.setdefault("max_frames", self.config.max_frames)
        kwargs.setdefault("fps", self.data.fps)
        model = MDMDenoiser.from_preset(
            preset, stats=self.data.stats, text_embed_dim=self.captions.dim, text_encoder_name=self.config.text_encoder,
            **kwargs,
        )
        return model.train()

    def train_dataset(self):
        cfg = self.config
        collate = motion_collator(self.data.stats, cfg.max_frames, True, cfg.max_offset, cfg.flip_prob, cfg.seed)
        return self.data.dataset[cfg.train_split], collate

    def _validation_dataset(self, split):
        return split, motion_collator(self.data.stats, self.config.max_frames, False, None, 0.0, self.config.seed)

    def _noisy(self, x0, generator=None):
        batch = x0.shape[0]
        steps = self.scheduler.config.num_train_timesteps
        gen_device = generator.device if generator is not None else x0.device
        t = torch.randint(0, steps, (batch,), generator=generator, device=gen_device).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=x0.dtype).to(x0.device)
        return self.scheduler.add_noise(x0, noise, t), t

    def training_loss(self, model, batch):
        x0, mask = batch["motion"], batch["mask"]
        text = self.captions.lookup(batch["captions"], x0.device)
        xt, t = self._noisy(x0)
        pred = model(xt, t, text, attention_mask=mask).sample
        return masked_mse(pred, x0, mask), {}

    @torch.no_grad()
    def validation_loss(self, model, batch, generator):
        x0, mask = batch["motion"], batch["mask"]
        text = self.captions.lookup(batch["captions"], x0.device)
        xt, t = self._noisy(x0, generator)
        pred = model(xt, t, text, attention_mask=mask).sample
        return masked_mse(pred, x0, mask, reduce=False).sum(), x0.shape[0]

    def pipeline(self, model):
        from pipelines.pipeline_express4d import Express4DPipeline

        return Express4DPipeline(denoiser=model, scheduler=self.scheduler)

    def generation_metrics(self, model, evaluator, generator):
        from diffusers import DDIMScheduler

        pipe = self.pipeline(model)
        pipe.scheduler = DDIMScheduler.from_config(self.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        return motion_generation_metrics(
            pipe, evaluator, self.data.dataset[self.config.validation_split], self.config.metrics_num_samples,
            self.config.metrics_inference_steps, generator,
        )

    def save_final(self, model, output_dir):
        self.pipeline(model).save_pretrained(output_dir)

    @staticmethod
    def load_final(output_dir):
        from pipelines.pipeline_express4d import Express4DPipeline

        return Express4DPipeline.from_pretrained(output_dir)

    def card_usage(self) -> str:
        return (
            "import torch\n"
            "from pipelines import Express4DPipeline\n\n"
            "pipe = Express4DPipeline.from_pretrained(REPO)\n"
            "out = pipe(\"A person is smiling softly\", seconds=6, generator=torch.Generator().manual_seed(0))\n"
            "out.save_livelink_csv(\"smile.csv\")"
        )

    def card_tags(self):
        return super().card_tags() + ["text-to-motion", "diffusion", "mdm"]
