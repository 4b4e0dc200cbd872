"""Procedural stand-in for the Express4D corpus, written in the raw Express4D layout.

No one here has the real captures, so this package animates the 61 ARKit channels of
simulated performers doing described facial actions, and writes them exactly as the real
corpus is published::

    OUT/data/<id>.csv     Live Link Face CSV, 60 fps, 61 channels
    OUT/texts/<id>.txt    several paraphrased captions, one per line
    OUT/train.txt         ids, one per line (random split)
    OUT/test.txt
    OUT/val.txt           validation ids: extra takes drawn like the test ones (not in the real corpus)
    OUT/metadata.jsonl    one JSON object per id: id, participant, actions, seconds, ...

What makes text-to-motion learnable (and the text/motion mapping many-to-many):

* **Actions** (:data:`ACTIONS`, 36 of them): smile, frown, blink, wink left/right, raise brows,
  furrow brows, squint, widen eyes, open mouth, pucker, puff cheeks, press lips, sneer,
  look left/right/up/down, roll eyes, nod, shake head, tilt head left/right, tongue out, plus
  one-sided smirks, single raised brows, sideways jaw, closing the eyes, baring the teeth and
  four emotional expressions.  Each is a smooth attack/hold/release envelope (or an
  oscillation / sweep) on its main ARKit channels with plausible secondary channels (a smile
  raises the cheeks and squints the eyes a little; a wink pulls the same-side cheek and mouth
  corner; widening the eyes lifts the brows and suppresses the lids).
* **Modifiers**: intensity words (slightly, softly, widely, deeply, ...) scale the amplitude;
  speed words (quickly, slowly, briefly) change the envelope timing or the oscillation
  period; counts ("blinks twice", "nods three times") set the number of repetitions.
* **Composition**: 1-3 actions per take, sequential ("X and then Y") or simultaneous
  ("X while Y"), and both ("X while Y, and then Z").  Ten action pairs
  (:data:`~.plan.HELD_OUT_PAIRS`) are never composed in a training take; the test and validation
  splits compose them on purpose, so a benchmark can tell whether "X and then Y" generalises to unseen pairs.
* **Captions**: 3-5 distinct paraphrases per take in the corpus's style ("A person is rolling
  their eyes and then relaxing their face", "The person smiles softly, then raises their
  eyebrows"), always naming every animated action with its side, intensity and speed.
* **Performers** (:func:`sample_performers`): 18 simulated people, each with an amplitude
  scale, a left/right asymmetry, a timing scale, a spontaneous blink rate (blinks that no
  caption mentions), a resting expression, a resting gaze and head pose, head sway, gaze
  micro-saccades, per-action style gains and a tracking-noise level.

Sign conventions (those of the real capture ``alex_rom_3.csv`` for the eyes; the head follows
the eyes so that :func:`~express4d_dataset.arkit.mirror_motion` maps every "left" action onto
its "right" twin): looking to the performer's left drives ``EyeLookOutLeft`` and
``EyeLookInRight`` and makes ``LeftEyeYaw`` and ``RightEyeYaw`` negative; looking up drives
``EyeLookUp*`` and makes the eye pitch negative (down is positive); turning the head to the
left makes ``HeadYaw`` negative; ``HeadPitch`` is positive when the head pitches down (a nod);
tilting the head to the left makes ``HeadRoll`` negative.

Everything is a deterministic function of the seed: take ``i`` draws from its own
``numpy.random.default_rng([seed, 1, i])``, so the files are byte-for-byte identical for a
seed, whatever the progress bar does.

The package, lowest layer first: :mod:`.actions` (the declarative table of actions),
:mod:`.performers`, :mod:`.plan` (which actions, how, when), :mod:`.signals` (plan -> frames)
and :mod:`.captions`, then :mod:`.corpus` (takes and the corpus on disk), then three training augmentations: :mod:`.compose`
(takes composed from two or three single-action takes), :mod:`.recaption` (more captions per take from its
recorded plan) and :mod:`.balanced` (new single-action takes, every intensity of every action equally often).
"""

from .actions import ACTION_NAMES, ACTIONS, INTENSITY_GAIN, INTENSITY_LEVELS, SPEEDS, ActionSpec
from .captions import caption_plan, caption_plan_with_swaps
from .corpus import (
    MARKER,
    SyntheticCorpusSummary,
    SyntheticTake,
    generate_take,
    synthesize_take,
    write_synthetic_corpus,
)
from .performers import NUM_PERFORMERS, Performer, sample_performers
from .plan import FPS, HELD_OUT_PAIRS, HELD_OUT_SHARE, MAX_SECONDS, MIN_SECONDS, ActionEvent, TakePlan, holds_out, sample_plan
from .wording import HELD_OUT_WORDING_SHARE, held_out_wording
from .signals import EYE_LIMITS, EYE_PITCH_PER_UNIT, EYE_YAW_PER_UNIT, HEAD_LIMITS, render_plan

__all__ = [
    "ACTIONS",
    "ACTION_NAMES",
    "INTENSITY_LEVELS",
    "SPEEDS",
    "ActionSpec",
    "ActionEvent",
    "Performer",
    "TakePlan",
    "SyntheticTake",
    "SyntheticCorpusSummary",
    "sample_performers",
    "sample_plan",
    "render_plan",
    "caption_plan",
    "caption_plan_with_swaps",
    "HELD_OUT_PAIRS",
    "HELD_OUT_SHARE",
    "HELD_OUT_WORDING_SHARE",
    "held_out_wording",
    "holds_out",
    "synthesize_take",
    "generate_take",
    "write_synthetic_corpus",
]
