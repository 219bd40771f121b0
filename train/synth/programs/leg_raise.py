"""The ``leg_raise`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import numpy as np

from formcheck.device.exercises import ROM

from ..maths import DEG, ap, bump, keyframes, ry
from ..schedule import Schedule, build_schedule
from ..skeleton import Motion
from .common import ClipContext, add_life, fault_size, fault_variant


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
    v_lb = fault_variant(ctx, "lower_back_down", [("lift", 0.6), ("arch", 0.4)])
    lbm = s_lb * fault_size(ctx, "lower_back_down", 18, 32) * DEG
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
    # the pelvis-lift variant (a reverse crunch): the legs swing between part-way down and
    # vertical, and at the top the pelvis curls up off the floor with the legs near vertical.
    # The pelvis leaving the floor is what "lower back down" forbids: labelled so.
    if ctx.pick("style", ["classic", "pelvis_lift"], [0.7, 0.3]) == "pelvis_lift":
        pl = ctx.rng("pelvis_lift")
        ctx.severity["lower_back_down"] = max(ctx.sev("lower_back_down"), pl.uniform(0.5, 1.0))
        rest = pl.uniform(40, 85) * DEG * rom
        peak = pl.uniform(92, 112) * DEG * rom  # past vertical: the knees come over the hips
        up = np.clip((np.clip(a, 0, 1) - 0.4) / 0.6, 0, 1) ** 1.5
        root_y = lie_h + in_set * pl.uniform(0.05, 0.1) * H * up * rom
        m["root"] = np.stack([np.zeros(m.T), root_y, np.zeros(m.T)], -1)
        m["pitch"] = np.full(m.T, -90 * DEG)
        m["lumbar_flex"] = np.zeros(m.T)
    bounce = np.zeros(m.T)
    for r in sch.reps:
        bounce += bump(t, r.end + 0.08, 0.3)
    floor_hit = s_ctrl * np.clip(bounce, 0, 1) * rest
    hip = in_set * (rest + a * (peak - rest)) - floor_hit
    hip = np.maximum(hip, 0.0)
    s_knee = ctx.sev("knee_angle_fixed")
    kb = s_knee * fault_size(ctx, "knee_angle_fixed", 35, 75) * DEG * np.sin(np.pi * np.clip(a, 0, 1)) ** 0.7
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
    hd = s_head * fault_size(ctx, "head_down", 28, 50) * DEG
    m["neck_flex"] = rng.uniform(-8, 5) * DEG + hd * (0.6 + 0.4 * a)
    m["thor_flex"] = hd * 0.25 * (0.6 + 0.4 * a)
    add_life(m, rng, b, 0.3)
    # lying: the root must not sway through the floor
    m["root"][:, 1] = root_y
    R = ry(m["yaw"])
    m["root"] = ap(R, m["root"])
    return m, sch
