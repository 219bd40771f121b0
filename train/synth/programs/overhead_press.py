"""The ``overhead_press`` program: its motion and each of its conditions' faults."""

from __future__ import annotations

import math

import numpy as np

from formcheck.device.exercises import ROM

from ..maths import DEG, bump, keyframes
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

# Share of presses (standing, or seated with dumbbells) that take the weight up from the hang and
# put it down after the set. 0 by default: making them the default would change every press the
# benches and tests generate (docs/training.md; the shipped recogniser's training used 0.65).
P_FROM_HANG = 0.0


def prog_overhead_press(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    sch = build_schedule(ctx.rng("timing"), "overhead_press")
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    _out_m, _back_m = sch.phase_masks(t)
    # seated on a bench (hips and knees at ~90 degrees, legs still) or standing; a barbell or
    # two dumbbells (their own streams: the standing barbell press is drawn as before)
    seated = ctx.pick("posture", ["standing", "seated"], [0.6, 0.4]) == "seated"
    dumbbell = ctx.pick("implement", ["barbell", "dumbbell"], [0.6, 0.4]) == "dumbbell"
    if seated:
        ctx.severity["no_leg_drive"] = 0.0  # sitting, the legs cannot drive the weight
    half_w = b.hip_w / 2 * rng.uniform(1.0, 1.5)
    toe_out = rng.uniform(0, 20) * DEG
    # leg drive: a push press (the rep begins with a quick dip of the hips, then the legs drive
    # the bar up) or a knee kick when the bar stalls at the sticking point (forehead height); a
    # fault dips 2 to 3.5 inches (coaching's push-press dip, 0.06-0.1 leg lengths)
    kick = fault_variant(ctx, "no_leg_drive", [("push_press", 0.5), ("sticking_point", 0.5)]) == "sticking_point"
    dip = np.zeros(m.T)
    for r in sch.reps:
        dip += bump(t, r.start + (0.4 * (r.peak0 - r.start) if kick else 0.3), 0.4)
    drop = callable_size(ctx, "no_leg_drive", 0.015, 0.06, 0.1) * b.leg
    knee = rng.uniform(2, 7) * DEG + knee_for_hip_drop(b, drop) * np.clip(dip, 0, 1)
    if seated:
        seat = ctx.rng("seat")
        # feet planted under the knees: the thighs horizontal, the shins vertical
        stand_feet(m, b, half_w * seat.uniform(1.0, 1.4), toe_out, z=b.thigh * seat.uniform(0.9, 1.1))
        m["root"] = np.tile([0.0, b.ankle_h + b.shank * seat.uniform(0.97, 1.06), 0.0], (m.T, 1))
    else:
        stand_feet(m, b, half_w, toe_out)
        m["root"] = sagittal_root(b, half_w, knee, knee * 0.45)
    style = rng.choice(["rack", "wide"], p=[0.55, 0.45])  # elbows forward (bar) or out to the sides
    ctx.variant["start"] = str(style)
    grip = rng.uniform(0.15, 0.2) * H if style == "rack" else rng.uniform(0.19, 0.24) * H
    # lockout missing: the bar stops half-way (by the head, elbows bent near 90: short of lockout
    # to any coach, and below the 0.7 arm lengths a wrist-over-shoulder measure sees) to a third
    rom = 1.0 - callable_size(ctx, ROM, 0.125, 0.5, 0.65)
    reach = (b.upper_arm + b.forearm) * 0.985
    s_fv = ctx.sev("forearms_vertical")
    v_fv = fault_variant(ctx, "forearms_vertical", [("flare", 0.5), ("tuck", 0.5)])
    fv = s_fv * fault_size(ctx, "forearms_vertical", 0.35, 0.6)
    grip_f = grip * (1 - fv * 0.55) if v_fv == "tuck" else grip
    if dumbbell:
        ctx.variant.pop("start", None)
        _dumbbells(ctx, m, a * rom, reach, fv if v_fv == "tuck" else 0.0, fv if v_fv == "flare" else 0.0)
    for s, sg in (("l", 1), ("r", -1)):
        if dumbbell:
            break
        m.arm_ik[s] = True
        x0 = sg * grip_f
        y_top = math.sqrt(max(reach ** 2 - (grip_f - b.shoulder_w / 2) ** 2, 0.01)) - 0.015 * H
        y0 = 0.0 * H + rng.uniform(-0.01, 0.03) * H
        z0 = (0.075 if style == "rack" else 0.03) * H
        ah = a * rom
        y = y0 + ah * (y_top - y0)
        z = z0 * (1 - ah) + ah * (1 - ah) * 0.08 * H - 0.01 * H * ah
        x = x0 * (1 - 0.08 * ah)
        m[f"{s}_hand_local"] = np.stack([x, y, z], -1)
        pole_bottom = np.array([sg * 0.35, -1.0, 0.9]) if style == "rack" else np.array([sg * 1.0, -0.6, 0.1])
        if v_fv == "flare":
            pole_bottom = pole_bottom + fv * np.array([sg * 2.5, 0.4, -1.4])
        pole_top = np.array([sg * 1.0, 0.0, -0.1])
        w = np.clip(ah, 0, 1)[:, None]
        m[f"{s}_pole_local"] = (1 - w) * pole_bottom + w * pole_top
        m[f"{s}_pron"] = 175 * DEG
    _from_the_hang(ctx, m, sch, seated, dumbbell, grip)
    # shoulder girdle: set = stable; the fault lets the shoulders roll forward and hike up
    s_sg = ctx.sev("shoulders_set")
    g = s_sg * fault_size(ctx, "shoulders_set", 0.025, 0.045) * H
    for s in ("l", "r"):
        m[f"{s}_elev"] = g * np.clip(a, 0, 1) ** 1.5 + 0.008 * H * a
        m[f"{s}_prot"] = g * 0.9 * (1 - a) * sch.in_set(t)
    # back: leaning back / over-arching to press
    lb = callable_size(ctx, "back_neutral", 4.5, 15.0, 25.0) * DEG * np.clip(a * 1.5, 0, 1)  # from 15: a visible layback
    m["lumbar_flex"] = rng.uniform(-5, 2) * DEG - 0.8 * lb
    m["pitch"] = -0.3 * lb + rng.uniform(-2, 2) * DEG
    m["root"] = m["root"] + np.stack([np.zeros(m.T), np.zeros(m.T), 0.04 * H * lb / (25 * DEG)], -1)
    m["neck_flex"] = -a * rng.uniform(0, 12) * DEG + 0.5 * lb
    add_life(m, rng, b, 0.6)
    idle_gesture(m, ctx.rng("idle"), b, idle_spans(sch), arms_free=not (m.arm_ik["l"] or m.arm_ik["r"]))
    return m, sch


def _dumbbells(ctx: ClipContext, m: Motion, ah, reach: float, tuck: float, flare: float) -> None:
    """Two dumbbells: from beside the ears (elbows out and a little down, forearms vertical)
    up and slightly in to straight arms overhead. ``ah``: 0 bottom .. 1 lockout."""
    b, H = ctx.body, ctx.body.height
    rng = ctx.rng("dumbbells")
    out0 = rng.uniform(0.55, 0.8) * b.upper_arm * (1 - 0.5 * tuck)  # the hands' start outside the shoulders
    y0 = rng.uniform(0.02, 0.07) * H
    x_top = b.shoulder_w / 2 * rng.uniform(0.6, 1.0)
    for s, sg in (("l", 1), ("r", -1)):
        m.arm_ik[s] = True
        x = sg * ((b.shoulder_w / 2 + out0) * (1 - ah) + x_top * ah)
        dx = np.abs(x) - b.shoulder_w / 2
        y_top = np.sqrt(np.maximum(reach ** 2 - dx ** 2, 0.01)) - 0.015 * H
        y = y0 + ah * (y_top - y0)
        z = (0.02 + 0.03 * tuck) * H * (1 - ah) + 0.01 * H * ah
        m[f"{s}_hand_local"] = np.stack([x, y, z], -1)
        pole_bottom = np.array([sg * 1.0, -0.7, 0.1 + 0.8 * tuck]) + flare * np.array([sg * 0.5, 0.6, -1.0])
        pole_top = np.array([sg * 1.0, 0.0, -0.1])
        w = np.clip(ah, 0, 1)[:, None]
        m[f"{s}_pole_local"] = (1 - w) * pole_bottom + w * pole_top
        m[f"{s}_pron"] = rng.uniform(150, 180) * DEG


def _from_the_hang(ctx: ClipContext, m: Motion, sch: Schedule, seated: bool, dumbbell: bool, grip: float) -> None:
    """Most sets start and end with the weight down: a bar taken from the thighs to the
    shoulders, dumbbells from the sides (seated: from the knees), and put down again after the
    last rep and between two sets. Without it only idle clips ever move the arms between
    overhead and hanging, and a real set's last press followed by lowering the weight reads as
    idle. A seated barbell is taken from a rack at head height: it stays at the shoulders."""
    b, H = ctx.body, ctx.body.height
    rng = ctx.rng("rest_hands")
    d_up, d_down = rng.uniform(0.6, 1.3), rng.uniform(0.6, 1.4)
    if seated and not dumbbell:
        ctx.variant["rest_hands"] = "shoulders"
        return
    if ctx.pick("rest_hands", ["shoulders", "hang"], [1.0 - P_FROM_HANG, P_FROM_HANG]) != "hang":
        return
    # u: 1 = the press program's own targets (the rack or the press), 0 = the weight down
    times, vals = [], []
    s0, e0 = sch.active[0][0], sch.active[-1][1]
    if s0 > 0.3:
        times += [s0 - 0.1 - d_up, s0 - 0.1]
        vals += [0.0, 1.0]
    for r0, r1 in sch.rests:
        if r1 - r0 > d_up + d_down + 0.6:
            times += [r0 + 0.1, r0 + 0.1 + d_down, r1 - 0.1 - d_up, r1 - 0.1]
            vals += [1.0, 0.0, 0.0, 1.0]
    if sch.duration - e0 > 0.3:
        times += [e0 + 0.1, e0 + 0.1 + d_down]
        vals += [1.0, 0.0]
    if not times:
        return
    u = np.clip(keyframes(m.t, times, vals), 0.0, 1.0)[:, None]
    reach = b.upper_arm + b.forearm
    for s, sg in (("l", 1), ("r", -1)):
        if seated:  # dumbbells resting on the thighs near the knees, elbows out
            x = b.hip_w / 2 + rng.uniform(0.01, 0.04) * H
            down = np.array([sg * x, -(b.lumbar + b.thoracic) + rng.uniform(0.08, 0.12) * H,
                             b.thigh * rng.uniform(0.6, 0.85)])
            pole = np.array([sg * 0.7, -0.4, -0.6])
        else:  # straight arms: a bar in front of the thighs at its grip, dumbbells at the sides
            x = grip if not dumbbell else b.shoulder_w / 2 + rng.uniform(0.0, 0.03) * H
            dx = abs(x - b.shoulder_w / 2)
            down = np.array([sg * x, -math.sqrt(max(reach ** 2 - dx ** 2, 0.01)) * rng.uniform(0.95, 0.99),
                             (0.04 if not dumbbell else 0.0) * H])
            pole = np.array([sg * 0.3, 0.0, -1.0])
        hand = u * m[f"{s}_hand_local"] + (1 - u) * down
        hand[:, 2] += 0.06 * H * 4 * u[:, 0] * (1 - u[:, 0])  # the weight clears the body on its way
        m[f"{s}_hand_local"] = hand
        m[f"{s}_pole_local"] = u * m[f"{s}_pole_local"] + (1 - u) * pole
