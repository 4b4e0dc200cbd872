"""The T2M-GPT baseline's pipeline: :class:`~pipelines.t2m_gpt.pipeline_t2m_gpt.T2MGPTPipeline` (its VQ-VAE
and prior are ``pipelines.models.modeling_vqvae`` and ``pipelines.models.modeling_t2m_gpt``)."""
