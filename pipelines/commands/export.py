"""``express4d export``: Live Link Face CSVs -> GLB (the 3D head, ARKit morph targets, the animation)."""

from __future__ import annotations

from pathlib import Path

from .arguments import add_untracked_arguments, check_input_files, check_output_folder


def add_parser(sub) -> None:
    ex = sub.add_parser(
        "export",
        help="convert Live Link Face CSVs to GLB: the 3D head with ARKit morph targets and the animation",
        description="Write <stem>.glb for each CSV: the ICT-FaceKit head, its morph targets named as ARKit's "
        "blendshapes (mesh.extras.targetNames), and the take as one animation (morph weights, head and eye "
        "rotations) at the CSV's row rate.  Opens in three.js, Blender and any glTF 2.0 viewer.",
    )
    ex.add_argument("files", nargs="+", metavar="FILE.csv", help="Live Link Face CSV take(s)")
    ex.add_argument("--format", choices=["glb"], default="glb", help="output format (default: glb)")
    ex.add_argument("--out", default=None, metavar="DIR", help="output folder (default: beside each CSV)")
    ex.add_argument("--overwrite", action="store_true",
                    help="replace an earlier file of the same name (default: keep it; the new one takes the next free "
                    "name, <stem>_2.glb, ...)")
    add_untracked_arguments(ex)
    ex.set_defaults(func=run)


def run(args) -> int:
    from pipelines.preview import export_csv

    check_input_files(args.files)
    for folder in [args.out] if args.out else sorted({str(Path(p).parent) for p in args.files}):
        check_output_folder(folder)  # every folder written to, before the first file
    for path in args.files:
        written = export_csv(path, out_dir=args.out, format=args.format, untracked=args.untracked,
                             max_untracked_gap=args.max_untracked_gap, overwrite=args.overwrite)  # fmt: skip
        print(f"{path}: {written} ({written.stat().st_size / 1e6:.2f} MB)")
    return 0
