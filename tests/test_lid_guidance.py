"""``lid_guidance_scale``: the lids' two channels guided at their own scale (pipelines.mdm.guidance.guidance_scales),
in Express4DPipeline, LightMDMSampler, the model default and the command lines."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from express4d_dataset.arkit import CHANNEL_NAMES, channel_index
from pipelines.mdm.guidance import check_lid_guidance_scale, guidance_scales, guided_prediction

LIDS = [channel_index("EyeBlinkLeft"), channel_index("EyeBlinkRight")]
OTHERS = [i for i in range(len(CHANNEL_NAMES)) if i not in LIDS]


def test_lids_take_their_own_scale_and_every_other_channel_the_main_one():
    rng = np.random.default_rng(1)
    uncond, cond = (torch.from_numpy(a) for a in rng.standard_normal((2, 2, 9, 61)).astype(np.float32))
    got = guided_prediction(uncond, cond, guidance_scales(5.0, 2.5)).numpy()
    u, c = uncond.numpy().astype(np.float64), cond.numpy().astype(np.float64)
    np.testing.assert_allclose(got[..., OTHERS], (u + 5.0 * (c - u))[..., OTHERS], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[..., LIDS], (u + 2.5 * (c - u))[..., LIDS], rtol=1e-5, atol=1e-5)
    # unset or equal: the plain number, so plain guidance stays bit for bit what it was
    assert guidance_scales(5.0, None) == 5.0 and guidance_scales(5.0, 5) == 5.0
    scales = guidance_scales(5.0, 1.0)
    assert scales.shape == (61,) and scales[LIDS].tolist() == [1.0, 1.0] and set(scales[OTHERS].tolist()) == {5.0}


@pytest.mark.parametrize("value", [-0.5, 20.5, float("nan"), "2", True])
def test_check_lid_guidance_scale_names_the_argument(value):
    with pytest.raises(ValueError, match="--lid-guidance"):
        check_lid_guidance_scale(value, "--lid-guidance")
    assert check_lid_guidance_scale(None) is None and check_lid_guidance_scale(2) == 2.0


def test_model_default_is_read_named_and_checked(tmp_path):
    from pipelines.auto_pipeline import default_model_path
    from pipelines.mdm.light_sampler import LightMDMSampler
    from pipelines.mdm.pipeline_mdm import Express4DPipeline

    folder = tmp_path / "mdm"
    shutil.copytree(default_model_path("mdm"), folder)
    index = folder / "model_index.json"
    data = json.loads(index.read_text())
    data.pop("default_lid_guidance_scale", None)
    index.write_text(json.dumps(data))
    assert Express4DPipeline.from_pretrained(folder).default_lid_guidance_scale is None
    data.update(default_guidance_scale=5.0, default_lid_guidance_scale=2.5)
    index.write_text(json.dumps(data))
    pipe = Express4DPipeline.from_pretrained(folder)
    assert pipe.default_lid_guidance_scale == 2.5 and "guidance 5, lids 2.5" in pipe.describe()
    assert "lids" not in pipe.describe(lid_guidance_scale=5.0)
    assert LightMDMSampler(folder).default_lid_guidance_scale == 2.5
    pipe.save_pretrained(tmp_path / "saved")  # the default travels with the folder
    assert json.loads((tmp_path / "saved" / "model_index.json").read_text())["default_lid_guidance_scale"] == 2.5
    data["default_lid_guidance_scale"] = 30
    index.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"default_lid_guidance_scale \(model_index.json\)"):
        LightMDMSampler(folder)
    with pytest.raises(ValueError, match=r"default_lid_guidance_scale \(model_index.json\)"):
        Express4DPipeline.from_pretrained(folder)
