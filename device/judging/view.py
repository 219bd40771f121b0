"""The camera's view of the body over one rep, estimated from the pose itself (pure numpy).

Yaw is the body's turn away from the camera: 0 = facing it, +90 = the person's left side towards
it, -90 = the right side, ±180 = the back. Its size comes from how wide the shoulders and hips
look against the torso's length (a width seen edge-on shrinks as cos(yaw)); its sign and
front/back from depth order (BlazePose world landmarks where given, else the image z).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .features import aspect_corrected

FRONT, OBLIQUE, SIDE, BACK = "front", "oblique", "side", "back"
VIEWS = (FRONT, OBLIQUE, SIDE, BACK)

# Shoulder and hip width over torso length of people seen square-on, as BlazePose and AI-Hub's
# labellers place those points (docs/conditions.md: the view estimate).
SHOULDER_RATIO = 0.67
HIP_RATIO = 0.40
# |yaw| boundaries between the named views (degrees): AI-Hub's 45° cameras are oblique, 90° side.
FRONT_MAX = 25.0
SIDE_MIN = 65.0
BACK_MIN = 150.0


@dataclass(frozen=True)
class View:
    """``view``: front / oblique / side / back; ``facing``: the body side nearer the camera
    ("left", "right", or "" when square-on or unknown); ``yaw`` in degrees (signed as above;
    its sign is 0-based guesswork when ``signed`` is False); ``confidence`` 0..1."""

    view: str
    facing: str
    yaw: float
    confidence: float
    signed: bool = True

    def to_dict(self) -> dict:
        return {"view": self.view, "facing": self.facing, "yaw": round(self.yaw, 1),
                "confidence": round(self.confidence, 2)}


UNKNOWN = View("", "", float("nan"), 0.0, False)



def _perp_width(p: np.ndarray, a: int, b: int, axis: np.ndarray) -> np.ndarray:
    """2-D width of the segment a-b across the torso axis (T,)."""
    d = p[:, a, :2] - p[:, b, :2]
    n = np.stack([-axis[:, 1], axis[:, 0]], -1)
    return np.abs(np.sum(d * n, axis=-1))


def name_of(yaw_abs: float) -> str:
    if yaw_abs < FRONT_MAX:
        return FRONT
    if yaw_abs < SIDE_MIN:
        return OBLIQUE
    if yaw_abs < BACK_MIN:
        return SIDE
    return BACK


def estimate_view(landmarks: np.ndarray, image_size=None, world: np.ndarray | None = None,
                  min_visibility: float = 0.3) -> View:
    """The view over frames ``landmarks`` (T, 33, 4) (and optional world landmarks (T, 33, 4)
    in metres); :data:`UNKNOWN` when the torso is never seen."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim == 2:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1] < 25 or len(lm) == 0:
        return UNKNOWN
    p = aspect_corrected(lm, image_size)
    torso_ids = [11, 12, 23, 24]
    ok = np.isfinite(p[:, torso_ids, :2]).all(axis=(1, 2))
    if not ok.any():
        return UNKNOWN
    p = p[ok]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sho_mid = (p[:, 11, :2] + p[:, 12, :2]) / 2
        hip_mid = (p[:, 23, :2] + p[:, 24, :2]) / 2
        axis_v = sho_mid - hip_mid
        torso = np.linalg.norm(axis_v, axis=-1)
        axis = axis_v / np.maximum(torso, 1e-9)[:, None]
        # the torso foreshortens when it leans towards the camera: the largest recent length is
        # the closest to its true one
        t_len = float(np.nanpercentile(torso, 90))
        if not t_len > 1e-6:
            return UNKNOWN
        ws = float(np.nanmedian(_perp_width(p, 11, 12, axis))) / (SHOULDER_RATIO * t_len)
        wh = float(np.nanmedian(_perp_width(p, 23, 24, axis))) / (HIP_RATIO * t_len)
    ratio = float(np.clip((ws + wh) / 2, 0.0, 1.0)) if np.isfinite(ws + wh) else float("nan")
    if not np.isfinite(ratio):
        return UNKNOWN
    yaw_w = math.degrees(math.acos(ratio))  # 0..90 from widths alone

    # Depth order: left minus right in (x, z); atan2 gives the full circle. World landmarks
    # first (metric), then the image z (BlazePose's relative depth; AI-Hub labels have none).
    signed_yaw = None
    for src in (world, lm):
        if src is None:
            continue
        q = np.asarray(src, dtype=np.float64)
        if q.ndim == 2:
            q = q[None]
        if q.shape[0] != len(ok):
            continue
        q = q[ok] if src is world else q
        if src is lm:
            q = aspect_corrected(q, image_size)
        dx = (q[:, 11, 0] - q[:, 12, 0]) + (q[:, 23, 0] - q[:, 24, 0])
        dz = (q[:, 11, 2] - q[:, 12, 2]) + (q[:, 23, 2] - q[:, 24, 2])
        good = np.isfinite(dx) & np.isfinite(dz)
        if good.sum() == 0 or np.nanmax(np.abs(dz[good])) < 1e-6:
            continue
        # person facing the camera: left shoulder on the image right (dx > 0); left side nearer
        # the camera: left z smaller (dz < 0) -> positive yaw
        signed_yaw = float(np.degrees(np.arctan2(-np.median(dz[good]), np.median(dx[good]))))
        break
    if signed_yaw is None:
        # widths only: front or back cannot be told apart; the image x order says which way
        dx = np.nanmedian((p[:, 11, 0] - p[:, 12, 0]) + (p[:, 23, 0] - p[:, 24, 0]))
        yaw = yaw_w
        conf = 0.5 * (1.0 - min(abs(ws - wh), 1.0))
        view = name_of(yaw)
        return View(view, "", yaw if dx >= 0 else -yaw, float(conf), signed=False)
    # blend: widths are the better gauge of the size near the front, depth order near the side
    mag_z = abs(signed_yaw)
    front_half = mag_z <= 90
    mag_w = yaw_w if front_half else 180.0 - yaw_w
    mag = 0.5 * (mag_w + mag_z)
    yaw = math.copysign(mag, signed_yaw)
    agree = 1.0 - min(abs(mag_w - mag_z) / 60.0, 1.0)
    view = name_of(mag)
    facing = "" if view in (FRONT, BACK) else ("left" if yaw > 0 else "right")
    return View(view, facing, float(yaw), float(np.clip(0.3 + 0.7 * agree, 0, 1)), signed=True)
