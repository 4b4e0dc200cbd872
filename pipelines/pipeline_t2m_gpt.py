"""``T2MGPTPipeline``: text -> code ids (T2M-GPT prior) -> facial motion (VQ-VAE decoder).

Called like :class:`~pipelines.pipeline_express4d.Express4DPipeline` and returning the same
:class:`~pipelines.pipeline_express4d.Express4DPipelineOutput`, so the benchmark and the CLI treat
both baselines alike.  Prompt, length and output-rate handling are the shared helpers of
``pipeline_express4d``; the text encoder is resolved by ``text_encoding.resolve_text_encoder``.
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

# Imported so that `pipelines.modeling_vqvae` / `pipelines.modeling_t2m_gpt` are in sys.modules: the
# library names diffusers records in model_index.json for these components.
from .modeling_t2m_gpt import T2MGPTModel  # noqa: F401
from .modeling_vqvae import Express4DVQVAE  # noqa: F401
from .pipeline_express4d import (
    Express4DPipelineOutput,
    LengthInput,
    PromptInput,
    SafePipelineIO,
    SecondsInput,
    check_num_motions_per_prompt,
    check_output_fps,
    check_output_type,
    check_prompts,
    finalize_motions,
    repeat_per_prompt,
    resolve_num_frames,
)

logger = logging.getLogger(__name__)

PIPELINE_CODE_FILE = "pipeline_t2m_gpt.py"
_PIPELINE_CODE = '''"""Loader shim so that `DiffusionPipeline.from_pretrained(folder_or_repo, custom_pipeline="pipeline_t2m_gpt",
trust_remote_code=True)` finds T2MGPTPipeline.  The code itself lives in the `express4d` package
(`pip install express4d`); this file only re-exports it."""
try:
    from pipelines.pipeline_t2m_gpt import T2MGPTPipeline  # noqa: F401
except ImportError as e:  # pragma: no cover - only hit without the package
    raise ImportError("This T2M-GPT pipeline needs the `express4d` package: pip install express4d") from e
'''


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


class T2MGPTPipeline(SafePipelineIO, DiffusionPipeline):
    """Text -> facial motion (61 Live Link Face channels) with the T2M-GPT prior and the VQ-VAE decoder.

    Components:
        vqvae: :class:`~pipelines.modeling_vqvae.Express4DVQVAE` (decoder, codebook; carries fps,
            channel names and normalisation statistics).
        prior: :class:`~pipelines.modeling_t2m_gpt.T2MGPTModel` (writes code ids from the text embedding).
        text_encoder, tokenizer: optional.  When None, the encoder named by the prior's
            ``text_encoder_name`` is loaded on first use and cached (saved pipelines need not
            duplicate its weights).

    Example::

        pipe = T2MGPTPipeline.from_pretrained("path/or/repo")
        out = pipe("A person is smiling softly", seconds=6, generator=torch.Generator().manual_seed(0))
        out.save_livelink_csv("smile.csv")
    """

    model_cpu_offload_seq = "text_encoder->prior->vqvae"
    _optional_components = ["text_encoder", "tokenizer"]
    _weight_subfolders = ("vqvae", "prior", "text_encoder")
    _pipeline_code_file = PIPELINE_CODE_FILE
    _pipeline_code = _PIPELINE_CODE

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
    def max_frames(self) -> int:
        """Longest motion: the prior's ``max_codes`` times the frames per code (196 at the defaults)."""
        return int(self.prior.config.max_codes) * self.frames_per_code

    @property
    def motion_stats(self) -> MotionStats:
        return MotionStats(mean=self.vqvae.config.motion_mean, std=self.vqvae.config.motion_std)

    # ------------------------------------------------------------------ text
    def get_text_encoder(self, device: torch.device | str | None = None):
        """``(text_encoder, tokenizer)``: the components, or the prior's named default encoder
        (loaded once per process; moved to ``device`` when given)."""
        from .text_encoding import resolve_text_encoder

        config = self.prior.config
        return resolve_text_encoder(
            self.text_encoder, self.tokenizer, config.text_encoder_name, config.text_embed_dim, "prior", device
        )

    def encode_prompt(self, prompt: list[str], device: torch.device, num_motions_per_prompt: int = 1) -> torch.Tensor:
        """Pooled text embeddings ``[B * n, D]`` (each prompt encoded once, repeated per motion)."""
        from .text_encoding import encode_prompts

        text_encoder, tokenizer = self.get_text_encoder(device)
        emb = encode_prompts(text_encoder, tokenizer, list(prompt), device=device, dtype=self.prior.dtype)
        return emb.repeat_interleave(num_motions_per_prompt, dim=0)

    # ------------------------------------------------------------------ checks
    def check_inputs(self, temperature, top_k, generator, batch_size: int, codes, num_frames, seconds) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature: must be a positive number (1.0 samples the model's distribution), got {temperature!r}")
        num_tokens = int(self.prior.config.num_codes) + 1
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= num_tokens):
            raise ValueError(f"top_k: must be None (full softmax) or an integer in [1, {num_tokens}], got {top_k!r}")
        if isinstance(generator, (list, tuple)) and len(generator) != batch_size:
            raise ValueError(f"generator: got a list of {len(generator)} generators for {batch_size} motions; pass one per motion")
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
    @torch.no_grad()
    def __call__(
        self,
        prompt: PromptInput,
        num_frames: LengthInput = None,
        seconds: SecondsInput = None,
        num_motions_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "np",
        output_fps: float | None = None,
        return_dict: bool = True,
        temperature: float = 1.0,
        top_k: int | None = None,
        codes=None,
    ):
        """Generate facial motions from text.

        Args:
            prompt: a text or a list of texts (``""`` = the all-zeros text embedding).
            num_frames: length in native frames (int or one per prompt).  The VQ-VAE decodes 4 frames
                per code, so other lengths are rounded to the nearest multiple of 4 (with a logged
                warning).  The prior then writes exactly that many codes (End forbidden before,
                forced at).  With neither ``num_frames`` nor ``seconds`` the prior ends the motion
                itself (T2M-GPT's behaviour), up to ``max_frames`` (196).
            seconds: length in seconds (float or one per prompt), ``round(seconds * fps)`` frames, then rounded as above.
            num_motions_per_prompt: samples per prompt (outputs grouped prompt by prompt).
            generator: a ``torch.Generator`` (or one per motion) for reproducible sampling.
            output_type: ``"np"`` (float32 arrays) or ``"pt"`` (tensors).
            output_fps: output frame rate (default native 20; e.g. 60 for Live Link / Unreal), linear interpolation.
            return_dict: return :class:`Express4DPipelineOutput` (default) or ``(motions, fps, captions)``.
            temperature: softmax temperature of the prior (1.0 = the model's distribution).
            top_k: sample among the ``top_k`` most likely tokens (None = full softmax, as T2M-GPT).
            codes: code sequences to decode instead of sampling them (``[prompts * n, L]`` ids, ``-1``
                padding the end, or a list of 1-D sequences); the prompts then only label the outputs.
        """
        # 1. every check before any compute
        self.check_components(self.vqvae, self.prior)
        prompts = check_prompts(prompt)
        n = check_num_motions_per_prompt(num_motions_per_prompt)
        check_output_type(output_type)
        out_fps = check_output_fps(output_fps, self.fps)
        batch_size = len(prompts) * n
        self.check_inputs(temperature, top_k, generator, batch_size, codes, num_frames, seconds)
        code_lengths = None
        user_codes = None
        if codes is not None:
            user_codes, _ = self.prepare_codes(codes, batch_size)
        elif num_frames is not None or seconds is not None:
            lengths = resolve_num_frames(prompts, num_frames, seconds, fps=self.fps, max_frames=self.max_frames)
            source = "num_frames" if num_frames is not None else "seconds"
            code_lengths = repeat_per_prompt(round_to_codes(lengths, self.frames_per_code, self.prior.config.max_codes, source), n)

        device = self._execution_device
        was_training = (self.prior.training, self.vqvae.training)
        self.prior.eval()
        self.vqvae.eval()
        try:
            if user_codes is None:
                # 2. text, once per call; 3. codes from the prior (KV cache)
                text = self.encode_prompt(prompts, device, n)
                sample = self.prior.sample(
                    text, num_codes=code_lengths, temperature=temperature, top_k=top_k, generator=generator, use_cache=True
                )
                user_codes = [row[: int(length)] for row, length in zip(sample.codes, sample.lengths)]
            # 4. decode
            motions, frame_lengths = self.decode_codes(user_codes)
        finally:
            self.prior.train(was_training[0])
            self.vqvae.train(was_training[1])
        self.maybe_free_model_hooks()

        # 5. trim, denormalise, resample
        outputs = finalize_motions(motions, frame_lengths, self.motion_stats, self.fps, out_fps, output_type)
        captions = repeat_per_prompt(prompts, n)
        if not return_dict:
            return (outputs, out_fps, captions)
        return Express4DPipelineOutput(motions=outputs, fps=out_fps, captions=captions)


__all__ = ["T2MGPTPipeline", "round_to_codes"]
