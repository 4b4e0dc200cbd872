"""Takes and the corpus on disk: one take in memory, or the whole stand-in corpus in the raw layout."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

from ..livelink import write_livelink_csv
from ..output_folder import StagedFolder
from .actions import ACTION_NAMES
from .captions import caption_plan_with_swaps
from .performers import NUM_PERFORMERS, Performer, sample_performers
from .plan import FPS, MAX_SECONDS, TakePlan, holds_out, sample_plan
from .signals import render_plan

logger = logging.getLogger(__name__)


@dataclass
class SyntheticTake:
    """One synthesised take: its frames, captions, action keys and the plan it was rendered from (timed)."""

    frames: np.ndarray
    """``[T, 61]`` float32 at 60 fps."""
    captions: list[str]
    actions: list[str]
    plan: TakePlan
    swapped_captions: list[str | None] = None
    """Each caption with its steps in reverse order (None for a one-step take)."""

    @property
    def seconds(self) -> float:
        return self.frames.shape[0] / FPS


def synthesize_take(
    rng: np.random.Generator,
    performer: Performer,
    actions: Sequence[str | Sequence[str]] | None = None,
    *,
    composition: str | None = None,
    intensity: str | Sequence[str] | None = None,
    speed: str | Sequence[str] | None = None,
    num_captions: int | None = None,
    spontaneous_blinks: bool = True,
    tracking_noise: bool = True,
    idle_motion: bool = True,
    split: str | None = None,
) -> SyntheticTake:
    """One take with its plan (see :func:`sample_plan` for ``actions`` / ``composition`` / ``split``)."""
    plan = sample_plan(rng, actions, composition=composition, intensity=intensity, speed=speed, split=split)
    frames = render_plan(rng, performer, plan, spontaneous_blinks, tracking_noise, idle_motion)
    pairs = caption_plan_with_swaps(rng, plan, num_captions, split=split)
    return SyntheticTake(frames=frames, captions=[c for c, _ in pairs], actions=plan.actions, plan=plan,
                         swapped_captions=[s for _, s in pairs])


def generate_take(
    rng: np.random.Generator,
    performer: Performer,
    actions: Sequence[str | Sequence[str]] | None = None,
    **kwargs,
) -> tuple[np.ndarray, list[str], list[str]]:
    """``(frames [T, 61] float32 at 60 fps, captions, action keys)`` for one take, in memory.

    Keyword arguments as :func:`synthesize_take` (``composition``, ``intensity``, ``speed``,
    ``num_captions``, ``spontaneous_blinks``, ``tracking_noise``, ``idle_motion``).
    """
    take = synthesize_take(rng, performer, actions, **kwargs)
    return take.frames, take.captions, take.actions


@dataclass
class SyntheticCorpusSummary:
    """What :func:`write_synthetic_corpus` wrote."""

    out_dir: str
    num_sequences: int
    num_train: int
    num_test: int
    participants: list[str]
    total_frames: int
    num_captions: int
    min_seconds: float
    max_seconds: float
    action_counts: dict[str, int]
    compositions: dict[str, int]
    fps: int = FPS
    seed: int = 0
    num_validation: int = 0
    """Validation takes (``val.txt``), written besides the ``num_sequences`` train and test takes."""

    @property
    def total_minutes(self) -> float:
        return self.total_frames / self.fps / 60.0

    def __str__(self) -> str:
        counts = sorted(self.action_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        coverage = f"{sum(1 for _, c in counts if c)}/{len(ACTION_NAMES)} actions used"
        if counts:
            (most, n_most), (least, n_least) = counts[0], counts[-1]
            total = sum(self.action_counts.values())
            coverage += f", {total} occurrences; most {most} ({n_most}), least {least} ({n_least})"
        comp = ", ".join(f"{k} {v}" for k, v in sorted(self.compositions.items()))
        return "\n".join([
            f"Synthetic Express4D stand-in corpus (seed {self.seed}) in {self.out_dir}",
            f"  sequences : {self.num_sequences + self.num_validation} (train {self.num_train}, "
            + (f"validation {self.num_validation}, " if self.num_validation else "") + f"test {self.num_test})",
            f"  performers: {len(self.participants)} ({_id_range(self.participants)})",
            f"  frames    : {self.total_frames:,} at {self.fps} fps = {self.total_minutes:.1f} min "
            f"({self.min_seconds:.1f}-{self.max_seconds:.1f} s per take)",
            f"  captions  : {self.num_captions:,} ({self.num_captions / max(self.num_sequences, 1):.1f} per take)",
            f"  actions   : {coverage}",
            f"  structure : {comp}",
        ])


def _id_range(ids: list[str]) -> str:
    if len(ids) > 3 and ids == [f"P{i:02d}" for i in range(1, len(ids) + 1)]:
        return f"{ids[0]}-{ids[-1]}"
    return ", ".join(ids)


_LAYOUT = ("data", "texts", "train.txt", "val.txt", "test.txt", "metadata.jsonl", "SYNTHETIC.md")
MARKER = "SYNTHETIC.md"
"""Marker file of a stand-in corpus; ``express4d data build`` then labels the dataset card accordingly."""


def _owned_by_synth(path: PurePosixPath) -> bool:
    """The entries :func:`write_synthetic_corpus` writes (anything else in the folder is the user's and is kept)."""
    parts = path.parts
    if len(parts) == 1:
        return parts[0] in _LAYOUT
    if len(parts) == 2 and parts[0] in ("data", "texts"):
        return parts[1].startswith("synth_") and parts[1].endswith((".csv", ".txt"))
    return False


def write_synthetic_corpus(
    out_dir: str | os.PathLike,
    num_sequences: int = 1200,
    seed: int = 0,
    test_fraction: float = 0.2,
    overwrite: bool = False,
    progress: bool = False,
    validation_fraction: float = 0.2,
) -> SyntheticCorpusSummary:
    """Write the procedural stand-in corpus in the raw Express4D layout (see :mod:`express4d_dataset.synthetic`).

    ``num_sequences`` takes are split into ``train.txt`` and ``test.txt`` (``test_fraction`` of them in
    test).  ``validation_fraction``: ``round(num_sequences * validation_fraction)`` more takes, listed in
    ``val.txt``, drawn like the test takes (held-out compositions included) and never trained on, for
    choosing settings such as the guidance scale without looking at the test split.  They are extra
    takes, so ``train.txt`` and ``test.txt`` do not depend on ``validation_fraction``.  0 writes no ``val.txt``.

    The corpus is written into a hidden sibling folder that replaces ``out_dir`` only once complete.
    A non-empty ``out_dir`` is refused unless it is a stand-in corpus this function wrote (it holds
    ``SYNTHETIC.md``) and ``overwrite`` is given; files in it that it does not write are kept.
    Same ``seed`` and ``num_sequences``: byte-identical files.
    """
    if int(num_sequences) != num_sequences or num_sequences < 1:
        raise ValueError(f"num_sequences must be a positive integer, got {num_sequences!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    if not 0.0 <= validation_fraction <= 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1], got {validation_fraction!r}")
    num_sequences = int(num_sequences)
    num_validation = int(round(num_sequences * validation_fraction))
    from .size import check_corpus_size

    check_corpus_size(num_sequences, validation_fraction, out_dir)  # bounded up front, from Python as from the CLI
    folder = StagedFolder(out_dir, overwrite, MARKER, _owned_by_synth, "express4d stand-in corpus")
    with folder as out:
        summary = _write_corpus(out, num_sequences, int(seed), test_fraction, progress, num_validation)
    summary.out_dir = str(folder.path)
    logger.info("wrote %d synthetic takes to %s", num_sequences, folder.path)
    return summary


def plan_annotations(plan: TakePlan, spans: list[tuple[float, float]] | None = None) -> dict:
    """A take plan as its ``metadata.jsonl`` fields (composition, steps, modifiers, events, held_out);
    ``spans`` gives each event's ``(start, end)`` in seconds where the plan's own timing does not apply."""
    spans = spans if spans is not None else [(e.start, e.end) for e in plan.events]
    return {
        "composition": plan.composition,
        "steps": [[e.key for e in step] for step in plan.steps],
        "intensities": [e.intensity for e in plan.events],
        "speeds": [e.speed for e in plan.events],
        "counts": [e.count for e in plan.events],
        "events": [{"key": e.key, "start": round(a, 4), "end": round(b, 4)} for e, (a, b) in zip(plan.events, spans)],
        "held_out": holds_out(plan.actions),
    }


def take_annotations(plan: TakePlan, seconds: float, num_frames: int, swapped_captions,
                     spans: list[tuple[float, float]] | None = None) -> dict:
    """A take's ``metadata.jsonl`` fields after its id and participant: actions, length (``seconds``, and
    ``num_frames`` at the capture rate), the plan (:func:`plan_annotations`) and the step-reversed captions."""
    return {
        "actions": plan.actions,
        "seconds": round(seconds, 4),
        "num_frames": int(num_frames),
        **plan_annotations(plan, spans),
        "swapped_captions": swapped_captions,
    }


def _write_corpus(
    out: Path, num_sequences: int, seed: int, test_fraction: float, progress: bool, num_validation: int = 0,
) -> SyntheticCorpusSummary:
    (out / "data").mkdir()
    (out / "texts").mkdir()

    root = np.random.default_rng([int(seed), 0])
    performers = sample_performers(root, NUM_PERFORMERS)
    assignment = root.permutation(np.arange(num_sequences) % NUM_PERFORMERS)
    ids = [f"synth_{i:05d}" for i in range(num_sequences)]
    n_test = int(round(num_sequences * test_fraction))
    if test_fraction > 0 and num_sequences >= 2:
        n_test = min(max(n_test, 1), num_sequences - 1)
    order = root.permutation(num_sequences)
    test_set = set(order[:n_test].tolist())
    start_clock = int(root.integers(8 * 3600, 12 * 3600))
    # validation takes come after the others, with their own performer draw, so adding them changes no other file
    val_assignment = np.random.default_rng([int(seed), 2]).permutation(np.arange(num_validation) % NUM_PERFORMERS)
    ids += [f"synth_{i:05d}" for i in range(num_sequences, num_sequences + num_validation)]

    from tqdm.auto import tqdm

    action_counts = Counter({k: 0 for k in ACTION_NAMES})
    compositions: Counter = Counter()
    total_frames = num_captions = 0
    durations = []
    metadata_lines = []
    participants: set[str] = set()
    clock = float(start_clock)
    for i in tqdm(range(len(ids)), desc="synthesising takes", unit="take", disable=not progress):
        rng = np.random.default_rng([int(seed), 1, i])
        if i >= num_sequences:
            performer, split = performers[int(val_assignment[i - num_sequences])], "validation"
        else:
            performer, split = performers[int(assignment[i])], "test" if i in test_set else "train"
        take = synthesize_take(rng, performer, split=split)
        take_id = ids[i]
        write_livelink_csv(out / "data" / f"{take_id}.csv", take.frames, fps=FPS, start_seconds=clock)
        clock += float(np.ceil(take.seconds)) + 10.0  # takes follow each other during a recording day
        if clock + MAX_SECONDS + 1.0 > 86400.0:  # never cross midnight inside a take
            clock = 0.0
        (out / "texts" / f"{take_id}.txt").write_text("\n".join(take.captions) + "\n", encoding="utf-8")
        plan = take.plan
        metadata_lines.append(json.dumps({
            "id": take_id,
            "participant": performer.id,
            **take_annotations(plan, take.seconds, take.frames.shape[0], take.swapped_captions),
        }))
        participants.add(performer.id)
        action_counts.update(take.actions)
        compositions[plan.composition] += 1
        total_frames += int(take.frames.shape[0])
        num_captions += len(take.captions)
        durations.append(take.seconds)

    train_ids = [ids[i] for i in range(num_sequences) if i not in test_set]
    test_ids = [ids[i] for i in sorted(test_set)]
    (out / "train.txt").write_text("".join(f"{x}\n" for x in train_ids), encoding="utf-8")
    (out / "test.txt").write_text("".join(f"{x}\n" for x in test_ids), encoding="utf-8")
    if num_validation:
        (out / "val.txt").write_text("".join(f"{x}\n" for x in ids[num_sequences:]), encoding="utf-8")
    (out / "metadata.jsonl").write_text("".join(line + "\n" for line in metadata_lines), encoding="utf-8")
    (out / MARKER).write_text(
        "# Procedural stand-in for the Express4D corpus\n\n"
        f"Written by `express4d data synth --num-sequences {num_sequences} --seed {int(seed)}`"
        + (f" ({num_validation} validation takes in `val.txt`)" if num_validation else "") + ". No person was recorded: "
        "these takes are procedural animation in the raw Express4D layout, so that training, generation and the "
        "benchmark run without the real captures. Numbers measured on it say nothing about real faces.\n",
        encoding="utf-8",
    )
    summary = SyntheticCorpusSummary(
        out_dir=str(out),
        num_sequences=num_sequences,
        num_train=len(train_ids),
        num_test=len(test_ids),
        participants=sorted(participants),
        total_frames=total_frames,
        num_captions=num_captions,
        min_seconds=float(min(durations)),
        max_seconds=float(max(durations)),
        action_counts=dict(action_counts),
        compositions=dict(compositions),
        seed=int(seed),
        num_validation=num_validation,
    )
    return summary
