"""Synthetic motion: determinism, labels that match the motion, cameras, dataset format, CLI."""

from __future__ import annotations

import itertools
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from formcheck.device.exercises import EXERCISE_IDS, EXERCISES, IDLE, ROM
from formcheck.device.judging.features import FeatureSpec, aspect_corrected, joint_angles, sequence_features
from formcheck.device.sequences import iter_dataset, read_sequences
from formcheck.train import synth
from formcheck.train.synth.cli import main as cli_main
from formcheck.train.synth.render import render_gif, render_strip

L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KN, R_KN, L_AN, R_AN, L_HEEL, R_HEEL, L_FT, R_FT = 23, 24, 25, 26, 27, 28, 29, 30, 31, 32


def clean(kind, faults=(), view="left-45", seed=3, index=1, **kw):
    """A noise-free clip; the same seed with other faults gives the same body, camera, tempo."""
    return synth.make_clip(synth.ClipSpec(kind, seed=seed, index=index, faults=tuple(faults), view=view,
                                          noise=0.0, fps=20, **kw))


# ---- 3D statistics of the motion (world metres; standing people face +z, x is their left) ----

def _ang(P, a, b, c):
    return joint_angles(P, ((a, b, c),), dims=3)[:, 0]


def _mid(P, i, j):
    return (P[:, i] + P[:, j]) / 2


def _sag(v):
    """Forward tilt from vertical (deg) of vectors in the sagittal (y-z) plane."""
    return np.degrees(np.arctan2(v[:, 2], v[:, 1]))


def arm_forward(v):
    """Forward swing (deg) of a downward-pointing segment, in the sagittal plane."""
    return np.degrees(np.arctan2(v[:, 2], -v[:, 1]))


def trunk_lean(P):
    return _sag(_mid(P, L_SH, R_SH) - _mid(P, L_HIP, R_HIP))


def head_vs_trunk(P):
    return _sag(P[:, 0] - _mid(P, L_SH, R_SH)) - trunk_lean(P)


def knee_gap(P):
    """Knee separation minus ankle separation (lateral) where the knees bend most: knees
    caving in make it smaller."""
    gap = np.abs(P[:, L_KN, 0] - P[:, R_KN, 0]) - np.abs(P[:, L_AN, 0] - P[:, R_AN, 0])
    k = np.minimum(*knee_angles(P))
    return gap[k < k.min() + 10]


def at_depth(P, x):
    """``x`` where the trunk leans most (the bottom of a hinge or squat)."""
    lean = trunk_lean(P)
    return x[lean > lean.min() + 0.85 * (lean.max() - lean.min())]


def shoulder_to_ear(P):
    return (P[:, 7, 1] + P[:, 8, 1]) / 2 - _mid(P, L_SH, R_SH)[:, 1]


def gaze_off(P):
    """Angle between where the face points (ears -> nose) and straight ahead, level."""
    f = P[:, 0] - (P[:, 7] + P[:, 8]) / 2
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return np.degrees(np.arccos(np.clip(f[:, 2], -1, 1)))


def hand_bend(P):
    """Wrist bend: forearm vs hand (wrist -> index) direction, worst side."""
    out = []
    for e, w, i in ((L_EL, L_WR, 19), (R_EL, R_WR, 20)):
        a = P[:, w] - P[:, e]
        b = P[:, i] - P[:, w]
        c = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        out.append(np.degrees(np.arccos(np.clip(c, -1, 1))))
    return np.maximum(*out)


def speed(x, t):
    return np.abs(np.gradient(x, t))


def knee_angles(P):
    return _ang(P, L_HIP, L_KN, L_AN), _ang(P, R_HIP, R_KN, R_AN)


def hip_flex(P):
    """Thigh vs trunk: 0 standing/lying straight, 90 at a right angle (worst side)."""
    return 180 - np.minimum(_ang(P, L_SH, L_HIP, L_KN), _ang(P, R_SH, R_HIP, R_KN))


def arm_raise(P):
    return np.maximum(_ang(P, L_EL, L_SH, L_HIP), _ang(P, R_EL, R_SH, R_HIP))


def elbow(P):
    return np.minimum(_ang(P, L_SH, L_EL, L_WR), _ang(P, R_SH, R_EL, R_WR))


def lateral_bend(P):
    v = _mid(P, L_SH, R_SH) - _mid(P, L_HIP, R_HIP)
    return np.abs(np.degrees(np.arctan2(v[:, 0], v[:, 1])))


def _rest_frames(c):
    """Frames where one rep ends and the next begins (inside a set)."""
    return [s for s, _ in c.sequences[0].reps[1:]]


def _variant(c, key):
    return c.sequences[0].extra["variant"].get(key)


