"""``default_num_inference_steps`` in an MDM's model_index.json: the steps ``num_inference_steps=None`` takes,
read the same way by Express4DPipeline and LightMDMSampler, named, saved and checked."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from pipelines.auto_pipeline import default_model_path
from pipelines.mdm.light_sampler import LightMDMSampler
from pipelines.mdm.pipeline_mdm import Express4DPipeline
from pipelines.pipeline_utils import check_num_inference_steps


def _folder(tmp_path, **index):
    folder = tmp_path / "mdm"
    shutil.copytree(default_model_path("mdm"), folder)
    path = folder / "model_index.json"
    data = json.loads(path.read_text())
    data.pop("default_num_inference_steps", None)
    data.update(index)
    path.write_text(json.dumps(data))
    return folder


def test_model_default_steps_are_what_none_samples_with(tmp_path):
    folder = _folder(tmp_path, default_num_inference_steps=4)
    pipe, light = Express4DPipeline.from_pretrained(folder), LightMDMSampler(folder)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.default_num_inference_steps == 4 and light.default_num_inference_steps == 4
    assert "DPM-Solver++ 4 steps" in pipe.describe() and "DPM-Solver++ 9 steps" in pipe.describe(9)
    args = dict(prompt=["A person smiles", "She frowns, then raises her eyebrows"], seconds=[1.5, 2])

    def run(call, **kwargs):
        return call(**args, generator=[torch.Generator().manual_seed(s) for s in (1, 2)], **kwargs).motions

    default, explicit = run(pipe), run(pipe, num_inference_steps=4)
    assert all(np.array_equal(a, b) for a, b in zip(default, explicit))
    assert all(np.array_equal(a, b) for a, b in zip(run(light), default))  # bit for bit, as the CLI generates
    assert not np.array_equal(run(pipe, num_inference_steps=5)[0], default[0])
    pipe.save_pretrained(tmp_path / "saved")  # the default travels with the folder
    assert json.loads((tmp_path / "saved" / "model_index.json").read_text())["default_num_inference_steps"] == 4
    pipe.set_sampler("ddpm")  # the paper's sampler keeps its own 1000 steps
    assert pipe._default_num_inference_steps() == 1000


def test_unset_is_twenty_and_stays_out_of_the_config(tmp_path):
    pipe = Express4DPipeline.from_pretrained(_folder(tmp_path))
    assert pipe.default_num_inference_steps is None and pipe._default_num_inference_steps() == 20
    assert "default_num_inference_steps" not in pipe.config  # so older folders' fingerprints and caches stay


@pytest.mark.parametrize("value", [0, 2.5, "12", True, 1001])
def test_a_bad_default_is_refused_naming_the_key(tmp_path, value):
    folder = _folder(tmp_path, default_num_inference_steps=value)
    with pytest.raises(ValueError, match=r"default_num_inference_steps \(model_index.json\)"):
        LightMDMSampler(folder)
    with pytest.raises(ValueError, match=r"default_num_inference_steps \(model_index.json\)"):
        Express4DPipeline.from_pretrained(folder)


def test_check_num_inference_steps():
    assert check_num_inference_steps(None) is None and check_num_inference_steps(np.int64(7)) == 7
    with pytest.raises(ValueError, match="--steps: must be a positive integer, got 0"):
        check_num_inference_steps(0, "--steps")
    with pytest.raises(ValueError, match="num_inference_steps: 1001 exceeds the scheduler's 1000 training steps"):
        check_num_inference_steps(1001, maximum=1000)
