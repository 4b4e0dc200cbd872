"""The Express4D benchmark as an ``evaluate`` module, installed with the package as data.

``evaluate.load(express4d_metrics.PATH)`` loads it from an installed package; from a checkout,
``evaluate.load("metrics/express4d_metrics")`` does the same.  The formulas, protocols and prompt
following are importable directly too (``from express4d_metrics import paper_draws``).
"""

from pathlib import Path

PATH = str(Path(__file__).resolve().parent)
"""Folder holding ``express4d_metrics.py`` and the metric card, for ``evaluate.load(PATH)``."""


def __getattr__(name: str):  # the numpy modules load on first use
    import importlib

    for module in ("protocols", "formulas", "prompt_following"):
        mod = importlib.import_module(f".{module}", __name__)
        if hasattr(mod, name):
            return getattr(mod, name)
    raise AttributeError(f"module 'express4d_metrics' has no attribute {name!r}")
