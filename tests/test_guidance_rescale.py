"""pipelines.mdm.guidance.guided_prediction: classifier-free guidance and its rescale (Lin et al. 2024),
against a numpy computation written from the formula, and the model default it reads from model_index.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipelines.mdm.guidance import check_guidance_rescale, guided_prediction


def _numpy_reference(uncond, cond, scale, rescale, lengths):
    out = []
    for u, c, n in zip(uncond, cond, lengths):
        u, c = u[:n].astype(np.float64), c[:n].astype(np.float64)
        g = u + scale * (c - u)
        r = g * (c.std() / g.std())
        out.append(rescale * r + (1 - rescale) * g)
    return out


def test_guided_prediction_matches_the_formula_on_each_motions_own_frames():
    rng = np.random.default_rng(0)
    uncond, cond = rng.standard_normal((2, 3, 12, 61)).astype(np.float32)
    lengths = [12, 7, 3]
    mask = torch.arange(12)[None, :] < torch.tensor(lengths)[:, None]
    for rescale in (0.0, 0.7, 1.0):
        got = guided_prediction(torch.from_numpy(uncond), torch.from_numpy(cond), 5.0, rescale, mask).numpy()
        for g, want, n in zip(got, _numpy_reference(uncond, cond, 5.0, rescale, lengths), lengths):
            np.testing.assert_allclose(g[:n], want, rtol=1e-4, atol=1e-5)
    # at 1 the guided prediction has exactly the conditional one's spread; padding frames do not count
    full = guided_prediction(torch.from_numpy(uncond), torch.from_numpy(cond), 5.0, 1.0, mask).numpy()
    assert full[1, :7].std() == pytest.approx(cond[1, :7].std(), rel=1e-4)
    # a motion's result does not depend on the batch it is in (its padding)
    alone = guided_prediction(torch.from_numpy(uncond[1:2, :7]), torch.from_numpy(cond[1:2, :7]), 5.0, 0.7).numpy()
    np.testing.assert_allclose(alone[0], guided_prediction(torch.from_numpy(uncond), torch.from_numpy(cond), 5.0, 0.7,
                                                           mask).numpy()[1, :7], rtol=1e-5, atol=1e-6)
    # no rescale: plain guidance, bit for bit
    plain = guided_prediction(torch.from_numpy(uncond), torch.from_numpy(cond), 2.5)
    assert torch.equal(plain, torch.from_numpy(uncond) + 2.5 * (torch.from_numpy(cond) - torch.from_numpy(uncond)))


@pytest.mark.parametrize("value", [-0.01, 1.01, float("nan"), "0.5", True])
def test_check_guidance_rescale_names_the_argument(value):
    with pytest.raises(ValueError, match="--guidance-rescale"):
        check_guidance_rescale(value, "--guidance-rescale")


def test_model_default_is_read_and_checked(tmp_path):
    import shutil

    from pipelines.auto_pipeline import default_model_path
    from pipelines.mdm.light_sampler import LightMDMSampler
    from pipelines.mdm.pipeline_mdm import Express4DPipeline

    folder = tmp_path / "mdm"
    shutil.copytree(default_model_path("mdm"), folder)
    index = folder / "model_index.json"
    data = json.loads(index.read_text())
    data["default_guidance_rescale"] = 0.5
    index.write_text(json.dumps(data))
    pipe = Express4DPipeline.from_pretrained(folder)
    assert pipe.default_guidance_rescale == 0.5 and "rescaled 0.5" in pipe.describe()
    assert LightMDMSampler(folder).default_guidance_rescale == 0.5
    data["default_guidance_rescale"] = 2
    index.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"default_guidance_rescale \(model_index.json\)"):
        LightMDMSampler(folder)
