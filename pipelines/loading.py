"""Loading and saving express4d models safely, and finding them by name.

* Safetensors only, everywhere: :func:`check_no_pickle_only_weights` refuses a folder that holds
  only pickle weights (unpickling runs arbitrary code), :class:`SafeTensorsOnly` makes a model
  class's ``from_pretrained`` load safetensors alone, and :class:`SafePipelineIO` does the same for
  both pipelines (and writes their loader shims on ``save_pretrained``).
* Names: the models shipped in the package (:func:`default_model_path`), and what a command-line
  ``--model`` / ``--evaluator`` value means (:func:`resolve_model_path`: a bundled name, a folder or a
  Hub id), and :func:`load_motion_pipeline`, which loads either pipeline from its ``model_index.json``.

Imports nothing heavy at module level: the CLI resolves names before it imports torch.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

logger = logging.getLogger(__name__)

PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent / "default_models"
BUNDLED_MODELS = ("mdm", "t2m_gpt", "evaluator")
"""The models shipped in the package: ``mdm`` (Express4DPipeline), ``t2m_gpt`` (T2MGPTPipeline),
``evaluator`` (Express4DEvaluator), all trained on the procedural stand-in corpus (see their cards)."""
BUNDLED_GENERATORS = ("mdm", "t2m_gpt")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# --------------------------------------------------------------------------------------------- safetensors only
def check_no_pickle_only_weights(folder: str | os.PathLike, what: str = "checkpoint") -> None:
    """Raise if a local ``folder`` holds pickle weights (``.bin``/``.pt``/...) but no ``.safetensors`` file."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    files = [p for p in folder.iterdir() if p.is_file()]
    if any(p.suffix == ".safetensors" for p in files):
        return
    pickled = sorted(p.name for p in files if p.suffix in PICKLE_WEIGHT_SUFFIXES)
    if pickled:
        raise ValueError(
            f"{what} {folder}: found only pickle weights ({', '.join(pickled)}); express4d loads safetensors only, "
            "because unpickling can run arbitrary code. Convert the file to model.safetensors / "
            "diffusion_pytorch_model.safetensors (e.g. save_pretrained(..., safe_serialization=True)) from a trusted session"
        )


def _force_safetensors(cls_name: str, kwargs: dict) -> None:
    if kwargs.get("use_safetensors") is False:
        raise ValueError(f"{cls_name}.from_pretrained: use_safetensors=False is not supported; weights load from safetensors only")
    kwargs["use_safetensors"] = True


# keys a saved config.json carries besides the model's own arguments (library bookkeeping)
_BOOKKEEPING = {
    "_class_name", "_diffusers_version", "_name_or_path", "_use_default_values", "architectures", "auto_map",
    "model_type", "transformers_version", "torch_dtype", "dtype", "return_dict", "output_hidden_states",
    "output_attentions", "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id", "problem_type",
    "tie_word_embeddings", "use_cache",
}


def _init_arguments(cls) -> dict:
    """``{name: default}`` of what a model's ``config.json`` may hold: the arguments it (or its config class) is
    built from, and, for a transformers config, every attribute a default config saves."""
    from inspect import Parameter, signature, unwrap

    config_class = getattr(cls, "config_class", None)
    target = config_class or cls
    params = signature(unwrap(target.__init__)).parameters
    out = {n: p.default for n, p in params.items() if n not in ("self", "config") and p.kind
           not in (Parameter.VAR_KEYWORD, Parameter.VAR_POSITIONAL)}
    if config_class is not None:
        for key in config_class().to_dict():
            out.setdefault(key, None)  # saved by the library (token ids, derived sizes, ...): any value
    return out


def check_model_folder(folder: Path, cls) -> None:
    """Raise one clear error, naming the folder, the file and the field, for a local model folder that
    ``cls.from_pretrained`` could only load wrongly: no ``config.json``, a config that is not JSON, a field
    the model does not take (e.g. renamed) or of the wrong type, an empty / truncated / corrupt safetensors file."""
    if not folder.is_dir():
        return
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder}: no config.json, so this is not a {cls.__name__} folder (save_pretrained writes one)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{config_path}: not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path}: expected a JSON object of {cls.__name__} settings")
    arguments = _init_arguments(cls)
    unknown = sorted(k for k in config if k not in arguments and k not in _BOOKKEEPING and not k.startswith("_"))
    if unknown:
        raise ValueError(
            f"{config_path}: field(s) {', '.join(unknown)} are not {cls.__name__} settings (renamed or from another "
            f"model?); it takes: {', '.join(sorted(arguments))}"
        )
    for key, value in config.items():
        default = arguments.get(key)
        if value is None or default is None or key not in arguments:
            continue
        expected = type(default)
        ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if expected in (list, tuple) and isinstance(value, list):
            ok = True
        if not ok:
            raise ValueError(f"{config_path}: field {key!r} is {value!r} ({type(value).__name__}), expected a {expected.__name__}")
    weights = sorted(folder.glob("*.safetensors"))
    for path in weights:
        _check_safetensors(path)


