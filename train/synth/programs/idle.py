"""Idle clips (the recogniser's no-exercise class): standing, walking, marching on the spot,
stretching, resting, lying on the mat."""

from __future__ import annotations

import math

import numpy as np

from ..body import Body
from ..maths import DEG, ap, bump, keyframes, min_jerk, ry, smooth_noise
from ..schedule import Schedule
from ..skeleton import FOOT_FWD, TOE_H, Motion
from .common import ClipContext, add_life, arms_hanging, sagittal_root, stand_feet

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
