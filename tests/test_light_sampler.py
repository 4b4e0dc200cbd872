"""LightMDMSampler (``express4d generate``'s path for the bundled MDM) gives Express4DPipeline's motions exactly."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from pipelines.auto_pipeline import default_model_path
from pipelines.mdm.light_sampler import LightMDMSampler

PROMPTS = ["A person is smiling softly and then raising their eyebrows", "frown",
           "A person blinks twice, then squints hard while raising the left brow"]


@pytest.fixture(scope="module")
def bundled():
    folder = default_model_path("mdm")
    if LightMDMSampler.refusal(folder) is not None:
        pytest.skip(f"the bundled MDM is not one LightMDMSampler computes: {LightMDMSampler.refusal(folder)}")
    from pipelines.mdm.pipeline_mdm import Express4DPipeline

    pipe = Express4DPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return LightMDMSampler(folder), pipe


@pytest.mark.parametrize("prompts,seeds,kwargs", [
    (PROMPTS[:1], [0], dict(seconds=6, output_fps=60)),  # the README's command
    (PROMPTS, [5, 6, 7], dict(seconds=[2, 6, 3.5], num_inference_steps=7, guidance_scale=2.5)),  # padding, lengths
    (PROMPTS[1:2], None, dict(num_frames=30, guidance_scale=1.0, output_fps=30)),  # no guidance, one generator
    # staged prompts beside a whole one (prompt_stages="auto"): three windows, two, and one sentence
    (["She smiles, then raises her eyebrows, and finally opens her mouth", "A person frowns",
      "First he looks up. After that, he puffs out his cheeks."], [1, 2, 3],
     dict(seconds=[6, 4, 5], num_inference_steps=6, prompt_stages="auto")),
    (["A person smiles and then frowns"], [4], dict(seconds=6, num_inference_steps=5, prompt_stages="auto", guidance_scale=1.0)),
])
def test_same_motions_as_the_pipeline(bundled, prompts, seeds, kwargs):
    light, pipe = bundled

    def generator():
        return torch.Generator().manual_seed(11) if seeds is None else [torch.Generator().manual_seed(s) for s in seeds]

    got = light(prompts, generator=generator(), **kwargs)
    want = pipe(prompts, generator=generator(), **kwargs)
    assert got.fps == want.fps and got.captions == want.captions
    assert len(got.motions) == len(want.motions)
    for a, b in zip(got.motions, want.motions):
        assert a.dtype == b.dtype and np.array_equal(a, b)  # bit for bit


def test_refuses_what_it_does_not_compute(tmp_path):
    import shutil

    folder = tmp_path / "mdm"
    shutil.copytree(default_model_path("mdm"), folder)
    config = folder / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text().replace('"DPMSolverMultistepScheduler"', '"DDIMScheduler"'))
    assert "scheduler" in LightMDMSampler.refusal(folder)
    with pytest.raises(ValueError, match="Express4DPipeline.from_pretrained"):
        LightMDMSampler(folder)
    assert "model_index" in LightMDMSampler.refusal(tmp_path) or "readable" in LightMDMSampler.refusal(tmp_path)


def test_generate_imports_neither_diffusers_nor_transformers(tmp_path):
    code = ("import sys; from pipelines.commands.express4d_cli import main; "
            f"rc = main(['generate', 'A person is smiling', '--seconds', '1', '--out', {str(tmp_path)!r}, '--no-mp4']); "
            "print(rc, sorted({m.split('.')[0] for m in sys.modules} & {'diffusers', 'transformers', 'scipy', 'accelerate'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert out == "0 []"


def test_same_motions_as_the_pipeline_with_guidance_rescale(bundled):
    light, pipe = bundled
    kwargs = dict(seconds=[2, 4], num_inference_steps=5, guidance_scale=5.0, guidance_rescale=0.7)

    def generator():
        return [torch.Generator().manual_seed(s) for s in (3, 4)]

    got, want = light(PROMPTS[:2], generator=generator(), **kwargs), pipe(PROMPTS[:2], generator=generator(), **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(got.motions, want.motions))
    plain = pipe(PROMPTS[:2], generator=generator(), **{**kwargs, "guidance_rescale": 0.0})
    assert not np.array_equal(plain.motions[1], want.motions[1])  # the rescale changes the motion
    with pytest.raises(ValueError, match="guidance_rescale: must be between 0"):
        light(PROMPTS[:1], guidance_rescale=1.5)
    with pytest.raises(ValueError, match="guidance_rescale: must be between 0"):
        pipe(PROMPTS[:1], guidance_rescale=-0.1)


def test_lids_at_their_own_scale_same_motions_as_the_pipeline(bundled):
    """``lid_guidance_scale``: the light sampler matches the pipeline bit for bit, and only the lids' guidance changes."""
    from express4d_dataset.arkit import channel_index

    light, pipe = bundled
    lid_channels = [channel_index("EyeBlinkLeft"), channel_index("EyeBlinkRight")]
    prompts = ["A person is smiling softly", "She blinks twice and then frowns"]
    kwargs = dict(seconds=[2, 3], num_inference_steps=5, guidance_scale=5.0)

    def generators():
        return [torch.Generator().manual_seed(s) for s in (3, 4)]

    lids = pipe(prompts, generator=generators(), lid_guidance_scale=1.0, **kwargs)
    light_lids = light(prompts, generator=generators(), lid_guidance_scale=1.0, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(lids.motions, light_lids.motions))  # bit for bit
    plain = pipe(prompts, generator=generators(), lid_guidance_scale=5.0, **kwargs)
    light_plain = light(prompts, generator=generators(), lid_guidance_scale=5.0, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(plain.motions, light_plain.motions))
    assert not np.array_equal(plain.motions[1][:, lid_channels], lids.motions[1][:, lid_channels])
    # guidance 1 with guided lids still runs both branches (the motion moves away from the unguided one)
    one = dict(seconds=2, num_inference_steps=5, guidance_scale=1.0)
    unguided = pipe(prompts[:1], generator=generators()[:1], lid_guidance_scale=1.0, **one)
    only_lids = pipe(prompts[:1], generator=generators()[:1], lid_guidance_scale=5.0, **one)
    assert not np.array_equal(unguided.motions[0], only_lids.motions[0])
    with pytest.raises(ValueError, match="lid_guidance_scale: must be between 0 and 20"):
        light(prompts[:1], lid_guidance_scale=21)
    with pytest.raises(ValueError, match="lid_guidance_scale: must be between 0 and 20"):
        pipe(prompts[:1], lid_guidance_scale=-1)
