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


_CONFIG_CLASSES = {
    "mdm": ("pipelines.models.modeling_mdm", "MDMDenoiser"),
    "vqvae": ("pipelines.models.configuration_vqvae", "Express4DVQVAEConfig"),
    "t2m_gpt": ("pipelines.models.configuration_t2m_gpt", "T2MGPTConfig"),
    "evaluator": ("pipelines.models.configuration_evaluator", "Express4DEvaluatorConfig"),
}
_SET_BY_TRAINING = {"stats", "motion_mean", "motion_std", "text_embed_dim", "text_token_dim", "num_codes", "frames_per_code"}


def validate_model_config(name: str, model_config: dict) -> None:
    """Raise at once for a ``model_config`` key the model does not take (not after minutes of caption encoding)."""
    from inspect import getfullargspec, unwrap

    module, cls = _CONFIG_CLASSES[name]
    spec = getfullargspec(unwrap(getattr(importlib.import_module(module), cls).__init__))  # past @register_to_config
    known = (set(spec.args) | set(spec.kwonlyargs) | {"preset"}) - {"self"}
    unknown = sorted(set(model_config) - known)
    if unknown:
        choices = ", ".join(sorted(known - _SET_BY_TRAINING))
        raise ValueError(f"model_config: unknown key(s) {', '.join(unknown)} for --model {name}; known keys: {choices}")
