"""Rendering a plan: action envelopes, lid pulses, gaze and head signals -> ``[T, 61]`` frames at 60 fps."""

from __future__ import annotations

import numpy as np

from ..arkit import CHANNEL_NAMES, MIRROR_PERMUTATION, NUM_BLENDSHAPES, NUM_CHANNELS, channel_index
from ..motion import smoothstep
from .actions import ACTIONS
from .performers import Performer
from .plan import FPS, ActionEvent, TakePlan, layout_plan

# Realistic rotation limits (radians) of the Live Link Face head and eye channels.
HEAD_LIMITS = (0.58, 0.5, 0.45)  # |yaw|, |pitch|, |roll|
EYE_LIMITS = (0.5, 0.45, 0.1)
EYE_YAW_PER_UNIT = 0.45  # rad of eye yaw when the EyeLookOut/In blendshape is 1
EYE_PITCH_PER_UNIT = 0.40  # rad of eye pitch when the EyeLookUp/Down blendshape is 1

_I = channel_index
_LEFT = np.array([n.endswith("Left") for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]])
_RIGHT = np.array([n.endswith("Right") for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]])
_MIRROR_BS = MIRROR_PERMUTATION[:NUM_BLENDSHAPES]


def _vector(weights: dict[str, float]) -> np.ndarray:
    v = np.zeros(NUM_BLENDSHAPES, dtype=np.float64)
    for name, w in weights.items():
        v[_I(name)] = w
    return v


_MAIN_VEC = {k: _vector(s.main) for k, s in ACTIONS.items()}
_SEC_VEC = {k: _vector(s.secondary) for k, s in ACTIONS.items()}
_SUPPRESS_IDX = {k: np.array([_I(n) for n in s.suppress], dtype=np.int64) for k, s in ACTIONS.items()}


def _envelope(t: np.ndarray, start: float, attack: float, hold: float, release: float) -> np.ndarray:
    up = smoothstep((t - start) / max(attack, 1e-3))
    down = smoothstep((t - start - attack - hold) / max(release, 1e-3))
    return up * (1.0 - down)


def _pulses(t: np.ndarray, starts: np.ndarray, attack, hold, release) -> np.ndarray:
    """Max over lid closures starting at ``starts`` (vectorised over closures and frames)."""
    if len(starts) == 0:
        return np.zeros_like(t)
    tt = t[None, :] - np.asarray(starts, dtype=np.float64)[:, None]
    attack, hold, release = (np.broadcast_to(np.asarray(v, dtype=np.float64), (len(starts),))[:, None]
                             for v in (attack, hold, release))
    up = smoothstep(tt / np.maximum(attack, 1e-3))
    down = smoothstep((tt - attack - hold) / np.maximum(release, 1e-3))
    return (up * (1.0 - down)).max(axis=0)


