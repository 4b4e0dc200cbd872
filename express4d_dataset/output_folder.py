"""Writing a folder the tools own (a dataset, a stand-in corpus) without ever losing what a user made.

:class:`StagedFolder` builds the new content in a hidden sibling and swaps it into place only when
it is complete, so an interrupted build (kill -9 included) leaves the previous folder untouched:

* a missing or empty target is simply created;
* a non-empty target is replaced only with ``overwrite`` **and** when it holds the tool's marker file
  (a folder this tool wrote) -- anything else is refused with a message naming the folder;
* on replacement, every entry of the old folder that the tool does not own (``owns(path)`` is False:
  a ``.git`` of a cloned Hub repo, the user's notes, a file they put in ``fps20/``) is carried over
  into the new folder, and only the tool's own files are dropped;
* leftovers of an interrupted run (``.<name>.tmp-*``) are removed, and a folder parked as
  ``.<name>.old-*`` by a run killed in the middle of the swap is put back;
* the current folder, or one above it (``--out .``), is refused up front: the new folder is built beside
  the target and renamed into place, which a working directory cannot be;
* the new folder gets the permissions the umask gives any new folder (not a temporary folder's 0700).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable

logger = logging.getLogger(__name__)


class StagedFolder:
    """``with StagedFolder(out, overwrite, marker, owns, what) as stage:`` write into ``stage``; on success it
    becomes ``out`` (see the module docstring).

    Args:
        path: the target folder.
        overwrite: replace an existing non-empty folder (only one with ``marker``).
        marker: file name (relative to the folder) that proves the tool wrote it.
        owns: ``owns(relative_posix_path) -> bool``, True for the entries the tool writes; the others
            are the user's and are carried over.
        what: how messages name the folder's kind (e.g. "express4d dataset folder").
        flag: the option that allows replacing (named in the refusal).
    """

    def __init__(self, path, overwrite: bool, marker: str, owns: Callable[[PurePosixPath], bool], what: str,
                 flag: str = "--overwrite"):
        self.path = Path(path)
        self.overwrite = overwrite
        self.marker = marker
        self.owns = owns
        self.what = what
        self.flag = flag
        self.stage: Path | None = None

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Raise ``FileExistsError`` unless the folder may be written (call before any heavy work)."""
        out = self.path
        _refuse_working_folder(out)
        _recover(out)
        if out.exists() and not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a folder; choose another --out")
        if out.is_dir() and any(out.iterdir()):
            if not (out / self.marker).is_file():
                raise FileExistsError(
                    f"{out} is not empty and is not an {self.what} (no {self.marker}); refusing to write into it. "
                    "Choose another --out (an empty or new folder)"
                )
            if not self.overwrite:
                raise FileExistsError(f"{out} already holds an {self.what}; pass {self.flag} to replace it, or choose another --out")
        parent = out.parent if str(out.parent) else Path(".")
        if parent.exists() and not os.access(parent, os.W_OK):
            raise PermissionError(f"{parent} is not writable; choose another --out")

    # ------------------------------------------------------------------ context
    def __enter__(self) -> Path:
        self.check()
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        self.stage = new_folder(parent, f".{self.path.name}.tmp-")
        return self.stage

    def __exit__(self, exc_type, exc, tb) -> bool:
        stage, self.stage = self.stage, None
        if exc_type is not None:
            shutil.rmtree(stage, ignore_errors=True)
            return False
        self._swap(stage)
        return False

    def _swap(self, stage: Path) -> None:
        out = self.path
        if not out.exists():
            os.replace(stage, out)
            return
        kept = _carry_over(out, stage, self.owns)
        if kept:
            logger.info("%s: kept %d entr%s the tool did not write: %s", out, len(kept), "y" if len(kept) == 1 else "ies",
                        ", ".join(kept[:10]))
        parked = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        parked.rmdir()
        os.replace(out, parked)  # between these two renames a crash leaves `parked`, which _recover restores
        os.replace(stage, out)
        shutil.rmtree(parked, ignore_errors=True)


def _refuse_working_folder(out: Path) -> None:
    """``--out .`` (or ``..``, or any path to the current folder or above it) cannot be replaced as a whole."""
    try:
        target, cwd = out.resolve(), Path.cwd().resolve()
    except OSError:
        return
    if out.name in ("", ".", "..") or target == cwd or target in cwd.parents:
        raise ValueError(
            f"--out {out}: the current folder (or one above it) cannot be written as a whole, since the new folder is "
            f"built beside it and renamed into place; name a new folder, e.g. --out {out / 'express4d'}"
        )


def new_folder(parent: Path, prefix: str, what: str = "a staging folder") -> Path:
    """A new, uniquely named folder ``parent/<prefix><random hex>`` with the umask's permissions (``mkdtemp``
    makes 0700); ``what`` names it in the error when 100 names are all taken."""
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{parent}: could not create {what} {prefix}*")


def _carry_over(old: Path, new: Path, owns, prefix: PurePosixPath = PurePosixPath()) -> list[str]:
    """Move every entry of ``old`` the tool does not own into ``new`` (same relative path); returns their paths."""
    moved = []
    for entry in sorted(old.iterdir()):
        rel = prefix / entry.name
        target = new / entry.name
        if entry.is_dir() and not entry.is_symlink() and owns(rel):
            created = not target.exists()
            if created:
                target.mkdir()
            moved += _carry_over(entry, target, owns, rel)
            if created and not any(target.iterdir()):
                target.rmdir()  # only the tool's files were in it
            continue
        if owns(rel):
            continue
        if target.exists():  # the new content has an entry of that name: the tool's version wins, the user's is kept beside it
            target = new / f"{entry.name}.previous"
        os.replace(entry, target)
        moved.append(str(rel))
    return moved


def _recover(out: Path) -> None:
    """Clean up after an interrupted run: drop staging folders, restore a folder parked mid-swap."""
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        return
    for leftover in parent.glob(f".{out.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    parked = sorted(parent.glob(f".{out.name}.old-*"))
    for p in parked:
        if not out.exists():
            os.replace(p, out)
            logger.warning("%s was left aside by an interrupted run (%s); restored it", out, p.name)
        else:
            shutil.rmtree(p, ignore_errors=True)


__all__ = ["StagedFolder"]
