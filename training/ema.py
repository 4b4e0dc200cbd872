"""EMA of the model weights (diffusers' ``EMAModel``), with or without its decay warm-up.

``ema_warmup=False`` (the paper presets): a constant decay from the first update, as MDM trains
(EMA initialised as a copy of the model, then ``ema = d * ema + (1 - d) * weights`` at every
step).  ``ema_warmup=True`` (the small presets): diffusers' default ramp
``min((1 + s) / (10 + s), d)``, whose first update copies the weights; it lets a short run's EMA
follow the model instead of staying near the random initialisation.
"""

from __future__ import annotations

from diffusers.training_utils import EMAModel


class ConstantDecayEMA(EMAModel):
    """``EMAModel`` whose decay is ``decay`` at every step (``EMAModel`` returns 0 at the first step
    even with ``min_decay=decay``, so the constant decay needs its own ``get_decay``)."""

    def get_decay(self, optimization_step: int) -> float:
        return float(self.decay)


def build_ema(parameters, decay: float, warmup: bool) -> EMAModel:
    """The EMA for ``parameters`` (a copy of them now): warm-up ramp (``warmup``) or constant ``decay``."""
    if warmup:
        return EMAModel(parameters, decay=decay)
    return ConstantDecayEMA(parameters, decay=decay, min_decay=decay)
