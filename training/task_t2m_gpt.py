"""Training the T2M-GPT prior on the codes of a trained VQ-VAE (``--vqvae PATH``).

The training and validation motions are encoded to code ids once up front (each motion's first
``max_frames`` frames, cut to a multiple of 4); training then only touches the prior.  Output: a
:class:`~pipelines.t2m_gpt.pipeline_t2m_gpt.T2MGPTPipeline` folder with the VQ-VAE and the prior, without
text-encoder weights (the prior's config names the encoder).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .data import CodeCollator, encode_split_to_codes
from .task import MotionGeneratorTask

logger = logging.getLogger(__name__)


def load_vqvae(path: str):
    from pipelines.models.modeling_vqvae import Express4DVQVAE

    folder = Path(path)
    if folder.is_dir() and (folder / "vqvae").is_dir() and not (folder / "config.json").is_file():
        folder = folder / "vqvae"  # a saved T2MGPTPipeline: reuse its VQ-VAE
    try:
        vqvae = Express4DVQVAE.from_pretrained(str(folder))
    except OSError as e:
        raise OSError(f"--vqvae {path}: could not load an Express4DVQVAE ({e}); pass the output folder of `--model vqvae`") from None
    if not vqvae.has_motion_stats:
        raise ValueError(f"--vqvae {path}: its config has no motion_mean/motion_std; retrain it with training/train.py")
    return vqvae.eval().requires_grad_(False)


class T2MGPTTask(MotionGeneratorTask):
    name = "t2m_gpt"
    library_name = "diffusers"
    output_class = "pipelines.t2m_gpt.pipeline_t2m_gpt:T2MGPTPipeline"
    weights_subfolder = "prior"
    card_import = "from pipelines import T2MGPTPipeline"

    def __init__(self, data):
        super().__init__(data)
        cfg = self.config
        self.vqvae = load_vqvae(cfg.vqvae).to(data.device)  # frozen; only encodes up front and decodes in metrics
        ds = data.dataset
        self.captions = self.caption_embeddings(mirrored=False)  # the codes are of the unflipped motions
        self.codes = {cfg.train_split: encode_split_to_codes(self.vqvae, ds[cfg.train_split], cfg.max_frames)}
        if cfg.validation_split and cfg.validation_split in ds:
            self.codes[cfg.validation_split] = encode_split_to_codes(self.vqvae, ds[cfg.validation_split], cfg.max_frames)
        logger.info("Encoded %s with the VQ-VAE %s", ", ".join(f"{len(v)} {k} motions" for k, v in self.codes.items()), cfg.vqvae)

    def build_model(self):
        from pipelines.models.modeling_t2m_gpt import T2MGPTModel

        kwargs = dict(self.config.model_config)
        preset = kwargs.pop("preset", "small")
        vq = self.vqvae.config
        kwargs.update(num_codes=vq.codebook_size, text_embed_dim=self.captions.dim, text_token_dim=self.captions.token_dim,
                      text_encoder_name_or_path=self.config.text_encoder, frames_per_code=vq.downsampling_factor)
        kwargs.setdefault("fps", vq.fps)
        kwargs.setdefault("block_size", self.config.max_frames // vq.downsampling_factor + 2)
        return T2MGPTModel.from_preset(preset, **kwargs).train()

    def train_dataset(self):
        return self.codes[self.config.train_split], CodeCollator(self.config.seed, train=True)

    def _validation_dataset(self, split):
        return self.codes[self.config.validation_split], CodeCollator(self.config.seed, train=False)

    def _inputs(self, model, batch):
        prior = getattr(model, "module", model)  # DDP-wrapped or not
        device = batch["codes"].device
        inputs = prior.build_training_batch(batch["codes"], batch["lengths"])
        return self.captions.lookup(batch["captions"], device), inputs

    def training_loss(self, model, batch):
        text, inputs = self._inputs(model, batch)
        return model(text_embeds=text, **inputs).loss, {}

    @torch.no_grad()
    def validation_loss(self, model, batch, generator):
        text, inputs = self._inputs(model, batch)
        out = model(text_embeds=text, **inputs)
        return out.loss.detach() * batch["codes"].shape[0], batch["codes"].shape[0]

    def pipeline_components(self, model):
        return {"vqvae": self.vqvae, "prior": model}

    def card_tags(self):
        return super().card_tags() + ["text-to-motion", "t2m-gpt"]