def _check_safetensors(path: Path) -> None:
    from safetensors import safe_open

    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file; the copy or download was interrupted: fetch the model again")
    try:
        with safe_open(str(path), framework="pt") as f:
            f.keys()
    except Exception as e:  # safetensors raises its own error type (and OSError) for a broken header
        raise ValueError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e}); fetch the model again") from None


class SafeTensorsOnly:
    """Mixin for a diffusers ``ModelMixin`` or transformers ``PreTrainedModel``: ``from_pretrained``
    loads safetensors weights only, refuses pickle-only folders with a message saying why, and checks a
    local folder first (:func:`check_model_folder`) so a broken one fails with one clear message."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        _force_safetensors(cls.__name__, kwargs)
        local = Path(str(pretrained_model_name_or_path))
        if kwargs.get("subfolder"):
            local = local / kwargs["subfolder"]
        check_no_pickle_only_weights(local, f"{cls.__name__} checkpoint")
        check_model_folder(local, cls)
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        meta = [name for name, p in model.named_parameters() if p.device.type == "meta"]
        if meta:
            raise ValueError(f"{local}: the weights do not fit the config (e.g. {meta[0]} was not loaded); "
                             "config.json and the safetensors file are from different models")
        return model


class SafePipelineIO:
    """Mixin for both express4d pipelines: ``from_pretrained`` restricted to safetensors weights (never
    unpickles), and ``save_pretrained`` (safetensors) that also writes a loader shim, so that
    ``DiffusionPipeline.from_pretrained(dir, custom_pipeline=<shim name>, trust_remote_code=True)`` works.
    Text encoder weights are only saved when they are components.

    Subclasses set ``_weight_subfolders`` (checked for pickle-only weights) and the shim's file name and code.
    """

    _weight_subfolders: tuple[str, ...] = ()
    _pipeline_code_file: str = ""
    _pipeline_code: str = ""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        _force_safetensors(cls.__name__, kwargs)
        folder = Path(str(pretrained_model_name_or_path))
        if folder.is_dir():
            for sub in cls._weight_subfolders:
                check_no_pickle_only_weights(folder / sub, f"{sub} of")
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def save_pretrained(self, save_directory, *args, include_pipeline_code: bool = True, **kwargs):
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(save_directory, *args, **kwargs)
        if include_pipeline_code:
            Path(save_directory, self._pipeline_code_file).write_text(self._pipeline_code, encoding="utf-8")


def loader_shim(module: str, names: str, what: str) -> str:
    """The source of a saved pipeline's loader shim (``custom_pipeline=..., trust_remote_code=True``)."""
    return (
        f'"""Loader shim so that `DiffusionPipeline.from_pretrained(folder_or_repo, custom_pipeline="{module}",\n'
        f'trust_remote_code=True)` finds {names.split(",")[0].strip()}.  The code itself lives in the `express4d` package\n'
        '(`pip install express4d`); this file only re-exports it."""\n'
        "try:\n"
        f"    from pipelines.{module} import {names}  # noqa: F401\n"
        "except ImportError as e:  # pragma: no cover - only hit without the package\n"
        f'    raise ImportError("This {what} needs the `express4d` package: pip install express4d") from e\n'
    )


# --------------------------------------------------------------------------------------------- names
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


def load_motion_pipeline(name_or_path: str, device: str | None = None):
    """Load either express4d pipeline from a folder or Hub id, by ``model_index.json``'s ``_class_name``."""
    import pipelines

    folder = Path(name_or_path)
    if folder.is_dir():
        index_file = folder / "model_index.json"
        if not index_file.is_file():
            raise FileNotFoundError(f"{folder} has no model_index.json; pass a saved Express4DPipeline or T2MGPTPipeline folder")
    else:
        from huggingface_hub import hf_hub_download

        index_file = Path(hf_hub_download(str(name_or_path), "model_index.json"))
    try:
        class_name = json.loads(index_file.read_text(encoding="utf-8")).get("_class_name")
    except json.JSONDecodeError as e:
        raise ValueError(f"{index_file}: not valid JSON ({e})") from None
    if class_name not in ("Express4DPipeline", "T2MGPTPipeline"):
        raise ValueError(
            f"{index_file}: _class_name is {class_name!r}; express4d loads Express4DPipeline or T2MGPTPipeline folders"
        )
    pipe = getattr(pipelines, class_name).from_pretrained(str(name_or_path))
    if device is not None:
        pipe.to(device)
    return pipe


__all__ = [
    "BUNDLED_GENERATORS", "BUNDLED_MODELS", "DEFAULT_MODELS_DIR", "PICKLE_WEIGHT_SUFFIXES", "SafePipelineIO", "SafeTensorsOnly",
    "check_no_pickle_only_weights", "default_model_path", "is_bundled_path", "load_motion_pipeline", "loader_shim",
    "resolve_model_path",
]
