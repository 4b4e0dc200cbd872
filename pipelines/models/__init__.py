"""Every Hub-loadable network of express4d, one ``configuration_*`` / ``modeling_*`` pair per model.

Flat on purpose: transformers' remote-code saving (``register_for_auto_class``) copies a model's file and
the files it imports relatively into the saved folder, so these modules import only each other
(``modeling_utils``: the safetensors-only mixin; ``text_encoding``: the frozen text encoder's outputs)
and never the rest of the package.  A saved VQ-VAE, T2M-GPT prior or evaluator folder thus holds model
code only.  Nothing is imported here; import the modules (or the names from :mod:`pipelines`).
"""
