"""The ``express4d`` command line: ``express4d data|generate|evaluate|render ...``.

Each subcommand registers itself through an ``_add_<name>_command(subparsers)`` function and
imports its heavy dependencies only when it runs, so ``express4d --help`` stays instant.
The CLI prints; library code logs.
"""

from __future__ import annotations

import argparse
import logging
import sys


def _add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="build, synthesise and publish the Express4D corpus")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    synth = data_sub.add_parser("synth", help="write the procedural stand-in corpus in the raw Express4D layout")
    synth.add_argument("--out", required=True, help="output folder (data/, texts/, train.txt, test.txt)")
    synth.add_argument("--num-sequences", type=int, default=1200, help="number of takes (default 1200)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--test-fraction", type=float, default=0.2, help="share of ids in test.txt (default 0.2)")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    synth.set_defaults(func=_run_data_synth)

    build = data_sub.add_parser("build", help="convert a raw corpus into a Parquet dataset with a dataset card")
    build.add_argument("--raw", required=True, help="raw corpus folder (data/, texts/, train.txt, test.txt)")
    build.add_argument("--out", required=True, help="output dataset folder, loadable with datasets.load_dataset(OUT)")
    build.add_argument(
        "--config", action="append", choices=["fps20", "raw"], default=None,
        help="configs to export (repeatable; default: both, fps20 is the default config)",
    )
    build.add_argument("--strict", action="store_true", help="fail on any validation finding instead of reporting it")
    build.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    build.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="also upload the folder as a dataset repo")
    build.add_argument("--private", action="store_true", help="with --push-to-hub: create a private repo")
    build.set_defaults(func=_run_data_build)


def _run_data_synth(args) -> int:
    from express4d_dataset.synthetic import write_synthetic_corpus

    summary = write_synthetic_corpus(
        args.out, num_sequences=args.num_sequences, seed=args.seed, test_fraction=args.test_fraction,
        overwrite=args.overwrite, progress=True,
    )
    print(summary)
    return 0


def _run_data_build(args) -> int:
    from express4d_dataset.hub import export_dataset, push_dataset_to_hub

    report = export_dataset(
        args.raw, args.out, configs=args.config or ["fps20", "raw"], strict=args.strict,
        overwrite=args.overwrite, progress=True,
    )
    print(report)
    if args.push_to_hub:
        url = push_dataset_to_hub(args.out, args.push_to_hub, private=args.private)
        print(f"Uploaded to {url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="express4d", description="Text-to-facial-motion on the Express4D corpus.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library log messages")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"express4d {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
