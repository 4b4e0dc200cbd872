"""What a model name means, and the pipeline it loads: ``mdm`` | ``t2m_gpt`` | FOLDER | HUB_ID -> a pipeline.

* :func:`default_model_path`: the folder of a model shipped in the package (``mdm``, ``t2m_gpt``, ``evaluator``);
* :func:`resolve_model_path`: what a command-line ``--model`` / ``--evaluator`` value names (a bundled
  model, a local folder or a Hub id), with a message naming the option when it names nothing;
* :func:`load_motion_pipeline`: either pipeline from its folder, by ``model_index.json``'s ``_class_name``,
  through the explicit map :func:`pipeline_classes` (no class is looked up by a name built at run time).

Imports nothing heavy at module level: the CLI resolves names before it imports torch.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent / "default_models"
BUNDLED_MODELS = ("mdm", "t2m_gpt", "evaluator")
"""The models shipped in the package: ``mdm`` (Express4DPipeline), ``t2m_gpt`` (T2MGPTPipeline),
``evaluator`` (Express4DEvaluator), all trained on the procedural stand-in corpus (see their cards)."""
BUNDLED_GENERATORS = ("mdm", "t2m_gpt")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


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


def is_bundled_path(path: str | os.PathLike) -> bool:
    """True when ``path`` is one of the bundled model folders."""
    try:
        return Path(path).resolve().parent == DEFAULT_MODELS_DIR
    except OSError:
        return False


def resolve_model_path(name: str, option: str = "--model", bundled: tuple[str, ...] = BUNDLED_GENERATORS) -> str:
    """What a ``--model`` / ``--evaluator`` value names: a bundled model's folder, a local folder, or a Hub id.

    A local folder of a bundled model's name takes precedence over the bundled model.  Anything else
    raises ``FileNotFoundError`` naming ``option`` and the accepted forms.
    """
    forms = "|".join(bundled) + "|FOLDER|HUB_ID"
    text = str(name).strip()
    if not text:
        raise FileNotFoundError(f"{option}: empty; pass {forms}")
    path = Path(text)
    if text in bundled and not path.exists():
        try:
            return str(default_model_path(text))
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{option} {text}: {e}; or pass {option} FOLDER|HUB_ID") from None
    if path.exists():
        if not path.is_dir():
            raise FileNotFoundError(f"{option} {text}: a file, but a model is a folder (with model_index.json or config.json); pass {forms}")
        return text
    if _HUB_ID.match(text) and not text.startswith((".", "/")):
        return text
    raise FileNotFoundError(f"{option} {text}: no such folder, bundled model or Hub id; pass {forms}")


def pipeline_classes() -> dict:
    """``model_index.json``'s ``_class_name`` -> the pipeline class that loads the folder."""
    from .mdm.pipeline_mdm import Express4DPipeline
    from .t2m_gpt.pipeline_t2m_gpt import T2MGPTPipeline

    return {"Express4DPipeline": Express4DPipeline, "T2MGPTPipeline": T2MGPTPipeline}


def load_motion_pipeline(name_or_path: str, device: str | None = None):
    """Load either express4d pipeline from a folder or Hub id (or a bundled name: ``mdm``, ``t2m_gpt``),
    by ``model_index.json``'s ``_class_name``."""
    name_or_path = resolve_model_path(str(name_or_path), "load_motion_pipeline")
    folder = Path(name_or_path)
    if folder.is_dir():
        index_file = folder / "model_index.json"
        if not index_file.is_file():
            raise FileNotFoundError(f"{folder} has no model_index.json; pass a saved Express4DPipeline or T2MGPTPipeline folder")
    else:
        from huggingface_hub import hf_hub_download

        index_file = Path(hf_hub_download(name_or_path, "model_index.json"))
    try:
        class_name = json.loads(index_file.read_text(encoding="utf-8")).get("_class_name")
    except json.JSONDecodeError as e:
        raise ValueError(f"{index_file}: not valid JSON ({e})") from None
    classes = pipeline_classes()
    if class_name not in classes:
        raise ValueError(
            f"{index_file}: _class_name is {class_name!r}; express4d loads {' or '.join(classes)} folders"
        )
    pipe = classes[class_name].from_pretrained(name_or_path)
    if device is not None:
        pipe.to(device)
    return pipe


__all__ = [
    "BUNDLED_GENERATORS", "BUNDLED_MODELS", "DEFAULT_MODELS_DIR", "default_model_path", "is_bundled_path",
    "load_motion_pipeline", "pipeline_classes", "resolve_model_path",
]
