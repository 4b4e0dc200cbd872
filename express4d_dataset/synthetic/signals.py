"""Rendering a plan: action envelopes, lid pulses, gaze and head signals -> ``[T, 61]`` frames at 60 fps."""

from __future__ import annotations

import numpy as np

from ..arkit import CHANNEL_NAMES, MIRROR_PERMUTATION, NUM_BLENDSHAPES, NUM_CHANNELS, channel_index
from ..motion import smoothstep
from .actions import ACTIONS
from .performers import Performer
from .plan import FPS, ActionEvent, TakePlan, layout_plan

# Realistic rotation limits (radians) of the Live Link Face head and eye channels (real takes: eye yaw within
# +-0.64, pitch within -0.35..0.39; the eye roll, yaw x pitch, stays within the product of the two limits).
HEAD_LIMITS = (0.58, 0.5, 0.45)  # |yaw|, |pitch|, |roll|
EYE_LIMITS = (0.65, 0.55, 0.36)
# ARKit's eye rotations are a linear read-out of its look blendshapes (real takes, R^2 = 1.00):
# yaw = -0.60 (EyeLookOut - EyeLookIn) for the left eye, pitch = -0.53 (EyeLookUp - EyeLookDown), roll = yaw x pitch.
EYE_YAW_PER_UNIT = 0.60  # rad of eye yaw when the EyeLookOut/In blendshape is 1
EYE_PITCH_PER_UNIT = 0.53  # rad of eye pitch when the EyeLookUp/Down blendshape is 1

# --- calibration against real Live Link Face takes --------------------------------------------------------------
# Measured on ../shared/fixtures/livelink (five takes of one performer, 30 rows/s) with express4d_dataset.realism;
# `python benchmarks/realism.py` compares a whole corpus with them.
#
# Tracking noise: a real curve minus its Gaussian low-pass (sigma 1/15 s) leaves a residual with a robust std of
# 0.0002-0.0009 on the mouth, jaw, cheek and nose blendshapes, ~0.001 on the squint and the inner brow, 0.002-0.003
# on the outer brows, BrowDown and MouthFrown (mostly while active), 0.0025 rad on the eye rotations, and a lag-1
# autocorrelation of 0.3-0.55 (median 0.46): it is not white.  White noise at 60 fps low-passed by a Gaussian of
# 2 frames, read at 30 rows/s, has that autocorrelation (0.49) and a residual of 0.54 x its std: hence the levels
# below (std at 60 fps, times the performer's noise scale), plus a little more where a channel is pulled from rest.
_NOISE_SIGMA_FRAMES = 2.0
_NOISE_LEVELS = {  # by blendshape prefix; others _NOISE_DEFAULT
    "EyeBlink": 0.0015, "EyeSquint": 0.002, "EyeWide": 0.003, "JawOpen": 0.0017, "MouthFunnel": 0.001,
    "MouthSmile": 0.0015, "MouthFrown": 0.003, "MouthStretch": 0.0016, "MouthShrug": 0.0012, "MouthLowerDown": 0.001,
    "MouthPress": 0.0003, "MouthUpperUp": 0.0004, "CheekPuff": 0.0004, "CheekSquint": 0.0004, "NoseSneer": 0.0004,
    "BrowDown": 0.002, "BrowInnerUp": 0.001, "BrowOuterUp": 0.002, "TongueOut": 0.001,
}
_NOISE_DEFAULT = 0.0007
_NOISE_PER_ACTIVATION = 0.006
"""Extra noise std per unit a channel is pulled from rest (real smiles and blinks are less steady while active)."""
_GAZE_NOISE = 0.007  # gaze units (0.0042 rad of yaw): on the gaze, so the look blendshapes and eye rotations agree
_HEAD_NOISE = 0.002  # rad (the reference takes have head tracking off: nothing to calibrate against)
# Idle gaze: real takes shift the gaze 0.5-2.3 times a second in saccades of 1-3 rows, and the real performer
# looks about widely (saccades of 0.04-0.25 rad).  The stand-in saccades as often (performer.saccade_rate) but
# keeps its fixations close to the resting gaze (performer.gaze_scatter, gaze units) so that the gaze actions
# stay clearly visible above the idle gaze.
_SCATTER_VERTICAL = 0.7  # fixations scatter less vertically (the weakest eye roll and up/down looks stay clear)
_SACCADE_SECONDS = (0.03, 0.06)
# Blinks: the calm real takes blink 14-30 times a minute; a quarter of the intervals are double blinks 0.2-0.4 s
# apart; a blink rises in ~0.1 s and reopens in ~0.13 s (width at half height 0.13 s) and often closes only
# part-way (peaks 0.26-0.89, median 0.52 at 30 rows/s).  While the lids close, ARKit reads the eyes rolling down
# (the real eye pitch follows EyeBlink, r = 0.67) and EyeWide falling to 0; the stand-in rolls them down less
# (_BLINK_GAZE_DOWN, gaze units per unit closure) so that a blink never reads as "looking down".
_DOUBLE_BLINK_SHARE = 0.2
_DOUBLE_BLINK_GAP = (0.18, 0.4)
_BLINK_SHAPE = {"attack": (0.05, 0.09), "hold": (0.0, 0.04), "release": (0.09, 0.16)}
_BLINK_DEPTH = (0.35, 1.0)
_BLINK_GAZE_DOWN = 0.1
# The upper lid follows an upward gaze (real: EyeWide ~ 0.6 EyeLookUp; the stand-in less, so that looking up
# does not read as widening the eyes).
_WIDE_PER_UP = 0.2
# Held expressions waver (real holds are never flat) and the resting face drifts slowly (real faces at rest move
# 0.01-0.03 per second on the mouth and brows).
_HOLD_WOBBLE = 0.10
_WOBBLE_SIGMA = 0.2  # seconds
_DRIFT_SIGMA = 0.35  # seconds
# ARKit reads some activations weakly: in the real takes CheekPuff never exceeds 0.32 (99th percentile 0.24),
# MouthPress 0.40 (0.28) and JawLeft / JawRight 0.12 (in a range-of-motion performance, where the performer tries
# them), while the other channels reach 0.6-1.0.  What the actions pull on these channels is read at these gains.
READ_GAIN = {"CheekPuff": 0.45, "MouthPressLeft": 0.7, "MouthPressRight": 0.7, "JawLeft": 0.5, "JawRight": 0.5}

