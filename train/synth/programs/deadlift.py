"""The ``deadlift`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import numpy as np

from formcheck.device.exercises import ROM

from ..maths import DEG
from ..schedule import Schedule, build_schedule, idle_spans
from ..skeleton import Motion
from .common import ClipContext, add_life, fault_size, fault_variant, idle_gesture, sagittal_root, stand_feet


def prog_deadlift(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng = ctx.body, ctx.rng("style")
    sch = build_schedule(ctx.rng("timing"), "deadlift")
    # rom: the lockout is incomplete between reps (hips and knees stay bent)
    s_rom = ctx.sev(ROM)
    lock = (s_rom * fault_size(ctx, ROM, 0.35, 0.55)) if s_rom > 0 else 0.0
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
    hk = s_hk * fault_size(ctx, "hips_knees_together", 0.8, 1.0)
    a_knee = np.where(back_m > 0, a + hk * (a ** 3 - a), a)
    a_hip = np.where(back_m > 0, a + hk * ((1 - (1 - a) ** 3) - a), a)
    kappa = np.radians(3) + a_knee * (knee_bottom - np.radians(3))
    beta = np.radians(1) + a_knee * rng.uniform(8, 20) * DEG
    root = sagittal_root(b, half_w, kappa, beta)
    lean = np.radians(rng.uniform(-3, 2)) + a_hip * hinge_bottom
    s_back = ctx.sev("back_neutral")
    r = s_back * fault_size(ctx, "back_neutral", 25, 45) * DEG * a_hip
    m["pitch"] = lean * 0.9 - 0.5 * r
    m["lumbar_flex"] = lean * 0.04 + 0.55 * r
    m["thor_flex"] = lean * 0.06 + 0.5 * r
    total = lean + 0.55 * r  # the chest's tilt from vertical (pitch + lumbar + thoracic)
    m["neck_flex"] = -rng.uniform(0.2, 0.6) * lean + rng.uniform(-5, 10) * DEG + 0.3 * r
    # knees: caving in on the way up
    s_knee = ctx.sev("knees_over_toes")
    valgus = s_knee * fault_size(ctx, "knees_over_toes", 12, 28) * DEG * a_knee * (0.6 + 0.6 * back_m)
    m["l_knee_in"] = valgus + rng.uniform(-2, 2) * DEG * a
    m["r_knee_in"] = valgus * rng.uniform(0.7, 1.0) + rng.uniform(-2, 2) * DEG * a
    # feet: heels rise (weight on toes) or toes rise (rocking back)
    s_feet = ctx.sev("feet_flat")
    v_feet = fault_variant(ctx, "feet_flat", [("heels", 0.7), ("toes", 0.3)])
    fm = s_feet * fault_size(ctx, "feet_flat", 10, 22) * DEG * np.clip(1.2 * a - 0.1, 0, 1)
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
    away = s_bar * fault_size(ctx, "bar_close", 14, 28) * DEG * np.clip(a * 1.4, 0, 1)
    grip_abd = rng.uniform(3, 9) * DEG
    for s in ("l", "r"):
        m[f"{s}_sh_flex"] = total + away + rng.uniform(-3, 3) * DEG
        m[f"{s}_sh_abd"] = grip_abd
        m[f"{s}_el_flex"] = rng.uniform(0, 8) * DEG
        m[f"{s}_pron"] = rng.choice([170.0, 170.0, 10.0]) * DEG
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch
