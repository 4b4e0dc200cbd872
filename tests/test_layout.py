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
    np.testing.assert_allclose(out.motions[0], expected["mdm"], atol=1e-6)


def test_t2m_gpt_folder_saved_before_the_move_generates_the_same(expected):
    from pipelines import T2MGPTPipeline

    pipe = T2MGPTPipeline.from_pretrained(SAVED / "t2m_gpt")
    pipe.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(pipe(PROMPT, num_frames=8, generator=gen()).motions[0], expected["t2m_gpt"], atol=1e-6)
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
    np.testing.assert_allclose(out.motions[0], expected[name], atol=1e-6)
