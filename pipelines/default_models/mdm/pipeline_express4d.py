"""Loader shim so that `DiffusionPipeline.from_pretrained(folder_or_repo, custom_pipeline="pipeline_express4d",
trust_remote_code=True)` finds Express4DPipeline.  The code itself lives in the `express4d` package
(`pip install express4d`); this file only re-exports it."""
try:
    from pipelines import Express4DPipeline, Express4DPipelineOutput  # noqa: F401
except ImportError as e:  # pragma: no cover - only hit without the package
    raise ImportError("This Express4D pipeline needs the `express4d` package: pip install express4d") from e