_I = channel_index
_LEFT = np.array([n.endswith("Left") for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]])
_RIGHT = np.array([n.endswith("Right") for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]])
_MIRROR_BS = MIRROR_PERMUTATION[:NUM_BLENDSHAPES]


def _vector(weights: dict[str, float]) -> np.ndarray:
    v = np.zeros(NUM_BLENDSHAPES, dtype=np.float64)
    for name, w in weights.items():
        v[_I(name)] = w
    return v


_NOISE_STD = np.array(
    [next((v for k, v in _NOISE_LEVELS.items() if n.startswith(k)), _NOISE_DEFAULT) for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]]
)
_GAZE_BS = np.array([n.startswith("EyeLook") for n in CHANNEL_NAMES[:NUM_BLENDSHAPES]])
_NOISE_STD[_GAZE_BS] = 0.0  # the look blendshapes are noisy through the gaze (_GAZE_NOISE): they agree with the eyes
_GAIN = np.ones(NUM_BLENDSHAPES)
for _name, _gain in READ_GAIN.items():
    _GAIN[channel_index(_name)] = _gain
_MAIN_VEC = {k: _vector(s.main) for k, s in ACTIONS.items()}
_SEC_VEC = {k: _vector(s.secondary) for k, s in ACTIONS.items()}
_SUPPRESS_IDX = {k: np.array([_I(n) for n in s.suppress], dtype=np.int64) for k, s in ACTIONS.items()}


def _envelope(t: np.ndarray, start: float, attack: float, hold: float, release: float) -> np.ndarray:
    up = smoothstep((t - start) / max(attack, 1e-3))
    down = smoothstep((t - start - attack - hold) / max(release, 1e-3))
    return up * (1.0 - down)


def _pulses(t: np.ndarray, starts: np.ndarray, attack, hold, release, heights=1.0) -> np.ndarray:
    """Max over lid closures starting at ``starts``, each scaled by its height (vectorised over closures and frames)."""
    if len(starts) == 0:
        return np.zeros_like(t)
    tt = t[None, :] - np.asarray(starts, dtype=np.float64)[:, None]
    attack, hold, release, heights = (np.broadcast_to(np.asarray(v, dtype=np.float64), (len(starts),))[:, None]
                                      for v in (attack, hold, release, heights))
    up = smoothstep(tt / np.maximum(attack, 1e-3))
    down = smoothstep((tt - attack - hold) / np.maximum(release, 1e-3))
    return (heights * up * (1.0 - down)).max(axis=0)


