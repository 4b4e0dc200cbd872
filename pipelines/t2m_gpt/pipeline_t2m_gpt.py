"""``T2MGPTPipeline``: text -> code ids (T2M-GPT prior) -> facial motion (VQ-VAE decoder).

Called like :class:`~pipelines.mdm.pipeline_mdm.Express4DPipeline` (the shared contract of
:data:`~pipelines.pipeline_utils.CALL_ARGUMENTS`) and returning the same
:class:`~pipelines.pipeline_output.Express4DPipelineOutput`, so the benchmark and the CLI treat both
baselines alike.  What a prior cannot honour (classifier-free guidance, denoising steps) is refused
with a message naming the argument; ``supports`` lists what it honours.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS
from express4d_dataset.motion import MotionStats

# Imported so that the modules diffusers records in model_index.json for these components are in sys.modules.
from ..models.modeling_t2m_gpt import T2MGPTModel  # noqa: F401
from ..models.modeling_vqvae import Express4DVQVAE  # noqa: F401
from ..pipeline_output import Express4DPipelineOutput, finalize_motions
from ..pipeline_utils import (
    LengthInput,
    PromptEncodingMixin,
    PromptInput,
    SafePipelineIO,
    SecondsInput,
    check_unsupported,
    loader_shim,
    prepare_request,
    repeat_per_prompt,
    run_callback,
)

logger = logging.getLogger(__name__)


def round_to_codes(lengths: Sequence[int], frames_per_code: int, max_codes: int, source: str = "num_frames") -> list[int]:
    """Code counts for frame lengths: the nearest multiple of ``frames_per_code`` (halves round up),
    at least one code and at most ``max_codes``.  Logs one warning per call listing the lengths it
    changed (the first five, then a count)."""
    codes, changed = [], []
    for i, length in enumerate(lengths):
        n = min(max(int(math.floor(length / frames_per_code + 0.5)), 1), max_codes)
        if n * frames_per_code != length:
            changed.append(
                f"{source}[{i}]: {length} frames is not a multiple of the VQ-VAE's {frames_per_code} frames per code; "
                f"generating {n * frames_per_code} frames ({n} codes) instead"
            )
        codes.append(n)
    if changed:
        more = f"; and {len(changed) - 5} more lengths rounded likewise" if len(changed) > 5 else ""
        logger.warning("%s%s", "; ".join(changed[:5]), more)
    return codes


class T2MGPTPipeline(SafePipelineIO, PromptEncodingMixin, DiffusionPipeline):
    """Text -> facial motion (61 Live Link Face channels) with the T2M-GPT prior and the VQ-VAE decoder.

    Components:
        vqvae: :class:`~pipelines.models.modeling_vqvae.Express4DVQVAE` (decoder, codebook; carries fps,
            channel names and normalisation statistics).
        prior: :class:`~pipelines.models.modeling_t2m_gpt.T2MGPTModel` (writes code ids from the text embedding).
        text_encoder, tokenizer: optional.  When None, the encoder named by the prior's
            ``text_encoder_name_or_path`` is loaded on first use and cached (saved pipelines need not
            duplicate its weights).

    Example::

        pipe = T2MGPTPipeline.from_pretrained("path/or/repo")
        out = pipe("A person is smiling softly", seconds=6, generator=torch.Generator().manual_seed(0))
        out.save_livelink_csv("smile.csv")
    """

    model_cpu_offload_seq = "text_encoder->prior->vqvae"
    _optional_components = ["text_encoder", "tokenizer"]
    _weight_subfolders = ("vqvae", "prior", "text_encoder")
    _pipeline_code_file = "pipeline_t2m_gpt.py"
    _pipeline_code = loader_shim("pipeline_t2m_gpt", "T2MGPTPipeline", "T2M-GPT pipeline")
    _text_owner = "prior"
    _callback_tensor_inputs = ["codes"]
    supports = ("prompt_embeds", "callback_on_step_end", "temperature", "top_k", "codes")
    """The optional contract arguments this pipeline honours (it has no guidance and no denoising steps)."""

    def __init__(self, vqvae, prior, text_encoder=None, tokenizer=None):
        super().__init__()
        self.check_components(vqvae, prior)
        self.register_modules(vqvae=vqvae, prior=prior, text_encoder=text_encoder, tokenizer=tokenizer)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def check_components(vqvae, prior) -> None:
        """Raise when the VQ-VAE and the prior cannot work together or cannot produce Live Link Face motions."""
        vq, gpt = vqvae.config, prior.config
        if int(vq.num_channels) != NUM_CHANNELS:
            raise ValueError(
                f"vqvae: the checkpoint has num_channels={vq.num_channels}, but Express4D motions have {NUM_CHANNELS} "
                "Live Link Face channels; use a checkpoint trained on Express4D"
            )
        names = getattr(vq, "channel_names", None)
        if names is not None and [str(n).lower() for n in names] != [n.lower() for n in CHANNEL_NAMES]:
            raise ValueError("vqvae: config channel_names differ from the 61 Live Link Face channels in order")
        if vq.motion_mean is None or vq.motion_std is None:
            raise ValueError(
                "vqvae: the checkpoint config has no normalisation statistics (motion_mean / motion_std), so its "
                "motions cannot be denormalised; call vqvae.set_motion_stats(MotionStats.load(...)) and save again"
            )
        if int(gpt.num_codes) != int(vq.codebook_size):
            raise ValueError(
                f"prior: writes {gpt.num_codes} codes but the VQ-VAE codebook has {vq.codebook_size}; "
                "use the prior trained on this VQ-VAE's codes"
            )
        factor = 2 ** int(vq.down_t)
        if int(gpt.frames_per_code) != factor:
            raise ValueError(f"prior: frames_per_code={gpt.frames_per_code} but the VQ-VAE decodes {factor} frames per code")
        if float(gpt.fps) != float(vq.fps):
            raise ValueError(f"prior: fps={gpt.fps} but the VQ-VAE's motions are at {vq.fps} fps")

    # ------------------------------------------------------------------ properties
    @property
    def fps(self) -> float:
        return float(self.vqvae.config.fps)

    @property
    def frames_per_code(self) -> int:
        return int(self.vqvae.config.downsampling_factor)

    @property
    def length_multiple(self) -> int:
        """Generated lengths are multiples of this many native frames: the VQ-VAE's frames per code
        (other lengths are rounded to the nearest multiple, with a warning)."""
        return self.frames_per_code

    @property
    def max_frames(self) -> int:
        """Longest motion: the prior's ``max_codes`` times the frames per code (196 at the defaults)."""
        return int(self.prior.config.max_codes) * self.frames_per_code

    @property
    def motion_stats(self) -> MotionStats:
        return MotionStats(mean=self.vqvae.config.motion_mean, std=self.vqvae.config.motion_std)

    # ------------------------------------------------------------------ text
    def _text_owner_config(self):
        return self.prior.config  # names the text encoder (get_text_encoder)

    def encode_prompt(
        self,
        prompt: PromptInput | None,
        device: torch.device | str | None = None,
        num_motions_per_prompt: int = 1,
        do_classifier_free_guidance: bool = False,
        negative_prompt: PromptInput | None = None,
        prompt_embeds=None,
        negative_prompt_embeds=None,
    ):
        """``(cond, None)``: :class:`~pipelines.models.text_encoding.TextEmbeddings` with one row per motion (the
        same signature as ``Express4DPipeline.encode_prompt``; the prior has no unconditional branch)."""
        check_unsupported(type(self).__name__, negative_prompt=negative_prompt, negative_prompt_embeds=negative_prompt_embeds)
        if do_classifier_free_guidance:
            raise ValueError("do_classifier_free_guidance: T2MGPTPipeline has no classifier-free guidance; pass False")
        device = torch.device(device) if device is not None else self._execution_device
        _, cond = self._prompt_embeddings(prompt, prompt_embeds, device, self.prior.dtype)
        return cond.repeat_interleave(num_motions_per_prompt), None

    def describe(self, num_inference_steps: int | None = None) -> str:
        """A short label for tables and logs, e.g. ``"T2M-GPT (small, tokens)"``."""
        cfg = self.prior.config
        return f"T2M-GPT ({cfg.preset or 'custom'}, {cfg.text_conditioning})"

    # ------------------------------------------------------------------ checks
    def check_inputs(self, temperature, top_k, codes, num_frames, seconds) -> None:
        """The checks of this pipeline's own arguments (the shared ones are ``pipeline_utils.prepare_request``'s)."""
        self.check_components(self.vqvae, self.prior)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature: must be a positive number (1.0 samples the model's distribution), got {temperature!r}")
        num_tokens = int(self.prior.config.num_codes) + 1
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= num_tokens):
            raise ValueError(f"top_k: must be None (full softmax) or an integer in [1, {num_tokens}], got {top_k!r}")
        if codes is not None:
            if num_frames is not None or seconds is not None:
                raise ValueError("codes: the given code sequences fix the lengths; do not pass num_frames or seconds with codes")

    def prepare_codes(self, codes, batch_size: int) -> tuple[list[torch.Tensor], list[int]]:
        """Validate user code sequences: ``[B * n, L]`` (int tensor / array / nested lists, ``-1`` pads the end)
        or a list of 1-D sequences; returns per-motion 1-D long tensors and their lengths."""
        if isinstance(codes, (list, tuple)) and codes and not isinstance(codes[0], (int, np.integer)):
            rows = [torch.as_tensor(np.asarray(r)) for r in codes]
        else:
            arr = torch.as_tensor(np.asarray(codes) if not torch.is_tensor(codes) else codes)
            if arr.ndim != 2:
                raise ValueError(f"codes: expected [num_motions, L] code ids, got shape {tuple(arr.shape)}")
            rows = list(arr)
        if len(rows) != batch_size:
            raise ValueError(f"codes: got {len(rows)} code sequences for {batch_size} motions (prompts x num_motions_per_prompt)")
        k, max_codes = int(self.vqvae.config.codebook_size), int(self.prior.config.max_codes)
        out, lengths = [], []
        for i, row in enumerate(rows):
            if row.dtype.is_floating_point or row.dtype == torch.bool or row.ndim != 1:
                raise ValueError(f"codes[{i}]: expected a 1-D sequence of integer code ids, got dtype {row.dtype}, shape {tuple(row.shape)}")
            row = row.long()
            if len(row) and (int(row.min()) < -1 or int(row.max()) >= k):
                raise ValueError(
                    f"codes[{i}]: code ids must lie in [0, {k}) for this VQ-VAE codebook (-1 pads the end), got values in "
                    f"[{int(row.min())}, {int(row.max())}]"
                )
            pads = (row < 0).nonzero()
            n = int(pads[0]) if len(pads) else len(row)
            if bool((row[n:] != -1).any()):
                raise ValueError(f"codes[{i}]: -1 may only pad the end of a sequence")
            row = row[:n]
            if n < 1 or n > max_codes:
                raise ValueError(f"codes[{i}]: {n} codes; a motion needs 1 to {max_codes} codes (1 to {self.max_frames} frames)")
            out.append(row)
            lengths.append(n)
        return out, lengths

    # ------------------------------------------------------------------ decoding
    def decode_codes(self, codes: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        """Normalised motions ``[B, max_T, 61]`` (zero padded) and frame lengths for 1-D code sequences.

        Sequences of equal length are decoded together; a sequence is never padded before decoding,
        so the convolutional decoder sees exactly its own codes.
        """
        device = self.vqvae.device
        factor = self.frames_per_code
        lengths = [len(c) * factor for c in codes]
        out = torch.zeros(len(codes), max(lengths), NUM_CHANNELS, device=device, dtype=torch.float32)
        groups: dict[int, list[int]] = {}
        for i, c in enumerate(codes):
            groups.setdefault(len(c), []).append(i)
        for n, rows in groups.items():
            batch = torch.stack([codes[i].to(device) for i in rows])
            out[rows, : n * factor] = self.vqvae.decode(batch).float()
        return out, lengths

    # ------------------------------------------------------------------ sampling
    # The signature up to callback_on_step_end_tensor_inputs is copied from Express4DPipeline.__call__ on purpose:
    # it is the call contract (pipeline_utils.CALL_ARGUMENTS), which tests/test_contract.py checks in both.
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
        temperature: float = 1.0,
        top_k: int | None = None,
        codes=None,
    ):
        """Generate facial motions from text.

        Args:
            prompt: a text or a list of texts (``""`` = the empty prompt); may be None with ``prompt_embeds``.
            negative_prompt: not supported (the prior has no classifier-free guidance); must be None.
            num_frames: length in native frames (int or one per prompt).  The VQ-VAE decodes 4 frames
                per code, so other lengths are rounded to the nearest multiple of 4 (with a logged
                warning).  The prior then writes exactly that many codes (End forbidden before,
                forced at).  With neither ``num_frames`` nor ``seconds`` the prior ends the motion
                itself (T2M-GPT's behaviour), up to ``max_frames`` (196).
            seconds: length in seconds (float or one per prompt), ``round(seconds * fps)`` frames, then rounded as above.
            num_inference_steps: not supported (one code is written per 4 frames); must be None.
            guidance_scale: not supported (sampling is from the prior's softmax; see ``temperature``); must be None.
            num_motions_per_prompt: samples per prompt (outputs grouped prompt by prompt).
            generator: a ``torch.Generator`` (or one per motion) for reproducible sampling.
            prompt_embeds: precomputed :class:`~pipelines.models.text_encoding.TextEmbeddings` (one row per prompt, e.g.
                from :meth:`encode_prompt`) instead of encoding ``prompt``; or ``[B, D]`` pooled vectors.
            negative_prompt_embeds: not supported; must be None.
            output_type: ``"np"`` (float32 arrays) or ``"pt"`` (tensors).
            output_fps: output frame rate (default native 20; e.g. 60 for Live Link / Unreal), linear interpolation.
            return_dict: return :class:`Express4DPipelineOutput` (default) or ``(motions, fps, captions)``.
            callback_on_step_end: ``fn(pipe, step, timestep, callback_kwargs) -> dict`` after every code step
                (``timestep`` = ``step``); ``callback_kwargs["codes"]`` is ``[B, step + 1]`` (-1 once a motion ended).
            callback_on_step_end_tensor_inputs: ``["codes"]`` (the default).
            temperature: softmax temperature of the prior (1.0 = the model's distribution).
            top_k: sample among the ``top_k`` most likely tokens (None = full softmax, as T2M-GPT).
            codes: code sequences to decode instead of sampling them (``[prompts * n, L]`` ids, ``-1``
                padding the end, or a list of 1-D sequences); the prompts then only label the outputs.

        Returns:
            :class:`~pipelines.pipeline_output.Express4DPipelineOutput`: ``motions`` (one ``[T, 61]`` array per
            motion, Live Link Face channel order, denormalised, blendshapes within [0, 1]), ``fps``, ``captions``.

        Examples::

            >>> pipe = T2MGPTPipeline.from_pretrained(default_model_path("t2m_gpt"))   # doctest: +SKIP
            >>> out = pipe("A person is smiling softly", seconds=6, generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
            >>> out.motions[0].shape                                                    # doctest: +SKIP
            (120, 61)
        """
        # 1. every check before any compute
        name = type(self).__name__
        check_unsupported(
            name, negative_prompt=negative_prompt, negative_prompt_embeds=negative_prompt_embeds,
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
        )
        request = prepare_request(
            self, prompt, num_frames, seconds, num_motions_per_prompt, generator, prompt_embeds, output_type, output_fps,
            callback_on_step_end, callback_on_step_end_tensor_inputs, lengths_optional=True,
        )
        n, batch_size = request.num_motions_per_prompt, request.batch_size
        self.check_inputs(temperature, top_k, codes, num_frames, seconds)
        code_lengths = None
        user_codes = None
        if codes is not None:
            user_codes, _ = self.prepare_codes(codes, batch_size)
        elif request.lengths is not None:
            source = "num_frames" if num_frames is not None else "seconds"
            code_lengths = repeat_per_prompt(
                round_to_codes(request.lengths, self.frames_per_code, self.prior.config.max_codes, source), n
            )

        device = self._execution_device
        was_training = (self.prior.training, self.vqvae.training)
        self.prior.eval()
        self.vqvae.eval()
        try:
            if user_codes is None:
                # 2. text, once per call (or precomputed); 3. codes from the prior (KV cache)
                text, _ = self.encode_prompt(
                    request.prompts if request.embeds is None else None, device, n, prompt_embeds=request.embeds
                )
                user_codes = self._sample_codes(request, text, code_lengths, temperature, top_k, generator)
            # 4. decode
            motions, frame_lengths = self.decode_codes(user_codes)
        finally:
            self.prior.train(was_training[0])
            self.vqvae.train(was_training[1])
        self.maybe_free_model_hooks()

        # 5. trim, denormalise, resample
        outputs = finalize_motions(motions, frame_lengths, self.motion_stats, self.fps, request.output_fps, request.output_type)
        if not return_dict:
            return (outputs, request.output_fps, request.captions)
        return Express4DPipelineOutput(motions=outputs, fps=request.output_fps, captions=request.captions)

    def _sample_codes(self, request, text, code_lengths, temperature, top_k, generator) -> list[torch.Tensor]:
        steps = (max(code_lengths) if code_lengths is not None else int(self.prior.config.max_codes)) + 1
        with self.progress_bar(total=steps) as progress_bar:

            def on_step(k, codes):
                run_callback(request, self, k, k, {"codes": codes})
                progress_bar.update()

            sample = self.prior.sample(
                text, num_codes=code_lengths, temperature=temperature, top_k=top_k, generator=generator, use_cache=True,
                step_callback=on_step,
            )
        return [row[: int(length)] for row, length in zip(sample.codes, sample.lengths)]


__all__ = ["T2MGPTPipeline", "round_to_codes"]
