"""The ``squat`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import numpy as np

from formcheck.device.exercises import ROM

from ..labels import FAULT_THRESHOLD
from ..maths import DEG
from ..schedule import Schedule, build_schedule, idle_spans
from ..skeleton import Motion
from .common import (
    ClipContext,
    add_life,
    callable_size,
    fault_size,
    fault_variant,
    idle_gesture,
    lean_for_balance,
    sagittal_root,
    stand_feet,
)


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
    # how the load is held sets the trunk: a low bar needs the most lean, a front rack, a goblet
    # or arms held forward keep the trunk upright with the knees far over the toes
    bar = str(rng.choice(["high", "low", "front", "goblet", "arms_forward"], p=[0.35, 0.2, 0.15, 0.1, 0.2]))
    ctx.variant["bar"] = bar
    shank = {"high": (18, 36), "low": (14, 28), "front": (22, 42), "goblet": (20, 40), "arms_forward": (16, 38)}[bar]
    shank_b = rng.uniform(*shank) * DEG
    rom = _depth_share(ctx, depth, shank_b)
    kappa = np.radians(4) + a * (depth * rom - np.radians(4))
    beta = np.radians(2) + a * shank_b * rom ** 0.5
    root = sagittal_root(b, half_w, kappa, beta)
    # where the shoulders sit over the mid-foot: behind it when the load (or the arms) is in front
    ahead = {"high": 0.01, "low": 0.03, "front": -0.03, "goblet": -0.025, "arms_forward": -0.03}[bar]
    target = 0.25 * b.foot + ahead * H + rng.uniform(-0.02, 0.02) * H
    lean = lean_for_balance(b, root, target)
    lean = np.maximum(lean, 0.0)

    # back: the lean is mostly hip hinge, a little spine; faults round or over-arch the spine
    s_back = ctx.sev("back_neutral")
    v_back = fault_variant(ctx, "back_neutral", [("round", 0.65), ("overarch", 0.35)])
    spine_share = rng.uniform(0.05, 0.15)
    m["pitch"] = lean * (1 - spine_share)
    m["lumbar_flex"] = lean * spine_share * 0.4 + rng.uniform(-6, 2) * DEG
    m["thor_flex"] = lean * spine_share * 0.6
    if v_back == "round":
        r = s_back * fault_size(ctx, "back_neutral", 25, 45) * DEG * a ** 1.5
        m.add("lumbar_flex", 0.55 * r)
        m.add("thor_flex", 0.45 * r)
        m.add("pitch", -0.35 * r)  # less hinge at the hip, more curl in the spine
        m.add("neck_flex", 0.2 * r)
    else:
        r = s_back * fault_size(ctx, "back_neutral", 15, 25) * DEG
        m.add("pitch", r * (0.5 + a))  # chest drops: excessive forward lean
        m.add("lumbar_flex", -0.8 * r * (0.4 + a))  # with an over-arched lower back
    # head: gaze forward means the neck extends against the trunk lean
    head_k = rng.uniform(0.35, 0.8)
    m["neck_flex"] = m["neck_flex"] - head_k * lean + rng.uniform(-5, 8) * DEG
    s_head = ctx.sev("head_forward")
    v_head = fault_variant(ctx, "head_forward", [("down", 0.7), ("up", 0.3)])
    hm = fault_size(ctx, "head_forward", 35, 55) * DEG * s_head
    if v_head == "down":
        m.add("neck_flex", hm * (0.4 + 0.6 * a) + 0.6 * head_k * lean * s_head)
    else:
        m.add("neck_flex", -hm * (0.3 + 0.7 * a))
    # knees: track over the toes; the fault caves them in, most on the way up
    # (about the hip-ankle line: a fault from 15 degrees, past the 12 of normal 2-D valgus, to 35)
    valgus = callable_size(ctx, "knees_in_line", 7.5, 15, 35) * DEG * a * (0.7 + 0.5 * back_m)
    valgus += rng.uniform(-3, 3) * DEG * a
    asym = rng.uniform(0.75, 1.0)
    side_first = rng.random() < 0.5
    m["l_knee_in"] = valgus * (asym if side_first else 1.0)
    m["r_knee_in"] = valgus * (1.0 if side_first else asym)
    # heels: rise at depth (weight forward onto the toes)
    # (from 17.5 degrees: 0.3 foot lengths, clear of the 0.22 a flat foot reads on real people)
    heel = callable_size(ctx, "heels_down", 4.5, 17.5, 30.0) * DEG * np.clip(a * 1.25 - 0.1, 0, 1) ** 1.2
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
    idle_gesture(m, ctx.rng("idle"), b, idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def _depth_share(ctx: ClipContext, depth: float, shank: float) -> float:
    """Share of the person's full depth (knee flexion ``depth``, shank tilt ``shank`` at the
    bottom) reached: correct reps vary up to 15% shallower; a "go deeper" fault stops with the
    thighs 45 degrees (between a half and a quarter squat) to 70 (a quarter squat) above
    parallel, whatever the person's own depth."""
    s = ctx.sev(ROM)
    if s < FAULT_THRESHOLD:
        return 1.0 - 0.6 * s
    thigh = callable_size(ctx, ROM, 0.0, 45.0, 70.0) * DEG
    # thigh above horizontal = 90 - (knee flexion - shank tilt), with flexion depth*r and
    # shank tilt 2 deg + shank*sqrt(r) as the rep's bottom has them: solve for x = sqrt(r)
    c = np.radians(92) - thigh
    x = (shank + np.sqrt(shank ** 2 + 4 * depth * c)) / (2 * depth)
    return float(min(x * x, 1.0))
