"""The ``deadlift`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import numpy as np

from formcheck.device.exercises import ROM

from ..maths import DEG, bump, keyframes
from ..schedule import Schedule, build_schedule, idle_spans
from ..skeleton import FOOT_BACK, FOOT_FWD, HEEL_H, TOE_H, Motion
from .common import (
    ClipContext,
    add_life,
    callable_size,
    fault_size,
    fault_variant,
    idle_gesture,
    sagittal_root,
    stand_feet,
)


def prog_deadlift(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng = ctx.body, ctx.rng("style")
    # touch-and-go from standing, or from the floor: the bar rests on the floor between pulls,
    # a rep is floor -> lockout -> floor (own stream: the standing variant is drawn as before)
    floor = ctx.pick("start", ["standing", "floor"], [0.5, 0.5]) == "floor"
    sch = build_schedule(ctx.rng("timing"), "deadlift_floor" if floor else "deadlift")
    # rom: the lockout is incomplete between reps (hips and knees stay bent)
    s_rom = ctx.sev(ROM)
    lock = (s_rom * fault_size(ctx, ROM, 0.35, 0.55)) if s_rom > 0 else 0.0
    for i, r in enumerate(sch.reps):
        r.rest_before = lock if i > 0 and not floor else 0.0
        r.rest_after = lock if i < len(sch.reps) - 1 and not floor else 0.0
    if floor:
        plan = _floor_plan(ctx, sch)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    out_m, back_m = sch.phase_masks(t)
    reset = np.zeros(m.T)
    if floor:  # ``a`` becomes the depth (0 standing tall, 1 bar on the floor), ``back_m`` the way up
        a, reset = _floor_depth(sch, plan, t, lock)
        back_m = out_m
    half_w = b.hip_w / 2 * rng.uniform(0.85, 1.3)
    toe_out = rng.uniform(0, 18) * DEG
    stand_feet(m, b, half_w, toe_out)
    knee_bottom = rng.uniform(55, 88) * DEG  # conventional pull from the floor
    hinge_bottom = rng.uniform(48, 75) * DEG
    if floor:  # the bar on the floor: the hanging hands at a loaded bar's height (a plate's radius)
        knee_bottom = plan["knee"]
        hip_y = sagittal_root(b, half_w, knee_bottom, plan["shank"])[1]
        reach = plan["bar_h"] + b.upper_arm + b.forearm + 0.015 * b.height - hip_y
        hinge_bottom = float(np.clip(np.arccos(np.clip(reach / (b.lumbar + b.thoracic), -1, 1)), 55 * DEG, 88 * DEG))
    # hips and knees extend together; the fault straightens the knees first (hips shoot up)
    s_hk = ctx.sev("hips_knees_together")
    hk = s_hk * fault_size(ctx, "hips_knees_together", 0.8, 1.0)
    a_knee = np.where(back_m > 0, a + hk * (a ** 3 - a), a)
    a_hip = np.where(back_m > 0, a + hk * ((1 - (1 - a) ** 3) - a), a)
    kappa = np.radians(3) + a_knee * (knee_bottom - np.radians(3))
    shank_k = rng.uniform(8, 20) * DEG
    beta = np.radians(1) + a_knee * shank_k
    root = sagittal_root(b, half_w, kappa, beta)
    lean = np.radians(rng.uniform(-3, 2)) + a_hip * hinge_bottom
    if floor and np.any(reset > 0):
        # a re-set at the floor: the hips rise a little and drop again while the shoulders (and
        # the bar in the hands) stay where they are, so the trunk tilts further instead
        a_r = a_knee * (1 - reset)
        root_r = sagittal_root(b, half_w, np.radians(3) + a_r * (knee_bottom - np.radians(3)),
                               np.radians(1) + a_r * shank_k)
        sh_y = root[:, 1] + b.torso * np.cos(lean)
        lean = np.where(reset > 0, np.arccos(np.clip((sh_y - root_r[:, 1]) / b.torso, -1.0, 1.0)), lean)
        root = root_r
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
    v_feet = fault_variant(ctx, "feet_flat", [("heels", 0.7), ("toes", 0.3)])
    # at the top of the pull (the lifter rises onto the toes or rocks back at lockout, where the
    # real heel lift shows): 0.25 foot lengths (the real one; rocking is allowed) to 0.45
    lift = np.arcsin(callable_size(ctx, "feet_flat", 0.05, 0.25, 0.45))
    in_rep = np.max([np.interp(t, [r.start - 0.3, r.start, r.end, r.end + 0.3], [0, 1, 1, 0]) for r in sch.reps], 0)
    fm = lift * np.clip(1.25 * (1 - a) - 0.25, 0, 1) * in_rep
    if v_feet == "heels":
        m["l_heel_rise"] = fm
        m["r_heel_rise"] = fm * rng.uniform(0.8, 1.0)
        pivot, lever = TOE_H, FOOT_FWD  # the foot turns about the toes; the ankle lies behind them
    else:
        m["l_toe_rise"] = fm * 0.8
        m["r_toe_rise"] = fm * 0.8 * rng.uniform(0.8, 1.0)
        pivot, lever = HEEL_H, FOOT_BACK
    # the lifted ankles carry the body up with straight legs (the feet's mean lift)
    ang = (m["l_heel_rise"] + m["r_heel_rise"] + m["l_toe_rise"] + m["r_toe_rise"]) / 2
    up = (b.ankle_h - pivot * b.height) * (np.cos(ang) - 1) + lever * b.foot * np.sin(ang)
    m["root"] = root + up[:, None] * np.array([0.0, 1.0, 0.0])
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


def _floor_plan(ctx: ClipContext, sch: Schedule) -> dict:
    """Timing of the floor variant: bending down to the bar before each set (or starting set up
    when the lead-in is short), standing up after it (or staying down at the clip's end), and
    which pauses on the floor hold a re-set. Lengthens the schedule to fit the last stand-up."""
    rng = ctx.rng("floor")
    plan = {"setup": rng.uniform(0.8, 1.4), "pause": rng.uniform(0.3, 0.8), "stand": rng.uniform(0.8, 1.4),
            "end_down": bool(rng.random() < 0.25), "resets": [],
            "knee": rng.uniform(70, 95) * DEG, "shank": rng.uniform(14, 20) * DEG, "bar_h": rng.uniform(0.2, 0.26)}
    for r0, r1 in zip(sch.reps[:-1], sch.reps[1:], strict=True):
        gap = r1.start - r0.end
        if gap >= 0.8 and rng.random() < 0.4:
            plan["resets"].append((r0.end + gap / 2, min(0.8 * gap, 1.2), rng.uniform(0.2, 0.35)))
        else:
            rng.random(3)
    last = sch.active[-1][1]
    if plan["end_down"]:
        sch.duration = last + plan["pause"]
    else:
        sch.duration = max(sch.duration, last + plan["pause"] + plan["stand"] + 0.3)
    ctx.variant["resets"] = len(plan["resets"])
    ctx.variant["end"] = "floor" if plan["end_down"] else "stand"
    return plan


def _floor_depth(sch: Schedule, plan: dict, t, lock: float):
    """``(depth, reset)``: depth 1 with the bar on the floor, 0 at lockout (``lock`` short of
    it with the rom fault); reset 0..1 the re-sets' hip rise."""
    pull = sch.activation(t, amp_scale=[1.0 / r.amp for r in sch.reps])
    depth = 1.0 - (1.0 - lock) * np.clip(pull, 0.0, 1.0)
    times, vals = [], []
    start_down = False
    for i, (a0, a1) in enumerate(sch.active):
        down = a0 - 0.2 - plan["setup"]
        if down > (times[-1] if times else 0.0) + 0.1:
            times += [down, a0 - 0.2]
            vals += [0.0, 1.0]
        else:  # no room to bend down: already set up over the bar
            start_down = start_down or i == 0
            times += [max(a0 - 0.2, times[-1] + 1e-3 if times else 0.0)]
            vals += [1.0]
        up0 = a1 + plan["pause"]
        nxt = sch.active[i + 1][0] - 0.2 - plan["setup"] if i + 1 < len(sch.active) else np.inf
        last = i + 1 == len(sch.active)
        if (last and not plan["end_down"]) or (not last and up0 + plan["stand"] < nxt - 0.1):
            times += [up0, up0 + plan["stand"]]
            vals += [1.0, 0.0]
    times = np.maximum.accumulate(np.asarray(times) + np.arange(len(times)) * 1e-6)
    outside = keyframes(t, [-1.0, *times], [1.0 if start_down else 0.0, *vals])
    in_set = sch.in_set(t) > 0
    depth = np.where(in_set, depth, outside)
    reset = np.zeros(len(t))
    for c, w, k in plan["resets"]:
        reset = np.maximum(reset, k * bump(t, c, w))
    return depth, reset
