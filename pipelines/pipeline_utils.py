"""What both express4d pipelines share: the call contract's checks, the prompt encoding, safe save/load.

* ``Express4DPipeline`` and ``T2MGPTPipeline`` honour one call contract (:data:`CALL_ARGUMENTS`);
  every argument a caller can get wrong is checked here (prompts, lengths, per-prompt values, editing
  inputs, callbacks), before any compute, with a message that names the argument and what to pass
  instead (:func:`prepare_request` -> :class:`MotionRequest`).
* :class:`PromptEncodingMixin`: the text encoder a pipeline uses and the encoding every
  ``encode_prompt`` starts with.
* :class:`SafePipelineIO`: ``from_pretrained`` from safetensors only, components from diffusers,
  transformers and this package only (:func:`check_model_index`: a model folder never runs its own code,
  whatever the diffusers version), and ``save_pretrained`` that writes the ``custom_pipeline=`` loader shim
  (:func:`loader_shim`).
* :func:`cpu_bfloat16_is_native`: whether bfloat16 on this CPU runs in hardware (else it is emulated,
  several times slower than float32).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from express4d_dataset.arkit import BENCHMARK_FPS, NUM_CHANNELS

from .models.modeling_utils import check_no_pickle_only_weights, force_safetensors
from .models.text_encoding import TextEmbeddings, encode_text, resolve_text_encoder

PromptInput = str | Sequence[str]
LengthInput = int | Sequence[int] | None
SecondsInput = float | Sequence[float] | None

CALL_ARGUMENTS = (
    "prompt", "negative_prompt", "num_frames", "seconds", "num_inference_steps", "guidance_scale",
    "num_motions_per_prompt", "generator", "prompt_embeds", "negative_prompt_embeds", "output_type", "output_fps",
    "return_dict", "callback_on_step_end", "callback_on_step_end_tensor_inputs",
)
"""The arguments both pipelines' ``__call__`` take first, in this order, with the same defaults; each
model's own extras (editing inputs, ``temperature``, ...) come after them."""


def check_prompts(prompt: PromptInput, name: str = "prompt") -> list[str]:
    """Return ``prompt`` as a non-empty list of strings, or raise naming the argument.

    ``""`` is allowed and means "no text" (the unconditional embedding).
    """
    if isinstance(prompt, str):
        return [prompt]
    if prompt is None:
        raise ValueError(f"{name}: got None; pass a text prompt or a list of prompts")
    try:
        prompts = list(prompt)
    except TypeError:
        raise TypeError(f"{name}: expected a string or a list of strings, got {type(prompt).__name__}") from None
    if len(prompts) == 0:
        raise ValueError(f"{name}: got an empty list; pass at least one text prompt")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(f"{name}[{i}]: expected a string, got {type(p).__name__}")
    return prompts


def _per_prompt(value, n: int, name: str) -> list:
    if isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
        values = [v.item() if hasattr(v, "item") else v for v in value]
        if len(values) != n:
            raise ValueError(f"{name}: got {len(values)} values for {n} prompts; pass one value or one per prompt")
        return values
    return [value] * n


def resolve_num_frames(
    prompts: Sequence[str],
    num_frames: LengthInput = None,
    seconds: SecondsInput = None,
    fps: float = BENCHMARK_FPS,
    max_frames: int = 196,
    default_num_frames: int | None = None,
) -> list[int]:
    """Per-prompt motion lengths in frames at the model's native ``fps``.

    Give ``num_frames`` (int, or one int per prompt) or ``seconds`` (float, or one per prompt,
    converted with ``round(seconds * fps)``), not both.  With neither, every prompt gets
    ``default_num_frames`` (``max_frames`` when None).  Raises ``ValueError`` naming the argument
    for counts that do not match the prompts, lengths <= 0 and lengths beyond ``max_frames``.
    """
    n = len(prompts)
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"the model's frame rate (fps in its config.json) is {fps!r}; a frame rate must be a positive number: "
                         "fix that field or re-save the model")
    if num_frames is not None and seconds is not None:
        raise ValueError("num_frames and seconds were both given; pass only one of them")
    if num_frames is not None:
        lengths = []
        for i, v in enumerate(_per_prompt(num_frames, n, "num_frames")):
            if isinstance(v, bool) or not float(v).is_integer():
                raise ValueError(f"num_frames[{i}]: expected a whole number of frames, got {v!r}")
            lengths.append(int(v))
        source = "num_frames"
    elif seconds is not None:
        lengths = []
        for i, v in enumerate(_per_prompt(seconds, n, "seconds")):
            v = float(v)
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"seconds[{i}]: must be a positive duration, got {v}")
            lengths.append(int(round(v * fps)))
        source = "seconds"
    else:
        default = max_frames if default_num_frames is None else int(default_num_frames)
        lengths = [default] * n
        source = "default_num_frames"
    for i, length in enumerate(lengths):
        if length <= 0:
            raise ValueError(f"{source}[{i}]: the motion length must be at least 1 frame, got {length} frames")
        if length > max_frames:
            raise ValueError(
                f"{source}[{i}]: {length} frames ({length / fps:.2f} s at {fps:g} fps) exceeds the model's maximum of "
                f"{max_frames} frames ({max_frames / fps:.2f} s); ask for a shorter motion"
            )
    return lengths


def repeat_per_prompt(items: Sequence, num_motions_per_prompt: int) -> list:
    """``[a, b]`` -> ``[a, a, b, b]`` for ``num_motions_per_prompt=2`` (the order of the outputs)."""
    check_num_motions_per_prompt(num_motions_per_prompt)
    return [x for x in items for _ in range(num_motions_per_prompt)]


def check_num_motions_per_prompt(num_motions_per_prompt: int) -> int:
    if isinstance(num_motions_per_prompt, bool) or not isinstance(num_motions_per_prompt, (int, np.integer)) or num_motions_per_prompt < 1:
        raise ValueError(f"num_motions_per_prompt: must be a positive integer, got {num_motions_per_prompt!r}")
    return int(num_motions_per_prompt)


DEFAULT_NUM_INFERENCE_STEPS = 20
"""The steps of a few-step sampler (DPM-Solver++, DDIM) when neither the call nor the model says."""


def check_num_inference_steps(value, name: str = "num_inference_steps", maximum: int | None = None) -> int | None:
    """``value`` as an int (None stays None), or a ValueError unless it is a whole number from 1 to ``maximum``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: {value} exceeds the scheduler's {maximum} training steps")
    return int(value)


def check_output_type(output_type: str) -> str:
    if output_type not in ("np", "pt"):
        raise ValueError(f"output_type: must be 'np' (numpy arrays) or 'pt' (torch tensors), got {output_type!r}")
    return output_type


def check_output_fps(output_fps: float | None, native_fps: float) -> float:
    """The output frame rate: ``native_fps`` when None, else a positive number (e.g. 60 for animation tools)."""
    if output_fps is None:
        return float(native_fps)
    if isinstance(output_fps, bool) or not isinstance(output_fps, (int, float, np.number)):
        raise ValueError(f"output_fps: expected a number of frames per second, got {output_fps!r}")
    output_fps = float(output_fps)
    if not math.isfinite(output_fps) or output_fps <= 0:
        raise ValueError(f"output_fps: must be positive, got {output_fps}")
    return output_fps



def _as_float_array(value, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != NUM_CHANNELS:
        raise ValueError(f"{name}: expected a [T, {NUM_CHANNELS}] motion, got shape {tuple(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


def _per_prompt_items(value, n: int, name: str) -> list:
    """A single array applies to every prompt; a list/tuple gives one entry (or None) per prompt."""
    if value is None:
        return [None] * n
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: got {len(value)} entries for {n} prompts; pass one array or one per prompt")
        return list(value)
    return [value] * n


def prepare_known_frames(
    lengths: Sequence[int],
    motion_prefix=None,
    keyframes=None,
    keyframe_mask=None,
) -> tuple[list, list]:
    """Validate the editing inputs; per prompt, ``(known_motion [L, 61] or None, known_mask [L, 61] bool or None)``.

    ``motion_prefix``: a ``[P, 61]`` motion (denormalised, native fps) the generated motion continues;
    its P frames are kept as frames ``0..P-1``.  ``keyframes`` ``[K, 61]`` with ``keyframe_mask``
    (``[K]`` bool = whole frames, or ``[K, 61]`` = single channels) pins the masked values at
    frames ``0..K-1`` (in-betweening).  Each may be one array for all prompts or a list with one
    entry (or None) per prompt.  Values, motion and masks are denormalised-space numpy arrays.
    """
    n = len(lengths)
    prefixes = _per_prompt_items(motion_prefix, n, "motion_prefix")
    keys = _per_prompt_items(keyframes, n, "keyframes")
    masks = _per_prompt_items(keyframe_mask, n, "keyframe_mask")
    known, known_masks = [], []
    for i, (length, prefix, key, mask) in enumerate(zip(lengths, prefixes, keys, masks)):
        values = np.zeros((length, NUM_CHANNELS), dtype=np.float32)
        m = np.zeros((length, NUM_CHANNELS), dtype=bool)
        if (key is None) != (mask is None):
            raise ValueError(f"keyframes and keyframe_mask must be given together (prompt {i} has only one of them)")
        if prefix is not None:
            prefix = _as_float_array(prefix, f"motion_prefix[{i}]")
            if len(prefix) == 0 or len(prefix) >= length:
                raise ValueError(
                    f"motion_prefix[{i}]: {len(prefix)} frames, but the motion is {length} frames long; the prefix must "
                    "have at least 1 frame and fewer than num_frames (num_frames counts the prefix)"
                )
            values[: len(prefix)] = prefix
            m[: len(prefix)] = True
        if key is not None:
            key = _as_float_array(key, f"keyframes[{i}]")
            mask_arr = np.asarray(mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else mask)
            if mask_arr.dtype != bool:
                raise ValueError(f"keyframe_mask[{i}]: expected a boolean array, got dtype {mask_arr.dtype}")
            if mask_arr.ndim == 1:
                mask_arr = np.repeat(mask_arr[:, None], NUM_CHANNELS, axis=1)
            if mask_arr.shape != key.shape:
                raise ValueError(
                    f"keyframe_mask[{i}]: shape {tuple(np.shape(mask))} does not match keyframes[{i}] {tuple(key.shape)}; "
                    f"use [K] (whole frames) or [K, {NUM_CHANNELS}] (single channels)"
                )
            if len(key) > length:
                if mask_arr[length:].any():
                    raise ValueError(f"keyframes[{i}]: a keyframe lies at or after frame {length}, beyond the motion's length")
                key, mask_arr = key[:length], mask_arr[:length]
            values[: len(key)][mask_arr] = key[mask_arr]
            m[: len(key)] |= mask_arr
        if m.any():
            known.append(values)
            known_masks.append(m)
        else:
            known.append(None)
            known_masks.append(None)
    return known, known_masks



def check_generator(generator, batch_size: int) -> None:
    """``generator``: None, one ``torch.Generator``, or a list with one per motion."""
    if generator is None or isinstance(generator, torch.Generator):
        return
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch_size:
            raise ValueError(f"generator: got a list of {len(generator)} generators for {batch_size} motions; pass one per motion")
        for i, g in enumerate(generator):
            if not isinstance(g, torch.Generator):
                raise TypeError(f"generator[{i}]: expected a torch.Generator, got {type(g).__name__}")
        return
    raise TypeError(f"generator: expected a torch.Generator or a list of them, got {type(generator).__name__}")


def check_unsupported(pipeline_name: str, **given) -> None:
    """Raise for a contract argument this pipeline cannot honour (``given``: name -> value, None = not given)."""
    for name, value in given.items():
        if value is not None:
            raise ValueError(f"{name}: {pipeline_name} does not support it ({UNSUPPORTED_REASONS.get(name, 'not used by this model')})")


UNSUPPORTED_REASONS = {
    "negative_prompt": "it has no classifier-free guidance; leave it None",
    "negative_prompt_embeds": "it has no classifier-free guidance; leave it None",
    "guidance_scale": "it samples codes from the prior's softmax without classifier-free guidance; use temperature or top_k",
    "num_inference_steps": "it writes one code per 4 frames, not a number of denoising steps; leave it None",
}


def check_prompt_embeds(prompt, prompt_embeds, name: str = "prompt_embeds", prompt_name: str = "prompt"):
    """``(prompts, embeddings or None)`` from a call's ``prompt`` and precomputed ``prompt_embeds``.

    ``prompt_embeds``: a :class:`~pipelines.models.text_encoding.TextEmbeddings` (from ``pipe.encode_prompt`` or
    :func:`~pipelines.models.text_encoding.encode_text`: pooled vectors and token states) or a ``[B, D]`` tensor
    of pooled vectors (enough for models that read the pooled vector).  With embeddings, ``prompt`` may
    be None (the outputs are then labelled ``""``) or give one label per embedding row.
    """
    if prompt_embeds is None:
        return check_prompts(prompt, prompt_name), None
    if isinstance(prompt_embeds, torch.Tensor):
        if prompt_embeds.ndim != 2:
            raise ValueError(
                f"{name}: a tensor must hold pooled embeddings [B, D], got shape {tuple(prompt_embeds.shape)}; for token "
                "states pass the TextEmbeddings that pipe.encode_prompt(...) returns"
            )
        batch = prompt_embeds.shape[0]
        empty = TextEmbeddings.unconditional(batch, prompt_embeds.shape[1], prompt_embeds.shape[1], prompt_embeds.device,
                                             prompt_embeds.dtype)
        prompt_embeds = TextEmbeddings(prompt_embeds, empty.tokens, empty.mask)
    elif not isinstance(prompt_embeds, TextEmbeddings):
        raise TypeError(f"{name}: expected TextEmbeddings (pipe.encode_prompt) or a [B, D] tensor, got {type(prompt_embeds).__name__}")
    if len(prompt_embeds) == 0:
        raise ValueError(f"{name}: holds no prompts")
    if prompt is None:
        return [""] * len(prompt_embeds), prompt_embeds
    prompts = check_prompts(prompt, prompt_name)
    if len(prompts) != len(prompt_embeds):
        raise ValueError(
            f"{prompt_name}: {len(prompts)} prompts label {len(prompt_embeds)} rows of {name}; pass one label per row, or prompt=None"
        )
    return prompts, prompt_embeds


@dataclass
class MotionRequest:
    """A checked call of either pipeline (what every ``__call__`` validates before any compute).

    ``prompts``: one label per prompt; ``embeds``: precomputed :class:`~pipelines.models.text_encoding.TextEmbeddings`
    (one row per prompt) or None; ``lengths``: native frames per prompt, or None when the model
    chooses (T2M-GPT without a length); ``num_motions_per_prompt``; ``batch_size`` = prompts x that;
    ``output_fps``; ``output_type``; ``callback`` and the tensor names it receives.
    """

    prompts: list
    embeds: object
    lengths: list | None
    num_motions_per_prompt: int
    output_fps: float
    output_type: str
    callback: object = None
    callback_tensor_inputs: list = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        return len(self.prompts) * self.num_motions_per_prompt

    @property
    def captions(self) -> list:
        """The prompt of each output motion (``num_motions_per_prompt`` in a row)."""
        return repeat_per_prompt(self.prompts, self.num_motions_per_prompt)


def check_callback(pipe, callback_on_step_end, callback_on_step_end_tensor_inputs) -> tuple[object, list]:
    """The step callback (a callable or a diffusers ``PipelineCallback``) and the tensor names it receives
    (default: the pipeline's first ``_callback_tensor_inputs``)."""
    from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback

    if isinstance(callback_on_step_end, (PipelineCallback, MultiPipelineCallbacks)):
        callback_on_step_end_tensor_inputs = callback_on_step_end.tensor_inputs
    if callback_on_step_end is not None and not callable(callback_on_step_end):
        raise ValueError("callback_on_step_end: must be callable as fn(pipe, step, timestep, callback_kwargs) -> dict")
    allowed = list(pipe._callback_tensor_inputs)
    if callback_on_step_end_tensor_inputs is None:
        callback_on_step_end_tensor_inputs = allowed[:1]
    bad = [k for k in callback_on_step_end_tensor_inputs if k not in allowed]
    if bad:
        raise ValueError(f"callback_on_step_end_tensor_inputs: {bad} not in {allowed} (what {type(pipe).__name__} passes)")
    return callback_on_step_end, list(callback_on_step_end_tensor_inputs)


def prepare_request(
    pipe,
    prompt,
    num_frames,
    seconds,
    num_motions_per_prompt,
    generator,
    prompt_embeds,
    output_type,
    output_fps,
    callback_on_step_end,
    callback_on_step_end_tensor_inputs,
    lengths_optional: bool = False,
) -> MotionRequest:
    """Check the contract arguments every pipeline shares, before any compute.

    ``pipe`` provides ``fps`` and ``max_frames``.  ``lengths_optional``: without ``num_frames`` /
    ``seconds`` the model picks the length itself (``lengths`` is then None) instead of using
    ``max_frames``.
    """
    callback, tensor_inputs = check_callback(pipe, callback_on_step_end, callback_on_step_end_tensor_inputs)
    prompts, embeds = check_prompt_embeds(prompt, prompt_embeds)
    n = check_num_motions_per_prompt(num_motions_per_prompt)
    check_output_type(output_type)
    out_fps = check_output_fps(output_fps, pipe.fps)
    lengths = None
    if not (lengths_optional and num_frames is None and seconds is None):
        lengths = resolve_num_frames(prompts, num_frames, seconds, fps=pipe.fps, max_frames=pipe.max_frames)
    check_generator(generator, len(prompts) * n)
    return MotionRequest(prompts, embeds, lengths, n, out_fps, output_type, callback, tensor_inputs)


def run_callback(request: MotionRequest, pipe, step: int, timestep, tensors: dict) -> dict:
    """Call the request's step callback with the tensors it asked for; returns what it gives back ({} if none)."""
    if request.callback is None:
        return {}
    kwargs = {k: tensors[k] for k in request.callback_tensor_inputs}
    return request.callback(pipe, step, timestep, kwargs) or {}


# --------------------------------------------------------------------------------------------- prompt encoding
class PromptEncodingMixin:
    """The text side of both pipelines.  A pipeline sets ``_text_owner`` (the component whose config names
    the text encoder: ``"denoiser"``, ``"prior"``) and :meth:`_text_owner_config`."""

    _text_owner: str = ""

    def _text_owner_config(self):
        raise NotImplementedError(f"{type(self).__name__}: return the config that names the text encoder")

    def get_text_encoder(self, device: torch.device | str | None = None):
        """``(text_encoder, tokenizer)``: the components, or the encoder the model's config names
        (``text_encoder_name_or_path``; loaded once per process; moved to ``device`` when given)."""
        config = self._text_owner_config()
        return resolve_text_encoder(
            self.text_encoder, self.tokenizer, config.text_encoder_name_or_path, config.text_embed_dim, self._text_owner, device
        )

    def _prompt_embeddings(self, prompt, prompt_embeds, device, dtype, name: str = "prompt_embeds", prompt_name: str = "prompt"):
        """``(prompts, TextEmbeddings)``: ``prompt`` encoded once (one forward of the frozen encoder gives the
        pooled vector and the token states), or the checked ``prompt_embeds`` moved to ``device`` / ``dtype``."""
        prompts, embeds = check_prompt_embeds(prompt, prompt_embeds, name, prompt_name)
        if embeds is None:
            text_encoder, tokenizer = self.get_text_encoder(device)
            return prompts, encode_text(text_encoder, tokenizer, prompts, device=device, dtype=dtype)
        return prompts, embeds.to(device=device, dtype=dtype)


# --------------------------------------------------------------------------------------------- saving and loading
COMPONENT_LIBRARIES = ("diffusers", "transformers", "pipelines")
"""The modules a ``model_index.json`` component may come from (``pipelines`` and its submodules: this package)."""


def check_model_index(name_or_path) -> None:
    """Refuse a pipeline whose ``model_index.json`` names a component module other than diffusers', transformers'
    or this package's: such a module is a ``.py`` file of the model folder (or Hub repo), and loading the folder
    would run it (diffusers before 0.42 does, without asking).  A Hub id's index is fetched alone, first."""
    folder = Path(str(name_or_path))
    if folder.is_dir():
        index_file = folder / "model_index.json"
        if not index_file.is_file():
            return  # diffusers says what is missing
    else:
        from huggingface_hub import hf_hub_download

        try:
            index_file = Path(hf_hub_download(str(name_or_path), "model_index.json"))
        except Exception:  # noqa: BLE001 - not a Hub repo, offline, ...: from_pretrained reports it
            return
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{index_file}: not a readable model_index.json ({e})") from None
    if not isinstance(index, dict):
        raise ValueError(f"{index_file}: expected a JSON object")
    for component, value in index.items():
        if component.startswith("_") or not isinstance(value, (list, tuple)) or len(value) != 2:
            continue
        library = value[0]
        if library is None or (isinstance(library, str) and library.split(".")[0] in COMPONENT_LIBRARIES):
            continue
        where = ""
        if isinstance(library, str) and folder.is_dir():
            files = [p for p in (folder / component / f"{library}.py", folder / f"{library}.py") if p.is_file()]
            where = f" (a file of the model folder: {files[0]})" if files else ""
        raise ValueError(
            f"{index_file}: component {component!r} names the module {library!r}{where}; express4d loads components "
            f"from {', '.join(COMPONENT_LIBRARIES)} only and never runs code from a model folder: use a folder saved "
            "by express4d, or inspect this one"
        )


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
        from . import register_moved_modules

        register_moved_modules()  # a folder saved before the re-foldering names e.g. pipelines.denoiser_mdm
        force_safetensors(cls.__name__, kwargs)
        check_model_index(pretrained_model_name_or_path)
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


def loader_shim(custom_pipeline: str, names: str, what: str) -> str:
    """The source of a saved pipeline's loader shim (``custom_pipeline=..., trust_remote_code=True``).

    It imports ``names`` from the package's public names (``from pipelines import ...``), not from the
    module that defines them, so a later move of that module never breaks a saved folder.  Shims saved
    before imported ``pipelines.pipeline_express4d`` / ``pipelines.pipeline_t2m_gpt``, which stay importable
    (``pipelines.MOVED_MODULES``)."""
    return (
        f'"""Loader shim so that `DiffusionPipeline.from_pretrained(folder_or_repo, custom_pipeline="{custom_pipeline}",\n'
        f'trust_remote_code=True)` finds {names.split(",")[0].strip()}.  The code itself lives in the `express4d` package\n'
        '(`pip install express4d`); this file only re-exports it."""\n'
        "try:\n"
        f"    from pipelines import {names}  # noqa: F401\n"
        "except ImportError as e:  # pragma: no cover - only hit without the package\n"
        f'    raise ImportError("This {what} needs the `express4d` package: pip install express4d") from e\n'
    )


__all__ = [
    "CALL_ARGUMENTS", "COMPONENT_LIBRARIES", "LengthInput", "MotionRequest", "PromptEncodingMixin", "PromptInput",
    "SafePipelineIO", "SecondsInput", "UNSUPPORTED_REASONS", "check_callback", "check_generator", "check_model_index",
    "check_num_motions_per_prompt", "check_output_fps", "check_output_type", "check_prompt_embeds", "check_prompts",
    "check_unsupported", "loader_shim", "prepare_known_frames", "prepare_request", "repeat_per_prompt",
    "resolve_num_frames", "run_callback",
]


def cpu_bfloat16_is_native() -> bool | None:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX), where bfloat16 autocast is faster than
    float32; without them PyTorch emulates it and it is several times slower (an MDM training step 14x, on
    a 2-core AVX2 EPYC).  None when PyTorch cannot tell (its private probes moved)."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if not all(callable(p) for p in probes):
        return None
    try:
        return any(bool(p()) for p in probes)
    except Exception:  # a probe that fails to run says nothing about the CPU
        return None


def slow_bfloat16_warning(option: str, fix: str) -> str | None:
    """A warning for ``option`` (``--mixed_precision bf16`` / ``--precision bf16``) on a CPU without native
    bfloat16, naming ``fix``; None where bfloat16 is native or unknown."""
    if cpu_bfloat16_is_native() is not False:
        return None
    return (f"{option} on this CPU: it has no bfloat16 instructions (no avx512_bf16 or amx_bf16 in lscpu), so "
            f"PyTorch emulates bfloat16 and runs several times slower than float32; pass {fix} unless you need "
            "bfloat16's numbers")

