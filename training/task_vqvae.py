"""Training the T2M-GPT motion VQ-VAE: random 64-frame windows, EMA codebook with dead-code reset.

Output: an :class:`~pipelines.models.modeling_vqvae.Express4DVQVAE` folder (``save_pretrained``; config
with the normalisation statistics), loadable with ``Express4DVQVAE.from_pretrained`` or
``AutoModel.from_pretrained(..., trust_remote_code=True)``.
"""

from __future__ import annotations

import torch

from .task import TrainingTask


class VQVAETask(TrainingTask):
    name = "vqvae"
    library_name = "transformers"
    output_class = "pipelines.models.modeling_vqvae:Express4DVQVAE"

    def build_model(self):
        from pipelines.models.modeling_vqvae import Express4DVQVAE

        kwargs = dict(self.config.model_config)
        preset = kwargs.pop("preset", "small")
        kwargs.setdefault("fps", self.data.fps)
        return Express4DVQVAE.from_preset(preset, stats=self.data.stats, **kwargs).train()

    def training_loss(self, model, batch):
        out = model(batch["motion"], attention_mask=batch["mask"])
        logs = {
            "reconstruction_loss": float(out.reconstruction_loss.detach()),
            "velocity_loss": float(out.velocity_loss.detach()),
            "commitment_loss": float(out.commitment_loss.detach()),
            "perplexity": float(out.perplexity.detach()),
            "reset_codes": float(out.num_reset_codes),
        }
        return out.loss, logs

    @torch.no_grad()
    def validation_loss(self, model, batch, generator):
        out = model(batch["motion"], attention_mask=batch["mask"])
        return out.loss.detach() * batch["motion"].shape[0], batch["motion"].shape[0]

    def card_usage(self) -> str:
        return (
            "from pipelines import Express4DVQVAE\n\n"
            "vqvae = Express4DVQVAE.from_pretrained(REPO)\n"
            "codes = vqvae.encode(vqvae.normalize_motion(motion))      # motion: [B, T, 61] float tensor\n"
            "recon = vqvae.denormalize_motion(vqvae.decode(codes))"
        )

    def card_tags(self):
        return super().card_tags() + ["vq-vae", "t2m-gpt"]
