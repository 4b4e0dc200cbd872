"""How real does the stand-in corpus move?  Its per-channel motion statistics against real Live Link Face takes.

Speed (mean absolute change per second), spread (std), resting level, jitter (second differences),
tracking noise and blinks of a raw corpus and of the real reference takes, both at 30 rows/s, over the 52
blendshapes and the six eye rotations (``express4d_dataset.realism``), with the summary the stand-in is held
to: median speed ratio (stand-in / real) within 0.67-1.5 and spread correlation at least 0.75.

    python benchmarks/realism.py                                  # a fresh corpus: 1,200 takes, seed 0
    python benchmarks/realism.py --num-sequences 300 --seed 1     # another fresh one
    python benchmarks/realism.py --synth raw                      # a folder written by `express4d data synth`
    python benchmarks/realism.py --real DIR --channels            # other reference takes; every channel

``--real`` defaults to ``../shared/fixtures/livelink`` beside the project.  ``--check`` exits with 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from express4d_dataset.realism import (
    COMPARE_FPS,
    TARGETS,
    compare,
    corpus_statistics,
    find_reference_dir,
    read_corpus_takes,
    read_reference_takes,
)

DEFAULT_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "livelink"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--synth", type=Path, default=None, help="a raw corpus folder (data/<id>.csv or .npy)")
    source.add_argument("--num-sequences", type=int, default=1200, help="takes of a fresh stand-in corpus (default 1200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh corpus (default 0)")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder of real Live Link Face CSVs")
    parser.add_argument("--fps", type=float, default=COMPARE_FPS, help="common row rate of the comparison (default 30)")
    parser.add_argument("--limit", type=int, default=None, help="read at most this many takes of --synth")
    parser.add_argument("--channels", action="store_true", help="also print every channel")
    parser.add_argument("--check", action="store_true", help="exit with 1 when a target is missed")
    args = parser.parse_args(argv)

    real_dir = find_reference_dir(args.real)
    if real_dir is None:
        print(f"no real reference takes (*.csv) in {args.real}; pass --real DIR", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    references = read_reference_takes(real_dir)
    reference = corpus_statistics(((t.frames, t.fps) for t in references), args.fps)
    gaps = sum(t.lost_rows for t in references)
    print(f"real: {len(references)} takes in {real_dir} ({reference.seconds / 60:.1f} min at {args.fps:g} rows/s; "
          f"{gaps} lost-tracking rows kept as gaps)")

    with tempfile.TemporaryDirectory(prefix="express4d-realism-") as tmp:
        if args.synth is not None:
            raw, label = args.synth, f"{args.synth}"
        else:
            from express4d_dataset.synthetic import write_synthetic_corpus

            raw = Path(tmp) / "raw"
            write_synthetic_corpus(raw, num_sequences=args.num_sequences, seed=args.seed)
            label = f"fresh stand-in corpus (express4d data synth --num-sequences {args.num_sequences} --seed {args.seed})"
        corpus = corpus_statistics(read_corpus_takes(raw, args.limit), args.fps)
    print(f"corpus: {label}: {corpus.num_takes} takes ({corpus.seconds / 60:.1f} min)")
    report = compare(corpus, reference)
    print()
    print(report.summary_table())
    worst = report.worst_channels(5)
    print()
    for kind in ("speed", "spread"):
        print(f"furthest {kind} (corpus / real): " + ", ".join(f"{n} x{v:.2f}" for n, v in worst[kind]))
    if args.channels:
        print()
        print(report.channel_table())
    lo, hi = TARGETS["speed_ratio"]
    verdict = "meets" if report.meets_targets else "MISSES"
    print(f"\n{verdict} the targets (median speed ratio {lo}-{hi}, spread correlation >= {TARGETS['spread_correlation']}); "
          f"{time.perf_counter() - t0:.1f} s")
    return 1 if args.check and not report.meets_targets else 0


if __name__ == "__main__":
    sys.exit(main())
