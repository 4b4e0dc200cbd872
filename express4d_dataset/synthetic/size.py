"""How large a stand-in corpus may be: the most takes one call writes, and the disk it needs.

The corpus writer keeps a few numbers per take in memory (the split and performer draws, one
``metadata.jsonl`` line) and writes one Live Link Face CSV of about 220 kB per take (five seconds at
60 fps on average), so a request is bounded up front rather than found out by the machine: at most
:data:`MAX_SEQUENCES` takes (the real Express4D corpus has 1,205), and no more than the free space of the
target's file system holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

MAX_SEQUENCES = 100_000
"""The most takes (validation takes included) one corpus holds: about 22 GB of CSV, half an hour of work."""

BYTES_PER_TAKE = 250_000
"""A generous estimate of one take's files (its CSV, captions and metadata line)."""


def check_corpus_size(num_sequences, validation_fraction: float, out_dir) -> int:
    """Raise ``ValueError`` naming ``--num-sequences`` unless the corpus is within :data:`MAX_SEQUENCES` takes and
    fits the free space where ``out_dir`` is written; returns the number of takes it will hold."""
    if isinstance(num_sequences, bool) or int(num_sequences) != num_sequences or num_sequences < 1:
        raise ValueError(f"--num-sequences must be a positive integer, got {num_sequences!r}")
    total = int(num_sequences) + int(round(int(num_sequences) * float(validation_fraction)))
    if total > MAX_SEQUENCES:
        raise ValueError(
            f"--num-sequences {num_sequences}: {total:,} takes with the validation ones, more than the {MAX_SEQUENCES:,} "
            f"a stand-in corpus holds (about {MAX_SEQUENCES * BYTES_PER_TAKE / 1e9:.0f} GB); the real corpus has 1,205"
        )
    folder = Path(out_dir).resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return total
    need = total * BYTES_PER_TAKE
    if need > free:
        raise ValueError(
            f"--num-sequences {num_sequences}: {total:,} takes need about {need / 1e9:.1f} GB and {folder} has "
            f"{free / 1e9:.1f} GB free; ask for fewer takes or another --out"
        )
    return total
