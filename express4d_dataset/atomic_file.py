"""Writing one file so that nobody ever reads half of it: the package's single "temp file, then os.replace".

Every file express4d writes for a person or a later run (a Live Link Face CSV, a GLB, a preview, a results
table, a generation cache, a caption-embedding table) goes through :func:`atomic_path`.  It lives in the
lowest layer so that the corpus, the pipelines, the previews and training can all use it.  Whole folders
are swapped in by :class:`~express4d_dataset.output_folder.StagedFolder` instead.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """``with atomic_path(target) as tmp:`` write the file ``tmp``; when the block ends without an error,
    ``tmp`` replaces ``target`` in one rename, so a reader sees the old file or the new one, never half of
    one, and a crash leaves the old one.  On an error ``tmp`` is removed and the error raised.

    ``tmp`` is a hidden sibling (same folder, so the rename is atomic) that ends in the target's suffix,
    ``.<name>.<pid>.tmp<suffix>``: writers that pick a format by suffix (``np.savez``, ffmpeg) work.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
