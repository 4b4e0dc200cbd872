"""``LightMDMSampler``: the bundled MDM's text -> motion with torch, ``tokenizers`` and safetensors only.

Why: ``express4d generate``'s cold start.  Importing diffusers' ``DiffusionPipeline`` (its model zoo, scipy.stats,
accelerate, torch._dynamo) and transformers' ``BertModel`` costs ~4.5 s of CPU before the first step, ten times the
generation itself.  This module runs the same computation as :class:`~pipelines.mdm.pipeline_mdm.Express4DPipeline`
for the folders it accepts (:meth:`LightMDMSampler.accepts`: an MDM folder with the DPM-Solver++ scheduler and the
default all-MiniLM-L6-v2 encoder, as bundled), and gives the same motions for the same seeds, bit for bit
(``tests/test_light_sampler.py``), from the same code where it can:

* the denoiser: :class:`~pipelines.models.mdm_network.MDMNetwork` (``MDMDenoiser``'s own layers and forward);
* the text: :func:`~pipelines.models.text_encoding.encode_text` on a functional MiniLM (BERT) forward and the
  encoder's ``tokenizer.json`` read by ``tokenizers`` (what transformers' fast tokenizer wraps);
* the sampler: DPM-Solver++ (2M, midpoint, final sigma zero), the arithmetic of diffusers'
  ``DPMSolverMultistepScheduler`` for that configuration, written out;
* the output: :func:`~pipelines.pipeline_output.finalize_motions` and :class:`~pipelines.pipeline_output.MotionFiles`.

Anything else (another scheduler or sampler, editing inputs, callbacks, another text encoder) is the pipeline's job.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from express4d_dataset.motion import MotionStats

from ..models.mdm_network import MDMNetwork
from ..models.text_encoding import NORMALIZE_ATTR, TextEmbeddings, _ALIASES, encode_text, resolve_text_encoder_path
from ..pipeline_output import MotionFiles, finalize_motions
from .guidance import check_guidance_rescale, check_lid_guidance_scale, guidance_scales, guided_prediction
from ..pipeline_utils import (DEFAULT_NUM_INFERENCE_STEPS, check_generator, check_num_inference_steps, check_output_fps, check_prompts,
                              repeat_per_prompt, resolve_num_frames)
from .prompt_stages import StageBlend, check_prompt_stages, plan_prompt_stages, stage_steps

ACCEPTED_SCHEDULER = {
    "_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "dpmsolver++", "beta_schedule": "squaredcos_cap_v2",
    "final_sigmas_type": "zero", "lambda_min_clipped": -math.inf, "prediction_type": "sample", "rescale_betas_zero_snr": False,
    "solver_order": 2, "solver_type": "midpoint", "thresholding": False, "timestep_spacing": "trailing",
    "trained_betas": None, "use_beta_sigmas": False, "use_exponential_sigmas": False, "use_flow_sigmas": False,
    "use_karras_sigmas": False, "use_lu_lambdas": False, "euler_at_final": False,
}
"""The scheduler configuration :class:`LightMDMSampler` computes (the bundled MDM's); a missing key counts as
diffusers' default, which must equal the value here too."""

_SCHEDULER_DEFAULTS = {"algorithm_type": "dpmsolver++", "beta_schedule": "linear", "final_sigmas_type": "zero",
                       "lambda_min_clipped": -math.inf, "prediction_type": "epsilon", "rescale_betas_zero_snr": False,
                       "solver_order": 2, "solver_type": "midpoint", "thresholding": False, "timestep_spacing": "linspace",
                       "trained_betas": None, "use_beta_sigmas": False, "use_exponential_sigmas": False,
                       "use_flow_sigmas": False, "use_karras_sigmas": False, "use_lu_lambdas": False, "euler_at_final": False}


@dataclass
class LightOutput(MotionFiles):
    """What :class:`LightMDMSampler` returns: the fields of ``Express4DPipelineOutput`` and its file writers."""

    motions: list
    fps: float
    captions: list


# --------------------------------------------------------------------------------------------- the text encoder
class _MiniLM(nn.Module):
    """BERT's encoder forward (transformers' ``BertModel``, eval mode, SDPA attention) over a safetensors state dict;
    what :func:`encode_text` calls as ``text_encoder(**tokens).last_hidden_state``."""

    def __init__(self, folder: Path):
        from safetensors.torch import load_file

        super().__init__()
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{folder}: not a BERT encoder this module computes")
        self.config = SimpleNamespace(**cfg)
        setattr(self.config, NORMALIZE_ATTR, _normalizes(folder))
        self.weights = {k: v for k, v in load_file(str(folder / "model.safetensors")).items() if k != "embeddings.position_ids"}
        self._anchor = nn.Parameter(self.weights["embeddings.LayerNorm.weight"], requires_grad=False)  # parameters() -> device

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        w, cfg, eps = self.weights, self.config, self.config.layer_norm_eps
        batch, length = input_ids.shape
        heads, width = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = F.embedding(input_ids, w["embeddings.word_embeddings.weight"], padding_idx=cfg.pad_token_id)
        x = x + F.embedding(token_type_ids, w["embeddings.token_type_embeddings.weight"])
        x = x + F.embedding(torch.arange(length)[None], w["embeddings.position_embeddings.weight"])
        x = F.layer_norm(x, (cfg.hidden_size,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        mask = None if bool(attention_mask.all()) else attention_mask.bool()[:, None, None, :].expand(batch, 1, length, length)
        for i in range(cfg.num_hidden_layers):
            p = f"encoder.layer.{i}."

            def lin(name, h):
                return F.linear(h, w[p + name + ".weight"], w[p + name + ".bias"])

            q, k, v = (lin(f"attention.self.{n}", x).view(batch, length, -1, width).transpose(1, 2) for n in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=width**-0.5, is_causal=False)
            a = a.transpose(1, 2).contiguous().reshape(batch, length, -1).contiguous()
            x = F.layer_norm(lin("attention.output.dense", a) + x, (cfg.hidden_size,),
                             w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
            h = F.gelu(lin("intermediate.dense", x))
            x = F.layer_norm(lin("output.dense", h) + x, (cfg.hidden_size,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        return SimpleNamespace(last_hidden_state=x)


def _normalizes(folder: Path) -> bool:
    from ..models.text_encoding import _sentence_transformers_normalizes

    return _sentence_transformers_normalizes(folder)


class _Tokenizer:
    """The encoder's ``tokenizer.json`` with the call :func:`encode_text` makes of transformers' fast tokenizer."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.no_truncation()
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.model_max_length = int(config.get("model_max_length", 512))
        self.pad_token_id = self._tok.token_to_id(config.get("pad_token", "[PAD]"))
        self.pad_token = config.get("pad_token", "[PAD]")

    def __call__(self, texts, padding=False, truncation=False, max_length=None, return_tensors=None, add_special_tokens=True):
        tok = self._tok
        if truncation:
            tok.enable_truncation(max_length)
        try:
            encodings = tok.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        finally:
            tok.no_truncation()
        if not padding:
            return {"input_ids": [e.ids for e in encodings]}
        width = max(len(e.ids) for e in encodings)
        ids = [e.ids + [self.pad_token_id] * (width - len(e.ids)) for e in encodings]
        types = [e.type_ids + [0] * (width - len(e.ids)) for e in encodings]
        mask = [[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in encodings]
        return {"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor(types), "attention_mask": torch.tensor(mask)}


# --------------------------------------------------------------------------------------------- the denoiser
class _Denoiser(MDMNetwork, nn.Module):
    """``MDMDenoiser``'s network from its folder (``config.json`` + ``diffusion_pytorch_model.safetensors``)."""

    def __init__(self, folder: Path):
        from safetensors.torch import load_file

        nn.Module.__init__(self)
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.config = SimpleNamespace(**cfg)
        self._build_layers(
            cfg["num_channels"], cfg["latent_dim"], cfg["num_layers"], cfg["num_heads"], cfg["ff_size"], cfg["dropout"],
            cfg["activation"], cfg["norm_first"], cfg["text_embed_dim"], cfg["text_conditioning"], cfg["text_attention"],
            cfg.get("text_token_dim"), cfg["max_frames"],
        )
        # assign: the tensors safetensors read, in place, as diffusers loads them (the same memory alignment, so the
        # same SIMD paths and the same last bits as Express4DPipeline.from_pretrained)
        self.load_state_dict(load_file(str(folder / "diffusion_pytorch_model.safetensors")), strict=True, assign=True)
        # eval mode, parameters left trainable as from_pretrained leaves them: with frozen parameters torch's
        # MultiheadAttention takes its fused path for some batch sizes, and the last bits of x0 would differ
        self.eval()


# --------------------------------------------------------------------------------------------- the sampler
class _DPMSolverPP2M:
    """diffusers' ``DPMSolverMultistepScheduler`` for :data:`ACCEPTED_SCHEDULER` (``set_timesteps`` + ``step``)."""

    def __init__(self, num_train_timesteps: int, num_inference_steps: int):
        alpha_bar = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731 (diffusers' betas_for_alpha_bar)
        n = num_train_timesteps
        betas = torch.tensor([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)], dtype=torch.float32)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        timesteps = np.arange(n, 0, -(n / num_inference_steps)).round().copy().astype(np.int64) - 1  # "trailing"
        sigmas = np.array(((1 - alphas_cumprod) / alphas_cumprod) ** 0.5)
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        self.sigmas = torch.from_numpy(np.concatenate([sigmas, [0]]).astype(np.float32))  # final sigma "zero"
        self.timesteps = torch.from_numpy(timesteps).to(dtype=torch.int64)
        self.outputs: list[torch.Tensor] = []

    @staticmethod
    def _alpha_sigma(sigma):
        alpha_t = 1 / ((sigma**2 + 1) ** 0.5)
        return alpha_t, sigma * alpha_t

    def step(self, x0: torch.Tensor, index: int, sample: torch.Tensor) -> torch.Tensor:
        self.outputs = (self.outputs + [x0])[-2:]
        sample = sample.to(torch.float32)
        alpha_t, sigma_t = self._alpha_sigma(self.sigmas[index + 1])
        alpha_s0, sigma_s0 = self._alpha_sigma(self.sigmas[index])
        lambda_t = torch.log(alpha_t) - torch.log(sigma_t)
        lambda_s0 = torch.log(alpha_s0) - torch.log(sigma_s0)
        h = lambda_t - lambda_s0
        if index == 0 or index == len(self.timesteps) - 1:  # first step, and the last (final sigma zero): first order
            prev = (sigma_t / sigma_s0) * sample - (alpha_t * (torch.exp(-h) - 1.0)) * x0
        else:
            alpha_s1, sigma_s1 = self._alpha_sigma(self.sigmas[index - 1])
            lambda_s1 = torch.log(alpha_s1) - torch.log(sigma_s1)
            m0, m1 = self.outputs[-1], self.outputs[-2]
            r0 = (lambda_s0 - lambda_s1) / h
            d0, d1 = m0, (1.0 / r0) * (m0 - m1)
            prev = (sigma_t / sigma_s0) * sample - (alpha_t * (torch.exp(-h) - 1.0)) * d0 - 0.5 * (alpha_t * (torch.exp(-h) - 1.0)) * d1
        return prev.to(x0.dtype)


class LightMDMSampler:
    """An MDM pipeline folder (as bundled) sampled without diffusers or transformers; see the module docstring.

    ``LightMDMSampler(folder)(prompts, seconds=6, generator=[...], output_fps=60)`` returns a :class:`LightOutput`
    equal to ``Express4DPipeline.from_pretrained(folder)(prompts, ...)``'s motions, fps and captions.
    """

    supports = ("num_inference_steps", "guidance_scale", "guidance_rescale", "lid_guidance_scale", "set_sampler",
                "prompt_stages")
    """The ``express4d generate`` options it honours (``set_sampler``: ``"dpm++"`` only)."""

    def __init__(self, folder):
        folder = Path(folder)
        reason = self.refusal(folder)
        if reason:
            raise ValueError(f"{folder}: {reason}; load it with Express4DPipeline.from_pretrained")
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        self.default_guidance_scale = float(index.get("default_guidance_scale", 2.5))
        self.default_guidance_rescale = check_guidance_rescale(index.get("default_guidance_rescale", 0.0),
                                                               "default_guidance_rescale (model_index.json)")
        self.default_lid_guidance_scale = check_lid_guidance_scale(index.get("default_lid_guidance_scale"),
                                                                   "default_lid_guidance_scale (model_index.json)")
        self.default_prompt_stages = check_prompt_stages(index.get("default_prompt_stages", "off"),
                                                         "default_prompt_stages (model_index.json)")
        self.denoiser = _Denoiser(folder / "denoiser")
        self.num_train_timesteps = int(json.loads((folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
                                       .get("num_train_timesteps", 1000))
        self.default_num_inference_steps = check_num_inference_steps(
            index.get("default_num_inference_steps"), "default_num_inference_steps (model_index.json)",
            maximum=self.num_train_timesteps)
        encoder_folder = Path(resolve_text_encoder_path(self.denoiser.config.text_encoder_name_or_path))
        self.text_encoder, self.tokenizer = _MiniLM(encoder_folder), _Tokenizer(encoder_folder)

    @staticmethod
    def refusal(folder) -> str | None:
        """Why this sampler would not compute what ``Express4DPipeline`` computes for ``folder`` (None: it does)."""
        folder = Path(folder)
        try:
            index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
            scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
            denoiser = json.loads((folder / "denoiser" / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return f"not a readable Express4DPipeline folder ({e})"
        if index.get("_class_name") != "Express4DPipeline" or list(index.get("scheduler") or []) != ["diffusers", "DPMSolverMultistepScheduler"]:
            return "not an Express4DPipeline with the DPM-Solver++ scheduler"
        if any(index.get(k) not in (None, [None, None]) for k in ("text_encoder", "tokenizer")):
            return "it ships its own text encoder"
        if not (folder / "denoiser" / "diffusion_pytorch_model.safetensors").is_file():
            return "no denoiser/diffusion_pytorch_model.safetensors"
        for key, value in ACCEPTED_SCHEDULER.items():
            if scheduler.get(key, _SCHEDULER_DEFAULTS.get(key, value)) != value:
                return f"scheduler {key}={scheduler.get(key)!r}"
        if str(denoiser.get("text_encoder_name_or_path", "")).lower() not in _ALIASES:
            return "its text encoder is not the default all-MiniLM-L6-v2"
        return None

    @property
    def fps(self) -> float:
        return float(self.denoiser.config.fps)

    @property
    def max_frames(self) -> int:
        return int(self.denoiser.config.max_frames)

    def describe(self) -> str:
        return "MDM (DPM-Solver++, without diffusers)"

    def set_sampler(self, name: str) -> None:
        if name != "dpm++":
            raise ValueError(f"sampler: {name!r} needs Express4DPipeline; LightMDMSampler computes dpm++ only")

    @torch.no_grad()
    def __call__(self, prompt, seconds=None, num_inference_steps=None, guidance_scale=None, generator=None,
                 output_fps=None, output_type="np", num_frames=None, guidance_rescale=None, prompt_stages=None,
                 lid_guidance_scale=None) -> LightOutput:
        """``Express4DPipeline.__call__(prompt, num_frames=, seconds=, num_inference_steps=, guidance_scale=,
        guidance_rescale=, lid_guidance_scale=, generator=, output_type=, output_fps=, prompt_stages=)``: one motion per prompt, the same
        steps in the same order."""
        prompts = check_prompts(prompt)
        out_fps = check_output_fps(output_fps, self.fps)
        lengths = resolve_num_frames(prompts, num_frames, seconds, fps=self.fps, max_frames=self.max_frames)
        check_generator(generator, len(prompts))
        scale = self.default_guidance_scale if guidance_scale is None else float(guidance_scale)
        if not (math.isfinite(scale) and 0 <= scale <= 20):
            raise ValueError(f"guidance_scale: must be between 0 and 20, got {scale:g}")
        rescale = self.default_guidance_rescale if guidance_rescale is None else check_guidance_rescale(guidance_rescale)
        steps = (check_num_inference_steps(num_inference_steps, maximum=self.num_train_timesteps)
                 or self.default_num_inference_steps or DEFAULT_NUM_INFERENCE_STEPS)
        stages_mode = check_prompt_stages(self.default_prompt_stages if prompt_stages is None else prompt_stages)
        lids = check_lid_guidance_scale(self.default_lid_guidance_scale if lid_guidance_scale is None else lid_guidance_scale,
                                        "lid_guidance_scale")
        scales = guidance_scales(scale, lids)
        guided = scale != 1.0 or lids not in (None, 1.0)

        stages = plan_prompt_stages(prompts, lengths, self.fps) if stages_mode == "auto" else None
        max_len = max(lengths)
        blend = None if stages is None else StageBlend(stages, lengths, 1, self.fps, max_len)
        texts = prompts if blend is None else blend.texts(prompts)
        cond = encode_text(self.text_encoder, self.tokenizer, texts, device="cpu", dtype=torch.float32)
        mask = torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]
        staged_steps = 0 if blend is None else stage_steps(steps)
        phases = []  # (text, mask) of the stage windows' steps, then of the whole clip's
        if blend is not None:
            phases.append((cond[blend.rows], blend.mask))
            cond = cond[blend.whole_rows]
        phases.append((cond, mask))
        phases = [(TextEmbeddings.cat([c.unconditional_like(), c]) if guided else c, m, torch.cat([m, m]) if guided else m)
                  for c, m in phases]

        scheduler = _DPMSolverPP2M(self.num_train_timesteps, steps)
        shape = (len(prompts), max_len, self.denoiser.config.num_channels)
        if isinstance(generator, list):  # diffusers' randn_tensor: one draw per generator
            latents = torch.cat([torch.randn((1,) + shape[1:], generator=g, dtype=torch.float32) for g in generator], dim=0)
        else:
            latents = torch.randn(shape, generator=generator, dtype=torch.float32)
        latents = latents * 1.0  # the scheduler's init_noise_sigma
        for i, t in enumerate(scheduler.timesteps):
            staged = i < staged_steps
            text_in, step_mask, mask_in = phases[0 if staged else -1]
            x = blend.crop(latents) if staged else latents
            model_in = torch.cat([x, x]) if guided else x
            x0 = self.denoiser.predict_x0(model_in, t, text_in, attention_mask=mask_in).to(latents.dtype)
            if guided:
                x0_uncond, x0_cond = x0.chunk(2)
                x0 = guided_prediction(x0_uncond, x0_cond, scales, rescale, step_mask)
            if staged:
                x0 = blend.blend(x0)
            latents = scheduler.step(x0, i, latents)
        stats = MotionStats(mean=self.denoiser.config.motion_mean, std=self.denoiser.config.motion_std)
        motions = finalize_motions(latents, repeat_per_prompt(lengths, 1), stats, self.fps, out_fps, output_type)
        return LightOutput(motions=motions, fps=out_fps, captions=list(prompts))


__all__ = ["ACCEPTED_SCHEDULER", "LightMDMSampler", "LightOutput"]