# (exercise, condition) -> (statistic of the clip, expected sign of fault - correct, minimum |delta|)
S = synth
CHECKS = {
    ("barbell_curl", "elbows_still"): (lambda c: arm_forward(c.skeleton.points[:, L_EL] - c.skeleton.points[:, L_SH]).max(), +1, 10),
    ("barbell_curl", "wrists_neutral"): (lambda c: hand_bend(c.skeleton.points).max(), +1, 15),
    ("barbell_curl", "back_neutral"): (lambda c: trunk_lean(c.skeleton.points).min(), -1, 4),
    ("barbell_curl", "tension_down"): (lambda c: speed(elbow(c.skeleton.points), c.motion.t).max(), +1, 60),
    ("barbell_curl", "no_shrug"): (lambda c: -shoulder_to_ear(c.skeleton.points).max() + shoulder_to_ear(c.skeleton.points).min(), -1, 0.015),
    ("barbell_curl", ROM): (lambda c: elbow(c.skeleton.points).min(), +1, 20),
    ("deadlift", "back_neutral"): (lambda c: at_depth(c.skeleton.points, head_vs_trunk(c.skeleton.points)).mean(), +1, 6),
    ("deadlift", "knees_over_toes"): (lambda c: knee_gap(c.skeleton.points).mean(), -1, 0.03),
    ("deadlift", "bar_close"): (lambda c: (_mid(c.skeleton.points, L_WR, R_WR)[:, 2] - _mid(c.skeleton.points, L_AN, R_AN)[:, 2]).max(), +1, 0.05),
    # hips shooting up: the knees straighten while the trunk is still bent over
    ("deadlift", "hips_knees_together"): (lambda c: (np.minimum(*knee_angles(c.skeleton.points)) + trunk_lean(c.skeleton.points)).max(), +1, 10),
    ("deadlift", "feet_flat"): (lambda c: np.maximum(c.skeleton.points[:, [L_HEEL, R_HEEL, L_FT, R_FT], 1].max(1) - c.skeleton.points[0, [L_HEEL, R_HEEL, L_FT, R_FT], 1].max(), 0).max(), +1, 0.015),
    ("deadlift", ROM): (lambda c: np.median((180 - hip_flex(c.skeleton.points))[_rest_frames(c)]), -1, 10),
    ("knee_up", "look_forward"): (lambda c: gaze_off(c.skeleton.points).max(), +1, 15),
    ("knee_up", "back_neutral"): (lambda c: trunk_lean(c.skeleton.points).max(), +1, 8),
    ("knee_up", "knee_high"): (lambda c: (c.skeleton.points[:, [L_KN, R_KN], 1].max(1) - _mid(c.skeleton.points, L_HIP, R_HIP)[:, 1]).max(), -1, 0.08),
    ("knee_up", "control_down"): (lambda c: np.gradient(c.skeleton.points[:, [L_KN, R_KN], 1], c.motion.t, axis=0).min(), -1, 0.3),
    ("knee_up", ROM): (lambda c: (c.skeleton.points[:, [L_KN, R_KN], 1].max(1) - _mid(c.skeleton.points, L_HIP, R_HIP)[:, 1]).max(), -1, 0.08),
    ("leg_raise", "lower_back_down"): (lambda c: _mid(c.skeleton.points, L_HIP, R_HIP)[:, 1].max(), +1, 0.02),
    ("leg_raise", "knee_angle_fixed"): (lambda c: np.minimum(*knee_angles(c.skeleton.points)).min(), -1, 15),
    ("leg_raise", "control_down"): (lambda c: speed(hip_flex(c.skeleton.points), c.motion.t).max(), +1, 25),
    ("leg_raise", "head_down"): (lambda c: (c.skeleton.points[:, 0, 1] - _mid(c.skeleton.points, L_SH, R_SH)[:, 1]).max(), +1, 0.04),
    ("leg_raise", ROM): (lambda c: hip_flex(c.skeleton.points).max(), -1, 15),
    ("overhead_press", "back_neutral"): (lambda c: trunk_lean(c.skeleton.points).min(), -1, 4),
    ("overhead_press", "forearms_vertical"): (lambda c: np.degrees(np.arccos(np.clip(
        (c.skeleton.points[:, L_WR, 1] - c.skeleton.points[:, L_EL, 1])
        / np.linalg.norm(c.skeleton.points[:, L_WR] - c.skeleton.points[:, L_EL], axis=1), -1, 1)))[:5].mean(), +1, 8),
    ("overhead_press", "shoulders_set"): (lambda c: np.ptp(shoulder_to_ear(c.skeleton.points) + 0.5 * np.abs(_mid(c.skeleton.points, L_SH, R_SH)[:, 2] - (c.skeleton.points[:, 7, 2] + c.skeleton.points[:, 8, 2]) / 2)), +1, 0.015),
    ("overhead_press", "no_leg_drive"): (lambda c: np.minimum(*knee_angles(c.skeleton.points)).min(), -1, 8),
    ("overhead_press", ROM): (lambda c: np.maximum(_ang(c.skeleton.points, L_SH, L_EL, L_WR), _ang(c.skeleton.points, R_SH, R_EL, R_WR)).max(), -1, 15),
    ("side_crunch", "back_neutral"): (lambda c: trunk_lean(c.skeleton.points).max(), +1, 8),
    ("side_crunch", "look_forward"): (lambda c: gaze_off(c.skeleton.points).max(), +1, 12),
    ("side_crunch", "knee_elbow_close"): (lambda c: np.minimum(np.linalg.norm(c.skeleton.points[:, L_EL] - c.skeleton.points[:, L_KN], axis=1), np.linalg.norm(c.skeleton.points[:, R_EL] - c.skeleton.points[:, R_KN], axis=1)).min(), +1, 0.05),
    ("side_crunch", "knee_at_side"): (lambda c: np.maximum(np.abs(c.skeleton.points[:, L_KN, 0] - c.skeleton.points[:, L_HIP, 0]), np.abs(c.skeleton.points[:, R_KN, 0] - c.skeleton.points[:, R_HIP, 0])).max(), -1, 0.05),
    ("side_crunch", "hands_behind_head"): (lambda c: np.linalg.norm(_mid(c.skeleton.points, L_WR, R_WR) - c.skeleton.head_center, axis=1).mean(), +1, 0.08),
    ("side_crunch", ROM): (lambda c: lateral_bend(c.skeleton.points).max(), -1, 5),
    ("side_lunge", "working_knee_90"): (lambda c: np.minimum(*knee_angles(c.skeleton.points)).min(), -1, 10),
    ("side_lunge", "torso_foot_knee"): (lambda c: (np.degrees(np.abs(np.arctan2(*(c.skeleton.points[:, L_SH] - c.skeleton.points[:, R_SH])[:, [2, 0]].T)
                                                   - np.arctan2(*(c.skeleton.points[:, L_HIP] - c.skeleton.points[:, R_HIP])[:, [2, 0]].T))).max()
                                        if _variant(c, "torso_foot_knee") == "torso" else -knee_gap(c.skeleton.points).mean()), +1, 0.03),
    ("side_lunge", "other_leg"): (lambda c: np.maximum(*knee_angles(c.skeleton.points)).min(), -1, 10),
    ("side_lunge", "back_neutral"): (lambda c: at_depth(c.skeleton.points, head_vs_trunk(c.skeleton.points)).mean(), +1, 6),
    ("side_lunge", "no_lean"): (lambda c: trunk_lean(c.skeleton.points).max() * (1 if _variant(c, "no_lean") == "forward" else -1), +1, 8),
    ("side_lunge", ROM): (lambda c: np.minimum(*knee_angles(c.skeleton.points)).min(), +1, 15),
    ("side_raise", "no_knee_bounce"): (lambda c: np.minimum(*knee_angles(c.skeleton.points)).min(), -1, 8),
    ("side_raise", "no_shrug"): (lambda c: np.ptp(shoulder_to_ear(c.skeleton.points)), +1, 0.015),
    ("side_raise", "elbow_angle_fixed"): (lambda c: np.ptp(elbow(c.skeleton.points)), +1, 15),
    ("side_raise", "wrists_fixed"): (lambda c: np.ptp(hand_bend(c.skeleton.points)), +1, 10),
    ("side_raise", "no_torso_swing"): (lambda c: np.ptp(trunk_lean(c.skeleton.points)), +1, 5),
    ("side_raise", ROM): (lambda c: arm_raise(c.skeleton.points).max(), -1, 15),
    ("squat", "back_neutral"): (lambda c: trunk_lean(c.skeleton.points).max(), +1, 5),
    ("squat", "head_forward"): (lambda c: head_vs_trunk(c.skeleton.points).max() * (1 if _variant(c, "head_forward") == "down" else -1), +1, 10),
    ("squat", "knees_in_line"): (lambda c: knee_gap(c.skeleton.points).mean(), -1, 0.04),
    ("squat", "heels_down"): (lambda c: c.skeleton.points[:, [L_HEEL, R_HEEL], 1].max(), +1, 0.02),
    ("squat", ROM): (lambda c: np.minimum(*knee_angles(c.skeleton.points)).min(), +1, 15),
}


def test_every_condition_of_every_exercise_has_a_check():
    want = {(e, c.key) for e in EXERCISE_IDS for c in EXERCISES[e].conditions}
    assert want == set(CHECKS)


# The statistics read the start position in the first frames: presses start from the rack there.
FIXED_CHOICES = {"overhead_press": {"rest_hands": "shoulders"}}


