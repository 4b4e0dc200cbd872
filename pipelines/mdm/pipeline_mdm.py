"""``Express4DPipeline``: text -> facial motion with the MDM denoiser and any diffusers scheduler.

Its call contract (:data:`~pipelines.pipeline_utils.CALL_ARGUMENTS`) and output
(:class:`~pipelines.pipeline_output.Express4DPipelineOutput`) are those of ``T2MGPTPipeline`` too;
the shared checks, prompt encoding and safe loading live in ``pipeline_utils``, the output in
``pipeline_output``.  Editing inputs (a motion prefix to continue, keyframes to in-between) are this
pipeline's own extras.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from diffusers import DiffusionPipeline

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS
from express4d_dataset.motion import MotionStats

from ..models.modeling_mdm import MDMDenoiser
from ..models.text_encoding import TextEmbeddings
from ..pipeline_output import Express4DPipelineOutput, finalize_motions
from .guidance import check_guidance_rescale, check_lid_guidance_scale, guidance_scales, guided_prediction
from ..pipeline_utils import (
    LengthInput,
    PromptEncodingMixin,
    PromptInput,
    SafePipelineIO,
    SecondsInput,
    DEFAULT_NUM_INFERENCE_STEPS,
    check_num_inference_steps,
    check_prompts,
    loader_shim,
    prepare_known_frames,
    prepare_request,
    repeat_per_prompt,
    run_callback,
)
from .prompt_stages import StageBlend, check_prompt_stages, plan_prompt_stages, stage_steps

logger = logging.getLogger(__name__)

DEFAULT_GUIDANCE_SCALE = 2.5
"""Classifier-free guidance scale of the paper: a pipeline's ``default_guidance_scale`` unless it was set
(``guidance_scale=None`` uses the pipeline's)."""

MAX_GUIDANCE_SCALE = 20.0
"""The largest guidance scale accepted: far beyond the useful range (the paper's 2.5, the bundled model's 5),
where every blendshape is pushed to 0 or 1 and the motion is no longer a face's."""

SCHEDULER_LABELS = {
    "DDPMScheduler": "DDPM", "DDIMScheduler": "DDIM", "DPMSolverMultistepScheduler": "DPM-Solver++",
}
SAMPLERS = {"dpm++": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler", "ddpm": "DDPMScheduler"}
"""Short sampler names (``express4d generate --sampler``) -> diffusers scheduler classes, for :meth:`Express4DPipeline.set_sampler`."""


class Express4DPipeline(SafePipelineIO, PromptEncodingMixin, DiffusionPipeline):
    """Text -> facial motion (61 Live Link Face channels) with an :class:`MDMDenoiser` and a diffusers scheduler.

    Components:
        denoiser: :class:`~pipelines.models.modeling_mdm.MDMDenoiser` (x0 prediction; carries fps, channels, stats).
        scheduler: DDPMScheduler (faithful 1000 steps), DDIMScheduler or DPMSolverMultistepScheduler,
            all with ``prediction_type="sample"``; swap with ``Scheduler.from_config(pipe.scheduler.config)``.
        text_encoder, tokenizer: optional.  When None, the encoder named by the denoiser's
            ``text_encoder_name_or_path`` is loaded on first use and cached (so saved pipelines need
            not duplicate the encoder's weights).

    Example::

        pipe = Express4DPipeline.from_pretrained("path/or/repo")
        out = pipe("A person is smiling softly", seconds=6, num_inference_steps=20,
                   generator=torch.Generator().manual_seed(0), output_fps=60)
        out.save_livelink_csv("smile.csv")
    """

    model_cpu_offload_seq = "text_encoder->denoiser"
    _optional_components = ["text_encoder", "tokenizer"]
    _weight_subfolders = ("denoiser", "text_encoder")
    _pipeline_code_file = "pipeline_express4d.py"
    _pipeline_code = loader_shim("pipeline_express4d", "Express4DPipeline, Express4DPipelineOutput", "Express4D pipeline")
    _text_owner = "denoiser"
    _callback_tensor_inputs = ["latents", "x0_pred"]
    supports = (
        "negative_prompt", "num_inference_steps", "guidance_scale", "guidance_rescale", "lid_guidance_scale", "prompt_embeds",
        "negative_prompt_embeds",
        "callback_on_step_end", "latents", "motion_prefix", "keyframes", "keyframe_mask", "set_sampler", "prompt_stages",
    )
    """The optional contract arguments and extras this pipeline honours (``T2MGPTPipeline.supports`` differs)."""

    def __init__(self, denoiser, scheduler, text_encoder=None, tokenizer=None, default_guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
                 default_guidance_rescale: float = 0.0, default_prompt_stages: str = "off",
                 default_lid_guidance_scale: float | None = None, default_num_inference_steps: int | None = None):
        """``default_guidance_scale`` / ``default_guidance_rescale`` / ``default_prompt_stages`` /
        ``default_lid_guidance_scale`` / ``default_num_inference_steps``: what ``guidance_scale=None`` /
        ``guidance_rescale=None`` / ``prompt_stages=None`` / ``lid_guidance_scale=None`` /
        ``num_inference_steps=None`` sample with (the paper's 2.5, no rescale, one sentence per prompt, the lids
        guided like the rest and 20 steps unless set; saved in ``model_index.json``, so a model can ship the values
        chosen for it)."""
        super().__init__()
        self.check_denoiser(denoiser)
        self.check_guidance_scale(default_guidance_scale, "default_guidance_scale (model_index.json)")
        check_guidance_rescale(default_guidance_rescale, "default_guidance_rescale (model_index.json)")
        check_prompt_stages(default_prompt_stages, "default_prompt_stages (model_index.json)")
        check_lid_guidance_scale(default_lid_guidance_scale, "default_lid_guidance_scale (model_index.json)")
        check_num_inference_steps(default_num_inference_steps, "default_num_inference_steps (model_index.json)",
                                  maximum=int(scheduler.config.num_train_timesteps))
        self.register_modules(denoiser=denoiser, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)
        self.register_to_config(default_guidance_scale=float(default_guidance_scale),
                                default_guidance_rescale=float(default_guidance_rescale),
                                default_prompt_stages=str(default_prompt_stages))
        if default_lid_guidance_scale is not None:  # unset stays out of the config (and of generation cache keys)
            self.register_to_config(default_lid_guidance_scale=float(default_lid_guidance_scale))
        if default_num_inference_steps is not None:  # likewise
            self.register_to_config(default_num_inference_steps=int(default_num_inference_steps))

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

        from ..models.text_encoding import text_embedding_dim

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
    def length_multiple(self) -> int:
        """Generated lengths are multiples of this many native frames (any length here: 1)."""
        return 1

    @property
    def motion_stats(self) -> MotionStats:
        return MotionStats(mean=self.denoiser.config.motion_mean, std=self.denoiser.config.motion_std)

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale != 1.0 or getattr(self, "_lid_guidance_scale", None) not in (None, 1.0)

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    # ------------------------------------------------------------------ text
    def _text_owner_config(self):
        return self.denoiser.config  # names the text encoder (get_text_encoder)

    def encode_prompt(
        self,
        prompt: PromptInput | None,
        device: torch.device | str | None = None,
        num_motions_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True,
        negative_prompt: PromptInput | None = None,
        prompt_embeds=None,
        negative_prompt_embeds=None,
    ):
        """``(cond, uncond or None)``: :class:`~pipelines.models.text_encoding.TextEmbeddings` with one row per motion.

        Each text is encoded once (one forward of the frozen encoder gives the pooled vector and the
        token states); ``prompt_embeds`` / ``negative_prompt_embeds`` skip the encoder.  Without a
        negative prompt the unconditional input is the empty prompt (zero vector, no token), as in
        training.  Precompute once and pass ``prompt_embeds=`` to call the pipeline many times::

            embeds, _ = pipe.encode_prompt(captions, do_classifier_free_guidance=False)
            out = pipe(prompt_embeds=embeds[0:32], num_frames=60)
        """
        device = torch.device(device) if device is not None else self._execution_device
        dtype = self.denoiser.dtype
        prompts, cond = self._prompt_embeddings(prompt, prompt_embeds, device, dtype)
        cond = cond.repeat_interleave(num_motions_per_prompt)
        if not do_classifier_free_guidance:
            return cond, None
        if negative_prompt_embeds is not None or negative_prompt is not None:
            negatives, uncond = self._prompt_embeddings(
                negative_prompt, negative_prompt_embeds, device, dtype, "negative_prompt_embeds", "negative_prompt"
            )
            if len(negatives) != len(prompts):
                raise ValueError(f"negative_prompt: got {len(negatives)} for {len(prompts)} prompts; pass one per prompt")
            return cond, uncond.repeat_interleave(num_motions_per_prompt)
        return cond, cond.unconditional_like()

    # ------------------------------------------------------------------ checks
    @staticmethod
    def check_guidance_scale(value, name: str = "guidance_scale") -> None:
        """Raise unless ``value`` is a finite number in ``[0, MAX_GUIDANCE_SCALE]``."""
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
        if not 0 <= value <= MAX_GUIDANCE_SCALE:
            raise ValueError(f"{name}: must be between 0 and {MAX_GUIDANCE_SCALE:g} (1 = no guidance, 2.5 = the paper's "
                             f"value; larger pins every blendshape at 0 or 1), got {value:g}")

    @property
    def default_guidance_scale(self) -> float:
        """The guidance scale ``guidance_scale=None`` uses (``model_index.json``; the paper's 2.5 unless set)."""
        return float(self.config.default_guidance_scale)  # registered by __init__, also for folders saved without it

    @property
    def default_prompt_stages(self) -> str:
        """What ``prompt_stages=None`` uses (``model_index.json``; ``"off"`` unless set)."""
        return str(self.config.get("default_prompt_stages", "off"))

    @property
    def default_lid_guidance_scale(self) -> float | None:
        """The lids' guidance scale ``lid_guidance_scale=None`` uses (``model_index.json``; None, the lids guided at
        ``guidance_scale`` like every channel, unless set)."""
        return check_lid_guidance_scale(self.config.get("default_lid_guidance_scale"),
                                        "default_lid_guidance_scale (model_index.json)")

    @property
    def default_guidance_rescale(self) -> float:
        """The guidance rescale ``guidance_rescale=None`` uses (``model_index.json``; 0, plain guidance, unless set)."""
        return float(self.config.get("default_guidance_rescale", 0.0))

    def check_inputs(self, num_inference_steps, guidance_scale, batch_size: int, latents, num_frames_max: int) -> None:
        """The checks of this pipeline's own arguments (the shared ones are ``pipeline_utils.prepare_request``'s)."""
        self.check_denoiser(self.denoiser)
        self.check_guidance_scale(guidance_scale)
        check_num_inference_steps(num_inference_steps, maximum=int(self.scheduler.config.num_train_timesteps))
        prediction_type = getattr(self.scheduler.config, "prediction_type", "sample")
        if prediction_type != "sample":
            raise ValueError(
                f"scheduler: prediction_type={prediction_type!r}, but the MDM denoiser predicts the clean motion; "
                "create the scheduler with prediction_type='sample' (e.g. Scheduler.from_config(pipe.scheduler.config))"
            )
        if latents is not None:
            expected = (batch_size, num_frames_max, NUM_CHANNELS)
            if tuple(latents.shape) != expected:
                raise ValueError(f"latents: expected shape {expected}, got {tuple(latents.shape)}")

    def prepare_latents(self, batch_size, num_frames, dtype, device, generator, latents=None) -> torch.Tensor:
        """Initial noise ``[B, T, 61]`` scaled by the scheduler's ``init_noise_sigma``."""
        from diffusers.utils.torch_utils import randn_tensor

        shape = (batch_size, num_frames, NUM_CHANNELS)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        else:
            latents = latents.to(device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma

    @property
    def default_num_inference_steps(self) -> int | None:
        """The steps ``num_inference_steps=None`` takes with a few-step sampler (``model_index.json``; None, 20,
        unless set); the DDPM sampler always takes its training steps (the paper's 1000)."""
        return check_num_inference_steps(self.config.get("default_num_inference_steps"),
                                         "default_num_inference_steps (model_index.json)")

    def _default_num_inference_steps(self) -> int:
        if type(self.scheduler).__name__ == "DDPMScheduler":
            return int(self.scheduler.config.num_train_timesteps)
        return self.default_num_inference_steps or DEFAULT_NUM_INFERENCE_STEPS

    def set_sampler(self, name: str) -> None:
        """Swap the scheduler for another sampler of the same schedule: ``"dpm++"`` (DPM-Solver++, 20 steps by
        default), ``"ddim"`` or ``"ddpm"`` (the paper's 1000 steps)."""
        from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

        classes = {"dpm++": DPMSolverMultistepScheduler, "ddim": DDIMScheduler, "ddpm": DDPMScheduler}  # = SAMPLERS
        if name not in classes:
            raise ValueError(f"sampler: unknown {name!r}; choose one of {', '.join(classes)}")
        self.scheduler = classes[name].from_config(self.scheduler.config)

    def describe(self, num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 guidance_rescale: float | None = None, prompt_stages: str | None = None,
                 lid_guidance_scale: float | None = None) -> str:
        """A short label for tables and logs, e.g. ``"MDM (small, tokens, DPM-Solver++ 20 steps)"``; a guidance
        scale other than the paper's 2.5 is named too (``"..., guidance 5"``): ``guidance_scale``, or when None
        the pipeline's :attr:`default_guidance_scale`, and the lids' own scale where it differs (``", lids 2.5"``);
        ``", prompt stages"`` ends it when staged prompts are split."""
        cfg = self.denoiser.config
        name = type(self.scheduler).__name__
        steps = num_inference_steps if num_inference_steps is not None else self._default_num_inference_steps()
        parts = [cfg.preset or "custom", cfg.text_conditioning, f"{SCHEDULER_LABELS.get(name, name)} {steps} steps"]
        scale = self.default_guidance_scale if guidance_scale is None else float(guidance_scale)
        rescale = self.default_guidance_rescale if guidance_rescale is None else float(guidance_rescale)
        lids = self.default_lid_guidance_scale if lid_guidance_scale is None else float(lid_guidance_scale)
        lids = scale if lids is None else lids
        if scale != DEFAULT_GUIDANCE_SCALE or rescale or lids != scale:
            parts.append(f"guidance {scale:g}" + (f" rescaled {rescale:g}" if rescale else "")
                         + (f", lids {lids:g}" if lids != scale else ""))
        if (self.default_prompt_stages if prompt_stages is None else prompt_stages) == "auto":
            parts.append("prompt stages")
        return f"MDM ({', '.join(parts)})"

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        prompt: PromptInput | None = None,
        negative_prompt: PromptInput | None = None,
        num_frames: LengthInput = None,
        seconds: SecondsInput = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        num_motions_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        prompt_embeds=None,
        negative_prompt_embeds=None,
        output_type: str = "np",
        output_fps: float | None = None,
        return_dict: bool = True,
        callback_on_step_end=None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        latents: torch.Tensor | None = None,
        motion_prefix=None,
        keyframes=None,
        keyframe_mask=None,
        guidance_rescale: float | None = None,
        prompt_stages: str | None = None,
        lid_guidance_scale: float | None = None,
    ):
        """Generate facial motions from text.

        Args:
            prompt: a text or a list of texts (``""`` = unconditional); may be None with ``prompt_embeds``.
            negative_prompt: texts whose embeddings replace the empty prompt's in guidance (one per prompt).
            num_frames: length in native frames (int or one per prompt); or give ``seconds``. Default:
                the model's maximum (196 frames = 9.8 s at 20 fps).  With ``motion_prefix`` it counts the prefix.
            seconds: length in seconds (float or one per prompt), ``round(seconds * fps)`` frames.
            num_inference_steps: scheduler steps; default 1000 for DDPMScheduler (the paper), else
                :attr:`default_num_inference_steps` (20 unless the model sets it).
            guidance_scale: classifier-free guidance ``uncond + s * (cond - uncond)`` on the x0 prediction
                (default: :attr:`default_guidance_scale`, the paper's 2.5 unless the model sets another; 1
                disables it).  Both branches run in one batched forward.
            guidance_rescale: in [0, 1], how far each guided prediction's spread is pulled back to the conditional
                prediction's (:func:`~pipelines.mdm.guidance.guided_prediction`; default:
                :attr:`default_guidance_rescale`, 0 = plain guidance unless the model sets another).
            lid_guidance_scale: the guidance scale of the lids' two channels (``EyeBlinkLeft`` / ``EyeBlinkRight``)
                alone, e.g. 2.5 under ``guidance_scale=5``: guidance extrapolates every small lid component of the
                conditional prediction into a closure (docs/free_wording.md).  Default:
                :attr:`default_lid_guidance_scale` (None: the lids take ``guidance_scale``).
            num_motions_per_prompt: samples per prompt (outputs are grouped prompt by prompt).
            generator: a ``torch.Generator`` (or one per motion) for reproducible sampling.
            prompt_embeds: precomputed :class:`~pipelines.models.text_encoding.TextEmbeddings` (one row per prompt,
                e.g. from :meth:`encode_prompt`) instead of encoding ``prompt``; or ``[B, D]`` pooled vectors.
            negative_prompt_embeds: the same for ``negative_prompt``.
            output_type: ``"np"`` (float32 arrays) or ``"pt"`` (tensors).
            output_fps: output frame rate (default native; e.g. 60 for Live Link / Unreal), linear interpolation.
            return_dict: return :class:`Express4DPipelineOutput` (default) or ``(motions, fps, captions)``.
            callback_on_step_end: ``fn(pipe, step, timestep, callback_kwargs) -> dict`` after every step;
                may replace ``latents``.  ``callback_on_step_end_tensor_inputs`` picks the tensors passed
                (``"latents"``, ``"x0_pred"``); default ``["latents"]``.
            latents: initial noise ``[B * n, max(num_frames), 61]`` instead of drawing it.
            motion_prefix: ``[P, 61]`` denormalised motion at native fps to continue (one for all prompts or a
                list per prompt); its frames are kept exactly.
            keyframes, keyframe_mask: ``[K, 61]`` values with a ``[K]`` or ``[K, 61]`` bool mask of the frames /
                channels to keep (in-betweening by inpainting the x0 prediction at every step).
            prompt_stages: ``"auto"``: a prompt written as stages ("X, then Y, and finally Z", "Before Y, X", separate
                sentences) is split into them (:func:`~pipelines.mdm.prompt_stages.split_prompt_stages`) and each stage
                is generated in its own equal share of the clip, the shares denoised together and blended over
                2 x :data:`~pipelines.mdm.prompt_stages.STAGE_OVERLAP_SECONDS`, in the first half of the steps
                (:func:`~pipelines.mdm.prompt_stages.stage_steps`); the later steps denoise the whole clip with the
                whole prompt; ``"off"``: the whole prompt conditions the whole clip at every step.  Default:
                :attr:`default_prompt_stages`.  Only texts the pipeline encodes are split (not ``prompt_embeds``).

        Returns:
            :class:`~pipelines.pipeline_output.Express4DPipelineOutput`: ``motions`` (one ``[T, 61]`` array per
            motion, Live Link Face channel order, denormalised, blendshapes within [0, 1]), ``fps``, ``captions``.

        Examples::

            >>> pipe = Express4DPipeline.from_pretrained(default_model_path("mdm"))     # doctest: +SKIP
            >>> out = pipe("A person is smiling softly", seconds=6, output_fps=60,
            ...            generator=torch.Generator().manual_seed(0))                   # doctest: +SKIP
            >>> out.motions[0].shape                                                      # doctest: +SKIP
            (358, 61)
        """
        # 1. every check before any compute
        request = prepare_request(
            self, prompt, num_frames, seconds, num_motions_per_prompt, generator, prompt_embeds, output_type, output_fps,
            callback_on_step_end, callback_on_step_end_tensor_inputs,
        )
        lengths, n, batch_size = request.lengths, request.num_motions_per_prompt, request.batch_size
        if guidance_scale is None:
            guidance_scale = self.default_guidance_scale
            self.check_guidance_scale(guidance_scale, "default_guidance_scale (model_index.json)")
        guidance_rescale = check_guidance_rescale(
            self.default_guidance_rescale if guidance_rescale is None else guidance_rescale,
            "default_guidance_rescale (model_index.json)" if guidance_rescale is None else "guidance_rescale")
        prompt_stages = check_prompt_stages(
            self.default_prompt_stages if prompt_stages is None else prompt_stages,
            "default_prompt_stages (model_index.json)" if prompt_stages is None else "prompt_stages")
        known, known_masks = prepare_known_frames(lengths, motion_prefix, keyframes, keyframe_mask)
        max_len = max(lengths)
        self.check_inputs(num_inference_steps, guidance_scale, batch_size, latents, max_len)
        negatives = None if negative_prompt is None else check_prompts(negative_prompt, "negative_prompt")
        if negatives is not None and len(negatives) != len(request.prompts):
            raise ValueError(f"negative_prompt: got {len(negatives)} prompts for {len(request.prompts)} prompts; "
                             "pass one per prompt")
        lid_guidance_scale = check_lid_guidance_scale(
            self.default_lid_guidance_scale if lid_guidance_scale is None else lid_guidance_scale,
            "default_lid_guidance_scale (model_index.json)" if lid_guidance_scale is None else "lid_guidance_scale")
        self._guidance_scale = float(guidance_scale)
        self._lid_guidance_scale = lid_guidance_scale
        self._guidance_rescale = guidance_rescale
        self._interrupt = False
        if num_inference_steps is None:
            num_inference_steps = self._default_num_inference_steps()

        device = self._execution_device
        dtype = torch.float32  # latents and scheduler maths stay float32 even for a bfloat16/float16 denoiser
        stats = self.motion_stats

        # 2. text: once per call (or precomputed); a prompt of several stages: one text per stage window
        lengths_all = repeat_per_prompt(lengths, n)
        split = prompt_stages == "auto" and request.embeds is None  # only texts this call encodes can be split
        stages = plan_prompt_stages(request.prompts, lengths, self.fps) if split else None
        blend = stage_text_in = None
        if stages is None:
            cond, uncond = self.encode_prompt(
                request.prompts if request.embeds is None else None, device, n, self.do_classifier_free_guidance,
                negative_prompt, request.embeds, negative_prompt_embeds,
            )
        else:  # stage texts, then the whole prompts (the later steps)
            blend = StageBlend(stages, lengths_all, n, self.fps, max_len, device)
            owner = blend.owners  # the prompt of each text
            cond, uncond = self.encode_prompt(
                blend.texts(request.prompts), device, 1, self.do_classifier_free_guidance,
                None if negatives is None else [negatives[i] for i in owner], None,
                None if negative_prompt_embeds is None else negative_prompt_embeds[owner],
            )
            stage_text_in = self._text_in(cond[blend.rows], None if uncond is None else uncond[blend.rows])
            cond, uncond = cond[blend.whole_rows], None if uncond is None else uncond[blend.whole_rows]
        text_in = self._text_in(cond, uncond)

        # 3. lengths -> padding mask; editing constraints in normalised space
        mask = torch.arange(max_len, device=device)[None, :] < torch.tensor(lengths_all, device=device)[:, None]
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

        # 5. denoising loop (eval mode: no dropout, no condition dropout; the caller's mode is restored)
        was_training = self.denoiser.training
        self.denoiser.eval()
        try:
            latents = self._denoise(request, latents, timesteps, text_in, mask, known_values, known_mask, generator,
                                   blend, stage_text_in)
        finally:
            self.denoiser.train(was_training)

        if known_mask is not None:  # the kept frames are exact, whatever the scheduler's last step does
            latents = torch.where(known_mask, known_values, latents)
        self.maybe_free_model_hooks()

        # 6. trim, denormalise, resample
        motions = finalize_motions(latents, lengths_all, stats, self.fps, request.output_fps, request.output_type)
        if not return_dict:
            return (motions, request.output_fps, request.captions)
        return Express4DPipelineOutput(motions=motions, fps=request.output_fps, captions=request.captions)

    def _text_in(self, cond, uncond):
        return TextEmbeddings.cat([uncond, cond]) if self.do_classifier_free_guidance else cond

    def _denoise(self, request, latents, timesteps, text_in, mask, known_values, known_mask, generator, blend=None,
                 stage_text_in=None):
        """The denoising loop; with a :class:`~pipelines.mdm.prompt_stages.StageBlend`, in its first
        :func:`~pipelines.mdm.prompt_stages.stage_steps` steps the denoiser sees each stage window as a clip of its own
        (with its stage's text, ``stage_text_in``) and the scheduler steps the blend of their predictions; the later
        steps see the whole clip with ``text_in`` (the whole prompts)."""
        staged_steps = 0 if blend is None else stage_steps(len(timesteps))
        doubled = (lambda m: torch.cat([m, m])) if self.do_classifier_free_guidance else (lambda m: m)
        scales = guidance_scales(self._guidance_scale, self._lid_guidance_scale)
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                staged = i < staged_steps
                x, step_mask = (blend.crop(latents), blend.mask) if staged else (latents, mask)
                model_in = torch.cat([x, x]) if self.do_classifier_free_guidance else x
                model_in = self.scheduler.scale_model_input(model_in, t)
                x0_pred = self.denoiser(model_in, t, stage_text_in if staged else text_in,
                                        attention_mask=doubled(step_mask)).sample.to(latents.dtype)
                if self.do_classifier_free_guidance:
                    x0_uncond, x0_cond = x0_pred.chunk(2)
                    x0_pred = guided_prediction(x0_uncond, x0_cond, scales, self._guidance_rescale,
                                                step_mask)
                if staged:
                    x0_pred = blend.blend(x0_pred)
                if known_mask is not None:
                    x0_pred = torch.where(known_mask, known_values, x0_pred)
                latents = self.scheduler.step(x0_pred, t, latents, generator=generator, return_dict=False)[0]
                returned = run_callback(request, self, i, t, {"latents": latents, "x0_pred": x0_pred})
                latents = returned.pop("latents", latents)
                progress_bar.update()
        return latents
