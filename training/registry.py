"""The training tasks by ``--model`` name (imported lazily, so one model's code never loads the others)."""

from __future__ import annotations

import importlib

TASKS = {
    "mdm": "training.task_mdm:MDMTask",
    "vqvae": "training.task_vqvae:VQVAETask",
    "t2m_gpt": "training.task_t2m_gpt:T2MGPTTask",
    "evaluator": "training.task_evaluator:EvaluatorTask",
}


def task_class(name: str):
    """The :class:`~training.task.TrainingTask` subclass for ``--model name``."""
    if name not in TASKS:
        raise ValueError(f"--model {name!r}: unknown; choose one of {', '.join(TASKS)}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)
