"""The package layout: folders saved before pipelines/ was re-foldered still load, to the same numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

SAVED = Path(__file__).resolve().parent / "fixtures" / "saved_before_layout"
PROMPT = "a person is smiling softly"  # make_fixture.py's


@pytest.fixture(scope="module")
def expected():
    return {k: v.numpy() for k, v in load_file(str(SAVED / "expected.safetensors")).items()}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


CROSS_CPU_ATOL = 1e-5
"""The fixture's outputs were recorded on one CPU; another (AVX2 against AVX-512) sums in another order and
differs by about 1e-6.  A wrong module or weight differs by far more."""


def test_fixture_names_the_old_module_paths():
    """The point of the fixture: it was written by the flat layout, so it names the old modules."""
    assert '"pipelines.denoiser_mdm"' in (SAVED / "mdm" / "model_index.json").read_text()
    index = (SAVED / "t2m_gpt" / "model_index.json").read_text()
    assert '"pipelines.modeling_vqvae"' in index and '"pipelines.modeling_t2m_gpt"' in index
    assert "from pipelines.pipeline_express4d import" in (SAVED / "mdm" / "pipeline_express4d.py").read_text()


def test_mdm_folder_saved_before_the_move_generates_the_same(expected):
    from pipelines import Express4DPipeline

    pipe = Express4DPipeline.from_pretrained(SAVED / "mdm")
    pipe.set_progress_bar_config(disable=True)
    out = pipe(PROMPT, num_frames=6, num_inference_steps=2, generator=gen())
    np.testing.assert_allclose(out.motions[0], expected["mdm"], atol=CROSS_CPU_ATOL)


def test_t2m_gpt_folder_saved_before_the_move_generates_the_same(expected):
    from pipelines import T2MGPTPipeline

    pipe = T2MGPTPipeline.from_pretrained(SAVED / "t2m_gpt")
    pipe.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(pipe(PROMPT, num_frames=8, generator=gen()).motions[0], expected["t2m_gpt"], atol=CROSS_CPU_ATOL)
    codes = pipe.vqvae.encode(torch.from_numpy(expected["vqvae_input"]))
    assert codes.tolist() == expected["vqvae_codes"].tolist()


def test_model_folders_saved_before_the_move_load_with_auto_model(expected):
    from transformers import AutoModel

    from pipelines import Express4DEvaluator, Express4DVQVAE, T2MGPTModel

    assert type(AutoModel.from_pretrained(SAVED / "t2m_gpt" / "vqvae")) is Express4DVQVAE
    assert type(AutoModel.from_pretrained(SAVED / "t2m_gpt" / "prior")) is T2MGPTModel
    for evaluator in (Express4DEvaluator.from_pretrained(SAVED / "evaluator"), AutoModel.from_pretrained(SAVED / "evaluator")):
        assert type(evaluator) is Express4DEvaluator
        np.testing.assert_allclose(evaluator.embed_motions([expected["vqvae_input"][0]]), expected["evaluator_motions"], atol=1e-5)
        np.testing.assert_allclose(evaluator.embed_texts([PROMPT]), expected["evaluator_texts"], atol=1e-5)


@pytest.mark.parametrize("name, shim", [("mdm", "pipeline_express4d"), ("t2m_gpt", "pipeline_t2m_gpt")])
def test_custom_pipeline_shim_saved_before_the_move_loads(name, shim, tmp_path, expected):
    from diffusers import DiffusionPipeline

    folder = shutil.copytree(SAVED / name, tmp_path / name)
    pipe = DiffusionPipeline.from_pretrained(folder, custom_pipeline=shim, trust_remote_code=True)
    pipe.set_progress_bar_config(disable=True)
    steps = dict(num_inference_steps=2) if name == "mdm" else {}
    out = pipe(PROMPT, num_frames=6 if name == "mdm" else 8, generator=gen(), **steps)
    np.testing.assert_allclose(out.motions[0], expected[name], atol=CROSS_CPU_ATOL)


# ------------------------------------------------------------------ old module paths
def test_old_module_paths_are_the_moved_modules():
    import importlib

    import pipelines

    for old, new in pipelines.MOVED_MODULES.items():
        module = importlib.import_module(f"pipelines.{old}")
        if isinstance(new, str):
            assert module is importlib.import_module(f"pipelines.{new}"), old
            assert module.__spec__.name == f"pipelines.{new}"  # the shared module keeps its own spec
        else:  # pipelines.loading, pipelines.cli: each name from the first module that now defines it
            first = importlib.import_module(f"pipelines.{new[0]}")
            assert set(first.__all__) <= set(module.__all__), old
            assert all(getattr(module, n) is getattr(first, n) for n in first.__all__), old
    from pipelines.denoiser_mdm import MDMDenoiser
    from pipelines.loading import SafePipelineIO, default_model_path, load_motion_pipeline, loader_shim, resolve_model_path
    from pipelines.models.modeling_mdm import MDMDenoiser as moved
    from pipelines.pipeline_express4d import Express4DPipeline, Express4DPipelineOutput  # the old loader shim's import

    assert MDMDenoiser is moved and Express4DPipeline is pipelines.Express4DPipeline
    assert Express4DPipelineOutput is pipelines.Express4DPipelineOutput
    assert callable(default_model_path) and callable(load_motion_pipeline) and callable(loader_shim)
    assert callable(resolve_model_path) and SafePipelineIO.__module__ == "pipelines.pipeline_utils"
    with pytest.raises(AttributeError, match="pipelines.loading.*no attribute 'nope'"):
        import pipelines.loading as loading

        loading.nope


def test_old_cli_path_runs_as_a_module():
    import subprocess
    import sys

    for module in ("pipelines.cli", "pipelines.commands"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "usage: express4d" in out.stdout and "generate" in out.stdout and "evaluate" in out.stdout


# ------------------------------------------------------------------ what a saved folder holds
def test_saved_model_folders_hold_model_code_only(tmp_path):
    """transformers' remote-code saving copies a model's module and its relative imports: models/ files import
    only each other, so no CLI, name resolution or pipeline code lands beside the weights."""
    from mdm_tiny import tiny_evaluator, tiny_t2m_gpt

    tiny_t2m_gpt(tmp_path / "tok").save_pretrained(tmp_path / "t2m_gpt")
    tiny_evaluator(tmp_path / "etok").save_pretrained(tmp_path / "evaluator")
    expected = {
        tmp_path / "t2m_gpt" / "vqvae": {"configuration_vqvae.py", "modeling_vqvae.py", "modeling_utils.py"},
        tmp_path / "t2m_gpt" / "prior": {"configuration_t2m_gpt.py", "modeling_t2m_gpt.py", "modeling_utils.py", "text_encoding.py"},
        tmp_path / "evaluator": {"configuration_evaluator.py", "modeling_evaluator.py", "modeling_utils.py", "text_encoding.py"},
    }
    for folder, files in expected.items():
        assert {p.name for p in folder.glob("*.py")} == files, folder
        for code in folder.glob("*.py"):
            text = code.read_text()
            for cli_code in ("def resolve_model_path", "def default_model_path", "import argparse", "class SafePipelineIO",
                             "DEFAULT_MODELS_DIR ="):
                assert cli_code not in text, f"{code.name} holds {cli_code}"
    shim = (tmp_path / "t2m_gpt" / "pipeline_t2m_gpt.py").read_text()
    assert "from pipelines import T2MGPTPipeline" in shim  # the public name: survives any later move


# ------------------------------------------------------------------ where things may import from
ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every import in a file (module level or not) as (absolute-or-relative name, level)."""
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", node.level))
    return out


