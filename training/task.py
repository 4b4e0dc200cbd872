"""``TrainingTask``: what ``train.py`` needs to know about one model, and the registry of the four tasks.

``train.py`` owns the loop (accelerate, optimisation, checkpoints, validation schedule, safety);
a task owns the model: how to build it, its data, its loss, its validation loss, its final
``save_pretrained`` and how to load that folder back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from express4d_dataset.motion import MotionStats

from .config import TrainingConfig

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
    """Base class; subclasses fill every method that raises ``NotImplementedError``."""

    name: str = ""
    library_name: str = ""
    """``diffusers`` or ``transformers`` (the model card's library)."""
    uses_ema: bool = False

    def __init__(self, data: TaskData):
        self.data = data
        self.config = data.config

    # ---------------------------------------------------------------- model and data
    def build_model(self) -> torch.nn.Module:
        raise NotImplementedError

    def train_dataset(self):
        """``(dataset, collate_fn)``; the collate function has ``set_epoch``."""
        raise NotImplementedError

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
        raise NotImplementedError

    # ---------------------------------------------------------------- steps
    def training_loss(self, model, batch) -> tuple[torch.Tensor, dict]:
        """The loss to minimise and extra scalars to log (floats)."""
        raise NotImplementedError

    @torch.no_grad()
    def validation_loss(self, model, batch, generator: torch.Generator) -> tuple[torch.Tensor, int]:
        """``(summed loss over the batch, number of items)`` in eval mode; draws only from ``generator``."""
        raise NotImplementedError

    def generation_metrics(self, model, evaluator, generator: torch.Generator) -> dict:
        """Benchmark metrics of samples on a validation subset (generators only); {} when unsupported."""
        return {}

    # ---------------------------------------------------------------- output
    def save_final(self, model, output_dir) -> None:
        raise NotImplementedError

    @staticmethod
    def load_final(output_dir):
        raise NotImplementedError

    def card_usage(self) -> str:
        """A Python snippet loading the saved folder (``REPO`` stands for its path or Hub id)."""
        raise NotImplementedError

    def card_tags(self) -> list[str]:
        return ["express4d", "facial-animation", "arkit", "live-link-face"]


def task_class(name: str) -> type[TrainingTask]:
    """The task class for ``--model name`` (imported lazily, so one model's code never loads the others)."""
    if name == "mdm":
        from .task_mdm import MDMTask

        return MDMTask
    if name == "vqvae":
        from .task_vqvae import VQVAETask

        return VQVAETask
    if name == "t2m_gpt":
        from .task_t2m_gpt import T2MGPTTask

        return T2MGPTTask
    if name == "evaluator":
        from .task_evaluator import EvaluatorTask

        return EvaluatorTask
    raise ValueError(f"--model {name!r}: unknown; choose mdm, vqvae, t2m_gpt or evaluator")
