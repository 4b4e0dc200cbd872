"""What several ``express4d`` commands share: output-folder and size checks, the reader and preview options."""

from __future__ import annotations

from pathlib import Path

MAX_PREVIEW_SIZE = 2048
"""Largest --size of a preview (pixels): beyond it a GIF of a long take no longer fits in memory."""


def check_output_folder(path, option: str = "--out") -> Path:
    """``path`` as a folder this command can write into (created if needed); raises naming the option otherwise.
    Checked before any heavy work, so a typo never costs a generation."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{option} {out}: a file, not a folder; pass a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".express4d-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"{option} {out}: cannot write there ({e.strerror or e}); choose another folder") from None
    return out


def check_input_files(paths) -> None:
    """Every input CSV exists and is a file (a folder or a typo is named before anything is written)."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{path} is a folder; pass the CSV files in it (e.g. {path / '*.csv'})")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")


def check_size(size: int) -> int:
    if not 32 <= size <= MAX_PREVIEW_SIZE:
        raise ValueError(f"--size must be between 32 and {MAX_PREVIEW_SIZE} pixels, got {size}")
    return size


def add_untracked_arguments(parser) -> None:
    """--untracked / --max-untracked-gap: the lost-tracking policy of every Live Link Face read."""
    parser.add_argument(
        "--untracked", choices=["interpolate", "split", "error"], default="interpolate",
        help="what to do with lost-tracking rows (BlendShapeCount 0, no values): interpolate gaps up to "
        "--max-untracked-gap seconds, a take with a longer gap is an error (data build: excluded, the reason in "
        "validation.json) (default); split: keep the longest segment between longer gaps; error: refuse any such row",
    )
    parser.add_argument(
        "--max-untracked-gap", type=float, default=0.5, metavar="SECONDS",
        help="longest run of lost-tracking rows that is interpolated, in seconds (default 0.5)",
    )


def add_preview_arguments(parser) -> None:
    """--preview / --camera: what the preview draws and from where."""
    parser.add_argument("--preview", choices=["3d", "2d"], default="3d",
                        help="3d: the ICT-FaceKit head, shaded (default); 2d: the procedural face")
    parser.add_argument("--camera", default="three-quarter", metavar="VIEW",
                        help="3D preview camera: front | three-quarter | side | a yaw in degrees (default: three-quarter, 30; "
                        "positive shows the face turned toward the image left, as a positive HeadYaw)")


def set_torch_threads_for_load() -> int:
    """Give torch one intra-op thread per CPU that is not already busy (by the 1-minute load average), at least one;
    returns the number set.  On a 2-core machine shared with a training run, two threads make the MDM's 20 steps
    several times slower than one (each waits for the other at every operation); on an idle one, two are faster."""
    import os

    import torch

    cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        busy = 0.0
    threads = max(1, min(torch.get_num_threads(), cpus - int(round(busy))))
    torch.set_num_threads(threads)
    return threads


__all__ = [
    "MAX_PREVIEW_SIZE", "add_preview_arguments", "add_untracked_arguments", "check_input_files", "check_output_folder",
    "check_size", "set_torch_threads_for_load",
]
