"""``TrainingTask``: what ``train.py`` needs to know about one model (the four tasks subclass it; the
registry that picks one by name is ``training/registry.py``).

``train.py`` owns the loop (accelerate, optimisation, checkpoints, validation schedule, safety);
a task owns the model: how to build it, its data, its loss, its validation loss and its final
``save_pretrained``.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from express4d_dataset.motion import MotionStats

from .caption_embeddings import CaptionEmbeddings, corpus_captions
from .config import TrainingConfig
from .data import motion_collator
from .generation_metrics import motion_generation_metrics

logger = logging.getLogger(__name__)


@dataclass
class TaskData:
    """Everything a task is built from (read once by ``train.py``)."""

    config: TrainingConfig
    dataset: object  # datasets.DatasetDict, numpy-formatted
    stats: MotionStats
    stats_source: str
    fps: float
    device: torch.device


class TrainingTask:
    """Base class; subclasses fill every method that raises ``NotImplementedError``.

    The shared parts live here: motion-row data (crop, normalise, caption, flip) for the tasks that
    train on motions, the caption-embedding table, and the final folder (``output_class``'s
    ``save_pretrained`` / ``from_pretrained``).
    """

    name: str = ""
    library_name: str = ""
    """``diffusers`` or ``transformers`` (the model card's library)."""
    uses_ema: bool = False
    output_class: str = ""
    """``"module:Class"`` of the saved folder (loadable with that class's ``from_pretrained``)."""
    weights_subfolder: str = ""
    """Where the trained model's weights sit in the saved folder (a pipeline's component folder), for ``init_from``."""

    def __init__(self, data: TaskData):
        self.data = data
        self.config = data.config

    @classmethod
    def output_type(cls) -> type:
        """The class named by ``output_class`` (imported lazily)."""
        if not cls.output_class:
            raise NotImplementedError(f"{cls.__name__}: set output_class")
        module, name = cls.output_class.split(":")
        return getattr(importlib.import_module(module), name)

    # ---------------------------------------------------------------- model and data
    def build_model(self) -> torch.nn.Module:
        raise NotImplementedError

    def load_initial_weights(self, model: torch.nn.Module, folder) -> Path:
        """Copy the weights of a saved folder (``init_from``) into ``model``; returns the file read.

        The folder is a finished run of this model (or its trained component's subfolder); the weights
        must fit the architecture this run's ``model_config`` builds, name for name and shape for shape.
        """
        from safetensors.torch import load_file

        root = Path(folder)
        bundled = {"vqvae": "t2m_gpt/vqvae"}.get(self.name, self.name)
        hint = f"pass the output_dir of a finished `--model {self.name}` run or pipelines/default_models/{bundled}"
        if not root.is_dir():
            raise FileNotFoundError(f"--init_from {folder}: no such folder; {hint}")
        places = [root / self.weights_subfolder, root] if self.weights_subfolder else [root]
        files = next((sorted(p.glob("*.safetensors")) for p in places if p.is_dir() and any(p.glob("*.safetensors"))), [])
        if len(files) != 1:
            found = "several .safetensors files (sharded weights are not supported)" if files else "no .safetensors weights"
            raise FileNotFoundError(f"--init_from {folder}: {found} in {' or '.join(str(p) for p in places)}; {hint}")
        state = load_file(str(files[0]))
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        reshaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        if missing or unexpected or reshaped:
            detail = "; ".join(f"{n} {what} (e.g. {names[0]})" for n, what, names in (
                (len(missing), "missing", missing), (len(unexpected), "unexpected", unexpected),
                (len(reshaped), "with another shape", reshaped)) if names)
            raise ValueError(
                f"--init_from {folder}: its weights ({files[0].name}) do not fit the {self.name} model this run builds: "
                f"{detail}. Build the same architecture: set model_config (--config / --set model_config.KEY=VALUE) "
                f"and --text_encoder as in {files[0].parent / 'config.json'}"
            )
        model.load_state_dict(state)
        return files[0]

    reads_swapped_captions = False
    """Whether the task looks up the step-reversed captions (the evaluator's hard negatives); only then are
    they encoded."""

    def caption_embeddings(self, mirrored: bool | None = None) -> CaptionEmbeddings:
        """Embeddings of every caption of the dataset; ``mirrored`` (default: ``flip_prob > 0``) adds the
        left/right-swapped captions that flip augmentation feeds the model."""
        if mirrored is None:
            mirrored = self.config.flip_prob > 0
        return CaptionEmbeddings.build(self.config.text_encoder,
                                       corpus_captions(self.data.dataset, mirrored, swapped=self.reads_swapped_captions))

    def train_dataset(self):
        """``(dataset, collate_fn)``; the collate function has ``set_epoch``.

        Default: the training rows with the motion collator (random crop, random caption, flip).
        """
        cfg = self.config
        collate = motion_collator(self.data.stats, cfg.max_frames, True, cfg.max_offset, cfg.flip_prob, cfg.seed)
        return self.data.dataset[cfg.train_split], collate

    def validation_dataset(self):
        """``(dataset, collate_fn)`` or None when the run has no validation split."""
        split = self.config.validation_split
        if not split:
            return None
        if split not in self.data.dataset:
            raise ValueError(
                f"validation_split {split!r}: the dataset has only {', '.join(self.data.dataset)}; pass one of them or "
                "--validation_split '' to skip validation"
            )
        return self._validation_dataset(self.data.dataset[split])

    def _validation_dataset(self, split):
        """Default: the rows with the deterministic motion collator (first frames, first caption, no flip)."""
        return split, motion_collator(self.data.stats, self.config.max_frames, False, None, 0.0, self.config.seed)

    # ---------------------------------------------------------------- steps
    def training_loss(self, model, batch) -> tuple[torch.Tensor, dict]:
        """The loss to minimise and extra scalars to log (floats)."""
        raise NotImplementedError

    @torch.no_grad()
    def validation_loss(self, model, batch, generator: torch.Generator) -> tuple[torch.Tensor, int]:
        """``(summed loss over the batch, number of items)`` in eval mode; draws only from ``generator``."""
        raise NotImplementedError

    def generation_metrics(self, model, evaluator, generator: torch.Generator, scheduler=None) -> dict:
        """Benchmark metrics of samples on a validation subset (generators only); {} when unsupported."""
        return {}

    # ---------------------------------------------------------------- output
    def final_model(self, model):
        """What the final folder is saved from (the model itself, or a pipeline around it)."""
        return model

    def save_final(self, model, output_dir) -> None:
        self.final_model(model).save_pretrained(output_dir)

    def card_usage(self) -> str:
        """A Python snippet loading the saved folder (``REPO`` stands for its path or Hub id)."""
        raise NotImplementedError

    def card_tags(self) -> list[str]:
        return ["express4d", "facial-animation", "arkit", "live-link-face"]


class MotionGeneratorTask(TrainingTask):
    """A text-to-motion generator (MDM, T2M-GPT): saved as a pipeline, scored with benchmark metrics."""

    card_import: str = ""
    """The import line of ``output_class`` in the model card's usage snippet."""

    def pipeline_components(self, model) -> dict:
        """Keyword arguments of ``output_class`` around the trained ``model``."""
        raise NotImplementedError

    def pipeline(self, model):
        return self.output_type()(**self.pipeline_components(model))

    def final_model(self, model):
        return self.pipeline(model)

    def metrics_scheduler(self):
        """The scheduler samples for the metrics are drawn with (None: the pipeline's own)."""
        return None

    def generation_metrics(self, model, evaluator, generator, scheduler=None):
        """Metrics of ``model``'s samples for the first ``metrics_num_samples`` validation items.

        ``scheduler`` overrides :meth:`metrics_scheduler` (diffusion pipelines only).
        """
        pipe = self.pipeline(model)
        scheduler = scheduler if scheduler is not None else self.metrics_scheduler()
        if scheduler is not None:
            pipe.scheduler = scheduler
        pipe.set_progress_bar_config(disable=True)
        return motion_generation_metrics(
            pipe, evaluator, self.data.dataset[self.config.validation_split], self.config.metrics_num_samples,
            self.config.metrics_inference_steps, generator,
        )

    def card_usage(self) -> str:
        cls = self.output_class.split(":")[1]
        return (
            "import torch\n"
            f"{self.card_import}\n\n"
            f"pipe = {cls}.from_pretrained(REPO)\n"
            "out = pipe(\"A person is smiling softly\", seconds=6, generator=torch.Generator().manual_seed(0))\n"
            "out.save_livelink_csv(\"smile.csv\")"
        )
