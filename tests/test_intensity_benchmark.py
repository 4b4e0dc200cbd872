"""benchmarks/intensity.py's table: means, interval, share in range and verdict on hand-built peaks."""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.intensity import LEVELS, table  # noqa: E402


def _corpus():
    # per level: c - 0.1, c, c + 0.1 (four times each), c = 0.2 / 0.4 / 0.6 / 0.8: p10-p90 is c ± 0.1
    return {("smile", lv): [c - 0.1, c, c + 0.1] * 4 for lv, c in zip(LEVELS, (0.2, 0.4, 0.6, 0.8))}


def test_table_reports_means_interval_and_verdict():
    model = {("smile", lv): [c - 0.05, c + 0.05] for lv, c in zip(LEVELS, (0.2, 0.45, 0.6, 0.85))}
    text, ok = table("m", ["smile"], _corpus(), model)
    rows = [line for line in text.splitlines() if line.startswith("| soft")]
    half = 1.96 * np.std([0.4, 0.5], ddof=1) / np.sqrt(2)
    assert rows == [f"| soft | 0.400 | 0.300-0.500 | 0.450 ± {half:.3f} | 1.00 |"]
    assert ok and text.endswith("every level's mean inside the corpus's range: yes")


def test_table_says_no_when_a_mean_leaves_the_range_or_the_order_breaks():
    high_soft = {("smile", lv): [c] * 3 for lv, c in zip(LEVELS, (0.2, 0.55, 0.6, 0.8))}  # soft above 0.5
    text, ok = table("m", ["smile"], _corpus(), high_soft)
    assert not ok and "ordered slight < soft < normal < strong: yes" in text and "range: no" in text
    swapped = {("smile", lv): [c] * 3 for lv, c in zip(LEVELS, (0.2, 0.6, 0.45, 0.8))}
    text, ok = table("m", ["smile"], _corpus(), swapped)
    assert not ok and "ordered slight < soft < normal < strong: no" in text
