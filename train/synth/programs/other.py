"""The ``other`` class: repeated gym movements that are none of the nine (front raise, forward
lunge, bent-over row, calf raise, push-up). Labelled ``other`` with their rep spans (and sides),
so the recogniser learns not to force a name and a class-agnostic counter can be tested."""

from __future__ import annotations

import numpy as np

from ..maths import DEG, ap, rx, ry
from ..schedule import Schedule, build_schedule, idle_spans
from ..skeleton import FOOT_FWD, TOE_H, Motion
from .common import ClipContext, add_life, arms_hanging, idle_gesture, sagittal_root, stand_feet

# Relative frequency of each movement in ``other`` clips.
MOVEMENTS = {"front_raise": 1.0, "forward_lunge": 1.0, "bent_over_row": 1.0, "calf_raise": 0.7, "push_up": 0.8}


def prog_other(ctx: ClipContext) -> tuple[Motion, Schedule]:
    names = list(MOVEMENTS)
    mv = ctx.pick("movement", names, [MOVEMENTS[n] for n in names])
    return {"front_raise": _front_raise, "forward_lunge": _forward_lunge, "bent_over_row": _bent_over_row,
            "calf_raise": _calf_raise, "push_up": _push_up}[mv](ctx)


def _standing(ctx: ClipContext, m: Motion, rng, width=(0.9, 1.4), knee=(2, 8)) -> float:
    b = ctx.body
    half_w = b.hip_w / 2 * rng.uniform(*width)
    stand_feet(m, b, half_w, rng.uniform(0, 18) * DEG)
    m["root"] = sagittal_root(b, half_w, np.full(m.T, rng.uniform(*knee) * DEG), np.full(m.T, 0.02))
    return half_w


