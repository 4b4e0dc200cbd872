"""Take plans: which actions a take performs, with which modifiers, and when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..arkit import CAPTURE_FPS
from .actions import ACTION_NAMES, ACTIONS, INTENSITY_GAIN, ActionSpec
from .performers import Performer

FPS = CAPTURE_FPS
MIN_SECONDS = 2.0
MAX_SECONDS = 8.0

# attack / hold / release ranges in seconds, before the performer's timing scale
_TIMING = {
    "default": {
        "quick": ((0.10, 0.18), (0.30, 0.70), (0.15, 0.25)),
        "normal": ((0.25, 0.45), (0.60, 1.40), (0.30, 0.50)),
        "slow": ((0.80, 1.20), (0.60, 1.40), (0.70, 1.10)),
        "brief": ((0.15, 0.25), (0.00, 0.15), (0.15, 0.30)),
    },
    "wink": {
        "quick": ((0.06, 0.09), (0.05, 0.12), (0.08, 0.12)),
        "normal": ((0.10, 0.15), (0.15, 0.35), (0.15, 0.25)),
        "slow": ((0.35, 0.50), (0.30, 0.60), (0.40, 0.60)),
        "brief": ((0.06, 0.09), (0.00, 0.05), (0.08, 0.12)),
    },
    "blink": {  # one lid closure; the action repeats it `count` times
        "quick": ((0.04, 0.06), (0.00, 0.03), (0.07, 0.10)),
        "normal": ((0.06, 0.09), (0.02, 0.06), (0.12, 0.16)),
        "slow": ((0.25, 0.35), (0.15, 0.35), (0.35, 0.50)),
    },
}
_BLINK_GAP = {"quick": (0.08, 0.15), "normal": (0.20, 0.35), "slow": (0.30, 0.50)}
_NOD_PERIOD = {"quick": (0.32, 0.42), "normal": (0.55, 0.75), "slow": (0.95, 1.30)}
_SHAKE_PERIOD = {"quick": (0.28, 0.38), "normal": (0.45, 0.60), "slow": (0.80, 1.10), "brief": (0.40, 0.55)}
_ROLL_DURATION = {"quick": (0.50, 0.70), "normal": (0.90, 1.30), "slow": (1.60, 2.20)}

HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("frown", "raise_brows"),
    ("open_mouth", "wink_left"),
    ("pucker", "look_up"),
    ("blink", "tilt_head_right"),
    ("puff_cheeks", "furrow_brows"),
    ("smile", "nod"),
    ("squint", "jaw_right"),
    ("tongue_out", "look_left"),
    ("sneer", "widen_eyes"),
    ("press_lips", "shake_head"),
)
"""Action pairs never composed in one training take (in either order, in sequence or at once): the test
and validation splits compose them on purpose (:data:`HELD_OUT_SHARE` of their takes), so the prompt-following benchmark
measures whether a model generalises "X and then Y" to compositions it never saw.  Each pair moves
disjoint channels, so the order of the two is measurable."""
HELD_OUT_SHARE = 0.3
"""Share of the test (and validation) takes that are a held-out composition."""
_HELD_OUT = {frozenset(p) for p in HELD_OUT_PAIRS}


def holds_out(keys: Sequence[str]) -> bool:
    """True when ``keys`` (the actions of one take) contain a held-out pair."""
    keys = list(keys)
    return any(frozenset((a, b)) in _HELD_OUT for i, a in enumerate(keys) for b in keys[i + 1 :])


@dataclass
class ActionEvent:
    """One action as performed in a take (times in seconds from the take's start)."""

    key: str
    intensity: str = "normal"
    speed: str = "normal"
    count: int = 1
    """Repetitions for ``blink`` and ``nod``; full cycles for ``shake``."""
    start: float = 0.0
    attack: float = 0.3
    hold: float = 0.8
    release: float = 0.4
    period: float = 0.0
    """Seconds per closure / nod / shake cycle, or the whole eye-roll sweep."""
    gap: float = 0.0
    """Seconds between repeated blinks."""
    direction: float = 1.0
    """Eye-roll direction (+1 or -1; captions do not say)."""
    amplitude: float = 0.8

    @property
    def spec(self) -> ActionSpec:
        return ACTIONS[self.key]

    @property
    def duration(self) -> float:
        kind = self.spec.kind
        if kind == "blink":
            return self.count * self.period + (self.count - 1) * self.gap
        if kind in ("nod", "shake", "roll"):
            return self.count * self.period if kind != "roll" else self.period
        return self.attack + self.hold + self.release

    @property
    def end(self) -> float:
        return self.start + self.duration

    def scale_time(self, factor: float) -> None:
        for name in ("start", "attack", "hold", "release", "period", "gap"):
            setattr(self, name, getattr(self, name) * factor)


@dataclass
class TakePlan:
    """The actions of one take: sequential steps of one action, or of two at once ("X while Y")."""

    steps: list[list[ActionEvent]]
    seconds: float = 0.0

    @property
    def events(self) -> list[ActionEvent]:
        return [e for step in self.steps for e in step]

    @property
    def actions(self) -> list[str]:
        return [e.key for e in self.events]

    @property
    def num_frames(self) -> int:
        return int(round(self.seconds * FPS))

    @property
    def composition(self) -> str:
        if len(self.steps) == 1:
            return "simultaneous" if len(self.steps[0]) == 2 else "single"
        return "mixed" if any(len(s) == 2 for s in self.steps) else "sequential"


def pick(rng: np.random.Generator, options: Sequence, p: Sequence[float] | None = None):
    """One of ``options``, drawn with ``rng`` (weights ``p``); plans and captions draw through it."""
    return options[int(rng.choice(len(options), p=p))]


def _can_hold_together(primary: str, background: str) -> bool:
    a, b = ACTIONS[primary], ACTIONS[background]
    return b.kind == "hold" and primary != background and not (a.regions & b.regions)


def _sample_level(rng, spec: ActionSpec) -> str:
    if len(spec.levels) == 1:
        return spec.levels[0]
    others = [lv for lv in spec.levels if lv != "normal"]
    if "normal" in spec.levels and rng.random() < 0.4:
        return "normal"
    return pick(rng, others)


def _sample_speed(rng, spec: ActionSpec) -> str:
    if rng.random() < 0.5 or len(spec.speeds) == 1:
        return "normal"
    return pick(rng, [s for s in spec.speeds if s != "normal"])


def _new_event(rng, key: str, intensity: str | None, speed: str | None) -> ActionEvent:
    spec = ACTIONS[key]
    level = intensity if intensity is not None else _sample_level(rng, spec)
    spd = speed if speed is not None else _sample_speed(rng, spec)
    if level not in spec.levels:
        raise ValueError(f"action {key!r} takes intensity {', '.join(spec.levels)}; got {level!r}")
    if spd not in spec.speeds:
        raise ValueError(f"action {key!r} takes speed {', '.join(spec.speeds)}; got {spd!r}")
    count = 1
    if spec.kind in ("blink", "nod"):
        count = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
    elif spec.kind == "shake":
        count = 1 if spd == "brief" else int(rng.integers(2, 4))
    return ActionEvent(key=key, intensity=level, speed=spd, count=count)


def sample_plan(
    rng: np.random.Generator,
    actions: Sequence[str | Sequence[str]] | None = None,
    composition: str | None = None,
    intensity: str | Sequence[str] | None = None,
    speed: str | Sequence[str] | None = None,
    split: str | None = None,
) -> TakePlan:
    """Choose the actions of a take (untimed; :func:`render_plan` lays them out).

    ``actions``: ``None`` (1-3 random actions, random composition), a list of keys (played one
    after the other, or at once with ``composition="simultaneous"`` for two keys), or a list of
    steps where a step is a key or a pair ``[primary, background]`` played at once.
    ``intensity`` / ``speed``: one value for every action, or one per action, or ``None`` (random).
    ``split`` (random actions only): ``"train"`` never composes a :data:`HELD_OUT_PAIRS` pair; ``"test"`` and
    ``"validation"`` compose one in :data:`HELD_OUT_SHARE` of their takes; None: no constraint.
    """
    if actions is None:
        steps_keys = _sample_held_out(rng) if split in ("test", "validation") and rng.random() < HELD_OUT_SHARE else _sample_structure(rng)
        while split == "train" and holds_out([k for step in steps_keys for k in step]):
            steps_keys = _sample_structure(rng)
    else:
        actions = list(actions)
        if not actions:
            raise ValueError("sample_plan: actions must name at least one action")
        if composition == "simultaneous":
            if len(actions) != 2 or not all(isinstance(a, str) for a in actions):
                raise ValueError("sample_plan: composition='simultaneous' needs exactly two action keys")
            steps_keys = [list(actions)]
        elif composition in (None, "sequential", "single"):
            steps_keys = [[a] if isinstance(a, str) else list(a) for a in actions]
        else:
            raise ValueError(f"sample_plan: composition must be 'sequential' or 'simultaneous', got {composition!r}")
        for step in steps_keys:
            for key in step:
                if key not in ACTIONS:
                    raise ValueError(f"unknown action {key!r}; expected one of {', '.join(ACTION_NAMES)}")
            if len(step) == 2 and not _can_hold_together(*step):
                raise ValueError(
                    f"actions {step[0]!r} and {step[1]!r} cannot play at once (the second must be a held action "
                    "on a different part of the face)"
                )
            if len(step) not in (1, 2):
                raise ValueError(f"a step holds one action or a pair, got {step!r}")
    flat = [k for step in steps_keys for k in step]

    def per_event(value, name):
        if value is None or isinstance(value, str):
            return [value] * len(flat)
        value = list(value)
        if len(value) != len(flat):
            raise ValueError(f"sample_plan: {len(value)} {name} values for {len(flat)} actions")
        return value

    levels, speeds = per_event(intensity, "intensity"), per_event(speed, "speed")
    steps, i = [], 0
    for step in steps_keys:
        events = []
        for key in step:
            events.append(_new_event(rng, key, levels[i], speeds[i]))
            i += 1
        steps.append(events)
    return TakePlan(steps=steps)


def _sample_structure(rng) -> list[list[str]]:
    n = int(rng.choice([1, 2, 3], p=[0.35, 0.42, 0.23]))
    keys: list[str] = []
    while len(keys) < n:
        k = ACTION_NAMES[int(rng.integers(len(ACTION_NAMES)))]
        if k not in keys:
            keys.append(k)
    if n == 1:
        return [keys]
    # one pair at most, when the chosen actions allow it
    pair_at = None
    if rng.random() < (0.4 if n == 2 else 0.5):
        candidates = [j for j in range(n - 1) if _can_hold_together(keys[j], keys[j + 1])]
        candidates += [-(j + 1) for j in range(n - 1) if _can_hold_together(keys[j + 1], keys[j])]
        if candidates:
            pair_at = pick(rng, candidates)
    if pair_at is None:
        return [[k] for k in keys]
    j = pair_at if pair_at >= 0 else -pair_at - 1
    pair = [keys[j], keys[j + 1]] if pair_at >= 0 else [keys[j + 1], keys[j]]
    return [[k] for k in keys[:j]] + [pair] + [[k] for k in keys[j + 2:]]


def _sample_held_out(rng) -> list[list[str]]:
    """One held-out pair, in a random order: in sequence, or at once when the pair can (a quarter of the time)."""
    a, b = HELD_OUT_PAIRS[int(rng.integers(len(HELD_OUT_PAIRS)))]
    if rng.random() < 0.5:
        a, b = b, a
    if rng.random() < 0.25:
        if _can_hold_together(a, b):
            return [[a, b]]
        if _can_hold_together(b, a):
            return [[b, a]]
    return [[a], [b]]


def _u(rng, lo_hi) -> float:
    return float(rng.uniform(*lo_hi))


def _time_event(rng, event: ActionEvent, performer: Performer) -> None:
    spec, s = event.spec, performer.timing
    if spec.kind == "blink":
        a, h, r = _TIMING["blink"][event.speed]
        event.attack, event.hold, event.release = _u(rng, a) * s, _u(rng, h) * s, _u(rng, r) * s
        event.period = event.attack + event.hold + event.release
        event.gap = _u(rng, _BLINK_GAP[event.speed]) * s
    elif spec.kind == "nod":
        event.period = _u(rng, _NOD_PERIOD[event.speed]) * s
    elif spec.kind == "shake":
        event.period = _u(rng, _SHAKE_PERIOD[event.speed]) * s
    elif spec.kind == "roll":
        event.period = _u(rng, _ROLL_DURATION[event.speed]) * s
        event.direction = 1.0 if rng.random() < 0.5 else -1.0
    else:
        a, h, r = _TIMING[spec.timing][event.speed]
        event.attack, event.hold, event.release = _u(rng, a) * s, _u(rng, h) * s, _u(rng, r) * s
    gain = INTENSITY_GAIN[event.intensity] * float(rng.uniform(0.9, 1.1))
    event.amplitude = gain * performer.amplitude * performer.action_gain(event.key)


def layout_plan(rng: np.random.Generator, plan: TakePlan, performer: Performer) -> None:
    """Time every event in place: a short rest, the steps one after the other, a rest; 2-8 s in all.

    Sets each event's envelope / period and amplitude (from the performer) and ``plan.seconds``.
    """
    for event in plan.events:
        _time_event(rng, event, performer)
    t = float(rng.uniform(0.25, 0.8))
    for step in plan.steps:
        if len(step) == 1:
            step[0].start = t
            t = step[0].end
        else:
            primary, background = step
            background.start = t
            primary.start = t + background.attack * float(rng.uniform(0.4, 1.0)) + float(rng.uniform(0.05, 0.3))
            needed = primary.end + float(rng.uniform(0.1, 0.35)) - background.start - background.attack
            background.hold = max(background.hold, needed)
            t = max(primary.end, background.end)
        t += float(rng.uniform(0.1, 0.45)) * performer.timing
    total = t + float(rng.uniform(0.2, 0.8))
    limit = MAX_SECONDS - 0.05
    if total > limit:
        factor = limit / total
        for event in plan.events:
            event.scale_time(factor)
        total = limit
    if total < MIN_SECONDS:
        extra = MIN_SECONDS + float(rng.uniform(0.0, 1.0)) - total
        shift = extra * float(rng.uniform(0.0, 0.6))
        for event in plan.events:
            event.start += shift
        total += extra
    plan.seconds = round(total * FPS) / FPS