@pytest.mark.parametrize("ex", EXERCISE_IDS)
def test_each_fault_changes_the_motion_in_the_expected_direction(ex):
    base = clean(ex, variants=FIXED_CHOICES.get(ex))
    assert base.sequences[0].correct is True
    problems = []
    for c in EXERCISES[ex].conditions:
        stat, sign, min_delta = CHECKS[(ex, c.key)]
        bad = clean(ex, faults=(c.key,), variants=FIXED_CHOICES.get(ex))
        seq = bad.sequences[0]
        assert seq.correct is False
        assert seq.condition_values[list(seq.conditions).index(c.name)] is False
        delta = stat(bad) - stat(base)
        if not sign * delta >= min_delta:
            problems.append(f"{c.key}: fault - correct = {delta:.3f}, want {'+' if sign > 0 else '-'}{min_delta}")
    assert not problems, f"{ex}: " + "; ".join(problems)


def test_faults_combine_and_keep_everything_else():
    a = clean("squat", faults=("knees_in_line",))
    b = clean("squat", faults=("knees_in_line", "heels_down"))
    # (lifted heels raise the ankles under the same hips: the knees bend, and cave, a little more)
    assert knee_gap(b.skeleton.points).mean() == pytest.approx(knee_gap(a.skeleton.points).mean(), abs=0.04)
    assert b.skeleton.points[:, [L_HEEL, R_HEEL], 1].max() > a.skeleton.points[:, [L_HEEL, R_HEEL], 1].max() + 0.02
    vals = dict(zip([c.key for c in EXERCISES["squat"].conditions], b.sequences[0].condition_values, strict=True))
    assert vals == {"back_neutral": True, "head_forward": True, "knees_in_line": False, "heels_down": False, ROM: True}
    # same seed: same person, camera and timing whatever the faults
    assert a.sequences[0].subject == b.sequences[0].subject
    assert a.sequences[0].extra["camera"] == b.sequences[0].extra["camera"]
    assert np.array_equal(a.motion.t, b.motion.t)


def test_severity_near_the_boundary_is_milder_than_a_clear_fault():
    keys = [c.key for c in EXERCISES["squat"].conditions]
    gaps = {}
    for s in (0.1, synth.FAULT_MIN, 1.0):
        c = synth.make_clip(synth.ClipSpec("squat", 3, 1, severity={k: (s if k == "knees_in_line" else 0.0) for k in keys},
                                           view="front", noise=0.0))
        gaps[s] = knee_gap(c.skeleton.points).mean()
        assert c.sequences[0].condition_values[keys.index("knees_in_line")] is (s < synth.FAULT_THRESHOLD)
    assert gaps[0.1] > gaps[synth.FAULT_MIN] > gaps[1.0]


def _mildest(kind, key, index=1, **kw):
    """The mildest fault the generator labels (severity FAULT_MIN), everything else correct."""
    return clean(kind, index=index, severity={key: synth.FAULT_MIN}, **kw)


def _seg(P, i, j):
    return np.linalg.norm(P[:, i] - P[:, j], axis=1)


@pytest.mark.parametrize("kind,key", [("overhead_press", "no_leg_drive"), ("side_raise", "no_knee_bounce")])
def test_the_mildest_leg_dip_is_a_push_press_dip(kind, key):
    """A leg drive or knee bounce drops the hips 2 inches or more (0.06 leg lengths: coaching's
    push-press dip) inside each rep; correct reps' knees give less than 0.02."""
    kw = {"variants": {"posture": "standing"}} if kind == "overhead_press" else {}
    for c, lo, hi in ((_mildest(kind, key, **kw), 0.055, 1.0), (clean(kind, **kw), 0.0, 0.02)):
        P = c.skeleton.points
        leg = (_seg(P, L_HIP, L_KN) + _seg(P, L_KN, L_AN))[0]
        hip = _mid(P, L_HIP, R_HIP)[:, 1]
        for a, b in c.sequences[0].reps:
            drop = max(hip[a], hip[b]) - hip[a:b + 1].min()
            assert lo <= drop / leg < hi


def test_the_mildest_deadlift_heel_lift_shows_at_lockout():
    """Heels up 0.2 foot lengths or more where the pull locks out (the real labelled heel lift
    reads 0.24-0.26 there), flat at the bottom."""
    c = next(c for i in range(1, 12) if (c := _mildest("deadlift", "feet_flat", index=i, variants={"start": "standing"}))
             .sequences[0].extra["variant"].get("feet_flat") == "heels")
    P = c.skeleton.points
    pitch = (P[:, L_HEEL, 1] - P[:, L_FT, 1]) / _seg(P, L_HEEL, L_FT)
    knee = knee_angles(P)[0]
    for a, b in c.sequences[0].reps:
        assert pitch[b] > 0.2 and pitch[a + int(np.argmin(knee[a:b + 1]))] < 0.1


def test_the_mildest_shallow_squat_stops_well_above_parallel():
    """Thighs 45 degrees or more above horizontal at the bottom of every rep (past the station's
    35), whatever the person's own depth."""
    for index in (1, 2, 3):
        c = _mildest("squat", ROM, index=index)
        P = c.skeleton.points
        thigh = np.degrees(np.arcsin((P[:, L_HIP, 1] - P[:, L_KN, 1]) / _seg(P, L_HIP, L_KN)))
        for a, b in c.sequences[0].reps:
            assert thigh[a:b + 1].min() > 42


# ---- reps ------------------------------------------------------------------------------------

PRIMARY = {  # the signal a rep counter would follow, from the 2D landmarks a model sees
    "barbell_curl": lambda a: a[:, 0], "overhead_press": lambda a: a[:, 0], "side_raise": lambda a: a[:, 2],
    "deadlift": lambda a: a[:, 4], "squat": lambda a: a[:, 6], "leg_raise": lambda a: a[:, 4],
    "knee_up": lambda a: np.minimum(a[:, 4], a[:, 5]), "side_lunge": lambda a: np.minimum(a[:, 6], a[:, 7]),
    "side_crunch": lambda a: np.minimum(a[:, 6], a[:, 7]),
}


@pytest.mark.parametrize("ex", EXERCISE_IDS)
def test_rep_boundaries_match_one_cycle_of_the_primary_angle(ex):
    view = "front" if ex in ("side_raise", "side_lunge", "side_crunch") else "left-90"
    c = clean(ex, view=view, index=4)
    s = c.sequences[0]
    ang = joint_angles(np.asarray(s.landmarks[:, :, :2], float) * [s.image_size[0] / s.image_size[1], 1])
    sig = PRIMARY[ex](ang)
    assert len(s.reps) >= 2
    for k, (a, b) in enumerate(s.reps):
        seg = sig[a:b + 1]
        rest = (sig[a] + sig[b]) / 2
        far = seg[np.argmax(np.abs(seg - rest))]
        amp = abs(far - rest)
        assert amp > 20, f"{ex} rep {k}: primary angle moves only {amp:.1f} deg"
        assert abs(sig[a] - sig[b]) < 0.3 * amp, f"{ex} rep {k} does not return to where it started"
        # one excursion: the signal crosses the half-way level exactly twice (out and back)
        half = np.sign(np.abs(seg - rest) - 0.5 * amp)
        crossings = np.count_nonzero(np.diff(half[half != 0]) != 0)
        assert crossings == 2, f"{ex} rep {k}: {crossings} half-way crossings"
    # nothing rep-like outside the labelled reps (during the set)
    inside = np.zeros(len(sig), bool)
    for a, b in s.reps:
        inside[a:b + 1] = True
    span = slice(s.reps[0][0], s.reps[-1][1] + 1)
    between = sig[span][~inside[span]]
    if len(between):
        rest_level = np.median([sig[a] for a, _ in s.reps])
        full = np.median([np.max(np.abs(sig[a:b + 1] - sig[a])) for a, b in s.reps])
        assert np.max(np.abs(between - rest_level)) < 0.35 * full


