"""Synthetic exercise motion: a kinematic generator whose output looks like BlazePose on people.

Pipeline per clip (all numpy, vectorised over frames)::

    body (sampled proportions) ─┐
    exercise program ───────────┼─▶ joint-angle / IK tracks ─▶ 3D skeleton (33 BlazePose points)
    faults (per condition) ─────┘                              │
    camera (view, height, distance, tilt, lens, image size) ───┴▶ perspective projection
        ─▶ estimator model (visibility from self-occlusion and framing, correlated jitter,
           left/right swaps, dropouts) ─▶ LandmarkSequence (origin "synthetic")

Exercises are "programs": each builds a rep schedule (tempo, pauses, per-rep range, leading
side, sets with rests between them), turns it into per-frame tracks of the skeleton's degrees
of freedom, and applies each condition's fault with a *severity*: 0 is textbook, values below
:data:`FAULT_THRESHOLD` are the natural variation of correct reps, values from
:data:`FAULT_MIN` up to 1 are faults (mild ones near the boundary on purpose). The label of a
condition is ``severity < FAULT_THRESHOLD``.

Labels (one :class:`~formcheck.device.sequences.LandmarkSequence` per clip and camera):
``exercise`` (an id, or ``"idle"`` for the recogniser's no-exercise class), ``conditions`` (the
exercise's condition names incl. ``rom``) with a bool each, ``correct`` = all true, ``reps`` =
``(first, last)`` frame of each rep (inclusive; ``extra["rep_sides"]`` says which side worked
in one-sided exercises), ``group`` = clip id (all views of one motion), ``subject`` = the
sampled person, ``view`` = the camera's name. ``extra`` adds ``active`` (first/last frame of
each set: frames outside are walking in, resting, adjusting), ``severity`` (the continuous
per-condition value behind each bool), ``camera``, ``body``, ``variant`` (which form a fault
took, e.g. heels vs toes) and ``estimator`` (frames swapped/lost). Couplings between ``rom``
and AI-Hub conditions that mean the same are in :data:`ROM_EQUIVALENT` / :data:`ROM_IMPLIES`.

Determinism: every clip has its own seed derived from (master seed, kind, index), and every
random choice inside a clip comes from named child streams, so a dataset is identical however
many workers make it, and changing one fault's severity changes nothing else about the clip
(body, camera and noise stay the same; tempo too, unless the fault is the tempo) — the tests
rely on that.

Calibration (``formcheck-synth --report``): body proportions, the shank-foot angle, visibility
(far-side limbs side-on get BlazePose's very low values, as on the real side-view clip, so many
side-view frames fall below a 0.2 visibility gate exactly like real ones), jitter (mediapipe's
one-euro landmark smoothing is emulated, so still points are steadier than moving ones) and
BlazePose's exaggerated z were matched against the reference clips.

Geometry conventions: world metres, ``X`` = the person's left, ``Y`` = up, ``Z`` = the
direction they face when standing; floor at ``y = 0``. Camera azimuth 0 is in front of the
person, +45 is their left-front (AI-Hub's "left 45°"), +135 their left-back.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from formcheck.device.exercises import EXERCISE_IDS, EXERCISES, IDLE, ROM
from formcheck.device.pose.landmarks import NUM_LANDMARKS
from formcheck.device.sequences import LandmarkSequence, write_manifest, write_sequences

log = logging.getLogger(__name__)

GENERATOR_VERSION = 3  # 2: upright squat variants, barbell plates; 3: side lunges: knee out over the foot, head free
DEG = math.pi / 180.0

# Severity scale of a condition: below FAULT_THRESHOLD the condition holds (natural variation),
# faults are sampled from FAULT_MIN..1 (the small gap keeps labels learnable, mild faults keep
# them from being trivially separable once camera noise is added).
FAULT_THRESHOLD = 0.25
FAULT_MIN = 0.3
CORRECT_MAX = 0.2

# The five AI-Hub cameras (A..E) by azimuth, plus the side and back views real users film from.
AIHUB_VIEWS: dict[str, float] = {
    "left-135": 135.0, "left-45": 45.0, "front": 0.0, "right-45": -45.0, "right-135": -135.0,
}
EXTRA_VIEWS: dict[str, float] = {"left-90": 90.0, "right-90": -90.0, "back": 180.0}
ALL_VIEWS: dict[str, float] = {**AIHUB_VIEWS, **EXTRA_VIEWS}

KINDS: tuple[str, ...] = (*EXERCISE_IDS, IDLE)

# Exercises whose motion is alternating/one-sided by nature (a rep has a side).
SIDED = ("knee_up", "side_crunch", "side_lunge")
LYING = ("leg_raise",)

# formcheck's ``rom`` condition and an AI-Hub condition that mean the same thing: a rep
# violating one violates the other (knee_up: "bring the knee higher" is the knee's range), and
# those whose false ``rom`` implies the AI-Hub one (a shallow side crunch cannot bring knee and
# elbow together; a shallow side lunge cannot bend the working knee to 90°).
ROM_EQUIVALENT = {"knee_up": "knee_high"}
ROM_IMPLIES = {"side_crunch": "knee_elbow_close", "side_lunge": "working_knee_90"}


# ---------------------------------------------------------------------------------------------
# small math
# ---------------------------------------------------------------------------------------------

def _rot(axis: int, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros((*a.shape, 3, 3))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    R[..., axis, axis] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    if axis == 1:  # about y: x' = x c + z s
        R[..., i, j] = s
        R[..., j, i] = -s
    else:
        R[..., i, j] = -s
        R[..., j, i] = s
    return R


def rx(a):
    """Rotation about x; +a turns +y towards +z (the trunk bends forward)."""
    return _rot(0, a)


def ry(a):
    """Rotation about y (vertical); +a turns +z towards +x (the person's left)."""
    return _rot(1, a)


def rz(a):
    """Rotation about z; +a turns +x towards +y."""
    return _rot(2, a)


def mm(*Rs):
    out = Rs[0]
    for R in Rs[1:]:
        out = np.matmul(out, R)
    return out


def ap(R, v):
    """Apply per-frame rotations ``(T,3,3)`` to a vector ``(3,)`` or vectors ``(T,3)``."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 1:
        return np.einsum("tij,j->ti", R, v)
    return np.einsum("tij,tj->ti", R, v)


def mirror(R, sigma: int):
    """Conjugate by the left/right reflection: the right side's rotation from the left's."""
    if sigma > 0:
        return R
    R = R.copy()
    R[..., 0, 1:] *= -1
    R[..., 1:, 0] *= -1
    return R


def unit(v, fallback=None):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    out = v / np.maximum(n, 1e-12)
    if fallback is not None:
        bad = n[..., 0] < 1e-9
        if np.any(bad):
            out[bad] = np.broadcast_to(fallback, out.shape)[bad]
    return out


def min_jerk(w):
    return w * w * w * (10.0 - 15.0 * w + 6.0 * w * w)


def keyframes(t, times, values, easing=min_jerk):
    """Smoothly interpolate keyframes ``(times[k], values[k])`` at ``t`` (zero velocity at keys)."""
    t = np.asarray(t, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if len(times) == 1:
        return np.broadcast_to(values[0], t.shape + values.shape[1:]).copy()
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    t0, t1 = times[idx], times[idx + 1]
    w = np.clip((t - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)
    w = easing(w)
    v0, v1 = values[idx], values[idx + 1]
    if values.ndim > 1:
        w = w.reshape(w.shape + (1,) * (values.ndim - 1))
    return v0 + (v1 - v0) * w


def smooth_noise(rng, t, sigma, fmax=0.6, fmin=0.05, n=4, shape=()):
    """Band-limited random drift (a sum of random sinusoids): sway, breathing, wander."""
    t = np.asarray(t, dtype=np.float64)
    f = rng.uniform(fmin, fmax, (n, *shape))
    ph = rng.uniform(0, 2 * np.pi, (n, *shape))
    amp = rng.normal(0, 1, (n, *shape))
    tt = t.reshape((1, -1) + (1,) * len(shape))
    s = (amp[:, None] * np.sin(2 * np.pi * f[:, None] * tt + ph[:, None])).sum(0)
    return sigma * s / math.sqrt(n / 2)


def bump(t, center, width):
    """A smooth 0..1..0 bump of total ``width`` seconds centred at ``center``."""
    x = np.clip((np.asarray(t) - center) / max(width, 1e-6) + 0.5, 0.0, 1.0)
    return np.sin(np.pi * x) ** 2


def _stream(ss: np.random.SeedSequence, name: str) -> np.random.Generator:
    """A named child stream: independent of how many other streams were drawn before it."""
    key = zlib.crc32(name.encode())
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, key)))


# ---------------------------------------------------------------------------------------------
# bodies
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Body:
    """A person's proportions in metres (segment lengths between BlazePose landmarks)."""

    id: str
    sex: str
    height: float
    thigh: float
    shank: float
    upper_arm: float
    forearm: float
    hand: float
    foot: float
    ankle_h: float
    hip_w: float  # distance between the two hip landmarks
    shoulder_w: float  # distance between the two shoulder landmarks
    lumbar: float
    thoracic: float
    head: float  # head size scale (1 = average)
    girth: float  # limb/torso thickness scale for occlusion (1 = average)

    @property
    def leg(self) -> float:
        return self.thigh + self.shank

    @property
    def torso(self) -> float:
        """Hip midpoint to shoulder midpoint when upright."""
        return self.lumbar + self.thoracic - 0.015 * self.height


# Segment lengths as fractions of stature (Winter's / Drillis-Contini tables, adjusted to where
# BlazePose puts its landmarks: shoulders at the joint, hips wider than the joint centres),
# mean for (male, female); each person draws each ratio with ~3% spread.
_RATIOS = {
    "thigh": (0.257, 0.259), "shank": (0.252, 0.249), "upper_arm": (0.174, 0.170),
    "forearm": (0.150, 0.145), "hand": (0.108, 0.105), "foot": (0.152, 0.148),
    "hip_w": (0.142, 0.156), "shoulder_w": (0.232, 0.216), "torso": (0.276, 0.273),
}


def sample_body(rng: np.random.Generator, body_id: str) -> Body:
    sex = "female" if rng.random() < 0.5 else "male"
    k = 1 if sex == "female" else 0
    h = rng.normal(163.0, 6.5) if k else rng.normal(176.5, 7.0)
    h = float(np.clip(h, 150.0, 195.0)) / 100.0
    r = {name: m[k] * float(np.clip(rng.normal(1.0, 0.03), 0.91, 1.09)) for name, m in _RATIOS.items()}
    torso = r["torso"] * h
    span = torso + 0.015 * h
    lumbar_share = rng.uniform(0.42, 0.48)
    return Body(
        id=body_id, sex=sex, height=h,
        thigh=r["thigh"] * h, shank=r["shank"] * h, upper_arm=r["upper_arm"] * h,
        forearm=r["forearm"] * h, hand=r["hand"] * h, foot=r["foot"] * h, ankle_h=0.047 * h,
        hip_w=r["hip_w"] * h, shoulder_w=r["shoulder_w"] * h,
        lumbar=lumbar_share * span, thoracic=(1 - lumbar_share) * span,
        head=float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)),
        girth=float(rng.uniform(0.85, 1.2)),
    )


DEFAULT_BODIES = 256


