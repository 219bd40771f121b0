"""The ``side_crunch`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import numpy as np

from formcheck.device.exercises import ROM

from ..maths import DEG
from ..schedule import Schedule, build_schedule, idle_spans
from ..skeleton import Motion
from .common import ClipContext, add_life, fault_size, fault_variant, idle_gesture, sagittal_root, stand_feet


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
    v_hands = fault_variant(ctx, "hands_behind_head", [("front", 0.4), ("down", 0.35), ("one", 0.25)])
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
    fl = s_back * fault_size(ctx, "back_neutral", 18, 35) * DEG * a_any
    m["thor_flex"] = 0.6 * fl
    m["lumbar_flex"] = 0.4 * fl
    m["twist"] = (aL - aR) * s_back * 12 * DEG
    s_look = ctx.sev("look_forward")
    v_look = fault_variant(ctx, "look_forward", [("down", 0.5), ("turn", 0.5)])
    lk = s_look * fault_size(ctx, "look_forward", 28, 48) * DEG
    if v_look == "down":
        m["neck_flex"] = lk * (0.4 + 0.6 * a_any)
    else:
        m["neck_rot"] = lk * (aL - aR) + lk * 0.3
        m["neck_flex"] = lk * 0.3 * a_any
    m.add("neck_tilt", -(aL - aR) * bend * rng.uniform(0.0, 0.3))
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch
