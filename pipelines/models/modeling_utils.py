"""Loading express4d models safely: safetensors only, and a broken folder refused with one clear message.

:func:`check_no_pickle_only_weights` refuses a folder that holds only pickle weights (unpickling runs
arbitrary code); :class:`SafeTensorsOnly` makes a model class's ``from_pretrained`` load safetensors
alone and checks a local folder first (:func:`check_model_folder`).  The pipelines' counterpart is
``pipelines.pipeline_utils.SafePipelineIO``.

Every model in this folder imports this file, so transformers' remote-code saving copies it beside the
weights of a VQ-VAE, T2M-GPT prior or evaluator: it imports only the standard library (safetensors
lazily) and nothing from outside this folder.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")



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


def force_safetensors(cls_name: str, kwargs: dict) -> None:
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
        force_safetensors(cls.__name__, kwargs)
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


def register_auto_classes(config_class, model_class) -> None:
    """Register a transformers model with ``AutoConfig`` / ``AutoModel`` (by its unique ``model_type``) and for
    remote code: ``save_pretrained`` then copies the model's files beside the weights and writes
    ``config.json``'s ``auto_map``, so a saved folder also loads with ``trust_remote_code=True``."""
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    config_class.register_for_auto_class()
    model_class.register_for_auto_class("AutoModel")


__all__ = [
    "PICKLE_WEIGHT_SUFFIXES", "SafeTensorsOnly", "check_model_folder", "check_no_pickle_only_weights", "force_safetensors",
    "register_auto_classes",
]