@functools.lru_cache(maxsize=8)
def body_pool(master_seed: int, n: int = DEFAULT_BODIES) -> list[Body]:
    """The dataset's people: clips draw a body from this pool, so subjects repeat across clips
    (and grouped splits by subject mean something)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([master_seed, 7919, i]))
        out.append(sample_body(rng, f"synth-s{master_seed}-b{i:04d}"))
    return out


# ---------------------------------------------------------------------------------------------
# motion tracks and the skeleton
# ---------------------------------------------------------------------------------------------

class Motion:
    """Per-frame tracks of the skeleton's degrees of freedom (radians, metres).

    Scalars default to 0. Vector tracks: ``root`` (pelvis centre), ``{s}_toe`` (planted foot's
    toe point), ``{s}_knee_pole`` (a planted leg's knee direction in world axes; default: where
    the toes point), ``{s}_hand_local``/``{s}_pole_local`` (arm IK target and elbow direction in
    the trunk frame). ``s`` is ``l`` or ``r``.
    """

    def __init__(self, t: np.ndarray):
        self.t = np.asarray(t, dtype=np.float64)
        self.T = len(self.t)
        self.d: dict[str, np.ndarray] = {}
        self.arm_ik = {"l": False, "r": False}

    def __getitem__(self, k: str) -> np.ndarray:
        v = self.d.get(k)
        return np.zeros(self.T) if v is None else v

    def __setitem__(self, k: str, v) -> None:
        v = np.asarray(v, dtype=np.float64)
        if v.ndim == 0:
            v = np.full(self.T, float(v))
        self.d[k] = v

    def add(self, k: str, v) -> None:
        self[k] = self[k] + np.asarray(v, dtype=np.float64)


def ik2(a, c, l1, l2, pole):
    """Two-bone IK: joint between ``a`` and ``c`` (segment lengths l1, l2) on ``pole``'s side.

    Returns ``(joint, reachable_end)``; an end out of reach is pulled in along the line."""
    d = c - a
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / np.maximum(dist, 1e-9)
    dist_c = np.clip(dist, abs(l1 - l2) * 1.01 + 1e-4, (l1 + l2) * 0.9995)
    end = a + u * dist_c
    x = (l1 * l1 - l2 * l2 + dist_c ** 2) / (2 * dist_c)
    h = np.sqrt(np.maximum(l1 * l1 - x * x, 0.0))
    v = pole - np.sum(pole * u, axis=-1, keepdims=True) * u
    v = unit(v, fallback=np.array([0.0, 0.0, 1.0]))
    return a + u * x + v * h, end


def rotate_about(v, axis, ang):
    """Rodrigues rotation of vectors ``v`` about unit ``axis`` by ``ang`` (per frame)."""
    ang = np.asarray(ang)[..., None]
    return v * np.cos(ang) + np.cross(axis, v) * np.sin(ang) + axis * np.sum(axis * v, -1, keepdims=True) * (1 - np.cos(ang))


# Foot geometry (fractions of foot length / stature) where BlazePose puts ankle, heel and
# foot_index: the toe point sits short of the toe tip, so the shank-foot angle of a standing
# person comes out ~115 degrees as on real clips.
FOOT_FWD, FOOT_BACK = 0.6, 0.26
TOE_H, HEEL_H = 0.008, 0.012

# BlazePose indices
NOSE, L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 0, 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KN, R_KN, L_AN, R_AN, L_HEEL, R_HEEL, L_FT, R_FT = 23, 24, 25, 26, 27, 28, 29, 30, 31, 32

# Face points relative to the ear midpoint, in fractions of stature (left side; right mirrors x).
_FACE = {
    0: (0.0, -0.005, 0.055),
    1: (0.009, 0.012, 0.050), 2: (0.019, 0.012, 0.048), 3: (0.027, 0.012, 0.043),
    4: (-0.009, 0.012, 0.050), 5: (-0.019, 0.012, 0.048), 6: (-0.027, 0.012, 0.043),
    7: (0.042, 0.0, 0.0), 8: (-0.042, 0.0, 0.0),
    9: (0.013, -0.025, 0.050), 10: (-0.013, -0.025, 0.050),
}


@dataclass
class Skeleton:
    points: np.ndarray  # (T, 33, 3) world metres
    capsules: list  # [(p0 (T,3), p1 (T,3), radius, attached landmark ids)]
    head_center: np.ndarray
    facing: np.ndarray  # (T, 3) unit vector the chest faces


def build_skeleton(b: Body, m: Motion) -> Skeleton:
    """World positions of the 33 BlazePose landmarks for every frame of ``m``."""
    T, H = m.T, b.height
    P = np.zeros((T, NUM_LANDMARKS, 3))
    Rp = mm(ry(m["yaw"]), rx(m["pitch"]), rz(-m["roll"]))
    root = m.d.get("root")
    if root is None:
        root = np.tile([0.0, b.ankle_h + b.leg * 0.995, 0.0], (T, 1))

    # spine: lumbar then thoracic segment, each taking half of the side bend and the twist
    base = root + ap(Rp, [0.0, 0.0, -0.02 * H])
    Rl = mm(Rp, rx(m["lumbar_flex"]), rz(-0.5 * m["lat_bend"]), ry(0.5 * m["twist"]))
    mid = base + ap(Rl, [0.0, b.lumbar, 0.0])
    Rt = mm(Rl, rx(m["thor_flex"]), rz(-0.5 * m["lat_bend"]), ry(0.5 * m["twist"]))
    neck = mid + ap(Rt, [0.0, b.thoracic, 0.02 * H])

    # head
    hs = b.head * H
    pivot = neck + ap(Rt, [0.0, 0.043 * H, 0.01 * H])
    Rh = mm(Rt, rx(m["neck_flex"]), ry(m["neck_rot"]), rz(-m["neck_tilt"]))
    ears = pivot + ap(Rh, [0.0, 0.06 * hs, 0.0])
    for i, off in _FACE.items():
        P[:, i] = ears + ap(Rh, np.array(off) * hs)

    capsules = []
    hip_mid = root
    sh_pts = {}
    for s, sg in (("l", 1), ("r", -1)):
        loc = np.stack([np.full(T, sg * b.shoulder_w / 2), -0.015 * H + m[f"{s}_elev"], m[f"{s}_prot"]], -1)
        sh = neck + ap(Rt, loc)
        sh_pts[s] = sh
        if m.arm_ik[s]:
            target = neck + ap(Rt, m[f"{s}_hand_local"])
            pole = ap(Rt, m[f"{s}_pole_local"])
            elbow, wrist = ik2(sh, target, b.upper_arm, b.forearm, pole)
            dirn = unit(wrist - sh)
            pp = pole - np.sum(pole * dirn, -1, keepdims=True) * dirn
            xaxis = -unit(np.cross(unit(pp, np.array([0, 0, -1.0])), dirn), np.array([1.0, 0, 0]))
        else:
            Rua = mm(Rt, mirror(mm(rz(m[f"{s}_sh_abd"]), rx(-m[f"{s}_sh_flex"]), ry(m[f"{s}_sh_rot"])), sg))
            elbow = sh + b.upper_arm * ap(Rua, [0.0, -1.0, 0.0])
            Rfa = mm(Rua, rx(-m[f"{s}_el_flex"]))
            wrist = elbow + b.forearm * ap(Rfa, [0.0, -1.0, 0.0])
            xaxis = ap(Rua, [1.0, 0.0, 0.0])
        a = unit(wrist - elbow)
        palm0 = unit(np.cross(xaxis, -a))
        thumb0 = sg * xaxis
        ph = m[f"{s}_pron"][:, None]
        palm = np.cos(ph) * palm0 - np.sin(ph) * thumb0
        thumb = np.cos(ph) * thumb0 + np.sin(ph) * palm0
        wf, wd = m[f"{s}_wr_flex"][:, None], m[f"{s}_wr_dev"][:, None]
        hand = unit(np.cos(wf) * np.cos(wd) * a + np.sin(wf) * palm + np.sin(wd) * thumb)
        hl = b.hand / (0.108 * H)  # this person's hand relative to the average one
        P[:, L_SH if sg > 0 else R_SH] = sh
        P[:, L_EL if sg > 0 else R_EL] = elbow
        P[:, L_WR if sg > 0 else R_WR] = wrist
        P[:, 17 if sg > 0 else 18] = wrist + H * hl * (0.034 * hand - 0.014 * thumb)  # pinky
        P[:, 19 if sg > 0 else 20] = wrist + H * hl * (0.040 * hand + 0.008 * thumb)  # index
        P[:, 21 if sg > 0 else 22] = wrist + H * hl * (0.022 * hand + 0.020 * thumb + 0.008 * palm)
        g = b.girth
        ids_ua = (11, 13) if sg > 0 else (12, 14)
        ids_fa = (13, 15, 17, 19, 21) if sg > 0 else (14, 16, 18, 20, 22)
        capsules.append((sh, elbow, 0.026 * H * g, ids_ua))
        capsules.append((elbow, wrist, 0.019 * H * g, ids_fa))

    # legs: planted feet (toe on the floor, heel rise about the toe) blended with free FK legs
    ah, th, hh = b.ankle_h, TOE_H * H, HEEL_H * H
    fa, fb = FOOT_FWD * b.foot, FOOT_BACK * b.foot  # ankle to toe / to heel, horizontally
    for s, sg in (("l", 1), ("r", -1)):
        hip = root + ap(Rp, [sg * b.hip_w / 2, 0.0, 0.0])
        toe = m.d.get(f"{s}_toe")
        if toe is None:
            toe = np.tile([sg * b.hip_w / 2, th, fa], (T, 1))
        psi = m[f"{s}_foot_yaw"]
        Rf = mm(ry(psi), rx(m[f"{s}_heel_rise"]))
        ankle_p = toe + ap(Rf, [0.0, ah - th, -fa])
        heel_p = toe + ap(Rf, [0.0, hh - th, -(fa + fb)])
        toe_p = toe.copy()
        tr = m[f"{s}_toe_rise"]
        if np.any(tr != 0):  # rocking back onto the heel: rotate about the heel point
            axis = ap(ry(psi), [1.0, 0.0, 0.0])
            ankle_p = heel_p + rotate_about(ankle_p - heel_p, axis, -tr)
            toe_p = heel_p + rotate_about(toe_p - heel_p, axis, -tr)
        fwd_p = ap(ry(psi), [0.0, 0.0, 1.0])
        if f"{s}_knee_pole" in m.d:
            fwd_p = unit(m[f"{s}_knee_pole"])

        w = m[f"{s}_free"]
        if np.any(w > 0):
            Rth = mm(Rp, mirror(mm(rz(m[f"{s}_hip_abd"]), rx(-m[f"{s}_hip_flex"]), ry(m[f"{s}_hip_rot"])), sg))
            knee_f = hip + b.thigh * ap(Rth, [0.0, -1.0, 0.0])
            Rsh = mm(Rth, rx(m[f"{s}_knee_flex"]))
            ankle_f = knee_f + b.shank * ap(Rsh, [0.0, -1.0, 0.0])
            Rft = mm(Rsh, rx(-m[f"{s}_ank_flex"]))
            toe_f = ankle_f + ap(Rft, [0.0, th - ah, fa])
            heel_f = ankle_f + ap(Rft, [0.0, hh - ah, -fb])
            ww = w[:, None]
            ankle_t = (1 - ww) * ankle_p + ww * ankle_f
            toe_t = (1 - ww) * toe_p + ww * toe_f
            heel_t = (1 - ww) * heel_p + ww * heel_f
            pole_f = knee_f - hip
            pole = (1 - ww) * fwd_p + ww * unit(pole_f)
        else:
            ankle_t, toe_t, heel_t, pole = ankle_p, toe_p, heel_p, fwd_p
        # knees caving in (valgus, +) or pushed out (-): rotate the pole about the hip-ankle line
        u = unit(ankle_t - hip)
        pole = pole - np.sum(pole * u, -1, keepdims=True) * u
        pole = rotate_about(unit(pole, np.array([0, 0, 1.0])), u, sg * m[f"{s}_knee_in"])
        knee, ankle = ik2(hip, ankle_t, b.thigh, b.shank, pole)
        shift = ankle - ankle_t
        iH, iK, iA = (L_HIP, L_KN, L_AN) if sg > 0 else (R_HIP, R_KN, R_AN)
        P[:, iH] = hip
        P[:, iK] = knee
        P[:, iA] = ankle
        P[:, L_HEEL if sg > 0 else R_HEEL] = heel_t + shift
        P[:, L_FT if sg > 0 else R_FT] = toe_t + shift
        g = b.girth
        capsules.append((hip, knee, 0.040 * H * g, (iH, iK)))
        capsules.append((knee, ankle, 0.026 * H * g, (iK, iA, iA + 2, iA + 4)))

    # the trunk: a central capsule plus two flanking ones (a flattened box, ~35x22 cm)
    g = b.girth
    for sh_i, hip_i in ((L_SH, L_HIP), (R_SH, R_HIP)):
        h0 = hip_mid + 0.55 * (P[:, hip_i] - hip_mid)
        s0 = neck + 0.55 * (P[:, sh_i] - neck)
        capsules.append((h0, s0, 0.05 * H * g, (11, 12, 23, 24)))
    capsules.append((hip_mid, neck, 0.06 * H * g, (11, 12, 23, 24)))
    capsules.append((ears, ears + 1e-6, 0.062 * hs, tuple(range(11))))
    facing = ap(Rt, [0.0, 0.0, 1.0])
    return Skeleton(P, capsules, ears, facing)


# ---------------------------------------------------------------------------------------------
# rep schedules
# ---------------------------------------------------------------------------------------------

@dataclass
class Rep:
    start: float
    peak0: float
    peak1: float
    end: float
    side: int = 0  # +1 left, -1 right, 0 both
    amp: float = 1.0
    rest_before: float = 0.0  # activation level the rep starts from
    rest_after: float = 0.0


@dataclass
class Schedule:
    reps: list[Rep]
    duration: float
    active: list[tuple[float, float]]  # exercising spans (sets), seconds
    rests: list[tuple[float, float]] = field(default_factory=list)  # idle spans

    def activation(self, t, side: int | None = None, amp_scale=None) -> np.ndarray:
        """0 at rest, ``rep.amp`` at the peak; ``side`` keeps only that side's reps."""
        times, vals = [0.0], [0.0]
        for i, r in enumerate(self.reps):
            if side is not None and r.side not in (side, 0):
                continue
            amp = r.amp * (amp_scale[i] if amp_scale is not None else 1.0)
            if r.start > times[-1]:
                times.append(r.start)
                vals.append(r.rest_before if side is None or r.side == 0 else 0.0)
            times += [r.peak0, r.peak1, r.end]
            vals += [amp, amp, r.rest_after if side is None or r.side == 0 else 0.0]
        times.append(max(self.duration, times[-1]) + 1.0)
        vals.append(0.0)
        return keyframes(t, times, vals)

    def phase_masks(self, t):
        """``(out, back)``: 0..1 weights of being in a rep's way out (0 -> peak) and back."""
        t = np.asarray(t)
        out = np.zeros(len(t))
        back = np.zeros(len(t))
        for r in self.reps:
            out[(t >= r.start) & (t < r.peak0)] = 1.0
            back[(t >= r.peak1) & (t <= r.end)] = 1.0
        return out, back

    def in_set(self, t) -> np.ndarray:
        t = np.asarray(t)
        m = np.zeros(len(t))
        for a, b in self.active:
            m[(t >= a) & (t <= b)] = 1.0
        return m


@dataclass
class Tempo:
    out: tuple[float, float]  # seconds from rest to peak
    top: tuple[float, float]  # hold at the peak
    back: tuple[float, float]  # peak back to rest
    rest: tuple[float, float]  # pause between reps
    reps: tuple[int, int]


TEMPO: dict[str, Tempo] = {
    "barbell_curl": Tempo((0.7, 1.8), (0.0, 0.5), (0.9, 2.4), (0.0, 0.8), (3, 12)),
    "deadlift": Tempo((1.0, 2.4), (0.0, 0.5), (0.9, 2.2), (0.1, 1.5), (2, 8)),
    "knee_up": Tempo((0.4, 1.1), (0.0, 0.5), (0.5, 1.3), (0.0, 0.8), (4, 14)),
    "leg_raise": Tempo((1.0, 2.4), (0.0, 0.6), (1.2, 2.8), (0.0, 0.8), (3, 12)),
    "overhead_press": Tempo((0.8, 1.8), (0.0, 0.6), (0.9, 2.2), (0.1, 1.0), (3, 10)),
    "side_crunch": Tempo((0.5, 1.3), (0.0, 0.5), (0.5, 1.4), (0.0, 0.7), (4, 14)),
    "side_lunge": Tempo((1.0, 2.2), (0.1, 0.8), (0.9, 2.0), (0.1, 1.0), (2, 10)),
    "side_raise": Tempo((0.8, 1.7), (0.0, 0.6), (1.0, 2.3), (0.0, 0.8), (3, 12)),
    "squat": Tempo((1.0, 2.3), (0.0, 0.6), (0.8, 2.0), (0.1, 1.2), (3, 10)),
}


def build_schedule(rng, ex: str, *, n_reps: int | None = None, sides: str = "both",
                   back_scale: float = 1.0, amp_range=(0.9, 1.05), max_duration: float = 40.0) -> Schedule:
    """A clip's timeline: lead-in idle, one or two sets of reps (rest in between), lead-out.

    All random draws happen whatever the arguments (so faults never change other draws).
    ``sides``: both | left | right | alternate. ``back_scale`` < 1 makes the return phase fast
    (the "uncontrolled lowering" faults)."""
    tp = TEMPO[ex]
    n = int(rng.integers(tp.reps[0], tp.reps[1] + 1))
    if n_reps is not None:
        n = n_reps
    base_out = rng.uniform(*tp.out)
    base_back = rng.uniform(*tp.back)
    base_top = rng.uniform(*tp.top)
    base_rest = rng.uniform(*tp.rest)
    jit = rng.normal(0, 0.1, (64, 4))
    amps = rng.uniform(*amp_range, 64)
    fatigue = rng.uniform(0.0, 0.25)  # later reps slower
    two_sets = rng.random() < 0.2
    set_rest = rng.uniform(2.0, 6.0)
    lead_in = rng.uniform(0.3, 2.5) if rng.random() < 0.85 else 0.0
    lead_out = rng.uniform(0.3, 2.0) if rng.random() < 0.8 else 0.0
    first_side = 1 if rng.random() < 0.5 else -1
    split = int(rng.integers(1, max(2, n)))

    reps: list[Rep] = []
    active, rests = [], []
    t = lead_in
    set_start = t
    for i in range(n):
        if two_sets and i == split and 0 < i < n:
            active.append((set_start, t))
            rests.append((t, t + set_rest))
            t += set_rest
            set_start = t
        k = 1.0 + fatigue * i / max(n - 1, 1)
        d_out = max(0.25, base_out * k * (1 + jit[i % 64, 0]))
        d_top = max(0.0, base_top * (1 + jit[i % 64, 1]))
        d_back = max(0.15, base_back * k * (1 + jit[i % 64, 2]) * back_scale)
        d_rest = max(0.0, base_rest * (1 + jit[i % 64, 3]))
        if sides == "alternate":
            side = first_side if i % 2 == 0 else -first_side
        elif sides == "left":
            side = 1
        elif sides == "right":
            side = -1
        else:
            side = 0
        reps.append(Rep(t, t + d_out, t + d_out + d_top, t + d_out + d_top + d_back, side, float(amps[i % 64])))
        t = reps[-1].end + (d_rest if i < n - 1 else 0.0)
        if t > max_duration - lead_out and i >= 1:
            break
    active.append((set_start, reps[-1].end))
    duration = reps[-1].end + lead_out
    return Schedule(reps, duration, active, rests)


# ---------------------------------------------------------------------------------------------
# clip context: body, severities, random streams
# ---------------------------------------------------------------------------------------------

@dataclass
class ClipContext:
    kind: str
    body: Body
    severity: dict[str, float]  # condition key -> severity (see FAULT_THRESHOLD)
    ss: np.random.SeedSequence
    fps: float
    drop_rate: float
    variant: dict = field(default_factory=dict)  # program choices (reported in extra)

    def rng(self, name: str) -> np.random.Generator:
        return _stream(self.ss, name)

    def sev(self, key: str) -> float:
        return float(self.severity.get(key, 0.0))

    def fault_rng(self, key: str) -> np.random.Generator:
        return _stream(self.ss, "fault:" + key)

    def times(self, duration: float) -> np.ndarray:
        """Frame timestamps: nominal fps with capture jitter and, on slow devices, dropped frames."""
        rng = self.rng("frames")
        dt = 1.0 / self.fps
        n = max(2, int(duration / dt) + 1)
        t = np.arange(n) * dt + rng.normal(0, 0.04 * dt, n)
        t[0] = 0.0
        keep = rng.random(n) >= self.drop_rate
        keep[0] = keep[-1] = True
        t = np.sort(t[keep])
        return np.maximum.accumulate(t + np.arange(len(t)) * 1e-6)