def test_alternating_exercises_label_the_working_side():
    c = synth.make_clip(synth.ClipSpec("knee_up", 3, 2, noise=0.0, faults=()))
    sides = c.sequences[0].extra["rep_sides"]
    P = c.skeleton.points
    for (a, b), side in zip(c.sequences[0].reps, sides, strict=True):
        knee = L_KN if side == "left" else R_KN
        other = R_KN if side == "left" else L_KN
        assert P[a:b + 1, knee, 1].max() > P[a:b + 1, other, 1].max() + 0.15


# ---- determinism, dataset, labels ----------------------------------------------------------

def test_same_seed_same_clip_other_index_other_clip():
    a = synth.make_clip(synth.ClipSpec("deadlift", seed=5, index=2))
    b = synth.make_clip(synth.ClipSpec("deadlift", seed=5, index=2))
    c = synth.make_clip(synth.ClipSpec("deadlift", seed=5, index=3))
    assert np.array_equal(a.sequences[0].landmarks, b.sequences[0].landmarks, equal_nan=True)
    assert a.sequences[0].meta() == b.sequences[0].meta()
    assert not np.array_equal(a.sequences[0].landmarks[:10], c.sequences[0].landmarks[:10], equal_nan=True)


# Clips recorded with generator v5 (seed 7, index 0, default noise): frames, view, first reps,
# lost frames, sums of x, y, z and visibility. A refactor must reproduce them; a deliberate change
# to a program re-records its rows and bumps GENERATOR_VERSION (v5 re-recorded every row: real
# people's shoulder and hip widths change every body; frames, views and reps are v3's). Sums, not
# bytes, so a platform's last-ulp differences do not fail it.
PINNED = {
    "squat": (340, "front", [(0, 43), (55, 96), (108, 150)], 0, (5518.30103, 5924.29014, -1017.57867, 10476.8077)),
    "deadlift": (377, "front", [(68, 176), (207, 334)], 0, (5403.30547, 5490.98551, -2651.42694, 11645.3394)),
    "side_lunge": (333, "right-45", [(16, 52), (57, 91), (95, 127)], 0,
                   (5661.01722, 5422.41572, -2651.96265, 9327.90112)),
    "leg_raise": (786, "right-45", [(34, 126), (141, 225), (239, 327)], 4,
                  (13217.9513, 13698.3465, 700.92819, 20725.6566)),
    IDLE: (460, "right-45", [], 0, (7246.36674, 6330.025, -1257.75239, 13345.8507)),
}


@pytest.mark.parametrize("kind", sorted(PINNED))
def test_generator_reproduces_the_recorded_clips(kind):
    s = synth.make_clip(synth.ClipSpec(kind, seed=7, index=0)).sequences[0]
    n, view, reps, lost, sums = PINNED[kind]
    lm = s.landmarks.astype(np.float64)
    assert (len(s.t), s.view, [tuple(r) for r in s.reps[:3]]) == (n, view, reps)
    assert int(np.isnan(lm[:, 0, 0]).sum()) == lost
    assert np.allclose([np.nansum(lm[..., j]) for j in range(4)], sums, rtol=1e-6, atol=1e-3)


def test_estimator_smooths_with_the_device_filter_in_float64():
    """The generator's mediapipe smoothing is the device's One-Euro filter, run in float64: it
    agrees with the device's own float32 arithmetic to float32 precision."""
    from formcheck.device.pose.smoothing import OneEuroFilter, OneEuroParams
    from formcheck.train.synth.estimator_model import one_euro

    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.03, 0.04, 200))
    X = np.cumsum(rng.normal(0, 3, (200, 6)), 0) + 500
    obj = np.full(200, 250.0)
    out = one_euro(X, t, obj, min_cutoff=0.05, beta=80.0)
    f32 = OneEuroFilter(OneEuroParams(0.05, 80.0, 1.0))
    ref = np.stack([f32.apply(X[i], t[i], 1 / 250.0) for i in range(200)])
    assert out.dtype == np.float64
    assert np.allclose(out, ref, rtol=0, atol=0.01)  # pixels
    assert np.abs(np.diff(out, axis=0)).mean() < np.abs(np.diff(X, axis=0)).mean()  # it smooths


def test_dataset_is_identical_whatever_the_worker_count(tmp_path):
    cfg = synth.SynthConfig(exercises=("squat", "knee_up", IDLE), clips_per_exercise=2, seed=11)
    s1 = synth.generate_dataset(tmp_path / "serial", cfg, workers=1, progress=False)
    s2 = synth.generate_dataset(tmp_path / "parallel", cfg, workers=2, progress=False)
    assert s1["clips"] == s2["clips"] == 6 and s1["n_errors"] == 0
    files = sorted(p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*.npz"))
    assert files == sorted(p.relative_to(tmp_path / "parallel") for p in (tmp_path / "parallel").rglob("*.npz"))
    for f in files:
        a, b = read_sequences(tmp_path / "serial" / f), read_sequences(tmp_path / "parallel" / f)
        assert [x.meta() for x in a] == [x.meta() for x in b]
        assert all(np.array_equal(x.landmarks, y.landmarks, equal_nan=True) for x, y in zip(a, b, strict=True))
    # resumable: a second run keeps what is there
    s3 = synth.generate_dataset(tmp_path / "serial", cfg, workers=1, progress=False)
    assert s3["skipped_existing"] == 6 and s3["clips"] == 0


def test_dataset_loads_with_labels_and_mostly_valid_features(tmp_path):
    cfg = synth.SynthConfig(clips_per_exercise=1, seed=1, exercises=(*EXERCISE_IDS, IDLE), views_per_clip=3)
    summary = synth.generate_dataset(tmp_path, cfg, workers=1, progress=False)
    assert summary["clips"] == 10 and (tmp_path / "manifest.json").exists()
    assert set(summary["failed_conditions"]) <= set(EXERCISE_IDS)
    seqs = list(iter_dataset(tmp_path))
    assert len(seqs) == 30
    spec, coords_only = FeatureSpec(min_visibility=0.2), FeatureSpec()
    valid, valid_front, valid_xy = [], [], []
    for s in seqs:
        assert s.origin == "synthetic" and s.group and s.subject and s.view in synth.ALL_VIEWS
        assert 8 <= s.fps <= 30 and s.image_size[0] > 0 and s.image_size[1] > 0
        assert np.all(np.diff(s.t) > 0)
        if s.exercise == IDLE:
            assert s.reps == [] and s.conditions == [] and s.correct is None
        else:
            ex = EXERCISES[s.exercise]
            assert s.conditions == list(ex.condition_names) and ROM in s.conditions
            assert all(isinstance(v, bool) for v in s.condition_values)
            assert s.correct == all(s.condition_values)
            assert len(s.reps) >= 2 and all(0 <= a < b < len(s.t) for a, b in s.reps)
            assert all(s.reps[i][1] <= s.reps[i + 1][0] for i in range(len(s.reps) - 1))
        lm = s.landmarks
        assert lm.shape[1:] == (33, 4)
        found = np.isfinite(lm[:, 0, 0])
        assert np.all((lm[found, :, 3] >= 0) & (lm[found, :, 3] <= 1))
        _, ok = sequence_features(s.t, lm, spec, s.image_size)
        valid.append(ok.mean())
        if s.view == "front" and s.exercise not in synth.LYING:  # lying, "front" sees the side
            valid_front.append(ok.mean())
        valid_xy.append(sequence_features(s.t, lm, coords_only, s.image_size)[1].mean())
    # the two views of a clip share the motion and labels
    by_group = {}
    for s in seqs:
        by_group.setdefault(s.group, []).append(s)
    assert all(len(v) == 3 and v[0].reps == v[1].reps == v[2].reps
               and v[0].condition_values == v[2].condition_values for v in by_group.values())
    # Like BlazePose on real clips: facing the camera nearly every frame passes a 0.2
    # visibility gate; side-on, the far limbs are often below it (the real side-view curl clip:
    # 0% of frames), while the coordinates themselves are there in every found frame.
    assert valid_front and np.mean(valid_front) > 0.85
    assert np.mean(valid_xy) > 0.9 and np.mean(np.array(valid_xy) > 0.7) > 0.9
    assert np.mean(valid) < np.mean(valid_xy)


def test_condition_sampling_is_balanced_and_rom_couplings_hold():
    rng = np.random.default_rng(0)
    n = 3000
    for ex in ("squat", "knee_up", "side_crunch"):
        keys = synth.condition_keys(ex)
        fails = np.zeros(len(keys))
        correct = 0
        for _ in range(n):
            sev = synth.sample_severities(rng, ex, p_correct=0.3)
            bad = np.array([sev[k] >= synth.FAULT_THRESHOLD for k in keys])
            fails += bad
            correct += not bad.any()
            if ex == "knee_up":
                assert bad[keys.index(ROM)] == bad[keys.index("knee_high")]
            if ex == "side_crunch" and bad[keys.index(ROM)]:
                assert bad[keys.index("knee_elbow_close")]
            assert all(v < synth.CORRECT_MAX + 1e-9 or v >= synth.FAULT_MIN for v in sev.values())
        assert 0.25 < correct / n < 0.35
        assert np.all(fails / n > 0.12) and np.all(fails / n < 0.6)


def test_idle_clips_have_no_exercise_labels():
    for i in range(6):
        s = synth.make_clip(synth.ClipSpec(IDLE, 2, i)).sequences[0]
        assert s.exercise == IDLE and s.reps == [] and s.correct is None and s.label == "idle"
        assert np.isfinite(s.landmarks[:, 0, 0]).mean() > 0.5


# ---- cameras -------------------------------------------------------------------------------

def _widths(s):
    xy = np.asarray(s.landmarks[:, :, :2], float) * [s.image_size[0] / s.image_size[1], 1]
    torso = np.linalg.norm((xy[:, 11] + xy[:, 12] - xy[:, 23] - xy[:, 24]) / 2, axis=1)
    return (np.median(np.linalg.norm(xy[:, 11] - xy[:, 12], axis=1) / torso),
            np.median(np.linalg.norm(xy[:, 23] - xy[:, 24], axis=1) / torso))


def test_front_and_side_views_see_the_body_differently():
    front = clean("side_raise", view="front").sequences[0]
    side = clean("side_raise", view="left-90").sequences[0]
    fs, fh = _widths(front)
    ss, sh = _widths(side)
    assert fs > 0.6 and fh > 0.35
    assert ss < 0.35 and sh < 0.25
    # from the person's left, the right arm is behind the body: BlazePose is unsure of it
    assert np.median(side.landmarks[:, R_EL, 3]) < 0.5 < np.median(side.landmarks[:, L_EL, 3])
    assert np.median(front.landmarks[:, R_EL, 3]) > 0.8 and np.median(front.landmarks[:, L_EL, 3]) > 0.8
    assert abs(front.extra["camera"]["azimuth_deg"]) <= 6 and side.view == "left-90"


@pytest.mark.parametrize("view,hides", [("left-90", True), ("right-90", True), ("front", False)])
def test_barbell_plates_hide_the_body_only_seen_end_on(view, hides):
    clip = clean("deadlift", view=view)
    P, t = clip.skeleton.points, clip.motion.t
    cam = synth.sample_camera(np.random.default_rng(5), P, view=view)
    uv, depth = synth.project(cam, P)
    out, hidden = synth.plate_occlusion(np.random.default_rng(6), P, cam, uv, depth, t)
    torso = np.median(np.linalg.norm(uv[:, L_SH] - uv[:, L_HIP], axis=1))
    if not hides:
        assert not hidden.any() and np.array_equal(out, uv)
        return
    # the plate sits in front of the hands: they are hidden most of the time, the head never
    assert np.median(hidden[:, [L_WR, R_WR]]) > 0.5 and hidden[:, :11].max() == 0
    # BlazePose's guesses: hidden arms wander, the legs stay where they are
    err = np.linalg.norm(out - uv, axis=-1) / torso
    assert np.median(err[:, [L_WR, R_WR]]) > 0.05 and err[:, 23:].max() == 0


def test_plates_are_a_labelled_variant_of_barbell_lifts():
    lifts = [synth.make_clip(synth.ClipSpec("deadlift", seed=4, index=i, fps=10)).sequences[0] for i in range(8)]
    assert {s.extra["variant"]["plates"] for s in lifts} == {True, False}
    raise_ = synth.make_clip(synth.ClipSpec("side_raise", seed=4, index=0, fps=10)).sequences[0]
    assert raise_.extra["variant"]["plates"] is False  # dumbbells


def test_aihub_views_mirror_left_and_right():
    def nose_offset(view):
        s = clean("squat", view=view).sequences[0]
        lm = s.landmarks
        return np.median(lm[:, 0, 0] - (lm[:, 7, 0] + lm[:, 8, 0]) / 2)

    assert nose_offset("left-45") < 0 < nose_offset("right-45")
    # from behind (135 degrees) the person's left shoulder is on the image left
    back = clean("squat", view="left-135").sequences[0].landmarks
    assert np.median(back[:, L_SH, 0] - back[:, R_SH, 0]) < 0
    front = clean("squat", view="front").sequences[0].landmarks
    assert np.median(front[:, L_SH, 0] - front[:, R_SH, 0]) > 0


def test_estimator_noise_is_realistic_not_clean():
    a = clean("squat", view="front").sequences[0]
    b = synth.make_clip(synth.ClipSpec("squat", 3, 1, view="front", fps=20)).sequences[0]
    ok = np.isfinite(b.landmarks[:, 0, 0])
    d = np.abs(a.landmarks[ok, :, :2] - b.landmarks[ok, :, :2])
    torso = np.median(np.linalg.norm(a.landmarks[:, 11, :2] - a.landmarks[:, 23, :2], axis=1))
    assert 0.002 < np.median(d) / torso < 0.1  # jitter present, body still where it was
    # z is BlazePose-like: relative to the hips
    assert np.nanmedian(np.abs((b.landmarks[:, L_HIP, 2] + b.landmarks[:, R_HIP, 2]) / 2)) < 0.02


# ---- render and CLI -----------------------------------------------------------------------

def test_render_writes_a_strip_and_an_animation(tmp_path):
    c = clean("squat", faults=("knees_in_line",), view="front")
    png = render_strip(c.sequences, tmp_path / "strip.png", n=5)
    gif = render_gif(c.sequences[0], tmp_path / "anim.gif", max_frames=40)
    with Image.open(png) as im:
        assert im.width > 400 and im.height > 100
        px = np.asarray(im.convert("L"))
        assert (px < 200).mean() > 0.005  # something is drawn
    with Image.open(gif) as im:
        assert im.n_frames > 10


def test_cli_generates_renders_and_rejects_bad_input(tmp_path, capsys):
    out = tmp_path / "ds"
    assert cli_main(["-o", str(out), "--clips-per-exercise", "1", "--exercises", "squat,deadlift",
                     "--idle-clips", "1", "--workers", "1", "--no-progress", "--seed", "4"]) == 0
    assert len(list(out.rglob("*.npz"))) == 3
    f = next((out / "squat").glob("*.npz"))
    assert cli_main(["--render", str(f), "-o", str(tmp_path / "a.png")]) == 0
    assert cli_main(["--render", "squat:knees_in_line,heels_down", "-o", str(tmp_path / "b.gif"), "--view", "front"]) == 0
    assert cli_main(["--render", f.stem, "-o", str(tmp_path / "c.png"), "--clean"]) == 0
    assert (tmp_path / "a.png").exists() and (tmp_path / "b.gif").exists() and (tmp_path / "c.png").exists()
    capsys.readouterr()
    assert cli_main(["-o", str(out), "--exercises", "pushup"]) == 2
    assert "pushup" in capsys.readouterr().err
    assert cli_main(["--render", "squat:wobbly_knees", "-o", str(tmp_path / "x.png")]) == 2
    assert "wobbly_knees" in capsys.readouterr().err
    assert cli_main(["--render", "squat", "-o", str(tmp_path / "x.txt")]) == 2
    assert cli_main(["--clips-per-exercise", "1"]) == 2
    with pytest.raises(SystemExit) as e:
        cli_main(["--help"])
    assert e.value.code == 0
    assert "examples:" in capsys.readouterr().out


# ---- realism against real BlazePose (reference clip) ------------------------------------------

@pytest.mark.shared_data
def test_realism_report_on_the_real_curl_clip(videos_dir, tmp_path):
    from formcheck.train.synth.report import build_report

    src = videos_dir / "barbell_curl_side.mp4"
    if not src.exists():
        pytest.skip("barbell_curl_side.mp4 is absent")
    vids = tmp_path / "videos"
    vids.mkdir()
    shutil.copy(src, vids / src.name)
    md = build_report(tmp_path / "report", vids, cache_dir=tmp_path / "cache", n_synth=6, gallery=False)
    text = md.read_text()
    assert "barbell_curl_side" in text and "left_elbow" in text
    for fig in ("angles.png", "bones.png", "jitter.png", "visibility.png"):
        assert (tmp_path / "report" / fig).stat().st_size > 1000
    import json

    st = json.loads((tmp_path / "report" / "stats.json").read_text())["barbell_curl_side"]
    # the synthetic curls cover most of the real elbow range, and both are side-on
    assert st["angle_overlap"]["left_elbow"] > 0.6 and st["angle_overlap"]["right_elbow"] > 0.6
    assert st["synthetic"]["bones"]["shoulder_width"] < 0.35
    assert math.isfinite(st["synthetic"]["jitter"]["wrists"])


def test_side_lunge_bends_the_working_knee_out_over_the_foot():
    """A side lunge's knee travels out over the foot, so seen from the front the bend is in the
    image and the working thigh comes down towards horizontal (on the real clip: knee 104°,
    thigh 22° below horizontal), not forward at the camera as in a squat (generator v2: knee
    ~154°, thigh ~50° below horizontal)."""
    thighs, knees = [], []
    for index in range(1, 7):
        seq = clean("side_lunge", view="front", index=index).sequences[0]
        xy = aspect_corrected(seq.landmarks, seq.image_size)[:, :, :2]
        kl, kr = joint_angles(xy, ((L_HIP, L_KN, L_AN), (R_HIP, R_KN, R_AN))).T
        i = int(np.nanargmin(np.minimum(kl, kr)))  # the deepest frame
        hip, knee = (xy[i, L_HIP], xy[i, L_KN]) if kl[i] < kr[i] else (xy[i, R_HIP], xy[i, R_KN])
        v = knee - hip  # image y points down
        thighs.append(math.degrees(math.atan2(v[1], abs(v[0]))))
        knees.append(min(kl[i], kr[i]))
    assert np.median(knees) < 140, knees
    assert np.median(thighs) < 40, thighs


# ---- variants real footage shows (issue: reps and exercise on real footage) -----------------

def variant(kind, index=1, view="left-45", seed=3, faults=(), **choices):
    """A noise-free clip with its program choices fixed (e.g. posture="seated")."""
    return synth.make_clip(synth.ClipSpec(kind, seed=seed, index=index, faults=tuple(faults), view=view,
                                          noise=0.0, fps=20, variants=choices))


def _ang3(P, *triplets):
    return joint_angles(P, triplets, dims=3).T


def _in_reps(s):
    inside = np.zeros(len(s.t), bool)
    for a, b in s.reps:
        inside[a:b + 1] = True
    return inside


@pytest.mark.parametrize("implement", ["barbell", "dumbbell"])
@pytest.mark.parametrize("posture", ["standing", "seated"])
def test_overhead_press_seated_and_standing_with_a_barbell_or_dumbbells(posture, implement):
    for index in (1, 2):
        c = variant("overhead_press", index=index, posture=posture, implement=implement)
        s, P = c.sequences[0], c.skeleton.points
        assert s.extra["variant"]["posture"] == posture and s.extra["variant"]["implement"] == implement
        hip_l, knee_l, knee_r = _ang3(P, (L_SH, L_HIP, L_KN), (L_HIP, L_KN, L_AN), (R_HIP, R_KN, R_AN))
        during = _in_reps(s)
        if posture == "seated":  # hips and knees at about 90 degrees, the legs still
            assert 75 < np.median(hip_l) < 110 and 75 < np.median(knee_l) < 110
            assert np.std(knee_l[during]) < 3 and np.std(knee_r[during]) < 3
            assert s.condition_values[s.conditions.index(EXERCISES["overhead_press"].condition_names[3])] is True
        else:
            assert np.median(knee_l) > 160 and np.median(hip_l) > 155
        wrist = (P[:, L_WR] + P[:, R_WR]) / 2
        for a, b in s.reps:  # from the shoulders to overhead and back
            assert wrist[a, 1] < P[a, 0, 1] + 0.08 and wrist[b, 1] < P[b, 0, 1] + 0.08
            assert wrist[a:b + 1, 1].max() > P[a:b + 1, 0, 1].max() + 0.15
        spread = np.abs(P[:, L_WR, 0] - P[:, R_WR, 0])
        top = [a + int(np.argmax(wrist[a:b + 1, 1])) for a, b in s.reps]
        if implement == "dumbbell":  # the dumbbells start outside the shoulders and come in overhead
            sh = np.abs(P[:, L_SH, 0] - P[:, R_SH, 0])
            assert all(spread[a] > sh[a] + 0.12 for a, _ in s.reps)
            assert all(spread[k] < spread[a] - 0.1 for k, (a, _) in zip(top, s.reps, strict=True))
        else:  # one bar: the hands keep their grip width
            assert all(abs(spread[k] - spread[a]) < 0.1 for k, (a, _) in zip(top, s.reps, strict=True))
        assert not s.extra["variant"]["plates"] or implement == "barbell"


@pytest.mark.parametrize("view", ["front", "left-45", "right-45"])
def test_presses_are_seen_pressing_from_the_front_and_oblique_views(view):
    """In the image (what the model sees), each rep's elbow opens by a wide angle from the front
    and from either oblique camera, seated or standing."""
    for posture in ("standing", "seated"):
        s = variant("overhead_press", index=3, view=view, posture=posture, implement="dumbbell").sequences[0]
        xy = aspect_corrected(s.landmarks, s.image_size)[:, :, :2]
        el = np.nanmax(joint_angles(xy, ((L_SH, L_EL, L_WR), (R_SH, R_EL, R_WR))), axis=1)
        for a, b in s.reps:
            assert np.nanmax(el[a:b + 1]) - min(el[a], el[b]) > 40, (view, posture)


def test_alternating_one_arm_curls_curl_the_labelled_arm_only():
    c = variant("barbell_curl", index=2, view="front", implement="dumbbell", arms="alternating")
    s, P = c.sequences[0], c.skeleton.points
    sides = s.extra["rep_sides"]
    assert set(sides) == {"left", "right"} and all(x != y for x, y in itertools.pairwise(sides))
    el_l, el_r = _ang3(P, (L_SH, L_EL, L_WR), (R_SH, R_EL, R_WR))
    for (a, b), side in zip(s.reps, sides, strict=True):
        work, rest = (el_l, el_r) if side == "left" else (el_r, el_l)
        assert work[a:b + 1].min() < 80, side
        assert rest[a:b + 1].min() > 140, side
    assert s.extra["variant"]["plates"] is False
    both = variant("barbell_curl", index=2, view="front", implement="dumbbell", arms="together").sequences[0]
    assert set(both.extra["rep_sides"]) == {"both"}


def test_knee_ups_alternate_sides_and_lift_the_knee_in_front_even_with_hands_behind_the_head():
    """Hands behind the head is a side crunch's hold; a knee-up still brings the knee up in front
    of the hip (a side crunch brings it out to the side)."""
    ku = next(c for i in range(1, 12) if (c := variant("knee_up", index=i, view="front", hands_behind_head="yes"))
              .sequences[0].extra["variant"]["sides"] == "alternate")
    s, P = ku.sequences[0], ku.skeleton.points
    sides = s.extra["rep_sides"]
    assert {"left", "right"} <= set(sides)
    assert np.median(P[:, L_WR, 1] - P[:, L_SH, 1]) > 0.05  # the hands up by the head
    fwd, lat = [], []
    for (a, b), side in zip(s.reps, sides, strict=True):
        knee = L_KN if side == "left" else R_KN
        k = a + int(np.argmax(P[a:b + 1, knee, 1]))
        d = P[k, knee] - P[a, knee]
        fwd.append(d[2])
        lat.append(abs(d[0]))
        other = R_KN if side == "left" else L_KN
        assert P[k, knee, 1] > P[k, other, 1] + 0.15  # the labelled side's knee is the one up
    assert np.median(fwd) > 2 * np.median(lat) and np.median(fwd) > 0.2

    def tilt(c):  # the shoulder line's tilt at each rep's top: a side crunch bends the trunk sideways
        P = c.skeleton.points
        v = P[:, L_SH] - P[:, R_SH]
        ang = np.degrees(np.arctan2(np.abs(v[:, 1]), np.linalg.norm(v[:, [0, 2]], axis=1)))
        return np.median([ang[a:b + 1].max() for a, b in c.sequences[0].reps])

    assert tilt(ku) < 10 < 15 < tilt(variant("side_crunch", index=2, view="front"))


def test_side_lunges_to_both_sides_are_labelled_by_side():
    c = next(c for i in range(1, 12) if (c := variant("side_lunge", index=i, view="front"))
             .sequences[0].extra["variant"]["sides"] == "alternate")
    s, P = c.sequences[0], c.skeleton.points
    sides = s.extra["rep_sides"]
    assert set(sides) == {"left", "right"}
    kl, kr = _ang3(P, (L_HIP, L_KN, L_AN), (R_HIP, R_KN, R_AN))
    pelvis_x = (P[:, L_HIP, 0] + P[:, R_HIP, 0]) / 2  # +x is the person's left
    for (a, b), side in zip(s.reps, sides, strict=True):
        work, other = (kl, kr) if side == "left" else (kr, kl)
        k = a + int(np.argmin(work[a:b + 1]))
        assert work[k] < 130 and other[k] > 150, side
        assert (pelvis_x[k] - pelvis_x[a]) * (1 if side == "left" else -1) > 0.1, side


def test_leg_raise_pelvis_lift_variant_lifts_the_hips_with_the_legs_near_vertical():
    lift = variant("leg_raise", index=2, view="front", style="pelvis_lift")
    classic = variant("leg_raise", index=2, view="front", style="classic")
    for c, lifts in ((lift, True), (classic, False)):
        s, P = c.sequences[0], c.skeleton.points
        hip = (P[:, L_HIP] + P[:, R_HIP]) / 2
        leg = (P[:, L_AN] + P[:, R_AN]) / 2 - hip
        elev = np.degrees(np.arctan2(leg[:, 1], np.linalg.norm(leg[:, [0, 2]], axis=1)))
        for a, b in s.reps:
            k = a + int(np.argmax(elev[a:b + 1]))
            rise = hip[a:b + 1, 1].max() - hip[a, 1]
            assert elev[k] > 75  # the legs come up to about vertical
            if lifts:
                assert rise > 0.06, rise
                top = np.flatnonzero(hip[a:b + 1, 1] > hip[a, 1] + 0.5 * rise) + a
                assert elev[top].min() > 70  # ... and stay there while the pelvis is up
                assert elev[a] > 30  # the legs do not go down to the floor
            else:
                assert rise < 0.02
        lbd = s.condition_values[s.conditions.index(EXERCISES["leg_raise"].condition_names[0])]
        assert lbd is (not lifts)  # the pelvis off the floor is what "lower back down" forbids


def test_deadlift_from_the_floor_counts_floor_to_lockout_to_floor_and_a_reset_is_not_a_rep():
    found_reset = False
    for index in range(1, 6):
        c = variant("deadlift", index=index, view="left-90", start="floor")
        s, P = c.sequences[0], c.skeleton.points
        wrist = (P[:, L_WR, 1] + P[:, R_WR, 1]) / 2
        hip_y = (P[:, L_HIP, 1] + P[:, R_HIP, 1]) / 2
        hip_ang = _ang3(P, (L_SH, L_HIP, L_KN))[0]
        floor = np.median([wrist[a] for a, _ in s.reps])
        assert floor < 0.4  # the bar (in the hands) is down at a plate's height
        for a, b in s.reps:  # each rep: from the floor to lockout and back to the floor
            assert abs(wrist[a] - floor) < 0.05 and abs(wrist[b] - floor) < 0.05
            k = a + int(np.argmax(wrist[a:b + 1]))
            assert wrist[k] > floor + 0.4 and hip_ang[k] > 160
        first, _ = s.reps[0]
        assert wrist[first] < floor + 0.05  # the first pull starts on the floor
        for (_, b0), (a1, _) in zip(s.reps, s.reps[1:], strict=False):
            if any(a0 <= b0 and a1 <= e0 for a0, e0 in s.extra["active"]):  # same set: the bar stays down
                assert wrist[b0:a1 + 1].max() < floor + 0.08
                if hip_y[b0:a1 + 1].max() - hip_y[b0] > 0.05:  # a re-set: hips up and down, no rep
                    found_reset = True
    assert found_reset


OTHER_PRIMARY = {  # (joint triplets of the moving joint, range it must cover per rep, degrees)
    "front_raise": (((L_HIP, L_SH, L_EL), (R_HIP, R_SH, R_EL)), 50),
    "forward_lunge": (((L_HIP, L_KN, L_AN), (R_HIP, R_KN, R_AN)), 50),
    "bent_over_row": (((L_SH, L_EL, L_WR), (R_SH, R_EL, R_WR)), 50),
    "calf_raise": (((L_KN, L_AN, L_FT), (R_KN, R_AN, R_FT)), 12),
    "push_up": (((L_SH, L_EL, L_WR), (R_SH, R_EL, R_WR)), 40),
}


@pytest.mark.parametrize("movement", sorted(OTHER_PRIMARY))
def test_other_class_movements_repeat_with_labelled_reps(movement):
    """``other`` clips: labelled other (no conditions), each labelled rep one excursion of the
    moving joint, nothing rep-like between reps: what a class-agnostic counter must find."""
    c = variant("other", index=2, view="left-45", movement=movement)
    s, P = c.sequences[0], c.skeleton.points
    assert (s.exercise, s.label, s.conditions, s.correct) == ("other", "other", [], None)
    assert len(s.reps) >= 2 and len(s.extra["rep_sides"]) == len(s.reps)
    triplets, min_range = OTHER_PRIMARY[movement]
    ang = _ang3(P, *triplets)
    for (a, b), side in zip(s.reps, s.extra["rep_sides"], strict=True):
        j = {"left": 0, "right": 1}.get(side)
        sig = ang[j] if j is not None else ang.mean(0)
        if movement == "forward_lunge":
            sig = np.minimum(ang[0], ang[1])
        seg = sig[a:b + 1]
        rest = (seg[0] + seg[-1]) / 2
        amp = np.max(np.abs(seg - rest))
        assert amp > min_range, (movement, amp)
        half = np.sign(np.abs(seg - rest) - 0.5 * amp)
        assert np.count_nonzero(np.diff(half[half != 0]) != 0) == 2
    if movement == "push_up":
        body = _ang3(P, (L_SH, L_HIP, L_AN))[0]
        assert np.median(body) > 160  # a straight plank
        assert P[:, [L_SH, R_SH], 1].max() < 0.9 and P[..., 1].min() > -0.02  # low, nothing under the floor
    if movement == "calf_raise":
        assert min(P[a:b + 1, L_HEEL, 1].max() - P[a, L_HEEL, 1] for a, b in s.reps) > 0.04


def test_other_clips_in_datasets_and_the_recogniser_label_space(tmp_path):
    from formcheck.train.data import EXERCISE_LABELS, OTHER, build_windows, exercises_in, load_sequences

    cfg = synth.SynthConfig(exercises=("squat", IDLE, OTHER), clips_per_exercise=1, other_clips=3, seed=2)
    summary = synth.generate_dataset(tmp_path, cfg, workers=1, progress=False)
    assert summary["per_kind"] == {"squat": 1, IDLE: 1, OTHER: 3} and summary["n_errors"] == 0
    seqs = load_sequences([tmp_path])
    assert exercises_in(seqs) == ["squat"]  # other is not an exercise to train conditions for
    ws = build_windows(seqs, FeatureSpec(window_mode="sliding", stride=6), "exercise")
    assert ws.space.labels == (*EXERCISE_LABELS, OTHER)
    assert ws.y[:, -1].sum() > 0  # other windows labelled other
    with pytest.raises(ValueError, match="has no choice"):
        synth.make_clip(synth.ClipSpec("squat", variants={"posture": "seated"}))
    with pytest.raises(ValueError, match="has no choice"):  # drawn by the program itself, not fixable
        synth.make_clip(synth.ClipSpec("side_lunge", variants={"sides": "left"}))
    with pytest.raises(ValueError, match="choose one of"):
        synth.make_clip(synth.ClipSpec("overhead_press", variants={"posture": "kneeling"}))


@pytest.mark.parametrize("posture,implement", [("standing", "barbell"), ("standing", "dumbbell"),
                                               ("seated", "dumbbell")])
def test_presses_take_the_weight_up_from_the_hang_and_put_it_down_after_the_set(posture, implement):
    """Real sets start and end with the weight down: before the first rep the hands come up from
    the hang (seated: from the knees) to the shoulders, after the last rep they go back down."""
    s, P = (c := variant("overhead_press", index=1, posture=posture, implement=implement,
                         rest_hands="hang")).sequences[0], c.skeleton.points
    wrist = (P[:, L_WR, 1] + P[:, R_WR, 1]) / 2 - (P[:, L_SH, 1] + P[:, R_SH, 1]) / 2
    (first, _), (_, last) = s.reps[0], s.reps[-1]
    assert wrist[0] < -0.25 and wrist[first] > -0.08  # from the hang up to the shoulders
    assert wrist[-1] < wrist[last] - 0.1  # on the way down again after the last rep
    held = variant("overhead_press", index=1, posture=posture, implement=implement, rest_hands="shoulders")
    Ph = held.skeleton.points
    assert ((Ph[0, L_WR, 1] + Ph[0, R_WR, 1]) / 2 - (Ph[0, L_SH, 1] + Ph[0, R_SH, 1]) / 2) > -0.08


def test_a_seated_barbell_press_keeps_the_bar_at_the_shoulders_between_sets():
    """A seated barbell press takes the bar from a rack at head height: no hang to start from."""
    s = variant("overhead_press", index=1, posture="seated", implement="barbell").sequences[0]
    assert s.extra["variant"]["rest_hands"] == "shoulders"
    with pytest.raises(ValueError, match="rest_hands"):
        variant("overhead_press", index=1, posture="seated", implement="barbell", rest_hands="hang")
