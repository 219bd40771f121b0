"""The rep counter: synthetic kinematics of all nine exercises from five camera views, signal
level edge cases (pauses, partial reps, jitter, lost person, idle), and the real clips."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from formcheck.device.exercises import EXERCISE_IDS
from formcheck.device.judging.reps import (
    NEEDED_PARTS,
    OTHER,
    PARTIAL_SETS,
    RECIPES,
    RepConfig,
    RepCounter,
    count_reps,
    key_landmarks,
    missing_parts,
)

# ---- a small kinematic generator ---------------------------------------------------------------
# A stick figure in torso units (1 = mid-hip to mid-shoulder), posed per exercise by a rep phase
# p in 0..1 (0 = rest, 1 = working end), turned by a yaw (0 = facing the camera, 90 = side view,
# 135 = from behind diagonally, like AI-Hub's five cameras), and projected by a pinhole camera.
# Person frame: +x = the person's left, +y = up, +z = forward.

SHOULDER_HALF, HIP_HALF = 0.38, 0.28
UPPER_ARM, FOREARM, THIGH, SHIN, NECK = 0.6, 0.55, 0.85, 0.85, 0.45
LEG = THIGH + SHIN
SIDE_SIGN = {"left": 1.0, "right": -1.0}
VIEWS = (0.0, 45.0, 90.0, -45.0, -135.0)  # front, 45°, side, other 45°, behind-diagonal
IMAGE_SIZE = (640, 480)


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def limb(flex_deg: float, abd_deg: float = 0.0, side: float = 1.0):
    """Direction of a limb hanging down, swung forward by ``flex`` and outward by ``abd``."""
    f, a = math.radians(flex_deg), math.radians(abd_deg)
    return _unit((side * math.sin(a), -math.cos(a) * math.cos(f), math.cos(a) * math.sin(f)))


def ik_knee(hip, ankle, hint):
    """Two-link IK: the knee between a hip and an ankle, bending towards ``hint``."""
    d = ankle - hip
    dist = min(np.linalg.norm(d), THIGH + SHIN - 1e-6)
    dn = d / np.linalg.norm(d)
    a = (THIGH**2 - SHIN**2 + dist**2) / (2 * dist)
    h = math.sqrt(max(THIGH**2 - a**2, 0.0))
    n = hint - np.dot(hint, dn) * dn
    return hip + a * dn + h * _unit(n)


def body(hip_mid, torso_dir, legs, arms, lateral=(1.0, 0.0, 0.0)):
    """33 landmarks (person frame) from a hip centre, a torso direction and limb directions.

    ``legs[side]`` = (knee, ankle) positions; ``arms[side]`` = (upper_dir, fore_dir)."""
    lat = _unit(lateral)
    up = _unit(torso_dir)
    fwd = _unit(np.cross(lat, up))
    P = np.zeros((33, 3))
    sho_mid = hip_mid + up
    for side, s in SIDE_SIGN.items():
        i = 0 if side == "left" else 1
        hip = hip_mid + s * HIP_HALF * lat
        sho = sho_mid + s * SHOULDER_HALF * lat
        knee, ankle = legs[side]
        ua, fa = arms[side]
        elbow = sho + UPPER_ARM * _unit(ua)
        wrist = elbow + FOREARM * _unit(fa)
        P[11 + i], P[13 + i], P[15 + i] = sho, elbow, wrist
        for k, off in ((17, 0.08), (19, 0.1), (21, 0.06)):  # pinky, index, thumb
            P[k + i] = wrist + off * _unit(fa)
        P[23 + i], P[25 + i], P[27 + i] = hip, knee, ankle
        P[29 + i] = ankle - 0.06 * fwd + np.array([0, -0.06, 0])  # heel
        P[31 + i] = ankle + 0.25 * fwd + np.array([0, -0.08, 0])  # foot index
    nose = sho_mid + NECK * up + 0.12 * fwd
    P[0] = nose
    for k, (dx, dy) in enumerate([(0.03, 0.04), (0.05, 0.04), (0.07, 0.04)]):
        P[1 + k] = nose + dx * lat + dy * up - 0.03 * fwd  # left eye (inner, centre, outer)
        P[4 + k] = nose - dx * lat + dy * up - 0.03 * fwd
    P[7], P[8] = nose + 0.1 * lat - 0.1 * fwd, nose - 0.1 * lat - 0.1 * fwd  # ears
    P[9], P[10] = nose + 0.03 * lat - 0.05 * up, nose - 0.03 * lat - 0.05 * up  # mouth
    return P


def _standing_legs(hip_mid, stance=0.3, flex=None):
    legs = {}
    for side, s in SIDE_SIGN.items():
        hip = hip_mid + np.array([s * HIP_HALF, 0, 0])
        ankle = np.array([s * stance, 0.0, 0.0])
        legs[side] = (ik_knee(hip, ankle, np.array([0, 0, 1.0])), ankle)
    return legs


def _hanging(side, flex=0.0, abd=8.0, elbow=10.0):
    s = SIDE_SIGN[side]
    return limb(flex, abd, s), limb(flex + elbow, abd, s)


def pose_person_frame(exercise: str, p: float, side: str = "left") -> tuple[np.ndarray, bool]:
    """Landmarks in the person frame for phase ``p``; second value: lying down."""
    arms = {s: _hanging(s) for s in SIDE_SIGN}
    H = math.sqrt(LEG**2 - (0.3 - HIP_HALF) ** 2) - 0.02
    if exercise == "squat":
        hip_mid = np.array([0, H - 0.95 * p, -0.45 * p])
        lean = 45 * p
        arms = {s: (limb(60, 10, SIDE_SIGN[s]), limb(-80, 0, SIDE_SIGN[s])) for s in SIDE_SIGN}  # bar on back
        return body(hip_mid, limb(180 - lean), _standing_legs(hip_mid), arms), False
    if exercise in ("deadlift", "deadlift_hands_free"):
        hip_mid = np.array([0, H - 0.2 * p, -0.3 * p])
        torso = limb(180 - 80 * p)
        arms = {s: (np.array([0, -1.0, 0.08 * (1 - p)]), np.array([0, -1.0, 0.0])) for s in SIDE_SIGN}
        if exercise == "deadlift_hands_free":  # no bar: the hands up at the belt, adjusting it
            arms = {s: (np.array([0, -1.0, 0.3]), limb(135, 0, SIDE_SIGN[s])) for s in SIDE_SIGN}
        return body(hip_mid, torso, _standing_legs(hip_mid), arms), False
    if exercise == "knee_up":
        hip_mid = np.array([0, H, 0])
        legs = _standing_legs(hip_mid)
        s = SIDE_SIGN[side]
        hip = hip_mid + np.array([s * HIP_HALF, 0, 0])
        knee = hip + THIGH * limb(95 * p, 0, s)
        legs[side] = (knee, knee + SHIN * limb(95 * p - 95 * p, 0, s))
        return body(hip_mid, limb(180), legs, arms), False
    if exercise == "leg_raise":
        hip_mid = np.array([0, 0.0, 0])
        legs = {}
        for s_name, s in SIDE_SIGN.items():
            hip = hip_mid + np.array([s * HIP_HALF, 0, 0])
            knee = hip + THIGH * limb(88 * p, 0, s)  # once lying, 0 = along the floor
            legs[s_name] = (knee, knee + SHIN * limb(83 * p, 0, s))
        arms = {s: (limb(90, 10, SIDE_SIGN[s]), limb(90, 10, SIDE_SIGN[s])) for s in SIDE_SIGN}
        # Built standing; once lying, the person's forward is up.
        return body(hip_mid, limb(180), legs, arms), True
    if exercise == "overhead_press":
        hip_mid = np.array([0, H, 0])
        abd = 75 + 95 * p
        arms = {s: (limb(20 * (1 - p), abd, SIDE_SIGN[s]), np.array([0, 1.0, 0.05])) for s in SIDE_SIGN}
        return body(hip_mid, limb(180), _standing_legs(hip_mid), arms), False
    if exercise == "side_raise":
        hip_mid = np.array([0, H, 0])
        abd = 10 + 80 * p
        arms = {s: (limb(5, abd, SIDE_SIGN[s]), limb(20, abd, SIDE_SIGN[s])) for s in SIDE_SIGN}
        return body(hip_mid, limb(180), _standing_legs(hip_mid), arms), False
    if exercise == "barbell_curl":
        hip_mid = np.array([0, H, 0])
        arms = {s: (limb(5, 6, SIDE_SIGN[s]), limb(10 + 135 * p, 6, SIDE_SIGN[s])) for s in SIDE_SIGN}
        return body(hip_mid, limb(180), _standing_legs(hip_mid), arms), False
    if exercise == "side_crunch":
        hip_mid = np.array([0, H, 0])
        s = SIDE_SIGN[side]
        legs = _standing_legs(hip_mid)
        hip = hip_mid + np.array([s * HIP_HALF, 0, 0])
        knee = hip + THIGH * limb(40 * p, 60 * p, s)
        legs[side] = (knee, knee + SHIN * limb(0, 20 * p, s))
        torso = _unit((s * math.sin(math.radians(30 * p)), math.cos(math.radians(30 * p)), 0))
        # Hands behind the head: elbows out, forearms back towards the head.
        arms = {n: (limb(170, 95, SIDE_SIGN[n]), limb(180, -60, SIDE_SIGN[n])) for n in SIDE_SIGN}
        ua = limb(160, 95 - 75 * p, s)
        arms[side] = (_rotate_z(ua, s * 30 * p), arms[side][1])
        return body(hip_mid, torso, legs, arms), False
    if exercise == "side_lunge":
        stance = 0.95
        s = SIDE_SIGN[side]
        h0 = math.sqrt(LEG**2 - (stance - HIP_HALF) ** 2) - 0.02
        hip_mid = np.array([s * 0.55 * p, h0 - 0.6 * p, -0.1 * p])
        legs = {}
        for n, sn in SIDE_SIGN.items():
            hip = hip_mid + np.array([sn * HIP_HALF, 0, 0])
            ankle = np.array([sn * stance, 0.0, 0.0])
            legs[n] = (ik_knee(hip, ankle, np.array([sn * 0.3, 0, 1.0])), ankle)
        return body(hip_mid, limb(180 - 25 * p), legs, arms), False
    # ---- variants and movements that are none of the nine ----
    if exercise == "one_arm_curl":  # only ``side``'s arm curls
        hip_mid = np.array([0, H, 0])
        arms[side] = (limb(5, 6, SIDE_SIGN[side]), limb(10 + 135 * p, 6, SIDE_SIGN[side]))
        return body(hip_mid, limb(180), _standing_legs(hip_mid), arms), False
    if exercise in ("seated_press", "seated_side_raise"):
        hip_mid = np.array([0, 0.5, 0])  # on a bench: thighs forward, shins down
        legs = {}
        for n, sn in SIDE_SIGN.items():
            knee = hip_mid + np.array([sn * HIP_HALF, 0, 0]) + THIGH * limb(90, 8, sn)
            legs[n] = (knee, knee + SHIN * limb(0, 0, sn))
        if exercise == "seated_press":
            arms = {n: (limb(20 * (1 - p), 75 + 95 * p, SIDE_SIGN[n]), np.array([0, 1.0, 0.05])) for n in SIDE_SIGN}
        else:
            arms = {n: (limb(5, 10 + 80 * p, SIDE_SIGN[n]), limb(20, 10 + 80 * p, SIDE_SIGN[n])) for n in SIDE_SIGN}
        return body(hip_mid, limb(180), legs, arms), False
    if exercise == "leg_raise_pelvis":  # legs near vertical, the pelvis curls up off the floor
        hip_mid = np.array([0, 0.0, 0.3 * p])  # forward = up once lying
        legs = {}
        for n, sn in SIDE_SIGN.items():
            hip = hip_mid + np.array([sn * HIP_HALF, 0, 0])
            knee = hip + THIGH * limb(80 + 35 * p, 0, sn)
            legs[n] = (knee, knee + SHIN * limb(78 + 35 * p, 0, sn))
        arms = {n: (limb(90, 10, SIDE_SIGN[n]), limb(90, 10, SIDE_SIGN[n])) for n in SIDE_SIGN}
        torso = np.array([0, 1.0, 0]) - hip_mid  # the shoulders stay on the floor
        return body(hip_mid, torso, legs, arms), True
    if exercise == "front_raise":  # straight arms forward to horizontal
        hip_mid = np.array([0, H, 0])
        arms = {n: (limb(90 * p, 8, SIDE_SIGN[n]), limb(90 * p + 5, 8, SIDE_SIGN[n])) for n in SIDE_SIGN}
        return body(hip_mid, limb(180), _standing_legs(hip_mid), arms), False
    if exercise == "forward_lunge":  # ``side``'s foot steps forward, the back knee drops
        hip_mid = np.array([0, H - 0.6 * p, 0.25 * p])
        legs = {}
        for n, sn in SIDE_SIGN.items():
            hip = hip_mid + np.array([sn * HIP_HALF, 0, 0])
            front = n == side
            ankle = np.array([sn * 0.15, 0.0, (1.0 if front else -0.5) * p])
            hint = np.array([0, 0, 1.0]) if front else np.array([0, -0.5, 1.0])
            legs[n] = (ik_knee(hip, ankle, hint), ankle)
        return body(hip_mid, limb(180), legs, arms), False
    if exercise == "walk":  # one stride per phase cycle, legs and arms swinging
        hip_mid = np.array([0, H, 0])
        swing = 25 * math.sin(2 * math.pi * p)
        legs = {}
        for n, sn in SIDE_SIGN.items():
            hip = hip_mid + np.array([sn * HIP_HALF, 0, 0])
            a = swing if n == "left" else -swing
            knee = hip + THIGH * limb(a, 0, sn)
            legs[n] = (knee, knee + SHIN * limb(a - 10 * abs(math.sin(2 * math.pi * p)), 0, sn))
        arms = {n: (limb(-0.6 * (swing if n == "left" else -swing), 8, SIDE_SIGN[n]),
                    limb(-0.6 * (swing if n == "left" else -swing) + 15, 8, SIDE_SIGN[n])) for n in SIDE_SIGN}
        return body(hip_mid, limb(180), legs, arms), False
    raise ValueError(exercise)


def _rotate_z(v, deg):
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])


def _rot_y(deg):
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


_LYING = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=np.float64)  # up -> -z, fwd -> +y
_LEFT_IDS = [1, 2, 3, 7, 9, *range(11, 33, 2)]


def project(P: np.ndarray, yaw: float, lying: bool, scale: float = 1.0) -> np.ndarray:
    """Person-frame points (33, 3) -> BlazePose-like landmarks (33, 4) in a 640x480 image."""
    R = _rot_y(yaw)
    Q = P * scale
    if lying:
        Q = Q @ _LYING.T + np.array([0, 0.25, 0])
        eye, target = np.array([0, 2.6, 5.5]), np.array([0, 0.3, 0.0])
    else:
        eye, target = np.array([0, 1.8, 7.0]), np.array([0, 1.5, 0.0])
    Q = Q @ R.T
    c = _unit(target - eye)
    r = _unit(np.cross(c, [0, 1.0, 0]))
    u = np.cross(r, c)
    d = Q - eye
    depth = d @ c
    f = 500.0
    W, H = IMAGE_SIZE
    out = np.zeros((33, 4), np.float32)
    out[:, 0] = 0.5 + f * (d @ r) / depth / W
    out[:, 1] = 0.5 - f * (d @ u) / depth / H
    out[:, 2] = (depth - depth[[23, 24]].mean()) * f / depth.mean() / W
    # The side turned away from the camera is less visible (as BlazePose reports it).
    lat = (_LYING @ [1.0, 0, 0] if lying else np.array([1.0, 0, 0])) @ R.T
    toward = _unit(eye - target)
    facing = float(np.dot(lat, toward))  # > 0: the person's left faces the camera
    vis = np.full(33, 0.97)
    left = np.zeros(33, bool)
    left[_LEFT_IDS] = True
    vis[left] -= 0.6 * max(0.0, -facing)
    vis[~left & (np.arange(33) > 0)] -= 0.6 * max(0.0, facing)
    out[:, 3] = vis
    return out


def render(exercise: str, phases, yaw: float, fps: float, rng, noise: float = 0.004):
    """Landmarks ``(t, (T, 33, 4))`` of per-frame ``(phase, side)`` or ``(phase, side, shift)``
    (the person moved by ``shift`` (3,) in their own frame: walking), with a slow drift and
    pose-estimator noise."""
    T = len(phases)
    lm = np.zeros((T, 33, 4), np.float32)
    wobble = rng.normal(0, 1, (T, 2)).cumsum(axis=0) * 0.0005  # slow camera/person drift
    for i, ph in enumerate(phases):
        p, side = ph[:2]
        P, lying = pose_person_frame(exercise, p, side)
        if len(ph) > 2:
            P = P + np.asarray(ph[2])
        lm[i] = project(P, yaw, lying)
        lm[i, :, :2] += wobble[i]
    lm[:, :, :2] += rng.normal(0, noise, (T, 33, 2)).astype(np.float32)
    return np.arange(T) / fps, lm


def synth_clip(exercise: str, yaw: float, n_reps: int = 5, seed: int = 0, fps: float = 15.0,
               noise: float = 0.004, idle_s: float = 1.5, depths=None, pause_s=(0.2, 1.2),
               rep_s=(1.2, 2.6), alternate: bool | None = None, glitches: float = 0.0,
               dropouts: int = 0):
    """A clip: idle, ``n_reps`` reps of random tempo with pauses, idle. Returns
    ``(t, landmarks (T,33,4), image_size, rep_intervals)``.

    ``glitches``: fraction of frames where one landmark jumps far away for a frame;
    ``dropouts``: number of 0.1-0.4 s stretches where the person is not found (NaN rows)."""
    rng = np.random.default_rng(seed)
    if alternate is None:
        alternate = any(c.reduce == "max" for c in RECIPES.get(exercise, ()))
    depths = [1.0] * n_reps if depths is None else depths
    phases: list[tuple[float, str]] = []
    intervals = []
    t = 0.0

    def hold(dur, p, side):
        nonlocal t
        for _ in range(round(dur * fps)):
            phases.append((p, side))
            t += 1 / fps

    hold(idle_s, 0.0, "left")
    for k, depth in enumerate(depths):
        side = ("left", "right")[k % 2] if alternate else "left"
        dur = rng.uniform(*rep_s)
        n = max(round(dur * fps), 3)
        start = t
        for i in range(n):
            x = (i + 1) / n
            # asymmetric: faster up, slower down; a short hold at the working end
            ph = 0.5 - 0.5 * math.cos(2 * math.pi * x ** 0.8)
            phases.append((depth * min(1.0, ph * 1.1), side))
            t += 1 / fps
        intervals.append((start, t))
        hold(rng.uniform(*pause_s), 0.0, side)
    hold(idle_s, 0.0, "left")
    ts, lm = render(exercise, phases, yaw, fps, rng, noise)
    T = len(ts)
    for i in np.nonzero(rng.random(T) < glitches)[0]:
        lm[i, rng.integers(11, 29), :2] += rng.normal(0, 0.08, 2).astype(np.float32)
    for _ in range(dropouts):
        a = int(rng.integers(0, T))
        lm[a:a + int(rng.uniform(0.1, 0.4) * fps)] = np.nan
    return ts, lm, IMAGE_SIZE, intervals


# ---- synthetic exercises from every view --------------------------------------------------------

@pytest.mark.parametrize("exercise", EXERCISE_IDS)
def test_counts_every_exercise_from_every_view(exercise):
    wrong = []
    for yaw in VIEWS:
        for seed in (1, 2):
            t, lm, size, truth = synth_clip(exercise, yaw, n_reps=5, seed=seed)
            reps = count_reps(t, lm, exercise, size)
            if len(reps) != len(truth):
                wrong.append((yaw, seed, len(reps)))
                continue
            # each counted rep overlaps its true rep
            for r, (a, b) in zip(reps, truth, strict=True):
                assert a - 0.3 <= r.peak_t <= b + 0.3, (yaw, seed, r, (a, b))
    assert not wrong, f"{exercise}: (yaw, seed, counted) of clips not counting 5: {wrong}"


# ---- signal level: the counter's rules on scripted signals ----------------------------------------
# ``push`` takes the exercise's components; a scripted 1-D signal drives all of them alike.

def run_signal(s, fps=30.0, exercise="squat", config=None, t0=0.0):
    counter = RepCounter(exercise, config)
    C = len(RECIPES[exercise])
    reps, when = [], []
    for i, v in enumerate(s):
        t = t0 + i / fps
        out = counter.push(t, np.full(C, v))
        reps += out
        when += [t] * len(out)
    return reps, when, counter


def rep_wave(durations, depths=None, pauses=None, fps=30.0, lead=1.0, tail=1.0, hold_top=None):
    """A rest-low signal: ``lead`` s rest, then a raised-cosine rep per duration (optionally held
    at the working end), with pauses between."""
    depths = depths or [1.0] * len(durations)
    pauses = pauses or [0.5] * len(durations)
    hold_top = hold_top or [0.0] * len(durations)
    parts = [np.zeros(int(lead * fps))]
    for d, a, p, h in zip(durations, depths, pauses, hold_top, strict=True):
        n = int(d * fps)
        x = np.linspace(0, 1, n)
        up = a * (0.5 - 0.5 * np.cos(np.pi * x[: n // 2] * 2))
        down = a * (0.5 - 0.5 * np.cos(np.pi * x[n // 2:] * 2))
        parts += [up, np.full(int(h * fps), a), down, np.zeros(int(p * fps))]
    parts.append(np.zeros(int(tail * fps)))
    return np.concatenate(parts)


def test_reps_of_any_tempo_with_pauses():
    durations = [0.8, 1.5, 3.0, 5.0, 1.0, 2.0]
    s = rep_wave(durations, pauses=[0.0, 2.0, 0.3, 6.0, 0.1, 1.0])
    reps, _, _ = run_signal(s)
    assert len(reps) == len(durations)
    assert [r.index for r in reps] == list(range(1, 7))
    assert all(r.full for r in reps)


def test_a_hold_at_the_working_end_is_one_rep():
    s = rep_wave([1.5, 1.5, 1.5], hold_top=[0.0, 6.0, 0.0])
    reps, _, _ = run_signal(s)
    assert len(reps) == 3
    assert reps[1].duration > 6.0


def test_partial_reps_half_counted_with_rom_failed_shallow_ignored():
    depths = [1.0, 1.0, 1.0, 0.3, 1.0, 0.65, 1.0]
    reps, _, _ = run_signal(rep_wave([1.5] * 7, depths=depths))
    # the 0.3 nod is not a rep; the 0.65 one is, without full range of motion
    assert len(reps) == 6
    assert [r.full for r in reps] == [True, True, True, True, False, True]
    assert 0.5 <= reps[4].depth < 0.8


def test_jitter_and_glitches_do_not_add_reps():
    rng = np.random.default_rng(0)
    s = rep_wave([1.5] * 6, pauses=[1.0] * 6)
    noisy = s + rng.normal(0, 0.04, len(s))
    glitch = rng.choice(len(s), 12, replace=False)
    noisy[glitch] += rng.choice([-1.5, 1.5], 12)  # one-frame pose glitches
    reps, _, _ = run_signal(noisy)
    assert len(reps) == 6


def test_hovering_near_the_threshold_is_one_rep():
    # A slow rep that dithers around the enter threshold on the way down and up.
    fps = 30
    rng = np.random.default_rng(1)
    x = np.concatenate([np.zeros(30), np.linspace(0, 0.42, 30), 0.42 + 0.05 * np.sin(np.arange(60)),
                        np.linspace(0.42, 1, 20), np.linspace(1, 0.4, 20), 0.4 + 0.05 * rng.standard_normal(40),
                        np.linspace(0.4, 0, 20), np.zeros(30)])
    s = np.concatenate([rep_wave([1.5, 1.5]), x, rep_wave([1.5])])
    reps, _, _ = run_signal(s, fps=fps)
    assert len(reps) == 4


def test_a_dip_at_the_top_of_the_first_rep_is_not_two_reps():
    """Before any rep has shown the range, a dip at the top (a slow curl's pause, the arm
    easing down a little) is not a touch-and-go valley; later ones are judged against it."""
    fps = 30
    up, top, dip, back, down = (np.linspace(a, b, int(d * fps)) for a, b, d in
                                ((0, 1, 0.6), (1, 1, 0.2), (1, 0.4, 0.4), (0.4, 1, 0.4), (1, 0, 0.7)))
    first = np.concatenate([np.zeros(30), up, top, dip, back, down, np.zeros(30)])
    reps, _, _ = run_signal(np.concatenate([first, rep_wave([1.5, 1.5])]), fps=fps)
    assert len(reps) == 3
    # touch-and-go reps once the range is known: three reps with no rest in between
    tng = np.concatenate([rep_wave([1.5]), np.linspace(0, 1, 20), np.linspace(1, 0.3, 20),
                          np.linspace(0.3, 1, 20), np.linspace(1, 0, 20), np.zeros(30)])
    reps, _, _ = run_signal(tng, fps=fps)
    assert len(reps) == 3


def test_standing_still_or_swaying_counts_nothing():
    rng = np.random.default_rng(2)
    fps = 30
    n = 120 * fps
    sway = 0.08 * np.sin(np.arange(n) / fps * 2 * np.pi / 3.0)  # slow sway, well below a rep
    s = sway + rng.normal(0, 0.03, n)
    reps, _, _ = run_signal(s, fps=fps)
    assert reps == []


def test_person_lost_mid_rep_drops_that_rep_only():
    fps = 30
    s = rep_wave([2.0] * 4, pauses=[1.0] * 4)
    s = s.astype(float)
    # rep 2 spans about 3.5..5.5 s: lose the person for 1.5 s in its middle
    s[int(4.0 * fps):int(5.5 * fps)] = np.nan
    reps, _, _ = run_signal(s, fps=fps)
    assert len(reps) == 3
    # a short loss (0.3 s) inside a rep is bridged
    s2 = rep_wave([2.0] * 4, pauses=[1.0] * 4).astype(float)
    s2[int(4.2 * fps):int(4.5 * fps)] = np.nan
    assert len(run_signal(s2, fps=fps)[0]) == 4


def test_a_bad_lock_on_held_through_a_dropout_is_not_a_rep():
    """BlazePose losing a person on washed-out frames and re-detecting them for a few frames at
    a wrong, crouched pose: the filler holds that pose through the gap, but frames it held are
    not seen, and an "excursion" made mostly of them is not a rep (real reps still count)."""
    fps = 30
    t, lm, size, _intervals = synth_clip("squat", 90.0, n_reps=3, seed=3, fps=fps, idle_s=2.0)
    crouch, lying = pose_person_frame("squat", 1.0, "left")
    bad = project(crouch, 90.0, lying)
    lm = lm.copy()
    lm[int(0.4 * fps):int(1.5 * fps)] = np.nan  # the person lost ...
    lm[int(0.65 * fps):int(0.8 * fps)] = bad  # ... but for 4 frames found crouching
    reps = count_reps(t, lm, "squat", image_size=size)
    assert len(reps) == 3 and reps[0].start_t > 1.5, [(r.start_t, r.end_t) for r in reps]
    # the same frames counted as seen (the check off) make the phantom rep
    loose = count_reps(t, lm, "squat", image_size=size, config=RepConfig(min_observed=0.0))
    assert len(loose) == 4 and loose[0].end_t < 2.0


def test_an_excursion_longer_than_max_rep_is_not_a_rep():
    # sits down for 20 s, then does two reps
    sit = np.concatenate([np.zeros(30), np.linspace(0, 1, 30), np.ones(600), np.linspace(1, 0, 30)])
    s = np.concatenate([rep_wave([1.5]), sit, rep_wave([1.5, 1.5])])
    reps, _, _ = run_signal(s)
    assert len(reps) == 3


def test_rep_is_reported_on_the_frame_it_ends():
    s = rep_wave([2.0, 2.0], pauses=[1.0, 1.0], lead=1.0)
    reps, when, _ = run_signal(s)
    assert len(reps) == 2
    for r, t in zip(reps, when, strict=True):
        assert r.end_t == t
        assert r.start_t < r.peak_t < r.end_t
    # rep 1 occupies 1.0..3.0 s: onset, peak and end where the signal says
    r = reps[0]
    assert 1.0 <= r.start_t <= 1.5 and 1.7 <= r.peak_t <= 2.3 and 2.5 <= r.end_t <= 3.0


def test_reset_forgets_the_count():
    _, _, counter = run_signal(rep_wave([1.5, 1.5]))
    assert counter.count == 2
    counter.reset()
    assert counter.count == 0
    more = []
    C = len(RECIPES["squat"])
    for i, v in enumerate(rep_wave([1.5])):
        more += counter.push(100 + i / 30, np.full(C, v))
    assert [r.index for r in more] == [1]


def test_validated_poses_with_missing_points_never_raise():
    """Poses are validated where they are made (shape, dtype, non-finite values become NaN
    points); the counter trusts that and copes with whatever a validated pose can hold."""
    counter = RepCounter("squat", image_size=(640, 480))
    rng = np.random.default_rng(3)
    some_nan = rng.random((33, 4)).astype(np.float32)
    some_nan[rng.choice(33, 12, replace=False)] = np.nan
    for i, lm in enumerate([None, np.full((33, 4), np.nan, np.float32), some_nan,
                            rng.normal(size=(33, 4)).astype(np.float32), np.zeros((33, 4), np.float32)]):
        try:
            counter.update(i * 0.1, lm)
        except Exception as e:  # pragma: no cover - the assertion below reports it
            pytest.fail(f"input {i} raised {e!r}")
    assert counter.update(float("nan"), None) == []
    assert counter.update(0.0, None) == []  # out of order


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="enter"):
        RepConfig(enter=0.1, exit=0.2)
    with pytest.raises(ValueError, match="max_rep_s"):
        RepConfig(min_rep_s=5, max_rep_s=2)
    with pytest.raises(ValueError, match="exercise 'pushup'"):
        RepCounter("pushup")


def test_key_landmarks_per_side():
    left, right = key_landmarks("squat")
    assert left == (23, 25) and right == (24, 26)  # a squat counts from hips and knees
    assert key_landmarks(None) == ((11, 23), (12, 24))


def test_online_frames_count_as_the_offline_helper():
    t, lm, size, _ = synth_clip("side_raise", 45.0, n_reps=4, seed=6, dropouts=2)
    counter = RepCounter("side_raise", image_size=size)
    online = []
    for ti, li in zip(t, lm, strict=True):
        online += counter.update(ti, None if not np.isfinite(li[:, :2]).all() else li)
    assert online == count_reps(t, lm, "side_raise", size)
    assert len(online) == 4


def test_alternating_legs_each_count_and_report_their_side():
    t, lm, size, _ = synth_clip("knee_up", 0.0, n_reps=6, seed=4)
    reps = count_reps(t, lm, "knee_up", size)
    assert len(reps) == 6
    assert [r.side for r in reps] == ["left", "right"] * 3


def test_synthetic_clip_with_dropouts_and_glitches():
    for ex in ("squat", "side_raise", "side_lunge"):
        t, lm, size, _ = synth_clip(ex, 45.0, n_reps=6, seed=9, glitches=0.03, dropouts=3)
        assert len(count_reps(t, lm, ex, size)) == 6, ex


# ---- real footage's failure kinds, driven by synthetic motion -----------------------------------

def framed(lm: np.ndarray, bottom: float, how: str = "extrapolated") -> np.ndarray:
    """The same clip filmed closer, the image bottom at ``bottom`` of the old height (the top
    and the centre stay): points below the new edge are, as BlazePose reports them, guessed
    with a low visibility ("extrapolated") or, once validated, missing ("missing", NaN)."""
    out = lm.copy()
    out[..., 0] = 0.5 + (out[..., 0] - 0.5) / bottom
    out[..., 1] = out[..., 1] / bottom
    below = out[..., 1] > 1.0
    if how == "missing":
        out[below] = np.nan
    else:
        out[..., 3] = np.where(below, 0.08, out[..., 3])
    return out


@pytest.mark.parametrize("how", ["extrapolated", "missing"])
def test_feet_out_of_frame_still_count_and_are_reported_missing(how):
    """Failure kind 1: a squat filmed with the feet below the frame edge counts from hips and
    knees; the counter says the feet are missing (for "feet out of frame"), not why it stopped."""
    for yaw in (0.0, 45.0, 90.0):
        t, lm, size, truth = synth_clip("squat", yaw, n_reps=5, seed=11)
        lm = framed(lm, 0.68, how)
        assert trackable(lm, "squat").mean() > 0.95  # hips and knees: the counter's joints
        counter = RepCounter("squat", image_size=size)
        reps, missing = [], set()
        for ti, li in zip(t, lm, strict=True):
            reps += counter.update(ti, li)
            missing.update(counter.missing)
        assert len(reps) == len(truth), (yaw, how, len(reps))
        assert missing == {"feet"}, (yaw, missing)
    # a side raise with the legs out of frame: nothing it needs is missing
    t, lm, size, truth = synth_clip("side_raise", 0.0, n_reps=4, seed=12)
    lm = framed(lm, 0.55, how)
    counter = RepCounter("side_raise", image_size=size)
    reps = [r for ti, li in zip(t, lm, strict=True) for r in counter.update(ti, li)]
    assert len(reps) == 4 and counter.missing == ()


def test_missing_parts_names_what_is_out_of_view():
    _t, lm, _size, _ = synth_clip("squat", 0.0, n_reps=1, seed=1)
    pose = lm[0]
    assert missing_parts("squat", pose) == ()
    assert missing_parts("squat", framed(lm, 0.68)[0]) == ("feet",)
    head_cut = pose.copy()
    head_cut[:11, 1] -= 0.3  # above the top edge
    assert missing_parts("squat", head_cut) == ("head",)
    assert missing_parts("barbell_curl", head_cut) == ()  # a curl does not need the head
    assert missing_parts("squat", None) == NEEDED_PARTS["squat"]
    one_arm = pose.copy()
    one_arm[[13, 15], 3] = 0.05  # one elbow and wrist hidden: the other arm is in view
    assert missing_parts("barbell_curl", one_arm) == ()


def deadlift_phases(fps: float, pulls: int, reset: bool, end_at_lockout: bool, set_up: bool = False):
    """Floor -> lockout -> floor pulls, starting on the floor (p = 1: bent over the bar); with
    ``reset`` the hips rise and sink again at the floor between pulls (re-gripping); with
    ``set_up`` the lifter, already at the bar, jerks the hips up, holds, and drops them back
    before the first pull (setting the back: up quicker than any pull)."""
    ph: list[tuple[float, str]] = []

    def ramp(a, b, dur):
        n = max(int(dur * fps), 2)
        ph.extend((a + (b - a) * (0.5 - 0.5 * math.cos(math.pi * (i + 1) / n)), "left") for i in range(n))

    def hold(p, dur):
        ph.extend((p, "left") for _ in range(int(dur * fps)))

    if set_up:
        hold(1.0, 0.2)
        ramp(1.0, 0.4, 0.2)
        hold(0.4, 0.25)
        ramp(0.4, 1.0, 0.2)
    hold(1.0, 1.0)
    for k in range(pulls):
        ramp(1.0, 0.0, 1.0)  # the pull
        if k == pulls - 1 and end_at_lockout:
            hold(0.0, 0.3)
            break
        hold(0.0, 0.6)
        ramp(0.0, 1.0, 1.0)  # lowered to the floor
        hold(1.0, 0.4)
        if reset:
            ramp(1.0, 0.8, 0.4)
            ramp(0.8, 1.0, 0.4)
            hold(1.0, 0.4)
    return ph


@pytest.mark.parametrize("yaw", [0.0, 45.0, 90.0, -45.0])
def test_deadlift_from_the_floor_counts_each_pull_and_not_the_reset(yaw):
    """Failure kind 2: the first pull from the floor counts, a re-set at the floor between
    pulls does not, a clip cut at the lockout still counts its pull."""
    rng = np.random.default_rng(5)
    fps = 30.0
    for pulls, reset, end_at_lockout in ((2, True, True), (3, False, False), (1, False, True)):
        t, lm = render("deadlift", deadlift_phases(fps, pulls, reset, end_at_lockout), yaw, fps, rng)
        reps = count_reps(t, lm, "deadlift", IMAGE_SIZE)
        assert len(reps) == pulls, (yaw, pulls, reset, [(round(r.start_t, 2), round(r.end_t, 2)) for r in reps])
    # a set that starts standing (Romanian deadlift) is counted as before
    t, lm, size, _truth = synth_clip("deadlift", yaw, n_reps=4, seed=7)
    assert len(count_reps(t, lm, "deadlift", size)) == 4


@pytest.mark.parametrize("yaw", [0.0, 45.0, 90.0, -45.0])
def test_setting_the_hips_at_the_bar_is_not_the_first_pull(yaw):
    """A lifter at the bar who jerks the hips up and drops them again before the first pull (or
    a dim picture's shaky first lock-on doing the same) must not stand for that pull: a way up
    quicker than any pull (MIN_REP_S) keeps the counter waiting, the pull is the latest way up,
    and both pulls count (before: the set-up was counted and the set-up-to-lockout span too,
    3 reps seen from the front)."""
    rng = np.random.default_rng(6)
    fps = 30.0
    t, lm = render("deadlift", deadlift_phases(fps, 2, reset=False, end_at_lockout=True, set_up=True), yaw, fps, rng)
    reps = count_reps(t, lm, "deadlift", IMAGE_SIZE)
    assert len(reps) == 2, (yaw, [(round(r.start_t, 2), round(r.end_t, 2)) for r in reps])
    assert reps[0].start_t == 0.0  # the first pull counts from the clip's start, the set-up included


def render_mixed(frames, yaw: float, fps: float, rng, noise: float = 0.004):
    """Like :func:`render`, each frame ``(exercise, phase)``: a pose that changes between them."""
    lm = np.stack([project(pose_person_frame(ex, p)[0], yaw, False) for ex, p in frames])
    lm[:, :, :2] += rng.normal(0, noise, lm[:, :, :2].shape).astype(np.float32)
    return np.arange(len(frames)) / fps, lm


@pytest.mark.parametrize("yaw", [0.0, 45.0, 90.0, -45.0])
def test_standing_up_with_the_hands_free_after_a_deadlift_set_is_not_a_pull(yaw):
    """Failure kind 2's phantom: after the last pull the bar is lowered to the floor and the
    lifter stands up without it, hands at the belt: the way up looks like a pull, but no bar
    hangs from bent arms (HOLDS_A_BAR, max_pull_elbow_deg). The same stand-up with the arms
    hanging straight cannot be told from a pull (docs/reps.md, Known limits)."""
    rng = np.random.default_rng(8)
    fps = 30.0
    frames = [("deadlift", p) for p, _ in deadlift_phases(fps, 2, reset=False, end_at_lockout=False)]
    frames += [("deadlift", 1.0)] * int(0.5 * fps)
    n = int(1.0 * fps)
    frames += [("deadlift_hands_free", 0.5 + 0.5 * math.cos(math.pi * (i + 1) / n)) for i in range(n)]
    frames += [("deadlift_hands_free", 0.0)] * int(1.0 * fps)
    t, lm = render_mixed(frames, yaw, fps, rng)
    reps = count_reps(t, lm, "deadlift", IMAGE_SIZE)
    assert len(reps) == 2, (yaw, [(round(r.start_t, 2), round(r.end_t, 2)) for r in reps])


def test_alternating_one_arm_curls_count_each_arm_and_two_arm_curls_once():
    """Failure kind 4: one-sided movements count each side and say which."""
    for yaw in (0.0, 45.0, -45.0):
        t, lm, size, _ = synth_clip("one_arm_curl", yaw, n_reps=4, seed=8, alternate=True)
        reps = count_reps(t, lm, "barbell_curl", size)
        assert [r.side for r in reps] == ["left", "right"] * 2, (yaw, [r.side for r in reps])
        t, lm, size, _ = synth_clip("barbell_curl", yaw, n_reps=4, seed=8)
        reps = count_reps(t, lm, "barbell_curl", size)
        assert [r.side for r in reps] == ["both"] * 4, (yaw, [r.side for r in reps])
    for ex in ("knee_up", "side_lunge", "side_crunch"):
        t, lm, size, _ = synth_clip(ex, 45.0, n_reps=4, seed=9)
        assert [r.side for r in count_reps(t, lm, ex, size)] == ["left", "right"] * 2, ex


def test_alternating_dumbbell_curls_seen_from_the_front_count_every_rep():
    """From the front, a one-arm curl's forearm points at the camera at the top: the elbow
    angle fades out exactly there, and the pair of wrists (the lower one) stays still; the
    working wrist's own height still sees the rep."""
    from formcheck.train.synth import ClipSpec, make_clip

    for seed in range(1, 9):
        s = make_clip(ClipSpec("barbell_curl", seed=seed, index=1, view="front", noise=0.0, swaps=False,
                               dropouts=False, severity={"rom": 0.0},
                               variants={"implement": "dumbbell", "arms": "alternating"})).sequences[0]
        reps = count_reps(s.t, s.landmarks, "barbell_curl", s.image_size)
        assert [r.side for r in reps] == s.extra["rep_sides"], seed


def test_a_set_of_half_squats_seen_from_the_front_counts_but_one_bob_does_not():
    """A set of partial reps is still a set: half squats ("go deeper") seen from the front by a
    low camera move the counter's measures 0.25-0.3 nominal units, under ``min_amplitude``.
    Each counts once the one before it moved alike; a single such bob of the knees does not,
    nor do small excursions at a marching step's pace."""
    from formcheck.train.synth import ClipSpec, make_clip

    # one of the generator's people (seed 77): front view, camera at knee height, rom 0.41
    s = make_clip(ClipSpec("squat", seed=77, index=2007)).sequences[0]
    assert s.view == "front" and s.extra["severity"]["rom"] > 0.25
    cfg = RepConfig()
    reps = count_reps(s.t, s.landmarks, "squat", s.image_size)
    assert len(reps) == len(s.reps) >= 4
    assert all(cfg.min_amplitude_repeated <= r.amplitude < cfg.min_amplitude for r in reps)
    assert [r.index for r in reps] == list(range(1, len(reps) + 1))
    # the rule off: none of them counts
    off = RepConfig(min_amplitude_repeated=cfg.min_amplitude)
    assert count_reps(s.t, s.landmarks, "squat", s.image_size, config=off) == []
    # one half squat alone (the clip cut before the second) is not a set
    b = s.reps[0][1]
    one = s.t <= s.t[b] + 0.5 * (s.t[s.reps[1][0]] - s.t[b])
    assert count_reps(s.t[one], s.landmarks[one], "squat", s.image_size) == []
    # knee lifts are not counted in series (marching in place would be a set of them)
    assert "knee_up" not in PARTIAL_SETS and "squat" in PARTIAL_SETS
    # nor are small excursions at a marching step's pace: one of the generator's idle people
    # marching in place swings the arms like a small press, a step (0.7-0.9 s) at a time
    march = make_clip(ClipSpec("idle", seed=77, index=3022)).sequences[0]
    assert march.extra["variant"]["behaviour"] == "march"
    assert count_reps(march.t, march.landmarks, "overhead_press", march.image_size) == []
    fast = RepConfig(min_partial_rep_s=0.0)
    assert len(count_reps(march.t, march.landmarks, "overhead_press", march.image_size, config=fast)) >= 2


@pytest.mark.parametrize("variant,exercise", [("seated_press", "overhead_press"),
                                              ("seated_side_raise", "side_raise")])
def test_presses_and_raises_from_seated(variant, exercise):
    for yaw in (0.0, 45.0, -45.0, 90.0):
        t, lm, size, _truth = synth_clip(variant, yaw, n_reps=5, seed=10, alternate=False)
        assert trackable(lm, exercise).mean() > 0.95
        assert len(count_reps(t, lm, exercise, size)) == 5, (variant, yaw)


def test_leg_raise_with_the_pelvis_lifting_and_the_legs_near_vertical():
    """Failure kind 5: the legs stay near vertical and the pelvis curls up: hip flexion moves
    only ~35 degrees, the pelvis lift carries the count."""
    for yaw in (90.0, 45.0, -90.0):
        t, lm, size, _truth = synth_clip("leg_raise_pelvis", yaw, n_reps=5, seed=13, alternate=False)
        assert len(count_reps(t, lm, "leg_raise", size)) == 5, yaw
        t, lm, size, _truth = synth_clip("leg_raise", yaw, n_reps=5, seed=13)
        assert len(count_reps(t, lm, "leg_raise", size)) == 5, yaw


def test_a_standing_person_is_not_doing_leg_raises():
    """Leg raises are done lying on the back: excursions with the torso upright (standing,
    shifting weight, getting down onto the mat) are not counted as leg raises, whatever the
    station was told. Two of the generator's idle people, standing and shifting from foot to
    foot, seen side-on."""
    from formcheck.train.synth import ClipSpec, make_clip

    gate_off = RepConfig(max_lying_torso_rise=2.0)
    for index in (3003, 3006):
        s = make_clip(ClipSpec("idle", seed=77, index=index)).sequences[0]
        assert count_reps(s.t, s.landmarks, "leg_raise", s.image_size) == [], index
        assert len(count_reps(s.t, s.landmarks, "leg_raise", s.image_size, config=gate_off)) >= 3, index
    for yaw in (90.0, 45.0):
        t, lm, size, _ = synth_clip("leg_raise", yaw, n_reps=4, seed=9)
        assert len(count_reps(t, lm, "leg_raise", size)) == 4, yaw


@pytest.mark.parametrize("movement,views", [("front_raise", (0.0, 45.0, 90.0)),
                                            ("forward_lunge", (90.0, 45.0, -45.0)),
                                            ("squat", (0.0, 90.0)), ("barbell_curl", (0.0, 45.0))])
def test_other_counts_the_dominant_joint_of_any_repeated_movement(movement, views):
    """Failure kind 6: a movement that is none of the nine is counted on its dominant joint
    signal (``other``)."""
    for yaw in views:
        t, lm, size, _truth = synth_clip(movement, yaw, n_reps=5, seed=14, alternate=False)
        reps = count_reps(t, lm, OTHER, size)
        assert len(reps) == 5, (movement, yaw, len(reps))
        assert all(r.exercise == OTHER for r in reps)


def walking(fps: float, start: float, stop: float, speed: float = 1.2, stride_s: float = 1.0):
    """Phases of a walk along the person's forward axis from ``start`` to ``stop`` (torso units)."""
    n = int(abs(stop - start) / speed * fps)
    return [(i / fps / stride_s % 1.0, "left", np.array([0, 0, start + (stop - start) * i / n])) for i in range(n)]


def test_walking_in_and_away_is_not_a_rep():
    """Phantom reps: walking into the frame, squatting, walking off (to the rack) counts the
    squats only; walking alone counts nothing, not even as ``other``."""
    rng = np.random.default_rng(15)
    fps = 30.0
    for yaw in (90.0, -90.0, 60.0):
        walk_in = walking(fps, -3.5, 0.0)
        squats = [(p, "left", np.zeros(3)) for p, _ in
                  [(0.0, "")] * 30 + [(0.5 - 0.5 * math.cos(2 * math.pi * i / 45), "") for i in range(45)] * 3
                  + [(0.0, "")] * 30]
        walk_off = walking(fps, 0.0, 3.5)
        phases = walk_in + squats + walk_off
        # the walker is rendered with the walking pose, the squatter with the squat's
        t_w, lm_w = render("walk", walk_in + [(0.0, "left", np.zeros(3))] * len(squats) + walk_off, yaw, fps, rng)
        _t_s, lm_s = render("squat", phases, yaw, fps, rng)
        lm = lm_w.copy()
        lm[len(walk_in):len(walk_in) + len(squats)] = lm_s[len(walk_in):len(walk_in) + len(squats)]
        lm[~((lm[..., 0] >= 0) & (lm[..., 0] <= 1))] = np.nan  # outside the image: not found
        assert len(count_reps(t_w, lm, "squat", IMAGE_SIZE)) == 3, yaw
        t, lm, = render("walk", walking(fps, -4.0, 4.0, speed=0.8), yaw, fps, rng)
        lm[~((lm[..., 0] >= 0) & (lm[..., 0] <= 1))] = np.nan
        assert count_reps(t, lm, OTHER, IMAGE_SIZE) == [], yaw


def trackable(lm: np.ndarray, exercise: str, min_visibility: float = 0.5) -> np.ndarray:
    """Frames where the judge would be tracking (key joints of one side visible, in frame)."""
    ok = np.zeros(len(lm), bool)
    for ids in key_landmarks(exercise):
        p = lm[:, list(ids)]
        ok |= ((p[..., 3] >= min_visibility) & (p[..., 0] >= 0) & (p[..., 0] <= 1)
               & (p[..., 1] >= 0) & (p[..., 1] <= 1)).all(axis=1)
    return ok


SYNTH_VIEWS = ("front", "left-45", "right-45", "left-135", "right-90")


def test_matches_the_labelled_reps_of_the_project_synthetic_generator():
    """The project's own generator (other bodies, cameras, tempi, sets, pose-estimator noise,
    swaps and dropouts): exact counts on most clips of all nine exercises from five views. The
    known misses are sets of deadlifts from the floor that end by standing up without the bar
    just before the clip ends (docs/reps.md, Known limits)."""
    synth = pytest.importorskip("formcheck.train.synth")
    bodies = synth.body_pool(0)
    exact, total, misses = 0, 0, []
    for ex in EXERCISE_IDS:
        for i, view in enumerate(SYNTH_VIEWS):
            spec = synth.ClipSpec(kind=ex, seed=21, index=i, view=view, faults=(), fps=15.0)
            seq = synth.make_clip(spec, bodies).sequences[0]
            if trackable(seq.landmarks, ex).mean() < 0.9:
                continue  # the station would ask to step into view, not count
            n = len(count_reps(seq.t, seq.landmarks, ex, seq.image_size))
            total += 1
            if n == len(seq.reps):
                exact += 1
            else:
                misses.append((ex, view, len(seq.reps), n))
    assert total >= 35, total
    assert exact / total >= 0.85, f"{exact}/{total} exact; (exercise, view, true, counted): {misses}"
    print(f"{exact}/{total} exact; misses: {misses}")


def _generator_leg_raise(seed: int, index: int, view: str, style: str | None = None):
    synth = pytest.importorskip("formcheck.train.synth")
    spec = synth.ClipSpec(kind="leg_raise", seed=seed, index=index, view=view, faults=(), fps=15.0,
                          variants={"style": style} if style else None)
    seq = synth.make_clip(spec, synth.body_pool(0)).sequences[0]
    return seq, len(count_reps(seq.t, seq.landmarks, "leg_raise", seq.image_size))


def test_generator_leg_raises_whose_legs_hover_between_reps_count_exactly():
    """Failure kind 5 with the project's generator (held-out seeds): the legs are raised off the
    floor once and hover (classic) or stay near vertical while the pelvis curls (pelvis lift)
    between reps; the floor seen at the set's start made every rep after the first look like
    half a range, so the set merged into one long excursion (HOVER_BETWEEN_REPS, hip_height)."""
    misses = []
    for seed in (22, 23, 24, 25):
        for i, view in enumerate(SYNTH_VIEWS):
            seq, n = _generator_leg_raise(seed, i, view)
            if n != len(seq.reps):
                misses.append((seed, view, seq.extra["variant"]["style"], len(seq.reps), n))
    assert misses == []


def test_generator_pelvis_lift_leg_raises_seen_from_the_front():
    """The generator's pelvis-lift leg raise (legs near vertical, the pelvis curling up) seen from
    the front: the hips rising off the floor carry the count. Reps done while the set's first
    raise from the floor is still in the range window can merge (a known limit), so most, not
    all, are counted; none is counted twice."""
    true, counted = [], []
    for seed in range(31, 39):
        seq, n = _generator_leg_raise(seed, 0, "front", style="pelvis_lift")
        true.append(len(seq.reps))
        counted.append(n)
    assert all(n <= k for n, k in zip(counted, true, strict=True)), (true, counted)
    assert sum(counted) >= 0.8 * sum(true), (true, counted)


def test_leg_raise_reps_that_swing_between_hover_and_vertical_are_not_merged():
    """Failure kind 5, the hidden clip's variant: leg raises whose legs swing between part-way
    down and vertical while the pelvis curls (never back to the floor). The range learnt from the
    set's start on the floor makes each valley shallow, so a valley of ``hover_valley`` of it
    ends a rep (SHALLOW_VALLEYS): held-out generator sets seen obliquely and side-on count more
    reps and more sets exactly than with ``count_depth``, and no rep twice."""
    synth = pytest.importorskip("formcheck.train.synth")
    bodies = synth.body_pool(0)
    true = now = before = exact_now = exact_before = 0
    for seed in range(40, 52):
        for i, view in enumerate(("left-45", "left-90", "right-45")):
            spec = synth.ClipSpec(kind="leg_raise", seed=seed, index=i, view=view, faults=(), fps=15.0,
                                  variants={"style": "pelvis_lift"})
            seq = synth.make_clip(spec, bodies).sequences[0]
            n = len(count_reps(seq.t, seq.landmarks, "leg_raise", seq.image_size))
            o = len(count_reps(seq.t, seq.landmarks, "leg_raise", seq.image_size,
                               config=RepConfig(hover_valley=RepConfig().count_depth)))
            assert n <= len(seq.reps), (seed, view, len(seq.reps), n)  # nothing counted twice
            true, now, before = true + len(seq.reps), now + n, before + o
            exact_now, exact_before = exact_now + (n == len(seq.reps)), exact_before + (o == len(seq.reps))
    assert now > before and exact_now > exact_before, (true, now, before, exact_now, exact_before)
    assert now >= 0.95 * true, (true, now)


@pytest.mark.parametrize("view", ["front", "right-90"])
def test_generator_press_sets_taken_up_from_the_hang_count_every_rep(view, monkeypatch):
    """Presses taken up from the hanging arms to the shoulders before the set (and put down
    after it): each rep returns to the shoulders, above the range's floor that the hanging arms
    set, and still ends there (``HOVER_BETWEEN_REPS``)."""
    synth = pytest.importorskip("formcheck.train.synth")
    from formcheck.train.synth.programs import overhead_press

    monkeypatch.setattr(overhead_press, "P_FROM_HANG", 1.0)
    bodies = synth.body_pool(0)
    true, counted = [], []
    for seed in (31, 32, 33):
        spec = synth.ClipSpec(kind="overhead_press", seed=seed, index=0, view=view, faults=(), fps=15.0)
        for seq in synth.make_clip(spec, bodies).sequences:
            true.append(len(seq.reps))
            counted.append(len(count_reps(seq.t, seq.landmarks, "overhead_press", seq.image_size)))
    assert counted == true


# ---- real clips ------------------------------------------------------------------------------------

REAL = {  # clip -> (exercise, reps)
    "squat_front.mp4": ("squat", 3),
    "side_lunge_front.mp4": ("side_lunge", 10),
    "barbell_curl_side.mp4": ("barbell_curl", 1),
}
_CACHE: dict[str, tuple] = {}


def real_landmarks(videos_dir: Path, name: str, keep_top: float = 1.0):
    """BlazePose (mediapipe) landmarks of every frame of a clip, extracted once per session:
    ``(t, landmarks (T, 33, 4), image_size)``; ``keep_top`` < 1 crops the frames' bottom off
    first (filmed closer: the feet out of frame)."""
    key = (name, keep_top)
    if key not in _CACHE:
        cv2 = pytest.importorskip("cv2")
        from formcheck.device.pose.landmarks import create_estimator, stack_poses

        cap = cv2.VideoCapture(str(videos_dir / name))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        est = create_estimator("mediapipe")
        poses, i = [], 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                frame = np.ascontiguousarray(frame[: round(frame.shape[0] * keep_top)])
                poses.append(est.estimate(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), i / fps))
                i += 1
        finally:
            est.close()
            cap.release()
        assert poses, f"{name}: no frames decoded"
        t, lm = stack_poses(poses)
        _CACHE[key] = (t, lm, poses[0].image_size)
    return _CACHE[key]


