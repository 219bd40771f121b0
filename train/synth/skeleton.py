"""Per-frame degrees of freedom (:class:`Motion`) and the 33 BlazePose points they put in the
world (forward kinematics, two-bone IK, planted feet)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formcheck.device.pose.landmarks import NUM_LANDMARKS

from .body import Body
from .maths import ap, mirror, mm, rx, ry, rz, unit


class Motion:
    """Per-frame tracks of the skeleton's degrees of freedom (radians, metres).

    Scalars default to 0. Vector tracks: ``root`` (pelvis centre), ``{s}_toe`` (planted foot's
    toe point), ``{s}_knee_pole`` (a planted leg's knee direction in world axes; default: where
    the toes point), ``{s}_hand_local``/``{s}_pole_local`` (arm IK target and elbow direction in
    the trunk frame). ``s`` is ``l`` or ``r``.
    """

    def __init__(self, t: np.ndarray):
        self.t = np.asarray(t, dtype=np.float64)
        self.T = len(self.t)
        self.d: dict[str, np.ndarray] = {}
        self.arm_ik = {"l": False, "r": False}

    def __getitem__(self, k: str) -> np.ndarray:
        v = self.d.get(k)
        return np.zeros(self.T) if v is None else v

    def __setitem__(self, k: str, v) -> None:
        v = np.asarray(v, dtype=np.float64)
        if v.ndim == 0:
            v = np.full(self.T, float(v))
        self.d[k] = v

    def add(self, k: str, v) -> None:
        self[k] = self[k] + np.asarray(v, dtype=np.float64)


def ik2(a, c, l1, l2, pole):
    """Two-bone IK: joint between ``a`` and ``c`` (segment lengths l1, l2) on ``pole``'s side.

    Returns ``(joint, reachable_end)``; an end out of reach is pulled in along the line."""
    d = c - a
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / np.maximum(dist, 1e-9)
    dist_c = np.clip(dist, abs(l1 - l2) * 1.01 + 1e-4, (l1 + l2) * 0.9995)
    end = a + u * dist_c
    x = (l1 * l1 - l2 * l2 + dist_c ** 2) / (2 * dist_c)
    h = np.sqrt(np.maximum(l1 * l1 - x * x, 0.0))
    v = pole - np.sum(pole * u, axis=-1, keepdims=True) * u
    v = unit(v, fallback=np.array([0.0, 0.0, 1.0]))
    return a + u * x + v * h, end


def rotate_about(v, axis, ang):
    """Rodrigues rotation of vectors ``v`` about unit ``axis`` by ``ang`` (per frame)."""
    ang = np.asarray(ang)[..., None]
    return v * np.cos(ang) + np.cross(axis, v) * np.sin(ang) + axis * np.sum(axis * v, -1, keepdims=True) * (1 - np.cos(ang))


# Foot geometry (fractions of foot length / stature) where BlazePose puts ankle, heel and
# foot_index: the toe point sits short of the toe tip, so the shank-foot angle of a standing
# person comes out ~115 degrees as on real clips.
FOOT_FWD, FOOT_BACK = 0.6, 0.26
TOE_H, HEEL_H = 0.008, 0.012

# BlazePose indices
NOSE, L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 0, 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KN, R_KN, L_AN, R_AN, L_HEEL, R_HEEL, L_FT, R_FT = 23, 24, 25, 26, 27, 28, 29, 30, 31, 32

# Face points relative to the ear midpoint, in fractions of stature (left side; right mirrors x).
_FACE = {
    0: (0.0, -0.005, 0.055),
    1: (0.009, 0.012, 0.050), 2: (0.019, 0.012, 0.048), 3: (0.027, 0.012, 0.043),
    4: (-0.009, 0.012, 0.050), 5: (-0.019, 0.012, 0.048), 6: (-0.027, 0.012, 0.043),
    7: (0.042, 0.0, 0.0), 8: (-0.042, 0.0, 0.0),
    9: (0.013, -0.025, 0.050), 10: (-0.013, -0.025, 0.050),
}


@dataclass
class Skeleton:
    points: np.ndarray  # (T, 33, 3) world metres
    capsules: list  # [(p0 (T,3), p1 (T,3), radius, attached landmark ids)]
    head_center: np.ndarray
    facing: np.ndarray  # (T, 3) unit vector the chest faces


def build_skeleton(b: Body, m: Motion) -> Skeleton:
    """World positions of the 33 BlazePose landmarks for every frame of ``m``."""
    T, H = m.T, b.height
    P = np.zeros((T, NUM_LANDMARKS, 3))
    Rp = mm(ry(m["yaw"]), rx(m["pitch"]), rz(-m["roll"]))
    root = m.d.get("root")
    if root is None:
        root = np.tile([0.0, b.ankle_h + b.leg * 0.995, 0.0], (T, 1))

    # spine: lumbar then thoracic segment, each taking half of the side bend and the twist
    base = root + ap(Rp, [0.0, 0.0, -0.02 * H])
    Rl = mm(Rp, rx(m["lumbar_flex"]), rz(-0.5 * m["lat_bend"]), ry(0.5 * m["twist"]))
    mid = base + ap(Rl, [0.0, b.lumbar, 0.0])
    Rt = mm(Rl, rx(m["thor_flex"]), rz(-0.5 * m["lat_bend"]), ry(0.5 * m["twist"]))
    neck = mid + ap(Rt, [0.0, b.thoracic, 0.02 * H])

    # head
    hs = b.head * H
    pivot = neck + ap(Rt, [0.0, 0.043 * H, 0.01 * H])
    Rh = mm(Rt, rx(m["neck_flex"]), ry(m["neck_rot"]), rz(-m["neck_tilt"]))
    ears = pivot + ap(Rh, [0.0, 0.06 * hs, 0.0])
    for i, off in _FACE.items():
        P[:, i] = ears + ap(Rh, np.array(off) * hs)

    capsules = []
    hip_mid = root
    sh_pts = {}
    for s, sg in (("l", 1), ("r", -1)):
        loc = np.stack([np.full(T, sg * b.shoulder_w / 2), -0.015 * H + m[f"{s}_elev"], m[f"{s}_prot"]], -1)
        sh = neck + ap(Rt, loc)
        sh_pts[s] = sh
        if m.arm_ik[s]:
            target = neck + ap(Rt, m[f"{s}_hand_local"])
            pole = ap(Rt, m[f"{s}_pole_local"])
            elbow, wrist = ik2(sh, target, b.upper_arm, b.forearm, pole)
            dirn = unit(wrist - sh)
            pp = pole - np.sum(pole * dirn, -1, keepdims=True) * dirn
            xaxis = -unit(np.cross(unit(pp, np.array([0, 0, -1.0])), dirn), np.array([1.0, 0, 0]))
        else:
            Rua = mm(Rt, mirror(mm(rz(m[f"{s}_sh_abd"]), rx(-m[f"{s}_sh_flex"]), ry(m[f"{s}_sh_rot"])), sg))
            elbow = sh + b.upper_arm * ap(Rua, [0.0, -1.0, 0.0])
            Rfa = mm(Rua, rx(-m[f"{s}_el_flex"]))
            wrist = elbow + b.forearm * ap(Rfa, [0.0, -1.0, 0.0])
            xaxis = ap(Rua, [1.0, 0.0, 0.0])
        a = unit(wrist - elbow)
        palm0 = unit(np.cross(xaxis, -a))
        thumb0 = sg * xaxis
        ph = m[f"{s}_pron"][:, None]
        palm = np.cos(ph) * palm0 - np.sin(ph) * thumb0
        thumb = np.cos(ph) * thumb0 + np.sin(ph) * palm0
        wf, wd = m[f"{s}_wr_flex"][:, None], m[f"{s}_wr_dev"][:, None]
        hand = unit(np.cos(wf) * np.cos(wd) * a + np.sin(wf) * palm + np.sin(wd) * thumb)
        hl = b.hand / (0.108 * H)  # this person's hand relative to the average one
        P[:, L_SH if sg > 0 else R_SH] = sh
        P[:, L_EL if sg > 0 else R_EL] = elbow
        P[:, L_WR if sg > 0 else R_WR] = wrist
        P[:, 17 if sg > 0 else 18] = wrist + H * hl * (0.034 * hand - 0.014 * thumb)  # pinky
        P[:, 19 if sg > 0 else 20] = wrist + H * hl * (0.040 * hand + 0.008 * thumb)  # index
        P[:, 21 if sg > 0 else 22] = wrist + H * hl * (0.022 * hand + 0.020 * thumb + 0.008 * palm)
        g = b.girth
        ids_ua = (11, 13) if sg > 0 else (12, 14)
        ids_fa = (13, 15, 17, 19, 21) if sg > 0 else (14, 16, 18, 20, 22)
        capsules.append((sh, elbow, 0.026 * H * g, ids_ua))
        capsules.append((elbow, wrist, 0.019 * H * g, ids_fa))

    # legs: planted feet (toe on the floor, heel rise about the toe) blended with free FK legs
    ah, th, hh = b.ankle_h, TOE_H * H, HEEL_H * H
    fa, fb = FOOT_FWD * b.foot, FOOT_BACK * b.foot  # ankle to toe / to heel, horizontally
    for s, sg in (("l", 1), ("r", -1)):
        hip = root + ap(Rp, [sg * b.pelvis_w / 2, 0.0, 0.0])
        toe = m.d.get(f"{s}_toe")
        if toe is None:
            toe = np.tile([sg * b.hip_w / 2, th, fa], (T, 1))
        psi = m[f"{s}_foot_yaw"]
        Rf = mm(ry(psi), rx(m[f"{s}_heel_rise"]))
        ankle_p = toe + ap(Rf, [0.0, ah - th, -fa])
        heel_p = toe + ap(Rf, [0.0, hh - th, -(fa + fb)])
        toe_p = toe.copy()
        tr = m[f"{s}_toe_rise"]
        if np.any(tr != 0):  # rocking back onto the heel: rotate about the heel point
            axis = ap(ry(psi), [1.0, 0.0, 0.0])
            ankle_p = heel_p + rotate_about(ankle_p - heel_p, axis, -tr)
            toe_p = heel_p + rotate_about(toe_p - heel_p, axis, -tr)
        fwd_p = ap(ry(psi), [0.0, 0.0, 1.0])
        if f"{s}_knee_pole" in m.d:
            fwd_p = unit(m[f"{s}_knee_pole"])

        w = m[f"{s}_free"]
        if np.any(w > 0):
            Rth = mm(Rp, mirror(mm(rz(m[f"{s}_hip_abd"]), rx(-m[f"{s}_hip_flex"]), ry(m[f"{s}_hip_rot"])), sg))
            knee_f = hip + b.thigh * ap(Rth, [0.0, -1.0, 0.0])
            Rsh = mm(Rth, rx(m[f"{s}_knee_flex"]))
            ankle_f = knee_f + b.shank * ap(Rsh, [0.0, -1.0, 0.0])
            Rft = mm(Rsh, rx(-m[f"{s}_ank_flex"]))
            toe_f = ankle_f + ap(Rft, [0.0, th - ah, fa])
            heel_f = ankle_f + ap(Rft, [0.0, hh - ah, -fb])
            ww = w[:, None]
            ankle_t = (1 - ww) * ankle_p + ww * ankle_f
            toe_t = (1 - ww) * toe_p + ww * toe_f
            heel_t = (1 - ww) * heel_p + ww * heel_f
            pole_f = knee_f - hip
            pole = (1 - ww) * fwd_p + ww * unit(pole_f)
        else:
            ankle_t, toe_t, heel_t, pole = ankle_p, toe_p, heel_p, fwd_p
        # knees caving in (valgus, +) or pushed out (-): rotate the pole about the hip-ankle line
        u = unit(ankle_t - hip)
        pole = pole - np.sum(pole * u, -1, keepdims=True) * u
        pole = rotate_about(unit(pole, np.array([0, 0, 1.0])), u, sg * m[f"{s}_knee_in"])
        knee, ankle = ik2(hip, ankle_t, b.thigh, b.shank, pole)
        shift = ankle - ankle_t
        iH, iK, iA = (L_HIP, L_KN, L_AN) if sg > 0 else (R_HIP, R_KN, R_AN)
        P[:, iH] = hip
        P[:, iK] = knee
        P[:, iA] = ankle
        P[:, L_HEEL if sg > 0 else R_HEEL] = heel_t + shift
        P[:, L_FT if sg > 0 else R_FT] = toe_t + shift
        g = b.girth
        capsules.append((hip, knee, 0.040 * H * g, (iH, iK)))
        capsules.append((knee, ankle, 0.026 * H * g, (iK, iA, iA + 2, iA + 4)))

    # the trunk: a central capsule plus two flanking ones (a flattened box, ~35x22 cm)
    g = b.girth
    for sh_i, hip_i in ((L_SH, L_HIP), (R_SH, R_HIP)):
        h0 = hip_mid + 0.55 * (P[:, hip_i] - hip_mid)
        s0 = neck + 0.55 * (P[:, sh_i] - neck)
        capsules.append((h0, s0, 0.05 * H * g, (11, 12, 23, 24)))
    capsules.append((hip_mid, neck, 0.06 * H * g, (11, 12, 23, 24)))
    capsules.append((ears, ears + 1e-6, 0.062 * hs, tuple(range(11))))
    facing = ap(Rt, [0.0, 0.0, 1.0])
    return Skeleton(P, capsules, ears, facing)
