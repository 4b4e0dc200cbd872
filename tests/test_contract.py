"""One call contract for both pipelines, and the package's structure (no import cycles, lazy CLI, packaging)."""

import ast
import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from mdm_tiny import CallCounter, tiny_pipeline, tiny_t2m_gpt
from pipelines.motion_request import CALL_ARGUMENTS
from pipelines.pipeline_express4d import Express4DPipeline
from pipelines.pipeline_output import Express4DPipelineOutput
from pipelines.pipeline_t2m_gpt import T2MGPTPipeline
from pipelines.text_encoding import TextEmbeddings

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a person is smiling softly", "sad face"]


@pytest.fixture(params=["mdm", "t2m_gpt"])
def pipe(request, tmp_path):
    pipe = tiny_pipeline(tmp_path / "mdm") if request.param == "mdm" else tiny_t2m_gpt(tmp_path / "gpt")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_both_call_signatures_share_the_contract_in_order_with_the_same_defaults():
    sigs = [list(inspect.signature(cls.__call__).parameters.values())[1:] for cls in (Express4DPipeline, T2MGPTPipeline)]
    for params in sigs:
        assert [p.name for p in params[: len(CALL_ARGUMENTS)]] == list(CALL_ARGUMENTS)
    shared = [[(p.name, p.default) for p in params[: len(CALL_ARGUMENTS)]] for params in sigs]
    assert shared[0] == shared[1]
    for cls in (Express4DPipeline, T2MGPTPipeline):
        doc = cls.__call__.__doc__
        assert "Returns:" in doc and "Examples::" in doc and "prompt_embeds" in doc


def test_same_output_type_and_shapes(pipe):
    out = pipe(PROMPTS, num_frames=[8, 12], num_motions_per_prompt=2, generator=gen(), output_fps=60)
    assert isinstance(out, Express4DPipelineOutput)
    assert [m.shape for m in out.motions] == [(24, 61), (24, 61), (36, 61), (36, 61)]  # 3 T at 60 fps: same duration
    assert out.fps == 60.0 and out.captions == [PROMPTS[0]] * 2 + [PROMPTS[1]] * 2


def test_precomputed_prompt_embeds_give_the_same_motions_without_encoding(pipe):
    expected = pipe(PROMPTS, num_frames=8, generator=[gen(1), gen(2)]).motions
    embeds, _ = pipe.encode_prompt(PROMPTS, do_classifier_free_guidance=False)
    assert isinstance(embeds, TextEmbeddings) and len(embeds) == 2 and embeds.tokens.shape[:2] == embeds.mask.shape
    counter = CallCounter(pipe.text_encoder)
    try:
        again = pipe(prompt_embeds=embeds, num_frames=8, generator=[gen(1), gen(2)])
        labelled = pipe(PROMPTS[::-1], prompt_embeds=embeds[[1, 0]], num_frames=8, generator=[gen(2), gen(1)])
    finally:
        counter.remove()
    assert counter.calls == 0  # no text was encoded
    for a, b in zip(expected, again.motions):
        np.testing.assert_array_equal(a, b)
    assert again.captions == ["", ""] and labelled.captions == PROMPTS[::-1]
    np.testing.assert_array_equal(labelled.motions[0], expected[1])
    with pytest.raises(ValueError, match="prompt: 1 prompts label 2 rows of prompt_embeds"):
        pipe(["only one"], prompt_embeds=embeds, num_frames=8)


def test_progress_bar_over_the_steps(pipe):
    seen = []

    class Bar:
        def __init__(self, total):
            seen.append(total)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            seen.append("step")

    pipe.progress_bar = lambda total=None, **kw: Bar(total)
    pipe("happy", num_frames=8, generator=gen(), **({"num_inference_steps": 3} if isinstance(pipe, Express4DPipeline) else {}))
    total, steps = seen[0], seen[1:]
    assert total == (3 if isinstance(pipe, Express4DPipeline) else 3)  # 3 steps; or 2 codes + End for T2M-GPT
    assert len(steps) == total


