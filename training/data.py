"""Training data: the dataset, its normalisation statistics, a resumable epoch-seeded sampler and collators.

Reproducibility and exact resumption rest on two rules:

* the order of the items is a pure function of ``(seed, epoch)`` (:class:`EpochSampler`), so a
  resumed run re-creates the epoch and skips the batches already consumed;
* every random draw a collator makes (crop offset, caption, flip) comes from a generator seeded by
  ``(seed, epoch, the batch's ids)`` (:class:`BatchSeededCollator`), never from state that
  accumulates across batches, so skipped batches, prefetching and worker processes cannot shift it.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from express4d_dataset.motion import MotionCollator, MotionStats, row_captions

logger = logging.getLogger(__name__)

STATS_FILENAME = "stats.json"


def load_training_dataset(dataset: str, config_name: str):
    """The dataset folder or Hub id (:func:`express4d_dataset.load.load_express4d`: never another project's
    cached ``express4d``), numpy-formatted."""
    from express4d_dataset.load import load_express4d

    try:
        ds = load_express4d(dataset, config_name)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"--dataset {dataset!r}: {e}") from None
    except ValueError as e:
        raise ValueError(f"--dataset {dataset!r} / --dataset_config {config_name!r}: {e}") from None
    return ds.with_format("numpy")


def resolve_stats(dataset: str, config_name: str, train_split, stats_path: str | None = None) -> tuple[MotionStats, str]:
    """Normalisation statistics and where they came from.

    Order: ``stats_path``; ``<dataset folder>/<config>/stats.json``; the same file in a Hub dataset
    repo; computed from the training split (logged).
    """
    if stats_path:
        return MotionStats.load(stats_path), str(stats_path)
    local = Path(dataset) / config_name / STATS_FILENAME
    if local.is_file():
        return MotionStats.load(local), str(local)
    if not Path(dataset).exists():
        path = hub_dataset_file(dataset, f"{config_name}/{STATS_FILENAME}")
        if path is not None:
            return MotionStats.load(path), f"{dataset}/{config_name}/{STATS_FILENAME}"
    logger.info("Computing normalisation statistics from the %d training motions", len(train_split))
    stats = MotionStats.from_motions(np.asarray(m, dtype=np.float32) for m in train_split["motion"])
    return stats, "computed from the training split"


def dataset_card_text(dataset: str) -> str:
    """The dataset card (README.md) of a local folder or Hub dataset, or "" when unavailable."""
    local = Path(dataset) / "README.md"
    if local.is_file():
        return local.read_text(encoding="utf-8")
    if not Path(dataset).exists():
        path = hub_dataset_file(dataset, "README.md")
        if path is not None:
            return path.read_text(encoding="utf-8")
    return ""


def hub_dataset_file(repo_id: str, filename: str) -> Path | None:
    """A file of a Hub dataset repo (downloaded or cached), or None when the repo has no such file or it
    cannot be fetched (offline and not cached; logged)."""
    from huggingface_hub import hf_hub_download

    try:
        from huggingface_hub.errors import EntryNotFoundError
    except ImportError:  # huggingface_hub < 0.23
        from huggingface_hub.utils import EntryNotFoundError
    try:
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset"))
    except (EntryNotFoundError, OSError) as e:
        logger.info("No %s from the dataset %s (%s: %s)", filename, repo_id, type(e).__name__, e)
        return None


def is_stand_in_corpus(card: str) -> bool:
    """True when the dataset card says the data is the procedural stand-in, not the real captures."""
    return "procedural stand-in" in card.lower()


class EpochSampler(Sampler[int]):
    """Indices ``0..n-1`` shuffled by a generator seeded with ``(seed, epoch)``; ``set_epoch`` picks the epoch.

    accelerate's data loader calls ``set_epoch`` with its iteration count, and shards the batches
    across processes, so every process sees the same permutation.
    """

    def __init__(self, num_items: int, seed: int, shuffle: bool = True):
        if num_items < 1:
            raise ValueError("EpochSampler: the dataset is empty")
        self.num_items = num_items
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_items

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.num_items))
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.num_items)
        return iter(order.tolist())


def batch_seed(seed: int, epoch: int, ids: Sequence) -> list[int]:
    """Seed material for one batch: the run seed, the epoch and a CRC of the batch's item ids in order."""
    key = "\x1f".join(str(i) for i in ids).encode("utf-8")
    return [int(seed), int(epoch), zlib.crc32(key)]


class BatchSeededCollator:
    """Wrap :class:`~express4d_dataset.motion.MotionCollator`: reseed its generator per batch from
    ``(seed, epoch, ids)`` before collating.  Call :meth:`set_epoch` before iterating an epoch."""

    def __init__(self, collator: MotionCollator, seed: int):
        self.collator = collator
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __call__(self, rows: Sequence[dict]) -> dict:
        if self.collator.train:
            ids = [r.get("id") for r in rows]
            self.collator.rng = np.random.default_rng(batch_seed(self.seed, self.epoch, ids))
        return self.collator(rows)


