"""The ``side_raise`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import numpy as np

from formcheck.device.exercises import ROM

from ..labels import FAULT_THRESHOLD
from ..maths import DEG, bump, lagged
from ..schedule import Schedule, build_schedule, idle_spans
from ..skeleton import Motion
from .common import (
    ClipContext,
    add_life,
    callable_size,
    fault_size,
    fault_variant,
    idle_gesture,
    knee_for_hip_drop,
    sagittal_root,
    stand_feet,
)


def prog_side_raise(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sch = build_schedule(ctx.rng("timing"), "side_raise")
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    out_m, _back_m = sch.phase_masks(t)
    half_w = b.hip_w / 2 * rng.uniform(0.9, 1.4)
    stand_feet(m, b, half_w, rng.uniform(0, 18) * DEG)
    # knee bounce: the rep begins with a dip and the legs bounce the weights up, as deep as a
    # press's leg drive (2 to 3.5 inches, 0.06-0.1 leg lengths)
    dip = np.zeros(m.T)
    for r in sch.reps:
        dip += bump(t, r.start + 0.3, 0.45)
    drop = callable_size(ctx, "no_knee_bounce", 0.015, 0.06, 0.1) * b.leg
    knee = rng.uniform(2, 8) * DEG + knee_for_hip_drop(b, drop) * np.clip(dip, 0, 1)
    m["root"] = sagittal_root(b, half_w, knee, knee * 0.45)
    abd0 = rng.uniform(6, 18) * DEG
    abd_peak = rng.uniform(80, 100) * DEG
    rom = 1.0 - 0.55 * ctx.sev(ROM)  # correct reps: up to 15% short of shoulder height
    if ctx.sev(ROM) >= FAULT_THRESHOLD:  # stopped 30 (clearly short of shoulder height) to 60 below
        rom = (90 * DEG - callable_size(ctx, ROM, 0.0, 30.0, 60.0) * DEG - abd0) / (abd_peak - abd0)
    plane = rng.uniform(8, 42) * DEG  # up to the scapular plane, where many real side raises travel
    el0 = rng.uniform(8, 32) * DEG
    v_el = fault_variant(ctx, "elbow_angle_fixed", [("bend", 0.75), ("straighten", 0.25)])
    # a fault changes the elbow angle by 25 degrees (plainly visible) up to 70
    mag = callable_size(ctx, "elbow_angle_fixed", 10.0, 25.0, 70.0) * DEG
    if v_el == "bend":  # the elbows fold as the arms rise (shortening the lever)
        del_el = mag * np.sin(0.5 * np.pi * np.clip(a, 0, 1))
    else:  # bent at the bottom, straightened at the top
        del_el = mag * (1 - np.clip(a, 0, 1)) * sch.in_set(t)
    s_wr = ctx.sev("wrists_fixed")
    wr = s_wr * fault_size(ctx, "wrists_fixed", 30, 55) * DEG * a
    s_sh = ctx.sev("no_shrug")
    shrug = s_sh * fault_size(ctx, "no_shrug", 0.025, 0.05) * H * np.clip(a * 1.3 - 0.3, 0, 1) ** 1.3
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
    # (an excursion of 20 degrees and more, forward then back: past the 12-17 real good raises
    # show; 35 at the most)
    sw = callable_size(ctx, "no_torso_swing", 4.0, 12.0, 21.0) * DEG
    pre = np.zeros(m.T)
    for r in sch.reps:
        pre += bump(t, r.start, 0.6)
    m["pitch"] = rng.uniform(-2, 4) * DEG + sw * (0.8 * np.clip(pre, 0, 1) - 0.6 * a * out_m - 0.3 * a)
    m["lumbar_flex"] = -sw * 0.4 * a
    m["neck_flex"] = rng.uniform(-5, 8) * DEG
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch
