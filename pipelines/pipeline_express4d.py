"""``Express4DPipeline``: text -> facial motion with the MDM denoiser and any diffusers scheduler.

Also holds the pieces every express4d text-to-motion pipeline shares (``T2MGPTPipeline`` imports
them): prompt / length checks (:func:`check_prompts`, :func:`resolve_num_frames`,
:func:`repeat_per_prompt`), output-rate handling (:func:`check_output_fps`,
:func:`finalize_motions`) and the output dataclass :class:`Express4DPipelineOutput`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from express4d_dataset.arkit import BENCHMARK_FPS, CHANNEL_NAMES, NUM_CHANNELS
from express4d_dataset.livelink import write_livelink_csv
from express4d_dataset.motion import MotionStats, resample

from .denoiser_mdm import MDMDenoiser, check_no_pickle_only_weights

logger = logging.getLogger(__name__)

PromptInput = str | Sequence[str]
LengthInput = int | Sequence[int] | None
SecondsInput = float | Sequence[float] | None


# --------------------------------------------------------------------------------------------
# Shared input handling (used by Express4DPipeline and T2MGPTPipeline)
# --------------------------------------------------------------------------------------------


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


def finalize_motions(
    motions: torch.Tensor,
    lengths: Sequence[int],
    stats: MotionStats | None,
    native_fps: float,
    output_fps: float | None = None,
    output_type: str = "np",
) -> list:
    """Turn a normalised batch ``[B, T, 61]`` into the pipeline outputs.

    Each motion is trimmed to its length, denormalised with ``stats`` (skipped when None),
    linearly interpolated from ``native_fps`` to ``output_fps`` (see
    :func:`express4d_dataset.motion.resample`) and returned as float32 numpy arrays
    (``output_type="np"``) or CPU torch tensors (``"pt"``).
    """
    check_output_type(output_type)
    out_fps = check_output_fps(output_fps, native_fps)
    if motions.ndim != 3 or motions.shape[-1] != NUM_CHANNELS:
        raise ValueError(f"motions: expected [B, T, {NUM_CHANNELS}], got {tuple(motions.shape)}")
    if len(lengths) != motions.shape[0]:
        raise ValueError(f"lengths: got {len(lengths)} lengths for {motions.shape[0]} motions")
    results = []
    batch = motions.detach().float().cpu()
    for motion, length in zip(batch, lengths):
        m = motion[: int(length)]
        if stats is not None:
            m = stats.denormalize(m)
        if out_fps != native_fps:
            m = resample(m, native_fps, out_fps)
        results.append(m.numpy().astype(np.float32) if output_type == "np" else m.contiguous())
    return results


_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def safe_file_stem(text: str, max_len: int = 48) -> str:
    """A file-name-safe stem from a caption: ASCII letters/digits joined by ``_``, never empty."""
    stem = _UNSAFE.sub("_", text).strip("_").lower()[:max_len].rstrip("_")
    return stem or "motion"


@dataclass
class Express4DPipelineOutput(BaseOutput):
    """Output of the express4d text-to-motion pipelines.

    Args:
        motions: one ``[T, 61]`` denormalised motion per generated sample (numpy float32 arrays
            for ``output_type="np"``, torch tensors for ``"pt"``), channels in Live Link Face order,
            ordered prompt by prompt (``num_motions_per_prompt`` consecutive samples each).
        fps: frame rate of ``motions``.
        captions: the prompt of each motion.
    """

    motions: list
    fps: float
    captions: list

    def save_livelink_csv(self, dir_or_path: str | os.PathLike) -> list[str]:
        """Write each motion as a Live Link Face CSV (importable in Unreal / Blender); returns the paths.

        A path ending in ``.csv`` is valid for a single motion.  Anything else is a directory
        (created if needed) that receives ``000_<caption>.csv``, ``001_<caption>.csv``, ...
        """
        target = Path(dir_or_path)
        motions = [m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m) for m in self.motions]
        if target.suffix.lower() == ".csv":
            if len(motions) != 1:
                raise ValueError(
                    f"save_livelink_csv: {target} is a single .csv file but there are {len(motions)} motions; "
                    "pass a directory instead"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            write_livelink_csv(target, motions[0], fps=self.fps)
            return [str(target)]
        if target.exists() and not target.is_dir():
            raise ValueError(f"save_livelink_csv: {target} exists and is not a directory")
        target.mkdir(parents=True, exist_ok=True)
        width = max(3, len(str(len(motions) - 1)))
        paths = []
        captions = list(self.captions) + [""] * (len(motions) - len(self.captions))
        for i, (motion, caption) in enumerate(zip(motions, captions)):
            path = target / f"{i:0{width}d}_{safe_file_stem(caption)}.csv"
            write_livelink_csv(path, motion, fps=self.fps)
            paths.append(str(path))
        return paths


# --------------------------------------------------------------------------------------------
# Editing inputs (motion prefix / keyframes) and the pipeline
# --------------------------------------------------------------------------------------------

PIPELINE_CODE_FILE = "pipeline_express4d.py"
_PIPELINE_CODE = '''"""Loader shim so that `DiffusionPipeline.from_pretrained(folder_or_repo, custom_pipeline="pipeline_express4d",
trust_remote_code=True)` finds Express4DPipeline.  The code itself lives in the `express4d` package
(`pip install express4d`); this file only re-exports it."""
try:
    from pipelines.pipeline_express4d import Express4DPipeline, Express4DPipelineOutput  # noqa: F401
except ImportError as e:  # pragma: no cover - only hit without the package
    raise ImportError("This Express4D pipeline needs the `express4d` package: pip install express4d") from e
'''


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
        if kwargs.get("use_safetensors") is False:
            raise ValueError(
                f"{cls.__name__}.from_pretrained: use_safetensors=False is not supported; weights load from safetensors only"
            )
        folder = Path(str(pretrained_model_name_or_path))
        if folder.is_dir():
            for sub in cls._weight_subfolders:
                check_no_pickle_only_weights(folder / sub, f"{sub} of")
        kwargs["use_safetensors"] = True
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def save_pretrained(self, save_directory, *args, include_pipeline_code: bool = True, **kwargs):
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(save_directory, *args, **kwargs)
        if include_pipeline_code:
            Path(save_directory, self._pipeline_code_file).write_text(self._pipeline_code, encoding="utf-8")


class Express4DPipeline(SafePipelineIO, DiffusionPipeline):
    """Text -> facial motion (61 Live Link Face channels) with an :class:`MDMDenoiser` and a diffusers scheduler.

    Components:
        denoiser: :class:`~pipelines.denoiser_mdm.MDMDenoiser` (x0 prediction; carries fps, channels, stats).
        scheduler: DDPMScheduler (faithful 1000 steps), DDIMScheduler or DPMSolverMultistepScheduler,
            all with ``prediction_type="sample"``; swap with ``Scheduler.from_config(pipe.scheduler.config)``.
        text_encoder, tokenizer: optional.  When None, the encoder named by the denoiser's
            ``text_encoder_name`` is loaded on first use and cached (so saved pipelines need not
            duplicate the encoder's weights).

    Example::

        pipe = Express4DPipeline.from_pretrained("path/or/repo")
        out = pipe("A person is smiling softly", seconds=6, num_inference_steps=20,
                   generator=torch.Generator().manual_seed(0), output_fps=60)
        out.save_livelink_csv("smile.csv")
    """

    model_cpu_offload_seq = "text_encoder->denoiser"
    _optional_components = ["text_encoder", "tokenizer"]
    _weight_subfolders = ("denoiser", "text_encoder")
    _pipeline_code_file = PIPELINE_CODE_FILE
    _pipeline_code = _PIPELINE_CODE
    _callback_tensor_inputs = ["latents", "x0_pred"]

    def __init__(self, denoiser, scheduler, text_encoder=None, tokenizer=None):
        super().__init__()
        self.check_denoiser(denoiser)
        self.register_modules(denoiser=denoiser, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def check_denoiser(denoiser) -> None:
        """Raise when a denoiser cannot produce Live Link Face motions on its own."""
        config = denoiser.config
        if int(config.num_channels) != NUM_CHANNELS:
            raise ValueError(
                f"denoiser: the checkpoint has num_channels={config.num_channels}, but Express4D motions have "
                f"{NUM_CHANNELS} Live Link Face channels; use a checkpoint trained on Express4D"
            )
        names = getattr(config, "channel_names", None)
        if names is not None and [str(n).lower() for n in names] != [n.lower() for n in CHANNEL_NAMES]:
            raise ValueError("denoiser: config channel_names differ from the 61 Live Link Face channels in order")
        if getattr(config, "motion_mean", None) is None or getattr(config, "motion_std", None) is None:
            raise ValueError(
                "denoiser: the checkpoint config has no normalisation statistics (motion_mean / motion_std), so its "
                "samples cannot be denormalised; call denoiser.set_motion_stats(MotionStats.load(...)) and save again"
            )
        MotionStats(mean=config.motion_mean, std=config.motion_std)  # validates length and values

    @staticmethod
    def default_scheduler_config(num_train_timesteps: int = 1000) -> dict:
        """The faithful MDM schedule: DDPM, cosine betas (``squaredcos_cap_v2``), x0 prediction, no clipping."""
        return dict(
            num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2", prediction_type="sample",
            variance_type="fixed_small", clip_sample=False, timestep_spacing="trailing",
        )

    @classmethod
    def from_denoiser_config(
        cls,
        stats: MotionStats,
        preset: str = "small",
        text_encoder=None,
        tokenizer=None,
        scheduler=None,
        **denoiser_overrides,
    ) -> "Express4DPipeline":
        """A fresh pipeline with a randomly initialised denoiser (for training from scratch).

        ``stats`` are stored in the denoiser config; ``text_embed_dim`` is taken from ``text_encoder``
        when given (else 384, all-MiniLM-L6-v2).  The scheduler defaults to DDPM-1000 with the cosine
        schedule.  Extra keyword arguments override the preset (e.g. ``num_layers=2``).  The denoiser
        starts in eval mode, as after ``from_pretrained``; call ``pipe.denoiser.train()`` to train it.
        """
        from diffusers import DDPMScheduler

        from .text_encoding import text_embedding_dim

        if text_encoder is not None:
            denoiser_overrides.setdefault("text_embed_dim", text_embedding_dim(text_encoder))
        denoiser = MDMDenoiser.from_preset(preset, stats=stats, **denoiser_overrides).eval()  # like from_pretrained
        if scheduler is None:
            scheduler = DDPMScheduler(**cls.default_scheduler_config(denoiser.config.num_train_timesteps))
        return cls(denoiser=denoiser, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)

    # ------------------------------------------------------------------ properties
    @property
    def fps(self) -> float:
        return float(self.denoiser.config.fps)

    @property
    def max_frames(self) -> int:
        return int(self.denoiser.config.max_frames)

    @property
    def motion_stats(self) -> MotionStats:
        return MotionStats(mean=self.denoiser.config.motion_mean, std=self.denoiser.config.motion_std)

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale != 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    # ------------------------------------------------------------------ text
    def get_text_encoder(self, device: torch.device | str | None = None):
        """``(text_encoder, tokenizer)``: the components, or the denoiser's named default encoder
        (loaded once per process; moved to ``device`` when given)."""
        from .text_encoding import resolve_text_encoder

        config = self.denoiser.config
        return resolve_text_encoder(
            self.text_encoder, self.tokenizer, config.text_encoder_name, config.text_embed_dim, "denoiser", device
        )

    def encode_prompt(
        self,
        prompt: list[str],
        device: torch.device,
        num_motions_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True,
        negative_prompt: list[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(cond [B*n, D], uncond [B*n, D] or None)``; the unconditional embedding is zeros unless
        ``negative_prompt`` is given.  Each text is encoded once per call, not per step."""
        from .text_encoding import encode_prompts

        text_encoder, tokenizer = self.get_text_encoder(device)
        dtype = self.denoiser.dtype
        texts = list(prompt) + (list(negative_prompt) if (do_classifier_free_guidance and negative_prompt) else [])
        emb = encode_prompts(text_encoder, tokenizer, texts, device=device, dtype=dtype)
        cond = emb[: len(prompt)].repeat_interleave(num_motions_per_prompt, dim=0)
        if not do_classifier_free_guidance:
            return cond, None
        if negative_prompt:
            uncond = emb[len(prompt):].repeat_interleave(num_motions_per_prompt, dim=0)
        else:
            uncond = torch.zeros_like(cond)
        return cond, uncond

    # ------------------------------------------------------------------ checks
    def check_inputs(
        self,
        prompts: list[str],
        negative_prompt,
        num_inference_steps,
        guidance_scale,
        generator,
        batch_size: int,
        latents,
        num_frames_max: int,
        callback_on_step_end_tensor_inputs,
    ):
        if negative_prompt is not None:
            negative = check_prompts(negative_prompt, "negative_prompt")
            if len(negative) != len(prompts):
                raise ValueError(f"negative_prompt: got {len(negative)} prompts for {len(prompts)} prompts; pass one per prompt")
        if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) or not math.isfinite(guidance_scale):
            raise ValueError(f"guidance_scale: expected a finite number, got {guidance_scale!r}")
        if guidance_scale < 0:
            raise ValueError(f"guidance_scale: must be >= 0 (1 = no guidance, 2.5 = the paper's value), got {guidance_scale}")
        if num_inference_steps is not None and (
            isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, (int, np.integer)) or num_inference_steps < 1
        ):
            raise ValueError(f"num_inference_steps: must be a positive integer, got {num_inference_steps!r}")
        train_steps = int(self.scheduler.config.num_train_timesteps)
        if num_inference_steps is not None and num_inference_steps > train_steps:
            raise ValueError(f"num_inference_steps: {num_inference_steps} exceeds the scheduler's {train_steps} training steps")
        prediction_type = getattr(self.scheduler.config, "prediction_type", "sample")
        if prediction_type != "sample":
            raise ValueError(
                f"scheduler: prediction_type={prediction_type!r}, but the MDM denoiser predicts the clean motion; "
                "create the scheduler with prediction_type='sample' (e.g. Scheduler.from_config(pipe.scheduler.config))"
            )
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(f"generator: got a list of {len(generator)} generators for {batch_size} motions; pass one per motion")
        if latents is not None:
            expected = (batch_size, num_frames_max, NUM_CHANNELS)
            if tuple(latents.shape) != expected:
                raise ValueError(f"latents: expected shape {expected}, got {tuple(latents.shape)}")
        if callback_on_step_end_tensor_inputs is not None:
            bad = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
            if bad:
                raise ValueError(f"callback_on_step_end_tensor_inputs: {bad} not in {self._callback_tensor_inputs}")

    def prepare_latents(self, batch_size, num_frames, dtype, device, generator, latents=None) -> torch.Tensor:
        """Initial noise ``[B, T, 61]`` scaled by the scheduler's ``init_noise_sigma``."""
        from diffusers.utils.torch_utils import randn_tensor

        shape = (batch_size, num_frames, NUM_CHANNELS)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        else:
            latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma

    def _default_num_inference_steps(self) -> int:
        if type(self.scheduler).__name__ == "DDPMScheduler":
            return int(self.scheduler.config.num_train_timesteps)
        return 20

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        prompt: PromptInput,
        negative_prompt: PromptInput | None = None,
        num_frames: LengthInput = None,
        seconds: SecondsInput = None,
        num_inference_steps: int | None = None,
        guidance_scale: float = 2.5,
        num_motions_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        motion_prefix=None,
        keyframes=None,
        keyframe_mask=None,
        output_fps: float | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ):
        """Generate facial motions from text.

        Args:
            prompt: a text or a list of texts (``""`` = unconditional).
            negative_prompt: texts whose embeddings replace the zero (unconditional) embedding in guidance.
            num_frames: length in native frames (int or one per prompt); or give ``seconds``. Default:
                the model's maximum (196 frames = 9.8 s at 20 fps).  With ``motion_prefix`` it counts the prefix.
            seconds: length in seconds (float or one per prompt), ``round(seconds * fps)`` frames.
            num_inference_steps: scheduler steps; default 1000 for DDPMScheduler (the paper), else 20.
            guidance_scale: classifier-free guidance ``uncond + s * (cond - uncond)`` on the x0 prediction
                (2.5 as in the paper; 1 disables it).  Both branches run in one batched forward.
            num_motions_per_prompt: samples per prompt (outputs are grouped prompt by prompt).
            generator: a ``torch.Generator`` (or one per motion) for reproducible sampling.
            latents: initial noise ``[B * n, max(num_frames), 61]`` instead of drawing it.
            motion_prefix: ``[P, 61]`` denormalised motion at native fps to continue (one for all prompts or a
                list per prompt); its frames are kept exactly.
            keyframes, keyframe_mask: ``[K, 61]`` values with a ``[K]`` or ``[K, 61]`` bool mask of the frames /
                channels to keep (in-betweening by inpainting the x0 prediction at every step).
            output_fps: output frame rate (default native; e.g. 60 for Live Link / Unreal), linear interpolation.
            output_type: ``"np"`` (float32 arrays) or ``"pt"`` (tensors).
            return_dict: return :class:`Express4DPipelineOutput` (default) or ``(motions, fps, captions)``.
            callback_on_step_end: ``fn(pipe, step, timestep, callback_kwargs) -> dict`` after every step;
                may replace ``latents``.  ``callback_on_step_end_tensor_inputs`` picks the tensors passed
                (``"latents"``, ``"x0_pred"``); default ``["latents"]``.
        """
        from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback

        if isinstance(callback_on_step_end, (PipelineCallback, MultiPipelineCallbacks)):
            callback_on_step_end_tensor_inputs = callback_on_step_end.tensor_inputs
        if callback_on_step_end_tensor_inputs is None:
            callback_on_step_end_tensor_inputs = ["latents"]
        if callback_on_step_end is not None and not callable(callback_on_step_end):
            raise ValueError("callback_on_step_end: must be callable as fn(pipe, step, timestep, callback_kwargs)")

        # 1. every check before any compute
        self.check_denoiser(self.denoiser)
        prompts = check_prompts(prompt)
        n = check_num_motions_per_prompt(num_motions_per_prompt)
        check_output_type(output_type)
        out_fps = check_output_fps(output_fps, self.fps)
        lengths = resolve_num_frames(prompts, num_frames, seconds, fps=self.fps, max_frames=self.max_frames)
        known, known_masks = prepare_known_frames(lengths, motion_prefix, keyframes, keyframe_mask)
        batch_size = len(prompts) * n
        max_len = max(lengths)
        self.check_inputs(
            prompts, negative_prompt, num_inference_steps, guidance_scale, generator, batch_size, latents, max_len,
            callback_on_step_end_tensor_inputs,
        )
        negative = check_prompts(negative_prompt, "negative_prompt") if negative_prompt is not None else None
        self._guidance_scale = float(guidance_scale)
        self._interrupt = False
        if num_inference_steps is None:
            num_inference_steps = self._default_num_inference_steps()

        device = self._execution_device
        dtype = torch.float32  # latents and scheduler maths stay float32 even for a bfloat16/float16 denoiser
        stats = self.motion_stats

        # 2. text: once per call
        cond, uncond = self.encode_prompt(prompts, device, n, self.do_classifier_free_guidance, negative)
        text_in = torch.cat([uncond, cond]) if self.do_classifier_free_guidance else cond

        # 3. lengths -> padding mask; editing constraints in normalised space
        lengths_all = repeat_per_prompt(lengths, n)
        mask = torch.arange(max_len, device=device)[None, :] < torch.tensor(lengths_all, device=device)[:, None]
        mask_in = torch.cat([mask, mask]) if self.do_classifier_free_guidance else mask
        known_values = known_mask = None
        if any(k is not None for k in known):
            known_values = torch.zeros(batch_size, max_len, NUM_CHANNELS, dtype=dtype)
            known_mask = torch.zeros(batch_size, max_len, NUM_CHANNELS, dtype=torch.bool)
            for i, (vals, msk) in enumerate(zip(repeat_per_prompt(known, n), repeat_per_prompt(known_masks, n))):
                if vals is not None:
                    known_values[i, : len(vals)] = torch.from_numpy(stats.normalize(vals))
                    known_mask[i, : len(msk)] = torch.from_numpy(msk)
            known_values, known_mask = known_values.to(device), known_mask.to(device)

        # 4. noise and timesteps
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        latents = self.prepare_latents(batch_size, max_len, dtype, device, generator, latents)
        x0_pred = latents

        # 5. denoising loop (eval mode: no dropout, no condition dropout; the caller's mode is restored)
        was_training = self.denoiser.training
        self.denoiser.eval()
        try:
            latents, x0_pred = self._denoise(
                latents, timesteps, text_in, mask_in, known_values, known_mask, generator,
                callback_on_step_end, callback_on_step_end_tensor_inputs,
            )
        finally:
            self.denoiser.train(was_training)

        if known_mask is not None:  # the kept frames are exact, whatever the scheduler's last step does
            latents = torch.where(known_mask, known_values, latents)
        self.maybe_free_model_hooks()

        # 6. trim, denormalise, resample
        motions = finalize_motions(latents, lengths_all, stats, self.fps, out_fps, output_type)
        captions = repeat_per_prompt(prompts, n)
        if not return_dict:
            return (motions, out_fps, captions)
        return Express4DPipelineOutput(motions=motions, fps=out_fps, captions=captions)

    def _denoise(self, latents, timesteps, text_in, mask_in, known_values, known_mask, generator,
                 callback_on_step_end, callback_on_step_end_tensor_inputs):
        x0_pred = latents
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                model_in = torch.cat([latents, latents]) if self.do_classifier_free_guidance else latents
                model_in = self.scheduler.scale_model_input(model_in, t)
                x0_pred = self.denoiser(model_in, t, text_in, attention_mask=mask_in).sample.to(latents.dtype)
                if self.do_classifier_free_guidance:
                    x0_uncond, x0_cond = x0_pred.chunk(2)
                    x0_pred = x0_uncond + self._guidance_scale * (x0_cond - x0_uncond)
                if known_mask is not None:
                    x0_pred = torch.where(known_mask, known_values, x0_pred)
                latents = self.scheduler.step(x0_pred, t, latents, generator=generator, return_dict=False)[0]
                if callback_on_step_end is not None:
                    local = {"latents": latents, "x0_pred": x0_pred}
                    callback_kwargs = {k: local[k] for k in callback_on_step_end_tensor_inputs}
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs) or {}
                    latents = callback_outputs.pop("latents", latents)
                progress_bar.update()
        return latents, x0_pred