@pytest.mark.shared_data
@pytest.mark.parametrize("clip", sorted(REAL))
def test_real_clip_rep_count(videos_dir, clip):
    exercise, n = REAL[clip]
    t, lm, size = real_landmarks(videos_dir, clip)
    reps = count_reps(t, lm, exercise, size)
    assert len(reps) == n, [(round(r.start_t, 2), round(r.end_t, 2), round(r.depth, 2)) for r in reps]
    assert all(r.full for r in reps)  # the demonstrators do full reps
    # reps do not overlap and lie inside the clip
    ends = [0.0] + [r.end_t for r in reps]
    assert all(r.start_t >= e for r, e in zip(reps, ends, strict=False))
    assert reps[-1].end_t <= t[-1]


# The dev clips that show the failure kinds of real footage: (exercise, reps, crop).
REAL_KINDS = {
    "deadlift_oblique_seb.mp4": ("deadlift", 2, 1.0),  # first pull from the floor; a re-set between
    "deadlift_side_jeff-good.mp4": ("deadlift", 1, 1.0),  # one floor-to-lockout pull, cut at lockout
    "deadlift_side_jeff-heellift.mp4": ("deadlift", 1, 1.0),
    "knee_up_side_hacho.mp4": ("knee_up", 4, 1.0),  # alternating legs
    "side_raise_oblique_noor.mp4": ("side_raise", 4, 1.0),  # legs out of frame
    "squat_front.mp4": ("squat", 3, 0.72),  # cropped here: the feet below the frame edge
}


@pytest.mark.shared_data
@pytest.mark.parametrize("clip", sorted(REAL_KINDS))
def test_real_clips_of_each_failure_kind(videos_dir, clip):
    exercise, n, keep = REAL_KINDS[clip]
    t, lm, size = real_landmarks(videos_dir, clip, keep)
    counter = RepCounter(exercise, image_size=size)
    reps, missing = [], set()
    for ti, li in zip(t, lm, strict=True):
        reps += counter.update(ti, li if np.isfinite(li[:, :2]).any() else None)
        missing.update(counter.missing)
    reps += counter.finish()
    assert len(reps) == n, [(round(r.start_t, 2), round(r.end_t, 2), round(r.depth, 2)) for r in reps]
    assert reps == count_reps(t, lm, exercise, size)
    if exercise == "knee_up":
        sides = [r.side for r in reps]
        assert set(sides) == {"left", "right"} and all(a != b for a, b in itertools.pairwise(sides)), sides
    if keep < 1:
        assert "feet" in missing  # said, while the reps were counted
