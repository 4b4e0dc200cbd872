"""``express4d render``: previews (GIF, MP4 when ffmpeg exists, channel curves) of Live Link Face CSVs."""

from __future__ import annotations

from .arguments import add_preview_arguments, add_untracked_arguments, check_input_files, check_output_folder, check_size


def add_parser(sub) -> None:
    render = sub.add_parser(
        "render",
        help="draw a preview (GIF, MP4 when ffmpeg exists, channel-curve PNG) of Live Link Face CSVs",
        description="Draw the 61 channels of each Live Link Face CSV on the 3D head (or, with --preview 2d, a "
        "procedural 2D face): <stem>.gif (at most 30 fps), <stem>.mp4 (when ffmpeg is on PATH) and <stem>_curves.png.",
    )
    render.add_argument("files", nargs="+", metavar="FILE.csv", help="Live Link Face CSV take(s)")
    render.add_argument("--out", default=None, help="output folder (default: beside each CSV)")
    render.add_argument("--size", type=int, default=256, help="preview width and height in pixels (default 256)")
    render.add_argument("--no-mp4", action="store_true", help="do not write an MP4 even when ffmpeg is available")
    render.add_argument("--overwrite", action="store_true",
                        help="replace earlier files of the same name (default: keep them; the new files take the next free "
                        "name, <stem>_2.gif, ...)")
    add_preview_arguments(render)
    add_untracked_arguments(render)
    render.set_defaults(func=run)


def run(args) -> int:
    from pipelines.preview import ffmpeg_available, render_csv

    check_size(args.size)
    check_input_files(args.files)
    if args.out:
        check_output_folder(args.out)
    if not args.no_mp4 and not ffmpeg_available():
        print("ffmpeg not found on PATH: writing GIF previews only (install ffmpeg for MP4)")
    for path in args.files:
        written = render_csv(
            path, out_dir=args.out, size=args.size, mp4=not args.no_mp4, untracked=args.untracked,
            max_untracked_gap=args.max_untracked_gap, preview=args.preview, camera=args.camera, overwrite=args.overwrite,
        )
        print(f"{path}:")
        for kind in ("gif", "mp4", "png"):
            if kind in written:
                print(f"  {kind:3s} {written[kind]}")
    return 0
