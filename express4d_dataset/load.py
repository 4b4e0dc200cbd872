"""Loading the Express4D dataset by folder or Hub id, never by accident from another project's cache.

``datasets.load_dataset("express4d")`` with no ``express4d/`` folder here falls back to the Hub, and
offline to whatever ``express4d`` dataset is newest in the local cache -- possibly another project's.
:func:`load_express4d` resolves the name first: an existing folder is loaded as such; a name that looks
like a Hub id (``user/name``) is loaded from the Hub (or its cache); anything else is a missing folder,
reported with its path and the command that builds it.
"""

from __future__ import annotations

import re
from pathlib import Path

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_dataset(name_or_path: str) -> str:
    """The folder (absolute path) or Hub id ``name_or_path`` names; raises ``FileNotFoundError`` otherwise."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "README.md").is_file() and not any(path.rglob("*.parquet")):
            raise FileNotFoundError(
                f"dataset folder {path.resolve()} holds no express4d dataset (no README.md, no Parquet shards); "
                f"build it with `express4d data build --raw RAW --out {text}`"
            )
        return str(path.resolve())
    if path.exists():
        raise FileNotFoundError(f"dataset {text}: a file, but a dataset is a folder written by `express4d data build`")
    if _HUB_ID.match(text) and not text.startswith((".", "/")):
        return text
    raise FileNotFoundError(
        f"dataset folder {path.resolve()} not found; build it with `express4d data synth --out raw && express4d data "
        f"build --raw raw --out {text}` (the procedural stand-in) or `express4d data build --raw /path/to/Express4D "
        f"--out {text}` (the real corpus), or pass a Hub dataset id (user/name)"
    )


def load_express4d(name_or_path: str = "express4d", config_name: str | None = None, split: str | None = None):
    """``datasets.load_dataset`` of the resolved folder / Hub id (see :func:`resolve_dataset`)."""
    import datasets

    target = resolve_dataset(name_or_path)
    try:
        return datasets.load_dataset(target, config_name, split=split)
    except ValueError as e:
        raise ValueError(f"dataset {name_or_path} (config {config_name!r}, split {split!r}): {e}") from None
