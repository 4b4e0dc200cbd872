"""express4d models and pipelines: MDM + Express4DPipeline, VQ-VAE + T2M-GPT, the evaluator, previews.

Every name is imported on first use (``from pipelines import Express4DPipeline`` loads torch and
diffusers then, not before), so ``express4d --help`` starts instantly.  Importing a model class
registers the express4d model types with transformers' ``AutoConfig`` / ``AutoModel``; saved folders
also load with ``AutoModel.from_pretrained(folder, trust_remote_code=True)``.

Where things live (the README's Development section has the tree)::

    models/           every Hub-loadable network, flat (remote-code saving copies same-folder imports only)
    mdm/, t2m_gpt/    the two pipelines
    pipeline_utils    the call contract's checks, the shared prompt encoding, safetensors save/load
    pipeline_output   Express4DPipelineOutput, shared by both pipelines
    auto_pipeline     mdm | t2m_gpt | FOLDER | HUB_ID -> a pipeline (explicit class map)
    evaluation/       the benchmark driver
    preview/          GIF / MP4 / curves / GLB of a motion
    commands/         the ``express4d`` command line and the Gradio demo

The module paths of the flat layout before (``pipelines.denoiser_mdm``, ``pipelines.pipeline_express4d``,
``pipelines.loading``, ...) stay importable through :data:`MOVED_MODULES`: saved ``model_index.json``
files, ``custom_pipeline=`` loader shims and user code name them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import TYPE_CHECKING

_EXPORTS = {
    # text
    "DEFAULT_TEXT_ENCODER": "models.text_encoding", "TextEmbeddings": "models.text_encoding",
    "encode_text": "models.text_encoding", "encode_prompts": "models.text_encoding",
    "load_text_encoder": "models.text_encoding", "text_embedding_dim": "models.text_encoding",
    # the MDM baseline
    "MDMDenoiser": "models.modeling_mdm", "MDMDenoiserOutput": "models.modeling_mdm", "Express4DPipeline": "mdm.pipeline_mdm",
    # the VQ baseline
    "Express4DVQVAEConfig": "models.configuration_vqvae", "Express4DVQVAE": "models.modeling_vqvae",
    "Express4DVQVAEOutput": "models.modeling_vqvae", "T2MGPTConfig": "models.configuration_t2m_gpt",
    "T2MGPTModel": "models.modeling_t2m_gpt", "T2MGPTOutput": "models.modeling_t2m_gpt",
    "T2MGPTSampleOutput": "models.modeling_t2m_gpt", "T2MGPTPipeline": "t2m_gpt.pipeline_t2m_gpt",
    # the benchmark's evaluator
    "Express4DEvaluatorConfig": "models.configuration_evaluator", "Express4DEvaluator": "models.modeling_evaluator",
    "Express4DEvaluatorOutput": "models.modeling_evaluator",
    # the shared output, loading and the bundled models
    "Express4DPipelineOutput": "pipeline_output", "DEFAULT_MODELS_DIR": "auto_pipeline", "default_model_path": "auto_pipeline",
    "load_motion_pipeline": "auto_pipeline",
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


# --------------------------------------------------------------------------------------------- old module paths
MOVED_MODULES: dict[str, str | tuple[str, ...]] = {
    "denoiser_mdm": "models.modeling_mdm",
    "configuration_vqvae": "models.configuration_vqvae",
    "modeling_vqvae": "models.modeling_vqvae",
    "configuration_t2m_gpt": "models.configuration_t2m_gpt",
    "modeling_t2m_gpt": "models.modeling_t2m_gpt",
    "configuration_evaluator": "models.configuration_evaluator",
    "modeling_evaluator": "models.modeling_evaluator",
    "text_encoding": "models.text_encoding",
    "pipeline_express4d": "mdm.pipeline_mdm",
    "pipeline_t2m_gpt": "t2m_gpt.pipeline_t2m_gpt",
    "motion_request": "pipeline_utils",
    "benchmark": "evaluation.benchmark",
    "benchmark_generation": "evaluation.benchmark_generation",
    "cli": ("commands.express4d_cli", "commands.arguments", "commands.generate"),
    "demo": "commands.demo",
    "render": "preview",
    # loading.py served three audiences; its names now live in three modules
    "loading": ("models.modeling_utils", "pipeline_utils", "auto_pipeline"),
}
"""Old module (``pipelines.<key>``) -> where its code lives now.  A single target is the very module
(``pipelines.denoiser_mdm`` *is* ``pipelines.models.modeling_mdm``: same classes, same registrations);
a tuple makes a read-only module that finds each old name in the first target that defines it."""


class _MovedModuleLoader(importlib.abc.Loader):
    def __init__(self, targets: str | tuple[str, ...]):
        self.targets = targets

    def create_module(self, spec):
        if isinstance(self.targets, str):
            module = importlib.import_module(f"{__name__}.{self.targets}")
            self._own_spec = module.__spec__
            return module
        return _merged_module(spec.name, [f"{__name__}.{t}" for t in self.targets])

    def exec_module(self, module):
        if isinstance(self.targets, str):
            module.__spec__ = self._own_spec  # importlib set the old name's spec on the shared module; undo it
        register_moved_modules()  # e.g. an old loader shim's import: its model_index.json names old modules too

    def get_code(self, fullname):  # `python -m pipelines.cli` runs the target's code
        target = self.targets if isinstance(self.targets, str) else self.targets[0]
        spec = importlib.util.find_spec(f"{__name__}.{target}")
        return spec.loader.get_code(spec.name)


def _merged_module(name: str, targets: list[str]) -> types.ModuleType:
    module = types.ModuleType(name, f"Compatibility module: the names of the old ``{name}``, now in {', '.join(targets)}.")
    sources = [importlib.import_module(t) for t in targets]
    module.__all__ = sorted({n for s in sources for n in getattr(s, "__all__", ())})

    def lookup(attr: str):
        for source in sources:
            if hasattr(source, attr):
                return getattr(source, attr)
        raise AttributeError(f"module {name!r} has no attribute {attr!r} (looked in {', '.join(targets)})")

    module.__getattr__ = lookup
    return module


def register_moved_modules() -> None:
    """Enter the old name of every loaded moved module in ``sys.modules``.

    diffusers takes a component class named in ``model_index.json`` (``["pipelines.denoiser_mdm",
    "MDMDenoiser"]``) only from a module that is already imported; the pipelines' ``from_pretrained`` calls
    this first, so folders saved before the move load."""
    for old, new in MOVED_MODULES.items():
        if isinstance(new, str) and f"{__name__}.{new}" in sys.modules:
            sys.modules.setdefault(f"{__name__}.{old}", sys.modules[f"{__name__}.{new}"])


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Answers imports of :data:`MOVED_MODULES`' old paths, and nothing else."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in MOVED_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader(MOVED_MODULES[name]))


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())


if TYPE_CHECKING:  # for type checkers and IDEs only
    from .auto_pipeline import DEFAULT_MODELS_DIR, default_model_path, load_motion_pipeline
    from .mdm.pipeline_mdm import Express4DPipeline
    from .models.configuration_evaluator import Express4DEvaluatorConfig
    from .models.configuration_t2m_gpt import T2MGPTConfig
    from .models.configuration_vqvae import Express4DVQVAEConfig
    from .models.modeling_evaluator import Express4DEvaluator, Express4DEvaluatorOutput
    from .models.modeling_mdm import MDMDenoiser, MDMDenoiserOutput
    from .models.modeling_t2m_gpt import T2MGPTModel, T2MGPTOutput, T2MGPTSampleOutput
    from .models.modeling_vqvae import Express4DVQVAE, Express4DVQVAEOutput
    from .models.text_encoding import DEFAULT_TEXT_ENCODER, TextEmbeddings, encode_prompts, encode_text, load_text_encoder, text_embedding_dim
    from .pipeline_output import Express4DPipelineOutput
    from .t2m_gpt.pipeline_t2m_gpt import T2MGPTPipeline
