"""``express4d export``: Live Link Face CSVs -> GLB (the 3D head, ARKit morph targets, the animation)."""

from __future__ import annotations

from .arguments import add_untracked_arguments


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
    add_untracked_arguments(ex)
    ex.set_defaults(func=run)


def run(args) -> int:
    from pipelines.preview import export_csv

    for path in args.files:
        written = export_csv(path, out_dir=args.out, format=args.format, untracked=args.untracked,
                             max_untracked_gap=args.max_untracked_gap)  # fmt: skip
        print(f"{path}: {written} ({written.stat().st_size / 1e6:.2f} MB)")
    return 0
