"""The ``barbell_curl`` program: its motion and each of its conditions' faults."""

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
    sagittal_root,
    stand_feet,
)


def prog_barbell_curl(ctx: ClipContext) -> tuple[Motion, Schedule]:
    b, rng, H = ctx.body, ctx.rng("style"), ctx.body.height
    s_tension = ctx.sev("tension_down")
    # a barbell, or dumbbells curled together or one arm at a time (each rep one arm, labelled
    # with its side); own streams, so the barbell curl is drawn as before
    dumbbell = ctx.pick("implement", ["barbell", "dumbbell"], [0.5, 0.5]) == "dumbbell"
    alternate = dumbbell and ctx.pick("arms", ["together", "alternating"], [0.3, 0.7]) == "alternating"
    sch = build_schedule(ctx.rng("timing"), "barbell_curl", sides="alternate" if alternate else "both",
                         back_scale=1.0 - 0.72 * s_tension)
    m = Motion(ctx.times(sch.duration))
    t = m.t
    a = sch.activation(t)
    arm_act = {s: sch.activation(t, side=sg) for s, sg in (("l", 1), ("r", -1))} if alternate else {}
    if alternate:
        a = np.maximum(arm_act["l"], arm_act["r"])
    out_m, _back_m = sch.phase_masks(t)
    half_w = b.hip_w / 2 * rng.uniform(0.9, 1.3)
    stand_feet(m, b, half_w, rng.uniform(0, 15) * DEG)
    m["root"] = sagittal_root(b, half_w, np.full(m.T, rng.uniform(2, 8) * DEG), np.full(m.T, 0.02))
    el_rest = rng.uniform(10, 28) * DEG
    el_peak = rng.uniform(128, 152) * DEG
    # uncontrolled lowering: arms snap straight and bounce at the bottom
    def elbow(act, side=None):
        bounce = np.zeros(m.T)
        for r in sch.reps:
            if side is None or r.side == side:
                bounce += bump(t, r.end + 0.08, 0.3)
        return el_rest + act * (el_peak - el_rest) * rom - s_tension * (el_rest + 2 * DEG) * np.clip(bounce * 1.5, 0, 1)

    sh_flex0 = rng.uniform(-2, 6) * DEG
    sh_top = rng.uniform(4, 14) * DEG  # a little natural forward travel at the top
    # elbows drifting forward 30 degrees (past "upper arms pinned") up to 60
    drift = callable_size(ctx, "elbows_still", 10.0, 30.0, 60.0) * DEG
    rom = _curl_share(ctx, el_rest, el_peak, sh_flex0, sh_top + drift)
    el = elbow(a)
    grip_abd = rng.uniform(4, 14) * DEG
    s_wr = ctx.sev("wrists_neutral")
    v_wr = fault_variant(ctx, "wrists_neutral", [("curl", 0.6), ("extend", 0.4)])
    wr_k = s_wr * fault_size(ctx, "wrists_neutral", 35, 60) * DEG * (1 if v_wr == "curl" else -1)
    wr = wr_k * (0.4 + 0.6 * a)
    s_sh = ctx.sev("no_shrug")
    sh_k = s_sh * fault_size(ctx, "no_shrug", 0.025, 0.05) * H
    shrug = sh_k * np.clip(a * 1.3 - 0.3, 0, 1) ** 1.5
    lead = rng.normal(0, 0.03)  # one arm leads by a few tens of ms
    for s, sg in (("l", 1), ("r", -1)):
        if alternate:  # this arm's own reps; the other arm hangs with its dumbbell meanwhile
            act = arm_act[s]
            m[f"{s}_el_flex"] = elbow(act, sg) * rng.uniform(0.97, 1.0)
            m[f"{s}_sh_flex"] = sh_flex0 + act * (sh_top + drift) * rom ** 0.5
            wr_s, shrug_s = wr_k * (0.4 + 0.6 * act), sh_k * np.clip(act * 1.3 - 0.3, 0, 1) ** 1.5
        else:
            m[f"{s}_el_flex"] = lagged(t, el, sg * lead) * rng.uniform(0.97, 1.0)
            m[f"{s}_sh_flex"] = sh_flex0 + lagged(t, a, sg * lead) * (sh_top + drift) * rom ** 0.5
            wr_s, shrug_s = wr, shrug
        m[f"{s}_sh_abd"] = grip_abd
        m[f"{s}_pron"] = rng.uniform(-15, 10) * DEG
        m[f"{s}_wr_flex"] = rng.uniform(-8, 8) * DEG + wr_s
        m[f"{s}_elev"] = shrug_s
        m[f"{s}_prot"] = shrug_s * 0.5
    # back: swinging the weight up (lean back on the way up, forward at the start)
    s_back = ctx.sev("back_neutral")
    sw = s_back * fault_size(ctx, "back_neutral", 10, 22) * DEG
    m["pitch"] = rng.uniform(-3, 3) * DEG - sw * 0.5 * a + sw * 0.4 * out_m * (1 - a)
    m["lumbar_flex"] = -sw * 0.7 * a + rng.uniform(-3, 3) * DEG
    m["thor_flex"] = rng.uniform(-2, 6) * DEG + sw * 0.3 * out_m * (1 - a)
    add_life(m, rng, b, 0.7)
    idle_gesture(m, ctx.rng("idle"), b, idle_spans(sch), arms_free=False)
    return m, sch


def _curl_share(ctx: ClipContext, el_rest: float, el_peak: float, sh0: float, sh_travel: float) -> float:
    """Share of the full curl reached: correct reps vary up to 15% short; a half rep stops with
    the forearm 10 degrees above horizontal (half the curl, where a coach calls "all the way
    up") down to 30 below (a third of it), whatever the person's own full curl."""
    s = ctx.sev(ROM)
    if s < FAULT_THRESHOLD:
        return 1.0 - 0.6 * s
    top = -callable_size(ctx, ROM, 0.0, -10.0, 30.0) * DEG
    # forearm above horizontal = shoulder flexion + elbow flexion - 90 deg, with the elbow at
    # el_rest + r (el_peak - el_rest) and the shoulder at sh0 + sqrt(r) sh_travel: x = sqrt(r)
    e, c = el_peak - el_rest, np.radians(90) + top - sh0 - el_rest
    x = (-sh_travel + np.sqrt(sh_travel ** 2 + 4 * e * max(c, 0.0))) / (2 * e)
    return float(min(x * x, 1.0))
