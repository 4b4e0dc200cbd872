"""benchmarks/guidance_variants.py: the variants' formulas and step schedules on hand-built predictions, the pipeline
taking a variant, and the evaluate mode on tiny parts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.guidance_variants import (  # noqa: E402
    Variant, evaluate_variants, pipeline_sampling_with, projected, sampling_with)


def _pair(seed=0, shape=(2, 10, 61)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def test_projected_guidance_drops_only_the_part_along_the_conditional_prediction():
    _, cond = _pair()
    mask = torch.ones(cond.shape[:2], dtype=torch.bool)
    # an unconditional prediction that is the conditional one scaled down: guidance would only amplify it
    np.testing.assert_allclose(projected(0.3 * cond, cond, 5.0, mask).numpy(), cond.numpy(), atol=1e-5)
    # a difference orthogonal to the conditional prediction is scaled by S - 1 in full
    across = torch.randn(cond.shape, generator=torch.Generator().manual_seed(3))
    across -= (across * cond).sum(dim=(1, 2), keepdim=True) / (cond * cond).sum(dim=(1, 2), keepdim=True) * cond
    np.testing.assert_allclose(projected(cond - across, cond, 5.0, mask).numpy(), (cond + 4 * across).numpy(),
                               atol=1e-4)


def test_step_schedules_and_plain_guidance():
    uncond, cond = _pair(1)
    plain = uncond + 5 * (cond - uncond)
    first, late = Variant("first:0.5:5"), Variant("late:0.2:5")
    got_first = [first(uncond, cond, 5, 0, None) for _ in range(20)]
    got_late = [late(uncond, cond, 5, 0, None) for _ in range(20)]
    assert [torch.equal(g, plain) for g in got_first] == [True] * 10 + [False] * 10
    for g in got_first[10:]:  # scale 1 is the conditional prediction
        torch.testing.assert_close(g, cond)
    assert [torch.equal(g, plain) for g in got_late] == [False] * 4 + [True] * 16
    assert torch.equal(Variant("plain:5")(uncond, cond, 5, 0, None), plain)


def test_a_split_schedule_guides_with_one_scale_then_another():
    uncond, cond = _pair(2)
    split = Variant("split:0.25:3:5")
    got = [split(uncond, cond, 5, 0, None) for _ in range(20)]
    for i, g in enumerate(got):
        torch.testing.assert_close(g, uncond + (3 if i < 5 else 5) * (cond - uncond))
    # the sampler must be asked to guide even when the later scale is 1
    assert Variant("split:0.5:5:1").scale == 5 and Variant("split:0.5:1:5").scale == 5


def test_the_pipeline_takes_the_variant_and_restarts_its_steps_at_each_call(tmp_path):
    from mdm_tiny import tiny_pipeline
    import pipelines.mdm.pipeline_mdm as pm

    pipe = tiny_pipeline(tmp_path / "tok")
    scales = []

    class Recording(Variant):
        def __call__(self, uncond, cond, scale, rescale, mask):
            scales.append(self.early if self.step < self.fraction * self.steps else self.late_scale)
            return super().__call__(uncond, cond, scale, rescale, mask)

    variant = Recording("split:0.5:3:1")
    original = pm.guided_prediction
    with pipeline_sampling_with(variant):
        for seed in (0, 1):  # two calls: the second starts at step 0 again
            pipe("A person smiles", num_frames=8, num_inference_steps=4, guidance_scale=variant.scale,
                 generator=torch.Generator().manual_seed(seed))
    assert scales == [3, 3, 1, 1] * 2
    assert pm.guided_prediction is original  # restored
    plain = pipe("A person smiles", num_frames=8, num_inference_steps=4, guidance_scale=3,
                 generator=torch.Generator().manual_seed(0)).motions[0]
    with pipeline_sampling_with(Variant("plain:3")):
        same = pipe("A person smiles", num_frames=8, num_inference_steps=4, guidance_scale=3,
                    generator=torch.Generator().manual_seed(0)).motions[0]
    np.testing.assert_array_equal(plain, same)


@pytest.mark.parametrize("spec", ["plain", "first:0.5", "late:5", "split:0.5:5", "projected:5:1", "other:5"])
def test_bad_variants_are_named(spec):
    with pytest.raises(ValueError, match="--variants"):
        Variant(spec)


def test_the_sampler_is_restored():
    import pipelines.mdm.light_sampler as light

    original = light.guided_prediction
    with pytest.raises(RuntimeError):
        with sampling_with(Variant("plain:5")):
            assert light.guided_prediction is not original
            raise RuntimeError("boom")
    assert light.guided_prediction is original


def test_evaluate_mode_scores_each_variant_in_its_own_folder(tmp_path, capsys):
    import datasets
    from mdm_tiny import tiny_evaluator, tiny_pipeline

    rng = np.random.default_rng(0)
    rows = [{"id": f"take{i}", "motion": rng.normal(size=(20, 61)).astype(np.float32).tolist(), "num_frames": 20,
             "fps": 20.0, "captions": [f"a person smiles {i}", f"the face frowns {i}"]} for i in range(8)]
    data = tmp_path / "corpus"
    data.mkdir()
    datasets.Dataset.from_list(rows).to_parquet(str(data / "validation.parquet"))
    tiny_pipeline(tmp_path / "vocab").save_pretrained(tmp_path / "mdm")
    tiny_evaluator(tmp_path / "vocab_eval").save_pretrained(tmp_path / "evaluator")
    variants = [Variant("plain:3"), Variant("split:0.5:3:1")]
    evaluate_variants(str(tmp_path / "mdm"), variants, tmp_path / "out", str(data),
                      extra_args=["--evaluator", str(tmp_path / "evaluator"), "--steps", "4", "--replications", "2"])
    table = capsys.readouterr().out.splitlines()
    rows = [line for line in table if line.startswith("| plain:3 ") or line.startswith("| split:0.5:3:1 ")]
    assert len(rows) == 2 and table.index(rows[0]) < table.index(rows[1])
    fids = []
    for variant, row in zip(variants, rows):
        saved = json.loads((tmp_path / "out" / variant.spec.replace(":", "_") / "results.json").read_text())
        (name,) = [n for n in saved["rows"] if n != "Real motion"]
        assert name.endswith(f"guidance {variant.spec}") and saved["config"]["split"] == "validation"
        fid = saved["rows"][name]["FID"]["mean"]
        assert f"| {fid:.3f} |" in row
        fids.append(fid)
    assert fids[0] != fids[1]  # the split schedule reached the pipeline: other motions, another FID
