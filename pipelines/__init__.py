"""express4d models and pipelines: MDM + Express4DPipeline, VQ-VAE + T2M-GPT, the evaluator, previews.

Every name is imported on first use (``from pipelines import Express4DPipeline`` loads torch and
diffusers then, not before), so ``express4d --help`` starts instantly.  Importing a model class
registers the express4d model types with transformers' ``AutoConfig`` / ``AutoModel``; saved folders
also load with ``AutoModel.from_pretrained(folder, trust_remote_code=True)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    # text
    "DEFAULT_TEXT_ENCODER": "text_encoding", "TextEmbeddings": "text_encoding", "encode_text": "text_encoding",
    "encode_prompts": "text_encoding", "load_text_encoder": "text_encoding", "text_embedding_dim": "text_encoding",
    # the MDM baseline
    "MDMDenoiser": "denoiser_mdm", "MDMDenoiserOutput": "denoiser_mdm", "Express4DPipeline": "pipeline_express4d",
    # the VQ baseline
    "Express4DVQVAEConfig": "configuration_vqvae", "Express4DVQVAE": "modeling_vqvae", "Express4DVQVAEOutput": "modeling_vqvae",
    "T2MGPTConfig": "configuration_t2m_gpt", "T2MGPTModel": "modeling_t2m_gpt", "T2MGPTOutput": "modeling_t2m_gpt",
    "T2MGPTSampleOutput": "modeling_t2m_gpt", "T2MGPTPipeline": "pipeline_t2m_gpt",
    # the benchmark's evaluator
    "Express4DEvaluatorConfig": "configuration_evaluator", "Express4DEvaluator": "modeling_evaluator",
    "Express4DEvaluatorOutput": "modeling_evaluator",
    # the shared output, loading and the bundled models
    "Express4DPipelineOutput": "pipeline_output", "DEFAULT_MODELS_DIR": "loading", "default_model_path": "loading",
    "load_motion_pipeline": "loading",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs only
    from .configuration_evaluator import Express4DEvaluatorConfig
    from .configuration_t2m_gpt import T2MGPTConfig
    from .configuration_vqvae import Express4DVQVAEConfig
    from .denoiser_mdm import MDMDenoiser, MDMDenoiserOutput
    from .loading import DEFAULT_MODELS_DIR, default_model_path, load_motion_pipeline
    from .modeling_evaluator import Express4DEvaluator, Express4DEvaluatorOutput
    from .modeling_t2m_gpt import T2MGPTModel, T2MGPTOutput, T2MGPTSampleOutput
    from .modeling_vqvae import Express4DVQVAE, Express4DVQVAEOutput
    from .pipeline_express4d import Express4DPipeline
    from .pipeline_output import Express4DPipelineOutput
    from .pipeline_t2m_gpt import T2MGPTPipeline
    from .text_encoding import DEFAULT_TEXT_ENCODER, TextEmbeddings, encode_prompts, encode_text, load_text_encoder, text_embedding_dim
