"""Training the benchmark evaluator: motion encoder vs frozen sentence encoder + projection, contrastive loss.

Output: an :class:`~pipelines.models.modeling_evaluator.Express4DEvaluator` folder (``save_pretrained``);
the frozen sentence encoder is referenced by name in its config, not saved.
"""

from __future__ import annotations

import torch

from .task import TrainingTask


class EvaluatorTask(TrainingTask):
    name = "evaluator"
    library_name = "transformers"
    output_class = "pipelines.models.modeling_evaluator:Express4DEvaluator"
    reads_swapped_captions = True

    def __init__(self, data):
        super().__init__(data)
        self.captions = self.caption_embeddings()

    def build_model(self):
        from pipelines.models.configuration_evaluator import Express4DEvaluatorConfig
        from pipelines.models.modeling_evaluator import Express4DEvaluator

        kwargs = dict(self.config.model_config)
        preset = kwargs.pop("preset", "paper")
        stats = self.data.stats
        kwargs.update(
            text_encoder_name_or_path=self.config.text_encoder, text_embed_dim=self.captions.dim, text_token_dim=self.captions.token_dim,
            motion_mean=[float(v) for v in stats.mean], motion_std=[float(v) for v in stats.std],
        )
        kwargs.setdefault("fps", self.data.fps)
        kwargs.setdefault("max_frames", self.config.max_frames)
        return Express4DEvaluator(Express4DEvaluatorConfig.from_preset(preset, **kwargs)).train()

    def _forward(self, model, batch, generator=None):
        device = batch["motion"].device
        text = self.captions.lookup(batch["captions"], device)
        swapped = batch.get("swapped_captions") or [None] * len(batch["captions"])
        valid = torch.tensor([s is not None for s in swapped], dtype=torch.bool, device=device)
        swapped_text = self.captions.lookup([s for s in swapped if s is not None], device) if bool(valid.any()) else None
        return model(motion=batch["motion"], lengths=batch["lengths"], sentence_embeds=text, motion_normalized=True,
                     generator=generator, swapped_sentence_embeds=swapped_text, swapped_valid=valid)

    def training_loss(self, model, batch):
        return self._forward(model, batch).loss, {}

    @torch.no_grad()
    def validation_loss(self, model, batch, generator):
        out = self._forward(model, batch, generator)
        return out.loss.detach() * batch["motion"].shape[0], batch["motion"].shape[0]

    def card_usage(self) -> str:
        return (
            "import evaluate\n"
            "from pipelines.models.modeling_evaluator import Express4DEvaluator\n\n"
            "evaluator = Express4DEvaluator.from_pretrained(REPO)\n"
            "text = evaluator.embed_texts([\"A person smiles\"])       # [1, 512]\n"
            "motion = evaluator.embed_motions([motion_array])          # denormalised [T, 61] arrays\n"
            "metric = evaluate.load(\"metrics/express4d_metrics\")     # the benchmark uses this evaluator"
        )

    def card_tags(self):
        return super().card_tags() + ["evaluation", "contrastive"]
