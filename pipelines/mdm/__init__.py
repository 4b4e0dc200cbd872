"""The MDM baseline's pipeline: :class:`~pipelines.mdm.pipeline_mdm.Express4DPipeline` (its denoiser is
``pipelines.models.modeling_mdm``)."""