def test_pipelines_top_level_holds_only_the_shared_modules():
    files = {p.name for p in (ROOT / "pipelines").glob("*.py")}
    assert files == {"__init__.py", "pipeline_utils.py", "pipeline_output.py", "auto_pipeline.py"}


def test_models_import_only_their_own_folder():
    for path in (ROOT / "pipelines" / "models").glob("*.py"):
        for name, level in _imports(path):
            assert level <= 1, f"{path.name}: relative import from outside models/ ({'.' * level}{name})"
            assert not name.startswith(("pipelines", "training")), f"{path.name}: imports {name}"


def test_pipelines_and_metrics_import_each_other_only_where_the_design_says():
    """pipelines -> express4d_metrics only in the benchmark driver (evaluation/); express4d_metrics -> pipelines
    only inside a function, and only to load an evaluator."""
    import ast

    for path in (ROOT / "pipelines").rglob("*.py"):
        if "evaluation" in path.parts or "default_models" in path.parts:
            continue
        assert not [n for n, _ in _imports(path) if n.startswith("express4d_metrics")], path
    for path in (ROOT / "metrics" / "express4d_metrics").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level
            for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else []:
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in sub.names] if isinstance(sub, ast.Import) else [sub.module or ""]
                    assert not [n for n in names if n.startswith(("pipelines", "training"))], path
        lazy = [n for n, _ in _imports(path) if n.startswith("pipelines")]
        assert all(n.endswith("modeling_evaluator") for n in lazy), (path, lazy)


def test_generate_reaches_the_pipeline_class_without_a_name_lookup():
    """`express4d generate` -> auto_pipeline.load_motion_pipeline -> the class from an explicit map."""
    from pipelines.auto_pipeline import pipeline_classes
    from pipelines.mdm.pipeline_mdm import Express4DPipeline
    from pipelines.t2m_gpt.pipeline_t2m_gpt import T2MGPTPipeline

    assert pipeline_classes() == {"Express4DPipeline": Express4DPipeline, "T2MGPTPipeline": T2MGPTPipeline}
    for path in (ROOT / "pipelines" / "auto_pipeline.py", ROOT / "pipelines" / "commands" / "generate.py"):
        text = path.read_text(encoding="utf-8")
        assert "getattr(" not in text and "import_module(" not in text, path


def test_set_sampler_uses_the_classes_samplers_names(tmp_path):
    """``--sampler``: the scheduler class comes from an explicit map too, the one SAMPLERS documents."""
    from mdm_tiny import tiny_pipeline

    from pipelines.mdm.pipeline_mdm import SAMPLERS

    pipe = tiny_pipeline(tmp_path)
    for name, class_name in SAMPLERS.items():
        pipe.set_sampler(name)
        assert type(pipe.scheduler).__name__ == class_name
    with pytest.raises(ValueError, match="sampler: unknown 'euler'; choose one of dpm\\+\\+, ddim, ddpm"):
        pipe.set_sampler("euler")


def test_load_motion_pipeline_takes_a_bundled_name():
    from pipelines import T2MGPTPipeline, load_motion_pipeline

    assert type(load_motion_pipeline("t2m_gpt")) is T2MGPTPipeline
    with pytest.raises(FileNotFoundError, match="load_motion_pipeline no-such-model: no such folder, bundled model or Hub id"):
        load_motion_pipeline("no-such-model")