def _event_signals(t: np.ndarray, event: ActionEvent, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (activation [T], gaze [T,2], head [T,3], head used for the eyes' reflex [T,3])."""
    spec, amp = event.spec, event.amplitude
    T = len(t)
    gaze = np.zeros((T, 2))
    head = np.zeros((T, 3))
    reflex = np.zeros((T, 3))
    if spec.kind == "hold":
        act = _envelope(t, event.start, event.attack, event.hold, event.release)
        wobble = 1.0 + 0.04 * np.sin(2 * np.pi * rng.uniform(0.3, 0.9) * t + rng.uniform(0, 2 * np.pi))
        act = act * wobble
        gaze += act[:, None] * amp * np.asarray(spec.gaze)[None, :]
        head += act[:, None] * amp * np.asarray(spec.head)[None, :]
    elif spec.kind == "blink":
        starts = event.start + np.arange(event.count) * (event.period + event.gap)
        act = _pulses(t, starts, event.attack, event.hold, event.release)
    elif spec.kind in ("nod", "shake"):
        u = (t - event.start) / event.period
        inside = (u >= 0) & (u <= event.count)
        uc = np.clip(u, 0.0, event.count)
        act = np.where(inside, np.sin(np.pi * uc / event.count), 0.0)
        if spec.kind == "nod":  # pitch down and back up, `count` times
            signal = 0.5 * (1.0 - np.cos(2 * np.pi * uc))
        else:  # yaw side to side, tapered to start and end at rest
            signal = np.sin(2 * np.pi * uc) * np.sqrt(np.clip(act, 0.0, 1.0))
        head += np.where(inside, signal, 0.0)[:, None] * amp * np.asarray(spec.head)[None, :]
        reflex = head
    elif spec.kind == "roll":
        p = np.clip((t - event.start) / event.period, 0.0, 1.0)
        inside = (t >= event.start) & (t <= event.start + event.period)
        act = np.where(inside, np.sin(np.pi * p), 0.0)
        gaze[:, 0] = event.direction * spec.gaze[0] * amp * np.where(inside, np.sin(2 * np.pi * p), 0.0)
        gaze[:, 1] = spec.gaze[1] * amp * act
    else:  # pragma: no cover - specs are fixed in actions.py
        raise ValueError(f"unknown action kind {spec.kind!r}")
    return act, gaze, head, reflex


def render_plan(
    rng: np.random.Generator,
    performer: Performer,
    plan: TakePlan,
    spontaneous_blinks: bool = True,
    tracking_noise: bool = True,
    idle_motion: bool = True,
) -> np.ndarray:
    """Animate a plan for a performer: ``[T, 61]`` float32 at 60 fps (times laid out here)."""
    layout_plan(rng, plan, performer)
    T = plan.num_frames
    t = np.arange(T, dtype=np.float64) / FPS
    # the day's resting face: symmetric jitter (the asymmetry is the performer's)
    jitter = rng.uniform(0.85, 1.15, NUM_BLENDSHAPES)
    rest = performer.rest * 0.5 * (jitter + jitter[_MIRROR_BS])
    act_bs = np.zeros((T, NUM_BLENDSHAPES))
    suppress = np.zeros((T, NUM_BLENDSHAPES))
    gaze = np.zeros((T, 2))
    head = np.zeros((T, 3))
    reflex = np.zeros((T, 3))
    lid_windows = []
    for event in plan.events:
        spec = event.spec
        act, g, h, r = _event_signals(t, event, rng)
        main_amp = float(rng.uniform(0.93, 1.0)) if spec.fixed_main else event.amplitude
        weights = main_amp * _MAIN_VEC[event.key] + event.amplitude * performer.secondary * _SEC_VEC[event.key]
        act_bs += act[:, None] * weights[None, :]
        idx = _SUPPRESS_IDX[event.key]
        if len(idx):
            suppress[:, idx] = np.maximum(suppress[:, idx], np.clip(act * event.amplitude, 0.0, 1.0)[:, None])
        gaze += g
        head += h
        reflex += r
        if "lids" in spec.regions:
            lid_windows.append((event.start - 0.4, event.end + 0.4))

    # left/right imbalance of the performer on what the actions add
    act_bs[:, _LEFT] *= 1.0 + performer.asymmetry
    act_bs[:, _RIGHT] *= 1.0 - performer.asymmetry
    bs = (rest[None, :] + act_bs) * (1.0 - 0.9 * suppress)

    # the eyes partly compensate head nods / shakes (vestibulo-ocular reflex)
    gaze[:, 0] += performer.vor * reflex[:, 0] / EYE_YAW_PER_UNIT
    gaze[:, 1] += performer.vor * reflex[:, 1] / EYE_PITCH_PER_UNIT
    gaze += np.asarray(performer.rest_gaze)[None, :]
    head += np.asarray(performer.rest_head)[None, :]

    if idle_motion:
        # slow head sway: two sinusoids per axis
        freqs = rng.uniform(0.08, 0.45, (2, 3)) * performer.sway_speed
        phases = rng.uniform(0.0, 2 * np.pi, (2, 3))
        amps = performer.head_sway * rng.uniform(0.3, 1.0, (2, 3)) * np.array([1.0, 0.8, 0.5])
        waves = np.sin(2 * np.pi * freqs[:, None, :] * t[None, :, None] + phases[:, None, :])
        head += (amps[:, None, :] * waves).sum(0)
        # gaze micro-saccades: small smooth steps
        n_sacc = int(rng.poisson(performer.saccade_rate * plan.seconds))
        if n_sacc:
            times = np.sort(rng.uniform(0.0, plan.seconds, n_sacc))
            deltas = rng.normal(0.0, 0.04, (n_sacc, 2))
            steps = smoothstep((t[None, :] - times[:, None]) / 0.04)
            walk = steps.T @ deltas
            gaze += walk - walk.mean(axis=0, keepdims=True) * 0.5

    if spontaneous_blinks:
        n_blinks = int(rng.poisson(performer.blink_rate / 60.0 * plan.seconds))
        times = np.sort(rng.uniform(0.0, plan.seconds, n_blinks))
        keep, last = [], -1.0
        for time in times:
            if time - last < 0.6 or any(lo <= time <= hi for lo, hi in lid_windows):
                continue
            keep.append(time)
            last = time
        if keep:
            k = len(keep)
            closure = _pulses(
                t, np.array(keep), rng.uniform(0.05, 0.08, k), rng.uniform(0.0, 0.05, k), rng.uniform(0.10, 0.16, k)
            ) * float(rng.uniform(0.85, 1.0))
            for name, side in (("EyeBlinkLeft", 1.0), ("EyeBlinkRight", -1.0)):
                j = _I(name)
                bs[:, j] = np.maximum(bs[:, j], closure * (1.0 + 0.05 * side * np.sign(performer.asymmetry)))

    # gaze -> eye-look blendshapes and eye rotations (one source, so they always agree)
    gaze = np.clip(gaze, -1.0, 1.0)
    h, v = gaze[:, 0], gaze[:, 1]
    left, right, up, down = np.maximum(h, 0), np.maximum(-h, 0), np.maximum(v, 0), np.maximum(-v, 0)
    for name, value in (
        ("EyeLookOutLeft", left), ("EyeLookInRight", left), ("EyeLookInLeft", right), ("EyeLookOutRight", right),
        ("EyeLookUpLeft", up), ("EyeLookUpRight", up), ("EyeLookDownLeft", down), ("EyeLookDownRight", down),
    ):
        bs[:, _I(name)] += value
    for side in ("Left", "Right"):  # lids follow the gaze a little
        bs[:, _I("EyeBlink" + side)] += 0.25 * down
        bs[:, _I("EyeWide" + side)] += 0.1 * up

    frames = np.zeros((T, NUM_CHANNELS))
    frames[:, :NUM_BLENDSHAPES] = bs
    frames[:, _I("HeadYaw")], frames[:, _I("HeadPitch")], frames[:, _I("HeadRoll")] = head.T
    for side in ("Left", "Right"):
        frames[:, _I(side + "EyeYaw")] = -EYE_YAW_PER_UNIT * h
        frames[:, _I(side + "EyePitch")] = -EYE_PITCH_PER_UNIT * v

    if tracking_noise:
        noise = rng.normal(0.0, 1.0, (T + 2, NUM_CHANNELS))
        noise = (noise[:-2] + noise[1:-1] + noise[2:]) / np.sqrt(3.0)  # slightly correlated in time
        scale = np.full(NUM_CHANNELS, performer.noise)
        scale[NUM_BLENDSHAPES:] = performer.noise * 0.4
        frames += noise * scale[None, :]

    frames[:, :NUM_BLENDSHAPES] = np.clip(frames[:, :NUM_BLENDSHAPES], 0.0, 1.0)
    for k, lim in enumerate(HEAD_LIMITS):
        frames[:, NUM_BLENDSHAPES + k] = np.clip(frames[:, NUM_BLENDSHAPES + k], -lim, lim)
    for base in (NUM_BLENDSHAPES + 3, NUM_BLENDSHAPES + 6):
        for k, lim in enumerate(EYE_LIMITS):
            frames[:, base + k] = np.clip(frames[:, base + k], -lim, lim)
    return frames.astype(np.float32)