def rep_frames(t: np.ndarray, reps: list[Rep]) -> list[tuple[int, int]]:
    """Each rep's (first frame, last frame), inclusive, from its start and end times."""
    out = []
    for r in reps:
        s = int(np.searchsorted(t, r.start, side="left"))
        e = int(np.searchsorted(t, r.end, side="right")) - 1
        s = min(max(s, 0), len(t) - 1)
        e = min(max(e, s), len(t) - 1)
        out.append((s, e))
    return out


# ---------------------------------------------------------------------------------------------
# shared posture helpers
# ---------------------------------------------------------------------------------------------

def stand_feet(m: Motion, b: Body, half_width: float, toe_out: float, z: float = 0.0):
    """Plant both feet: toe points on the floor at +/- ``half_width`` (ankle separation)."""
    fa = FOOT_FWD * b.foot
    th = TOE_H * b.height
    for s, sg in (("l", 1), ("r", -1)):
        psi = sg * toe_out
        ankle_x = sg * half_width
        toe = np.array([ankle_x + fa * math.sin(psi), th, z + fa * math.cos(psi)])
        m[f"{s}_toe"] = np.tile(toe, (m.T, 1))
        m[f"{s}_foot_yaw"] = psi


def sagittal_root(b: Body, half_width: float, knee_flex, shank_tilt, z_ankle: float = 0.0):
    """Pelvis centre for a symmetric planted stance from knee flexion and shank tilt.

    The legs are slanted when the feet are wider than the hips; their sagittal projection is
    shortened accordingly."""
    lat = max(half_width - b.hip_w / 2, 0.0)
    f = math.sqrt(max(1.0 - (lat / b.leg) ** 2, 0.5))
    beta = np.asarray(shank_tilt)
    kappa = np.asarray(knee_flex)
    y = b.ankle_h + f * (b.shank * np.cos(beta) + b.thigh * np.cos(beta - kappa))
    zz = z_ankle + f * (b.shank * np.sin(beta) + b.thigh * np.sin(beta - kappa))
    return np.stack([np.zeros_like(y), y, zz], -1)


def lean_for_balance(b: Body, root, target_z) -> np.ndarray:
    """Trunk angle from vertical that puts the shoulders over ``target_z`` (the bar over the
    mid-foot), given the pelvis position."""
    s = (np.asarray(target_z) - root[:, 2]) / b.torso
    return np.arcsin(np.clip(s, -0.35, 0.97))


def arms_hanging(m: Motion, rng, *, abd=(4, 12), flex=(-4, 6), el=(5, 18), pron=(60, 100)):
    for s in ("l", "r"):
        m[f"{s}_sh_abd"] = rng.uniform(*abd) * DEG
        m[f"{s}_sh_flex"] = rng.uniform(*flex) * DEG
        m[f"{s}_el_flex"] = rng.uniform(*el) * DEG
        m[f"{s}_pron"] = rng.uniform(*pron) * DEG


def add_life(m: Motion, rng, b: Body, scale: float = 1.0):
    """Postural sway, breathing and small head/arm wander: nobody stands perfectly still."""
    t = m.t
    H = b.height
    if "root" in m.d:
        # postural sway about the ankles (the knees keep their angle): small horizontal drift
        # of the pelvis with the drop that keeps the legs' length
        sx = smooth_noise(rng, t, 0.0025 * H * scale, 0.5)
        sz = smooth_noise(rng, t, 0.004 * H * scale, 0.5)
        sway = np.stack([sx, -(sx ** 2 + sz ** 2) / (2 * b.leg), sz], -1)
        m["root"] = m["root"] + sway
    else:
        for _ in range(3):
            smooth_noise(rng, t, 0.0)
    br = rng.uniform(0.2, 0.35)
    m.add("thor_flex", 0.6 * DEG * np.sin(2 * np.pi * br * t) * scale)
    m.add("neck_flex", smooth_noise(rng, t, 3.0 * DEG * scale, 0.4))
    m.add("neck_rot", smooth_noise(rng, t, 4.0 * DEG * scale, 0.3))
    m.add("neck_tilt", smooth_noise(rng, t, 1.5 * DEG * scale, 0.3))
    m.add("lat_bend", smooth_noise(rng, t, 1.0 * DEG * scale, 0.4))
    m.add("twist", smooth_noise(rng, t, 1.5 * DEG * scale, 0.3))
    m.add("lumbar_flex", smooth_noise(rng, t, 1.0 * DEG * scale, 0.3))
    for s in ("l", "r"):
        m.add(f"{s}_sh_flex", smooth_noise(rng, t, 2.0 * DEG * scale, 0.6))
        m.add(f"{s}_sh_abd", smooth_noise(rng, t, 1.5 * DEG * scale, 0.6))
        m.add(f"{s}_el_flex", smooth_noise(rng, t, 2.0 * DEG * scale, 0.6))
        m.add(f"{s}_wr_flex", smooth_noise(rng, t, 4.0 * DEG * scale, 0.6))
        m.add(f"{s}_wr_dev", smooth_noise(rng, t, 3.0 * DEG * scale, 0.6))


def idle_gesture(m: Motion, rng, b: Body, spans, arms_free: bool = True):
    """Between sets and before/after them: adjust clothes/hair, roll shoulders, look around,
    shake out the arms. Additive on the current posture, inside the given idle ``spans``."""
    t = m.t
    for a0, a1 in spans:
        if a1 - a0 < 0.8:
            rng.random(6)
            continue
        kind = rng.choice(["look", "shrug", "adjust", "shake", "none", "touch_face"])
        c = rng.uniform(a0 + 0.4, a1 - 0.4)
        w = min(rng.uniform(0.8, 2.2), a1 - a0)
        env = bump(t, c, w)
        side = "l" if rng.random() < 0.5 else "r"
        mag = rng.uniform(0.5, 1.0)
        if kind == "look":
            m.add("neck_rot", env * mag * rng.choice([-1, 1]) * 40 * DEG)
            m.add("twist", env * mag * rng.choice([-1, 1]) * 8 * DEG)
        elif kind == "shrug":
            for s in ("l", "r"):
                m.add(f"{s}_elev", env * mag * 0.03 * b.height)
        elif kind == "shake":
            osc = np.sin(2 * np.pi * 3.0 * t) * env
            for s in ("l", "r"):
                if not m.arm_ik[s]:
                    m.add(f"{s}_sh_abd", osc * mag * 10 * DEG)
                    m.add(f"{s}_el_flex", np.abs(osc) * mag * 20 * DEG)
        elif kind in ("adjust", "touch_face") and arms_free and not m.arm_ik[side]:
            lift = 100 if kind == "touch_face" else 35
            m.add(f"{side}_sh_flex", env * mag * lift * DEG)
            m.add(f"{side}_el_flex", env * mag * (110 if kind == "touch_face" else 70) * DEG)
            m.add(f"{side}_sh_abd", env * mag * 10 * DEG)


# ---------------------------------------------------------------------------------------------
# exercise programs
# ---------------------------------------------------------------------------------------------

def lagged(t, x, dt: float):
    """``x`` delayed by ``dt`` seconds (negative: ahead): one arm leading the other."""
    return np.interp(t - dt, t, x)


def _sev_pick(ctx: ClipContext, key: str, variants: list[tuple[str, float]]) -> str:
    """A fault's variant (e.g. rounding vs over-arching), from the fault's own stream."""
    rng = ctx.fault_rng(key + ":variant")
    names, w = zip(*variants, strict=True)
    w = np.asarray(w, float) / sum(w)
    v = str(rng.choice(names, p=w))
    if ctx.sev(key) >= FAULT_THRESHOLD:
        ctx.variant[key] = v
    return v


def _fr(ctx: ClipContext, key: str, lo: float, hi: float) -> float:
    """A fault's magnitude at full severity, drawn from the fault's own stream."""
    return float(ctx.fault_rng(key).uniform(lo, hi))


