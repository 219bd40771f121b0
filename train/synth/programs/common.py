"""What every exercise program shares: the clip context (body, severities, random streams) and
posture helpers (planted stance, balance, hanging arms, postural sway, idle gestures)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..body import Body
from ..labels import FAULT_MIN, FAULT_THRESHOLD
from ..maths import DEG, bump, named_stream, smooth_noise
from ..skeleton import FOOT_FWD, TOE_H, Motion


@dataclass
class ClipContext:
    kind: str
    body: Body
    severity: dict[str, float]  # condition key -> severity (see FAULT_THRESHOLD)
    ss: np.random.SeedSequence
    fps: float
    drop_rate: float
    variant: dict = field(default_factory=dict)  # program choices (reported in extra)
    forced: dict = field(default_factory=dict)  # choices the caller fixed (ClipSpec.variants)
    picked: set = field(default_factory=set)  # the choices made through pick() (the fixable ones)

    def rng(self, name: str) -> np.random.Generator:
        return named_stream(self.ss, name)

    def sev(self, key: str) -> float:
        return float(self.severity.get(key, 0.0))

    def pick(self, name: str, options: list[str], weights=None) -> str:
        """A program choice (seated or standing, ...) from its own stream, so adding a choice
        changes no other draw; ``forced[name]`` overrides the draw (tests, renders)."""
        w = np.ones(len(options)) if weights is None else np.asarray(weights, float)
        v = str(self.rng("variant:" + name).choice(options, p=w / w.sum()))
        if name in self.forced:
            v = str(self.forced[name])
            if v not in options:
                raise ValueError(f"variant {name}={v!r}: choose one of {', '.join(options)}")
        self.variant[name] = v
        self.picked.add(name)
        return v

    def fault_rng(self, key: str) -> np.random.Generator:
        return named_stream(self.ss, "fault:" + key)

    def times(self, duration: float) -> np.ndarray:
        """Frame timestamps: nominal fps with capture jitter and, on slow devices, dropped frames."""
        rng = self.rng("frames")
        dt = 1.0 / self.fps
        n = max(2, int(duration / dt) + 1)
        t = np.arange(n) * dt + rng.normal(0, 0.04 * dt, n)
        t[0] = 0.0
        keep = rng.random(n) >= self.drop_rate
        keep[0] = keep[-1] = True
        t = np.sort(t[keep])
        return np.maximum.accumulate(t + np.arange(len(t)) * 1e-6)


def fault_variant(ctx: ClipContext, key: str, variants: list[tuple[str, float]]) -> str:
    """A fault's variant (e.g. rounding vs over-arching), from the fault's own stream."""
    rng = ctx.fault_rng(key + ":variant")
    names, w = zip(*variants, strict=True)
    w = np.asarray(w, float) / sum(w)
    v = str(rng.choice(names, p=w))
    if ctx.sev(key) >= FAULT_THRESHOLD:
        ctx.variant[key] = v
    return v


def fault_size(ctx: ClipContext, key: str, lo: float, hi: float) -> float:
    """A fault's magnitude at full severity, drawn from the fault's own stream."""
    return float(ctx.fault_rng(key).uniform(lo, hi))


def callable_size(ctx: ClipContext, key: str, natural: float, mild: float, full: float) -> float:
    """A fault's size from its severity where the fault has a size a coach calls: correct reps
    vary naturally up to ``natural`` (at FAULT_THRESHOLD); a fault starts at ``mild`` (the
    smallest a coach calls, at FAULT_MIN) and grows to ``full`` at severity 1. Each clip draws
    its own 0-15% more, from the fault's stream."""
    s, k = ctx.sev(key), 1.0 + 0.15 * float(ctx.fault_rng(key + ":size").random())
    if s < FAULT_THRESHOLD:
        return natural * s / FAULT_THRESHOLD * k
    return (mild + (full - mild) * max(s - FAULT_MIN, 0.0) / (1.0 - FAULT_MIN)) * k


def knee_for_hip_drop(b: Body, drop: float, tilt: float = 0.45) -> float:
    """Knee flexion (rad) that lowers the hips by ``drop`` metres, the shank tilting forward
    by ``tilt`` of it (a dip over planted feet, as in ``sagittal_root``)."""
    k = np.linspace(0.0, 100 * DEG, 201)
    fall = b.leg - (b.shank * np.cos(tilt * k) + b.thigh * np.cos((1 - tilt) * k))
    return float(np.interp(drop, fall, k))


def stand_feet(m: Motion, b: Body, half_width: float, toe_out: float, z: float = 0.0):
    """Plant both feet: toe points on the floor at +/- ``half_width`` (ankle separation)."""
    fa = FOOT_FWD * b.foot
    th = TOE_H * b.height
    for s, sg in (("l", 1), ("r", -1)):
        psi = sg * toe_out
        ankle_x = sg * half_width
        toe = np.array([ankle_x + fa * math.sin(psi), th, z + fa * math.cos(psi)])
        m[f"{s}_toe"] = np.tile(toe, (m.T, 1))
        m[f"{s}_foot_yaw"] = psi


