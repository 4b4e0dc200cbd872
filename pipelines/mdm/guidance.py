"""Classifier-free guidance of the MDM's x0 prediction: the scale per channel (the lids may take their own,
:func:`guidance_scales`), the rescale of Lin et al. 2024 (:func:`guided_prediction`) and the checks of both
arguments.  Shared by ``Express4DPipeline`` and ``LightMDMSampler`` (which must compute the same motions)."""

from __future__ import annotations

import math

import numpy as np
import torch

from express4d_dataset.arkit import NUM_CHANNELS


def check_guidance_rescale(value, name: str = "guidance_rescale") -> float:
    """``value`` as a float, or a ValueError unless it is a finite number in ``[0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number in [0, 1], got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{name}: must be between 0 (plain guidance) and 1 (the guided prediction's spread fully "
                         f"rescaled to the conditional one's), got {value:g}")
    return float(value)


LID_CHANNELS = ("EyeBlinkLeft", "EyeBlinkRight")
"""The channels ``lid_guidance_scale`` guides (the lids: :func:`guidance_scales`)."""


def check_lid_guidance_scale(value, name: str = "lid_guidance_scale") -> float | None:
    """``value`` as a float (None stays None: the lids share ``guidance_scale``), or a ValueError unless it is a
    finite number in ``[0, 20]``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number (or None: the lids follow guidance_scale), got {value!r}")
    if not 0 <= value <= 20:
        raise ValueError(f"{name}: must be between 0 and 20 (1 = the lids unguided), got {value:g}")
    return float(value)


def guidance_scales(scale: float, lid_scale: float | None) -> float | torch.Tensor:
    """The guidance scale per channel: ``scale`` itself when the lids share it (``lid_scale`` None or equal),
    else a ``[61]`` float32 tensor with ``lid_scale`` on :data:`LID_CHANNELS` and ``scale`` elsewhere."""
    if lid_scale is None or float(lid_scale) == float(scale):
        return float(scale)
    from express4d_dataset.arkit import channel_index

    scales = torch.full((NUM_CHANNELS,), float(scale), dtype=torch.float32)
    scales[[channel_index(c) for c in LID_CHANNELS]] = float(lid_scale)
    return scales


def guided_prediction(uncond: torch.Tensor, cond: torch.Tensor, scale: float | torch.Tensor, rescale: float = 0.0,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """Classifier-free guidance ``uncond + scale * (cond - uncond)`` of ``[B, T, C]`` predictions (``scale``: a
    number, or one per channel ``[C]``, :func:`guidance_scales`), and with
    ``rescale`` > 0 its per-motion standard deviation pulled towards the conditional prediction's (Lin et al.
    2024, "Common diffusion noise schedules and sample steps are flawed", eq. 15-16):
    ``rescale * guided * std(cond) / std(guided) + (1 - rescale) * guided``.  ``mask`` ``[B, T]`` (True = a
    frame of the motion) keeps padding frames out of the standard deviations, so a motion's result does not
    depend on the batch it shares.  A large scale extrapolates the conditional prediction and steepens every
    change; the rescale keeps its direction and undoes the overshoot."""
    if isinstance(scale, torch.Tensor):
        scale = scale.to(device=cond.device, dtype=cond.dtype)
    guided = uncond + scale * (cond - uncond)
    if rescale == 0:
        return guided
    if mask is None:
        mask = torch.ones(guided.shape[:2], dtype=torch.bool, device=guided.device)
    w = mask[..., None].to(guided.dtype)
    count = (w.sum(dim=(1, 2)) * guided.shape[-1]).clamp_min(1.0)  # values per motion: its frames x channels

    def std(x):
        mean = (x * w).sum(dim=(1, 2)) / count
        return ((((x - mean[:, None, None]) ** 2) * w).sum(dim=(1, 2)) / count).sqrt()

    ratio = (std(cond) / std(guided).clamp_min(1e-12))[:, None, None]
    return rescale * (guided * ratio) + (1 - rescale) * guided
