"""Wall time of the main job, `express4d generate`, as a newcomer runs it: a fresh process each time.

Each repeat starts a new ``express4d generate PROMPT`` process (Python start-up, imports, model
loading, generation, CSV + GIF + PNG writing, all included) with the bundled models, and also
times ``python -c "import pipelines"`` alone to show what start-up costs.

    python benchmarks/generate_cli.py                    # 5 repeats, both bundled models
    python benchmarks/generate_cli.py --repeats 3 --seconds 9

Prints one table of medians (and min/max) in seconds, wall time and the processes' CPU time (user + system):
on a machine shared with other work the wall time grows with its load, the CPU time hardly (on an idle
machine the two are about equal for these mostly single-threaded commands).  The load average is printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "A person is smiling softly and then raising their eyebrows"


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="motion length (default 6, the CLI's default)")
    parser.add_argument("--models", nargs="+", default=["mdm", "t2m_gpt"])
    args = parser.parse_args()

    exe = shutil.which("express4d")
    base = [exe] if exe else [sys.executable, "-m", "pipelines.commands"]
    rows = [("python -c 'import pipelines' (start-up only)", [sys.executable, "-c", "import pipelines"])]
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            cmd = base + ["generate", PROMPT, "--model", model, "--seconds", str(args.seconds), "--out", str(Path(tmp) / model)]
            rows.append((f"express4d generate --model {model} (1 prompt, {args.seconds:g} s)", cmd))
        results = []
        for label, cmd in rows:
            timed(cmd)  # warm the OS file cache; not counted
            runs = [timed(cmd) for _ in range(args.repeats)]
            times, cpu = [w for w, _ in runs], [c for _, c in runs]
            results.append((label, statistics.median(times), min(times), max(times), statistics.median(cpu)))
            print(f"done: {label}", file=sys.stderr)
    print(f"\n| command | median s | min s | max s | median CPU s |  ({args.repeats} fresh processes each; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print("|---|---:|---:|---:|---:|")
    for label, med, lo, hi, cpu in results:
        print(f"| {label} | {med:.2f} | {lo:.2f} | {hi:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
