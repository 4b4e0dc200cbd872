"""The run folder (``--output_dir``) and the manifest of what a run wrote into it.

Training writes only into a folder that is new, empty, or an earlier run's.  Every top-level entry a
run writes (``training_config.json``, ``checkpoints/``, ``logs/``, the final model's files, its card) is
recorded in :data:`MANIFEST_FILENAME` *before* it is written, so ``--overwrite_output_dir`` deletes
exactly those entries and nothing a person put beside them; the folder itself is never deleted.

A folder written before runs kept a manifest (one holding a complete ``checkpoints/checkpoint-<step>``) is
still recognised as a run: it can be resumed (the manifest starts then), but it is not cleared, since
nothing says which of its files the run wrote.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from .checkpointing import list_checkpoints

logger = logging.getLogger(__name__)

MANIFEST_FILENAME = ".express4d_run.json"
CONFIG_FILENAME = "training_config.json"

EMPTY, RUN, LEGACY_RUN, FOREIGN = "empty", "run", "legacy run", "foreign"


def _plain_name(name) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\0" not in name


class RunFolder:
    """One ``--output_dir``: what it holds (:meth:`kind`), the manifest, and clearing a run's own entries."""

    def __init__(self, path):
        self.path = Path(path)
        self.manifest_path = self.path / MANIFEST_FILENAME

    # ---------------------------------------------------------------- what the folder is
    def kind(self) -> str:
        """``empty`` (also: missing), ``run`` (has a manifest), ``legacy run`` or ``foreign`` (anything else)."""
        if not self.path.exists():
            return EMPTY
        if not self.path.is_dir():
            raise FileExistsError(f"--output_dir {self.path}: a file; choose a folder")
        if not any(self.path.iterdir()):
            return EMPTY
        if self.manifest_path.is_file() and self._read_manifest() is not None:
            return RUN
        if list_checkpoints(self.path):  # complete express4d checkpoints: a run's, from before manifests
            return LEGACY_RUN
        return FOREIGN

    def _read_manifest(self) -> list[str] | None:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        entries = data.get("written") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            return None
        return [e for e in entries if _plain_name(e) and e != MANIFEST_FILENAME]

    def written(self) -> list[str]:
        """The top-level names the manifest records (empty when there is none)."""
        return self._read_manifest() or []

    # ---------------------------------------------------------------- recording
    def record(self, *names: str) -> None:
        """Add top-level ``names`` to the manifest (atomically), before the run writes them."""
        for name in names:
            if not _plain_name(name):
                raise ValueError(f"run manifest: {name!r} is not a top-level name inside {self.path}")
        current = self.written()
        new = current + [n for n in names if n not in current]
        if new == current and self.manifest_path.is_file():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".tmp-{MANIFEST_FILENAME.lstrip('.')}-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"format": "express4d training run", "written": new}, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.manifest_path)

    def clear(self) -> list[str]:
        """Delete the entries this folder's runs wrote (per the manifest); returns the names deleted.

        Entries a person added are kept; a recorded name that is now a symbolic link loses only the link.
        """
        deleted = []
        for name in self.written():
            entry = self.path / name
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
            elif entry.is_dir():
                shutil.rmtree(entry)
            else:
                continue
            deleted.append(name)
        self.manifest_path.unlink(missing_ok=True)
        return deleted


def check_output_dir(output_dir, resume: str | None, overwrite: bool) -> bool:
    """Refuse to train into a folder that is not a run, or into a run without ``--resume_from_checkpoint`` or
    ``--overwrite_output_dir``.

    Returns True when an earlier run's entries are to be cleared first (``--overwrite_output_dir``).
    """
    folder = RunFolder(output_dir)
    kind = folder.kind()
    if kind == EMPTY:
        return False
    if kind == FOREIGN:
        raise FileExistsError(
            f"--output_dir {output_dir} holds files and is not a training run (no {MANIFEST_FILENAME}); training "
            "never writes into such a folder (not with --resume_from_checkpoint, not with --overwrite_output_dir): "
            "choose a new or empty --output_dir"
        )
    if resume:
        return False
    if not overwrite:
        raise FileExistsError(
            f"--output_dir {output_dir} already holds an earlier training run; continue it with "
            "--resume_from_checkpoint latest, choose another --output_dir, or pass --overwrite_output_dir to start "
            "over (deletes only what that run wrote: its checkpoints, logs and model)"
        )
    if kind == LEGACY_RUN:
        raise FileExistsError(
            f"--output_dir {output_dir} holds a training run saved before runs kept a manifest ({MANIFEST_FILENAME}), "
            "so which files it wrote is unknown: --overwrite_output_dir does not clear it; delete what you no longer "
            "need yourself, choose another --output_dir, or continue it with --resume_from_checkpoint latest"
        )
    return True


def place_final(output_dir, staging) -> list[str]:
    """Move every top-level entry of ``staging`` (the final model, written beside) into ``output_dir``.

    Each name is recorded in the manifest before it is moved; an earlier entry of the same name (the same run
    saved again after a resume) is replaced.  ``staging`` is removed at the end.
    """
    folder = RunFolder(output_dir)
    staging = Path(staging)
    names = sorted(p.name for p in staging.iterdir())
    folder.record(*names)
    for name in names:
        target, old = folder.path / name, None
        if target.is_dir() and not target.is_symlink():
            old = folder.path / f".old-{name}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        elif target.is_symlink() or (target.exists() and (staging / name).is_dir()):
            target.unlink()
        os.replace(staging / name, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    staging.rmdir()
    return names
