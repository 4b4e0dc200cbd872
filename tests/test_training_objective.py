"""The training objectives as pure functions, no training run: MDM's masked MSE (per item, then the batch;
channel weights), the EMA decay (constant or diffusers' warm-up) and the presets that choose it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.config import parse_training_args  # noqa: E402


def test_mdm_loss_averages_each_item_then_the_batch():
    """MDM's masked L2: per item over its valid frames x channels, then the batch mean (train and validation)."""
    from types import SimpleNamespace

    from diffusers import DDPMScheduler

    from pipelines.pipeline_express4d import Express4DPipeline
    from training.task_mdm import MDMTask, masked_mse

    rng = np.random.default_rng(0)
    lengths = [20, 196]
    x0 = rng.standard_normal((2, 196, 61)).astype(np.float32)
    pred = rng.standard_normal((2, 196, 61)).astype(np.float32)
    pred[0] += 3.0  # the short item has a much larger error
    mask = np.arange(196)[None, :] < np.array(lengths)[:, None]
    x0[~mask] = 0.0
    per_item = np.array([((pred[i, :n] - x0[i, :n]).astype(np.float64) ** 2).mean() for i, n in enumerate(lengths)])
    expected = per_item.mean()
    frame_weighted = sum(((pred[i, :n] - x0[i, :n]).astype(np.float64) ** 2).sum() for i, n in enumerate(lengths)) / (
        sum(lengths) * 61)
    assert abs(expected - frame_weighted) > 1.0  # the two weightings really differ here

    task = MDMTask.__new__(MDMTask)
    task.captions = SimpleNamespace(lookup=lambda caps, device=None: torch.zeros(len(caps), 8))
    task.scheduler = DDPMScheduler(**Express4DPipeline.default_scheduler_config(1000))
    model = lambda xt, t, text, attention_mask=None: SimpleNamespace(sample=torch.from_numpy(pred))  # noqa: E731
    batch = {"motion": torch.from_numpy(x0), "mask": torch.from_numpy(mask), "captions": ["a", "b"]}
    np.testing.assert_allclose(masked_mse(torch.from_numpy(pred), batch["motion"], batch["mask"]).numpy(), per_item,
                               rtol=1e-5)
    loss, _ = task.training_loss(model, batch)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    total, count = task.validation_loss(model, batch, torch.Generator().manual_seed(0))
    assert count == 2
    np.testing.assert_allclose(float(total) / count, expected, rtol=1e-5)
    # with the velocity term: the same per-item mean of (MSE + w * velocity MSE)
    from training.task_mdm import masked_velocity_mse

    task.velocity_weight = 2.0
    velocity = masked_velocity_mse(torch.from_numpy(pred), batch["motion"], batch["mask"]).numpy()
    loss, _ = task.training_loss(model, batch)
    np.testing.assert_allclose(float(loss), (per_item + 2.0 * velocity).mean(), rtol=1e-5)


def test_loss_channel_weights_weigh_the_named_channels():
    from express4d_dataset.arkit import GROUPS, channel_index
    from training.config import channel_loss_weights
    from training.task_mdm import masked_mse

    weights = channel_loss_weights({"head": 4, "JawOpen": 0.5})
    assert len(weights) == 61 and [weights[i] for i in GROUPS["head"]] == [4.0, 4.0, 4.0]
    assert weights[channel_index("jawOpen")] == 0.5 and sum(weights) == 57 + 12 + 0.5
    rng = np.random.default_rng(1)
    lengths = [7, 30]
    pred = rng.standard_normal((2, 30, 61)).astype(np.float32)
    x0 = rng.standard_normal((2, 30, 61)).astype(np.float32)
    mask = np.arange(30)[None, :] < np.array(lengths)[:, None]
    w = np.array(weights)
    # per item: the weighted mean over channels of each channel's mean squared error over the valid frames
    expected = [(((pred[i, :n] - x0[i, :n]).astype(np.float64) ** 2).mean(0) * w).sum() / w.sum()
                for i, n in enumerate(lengths)]
    args = torch.from_numpy(pred), torch.from_numpy(x0), torch.from_numpy(mask)
    np.testing.assert_allclose(masked_mse(*args, torch.tensor(weights)).numpy(), expected, rtol=1e-5)
    assert abs(expected[0] - ((pred[0, :7] - x0[0, :7]) ** 2).mean()) > 1e-3  # the weighting changes the loss
    np.testing.assert_allclose(masked_mse(*args, torch.ones(61)).numpy(), masked_mse(*args).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"'hed' is neither an ARKit channel nor a group; groups: eyes, .*head"):
        channel_loss_weights({"hed": 2})
    with pytest.raises(ValueError, match=r"the weight of 'head' must be a number >= 0 \(got -1\)"):
        channel_loss_weights({"head": -1})
    with pytest.raises(ValueError, match="every channel weighs 0"):
        channel_loss_weights({name: 0 for name in GROUPS})
    with pytest.raises(ValueError, match="only the mdm loss weighs channels; remove it for --model vqvae"):
        parse_training_args(["--model", "vqvae", "--set", 'loss_channel_weights={"head": 2}'])
    cfg = parse_training_args(["--model", "mdm", "--set", 'loss_channel_weights={"head": 2}'])
    assert cfg.loss_channel_weights == {"head": 2}


