"""Training the benchmark evaluator: motion encoder vs frozen sentence encoder + projection, contrastive loss.

Output: an :class:`~pipelines.modeling_evaluator.Express4DEvaluator` folder (``save_pretrained``);
the frozen sentence encoder is referenced by name in its config, not saved.
"""

from __future__ import annotations

import torch

from .caption_embeddings import CaptionEmbeddings, split_captions
from .data import motion_collator
from .task import TrainingTask


class EvaluatorTask(TrainingTask):
    name = "evaluator"
    library_name = "transformers"

    def __init__(self, data):
        super().__init__(data)
        ds = data.dataset
        self.captions = CaptionEmbeddings.build(self.config.text_encoder, [c for s in ds for c in split_captions(ds[s])])

    def build_model(self):
        from pipelines.configuration_evaluator import Express4DEvaluatorConfig
        from pipelines.modeling_evaluator import Express4DEvaluator

        kwargs = dict(self.config.model_config)
        preset = kwargs.pop("preset", "paper")
        if preset not in ("paper", "small"):
            raise ValueError(f"model_config.preset {preset!r}: the evaluator presets are 'paper' and 'small'")
        stats = self.data.stats
        kwargs.update(
            text_encoder_name_or_path=self.config.text_encoder, text_embed_dim=self.captions.dim,
            motion_mean=[float(v) for v in stats.mean], motion_std=[float(v) for v in stats.std],
        )
        kwargs.setdefault("fps", self.data.fps)
        kwargs.setdefault("max_frames", self.config.max_frames)
        config = Express4DEvaluatorConfig.small(**kwargs) if preset == "small" else Express4DEvaluatorConfig(**kwargs)
        return Express4DEvaluator(config).train()

    def train_dataset(self):
        cfg = self.config
        collate = motion_collator(self.data.stats, cfg.max_frames, True, cfg.max_offset, cfg.flip_prob, cfg.seed)
        return self.data.dataset[cfg.train_split], collate

    def _validation_dataset(self, split):
        return split, motion_collator(self.data.stats, self.config.max_frames, False, None, 0.0, self.config.seed)

    def _forward(self, model, batch, generator=None):
        text = self.captions.lookup(batch["captions"], batch["motion"].device)
        return model(motion=batch["motion"], lengths=batch["lengths"], sentence_embeds=text, motion_normalized=True,
                     generator=generator)

    def training_loss(self, model, batch):
        return self._forward(model, batch).loss, {}

    @torch.no_grad()
    def validation_loss(self, model, batch, generator):
        out = self._forward(model, batch, generator)
        return out.loss.detach() * batch["motion"].shape[0], batch["motion"].shape[0]

    def save_final(self, model, output_dir):
        model.save_pretrained(output_dir)

    @staticmethod
    def load_final(output_dir):
        from pipelines.modeling_evaluator import Express4DEvaluator

        return Express4DEvaluator.from_pretrained(output_dir)

    def card_usage(self) -> str:
        return (
            "import evaluate\n"
            "from pipelines.modeling_evaluator import Express4DEvaluator\n\n"
            "evaluator = Express4DEvaluator.from_pretrained(REPO)\n"
            "text = evaluator.embed_texts([\"A person smiles\"])       # [1, 512]\n"
            "motion = evaluator.embed_motions([motion_array])          # denormalised [T, 61] arrays\n"
            "metric = evaluate.load(\"metrics/express4d_metrics\")     # the benchmark uses this evaluator"
        )

    def card_tags(self):
        return super().card_tags() + ["evaluation", "contrastive"]
