"""More captions per training take, drawn afresh by the corpus' caption generator from the take's recorded plan.

A training augmentation for the stand-in corpus.  Each take carries 3-5 captions, so a word that suits many
actions meets each of them in only a handful of captions, and which action it sits beside in those few is
chance: of the training captions that name a smile and say "softly", most put "softly" on the lids of another
action of the same take, and the soft smiles themselves say "softly" in 2 captions.  A model then reads
"smiling softly" as "smiling, with the lids half closed".  Drawing more captions for every take from its
annotations (its actions with their recorded intensity, speed, count and timing) shows each action with each
of its words, in many sentence shapes, without changing a single motion.

Training wording only: the added captions never use the held-out phrasings or connectives
(:mod:`.wording`), so the prompt-following benchmark's held-out-wording rows stay unseen.  Only the stand-in
corpus can be recaptioned: the captions need its annotations.
"""

from __future__ import annotations

import json

import numpy as np

from ..motion import row_annotations
from .actions import ACTIONS
from .captions import caption_plan_with_swaps
from .plan import ActionEvent, TakePlan


def plan_from_annotations(annotations: dict) -> TakePlan:
    """The :class:`~.plan.TakePlan` that :func:`~.corpus.plan_annotations` wrote: steps of events with their
    intensity, speed and count, each event timed so that it starts and lasts as recorded (the timing words of a
    caption, "for about two seconds", read the duration)."""
    try:
        steps, events = annotations["steps"], annotations["events"]
        intensities, speeds, counts = annotations["intensities"], annotations["speeds"], annotations["counts"]
    except KeyError as e:
        raise ValueError(f"annotations without {e.args[0]!r}: not a take plan of the stand-in corpus") from None
    flat = [key for step in steps for key in step]
    if not (len(flat) == len(events) == len(intensities) == len(speeds) == len(counts)):
        raise ValueError(f"annotations disagree on the number of actions: steps {len(flat)}, events {len(events)}, "
                         f"intensities {len(intensities)}, speeds {len(speeds)}, counts {len(counts)}")
    unknown = sorted({k for k in flat if k not in ACTIONS})
    if unknown:
        raise ValueError(f"annotations name actions the caption generator does not know: {', '.join(unknown)}")
    timed = []
    for key, event, intensity, speed, count in zip(flat, events, intensities, speeds, counts):
        start, end = float(event["start"]), float(event["end"])
        e = ActionEvent(key=key, intensity=str(intensity), speed=str(speed), count=int(count), start=start)
        length = max(end - start, 0.0)
        if e.spec.kind == "hold":
            e.attack, e.hold, e.release = 0.0, length, 0.0
        else:  # blink / nod / shake: `count` cycles with no gap; roll: one sweep
            e.period, e.gap = (length if e.spec.kind == "roll" else length / max(e.count, 1)), 0.0
        timed.append(e)
    it = iter(timed)
    return TakePlan(steps=[[next(it) for _ in step] for step in steps],
                    seconds=float(annotations.get("seconds") or max((e.end for e in timed), default=0.0)))


def recaption_rows(split, captions_per_take: int, seed: int) -> list[tuple[list[str], str]]:
    """For every row of ``split``: its captions followed by up to ``captions_per_take`` new ones (none repeating
    a caption it has), and its annotations with the step-reversed versions of the new ones appended to
    ``swapped_captions``.  Row ``i`` draws from ``numpy.random.default_rng([seed, 3, i])``; training wording
    only.  Rows without annotations (a real take among stand-in ones) keep their captions."""
    if captions_per_take < 0:
        raise ValueError(f"captions_per_take must be >= 0, got {captions_per_take}")
    if "annotations" not in split.column_names:
        raise ValueError("recaptioning needs the stand-in corpus' annotations (no `annotations` column here; the "
                         "real corpus's captions cannot be redrawn)")
    out = []
    for i, (captions, text) in enumerate(zip(split["captions"], split["annotations"])):
        captions = [str(c) for c in (captions if captions is not None else [])]
        a = row_annotations({"annotations": text})
        if not captions_per_take or not a or not a.get("steps"):
            out.append((captions, text))
            continue
        rng = np.random.default_rng([int(seed), 3, i])
        pairs = caption_plan_with_swaps(rng, plan_from_annotations(a), num_captions=captions_per_take + len(captions),
                                        split="train")
        new = [(c, s) for c, s in pairs if c not in captions][:captions_per_take]
        swapped = list(a.get("swapped_captions") or [None] * len(captions))
        swapped += [None] * (len(captions) - len(swapped))
        a["swapped_captions"] = swapped[: len(captions)] + [s for _, s in new]
        out.append((captions + [c for c, _ in new], json.dumps(a, sort_keys=True)))
    return out


def with_more_captions(split, captions_per_take: int, seed: int):
    """``split`` (a ``datasets.Dataset``) with :func:`recaption_rows`' captions and annotations, numpy-formatted."""
    if captions_per_take == 0:
        return split
    rows = recaption_rows(split, captions_per_take, seed)
    plain = split.with_format(None).remove_columns(["captions", "annotations"])
    plain = plain.add_column("captions", [c for c, _ in rows]).add_column("annotations", [a for _, a in rows])
    return plain.select_columns(split.column_names).cast(split.features).with_format("numpy")