def test_ema_decay_is_constant_without_warmup():
    from training.ema import build_ema

    layer = torch.nn.Linear(3, 2)
    init = [p.detach().clone() for p in layer.parameters()]
    ema = build_ema(layer.parameters(), decay=0.9, warmup=False)
    for step in range(3):
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(1.0)
        before = [s.clone() for s in ema.shadow_params]
        ema.step(layer.parameters())
        for s, b, p in zip(ema.shadow_params, before, layer.parameters()):
            torch.testing.assert_close(s, 0.9 * b + 0.1 * p.detach())
    assert not torch.allclose(ema.shadow_params[0], init[0])
    warm = build_ema(torch.nn.Linear(3, 2).parameters(), decay=0.9, warmup=True)
    assert warm.get_decay(1) == 0.0 and warm.get_decay(5) == pytest.approx(5 / 14)  # diffusers' ramp


def test_ema_warmup_presets():
    assert parse_training_args(["--model", "mdm"]).ema_warmup is False  # paper preset: constant decay, as MDM
    small = parse_training_args(["--model", "mdm", "--config", str(ROOT / "training/configs/mdm_small.json")])
    assert small.ema_warmup is True and small.use_ema is True


def test_mdm_velocity_loss_is_the_mse_of_frame_differences_over_valid_pairs():
    from training.task_mdm import masked_velocity_mse

    rng = np.random.default_rng(1)
    lengths = [5, 9]
    x0 = rng.standard_normal((2, 9, 61)).astype(np.float32)
    pred = rng.standard_normal((2, 9, 61)).astype(np.float32)
    mask = torch.from_numpy(np.arange(9)[None, :] < np.array(lengths)[:, None])
    expected = [((np.diff(pred[i, :n], axis=0) - np.diff(x0[i, :n], axis=0)).astype(np.float64) ** 2).mean()
                for i, n in enumerate(lengths)]
    got = masked_velocity_mse(torch.from_numpy(pred), torch.from_numpy(x0), mask)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    # a constant offset has no velocity error; a one-frame switch has one
    same = masked_velocity_mse(torch.from_numpy(x0 + 2.0), torch.from_numpy(x0), mask)
    assert float(same.abs().max()) < 1e-10


def test_velocity_weight_is_checked_and_mdm_only():
    args = ["--model", "mdm", "--dataset", "x", "--output_dir", "o", "--loss_velocity_weight", "2"]
    assert parse_training_args(args).loss_velocity_weight == 2.0
    with pytest.raises(ValueError, match="loss_velocity_weight: must be a number >= 0"):
        parse_training_args(["--model", "mdm", "--dataset", "x", "--output_dir", "o", "--loss_velocity_weight", "-1"])
    with pytest.raises(ValueError, match="only the mdm loss has a velocity term"):
        parse_training_args(["--model", "evaluator", "--dataset", "x", "--output_dir", "o", "--loss_velocity_weight", "1"])