def test_step_callback_sees_the_pipeline_tensors(pipe):
    calls = []

    def callback(p, step, timestep, kwargs):
        calls.append((step, {k: tuple(v.shape) for k, v in kwargs.items()}))
        return {}

    pipe("happy", num_frames=8, generator=gen(), callback_on_step_end=callback)
    assert calls and [c[0] for c in calls] == list(range(len(calls)))
    name = "latents" if isinstance(pipe, Express4DPipeline) else "codes"
    assert all(list(kw) == [name] for _, kw in calls)
    if name == "codes":
        assert calls[1][1]["codes"] == (1, 2)
    with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs: \\['nope'\\] not in"):
        pipe("happy", num_frames=8, callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["nope"])


@pytest.mark.parametrize("kwargs, message", [
    ({"negative_prompt": "x"}, "negative_prompt: T2MGPTPipeline does not support it"),
    ({"guidance_scale": 2.5}, "guidance_scale: T2MGPTPipeline does not support it .*use temperature or top_k"),
    ({"num_inference_steps": 20}, "num_inference_steps: T2MGPTPipeline does not support it"),
])
def test_t2m_gpt_refuses_what_it_cannot_honour_before_any_compute(tmp_path, kwargs, message):
    pipe = tiny_t2m_gpt(tmp_path)
    counter = CallCounter(pipe.prior)
    with pytest.raises(ValueError, match=message):
        pipe("happy", num_frames=8, **kwargs)
    assert counter.calls == 0
    assert all(k not in T2MGPTPipeline.supports for k in kwargs) and all(k in Express4DPipeline.supports for k in kwargs)


def test_no_caller_probes_the_pipeline_type():
    pattern = re.compile(r"hasattr\(pipe|inspect\.signature")
    hits = [f"{p}:{i}" for folder in ("pipelines", "training") for p in (ROOT / folder).rglob("*.py")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert hits == []


# ------------------------------------------------------------------------------------------------ structure
PACKAGES = {"express4d_dataset": ROOT / "express4d_dataset", "pipelines": ROOT / "pipelines",
            "training": ROOT / "training", "express4d_metrics": ROOT / "metrics" / "express4d_metrics"}


def _module_name(package: str, folder: Path, path: Path) -> str:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _module_level_imports(path: Path, module: str, is_package: bool) -> set[str]:
    """Modules imported at module level (not inside functions), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else []:
            if isinstance(sub, ast.Import):
                out.update(a.name for a in sub.names)
            elif isinstance(sub, ast.ImportFrom):
                if sub.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (sub.level - 1)]
                    target = ".".join(base + ([sub.module] if sub.module else []))
                    out.add(target)
                    out.update(f"{target}.{a.name}" for a in sub.names)
                else:
                    out.add(sub.module)
                    out.update(f"{sub.module}.{a.name}" for a in sub.names)
    return out


def _graph() -> dict[str, set[str]]:
    files = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            if "default_models" in path.parts:
                continue
            files[_module_name(package, folder, path)] = path
    graph = {}
    for module, path in files.items():
        imports = _module_level_imports(path, module, path.name == "__init__.py")
        graph[module] = {m for m in imports if m in files and m != module}
    return graph


def test_no_import_cycles_at_module_level():
    graph = _graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_lower_layers_never_import_upper_ones_at_module_level():
    graph = _graph()
    upper = ("pipelines", "training")
    for module, imports in graph.items():
        if module.startswith(("express4d_dataset", "express4d_metrics")):
            assert not [m for m in imports if m.startswith(upper)], module
        if module.startswith("pipelines"):
            assert not [m for m in imports if m.startswith("training")], module


def test_cli_help_imports_no_heavy_library():
    code = "import sys; from pipelines.cli import build_parser; build_parser(); print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"


def test_every_package_folder_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {_module_name(p, f, i) for p, f in PACKAGES.items() if p != "training" for i in f.rglob("__init__.py")}
    assert found <= listed, found - listed
