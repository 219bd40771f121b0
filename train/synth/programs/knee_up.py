"""The ``knee_up`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import numpy as np

from formcheck.device.exercises import ROM

from ..labels import FAULT_THRESHOLD
from ..maths import DEG, bump
from ..schedule import Schedule, build_schedule, idle_spans
from ..skeleton import Motion
from .common import (
    ClipContext,
    add_life,
    arms_hanging,
    callable_size,
    fault_size,
    fault_variant,
    idle_gesture,
    sagittal_root,
    stand_feet,
)


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
    if s_high >= FAULT_THRESHOLD:  # the thigh stops 35 (clearly short of hip height) to 65 below
        hip_peak = 90 * DEG - callable_size(ctx, "knee_high", 0.0, 35.0, 65.0) * DEG
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
    knee_st = rng.uniform(2, 6) * DEG + stomp * fault_size(ctx, "control_down", 8, 16) * DEG
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
    # hands behind the head, as in a side crunch (the knee comes up in front, not to the side):
    # its own stream, so the other arm styles are drawn as before
    if ctx.pick("hands_behind_head", ["no", "yes"], [0.8, 0.2]) == "yes":
        arms = "head"
    ctx.variant["arms"] = arms
    for s, sg in (("l", 1), ("r", -1)):
        if arms == "head":
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([sg * 0.045 * H, 0.135 * H, -0.035 * H], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, 0.3, -0.3], (m.T, 1))
            m[f"{s}_pron"] = 90 * DEG
        elif arms == "hips":
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
    v_look = fault_variant(ctx, "look_forward", [("down", 0.7), ("side", 0.3)])
    lk = s_look * fault_size(ctx, "look_forward", 30, 50) * DEG
    if v_look == "down":
        m["neck_flex"] = lk * (0.5 + 0.5 * a_any)
    else:
        m["neck_rot"] = lk * (1 if rng.random() < 0.5 else -1) * (0.6 + 0.4 * a_any)
    m.add("neck_flex", rng.uniform(-5, 6) * DEG)
    s_back = ctx.sev("back_neutral")
    hunch = s_back * fault_size(ctx, "back_neutral", 18, 38) * DEG * a_any
    m["thor_flex"] = 0.6 * hunch + rng.uniform(-2, 4) * DEG
    m["lumbar_flex"] = 0.5 * hunch
    m["pitch"] = rng.uniform(-3, 3) * DEG + 0.2 * hunch - a_any * rng.uniform(0, 6) * DEG
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch
