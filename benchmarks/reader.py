"""Live Link Face CSV reading speed: express4d's reader vs plain ``pandas.read_csv``.

The paper's code reads each take with ``pandas.read_csv`` and drops the first two columns by
position.  Our reader also validates the header, matches columns by name, checks every cell
for NaN/inf, parses timecodes and infers the row rate; this measures what that costs.

    python benchmarks/reader.py [--repeats 15] [--file PATH]

Prints median seconds per file and frames per second for both readers, and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from express4d_dataset.arkit import NUM_CHANNELS
from express4d_dataset.livelink import read_livelink_csv, write_livelink_csv

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "livelink" / "alex_rom_3.csv"


def read_pandas(path) -> np.ndarray:
    import pandas as pd

    return pd.read_csv(path).values[:, 2:].astype(np.float32)


def read_express4d(path) -> np.ndarray:
    return read_livelink_csv(path).frames


def _median_seconds(fn, path, repeats: int) -> float:
    fn(path)  # warm-up: imports, page cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--file", type=Path, default=None, help="a Live Link Face CSV (default: the shared fixture)")
    args = parser.parse_args(argv)

    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.file is not None:
            cases.append((args.file.name, args.file))
        elif FIXTURE.exists():
            cases.append(("alex_rom_3.csv (real)", FIXTURE))
        rng = np.random.default_rng(0)
        for frames in (300, 20_000):  # a typical 5 s take, and a long session
            path = Path(tmp) / f"take_{frames}.csv"
            write_livelink_csv(path, rng.uniform(0, 1, (frames, NUM_CHANNELS)).astype(np.float32), fps=60)
            cases.append((f"random {frames} frames", path))

        rows = []
        for name, path in cases:
            frames_a = read_express4d(path)
            frames_b = read_pandas(path)
            assert np.array_equal(frames_a, frames_b), f"readers disagree on {name}"
            n = len(frames_a)
            t_e = _median_seconds(read_express4d, path, args.repeats)
            t_p = _median_seconds(read_pandas, path, args.repeats)
            rows.append((name, n, t_p, t_e))

    print(f"Median of {args.repeats} reads per file (same process, warm cache)\n")
    print(f"| file | frames | pandas.read_csv s | pandas frames/s | express4d s | express4d frames/s | speed-up |")
    print(f"|---|---:|---:|---:|---:|---:|---:|")
    for name, n, t_p, t_e in rows:
        print(f"| {name} | {n} | {t_p:.4f} | {n / t_p:,.0f} | {t_e:.4f} | {n / t_e:,.0f} | {t_p / t_e:.2f}x |")


if __name__ == "__main__":
    main()
