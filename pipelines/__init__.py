"""express4d models and pipelines: MDM + Express4DPipeline, VQ-VAE + T2M-GPT, evaluator, renderer."""

# issue 3: MDM denoiser, text encoding and Express4DPipeline
from .text_encoding import DEFAULT_TEXT_ENCODER, encode_prompts, load_text_encoder, text_embedding_dim  # noqa: E402
from .denoiser_mdm import MDMDenoiser, MDMDenoiserOutput  # noqa: E402
from .pipeline_express4d import Express4DPipeline, Express4DPipelineOutput  # noqa: E402

# issue 4: VQ-VAE + T2M-GPT prior (transformers models, Auto-registered; saved folders also load
# with trust_remote_code=True because the classes are registered for the auto classes)
from transformers import AutoConfig as _AutoConfig, AutoModel as _AutoModel  # noqa: E402

from .configuration_vqvae import Express4DVQVAEConfig  # noqa: E402
from .modeling_vqvae import Express4DVQVAE, Express4DVQVAEOutput  # noqa: E402
from .configuration_t2m_gpt import T2MGPTConfig  # noqa: E402
from .modeling_t2m_gpt import T2MGPTModel, T2MGPTOutput, T2MGPTSampleOutput  # noqa: E402

_AutoConfig.register(Express4DVQVAEConfig.model_type, Express4DVQVAEConfig, exist_ok=True)
_AutoModel.register(Express4DVQVAEConfig, Express4DVQVAE, exist_ok=True)
_AutoConfig.register(T2MGPTConfig.model_type, T2MGPTConfig, exist_ok=True)
_AutoModel.register(T2MGPTConfig, T2MGPTModel, exist_ok=True)
Express4DVQVAEConfig.register_for_auto_class()
Express4DVQVAE.register_for_auto_class("AutoModel")
T2MGPTConfig.register_for_auto_class()
T2MGPTModel.register_for_auto_class("AutoModel")
from .pipeline_t2m_gpt import T2MGPTPipeline  # noqa: E402

# issue 5: the benchmark's evaluator (text / motion co-embedding; the frozen sentence encoder is
# referenced by name in the config, not saved in the checkpoint)
from .configuration_evaluator import Express4DEvaluatorConfig  # noqa: E402
from .modeling_evaluator import Express4DEvaluator, Express4DEvaluatorOutput  # noqa: E402

_AutoConfig.register(Express4DEvaluatorConfig.model_type, Express4DEvaluatorConfig, exist_ok=True)
_AutoModel.register(Express4DEvaluatorConfig, Express4DEvaluator, exist_ok=True)
Express4DEvaluatorConfig.register_for_auto_class()
Express4DEvaluator.register_for_auto_class("AutoModel")

# issue 7: the default models shipped in the package (trained on the procedural stand-in corpus)
from .bundled import DEFAULT_MODELS_DIR, default_model_path  # noqa: E402