def motion_collator(stats: MotionStats, max_frames: int, train: bool, max_offset: int | None, flip_prob: float,
                    seed: int) -> BatchSeededCollator:
    """The corpus package's collator (crop, normalise, draw a caption, optional flip), seeded per batch."""
    base = MotionCollator(stats, max_frames=max_frames, train=train, max_offset=max_offset,
                          flip_prob=flip_prob if train else 0.0, seed=seed)
    return BatchSeededCollator(base, seed)


class CodeDataset(Dataset):
    """VQ-VAE code sequences of a motion split (for the T2M-GPT prior): items ``{id, codes, captions}``."""

    def __init__(self, items: list[dict]):
        if not items:
            raise ValueError("CodeDataset: no code sequences (is the training split empty?)")
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


@torch.no_grad()
def encode_split_to_codes(vqvae, split, max_frames: int, batch_size: int = 32, device=None) -> CodeDataset:
    """Encode every motion of ``split`` once with ``vqvae`` (its own statistics normalise them).

    Each motion is cut to its first ``max_frames`` frames and then to a multiple of the VQ-VAE's
    downsampling factor (as T2M-GPT does), so every code describes real frames.  Motions are
    encoded in batches of equal length, never padded: the dilated convolutions would otherwise
    carry padding into the codes of the shorter motions (as ``T2MGPTPipeline.decode_codes`` groups
    by length to decode).
    """
    factor = vqvae.downsampling_factor
    device = device or next(vqvae.parameters()).device
    vqvae.eval()
    motions, meta = [], []
    by_length: dict[int, list[int]] = {}
    for index in range(len(split)):
        row = split[index]
        m = np.asarray(row["motion"], dtype=np.float32)[:max_frames]
        usable = (len(m) // factor) * factor
        if usable < factor:
            raise ValueError(f"row {row.get('id')}: {len(m)} frames, fewer than one VQ-VAE code ({factor} frames)")
        captions = row_captions(row) or [""]
        motions.append(m[:usable])
        meta.append((str(row.get("id")), captions))
        by_length.setdefault(usable, []).append(index)
    codes: list[torch.Tensor | None] = [None] * len(motions)
    for indices in by_length.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            batch = torch.from_numpy(np.stack([motions[i] for i in chunk])).to(device)
            for i, c in zip(chunk, vqvae.encode(vqvae.normalize_motion(batch)).cpu()):
                codes[i] = c.clone()
    return CodeDataset([{"id": ident, "codes": c, "captions": caps} for (ident, caps), c in zip(meta, codes)])


class CodeCollator:
    """Batch ``{id, codes, captions}`` items: codes padded with -1 ``[B, L]``, ``lengths`` [B], one caption each.

    Training draws the caption with a generator seeded by ``(seed, epoch, ids)``; evaluation takes the first.
    """

    def __init__(self, seed: int, train: bool = True):
        self.seed = int(seed)
        self.train = train
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __call__(self, items: Sequence[dict]) -> dict:
        ids = [it["id"] for it in items]
        rng = np.random.default_rng(batch_seed(self.seed, self.epoch, ids)) if self.train else None
        captions = [it["captions"][int(rng.integers(len(it["captions"])))] if rng is not None else it["captions"][0]
                    for it in items]
        lengths = torch.tensor([len(it["codes"]) for it in items], dtype=torch.long)
        codes = torch.full((len(items), int(lengths.max())), -1, dtype=torch.long)
        for i, it in enumerate(items):
            codes[i, : len(it["codes"])] = it["codes"]
        return {"codes": codes, "lengths": lengths, "captions": captions, "ids": ids}


def recaptioned_training_split(train_rows, config):
    """``train_rows`` with ``config.extra_captions`` more captions per take
    (:func:`express4d_dataset.synthetic.recaption.with_more_captions`, seeded by ``config.seed``)."""
    from express4d_dataset.synthetic.recaption import with_more_captions

    try:
        return with_more_captions(train_rows, config.extra_captions, config.seed)
    except ValueError as e:
        raise ValueError(f"--extra_captions {config.extra_captions} (--dataset {config.dataset!r}): {e}; pass "
                         "--extra_captions 0") from None


def composed_training_split(train_rows, config, fps: float):
    """``train_rows`` and ``config.compose_takes`` composed takes
    (:func:`express4d_dataset.synthetic.compose.with_composed_takes`, seeded by ``config.seed``)."""
    from express4d_dataset.synthetic.compose import with_composed_takes

    try:
        return with_composed_takes(train_rows, config.compose_takes, config.seed, fps, config.max_frames,
                                   config.compose_three_step_share)
    except ValueError as e:
        raise ValueError(f"--compose_takes {config.compose_takes} (--dataset {config.dataset!r}): {e}, or pass "
                         "--compose_takes 0") from None


def balanced_training_split(train_rows, config, fps: float):
    """``train_rows`` and ``config.balanced_takes`` new single-action takes, every (action, intensity) equally often
    (:func:`express4d_dataset.synthetic.balanced.with_balanced_takes`, seeded by ``config.seed``)."""
    from express4d_dataset.synthetic.balanced import with_balanced_takes

    try:
        return with_balanced_takes(train_rows, config.balanced_takes, config.seed, fps, config.max_frames)
    except ValueError as e:
        raise ValueError(f"--balanced_takes {config.balanced_takes} (--dataset {config.dataset!r}): {e}; pass "
                         "--balanced_takes 0") from None
