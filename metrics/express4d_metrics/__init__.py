"""The Express4D benchmark as an ``evaluate`` module, installed with the package as data.

``evaluate.load(express4d_metrics.PATH)`` loads it from an installed package; from a checkout,
``evaluate.load("metrics/express4d_metrics")`` does the same.
"""

from pathlib import Path

PATH = str(Path(__file__).resolve().parent)
"""Folder holding ``express4d_metrics.py`` and the metric card, for ``evaluate.load(PATH)``."""
