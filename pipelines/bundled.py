"""The default models shipped inside the package (``pipelines/default_models/``, Hub layout).

They were trained with ``training/train.py`` on the procedural stand-in corpus (see their model
cards); ``express4d generate`` and ``express4d evaluate`` use them when given their names.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent / "default_models"
BUNDLED_MODELS = ("mdm", "t2m_gpt", "evaluator")
"""``mdm``: Express4DPipeline; ``t2m_gpt``: T2MGPTPipeline; ``evaluator``: Express4DEvaluator."""


def default_model_path(name: str) -> Path:
    """The folder of a bundled model, e.g. ``Express4DPipeline.from_pretrained(default_model_path("mdm"))``."""
    if name not in BUNDLED_MODELS:
        raise ValueError(f"default_model_path: unknown bundled model {name!r}; choose one of {', '.join(BUNDLED_MODELS)}")
    folder = DEFAULT_MODELS_DIR / name
    if not ((folder / "model_index.json").is_file() or (folder / "config.json").is_file()):
        raise FileNotFoundError(
            f"the bundled default model {name!r} is not in this installation ({folder}); "
            "train one with training/train.py (see the README) and pass its folder instead"
        )
    return folder
