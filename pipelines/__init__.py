"""express4d models and pipelines: MDM + Express4DPipeline, VQ-VAE + T2M-GPT, evaluator, renderer."""
