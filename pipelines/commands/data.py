"""``express4d data synth|build``: write the procedural stand-in corpus, or build a raw corpus into a Parquet dataset."""

from __future__ import annotations

from .arguments import add_untracked_arguments


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="build, synthesise and publish the Express4D corpus")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    synth = data_sub.add_parser("synth", help="write the procedural stand-in corpus in the raw Express4D layout")
    synth.add_argument("--out", required=True, help="output folder (data/, texts/, train.txt, val.txt, test.txt)")
    synth.add_argument("--num-sequences", type=int, default=1200,
                       help="number of takes (default 1200; at most 100,000 with the validation takes, and what the disk holds)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--test-fraction", type=float, default=0.2, help="share of ids in test.txt (default 0.2)")
    synth.add_argument("--validation-fraction", type=float, default=0.2,
                       help="extra takes for val.txt, drawn like the test ones, as a share of --num-sequences "
                       "(default 0.2; 0: no validation split); train.txt and test.txt do not depend on it")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    synth.set_defaults(func=run_synth)

    build = data_sub.add_parser("build", help="convert a raw corpus into a Parquet dataset with a dataset card")
    build.add_argument("--raw", required=True, help="raw corpus folder (data/, texts/, train.txt, test.txt)")
    build.add_argument("--out", required=True, help="output dataset folder, loadable with datasets.load_dataset(OUT)")
    build.add_argument(
        "--config", action="append", choices=["fps20", "raw"], default=None,
        help="configs to export (repeatable; default: both, fps20 is the default config)",
    )
    build.add_argument("--strict", action="store_true", help="fail on any validation finding instead of reporting it")
    add_untracked_arguments(build)
    build.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
    build.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="also upload the folder as a dataset repo")
    build.add_argument("--private", action="store_true", help="with --push-to-hub: create a private repo")
    build.set_defaults(func=run_build)


def run_synth(args) -> int:
    from express4d_dataset.synthetic import write_synthetic_corpus
    from express4d_dataset.synthetic.size import check_corpus_size

    check_corpus_size(args.num_sequences, args.validation_fraction, args.out)  # before anything is allocated or written
    summary = write_synthetic_corpus(
        args.out, num_sequences=args.num_sequences, seed=args.seed, test_fraction=args.test_fraction,
        validation_fraction=args.validation_fraction, overwrite=args.overwrite, progress=True,
    )
    print(summary)
    return 0


def run_build(args) -> int:
    from express4d_dataset.hub import export_dataset, push_dataset_to_hub

    report = export_dataset(
        args.raw, args.out, configs=args.config or ["fps20", "raw"], strict=args.strict, overwrite=args.overwrite,
        progress=True, untracked=args.untracked, max_untracked_gap=args.max_untracked_gap,
    )
    print(report)
    if args.push_to_hub:
        try:
            url = push_dataset_to_hub(args.out, args.push_to_hub, private=args.private)
        except OSError as e:  # offline, no token, no such repo (the Hub client's errors are OSErrors)
            raise ValueError(f"--push-to-hub {args.push_to_hub}: upload failed ({type(e).__name__}: {str(e)[:200]}); "
                             f"the dataset is built in {args.out}: retry when online and logged in (hf auth login)") from None
        print(f"Uploaded to {url}")
    return 0