def sagittal_root(b: Body, half_width: float, knee_flex, shank_tilt, z_ankle: float = 0.0):
    """Pelvis centre for a symmetric planted stance from knee flexion and shank tilt.

    The legs are slanted when the feet are wider than the hips; their sagittal projection is
    shortened accordingly."""
    lat = max(half_width - b.pelvis_w / 2, 0.0)
    f = math.sqrt(max(1.0 - (lat / b.leg) ** 2, 0.5))
    beta = np.asarray(shank_tilt)
    kappa = np.asarray(knee_flex)
    y = b.ankle_h + f * (b.shank * np.cos(beta) + b.thigh * np.cos(beta - kappa))
    zz = z_ankle + f * (b.shank * np.sin(beta) + b.thigh * np.sin(beta - kappa))
    return np.stack([np.zeros_like(y), y, zz], -1)


def lean_for_balance(b: Body, root, target_z) -> np.ndarray:
    """Trunk angle from vertical that puts the shoulders over ``target_z`` (the bar over the
    mid-foot), given the pelvis position."""
    s = (np.asarray(target_z) - root[:, 2]) / b.torso
    return np.arcsin(np.clip(s, -0.35, 0.97))


def arms_hanging(m: Motion, rng, *, abd=(4, 12), flex=(-4, 6), el=(5, 18), pron=(60, 100)):
    for s in ("l", "r"):
        m[f"{s}_sh_abd"] = rng.uniform(*abd) * DEG
        m[f"{s}_sh_flex"] = rng.uniform(*flex) * DEG
        m[f"{s}_el_flex"] = rng.uniform(*el) * DEG
        m[f"{s}_pron"] = rng.uniform(*pron) * DEG


def add_life(m: Motion, rng, b: Body, scale: float = 1.0):
    """Postural sway, breathing and small head/arm wander: nobody stands perfectly still."""
    t = m.t
    H = b.height
    if "root" in m.d:
        # postural sway about the ankles (the knees keep their angle): small horizontal drift
        # of the pelvis with the drop that keeps the legs' length
        sx = smooth_noise(rng, t, 0.0025 * H * scale, 0.5)
        sz = smooth_noise(rng, t, 0.004 * H * scale, 0.5)
        sway = np.stack([sx, -(sx ** 2 + sz ** 2) / (2 * b.leg), sz], -1)
        m["root"] = m["root"] + sway
    else:
        for _ in range(3):
            smooth_noise(rng, t, 0.0)
    br = rng.uniform(0.2, 0.35)
    m.add("thor_flex", 0.6 * DEG * np.sin(2 * np.pi * br * t) * scale)
    m.add("neck_flex", smooth_noise(rng, t, 3.0 * DEG * scale, 0.4))
    m.add("neck_rot", smooth_noise(rng, t, 4.0 * DEG * scale, 0.3))
    m.add("neck_tilt", smooth_noise(rng, t, 1.5 * DEG * scale, 0.3))
    m.add("lat_bend", smooth_noise(rng, t, 1.0 * DEG * scale, 0.4))
    m.add("twist", smooth_noise(rng, t, 1.5 * DEG * scale, 0.3))
    m.add("lumbar_flex", smooth_noise(rng, t, 1.0 * DEG * scale, 0.3))
    for s in ("l", "r"):
        m.add(f"{s}_sh_flex", smooth_noise(rng, t, 2.0 * DEG * scale, 0.6))
        m.add(f"{s}_sh_abd", smooth_noise(rng, t, 1.5 * DEG * scale, 0.6))
        m.add(f"{s}_el_flex", smooth_noise(rng, t, 2.0 * DEG * scale, 0.6))
        m.add(f"{s}_wr_flex", smooth_noise(rng, t, 4.0 * DEG * scale, 0.6))
        m.add(f"{s}_wr_dev", smooth_noise(rng, t, 3.0 * DEG * scale, 0.6))


def idle_gesture(m: Motion, rng, b: Body, spans, arms_free: bool = True):
    """Between sets and before/after them: adjust clothes/hair, roll shoulders, look around,
    shake out the arms. Additive on the current posture, inside the given idle ``spans``."""
    t = m.t
    for a0, a1 in spans:
        if a1 - a0 < 0.8:
            rng.random(6)
            continue
        kind = rng.choice(["look", "shrug", "adjust", "shake", "none", "touch_face"])
        c = rng.uniform(a0 + 0.4, a1 - 0.4)
        w = min(rng.uniform(0.8, 2.2), a1 - a0)
        env = bump(t, c, w)
        side = "l" if rng.random() < 0.5 else "r"
        mag = rng.uniform(0.5, 1.0)
        if kind == "look":
            m.add("neck_rot", env * mag * rng.choice([-1, 1]) * 40 * DEG)
            m.add("twist", env * mag * rng.choice([-1, 1]) * 8 * DEG)
        elif kind == "shrug":
            for s in ("l", "r"):
                m.add(f"{s}_elev", env * mag * 0.03 * b.height)
        elif kind == "shake":
            osc = np.sin(2 * np.pi * 3.0 * t) * env
            for s in ("l", "r"):
                if not m.arm_ik[s]:
                    m.add(f"{s}_sh_abd", osc * mag * 10 * DEG)
                    m.add(f"{s}_el_flex", np.abs(osc) * mag * 20 * DEG)
        elif kind in ("adjust", "touch_face") and arms_free and not m.arm_ik[side]:
            lift = 100 if kind == "touch_face" else 35
            m.add(f"{side}_sh_flex", env * mag * lift * DEG)
            m.add(f"{side}_el_flex", env * mag * (110 if kind == "touch_face" else 70) * DEG)
            m.add(f"{side}_sh_abd", env * mag * 10 * DEG)