def prog_squat(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sch = build_schedule(ctx.rng("timing"), "squat")
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    _out_m, back_m = sch.phase_masks(t)

    half_w = b.hip_w / 2 * rng.uniform(1.05, 1.7)
    toe_out = rng.uniform(5, 30) * DEG
    stand_feet(m, b, half_w, toe_out)
    depth = rng.uniform(95, 140) * DEG  # knee flexion at the bottom (interior 40..85)
    rom = 1.0 - 0.6 * ctx.sev(ROM)  # go deeper: 0.82..0.4 of the full depth
    kappa = np.radians(4) + a * (depth * rom - np.radians(4))
    # how the load is held sets the trunk: a low bar needs the most lean, a front rack, a goblet
    # or arms held forward keep the trunk upright with the knees far over the toes
    bar = str(rng.choice(["high", "low", "front", "goblet", "arms_forward"], p=[0.35, 0.2, 0.15, 0.1, 0.2]))
    ctx.variant["bar"] = bar
    shank = {"high": (18, 36), "low": (14, 28), "front": (22, 42), "goblet": (20, 40), "arms_forward": (16, 38)}[bar]
    beta = np.radians(2) + a * rng.uniform(*shank) * DEG * rom ** 0.5
    root = sagittal_root(b, half_w, kappa, beta)
    # where the shoulders sit over the mid-foot: behind it when the load (or the arms) is in front
    ahead = {"high": 0.01, "low": 0.03, "front": -0.03, "goblet": -0.025, "arms_forward": -0.03}[bar]
    target = 0.25 * b.foot + ahead * H + rng.uniform(-0.02, 0.02) * H
    lean = lean_for_balance(b, root, target)
    lean = np.maximum(lean, 0.0)

    # back: the lean is mostly hip hinge, a little spine; faults round or over-arch the spine
    s_back = ctx.sev("back_neutral")
    v_back = _sev_pick(ctx, "back_neutral", [("round", 0.65), ("overarch", 0.35)])
    spine_share = rng.uniform(0.05, 0.15)
    m["pitch"] = lean * (1 - spine_share)
    m["lumbar_flex"] = lean * spine_share * 0.4 + rng.uniform(-6, 2) * DEG
    m["thor_flex"] = lean * spine_share * 0.6
    if v_back == "round":
        r = s_back * _fr(ctx, "back_neutral", 25, 45) * DEG * a ** 1.5
        m.add("lumbar_flex", 0.55 * r)
        m.add("thor_flex", 0.45 * r)
        m.add("pitch", -0.35 * r)  # less hinge at the hip, more curl in the spine
        m.add("neck_flex", 0.2 * r)
    else:
        r = s_back * _fr(ctx, "back_neutral", 15, 25) * DEG
        m.add("pitch", r * (0.5 + a))  # chest drops: excessive forward lean
        m.add("lumbar_flex", -0.8 * r * (0.4 + a))  # with an over-arched lower back
    # head: gaze forward means the neck extends against the trunk lean
    head_k = rng.uniform(0.35, 0.8)
    m["neck_flex"] = m["neck_flex"] - head_k * lean + rng.uniform(-5, 8) * DEG
    s_head = ctx.sev("head_forward")
    v_head = _sev_pick(ctx, "head_forward", [("down", 0.7), ("up", 0.3)])
    hm = _fr(ctx, "head_forward", 35, 55) * DEG * s_head
    if v_head == "down":
        m.add("neck_flex", hm * (0.4 + 0.6 * a) + 0.6 * head_k * lean * s_head)
    else:
        m.add("neck_flex", -hm * (0.3 + 0.7 * a))
    # knees: track over the toes; the fault caves them in, most on the way up
    s_knee = ctx.sev("knees_in_line")
    valgus = s_knee * _fr(ctx, "knees_in_line", 20, 40) * DEG * a * (0.7 + 0.5 * back_m)
    valgus += rng.uniform(-3, 3) * DEG * a
    asym = rng.uniform(0.75, 1.0)
    side_first = rng.random() < 0.5
    m["l_knee_in"] = valgus * (asym if side_first else 1.0)
    m["r_knee_in"] = valgus * (1.0 if side_first else asym)
    # heels: rise at depth (weight forward onto the toes)
    s_heel = ctx.sev("heels_down")
    heel = s_heel * _fr(ctx, "heels_down", 10, 28) * DEG * np.clip(a * 1.25 - 0.1, 0, 1) ** 1.2
    m["l_heel_rise"] = heel
    m["r_heel_rise"] = heel * rng.uniform(0.85, 1.0)
    m["root"] = root
    # arms: bar on the back (hands by the shoulders), front rack, a goblet held at the chest, or
    # bodyweight with the arms forward (raised as the hips go down)
    grip = rng.uniform(0.14, 0.21) * H
    reach = rng.uniform(0.24, 0.29) * H
    for s, sg in (("l", 1), ("r", -1)):
        if bar == "front":
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([sg * 0.11 * H, -0.01 * H, 0.07 * H], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 0.3, -0.3, 1.0], (m.T, 1))
        elif bar == "goblet":
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([sg * 0.03 * H, -0.08 * H, 0.15 * H], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 0.6, -1.0, 0.0], (m.T, 1))
        elif bar == "arms_forward":
            m.arm_ik[s] = True
            drop = (0.25 - 0.2 * a) * H * rng.uniform(0.6, 1.0)  # hands from the thighs up to shoulder height
            hand = np.stack([np.full(m.T, sg * 0.1 * H), -0.03 * H - drop, reach * (0.55 + 0.45 * a)], -1)
            m[f"{s}_hand_local"] = hand
            m[f"{s}_pole_local"] = np.tile([sg * 0.8, -1.0, -0.2], (m.T, 1))
        else:
            m.arm_ik[s] = True
            low = -0.025 * H if bar == "low" else 0.0
            m[f"{s}_hand_local"] = np.tile([sg * grip, 0.01 * H + low, -0.05 * H], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 0.5, -1.0, -0.5], (m.T, 1))
        m[f"{s}_pron"] = 170 * DEG
    add_life(m, rng, b, 0.7)
    idle_gesture(m, ctx.rng("idle"), b, _idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def prog_deadlift(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng = ctx.body, ctx.rng("style")
    sch = build_schedule(ctx.rng("timing"), "deadlift")
    # rom: the lockout is incomplete between reps (hips and knees stay bent)
    s_rom = ctx.sev(ROM)
    lock = (s_rom * _fr(ctx, ROM, 0.35, 0.55)) if s_rom > 0 else 0.0
    for i, r in enumerate(sch.reps):
        r.rest_before = lock if i > 0 else 0.0
        r.rest_after = lock if i < len(sch.reps) - 1 else 0.0
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    _out_m, back_m = sch.phase_masks(t)
    half_w = b.hip_w / 2 * rng.uniform(0.85, 1.3)
    toe_out = rng.uniform(0, 18) * DEG
    stand_feet(m, b, half_w, toe_out)
    knee_bottom = rng.uniform(55, 88) * DEG  # conventional pull from the floor
    hinge_bottom = rng.uniform(48, 75) * DEG
    # hips and knees extend together; the fault straightens the knees first (hips shoot up)
    s_hk = ctx.sev("hips_knees_together")
    hk = s_hk * _fr(ctx, "hips_knees_together", 0.8, 1.0)
    a_knee = np.where(back_m > 0, a + hk * (a ** 3 - a), a)
    a_hip = np.where(back_m > 0, a + hk * ((1 - (1 - a) ** 3) - a), a)
    kappa = np.radians(3) + a_knee * (knee_bottom - np.radians(3))
    beta = np.radians(1) + a_knee * rng.uniform(8, 20) * DEG
    root = sagittal_root(b, half_w, kappa, beta)
    lean = np.radians(rng.uniform(-3, 2)) + a_hip * hinge_bottom
    s_back = ctx.sev("back_neutral")
    r = s_back * _fr(ctx, "back_neutral", 25, 45) * DEG * a_hip
    m["pitch"] = lean * 0.9 - 0.5 * r
    m["lumbar_flex"] = lean * 0.04 + 0.55 * r
    m["thor_flex"] = lean * 0.06 + 0.5 * r
    total = lean + 0.55 * r  # the chest's tilt from vertical (pitch + lumbar + thoracic)
    m["neck_flex"] = -rng.uniform(0.2, 0.6) * lean + rng.uniform(-5, 10) * DEG + 0.3 * r
    # knees: caving in on the way up
    s_knee = ctx.sev("knees_over_toes")
    valgus = s_knee * _fr(ctx, "knees_over_toes", 12, 28) * DEG * a_knee * (0.6 + 0.6 * back_m)
    m["l_knee_in"] = valgus + rng.uniform(-2, 2) * DEG * a
    m["r_knee_in"] = valgus * rng.uniform(0.7, 1.0) + rng.uniform(-2, 2) * DEG * a
    # feet: heels rise (weight on toes) or toes rise (rocking back)
    s_feet = ctx.sev("feet_flat")
    v_feet = _sev_pick(ctx, "feet_flat", [("heels", 0.7), ("toes", 0.3)])
    fm = s_feet * _fr(ctx, "feet_flat", 10, 22) * DEG * np.clip(1.2 * a - 0.1, 0, 1)
    if v_feet == "heels":
        m["l_heel_rise"] = fm
        m["r_heel_rise"] = fm * rng.uniform(0.8, 1.0)
    else:
        m["l_toe_rise"] = fm * 0.8
        m["r_toe_rise"] = fm * 0.8 * rng.uniform(0.8, 1.0)
    m["root"] = root
    # arms hang vertically: shoulder flexion relative to the trunk = the trunk's tilt; the
    # bar-away fault swings them forward off the legs
    s_bar = ctx.sev("bar_close")
    away = s_bar * _fr(ctx, "bar_close", 14, 28) * DEG * np.clip(a * 1.4, 0, 1)
    grip_abd = rng.uniform(3, 9) * DEG
    for s in ("l", "r"):
        m[f"{s}_sh_flex"] = total + away + rng.uniform(-3, 3) * DEG
        m[f"{s}_sh_abd"] = grip_abd
        m[f"{s}_el_flex"] = rng.uniform(0, 8) * DEG
        m[f"{s}_pron"] = rng.choice([170.0, 170.0, 10.0]) * DEG
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, _idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def prog_barbell_curl(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    s_tension = ctx.sev("tension_down")
    sch = build_schedule(ctx.rng("timing"), "barbell_curl",
                         back_scale=1.0 - 0.72 * s_tension)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    out_m, _back_m = sch.phase_masks(t)
    half_w = b.hip_w / 2 * rng.uniform(0.9, 1.3)
    stand_feet(m, b, half_w, rng.uniform(0, 15) * DEG)
    m["root"] = sagittal_root(b, half_w, np.full(m.T, rng.uniform(2, 8) * DEG), np.full(m.T, 0.02))
    el_rest = rng.uniform(10, 28) * DEG
    el_peak = rng.uniform(128, 152) * DEG
    rom = 1.0 - 0.6 * ctx.sev(ROM)  # half reps: 0.82..0.4 of the curl
    # uncontrolled lowering: arms snap straight and bounce at the bottom
    bounce = np.zeros(m.T)
    for r in sch.reps:
        bounce += bump(t, r.end + 0.08, 0.3)
    el = el_rest + a * (el_peak - el_rest) * rom - s_tension * (el_rest + 2 * DEG) * np.clip(bounce * 1.5, 0, 1)
    sh_flex0 = rng.uniform(-2, 6) * DEG
    sh_top = rng.uniform(4, 14) * DEG  # a little natural forward travel at the top
    s_el = ctx.sev("elbows_still")
    drift = s_el * _fr(ctx, "elbows_still", 28, 60) * DEG
    grip_abd = rng.uniform(4, 14) * DEG
    s_wr = ctx.sev("wrists_neutral")
    v_wr = _sev_pick(ctx, "wrists_neutral", [("curl", 0.6), ("extend", 0.4)])
    wr = s_wr * _fr(ctx, "wrists_neutral", 35, 60) * DEG * (0.4 + 0.6 * a) * (1 if v_wr == "curl" else -1)
    s_sh = ctx.sev("no_shrug")
    shrug = s_sh * _fr(ctx, "no_shrug", 0.025, 0.05) * H * np.clip(a * 1.3 - 0.3, 0, 1) ** 1.5
    lead = rng.normal(0, 0.03)  # one arm leads by a few tens of ms
    for s, sg in (("l", 1), ("r", -1)):
        m[f"{s}_el_flex"] = lagged(t, el, sg * lead) * rng.uniform(0.97, 1.0)
        m[f"{s}_sh_flex"] = sh_flex0 + lagged(t, a, sg * lead) * (sh_top + drift) * rom ** 0.5
        m[f"{s}_sh_abd"] = grip_abd
        m[f"{s}_pron"] = rng.uniform(-15, 10) * DEG
        m[f"{s}_wr_flex"] = rng.uniform(-8, 8) * DEG + wr
        m[f"{s}_elev"] = shrug
        m[f"{s}_prot"] = shrug * 0.5
    # back: swinging the weight up (lean back on the way up, forward at the start)
    s_back = ctx.sev("back_neutral")
    sw = s_back * _fr(ctx, "back_neutral", 10, 22) * DEG
    m["pitch"] = rng.uniform(-3, 3) * DEG - sw * 0.5 * a + sw * 0.4 * out_m * (1 - a)
    m["lumbar_flex"] = -sw * 0.7 * a + rng.uniform(-3, 3) * DEG
    m["thor_flex"] = rng.uniform(-2, 6) * DEG + sw * 0.3 * out_m * (1 - a)
    add_life(m, rng, b, 0.7)
    idle_gesture(m, ctx.rng("idle"), b, _idle_spans(sch), arms_free=False)
    return m, sch


def prog_overhead_press(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sch = build_schedule(ctx.rng("timing"), "overhead_press")
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    _out_m, _back_m = sch.phase_masks(t)
    half_w = b.hip_w / 2 * rng.uniform(1.0, 1.5)
    stand_feet(m, b, half_w, rng.uniform(0, 20) * DEG)
    # leg drive: a quick knee dip right before each press, then the legs drive the bar
    s_leg = ctx.sev("no_leg_drive")
    dip = np.zeros(m.T)
    for r in sch.reps:
        dip += bump(t, r.start + 0.05, 0.45)
    knee = rng.uniform(2, 7) * DEG + s_leg * _fr(ctx, "no_leg_drive", 14, 28) * DEG * np.clip(dip, 0, 1)
    m["root"] = sagittal_root(b, half_w, knee, knee * 0.45)
    style = rng.choice(["rack", "wide"], p=[0.55, 0.45])  # elbows forward (bar) or out to the sides
    ctx.variant["start"] = str(style)
    grip = rng.uniform(0.15, 0.2) * H if style == "rack" else rng.uniform(0.19, 0.24) * H
    rom = 1.0 - 0.5 * ctx.sev(ROM)  # lockout missing: 0.85..0.5 of the press
    reach = (b.upper_arm + b.forearm) * 0.985
    s_fv = ctx.sev("forearms_vertical")
    v_fv = _sev_pick(ctx, "forearms_vertical", [("flare", 0.5), ("tuck", 0.5)])
    fv = s_fv * _fr(ctx, "forearms_vertical", 0.35, 0.6)
    grip_f = grip * (1 - fv * 0.55) if v_fv == "tuck" else grip
    for s, sg in (("l", 1), ("r", -1)):
        m.arm_ik[s] = True
        x0 = sg * grip_f
        y_top = math.sqrt(max(reach ** 2 - (grip_f - b.shoulder_w / 2) ** 2, 0.01)) - 0.015 * H
        y0 = 0.0 * H + rng.uniform(-0.01, 0.03) * H
        z0 = (0.075 if style == "rack" else 0.03) * H
        ah = a * rom
        y = y0 + ah * (y_top - y0)
        z = z0 * (1 - ah) + ah * (1 - ah) * 0.08 * H - 0.01 * H * ah
        x = x0 * (1 - 0.08 * ah)
        m[f"{s}_hand_local"] = np.stack([x, y, z], -1)
        pole_bottom = np.array([sg * 0.35, -1.0, 0.9]) if style == "rack" else np.array([sg * 1.0, -0.6, 0.1])
        if v_fv == "flare":
            pole_bottom = pole_bottom + fv * np.array([sg * 1.5, 0.4, -1.4])
        pole_top = np.array([sg * 1.0, 0.0, -0.1])
        w = np.clip(ah, 0, 1)[:, None]
        m[f"{s}_pole_local"] = (1 - w) * pole_bottom + w * pole_top
        m[f"{s}_pron"] = 175 * DEG
    # shoulder girdle: set = stable; the fault lets the shoulders roll forward and hike up
    s_sg = ctx.sev("shoulders_set")
    g = s_sg * _fr(ctx, "shoulders_set", 0.025, 0.045) * H
    for s in ("l", "r"):
        m[f"{s}_elev"] = g * np.clip(a, 0, 1) ** 1.5 + 0.008 * H * a
        m[f"{s}_prot"] = g * 0.9 * (1 - a) * sch.in_set(t)
    # back: leaning back / over-arching to press
    s_back = ctx.sev("back_neutral")
    lb = s_back * _fr(ctx, "back_neutral", 12, 25) * DEG * np.clip(a * 1.5, 0, 1)
    m["lumbar_flex"] = rng.uniform(-5, 2) * DEG - 0.8 * lb
    m["pitch"] = -0.3 * lb + rng.uniform(-2, 2) * DEG
    m["root"] = m["root"] + np.stack([np.zeros(m.T), np.zeros(m.T), 0.04 * H * lb / (25 * DEG)], -1)
    m["neck_flex"] = -a * rng.uniform(0, 12) * DEG + 0.5 * lb
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, _idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def prog_side_raise(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sch = build_schedule(ctx.rng("timing"), "side_raise")
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    out_m, _back_m = sch.phase_masks(t)
    half_w = b.hip_w / 2 * rng.uniform(0.9, 1.4)
    stand_feet(m, b, half_w, rng.uniform(0, 18) * DEG)
    s_knee = ctx.sev("no_knee_bounce")
    dip = np.zeros(m.T)
    for r in sch.reps:
        dip += bump(t, r.start + 0.05, 0.5)
    knee = rng.uniform(2, 8) * DEG + s_knee * _fr(ctx, "no_knee_bounce", 12, 25) * DEG * np.clip(dip, 0, 1)
    m["root"] = sagittal_root(b, half_w, knee, knee * 0.45)
    rom = 1.0 - 0.55 * ctx.sev(ROM)  # raise to shoulder height: 0.83..0.45 of it
    abd0 = rng.uniform(6, 18) * DEG
    abd_peak = rng.uniform(80, 100) * DEG
    plane = rng.uniform(8, 30) * DEG
    el0 = rng.uniform(8, 25) * DEG
    s_el = ctx.sev("elbow_angle_fixed")
    v_el = _sev_pick(ctx, "elbow_angle_fixed", [("bend", 0.75), ("straighten", 0.25)])
    mag = s_el * _fr(ctx, "elbow_angle_fixed", 35, 70) * DEG
    if v_el == "bend":  # the elbows fold as the arms rise (shortening the lever)
        del_el = mag * np.sin(0.5 * np.pi * np.clip(a, 0, 1))
    else:  # bent at the bottom, straightened at the top
        del_el = mag * (1 - np.clip(a, 0, 1)) * sch.in_set(t)
    s_wr = ctx.sev("wrists_fixed")
    wr = s_wr * _fr(ctx, "wrists_fixed", 30, 55) * DEG * a
    s_sh = ctx.sev("no_shrug")
    shrug = s_sh * _fr(ctx, "no_shrug", 0.025, 0.05) * H * np.clip(a * 1.3 - 0.3, 0, 1) ** 1.3
    lead = rng.normal(0, 0.04)
    for s, sg in (("l", 1), ("r", -1)):
        k = rng.uniform(0.95, 1.0)
        m[f"{s}_sh_abd"] = abd0 + lagged(t, a, sg * lead) * (abd_peak - abd0) * rom * k
        m[f"{s}_sh_flex"] = plane * (0.4 + 0.6 * a)
        m[f"{s}_el_flex"] = el0 + del_el
        m[f"{s}_pron"] = (80 + 10 * a) * DEG + wr * 0.6
        m[f"{s}_wr_flex"] = rng.uniform(-5, 5) * DEG + wr
        m[f"{s}_wr_dev"] = -0.5 * wr
        m[f"{s}_elev"] = shrug
    # torso swing: lean forward before the rep, throw back on the way up
    s_sw = ctx.sev("no_torso_swing")
    sw = s_sw * _fr(ctx, "no_torso_swing", 10, 22) * DEG
    pre = np.zeros(m.T)
    for r in sch.reps:
        pre += bump(t, r.start, 0.6)
    m["pitch"] = rng.uniform(-2, 4) * DEG + sw * (0.8 * np.clip(pre, 0, 1) - 0.6 * a * out_m - 0.3 * a)
    m["lumbar_flex"] = -sw * 0.4 * a
    m["neck_flex"] = rng.uniform(-5, 8) * DEG
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, _idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def prog_knee_up(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sides = str(rng.choice(["alternate", "left", "right"], p=[0.6, 0.2, 0.2]))
    ctx.variant["sides"] = sides
    s_ctrl = ctx.sev("control_down")
    sch = build_schedule(ctx.rng("timing"), "knee_up", sides=sides, back_scale=1.0 - 0.65 * s_ctrl)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    half_w = b.hip_w / 2 * rng.uniform(0.8, 1.2)
    stand_feet(m, b, half_w, rng.uniform(0, 15) * DEG)
    s_high = max(ctx.sev("knee_high"), ctx.sev(ROM))
    hip_peak = rng.uniform(88, 115) * DEG * (1.0 - 0.55 * s_high)
    knee_peak = rng.uniform(85, 115) * DEG
    aL, aR = sch.activation(t, side=1), sch.activation(t, side=-1)
    _out_m, _back_m = sch.phase_masks(t)
    stomp = np.zeros(m.T)
    for r in sch.reps:
        stomp += bump(t, r.end + 0.05, 0.25)
    stomp = np.clip(stomp, 0, 1) * s_ctrl
    a_any = np.maximum(aL, aR)
    # the stance leg carries the body: pelvis shifts over it and the swing hip hikes a little
    shift = (aL - aR) * -0.045 * H
    knee_st = rng.uniform(2, 6) * DEG + stomp * _fr(ctx, "control_down", 8, 16) * DEG
    root = sagittal_root(b, half_w, knee_st, knee_st * 0.5)
    root[:, 0] += shift
    m["roll"] = (aL - aR) * rng.uniform(3, 8) * DEG
    for s, act in (("l", aL), ("r", aR)):
        free = np.clip(act * 6.0, 0, 1)
        m[f"{s}_free"] = free
        m[f"{s}_hip_flex"] = act * hip_peak
        m[f"{s}_knee_flex"] = np.clip(act * 1.3, 0, 1) * knee_peak
        m[f"{s}_ank_flex"] = -act * rng.uniform(10, 30) * DEG
        m[f"{s}_hip_abd"] = act * rng.uniform(-3, 6) * DEG
    m["root"] = root
    # arms
    arms = str(rng.choice(["hips", "run", "front", "hang"], p=[0.3, 0.3, 0.25, 0.15]))
    ctx.variant["arms"] = arms
    for s, sg in (("l", 1), ("r", -1)):
        if arms == "hips":
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([sg * 0.13 * H, -0.27 * H, 0.0], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, 0.0, -0.3], (m.T, 1))
            m[f"{s}_pron"] = 90 * DEG
        elif arms == "front":
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([sg * 0.03 * H, -0.09 * H, 0.17 * H], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, -1.0, 0.0], (m.T, 1))
            m[f"{s}_pron"] = 90 * DEG
        elif arms == "run":
            other = aR if s == "l" else aL
            same = aL if s == "l" else aR
            m[f"{s}_el_flex"] = rng.uniform(75, 100) * DEG
            m[f"{s}_sh_flex"] = (other - 0.5 * same) * rng.uniform(25, 45) * DEG
            m[f"{s}_sh_abd"] = 8 * DEG
            m[f"{s}_pron"] = 90 * DEG
        else:
            arms_hanging(m, rng)
    # faults
    s_look = ctx.sev("look_forward")
    v_look = _sev_pick(ctx, "look_forward", [("down", 0.7), ("side", 0.3)])
    lk = s_look * _fr(ctx, "look_forward", 30, 50) * DEG
    if v_look == "down":
        m["neck_flex"] = lk * (0.5 + 0.5 * a_any)
    else:
        m["neck_rot"] = lk * (1 if rng.random() < 0.5 else -1) * (0.6 + 0.4 * a_any)
    m.add("neck_flex", rng.uniform(-5, 6) * DEG)
    s_back = ctx.sev("back_neutral")
    hunch = s_back * _fr(ctx, "back_neutral", 18, 38) * DEG * a_any
    m["thor_flex"] = 0.6 * hunch + rng.uniform(-2, 4) * DEG
    m["lumbar_flex"] = 0.5 * hunch
    m["pitch"] = rng.uniform(-3, 3) * DEG + 0.2 * hunch - a_any * rng.uniform(0, 6) * DEG
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, _idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def prog_side_crunch(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sides = str(rng.choice(["alternate", "left", "right"], p=[0.5, 0.25, 0.25]))
    ctx.variant["sides"] = sides
    sch = build_schedule(ctx.rng("timing"), "side_crunch", sides=sides)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    half_w = b.hip_w / 2 * rng.uniform(1.0, 1.6)
    stand_feet(m, b, half_w, rng.uniform(0, 20) * DEG)
    aL, aR = sch.activation(t, side=1), sch.activation(t, side=-1)
    a_any = np.maximum(aL, aR)
    s_rom = ctx.sev(ROM)
    s_close = max(ctx.sev("knee_elbow_close"), 0.0)
    s_side = ctx.sev("knee_at_side")
    bend = rng.uniform(22, 38) * DEG * (1 - 0.6 * s_rom) * (1 - 0.15 * s_close)
    lift = 1.0 - 0.6 * s_close
    abd_peak = rng.uniform(35, 55) * DEG * lift * (1 - 0.85 * s_side)
    flex_peak = rng.uniform(35, 60) * DEG * lift + s_side * 45 * DEG * lift
    knee_peak = rng.uniform(80, 110) * DEG
    m["lat_bend"] = (aL - aR) * bend
    m["roll"] = (aL - aR) * rng.uniform(4, 10) * DEG  # the working hip hikes
    root = sagittal_root(b, half_w, np.full(m.T, rng.uniform(2, 6) * DEG), np.full(m.T, 0.03))
    root[:, 0] += (aR - aL) * 0.04 * H  # weight over the stance leg
    m["root"] = root
    for s, act in (("l", aL), ("r", aR)):
        m[f"{s}_free"] = np.clip(act * 6.0, 0, 1)
        m[f"{s}_hip_abd"] = act * abd_peak
        m[f"{s}_hip_flex"] = act * flex_peak
        m[f"{s}_hip_rot"] = -act * rng.uniform(10, 30) * DEG * (1 - s_side)
        m[f"{s}_knee_flex"] = np.clip(act * 1.3, 0, 1) * knee_peak
        m[f"{s}_ank_flex"] = -act * 15 * DEG
    # hands behind the head (elbows out); the fault drops them in front or to the sides
    s_hands = ctx.sev("hands_behind_head")
    v_hands = _sev_pick(ctx, "hands_behind_head", [("front", 0.4), ("down", 0.35), ("one", 0.25)])
    one = "l" if ctx.fault_rng("hands_behind_head:side").random() < 0.5 else "r"
    for s, sg in (("l", 1), ("r", -1)):
        m.arm_ik[s] = True
        behind = np.array([sg * 0.045 * H, 0.135 * H, -0.035 * H])
        if v_hands == "front" or (v_hands == "one" and s == one):
            off = np.array([sg * 0.07 * H, 0.02 * H, 0.14 * H])
        else:
            off = np.array([sg * 0.2 * H, -0.3 * H, 0.02 * H])
        w = np.clip((s_hands - 0.1) / 0.5, 0, 1) if s_hands > 0 else 0.0
        if v_hands == "one" and s != one:
            w = 0.0
        pos = (1 - w) * behind + w * off
        m[f"{s}_hand_local"] = np.tile(pos, (m.T, 1))
        pole = (1 - w) * np.array([sg * 1.0, 0.3, -0.3]) + w * np.array([sg * 0.5, -1.0, -0.3])
        m[f"{s}_pole_local"] = np.tile(pole, (m.T, 1))
        m[f"{s}_pron"] = 90 * DEG
    s_back = ctx.sev("back_neutral")
    fl = s_back * _fr(ctx, "back_neutral", 18, 35) * DEG * a_any
    m["thor_flex"] = 0.6 * fl
    m["lumbar_flex"] = 0.4 * fl
    m["twist"] = (aL - aR) * s_back * 12 * DEG
    s_look = ctx.sev("look_forward")
    v_look = _sev_pick(ctx, "look_forward", [("down", 0.5), ("turn", 0.5)])
    lk = s_look * _fr(ctx, "look_forward", 28, 48) * DEG
    if v_look == "down":
        m["neck_flex"] = lk * (0.4 + 0.6 * a_any)
    else:
        m["neck_rot"] = lk * (aL - aR) + lk * 0.3
        m["neck_flex"] = lk * 0.3 * a_any
    m.add("neck_tilt", -(aL - aR) * bend * rng.uniform(0.0, 0.3))
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, _idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def _two_sphere_point(c1, r1, c2, r2, pref):
    """A point at distance r1 from c1 and r2 from c2, closest to direction ``pref`` from the
    intersection circle's centre. Returns (point, feasible)."""
    d = c2 - c1
    L = float(np.linalg.norm(d))
    u = d / L
    if L > r1 + r2 or L < abs(r1 - r2):
        return None, False
    x = (r1 * r1 - r2 * r2 + L * L) / (2 * L)
    h = math.sqrt(max(r1 * r1 - x * x, 0.0))
    c = c1 + u * x
    v = pref - np.dot(pref, u) * u
    v = v / max(np.linalg.norm(v), 1e-9)
    return c + v * h, True


def prog_side_lunge(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sides = str(rng.choice(["alternate", "left", "right"], p=[0.6, 0.2, 0.2]))
    ctx.variant["sides"] = sides
    sch = build_schedule(ctx.rng("timing"), "side_lunge", sides=sides)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    aL, aR = sch.activation(t, side=1), sch.activation(t, side=-1)
    a_any = np.maximum(aL, aR)
    half_w = rng.uniform(0.26, 0.44) * H
    toe_out = rng.uniform(10, 30) * DEG
    stand_feet(m, b, half_w, toe_out)
    # the working knee bends out over the foot (frontal plane, a little toward the toes), not
    # forward as in a squat: seen from the front the thigh comes down to horizontal
    c_fwd = ctx.rng("knee_pole").uniform(0.2, 0.8)
    for s, sg in (("l", 1), ("r", -1)):
        toes = np.array([sg * math.sin(toe_out), 0.0, math.cos(toe_out)])
        m[f"{s}_knee_pole"] = np.tile(np.array([0.0, 1.0, 0.0]) + c_fwd * toes, (m.T, 1))
    # working knee flexion at the bottom; the faults: too deep/over the toes (working_knee_90),
    # too shallow (rom), the other knee bending (other_leg)
    s_90 = ctx.sev("working_knee_90")
    s_rom = ctx.sev(ROM)
    kw = rng.uniform(82, 102) * DEG
    kw = kw + s_90 * _fr(ctx, "working_knee_90", 25, 40) * DEG * (1 - s_rom)
    kw = kw * (1 - 0.5 * s_rom)
    s_other = ctx.sev("other_leg")
    ko = rng.uniform(0, 6) * DEG + s_other * _fr(ctx, "other_leg", 25, 55) * DEG
    back_tilt = rng.uniform(12, 28) * DEG
    # the pelvis path: for each depth the hips sit where the working leg has that knee bend and
    # the other leg its own (straight) length, so the trailing leg stays straight all the way
    grid = np.linspace(0.0, 1.0, 11)
    paths = {}
    for sg in (1, -1):
        A_w = np.array([sg * half_w, b.ankle_h, 0.0])
        A_o = np.array([-sg * half_w, b.ankle_h, 0.0])
        off_w = np.array([sg * b.hip_w / 2, 0, 0])
        off_o = np.array([-sg * b.hip_w / 2, 0, 0])
        path = []
        for g in grid:
            k = 3 * DEG + g * (kw - 3 * DEG)
            kog = 3 * DEG + g * (ko - 3 * DEG)
            p = None
            for _ in range(40):
                dw = math.sqrt(b.thigh ** 2 + b.shank ** 2 + 2 * b.thigh * b.shank * math.cos(k))
                do = math.sqrt(b.thigh ** 2 + b.shank ** 2 + 2 * b.thigh * b.shank * math.cos(kog)) * 0.998
                tilt = g * back_tilt
                p, ok = _two_sphere_point(A_w - off_w, dw, A_o - off_o, do,
                                          np.array([0.0, math.cos(tilt), -math.sin(tilt)]))
                if ok:
                    break
                k *= 0.96  # too deep for this stance: the hips cannot get that low
            if p is None:
                p = np.array([0.0, b.ankle_h + b.leg * 0.9, 0.0])
            path.append(p)
        paths[sg] = np.array(path)
    stand = paths[1][0]
    root = np.tile(stand, (m.T, 1))
    for sg, act in ((1, aL), (-1, aR)):
        on = np.stack([np.interp(np.clip(act, 0, 1), grid, paths[sg][:, j]) for j in range(3)], -1)
        root += on - paths[sg][0]
    m["root"] = root
    # trunk lean forward (hips back); the fault leans far forward or back
    lean_c = rng.uniform(15, 50) * DEG
    s_lean = ctx.sev("no_lean")
    v_lean = _sev_pick(ctx, "no_lean", [("forward", 0.65), ("back", 0.35)])
    if v_lean == "forward":
        lean = lean_c + s_lean * _fr(ctx, "no_lean", 28, 45) * DEG
    else:
        lean = lean_c - s_lean * _fr(ctx, "no_lean", 30, 50) * DEG
    m["pitch"] = a_any * lean * 0.9
    m["lumbar_flex"] = a_any * lean * 0.05
    s_back = ctx.sev("back_neutral")
    rnd = s_back * _fr(ctx, "back_neutral", 22, 40) * DEG * a_any
    m.add("lumbar_flex", 0.5 * rnd)
    m["thor_flex"] = a_any * lean * 0.05 + 0.6 * rnd
    m.add("pitch", -0.3 * rnd)
    # the head lifts against the lean to look ahead, or not at all (a goblet hold: chin over the
    # weight, as on the real clip)
    m["neck_flex"] = -a_any * lean * rng.uniform(0.0, 0.7) + 0.3 * rnd
    # torso/foot/knee alignment: knee caves inside the foot, torso turns off the foot line
    s_al = ctx.sev("torso_foot_knee")
    v_al = _sev_pick(ctx, "torso_foot_knee", [("knee", 0.6), ("torso", 0.4)])
    al = s_al * _fr(ctx, "torso_foot_knee", 14, 28) * DEG
    for s, act in (("l", aL), ("r", aR)):
        m[f"{s}_knee_in"] = act * (al if v_al == "knee" else al * 0.3)
    m["twist"] = (aL - aR) * (al * 1.2 if v_al == "torso" else 0.0)
    m["lat_bend"] = (aL - aR) * rng.uniform(-4, 6) * DEG
    arms = str(rng.choice(["goblet", "forward", "hips"], p=[0.5, 0.25, 0.25]))
    ctx.variant["arms"] = arms
    for s, sg in (("l", 1), ("r", -1)):
        m.arm_ik[s] = True
        if arms == "goblet":
            m[f"{s}_hand_local"] = np.tile([sg * 0.03 * H, -0.07 * H, 0.15 * H], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 0.6, -1.0, 0.0], (m.T, 1))
        elif arms == "forward":
            hand = np.stack([np.full(m.T, sg * 0.07 * H), -0.02 * H - 0.1 * H * (1 - a_any),
                             0.24 * H * (0.5 + 0.5 * a_any)], -1)
            m[f"{s}_hand_local"] = hand
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, -0.5, 0.0], (m.T, 1))
        else:
            m[f"{s}_hand_local"] = np.tile([sg * 0.13 * H, -0.27 * H, 0.0], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, 0.0, -0.3], (m.T, 1))
        m[f"{s}_pron"] = 90 * DEG
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, _idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def prog_leg_raise(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    s_ctrl = ctx.sev("control_down")
    sch = build_schedule(ctx.rng("timing"), "leg_raise", back_scale=1.0 - 0.7 * s_ctrl)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    _out_m, _back_m = sch.phase_masks(t)
    kt = [0.0]
    for x0, x1 in sch.active:
        kt += [x0 - 0.4, x0 + 0.1, x1 - 0.1, x1 + 0.4]
    kt = np.maximum.accumulate(np.array(kt))
    in_set = keyframes(t, kt, [0.0, *([0.0, 1.0, 1.0, 0.0] * len(sch.active))])
    # lying on the back: body axis horizontal, head towards -z; yaw turns it side-on to the
    # "front" camera (head to the camera's left or right)
    head_left = rng.random() < 0.5
    m["yaw"] = (90 if head_left else -90) * DEG + rng.uniform(-12, 12) * DEG
    lie_h = 0.055 * H * b.girth
    tilt = np.zeros(m.T)
    s_lb = ctx.sev("lower_back_down")
    v_lb = _sev_pick(ctx, "lower_back_down", [("lift", 0.6), ("arch", 0.4)])
    lbm = s_lb * _fr(ctx, "lower_back_down", 18, 32) * DEG
    lift = np.zeros(m.T)
    if v_lb == "lift":
        tilt = lbm * np.clip(a, 0, 1) ** 2  # pelvis rolls up at the top, hips leave the floor
        lift = 0.05 * H * (lbm / (32 * DEG)) * np.clip(a, 0, 1) ** 2
    else:
        tilt = -lbm * 0.7 * (1 - np.clip(a, 0, 1)) * in_set  # lower back arches as legs lower
        lift = 0.03 * H * (lbm / (32 * DEG)) * (1 - np.clip(a, 0, 1)) * in_set
    m["pitch"] = -90 * DEG + tilt
    m["lumbar_flex"] = -tilt
    root_y = lie_h + lift
    m["root"] = np.stack([np.zeros(m.T), root_y, np.zeros(m.T)], -1)
    # rotate the root position with the yaw (the pelvis stays at the origin)
    rom = 1.0 - 0.5 * ctx.sev(ROM)  # legs short of vertical: 0.85..0.5
    peak = rng.uniform(82, 98) * DEG * rom
    rest = rng.uniform(6, 20) * DEG
    bounce = np.zeros(m.T)
    for r in sch.reps:
        bounce += bump(t, r.end + 0.08, 0.3)
    floor_hit = s_ctrl * np.clip(bounce, 0, 1) * rest
    hip = in_set * (rest + a * (peak - rest)) - floor_hit
    hip = np.maximum(hip, 0.0)
    s_knee = ctx.sev("knee_angle_fixed")
    kb = s_knee * _fr(ctx, "knee_angle_fixed", 35, 75) * DEG * np.sin(np.pi * np.clip(a, 0, 1)) ** 0.7
    kb = kb + s_knee * 15 * DEG * np.clip(a, 0, 1) * in_set
    k0 = rng.uniform(0, 10) * DEG
    for s in ("l", "r"):
        m[f"{s}_free"] = 1.0
        m[f"{s}_hip_flex"] = hip * rng.uniform(0.97, 1.0)
        m[f"{s}_knee_flex"] = k0 + kb
        m[f"{s}_ank_flex"] = rng.uniform(-30, 5) * DEG
        m[f"{s}_hip_abd"] = rng.uniform(0, 4) * DEG
        # arms at the sides on the floor, palms down
        m[f"{s}_sh_abd"] = rng.uniform(8, 30) * DEG
        m[f"{s}_el_flex"] = rng.uniform(0, 15) * DEG
        m[f"{s}_pron"] = 170 * DEG
    s_head = ctx.sev("head_down")
    hd = s_head * _fr(ctx, "head_down", 28, 50) * DEG
    m["neck_flex"] = rng.uniform(-8, 5) * DEG + hd * (0.6 + 0.4 * a)
    m["thor_flex"] = hd * 0.25 * (0.6 + 0.4 * a)
    add_life(m, rng, b, 0.3)
    # lying: the root must not sway through the floor
    m["root"][:, 1] = root_y
    R = ry(m["yaw"])
    m["root"] = ap(R, m["root"])
    return m, sch


PROGRAMS = {
    "squat": prog_squat, "deadlift": prog_deadlift, "barbell_curl": prog_barbell_curl,
    "overhead_press": prog_overhead_press, "side_raise": prog_side_raise,
    "knee_up": prog_knee_up, "side_crunch": prog_side_crunch, "side_lunge": prog_side_lunge,
    "leg_raise": prog_leg_raise,
}


def _idle_spans(sch: Schedule) -> list[tuple[float, float]]:
    spans = []
    if sch.active:
        spans.append((0.0, sch.active[0][0]))
        spans.extend(sch.rests)
        spans.append((sch.active[-1][1], sch.duration))
    return [(a, b) for a, b in spans if b - a > 0.5]


# ---------------------------------------------------------------------------------------------
# idle clips: nobody exercising
# ---------------------------------------------------------------------------------------------

IDLE_BEHAVIOURS = {
    "stand": 3.0, "march": 1.2, "walk": 1.2, "shift": 1.0, "adjust": 1.5, "rest_bent": 0.8,
    "pick_up": 0.8, "stretch": 1.0, "look": 1.0, "lying": 0.6, "turn": 0.6,
}


def prog_idle(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    names = list(IDLE_BEHAVIOURS)
    w = np.array([IDLE_BEHAVIOURS[n] for n in names])
    kind = str(rng.choice(names, p=w / w.sum()))
    second = str(rng.choice(names, p=w / w.sum()))
    ctx.variant["behaviour"] = kind
    dur = float(rng.uniform(4.0, 16.0))
    sch = Schedule([], dur, [], [(0.0, dur)])
    m = Motion(ctx.times(dur))
    t = m.t
    half_w = b.hip_w / 2 * rng.uniform(0.8, 1.4)
    stand_feet(m, b, half_w, rng.uniform(0, 20) * DEG)
    knee = rng.uniform(2, 8) * DEG + smooth_noise(rng, t, 2 * DEG, 0.2)
    root = sagittal_root(b, half_w, knee, knee * 0.5)
    arms = str(rng.choice(["hang", "hips", "crossed", "behind"], p=[0.5, 0.2, 0.2, 0.1]))
    ctx.variant["arms"] = arms
    arms_hanging(m, rng)
    for s, sg in (("l", 1), ("r", -1)):
        if arms == "hips":
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([sg * 0.13 * H, -0.27 * H, 0.0], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, 0.0, -0.3], (m.T, 1))
        elif arms == "crossed":
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([-sg * 0.08 * H, -0.1 * H, 0.08 * H], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, -1.0, 0.2], (m.T, 1))
        elif arms == "behind":
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([sg * 0.04 * H, -0.3 * H, -0.08 * H], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, -0.5, -0.5], (m.T, 1))
    m["root"] = root
    env = np.clip(keyframes(t, [0, 0.4, dur - 0.4, dur], [0.3, 1, 1, 0.3]), 0, 1)
    _idle_behaviour(m, rng, b, kind, env, half_w)
    if second != kind and rng.random() < 0.4 and kind not in ("lying", "walk") and second not in ("lying", "walk"):
        c = rng.uniform(0.3, 0.7) * dur
        env2 = bump(t, c, rng.uniform(2.0, 4.0))
        _idle_behaviour(m, rng, b, second, env2, half_w)
    add_life(m, rng, b, 1.0)
    return m, sch


def _idle_behaviour(m: Motion, rng, b: Body, kind: str, env, half_w):
    t, H = m.t, b.height
    if kind == "march":  # walking on the spot: a hard negative for knee-ups
        f = rng.uniform(0.7, 1.1)
        amp = rng.uniform(15, 40) * DEG
        for s, ph in (("l", 0.0), ("r", 0.5)):
            c = np.clip(np.sin(2 * np.pi * (f * t + ph)), 0, 1) * env
            m[f"{s}_free"] = np.clip(c * 6, 0, 1)
            m[f"{s}_hip_flex"] = c * amp
            m[f"{s}_knee_flex"] = c * amp * 1.6
            if not m.arm_ik[s]:
                m.add(f"{s}_sh_flex", -np.sin(2 * np.pi * (f * t + ph)) * env * 15 * DEG)
                m.add(f"{s}_el_flex", 20 * DEG * env)
        m["roll"] = m["roll"] + np.sin(2 * np.pi * f * t) * 3 * DEG * env
    elif kind == "walk":  # walking through the scene (step pattern with planted feet)
        _walk(m, rng, b, env)
    elif kind == "shift":  # shifting weight from foot to foot: a negative for side lunges
        f = rng.uniform(0.15, 0.5)
        x = np.sin(2 * np.pi * f * t) * env
        m["root"] = m["root"] + np.stack([x * rng.uniform(0.02, 0.06) * H, -np.abs(x) * 0.01 * H, np.zeros(m.T)], -1)
        m["roll"] = m["roll"] + x * 4 * DEG
    elif kind == "adjust":  # hands to hair/face/clothes, one or both arms
        for _ in range(int(rng.integers(1, 4))):
            side = "l" if rng.random() < 0.5 else "r"
            c = rng.uniform(t[0] + 0.5, max(t[-1] - 0.5, t[0] + 0.6))
            e = bump(t, c, rng.uniform(1.0, 2.5)) * env
            if m.arm_ik[side]:
                continue
            m.add(f"{side}_sh_flex", e * rng.uniform(30, 120) * DEG)
            m.add(f"{side}_sh_abd", e * rng.uniform(0, 40) * DEG)
            m.add(f"{side}_el_flex", e * rng.uniform(60, 130) * DEG)
    elif kind == "rest_bent":  # hands on knees, catching breath: a static bent posture
        bend = rng.uniform(35, 60) * DEG
        k = rng.uniform(15, 35) * DEG
        m["root"] = sagittal_root(b, half_w, k * env + 3 * DEG, k * 0.5 * env)
        m["pitch"] = bend * env
        m["thor_flex"] = 0.15 * bend * env
        m["neck_flex"] = -0.5 * bend * env
        for s in ("l", "r"):
            m.arm_ik[s] = False
            m[f"{s}_sh_flex"] = bend * 1.1 * env
            m[f"{s}_el_flex"] = 10 * DEG
            m[f"{s}_sh_abd"] = 8 * DEG
    elif kind == "pick_up":  # bend down for a weight and stand up again, once or twice
        n = int(rng.integers(1, 3))
        dur = t[-1]
        a = np.zeros(m.T)
        for i in range(n):
            c = dur * (i + 1) / (n + 1)
            a = np.maximum(a, bump(t, c, rng.uniform(1.8, 3.0)))
        a = a * env
        squat = rng.random() < 0.5
        k = (rng.uniform(60, 110) if squat else rng.uniform(15, 35)) * DEG
        hinge = (rng.uniform(25, 45) if squat else rng.uniform(55, 80)) * DEG
        m["root"] = sagittal_root(b, half_w, 3 * DEG + a * k, a * k * 0.4)
        m["pitch"] = a * hinge
        m["thor_flex"] = a * 10 * DEG
        for s in ("l", "r"):
            m.arm_ik[s] = False
            m[f"{s}_sh_flex"] = a * hinge * 1.1
    elif kind == "stretch":
        v = rng.choice(["overhead", "side", "cross"])
        c = rng.uniform(t[0] + 1, max(t[-1] - 1, t[0] + 1.1))
        e = bump(t, c, rng.uniform(2.0, 5.0)) * env
        for s in ("l", "r"):
            m.arm_ik[s] = False
        if v == "overhead":
            for s in ("l", "r"):
                m.add("l_sh_flex" if s == "l" else "r_sh_flex", e * 160 * DEG)
                m.add(f"{s}_el_flex", e * 20 * DEG)
        elif v == "side":
            sg = 1 if rng.random() < 0.5 else -1
            m.add("lat_bend", e * sg * rng.uniform(15, 30) * DEG)
            m.add("l_sh_abd" if sg < 0 else "r_sh_abd", e * 150 * DEG)
        else:
            s = "l" if rng.random() < 0.5 else "r"
            m.add(f"{s}_sh_flex", e * 90 * DEG)
            m.add(f"{s}_sh_abd", -e * 40 * DEG)
    elif kind == "look":
        m.add("neck_rot", smooth_noise(rng, t, 30 * DEG, 0.3) * env)
        m.add("twist", smooth_noise(rng, t, 10 * DEG, 0.2) * env)
    elif kind == "turn":  # turn to face another way
        ang = rng.uniform(-120, 120) * DEG
        c = rng.uniform(1.0, max(t[-1] - 1.0, 1.1))
        yaw = keyframes(t, [0, c - 0.6, c + 0.6], [0, 0, ang])
        m["yaw"] = m["yaw"] + yaw
        m["root"] = ap(ry(yaw), m["root"])
        for s in ("l", "r"):
            m[f"{s}_toe"] = ap(ry(yaw), m[f"{s}_toe"])
            m[f"{s}_foot_yaw"] = m[f"{s}_foot_yaw"] + yaw
    elif kind == "lying":  # resting on the mat (between leg raises): knees bent or straight
        m["yaw"] = (90 if rng.random() < 0.5 else -90) * DEG + rng.uniform(-15, 15) * DEG
        m["pitch"] = -90 * DEG
        bent = rng.random() < 0.5
        for s in ("l", "r"):
            m.arm_ik[s] = False
            m[f"{s}_free"] = 1.0
            m[f"{s}_hip_flex"] = (rng.uniform(40, 60) if bent else rng.uniform(0, 8)) * DEG
            m[f"{s}_knee_flex"] = (rng.uniform(80, 110) if bent else rng.uniform(0, 10)) * DEG
            m[f"{s}_sh_abd"] = rng.uniform(10, 40) * DEG
        root = np.tile([0.0, 0.055 * H * b.girth, 0.0], (m.T, 1))
        m["root"] = ap(ry(m["yaw"]), root)
        m["lumbar_flex"] = 0.0


def _walk(m: Motion, rng, b: Body, env):
    """A simple gait: alternating planted feet stepping along a line, pelvis moving steadily."""
    t, H = m.t, b.height
    heading = rng.uniform(-180, 180) * DEG
    f = rng.uniform(0.8, 1.0)  # strides per second (each foot)
    stride = rng.uniform(0.55, 0.8) * H
    v = stride * f
    d = np.array([math.sin(heading), 0.0, math.cos(heading)])
    lat = np.array([math.cos(heading), 0.0, -math.sin(heading)])
    start = -d * v * t[-1] / 2
    dist = np.cumsum(np.r_[0, np.diff(t)] * env) * v
    knee = 8 * DEG
    root = sagittal_root(b, b.hip_w / 2, np.full(m.T, knee), np.zeros(m.T))
    root = root + start + dist[:, None] * d
    root[:, 1] += 0.01 * H * np.cos(4 * np.pi * f * dist / v)
    m["root"] = root
    m["yaw"] = np.full(m.T, heading)
    fa = FOOT_FWD * b.foot
    for s, sg, ph in (("l", 1, 0.0), ("r", -1, 0.5)):
        cyc = f * dist / v + ph
        k = np.floor(cyc)
        frac = cyc - k
        swing = np.clip((frac - 0.6) / 0.4, 0, 1)
        pos = (k + min_jerk(swing)) * stride - ph * stride
        toe = start + pos[:, None] * d + sg * lat * b.hip_w / 2 + d * (fa + 0.15 * stride)
        toe[:, 1] = TOE_H * H + 0.05 * H * np.sin(np.pi * swing)
        m[f"{s}_toe"] = toe
        m[f"{s}_foot_yaw"] = np.full(m.T, heading)
        m[f"{s}_heel_rise"] = 25 * DEG * np.sin(np.pi * swing) ** 2
        if not m.arm_ik[s]:
            m[f"{s}_sh_flex"] = -np.sin(2 * np.pi * cyc) * 18 * DEG * env
            m[f"{s}_el_flex"] = 15 * DEG + 10 * DEG * env


# ---------------------------------------------------------------------------------------------
# cameras
# ---------------------------------------------------------------------------------------------

IMAGE_SIZES = [((1920, 1080), 0.3), ((1280, 720), 0.25), ((640, 480), 0.15), ((640, 360), 0.05),
               ((720, 1280), 0.1), ((1080, 1920), 0.07), ((960, 720), 0.04), ((1080, 1080), 0.04)]
FPS_CHOICES = [(8, 0.08), (10, 0.1), (12, 0.08), (15, 0.2), (20, 0.08), (24, 0.08), (25, 0.08), (30, 0.3)]


@dataclass
class Camera:
    view: str
    azimuth: float  # degrees, 0 = in front of the person
    elevation: float
    distance: float
    height: float
    hfov: float
    roll: float
    image_size: tuple[int, int]
    pos: np.ndarray
    basis: np.ndarray  # rows: right, up, forward
    f: float  # focal length in pixels
    k1: float = 0.0  # radial lens distortion (negative: barrel, as on wide webcams)

    def meta(self) -> dict:
        return {"view": self.view, "azimuth_deg": round(self.azimuth, 2), "elevation_deg": round(self.elevation, 2),
                "distance_m": round(self.distance, 3), "height_m": round(self.height, 3),
                "hfov_deg": round(self.hfov, 2), "roll_deg": round(self.roll, 2), "k1": round(self.k1, 4)}


def sample_view(rng) -> tuple[str, float]:
    """A view: the five AI-Hub cameras (most), pure side views, and now and then anywhere."""
    u = rng.random()
    if u < 0.68:
        name = str(rng.choice(list(AIHUB_VIEWS)))
        return name, AIHUB_VIEWS[name] + rng.uniform(-10, 10)
    if u < 0.93:
        name = "left-90" if rng.random() < 0.5 else "right-90"
        return name, ALL_VIEWS[name] + rng.uniform(-10, 10)
    az = rng.uniform(-180, 180)
    return nearest_view(az), az


def nearest_view(azimuth: float) -> str:
    return min(ALL_VIEWS, key=lambda k: abs((ALL_VIEWS[k] - azimuth + 180) % 360 - 180))


def _basis(pos, target, roll):
    fwd = target - pos
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right = right / max(np.linalg.norm(right), 1e-9)
    up = np.cross(right, fwd)
    c, s = math.cos(roll), math.sin(roll)
    r2 = c * right + s * up
    u2 = -s * right + c * up
    return np.stack([r2, u2, fwd])


def project(cam: Camera, P: np.ndarray):
    """Pixel coordinates ``(…, 2)`` and camera depth ``(…)`` of world points ``P (…, 3)``."""
    d = P - cam.pos
    c = d @ cam.basis.T
    depth = np.maximum(c[..., 2], 1e-3)
    W, Hh = cam.image_size
    xn, yn = c[..., 0] / depth, c[..., 1] / depth
    if cam.k1:
        k = 1.0 + cam.k1 * (xn * xn + yn * yn) * (cam.f / (W / 2)) ** 2
        xn, yn = xn * k, yn * k
    u = W / 2 + cam.f * xn
    v = Hh / 2 - cam.f * yn
    return np.stack([u, v], -1), depth


def sample_camera(rng, points: np.ndarray, *, view: str | None = None, azimuth: float | None = None,
                  image_size=None, lying: bool = False) -> Camera:
    """Place a camera so the person's whole motion is framed (sometimes cropped on purpose)."""
    v_name, v_az = sample_view(rng)  # drawn whatever is asked, to keep the other draws fixed
    jitter = rng.uniform(-6, 6)
    if view is not None and view not in ALL_VIEWS:
        raise ValueError(f"view {view!r}: choose one of {', '.join(ALL_VIEWS)}")
    if view is None and azimuth is None:
        view, azimuth = v_name, v_az
    elif azimuth is None:
        azimuth = ALL_VIEWS[view] + jitter
    elif view is None:
        view = nearest_view(azimuth)
    if image_size is None:
        sizes, w = zip(*IMAGE_SIZES, strict=True)
        image_size = sizes[int(rng.choice(len(sizes), p=np.array(w) / sum(w)))]
    W, Hh = image_size
    portrait = Hh > W
    hfov = rng.uniform(48, 78) if not portrait else rng.uniform(38, 62)
    f = (W / 2) / math.tan(math.radians(hfov) / 2)
    cam_h = rng.uniform(0.35, 1.9) if not lying else rng.uniform(0.5, 2.2)
    roll = math.radians(rng.normal(0, 1.5))
    crop = rng.random() < 0.12
    fill = rng.uniform(1.02, 1.3) if crop else rng.uniform(0.45, 0.92)
    crop_dir = rng.choice([1.0, 1.0, -1.0])  # cut the feet (usually) or the head
    off = rng.uniform(-1, 1, 2)
    k1 = rng.uniform(-0.12, 0.03) if rng.random() < 0.5 else 0.0
    pts = points.reshape(-1, 3)[:: max(1, len(points.reshape(-1, 3)) // 800)]
    lo, hi = pts.min(0), pts.max(0)
    target = (lo + hi) / 2
    az = math.radians(azimuth)
    dirh = np.array([math.sin(az), 0.0, math.cos(az)])
    lat = np.cross([0.0, 1.0, 0.0], dirh)

    def place(horiz, tgt):
        pos = tgt + horiz * dirh
        pos[1] = cam_h
        return Camera(view, float(azimuth), 0.0, horiz, cam_h, hfov, math.degrees(roll), (W, Hh), pos,
                      _basis(pos, tgt, roll), f, k1)

    # distance (horizontal) so the motion's extent fills ``fill`` of the frame; people film
    # from at least ~1.8 m (closer, and perspective distorts the body more than any real clip)
    horiz = 3.5
    for _ in range(4):
        uv, _ = project(place(horiz, target), pts)
        ext = max((uv[:, 1].max() - uv[:, 1].min()) / Hh, (uv[:, 0].max() - uv[:, 0].min()) / W / 0.95)
        horiz = float(np.clip(horiz * ext / fill, 1.8, 12.0))
    # frame the subject off-centre a little; cropped clips lose the feet (or the head)
    span_y = hi[1] - lo[1]
    tgt = target.copy()
    if crop:
        tgt[1] += crop_dir * (fill - 1.0) * span_y * 0.6
    else:
        slack = max(0.0, 1.0 - fill)
        tgt[1] += off[0] * slack * span_y * 0.35
        tgt = tgt + lat * off[1] * slack * span_y * 0.4 * (W / Hh)
    cam = place(horiz, tgt)
    # the detector needs the torso: step back until it is in view (nearly) all the time
    torso = points[:, [11, 12, 23, 24]].reshape(-1, 3)
    for _ in range(10):
        uv, _ = project(cam, torso)
        inside = ((uv[:, 0] > 0) & (uv[:, 0] < W) & (uv[:, 1] > 0) & (uv[:, 1] < Hh)).reshape(-1, 4).all(1)
        if inside.mean() >= 0.97:
            break
        horiz *= 1.2
        cam = place(horiz, tgt)
    pos = cam.pos
    elev = math.degrees(math.asin(float(np.clip((cam_h - tgt[1]) / max(np.linalg.norm(pos - tgt), 1e-6), -1, 1))))
    cam.elevation = elev
    cam.distance = float(np.linalg.norm(pos - tgt))
    return cam


# ---------------------------------------------------------------------------------------------
# the estimator model: what BlazePose would report
# ---------------------------------------------------------------------------------------------

# Per-landmark jitter in units of the projected torso length (calibrated against BlazePose on
# the reference clips: about 0.002-0.009 of the torso on the face/torso, 2-3x that on hands).
_JIT = np.array([0.0045] * 11 + [0.004, 0.004, 0.006, 0.006, 0.008, 0.008] + [0.012] * 6
                + [0.004, 0.004, 0.005, 0.005, 0.003, 0.003, 0.0035, 0.0035, 0.0035, 0.0035])
_MIRROR_IDX = np.array([0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21,
                        24, 23, 26, 25, 28, 27, 30, 29, 32, 31])
_LIMB = np.array([False] * 13 + [True] * 10 + [False] * 2 + [True] * 8)
_TORSO = np.array([11, 12, 23, 24])
_UPPER = (np.arange(NUM_LANDMARKS) < 23).astype(np.float64)  # face, arms and hands
_SWAP_ARMS = [(11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22)]
_SWAP_LEGS = [(23, 24), (25, 26), (27, 28), (29, 30), (31, 32)]


def _dot(u, v):
    return np.einsum("...i,...i->...", u, v)


def _seg_dist(p, q, a, b):
    """Distance between segments p→q and a→b, broadcasting over leading axes."""
    d1, d2, r = q - p, b - a, p - a
    A = _dot(d1, d1)
    E = np.broadcast_to(_dot(d2, d2), A.shape)
    F = _dot(d2, r)
    C = _dot(d1, r)
    B = _dot(d1, d2)
    den = np.maximum(A * E - B * B, 1e-12)
    s = np.clip((B * F - C * E) / den, 0.0, 1.0)
    tt = np.clip((B * s + F) / np.maximum(E, 1e-12), 0.0, 1.0)
    s = np.clip((B * tt - C) / np.maximum(A, 1e-12), 0.0, 1.0)
    diff = (p + d1 * s[..., None]) - (a + d2 * tt[..., None])
    return np.sqrt(_dot(diff, diff))


def occlusion(sk: Skeleton, cam_pos: np.ndarray, t: np.ndarray | None = None, rate: float = 10.0) -> np.ndarray:
    """How hidden each landmark is, 0..1 ``(T, 33)``: the line of sight to the camera passing
    through a body part (capsules) the landmark is not attached to. Computed at about
    ``rate`` Hz and interpolated (occlusion changes slowly; this is the generator's hot spot)."""
    T = sk.points.shape[0]
    idx = np.arange(T)
    if t is not None and T > 2:
        fps = (T - 1) / max(t[-1] - t[0], 1e-6)
        step = max(1, int(fps / rate))
        idx = np.unique(np.r_[np.arange(0, T, step), T - 1])
    P = sk.points[idx]
    occ = np.zeros((len(idx), NUM_LANDMARKS))
    ray = cam_pos - P
    ray_u = ray / np.linalg.norm(ray, axis=-1, keepdims=True)
    q = P + ray * 0.98
    for p0, p1, rad, attached in sk.capsules:
        # start the sight line one radius towards the camera: a landmark beside or in front of
        # a body part (an elbow by the ribs) is not hidden by it, one behind it still is
        dist = _seg_dist(P + ray_u * rad, q, p0[idx, None, :], p1[idx, None, :])
        o = np.clip((rad - dist) / (rad * 0.5), 0.0, 1.0)
        if attached:
            o[:, list(attached)] = 0.0
        occ = np.maximum(occ, o)
    # face points when the head turns away: the back of the head hides them
    view = unit(cam_pos - sk.head_center[idx])
    fwd = unit(P[:, 0] - sk.head_center[idx])
    away = np.clip(-np.sum(view * fwd, -1) * 1.5, 0, 1)
    occ[:, :11] = np.maximum(occ[:, :11], away[:, None] * 0.8)
    if len(idx) == T:
        return occ
    out = np.empty((T, NUM_LANDMARKS))
    for j in range(NUM_LANDMARKS):
        out[:, j] = np.interp(np.arange(T), idx, occ[:, j])
    return out


PLATE_RADIUS = 0.225  # m: a 20 kg bumper plate
_LEFT_UPPER = [1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21]
_RIGHT_UPPER = [4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22]


def plate_occlusion(rng, P: np.ndarray, cam: Camera, uv: np.ndarray, depth: np.ndarray, t: np.ndarray):
    """A loaded barbell seen end-on: the near plate hides what is behind it and BlazePose guesses.

    Returns ``(uv, hidden)``: the pixel positions with BlazePose's guesses where the plate hides
    the body, and how hidden each point is (0..1). Calibrated on a real side-view squat with
    plates in front of the head and arms: the hidden shoulders come out half a torso apart (as
    if the trunk turned to the camera; 0.04 on an unoccluded side view) and the hidden arms and
    face wander by about a torso."""
    T = len(t)
    bar = 0.5 * (P[:, L_WR] + P[:, R_WR])  # the hands hold the bar
    axis = unit(P[:, L_WR] - P[:, R_WR])
    view = unit(cam.pos - bar)
    c = np.sum(axis * view, -1)
    end_on = np.clip((np.abs(c) - 0.55) / 0.3, 0.0, 1.0)
    hidden = np.zeros((T, NUM_LANDMARKS))
    if float(np.median(end_on)) <= 0.0:
        return uv, hidden
    plate = bar + axis * (np.sign(c) * rng.uniform(0.55, 0.75))[:, None]
    puv, pdepth = project(cam, plate)
    r_px = PLATE_RADIUS * rng.uniform(0.8, 1.1) * cam.f / pdepth
    d = np.linalg.norm(uv - puv[:, None], axis=-1) / r_px[:, None]
    hidden = np.clip((1.15 - d) / 0.3, 0.0, 1.0) * (depth > pdepth[:, None]) * end_on[:, None]
    hidden = _lowpass(hidden, 0.3)
    torso = np.linalg.norm((uv[:, L_SH] + uv[:, R_SH] - uv[:, L_HIP] - uv[:, R_HIP]) / 2, axis=-1)
    tpx = max(float(np.median(torso)), 1.0)
    out = uv.copy()
    # hidden shoulders: the upper body is read as turned towards the camera
    sh = np.maximum(hidden[:, L_SH], hidden[:, R_SH])
    spread = (rng.uniform(0.15, 0.4) + smooth_noise(rng, t, 0.08, 0.4)) * tpx * rng.choice([-1.0, 1.0])
    off = np.stack([spread, smooth_noise(rng, t, 0.06 * tpx, 0.4)], -1) * sh[:, None]
    out[:, _LEFT_UPPER] += off[:, None]
    out[:, _RIGHT_UPPER] -= off[:, None]
    # hidden arms and face: slow wander of about half a torso (each point its own)
    out += smooth_noise(rng, t, 0.35 * tpx, 0.5, shape=(NUM_LANDMARKS, 2)) * hidden[..., None] * _UPPER[:, None]
    return out, hidden


@dataclass
class EstimatorModel:
    """How much to degrade the clean projection (1 = calibrated to BlazePose on real clips)."""

    noise: float = 1.0
    swaps: bool = True
    dropouts: bool = True


def estimator(rng, sk: Skeleton, cam: Camera, t: np.ndarray, em: EstimatorModel, lying: bool = False,
              plates_rng=None):
    """Project and degrade: landmarks ``(T, 33, 4)`` as BlazePose reports them. ``plates_rng``
    (a loaded barbell in the hands): the plates hide the body from the side."""
    P = sk.points
    T = len(t)
    W, Hh = cam.image_size
    uv, depth = project(cam, P)
    plate_hidden = None
    if plates_rng is not None and em.noise > 0:
        uv, plate_hidden = plate_occlusion(plates_rng, P, cam, uv, depth, t)
    x = uv[..., 0] / W
    y = uv[..., 1] / Hh
    hip_depth = 0.5 * (depth[:, L_HIP] + depth[:, R_HIP])
    # BlazePose's z is relative depth "in x's units" but comes out 2-5x the metric depth
    z_scale = rng.uniform(1.5, 5.0)
    z = (depth - hip_depth[:, None]) * cam.f / hip_depth[:, None] / W * z_scale
    occ = occlusion(sk, cam.pos, t)
    if plate_hidden is not None:
        occ = np.maximum(occ, plate_hidden)

    # --- visibility: high where seen, low where hidden or out of frame ---------------------
    conf = rng.uniform(0.965, 1.0)
    base = np.where(_LIMB, rng.uniform(0.93, 0.997), rng.uniform(0.975, 0.999))
    base = np.clip(base * rng.uniform(0.99, 1.0, NUM_LANDMARKS), 0, 1)
    base[17:23] *= rng.uniform(0.8, 1.0)  # fingers are the least certain points
    base = np.broadcast_to(base, (T, NUM_LANDMARKS)).copy()
    # side-on, BlazePose doubts the far side's limbs even where they show past the body, and
    # gives hidden far-side points very low visibility; a limb hidden in a three-quarter view
    # (which it can still infer) gets a middling one
    sw = np.linalg.norm(P[:, L_SH] - P[:, R_SH], axis=-1)[:, None]
    far = np.clip(((depth - depth[:, _MIRROR_IDX]) / np.maximum(sw, 1e-3) - 0.55) / 0.3, 0, 1)
    occ = np.maximum(occ, far * _LIMB * rng.uniform(0.6, 0.95))
    low = rng.uniform(0.02, 0.25, NUM_LANDMARKS) + (1 - far) * rng.uniform(0.15, 0.45)
    vis = base * (1 - occ) + low * occ
    # torso landmarks stay confident even when hidden (BlazePose infers them from the body)
    vis[:, _TORSO] = np.maximum(vis[:, _TORSO], base[:, _TORSO] * rng.uniform(0.9, 0.99))
    outside = np.maximum.reduce([-x, x - 1, -y, y - 1, np.zeros_like(x)])
    vis = vis * np.exp(-outside / 0.05) * conf
    vis = vis + 0.05 * rng.normal(size=vis.shape) * vis * (1 - vis) * 4
    vis = np.clip(_lowpass(vis, 0.1 if em.noise > 0 else 1.0), 0.0, 1.0)  # mediapipe: alpha 0.1

    # --- position error: BlazePose's per-frame error, then mediapipe's one-euro smoothing -----
    torso_px = np.linalg.norm((uv[:, L_SH] + uv[:, R_SH] - uv[:, L_HIP] - uv[:, R_HIP]) / 2, axis=-1)
    body_px = max(float(np.median(torso_px)), 1.0)
    res = float(np.clip(160.0 / body_px, 0.5, 3.0)) ** 0.5  # small people in frame jitter more
    q = em.noise * float(np.exp(rng.normal(0.0, 0.45))) * res * (1.8 if lying else 1.0)
    if rng.random() < 0.1:  # a hard clip: bad light, baggy clothes, a barbell's plates in the way
        q *= rng.uniform(2.0, 4.0)
    sig = _JIT[None, :] * (1 + 2.0 * occ + 1.5 * np.clip(outside / 0.1, 0, 1)) * q  # torso units
    raw = (_ar1(rng, t, (T, NUM_LANDMARKS, 2), rng.uniform(0.04, 0.1)) * 0.6
           + rng.normal(size=(T, NUM_LANDMARKS, 2)) * 0.8) * (sig * body_px)[..., None]
    # motion blur: fast limbs come out worse
    vel = np.gradient(uv, t, axis=0) if T > 2 else np.zeros_like(uv)
    dt_med = float(np.median(np.diff(t))) if T > 1 else 1 / 30
    raw += rng.normal(size=raw.shape) * np.abs(vel) * dt_med * 0.35 * em.noise
    # hidden limbs drift (BlazePose guesses them): a slow offset scaled by how hidden
    raw += smooth_noise(rng, t, 0.06, 0.5, shape=(NUM_LANDMARKS, 2)) * body_px * em.noise * occ[..., None]
    zpx = z * W
    zraw = (_ar1(rng, t, (T, NUM_LANDMARKS), 0.1) * sig * 4.0 * body_px
            + smooth_noise(rng, t, 0.03 * em.noise, 0.3, shape=(NUM_LANDMARKS,)) * body_px)
    pix = np.concatenate([uv + raw, (zpx + zraw)[..., None]], -1)
    if em.noise > 0:
        obj = 0.5 * (np.ptp(uv[..., 0], axis=1) + np.ptp(uv[..., 1], axis=1))
        pix = one_euro(pix.reshape(T, -1), t, obj, min_cutoff=0.05 * rng.uniform(0.6, 1.6),
                       beta=80.0 * rng.uniform(0.6, 1.5)).reshape(pix.shape)
    x = pix[..., 0] / W
    y = pix[..., 1] / Hh
    z = pix[..., 2] / W
    lm = np.stack([x, y, z, vis], -1).astype(np.float32)

    events = Counter()
    # --- left/right swaps (mostly side views, short bursts) --------------------------------
    if em.swaps and em.noise > 0:
        side_view = abs(abs(cam.azimuth) - 90) < 35
        p = 0.35 if side_view else 0.12
        if rng.random() < p:
            for _ in range(int(rng.integers(1, 4))):
                s0 = int(rng.integers(0, T))
                n = int(rng.integers(2, 12))
                pairs = [_SWAP_LEGS, _SWAP_ARMS, _SWAP_LEGS + _SWAP_ARMS][int(rng.integers(0, 3))]
                sl = slice(s0, min(T, s0 + n))
                for i, j in pairs:
                    lm[sl, [i, j]] = lm[sl, [j, i]]
                events["swap_frames"] += sl.stop - sl.start
    # --- dropouts: no person found ----------------------------------------------------------
    lost = np.zeros(T, bool)
    if em.dropouts and em.noise > 0:
        p = 0.25 if not lying else 0.45
        if rng.random() < p:
            for _ in range(int(rng.integers(1, 4))):
                s0 = int(rng.integers(0, T))
                lost[s0:s0 + int(rng.integers(1, 9))] = True
        # the detector needs most of the torso in view
        tx = lm[:, _TORSO, 0]
        ty = lm[:, _TORSO, 1]
        inside = ((tx > -0.02) & (tx < 1.02) & (ty > -0.02) & (ty < 1.02)).sum(1)
        lost |= inside < 3
    lm[lost] = np.nan
    events["lost_frames"] = int(lost.sum())
    return lm, events


def _ar1(rng, t, shape, tau):
    """Unit-variance AR(1) noise along time with time constant ``tau`` (irregular frames ok)."""
    T = shape[0]
    e = rng.normal(size=shape)
    out = np.empty(shape)
    out[0] = e[0]
    dt = np.diff(t, prepend=t[0])
    rho = np.exp(-np.maximum(dt, 1e-3) / tau)
    sq = np.sqrt(1 - rho ** 2)
    for i in range(1, T):
        out[i] = rho[i] * out[i - 1] + sq[i] * e[i]
    return out


def _lowpass(v, alpha: float):
    """Exponential smoothing with a fixed per-frame weight (mediapipe's visibility filter)."""
    if alpha >= 1.0:
        return v
    out = v.copy()
    for i in range(1, len(v)):
        out[i] = out[i - 1] + alpha * (v[i] - out[i - 1])
    return out


def one_euro(X, t, object_scale, min_cutoff=0.05, beta=80.0, derivate_cutoff=1.0):
    """mediapipe's landmark smoothing (OneEuroFilter in LandmarksSmoothingCalculator): values in
    pixels, speeds measured in object sizes per second, so still points are smoothed hard and
    fast ones pass through. ``X (T, N)``, ``object_scale (T,)`` in pixels."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty_like(X)
    out[0] = X[0]
    dx = np.zeros(X.shape[1])
    prev_raw = X[0]
    for i in range(1, len(X)):
        dt = max(t[i] - t[i - 1], 1e-3)
        scale = 1.0 / max(object_scale[i], 1e-6)
        dval = (X[i] - prev_raw) * scale / dt
        a_d = 1.0 / (1.0 + 1.0 / (2 * np.pi * derivate_cutoff * dt))
        dx = dx + a_d * (dval - dx)
        cutoff = min_cutoff + beta * np.abs(dx)
        a = 1.0 / (1.0 + 1.0 / (2 * np.pi * cutoff * dt))
        out[i] = out[i - 1] + a * (X[i] - out[i - 1])
        prev_raw = X[i]
    return out


# ---------------------------------------------------------------------------------------------
# conditions and clips
# ---------------------------------------------------------------------------------------------

def condition_keys(ex: str) -> list[str]:
    return [c.key for c in EXERCISES[ex].conditions]


def sample_severities(rng, ex: str, p_correct: float = 0.3) -> dict[str, float]:
    """Per-condition severities: all below the threshold for a correct clip; otherwise one or
    more faults (1: 45%, 2: 30%, 3+: 25%), each from FAULT_MIN..1, mild ones common."""
    keys = condition_keys(ex)
    sev = {k: float(CORRECT_MAX * rng.random() ** 2) for k in keys}
    u = rng.random()
    n_rand = rng.random()
    order = rng.permutation(len(keys))
    vals = FAULT_MIN + (1 - FAULT_MIN) * rng.random(len(keys)) ** 1.3
    if u >= p_correct:
        n = 1 if n_rand < 0.45 else 2 if n_rand < 0.75 else int(3 + (n_rand - 0.75) / 0.25 * (len(keys) - 2))
        n = min(n, len(keys))
        for j in order[:n]:
            sev[keys[j]] = float(vals[j])
    return normalise_severities(ex, sev)


def normalise_severities(ex: str, sev: dict[str, float]) -> dict[str, float]:
    """Apply the rom/AI-Hub condition couplings (see ROM_EQUIVALENT and ROM_IMPLIES)."""
    sev = dict(sev)
    if ex in ROM_EQUIVALENT:
        k = ROM_EQUIVALENT[ex]
        v = max(sev.get(k, 0.0), sev.get(ROM, 0.0))
        sev[k] = sev[ROM] = v
    if ex in ROM_IMPLIES and sev.get(ROM, 0.0) >= FAULT_THRESHOLD:
        k = ROM_IMPLIES[ex]
        sev[k] = max(sev.get(k, 0.0), FAULT_MIN)
    return sev


@dataclass
class ClipSpec:
    """What to make: everything left None is sampled from the clip's seed."""

    kind: str
    seed: int = 0
    index: int = 0
    severity: dict[str, float] | None = None
    faults: tuple[str, ...] | None = None  # shortcut: these conditions false (severity 0.7)
    view: str | None = None
    azimuth: float | None = None
    fps: float | None = None
    image_size: tuple[int, int] | None = None
    body: Body | None = None
    noise: float = 1.0
    swaps: bool = True
    dropouts: bool = True
    views_per_clip: int = 1
    p_correct: float = 0.3


@dataclass
class Clip:
    sequences: list[LandmarkSequence]
    skeleton: Skeleton
    motion: Motion
    schedule: Schedule


def clip_id(kind: str, seed: int, index: int) -> str:
    return f"synth-{seed}-{kind}-{index:05d}"


def make_clip(spec: ClipSpec, bodies: list[Body] | None = None) -> Clip:
    """Generate one clip (one motion, ``views_per_clip`` cameras) from its spec."""
    if spec.kind not in KINDS:
        raise ValueError(f"clip kind {spec.kind!r}: choose one of {', '.join(KINDS)}")
    kind_i = KINDS.index(spec.kind)
    ss = np.random.SeedSequence([int(spec.seed), kind_i, int(spec.index)])
    r_meta = _stream(ss, "meta")
    if spec.body is not None:
        body = spec.body
    else:
        pool = bodies if bodies is not None else body_pool(spec.seed)
        body = pool[int(r_meta.integers(0, len(pool)))]
    fps = float(spec.fps) if spec.fps else float(_choice(r_meta, FPS_CHOICES))
    drop = r_meta.uniform(0.0, 0.08) if (fps <= 15 and r_meta.random() < 0.5) else 0.0
    if spec.kind == IDLE:
        sev = {}
    elif spec.severity is not None:
        sev = {k: float(spec.severity.get(k, 0.0)) for k in condition_keys(spec.kind)}
        sev = normalise_severities(spec.kind, sev)
    elif spec.faults is not None:
        keys = condition_keys(spec.kind)
        for f in spec.faults:
            if f not in keys:
                raise ValueError(f"{spec.kind} has no condition {f!r}; known: {', '.join(keys)}")
        sev = normalise_severities(spec.kind, {k: (0.7 if k in spec.faults else 0.0) for k in keys})
    else:
        sev = sample_severities(_stream(ss, "conditions"), spec.kind, spec.p_correct)
    ctx = ClipContext(spec.kind, body, sev, ss, fps, drop)
    prog = prog_idle if spec.kind == IDLE else PROGRAMS[spec.kind]
    m, sch = prog(ctx)
    sk = build_skeleton(body, m)
    cid = clip_id(spec.kind, spec.seed, spec.index)
    reps = rep_frames(m.t, sch.reps)
    active = [[int(np.searchsorted(m.t, a0)), int(np.searchsorted(m.t, a1, side="right")) - 1] for a0, a1 in sch.active]
    seqs = []
    lying = spec.kind in LYING or ctx.variant.get("behaviour") == "lying"
    # a loaded barbell: big plates most of the time (a curl bar often carries small ones)
    p_plates = {"deadlift": 0.75, "overhead_press": 0.6, "barbell_curl": 0.3,
                "squat": 0.7 if ctx.variant.get("bar") in ("high", "low", "front") else 0.0}.get(spec.kind, 0.0)
    plates = bool(_stream(ss, "plates").random() < p_plates)
    ctx.variant["plates"] = plates
    for v in range(max(1, spec.views_per_clip)):
        rc = _stream(ss, f"camera{v}")
        cam = sample_camera(rc, sk.points, view=spec.view if v == 0 else None,
                            azimuth=spec.azimuth if v == 0 else None,
                            image_size=spec.image_size, lying=lying)
        em = EstimatorModel(spec.noise, spec.swaps, spec.dropouts)
        lm, events = estimator(_stream(ss, f"estimator{v}"), sk, cam, m.t, em, lying=lying,
                               plates_rng=_stream(ss, f"plates{v}") if plates else None)
        if spec.kind == IDLE:
            conds, vals, correct = [], [], None
        else:
            ex = EXERCISES[spec.kind]
            conds = list(ex.condition_names)
            vals = [bool(sev[c.key] < FAULT_THRESHOLD) for c in ex.conditions]
            correct = all(vals)
        failed = [c.key for c, ok in zip(EXERCISES[spec.kind].conditions, vals, strict=True) if not ok] if vals else []
        seqs.append(LandmarkSequence(
            id=f"{cid}-v{v}", t=m.t, landmarks=lm, exercise=spec.kind, conditions=conds,
            condition_values=vals, correct=correct,
            label=("idle" if spec.kind == IDLE else "correct" if correct else ",".join(failed)),
            source=f"formcheck-synth v{GENERATOR_VERSION} seed={spec.seed} index={spec.index}",
            origin="synthetic", view=cam.view, group=cid, subject=body.id, image_size=cam.image_size,
            fps=fps, reps=reps,
            extra={
                "generator_version": GENERATOR_VERSION,
                "camera": cam.meta(),
                "body": {"sex": body.sex, "height_cm": round(body.height * 100, 1)},
                "severity": {k: round(v_, 3) for k, v_ in sev.items()},
                "variant": dict(ctx.variant),
                "active": active,
                "rep_sides": [("left" if r.side > 0 else "right" if r.side < 0 else "both") for r in sch.reps],
                "estimator": dict(events),
            },
        ))
    return Clip(seqs, sk, m, sch)


def _choice(rng, weighted):
    vals, w = zip(*weighted, strict=True)
    return vals[int(rng.choice(len(vals), p=np.array(w) / sum(w)))]


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------

@dataclass
class SynthConfig:
    exercises: tuple[str, ...] = EXERCISE_IDS
    clips_per_exercise: int = 100
    idle_clips: int | None = None  # default: same as clips_per_exercise; 0 for none
    seed: int = 0
    views_per_clip: int = 1
    p_correct: float = 0.3
    noise: float = 1.0
    bodies: int | None = None  # size of the body pool (default DEFAULT_BODIES)

    def __post_init__(self):
        bad = [e for e in self.exercises if e not in EXERCISE_IDS and e != IDLE]
        if bad:
            raise ValueError(f"exercises: unknown {', '.join(bad)}; known: {', '.join(KINDS)}")
        if self.clips_per_exercise < 0:
            raise ValueError("clips_per_exercise must be >= 0")
        if not 0 <= self.p_correct <= 1:
            raise ValueError("p_correct must be within 0..1")
        if self.views_per_clip < 1:
            raise ValueError("views_per_clip must be >= 1")

    def tasks(self) -> list[tuple[str, int]]:
        kinds = [e for e in self.exercises if e != IDLE]
        out = [(k, i) for k in kinds for i in range(self.clips_per_exercise)]
        if IDLE in self.exercises:
            n_idle = self.clips_per_exercise if self.idle_clips is None else self.idle_clips
            out += [(IDLE, i) for i in range(n_idle)]
        return out

    def pool_size(self) -> int:
        return self.bodies or DEFAULT_BODIES


_WORKER: dict = {}


def _init_worker(cfg: SynthConfig, out: str):
    _WORKER["cfg"] = cfg
    _WORKER["out"] = Path(out)
    _WORKER["bodies"] = body_pool(cfg.seed, cfg.pool_size())


def _run_task(task: tuple[str, int]) -> dict:
    kind, i = task
    cfg: SynthConfig = _WORKER["cfg"]
    out: Path = _WORKER["out"]
    path = out / kind / f"{clip_id(kind, cfg.seed, i)}.npz"
    if path.exists():  # resume
        return {"kind": kind, "skipped": True}
    spec = ClipSpec(kind, cfg.seed, i, views_per_clip=cfg.views_per_clip, p_correct=cfg.p_correct, noise=cfg.noise)
    try:
        clip = make_clip(spec, _WORKER["bodies"])
    except Exception as e:  # one broken clip must not kill a long run
        log.exception("clip %s %d failed", kind, i)
        return {"kind": kind, "error": f"{type(e).__name__}: {e}"}
    write_sequences(path, clip.sequences)
    s = clip.sequences[0]
    keys = condition_keys(kind) if kind != IDLE else []
    return {"kind": kind, "frames": int(sum(len(q.t) for q in clip.sequences)), "correct": s.correct,
            "failed": [k for k, v in zip(keys, s.condition_values, strict=True) if v is False],
            "reps": len(s.reps), "views": [q.view for q in clip.sequences]}


def generate_dataset(out_dir, cfg: SynthConfig, workers: int = 1, progress: bool = True) -> dict:
    """Write the dataset (one ``.npz`` per clip under ``OUT/<kind>/``) and its manifest.

    Existing clip files are kept (resumable). Returns the manifest summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = cfg.tasks()
    t0 = time.perf_counter()
    results = []
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(tasks), unit="clip", desc="synth", smoothing=0.05)
        except ImportError:  # pragma: no cover - tqdm is a dependency; stay usable without it
            bar = None
    workers = max(1, int(workers))
    if workers == 1:
        _init_worker(cfg, str(out))
        for task in tasks:
            results.append(_run_task(task))
            if bar:
                bar.update()
    else:
        import multiprocessing as mp

        ctxm = mp.get_context("fork" if os.name == "posix" else "spawn")
        with ctxm.Pool(workers, initializer=_init_worker, initargs=(cfg, str(out))) as pool:
            for r in pool.imap_unordered(_run_task, tasks, chunksize=4):
                results.append(r)
                if bar:
                    bar.update()
    if bar:
        bar.close()
    elapsed = time.perf_counter() - t0
    errors = [r for r in results if "error" in r]
    made = [r for r in results if "frames" in r]
    per_kind = Counter(r["kind"] for r in made)
    fails: dict[str, Counter] = {}
    for r in made:
        if r["kind"] != IDLE:
            fails.setdefault(r["kind"], Counter()).update(r["failed"])
    summary = {
        "origin": "synthetic",
        "generator": f"formcheck.train.synth v{GENERATOR_VERSION}",
        "config": {**asdict(cfg), "exercises": list(cfg.exercises)},
        "clips": len(made), "skipped_existing": sum(1 for r in results if r.get("skipped")),
        "errors": [r["error"] for r in errors][:20], "n_errors": len(errors),
        "frames": int(sum(r["frames"] for r in made)),
        "per_kind": dict(per_kind),
        "correct_clips": int(sum(1 for r in made if r["correct"])),
        "failed_conditions": {k: dict(v) for k, v in fails.items()},  # clips with the condition false
        "views": dict(Counter(v for r in made for v in r["views"])),
        "seconds": round(elapsed, 2),
        "clips_per_second": round(len(made) / elapsed, 2) if elapsed > 0 else None,
        "workers": workers,
        "fingerprint": hashlib.sha256(repr((asdict(cfg), GENERATOR_VERSION)).encode()).hexdigest()[:16],
    }
    write_manifest(out, summary)
    if errors:
        log.warning("%d clips failed (first: %s)", len(errors), errors[0]["error"])
    return summary