def _event_signals(t: np.ndarray, event: ActionEvent, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (activation [T], gaze [T,2], head [T,3], head used for the eyes' reflex [T,3])."""
    spec, amp = event.spec, event.amplitude
    T = len(t)
    gaze = np.zeros((T, 2))
    head = np.zeros((T, 3))
    reflex = np.zeros((T, 3))
    if spec.kind == "hold":
        act = _envelope(t, event.start, event.attack, event.hold, event.release)
        act = act * (1.0 + _HOLD_WOBBLE * _smooth_noise(rng, len(t), 1, _WOBBLE_SIGMA * FPS)[:, 0])
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
    return render_timed_plan(rng, performer, plan, spontaneous_blinks, tracking_noise, idle_motion)


def render_idle(rng: np.random.Generator, performer: Performer, seconds: float) -> np.ndarray:
    """A performer's face at rest for ``seconds`` (any length): ``[T, 61]`` float32 at 60 fps.

    What every take has between its actions: the resting face and its slow drift, head sway, idle gaze
    fixations and saccades, spontaneous blinks (some double), and tracking noise, calibrated on real takes.
    """
    if not seconds > 0:
        raise ValueError(f"render_idle: seconds must be positive, got {seconds!r}")
    return render_timed_plan(rng, performer, TakePlan(steps=[], seconds=round(seconds * FPS) / FPS))


def render_timed_plan(
    rng: np.random.Generator,
    performer: Performer,
    plan: TakePlan,
    spontaneous_blinks: bool = True,
    tracking_noise: bool = True,
    idle_motion: bool = True,
) -> np.ndarray:
    """Animate a plan whose events are already timed (:func:`~.plan.layout_plan`): ``[T, 61]`` float32 at 60 fps."""
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
    act_bs *= _GAIN[None, :]
    resting = np.broadcast_to(rest, (T, NUM_BLENDSHAPES))
    if idle_motion:  # the resting face is never frozen: a slow, left/right symmetric drift around it
        drift = _smooth_noise(rng, T, NUM_BLENDSHAPES, _DRIFT_SIGMA * FPS)
        drift = np.where(_MIRROR_BS == np.arange(NUM_BLENDSHAPES), drift, (drift + drift[:, _MIRROR_BS]) / np.sqrt(2.0))
        resting = rest[None, :] * (1.0 + performer.drift * drift)
    bs = (resting + act_bs) * (1.0 - 0.9 * suppress)

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
        gaze += _fixations(rng, t, performer, plan.seconds)

    if spontaneous_blinks:
        closure = _spontaneous_blinks(rng, t, performer, plan.seconds, lid_windows)
        for name, side in (("EyeBlinkLeft", 1.0), ("EyeBlinkRight", -1.0)):
            j = _I(name)
            bs[:, j] = np.maximum(bs[:, j], closure * (1.0 + 0.05 * side * np.sign(performer.asymmetry)))

    # closing lids: the eyes roll down a little and the upper lids cannot be wide open (as ARKit reads a blink)
    lids = {s: np.clip(bs[:, _I("EyeBlink" + s)] - rest[_I("EyeBlink" + s)], 0.0, 1.0) for s in ("Left", "Right")}
    gaze[:, 1] -= _BLINK_GAZE_DOWN * 0.5 * (lids["Left"] + lids["Right"])
    for side in ("Left", "Right"):
        bs[:, _I("EyeWide" + side)] *= 1.0 - lids[side]

    if tracking_noise:  # on the gaze itself, so that the look blendshapes and the eye rotations agree
        gaze += _GAZE_NOISE * performer.noise * _smooth_noise(rng, T, 2, _NOISE_SIGMA_FRAMES)

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
        bs[:, _I("EyeWide" + side)] += _WIDE_PER_UP * up

    frames = np.zeros((T, NUM_CHANNELS))
    frames[:, :NUM_BLENDSHAPES] = bs
    frames[:, _I("HeadYaw")], frames[:, _I("HeadPitch")], frames[:, _I("HeadRoll")] = head.T
    for side in ("Left", "Right"):
        yaw, pitch = -EYE_YAW_PER_UNIT * h, -EYE_PITCH_PER_UNIT * v
        frames[:, _I(side + "EyeYaw")] = yaw
        frames[:, _I(side + "EyePitch")] = pitch
        frames[:, _I(side + "EyeRoll")] = yaw * pitch  # ARKit's eye roll is yaw x pitch (real takes: R^2 = 1.00)

    if tracking_noise:  # correlated in time, stronger where a channel is pulled away from rest
        level = (_NOISE_STD + _NOISE_PER_ACTIVATION * np.abs(bs - rest[None, :])) * ~_GAZE_BS
        frames[:, :NUM_BLENDSHAPES] += performer.noise * level * _smooth_noise(rng, T, NUM_BLENDSHAPES, _NOISE_SIGMA_FRAMES)
        frames[:, NUM_BLENDSHAPES : NUM_BLENDSHAPES + 3] += _HEAD_NOISE * performer.noise * _smooth_noise(
            rng, T, 3, _NOISE_SIGMA_FRAMES
        )

    frames[:, :NUM_BLENDSHAPES] = np.clip(frames[:, :NUM_BLENDSHAPES], 0.0, 1.0)
    for k, lim in enumerate(HEAD_LIMITS):
        frames[:, NUM_BLENDSHAPES + k] = np.clip(frames[:, NUM_BLENDSHAPES + k], -lim, lim)
    for base in (NUM_BLENDSHAPES + 3, NUM_BLENDSHAPES + 6):
        for k, lim in enumerate(EYE_LIMITS):
            frames[:, base + k] = np.clip(frames[:, base + k], -lim, lim)
    return frames.astype(np.float32)


def _smooth_noise(rng: np.random.Generator, T: int, channels: int, sigma: float) -> np.ndarray:
    """``[T, channels]`` Gaussian noise low-passed by a Gaussian of ``sigma`` frames, unit variance."""
    radius = max(1, int(np.ceil(3.0 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= np.sqrt(np.sum(kernel * kernel))
    white = rng.normal(0.0, 1.0, (T + 2 * radius, channels))
    return np.lib.stride_tricks.sliding_window_view(white, 2 * radius + 1, axis=0) @ kernel


def _fixations(rng: np.random.Generator, t: np.ndarray, performer: Performer, seconds: float) -> np.ndarray:
    """``[T, 2]`` idle gaze: fixations scattered around the resting gaze, joined by quick saccades."""
    n = int(rng.poisson(performer.saccade_rate * seconds))
    if n == 0:
        return np.zeros((len(t), 2))
    times = np.sort(rng.uniform(0.0, seconds, n))
    targets = rng.normal(0.0, performer.gaze_scatter, (n, 2)) * np.array([1.0, _SCATTER_VERTICAL])
    durations = rng.uniform(*_SACCADE_SECONDS, n)
    deltas = np.diff(targets, axis=0, prepend=np.zeros((1, 2)))
    steps = smoothstep((t[None, :] - times[:, None]) / durations[:, None])
    return steps.T @ deltas


def _spontaneous_blinks(rng, t: np.ndarray, performer: Performer, seconds: float, lid_windows) -> np.ndarray:
    """``[T]`` lid closure of the blinks no caption mentions: bouts at the performer's rate (some of them
    double blinks), none within 0.6 s of the last or while an action holds the lids; each its own depth."""
    n_bouts = int(rng.poisson(performer.blink_rate / 60.0 * seconds))
    times = np.sort(rng.uniform(0.0, seconds, n_bouts))
    doubles = rng.random(n_bouts) < _DOUBLE_BLINK_SHARE
    second_gaps = rng.uniform(*_DOUBLE_BLINK_GAP, n_bouts)
    keep, last = [], -1.0
    for time, double, gap in zip(times, doubles, second_gaps):
        if time - last < 0.6 or any(lo <= time <= hi for lo, hi in lid_windows):
            continue
        keep.append(time)
        if double and not any(lo <= time + gap <= hi for lo, hi in lid_windows):
            keep.append(time + gap)
        last = keep[-1]
    k = len(keep)
    if not k:
        return np.zeros_like(t)
    a, h, r = (rng.uniform(*_BLINK_SHAPE[x], k) for x in ("attack", "hold", "release"))
    return _pulses(t, np.array(keep), a, h, r, heights=rng.uniform(*_BLINK_DEPTH, k))