def _finish(ctx: ClipContext, m: Motion, sch: Schedule, rng, life: float = 0.6) -> tuple[Motion, Schedule]:
    add_life(m, rng, ctx.body, life)
    idle_gesture(m, ctx.rng("idle"), ctx.body, idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def _front_raise(ctx: ClipContext) -> tuple[Motion, Schedule]:
    """Straight arms raised forward to shoulder height (both together or alternating)."""
    rng = ctx.rng("style")
    sides = ctx.pick("sides", ["both", "alternate"], [0.6, 0.4])
    sch = build_schedule(ctx.rng("timing"), "front_raise", sides=sides)
    m = Motion(ctx.times(sch.duration))
    _standing(ctx, m, rng)
    peak = rng.uniform(80, 105) * DEG
    flex0 = rng.uniform(-4, 8) * DEG
    for s, sg in (("l", 1), ("r", -1)):
        act = sch.activation(m.t, side=sg)
        m[f"{s}_sh_flex"] = flex0 + act * (peak - flex0)
        m[f"{s}_sh_abd"] = rng.uniform(4, 14) * DEG
        m[f"{s}_el_flex"] = rng.uniform(5, 20) * DEG
        m[f"{s}_pron"] = rng.uniform(60, 100) * DEG
    m["pitch"] = rng.uniform(-3, 3) * DEG
    return _finish(ctx, m, sch, rng)


def _forward_lunge(ctx: ClipContext) -> tuple[Motion, Schedule]:
    """Step forward, both knees bend (the back knee towards the floor, its heel up), step back."""
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sides = ctx.pick("sides", ["alternate", "left", "right"], [0.6, 0.2, 0.2])
    sch = build_schedule(ctx.rng("timing"), "forward_lunge", sides=sides)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    half_w = b.hip_w / 2 * rng.uniform(0.9, 1.2)
    stand_feet(m, b, half_w, rng.uniform(0, 12) * DEG)
    stand = sagittal_root(b, half_w, np.full(m.T, 4 * DEG), np.full(m.T, 0.02))
    # a long step: at the bottom the back thigh hangs near vertical, the back knee near the floor
    step = rng.uniform(0.42, 0.52) * H
    depth = rng.uniform(0.85, 1.0)
    heel = rng.uniform(45, 65) * DEG
    root = stand.copy()
    lean = np.zeros(m.T)
    lean_k = rng.uniform(0, 14) * DEG
    for s, sg, o in (("l", 1, "r"), ("r", -1, "l")):
        act = sch.activation(t, side=sg)
        st = np.clip(act * 3.0, 0.0, 1.0)  # the foot steps out in the first third, back in the last
        toe = m[f"{s}_toe"].copy()
        toe[:, 1] += 0.04 * H * np.sin(np.pi * st)
        toe[:, 2] += step * st
        m[f"{s}_toe"] = toe
        dd = np.clip((act - 0.25) / 0.75, 0.0, 1.0) * depth
        # the front shin near vertical and its thigh near horizontal at the bottom
        bottom = np.array([sg * 0.02 * H, b.ankle_h + b.shank + 0.01 * H, step - 0.85 * b.thigh])
        root = root + dd[:, None] * (bottom - stand[0])
        m.add(f"{o}_heel_rise", dd * heel)
        lean = lean + dd * lean_k
    m["root"] = root
    m["pitch"] = lean
    arms = ctx.pick("arms", ["hang", "hips"], [0.6, 0.4])
    if arms == "hips":
        for s, sg in (("l", 1), ("r", -1)):
            m.arm_ik[s] = True
            m[f"{s}_hand_local"] = np.tile([sg * 0.13 * H, -0.27 * H, 0.0], (m.T, 1))
            m[f"{s}_pole_local"] = np.tile([sg * 1.0, 0.0, -0.3], (m.T, 1))
            m[f"{s}_pron"] = 90 * DEG
    else:
        arms_hanging(m, rng)
    return _finish(ctx, m, sch, rng)


def _bent_over_row(ctx: ClipContext) -> tuple[Motion, Schedule]:
    """Hinged forward and held there; the elbows pull up past the trunk (a barbell with both
    arms, or a dumbbell one arm at a time)."""
    b, rng = ctx.body, ctx.rng("style")
    sides = ctx.pick("sides", ["both", "left", "right", "alternate"], [0.5, 0.2, 0.2, 0.1])
    sch = build_schedule(ctx.rng("timing"), "bent_over_row", sides=sides)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    half_w = b.hip_w / 2 * rng.uniform(1.0, 1.4)
    stand_feet(m, b, half_w, rng.uniform(0, 15) * DEG)
    knee = rng.uniform(15, 32) * DEG
    hinge = rng.uniform(40, 70) * DEG
    # the hinge is held through the set; standing up between sets
    kt = [0.0]
    for x0, x1 in sch.active:
        kt += [x0 - 0.8, x0 - 0.1, x1 + 0.1, x1 + 0.8]
    kt = np.maximum.accumulate(np.maximum(np.array(kt), 0.0) + np.arange(len(kt)) * 1e-3)
    hold = np.clip(np.interp(t, kt, [0.0, *([0.0, 1.0, 1.0, 0.0] * len(sch.active))]), 0, 1)
    m["root"] = sagittal_root(b, half_w, 4 * DEG + hold * (knee - 4 * DEG), hold * knee * 0.4)
    m["pitch"] = hold * hinge * 0.92
    m["lumbar_flex"] = hold * hinge * 0.03
    m["thor_flex"] = hold * hinge * 0.05
    m["neck_flex"] = -hold * hinge * rng.uniform(0.2, 0.6)
    back = rng.uniform(5, 25) * DEG  # how far the elbow passes the trunk at the top
    el_top = rng.uniform(80, 105) * DEG
    for s, sg in (("l", 1), ("r", -1)):
        act = sch.activation(t, side=sg)
        m[f"{s}_sh_flex"] = hold * hinge - act * (hinge + back)  # hanging vertically at rest
        m[f"{s}_sh_abd"] = rng.uniform(8, 30) * DEG
        m[f"{s}_el_flex"] = rng.uniform(5, 15) * DEG + act * el_top
        m[f"{s}_pron"] = rng.uniform(100, 170) * DEG
    return _finish(ctx, m, sch, rng)


def _calf_raise(ctx: ClipContext) -> tuple[Motion, Schedule]:
    """Up onto the toes and down again, both feet."""
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sch = build_schedule(ctx.rng("timing"), "calf_raise")
    m = Motion(ctx.times(sch.duration))
    a = sch.activation(m.t)
    _standing(ctx, m, rng, knee=(2, 5))
    hr = rng.uniform(22, 38) * DEG * a
    for s in ("l", "r"):
        m[f"{s}_heel_rise"] = hr
    # the ankle turns about the toe point: it rises by this much (the knees keep their angle)
    fa, th = FOOT_FWD * b.foot, TOE_H * H
    rise = fa * np.sin(hr) + (b.ankle_h - th) * (np.cos(hr) - 1.0)
    root = m["root"].copy()
    root[:, 1] += rise
    m["root"] = root
    arms_hanging(m, rng)
    return _finish(ctx, m, sch, rng)


def _push_up(ctx: ClipContext) -> tuple[Motion, Schedule]:
    """A plank on the toes, hands on the floor under the shoulders; the body lowers as one
    piece and is pushed back up."""
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    ctx.variant["lying"] = True
    sch = build_schedule(ctx.rng("timing"), "push_up")
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    arm = b.upper_arm + b.forearm
    h_top = arm * rng.uniform(0.9, 0.97) + 0.03 * H  # shoulder height, arms nearly straight
    h_bot = rng.uniform(0.09, 0.15) * H
    h = h_top + a * (h_bot - h_top)
    ank_y = 0.06 * H  # up on the toes
    length = b.leg * 0.985 + b.torso  # ankle to shoulder along the straight body
    theta = np.arcsin(np.clip((h - ank_y) / length, 0.0, 0.9))  # the body's rise from horizontal
    u = np.stack([np.zeros(m.T), np.sin(theta), np.cos(theta)], -1)
    root = np.array([0.0, ank_y, 0.0]) + u * (b.leg * 0.985)
    m["pitch"] = 90 * DEG - theta  # face down, head towards +z
    hip = rng.uniform(-4, 0) * DEG  # straight body; flexing the hips would push the feet into the floor
    for s in ("l", "r"):
        m[f"{s}_free"] = 1.0
        m[f"{s}_hip_flex"] = hip
        m[f"{s}_knee_flex"] = rng.uniform(0, 6) * DEG
        m[f"{s}_ank_flex"] = rng.uniform(-40, -25) * DEG
        m[f"{s}_hip_abd"] = rng.uniform(0, 5) * DEG
    add_life(m, rng, b, 0.25)
    # hands fixed on the floor under the shoulders' top position; IK targets in the trunk frame
    # (the trunk is straight: neck = root + R (0, lumbar + thoracic, 0))
    sh_z_top = float(np.cos(np.arcsin((h_top - ank_y) / length)) * length)
    R = rx(m["pitch"])
    neck = root + ap(R, [0.0, b.lumbar + b.thoracic, 0.0])
    spread = b.shoulder_w / 2 * rng.uniform(1.1, 1.5)
    z_hand = sh_z_top + rng.uniform(-0.02, 0.04) * H
    for s, sg in (("l", 1), ("r", -1)):
        m.arm_ik[s] = True
        hand = np.tile([sg * spread, 0.04 * H, z_hand], (m.T, 1))
        m[f"{s}_hand_local"] = np.einsum("tji,tj->ti", R, hand - neck)
        m[f"{s}_pole_local"] = np.tile([sg * 0.7, -0.6, -0.4], (m.T, 1))
        m[f"{s}_pron"] = 90 * DEG
        m[f"{s}_wr_flex"] = -rng.uniform(60, 80) * DEG  # palms flat: the hands bend back at the wrist
    m["lumbar_flex"] = 0.0
    m["thor_flex"] = 0.0
    # side-on to the "front" camera (head to its left or right), as people film push-ups
    yaw = (90 if rng.random() < 0.5 else -90) * DEG + rng.uniform(-15, 15) * DEG
    m["yaw"] = yaw
    m["root"] = ap(ry(np.full(m.T, yaw)), root)
    return m, sch
