"""The ``side_lunge`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import math

import numpy as np

from formcheck.device.exercises import ROM

from ..labels import FAULT_THRESHOLD
from ..maths import DEG
from ..schedule import Schedule, build_schedule, idle_spans
from ..skeleton import Motion
from .common import ClipContext, add_life, callable_size, fault_size, fault_variant, idle_gesture, stand_feet


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
    # the working knee bends out over the foot (frontal plane, towards the toes by no more than
    # the foot turns out, under 20 degrees), not forward as in a squat: seen from the front the
    # thigh comes down to horizontal
    c_fwd = ctx.rng("knee_pole").uniform(0.0, 0.35)
    for s, sg in (("l", 1), ("r", -1)):
        toes = np.array([sg * math.sin(toe_out), 0.0, math.cos(toe_out)])
        m[f"{s}_knee_pole"] = np.tile(np.array([0.0, 1.0, 0.0]) + c_fwd * toes, (m.T, 1))
    # working knee flexion at the bottom; the faults: too deep/over the toes (working_knee_90),
    # too shallow (rom), the other knee bending (other_leg)
    s_90 = ctx.sev("working_knee_90")
    s_rom = ctx.sev(ROM)
    kw = rng.uniform(82, 102) * DEG
    kw = kw + s_90 * fault_size(ctx, "working_knee_90", 25, 40) * DEG * (1 - s_rom)
    if s_rom < FAULT_THRESHOLD:
        kw = kw * (1 - 0.5 * s_rom)
    else:  # "lunge deeper": the knee bent 30 (clearly short of the 90 asked) to 55 degrees short
        kw = min(kw, 90 * DEG - callable_size(ctx, ROM, 0.0, 30.0, 55.0) * DEG)
    # the other knee bends visibly (25 degrees, past a straight leg's soft 10) up to 55
    ko = rng.uniform(0, 6) * DEG + callable_size(ctx, "other_leg", 10.0, 25.0, 55.0) * DEG
    back_tilt = rng.uniform(12, 28) * DEG
    # the pelvis path: for each depth the hips sit where the working leg has that knee bend and
    # the other leg its own (straight) length, so the trailing leg stays straight all the way
    grid = np.linspace(0.0, 1.0, 11)
    paths = {}
    for sg in (1, -1):
        A_w = np.array([sg * half_w, b.ankle_h, 0.0])
        A_o = np.array([-sg * half_w, b.ankle_h, 0.0])
        off_w = np.array([sg * b.pelvis_w / 2, 0, 0])
        off_o = np.array([-sg * b.pelvis_w / 2, 0, 0])
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
    v_lean = fault_variant(ctx, "no_lean", [("forward", 0.65), ("back", 0.35)])
    if v_lean == "forward":
        lean = lean_c + s_lean * fault_size(ctx, "no_lean", 28, 45) * DEG
    else:
        lean = lean_c - s_lean * fault_size(ctx, "no_lean", 30, 50) * DEG
    m["pitch"] = a_any * lean * 0.9
    m["lumbar_flex"] = a_any * lean * 0.05
    s_back = ctx.sev("back_neutral")
    rnd = s_back * fault_size(ctx, "back_neutral", 22, 40) * DEG * a_any
    m.add("lumbar_flex", 0.5 * rnd)
    m["thor_flex"] = a_any * lean * 0.05 + 0.6 * rnd
    m.add("pitch", -0.3 * rnd)
    # the head lifts against the lean to look ahead, or not at all (a goblet hold: chin over the
    # weight, as on the real clip)
    m["neck_flex"] = -a_any * lean * rng.uniform(0.0, 0.7) + 0.3 * rnd
    # torso/foot/knee alignment: knee caves inside the foot, torso turns off the foot line
    s_al = ctx.sev("torso_foot_knee")
    v_al = fault_variant(ctx, "torso_foot_knee", [("knee", 0.6), ("torso", 0.4)])
    al = s_al * fault_size(ctx, "torso_foot_knee", 14, 28) * DEG
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
    idle_gesture(m, ctx.rng("idle"), b, idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch
