"""Loader shim so that `DiffusionPipeline.from_pretrained(folder_or_repo, custom_pipeline="pipeline_t2m_gpt",
trust_remote_code=True)` finds T2MGPTPipeline.  The code itself lives in the `express4d` package
(`pip install express4d`); this file only re-exports it."""
try:
    from pipelines import T2MGPTPipeline  # noqa: F401
except ImportError as e:  # pragma: no cover - only hit without the package
    raise ImportError("This T2M-GPT pipeline needs the `express4d` package: pip install express4d") from e
