"""What BlazePose would report: self-occlusion, barbell plates, visibility, correlated jitter,
mediapipe's smoothing, left/right swaps and dropouts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from formcheck.device.pose.landmarks import NUM_LANDMARKS
from formcheck.device.pose.smoothing import LowPassFilter, OneEuroFilter, OneEuroParams

from .camera import Camera, project
from .maths import smooth_noise, unit
from .skeleton import L_HIP, L_SH, L_WR, R_HIP, R_SH, R_WR, Skeleton

# Per-landmark jitter in units of the projected torso length (calibrated against BlazePose on
# the reference clips: about 0.002-0.009 of the torso on the face/torso, 2-3x that on hands).
_JIT = np.array([0.0045] * 11 + [0.004, 0.004, 0.006, 0.006, 0.008, 0.008] + [0.012] * 6
                + [0.004, 0.004, 0.005, 0.005, 0.003, 0.003, 0.0035, 0.0035, 0.0035, 0.0035])
_MIRROR_IDX = np.array([0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21,
                        24, 23, 26, 25, 28, 27, 30, 29, 32, 31])
_LIMB = np.array([False] * 13 + [True] * 10 + [False] * 2 + [True] * 8)
_TORSO = np.array([11, 12, 23, 24])
_UPPER = (np.arange(NUM_LANDMARKS) < 23).astype(np.float64)  # face, arms and hands
_SWAP_ARMS = [(11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22)]
_SWAP_LEGS = [(23, 24), (25, 26), (27, 28), (29, 30), (31, 32)]


def _dot(u, v):
    return np.einsum("...i,...i->...", u, v)


def _seg_dist(p, q, a, b):
    """Distance between segments p→q and a→b, broadcasting over leading axes."""
    d1, d2, r = q - p, b - a, p - a
    A = _dot(d1, d1)
    E = np.broadcast_to(_dot(d2, d2), A.shape)
    F = _dot(d2, r)
    C = _dot(d1, r)
    B = _dot(d1, d2)
    den = np.maximum(A * E - B * B, 1e-12)
    s = np.clip((B * F - C * E) / den, 0.0, 1.0)
    tt = np.clip((B * s + F) / np.maximum(E, 1e-12), 0.0, 1.0)
    s = np.clip((B * tt - C) / np.maximum(A, 1e-12), 0.0, 1.0)
    diff = (p + d1 * s[..., None]) - (a + d2 * tt[..., None])
    return np.sqrt(_dot(diff, diff))


def occlusion(sk: Skeleton, cam_pos: np.ndarray, t: np.ndarray | None = None, rate: float = 10.0) -> np.ndarray:
    """How hidden each landmark is, 0..1 ``(T, 33)``: the line of sight to the camera passing
    through a body part (capsules) the landmark is not attached to. Computed at about
    ``rate`` Hz and interpolated (occlusion changes slowly; this is the generator's hot spot)."""
    T = sk.points.shape[0]
    idx = np.arange(T)
    if t is not None and T > 2:
        fps = (T - 1) / max(t[-1] - t[0], 1e-6)
        step = max(1, int(fps / rate))
        idx = np.unique(np.r_[np.arange(0, T, step), T - 1])
    P = sk.points[idx]
    occ = np.zeros((len(idx), NUM_LANDMARKS))
    ray = cam_pos - P
    ray_u = ray / np.linalg.norm(ray, axis=-1, keepdims=True)
    q = P + ray * 0.98
    for p0, p1, rad, attached in sk.capsules:
        # start the sight line one radius towards the camera: a landmark beside or in front of
        # a body part (an elbow by the ribs) is not hidden by it, one behind it still is
        dist = _seg_dist(P + ray_u * rad, q, p0[idx, None, :], p1[idx, None, :])
        o = np.clip((rad - dist) / (rad * 0.5), 0.0, 1.0)
        if attached:
            o[:, list(attached)] = 0.0
        occ = np.maximum(occ, o)
    # face points when the head turns away: the back of the head hides them
    view = unit(cam_pos - sk.head_center[idx])
    fwd = unit(P[:, 0] - sk.head_center[idx])
    away = np.clip(-np.sum(view * fwd, -1) * 1.5, 0, 1)
    occ[:, :11] = np.maximum(occ[:, :11], away[:, None] * 0.8)
    if len(idx) == T:
        return occ
    out = np.empty((T, NUM_LANDMARKS))
    for j in range(NUM_LANDMARKS):
        out[:, j] = np.interp(np.arange(T), idx, occ[:, j])
    return out


PLATE_RADIUS = 0.225  # m: a 20 kg bumper plate
_LEFT_UPPER = [1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21]
_RIGHT_UPPER = [4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22]


def plate_occlusion(rng, P: np.ndarray, cam: Camera, uv: np.ndarray, depth: np.ndarray, t: np.ndarray):
    """A loaded barbell seen end-on: the near plate hides what is behind it and BlazePose guesses.

    Returns ``(uv, hidden)``: the pixel positions with BlazePose's guesses where the plate hides
    the body, and how hidden each point is (0..1). Calibrated on a real side-view squat with
    plates in front of the head and arms: the hidden shoulders come out half a torso apart (as
    if the trunk turned to the camera; 0.04 on an unoccluded side view) and the hidden arms and
    face wander by about a torso."""
    T = len(t)
    bar = 0.5 * (P[:, L_WR] + P[:, R_WR])  # the hands hold the bar
    axis = unit(P[:, L_WR] - P[:, R_WR])
    view = unit(cam.pos - bar)
    c = np.sum(axis * view, -1)
    end_on = np.clip((np.abs(c) - 0.55) / 0.3, 0.0, 1.0)
    hidden = np.zeros((T, NUM_LANDMARKS))
    if float(np.median(end_on)) <= 0.0:
        return uv, hidden
    plate = bar + axis * (np.sign(c) * rng.uniform(0.55, 0.75))[:, None]
    puv, pdepth = project(cam, plate)
    r_px = PLATE_RADIUS * rng.uniform(0.8, 1.1) * cam.f / pdepth
    d = np.linalg.norm(uv - puv[:, None], axis=-1) / r_px[:, None]
    hidden = np.clip((1.15 - d) / 0.3, 0.0, 1.0) * (depth > pdepth[:, None]) * end_on[:, None]
    hidden = _lowpass(hidden, 0.3)
    torso = np.linalg.norm((uv[:, L_SH] + uv[:, R_SH] - uv[:, L_HIP] - uv[:, R_HIP]) / 2, axis=-1)
    tpx = max(float(np.median(torso)), 1.0)
    out = uv.copy()
    # hidden shoulders: the upper body is read as turned towards the camera
    sh = np.maximum(hidden[:, L_SH], hidden[:, R_SH])
    spread = (rng.uniform(0.15, 0.4) + smooth_noise(rng, t, 0.08, 0.4)) * tpx * rng.choice([-1.0, 1.0])
    off = np.stack([spread, smooth_noise(rng, t, 0.06 * tpx, 0.4)], -1) * sh[:, None]
    out[:, _LEFT_UPPER] += off[:, None]
    out[:, _RIGHT_UPPER] -= off[:, None]
    # hidden arms and face: slow wander of about half a torso (each point its own)
    out += smooth_noise(rng, t, 0.35 * tpx, 0.5, shape=(NUM_LANDMARKS, 2)) * hidden[..., None] * _UPPER[:, None]
    return out, hidden


@dataclass
class EstimatorModel:
    """How much to degrade the clean projection (1 = calibrated to BlazePose on real clips)."""

    noise: float = 1.0
    swaps: bool = True
    dropouts: bool = True


def estimator(rng, sk: Skeleton, cam: Camera, t: np.ndarray, em: EstimatorModel, lying: bool = False,
              plates_rng=None):
    """Project and degrade: landmarks ``(T, 33, 4)`` as BlazePose reports them. ``plates_rng``
    (a loaded barbell in the hands): the plates hide the body from the side."""
    P = sk.points
    T = len(t)
    W, Hh = cam.image_size
    uv, depth = project(cam, P)
    plate_hidden = None
    if plates_rng is not None and em.noise > 0:
        uv, plate_hidden = plate_occlusion(plates_rng, P, cam, uv, depth, t)
    x = uv[..., 0] / W
    y = uv[..., 1] / Hh
    hip_depth = 0.5 * (depth[:, L_HIP] + depth[:, R_HIP])
    # BlazePose's z is relative depth "in x's units" but comes out 2-5x the metric depth
    z_scale = rng.uniform(1.5, 5.0)
    z = (depth - hip_depth[:, None]) * cam.f / hip_depth[:, None] / W * z_scale
    occ = occlusion(sk, cam.pos, t)
    if plate_hidden is not None:
        occ = np.maximum(occ, plate_hidden)

    # --- visibility: high where seen, low where hidden or out of frame ---------------------
    conf = rng.uniform(0.965, 1.0)
    base = np.where(_LIMB, rng.uniform(0.93, 0.997), rng.uniform(0.975, 0.999))
    base = np.clip(base * rng.uniform(0.99, 1.0, NUM_LANDMARKS), 0, 1)
    base[17:23] *= rng.uniform(0.8, 1.0)  # fingers are the least certain points
    base = np.broadcast_to(base, (T, NUM_LANDMARKS)).copy()
    # side-on, BlazePose doubts the far side's limbs even where they show past the body, and
    # gives hidden far-side points very low visibility; a limb hidden in a three-quarter view
    # (which it can still infer) gets a middling one
    sw = np.linalg.norm(P[:, L_SH] - P[:, R_SH], axis=-1)[:, None]
    far = np.clip(((depth - depth[:, _MIRROR_IDX]) / np.maximum(sw, 1e-3) - 0.55) / 0.3, 0, 1)
    occ = np.maximum(occ, far * _LIMB * rng.uniform(0.6, 0.95))
    low = rng.uniform(0.02, 0.25, NUM_LANDMARKS) + (1 - far) * rng.uniform(0.15, 0.45)
    vis = base * (1 - occ) + low * occ
    # torso landmarks stay confident even when hidden (BlazePose infers them from the body)
    vis[:, _TORSO] = np.maximum(vis[:, _TORSO], base[:, _TORSO] * rng.uniform(0.9, 0.99))
    outside = np.maximum.reduce([-x, x - 1, -y, y - 1, np.zeros_like(x)])
    vis = vis * np.exp(-outside / 0.05) * conf
    vis = vis + 0.05 * rng.normal(size=vis.shape) * vis * (1 - vis) * 4
    vis = np.clip(_lowpass(vis, 0.1 if em.noise > 0 else 1.0), 0.0, 1.0)  # mediapipe: alpha 0.1

    # --- position error: BlazePose's per-frame error, then mediapipe's one-euro smoothing -----
    torso_px = np.linalg.norm((uv[:, L_SH] + uv[:, R_SH] - uv[:, L_HIP] - uv[:, R_HIP]) / 2, axis=-1)
    body_px = max(float(np.median(torso_px)), 1.0)
    res = float(np.clip(160.0 / body_px, 0.5, 3.0)) ** 0.5  # small people in frame jitter more
    q = em.noise * float(np.exp(rng.normal(0.0, 0.45))) * res * (1.8 if lying else 1.0)
    if rng.random() < 0.1:  # a hard clip: bad light, baggy clothes, a barbell's plates in the way
        q *= rng.uniform(2.0, 4.0)
    sig = _JIT[None, :] * (1 + 2.0 * occ + 1.5 * np.clip(outside / 0.1, 0, 1)) * q  # torso units
    raw = (_ar1(rng, t, (T, NUM_LANDMARKS, 2), rng.uniform(0.04, 0.1)) * 0.6
           + rng.normal(size=(T, NUM_LANDMARKS, 2)) * 0.8) * (sig * body_px)[..., None]
    # motion blur: fast limbs come out worse
    vel = np.gradient(uv, t, axis=0) if T > 2 else np.zeros_like(uv)
    dt_med = float(np.median(np.diff(t))) if T > 1 else 1 / 30
    raw += rng.normal(size=raw.shape) * np.abs(vel) * dt_med * 0.35 * em.noise
    # hidden limbs drift (BlazePose guesses them): a slow offset scaled by how hidden
    raw += smooth_noise(rng, t, 0.06, 0.5, shape=(NUM_LANDMARKS, 2)) * body_px * em.noise * occ[..., None]
    zpx = z * W
    zraw = (_ar1(rng, t, (T, NUM_LANDMARKS), 0.1) * sig * 4.0 * body_px
            + smooth_noise(rng, t, 0.03 * em.noise, 0.3, shape=(NUM_LANDMARKS,)) * body_px)
    pix = np.concatenate([uv + raw, (zpx + zraw)[..., None]], -1)
    if em.noise > 0:
        obj = 0.5 * (np.ptp(uv[..., 0], axis=1) + np.ptp(uv[..., 1], axis=1))
        pix = one_euro(pix.reshape(T, -1), t, obj, min_cutoff=0.05 * rng.uniform(0.6, 1.6),
                       beta=80.0 * rng.uniform(0.6, 1.5)).reshape(pix.shape)
    x = pix[..., 0] / W
    y = pix[..., 1] / Hh
    z = pix[..., 2] / W
    lm = np.stack([x, y, z, vis], -1).astype(np.float32)

    events = Counter()
    # --- left/right swaps (mostly side views, short bursts) --------------------------------
    if em.swaps and em.noise > 0:
        side_view = abs(abs(cam.azimuth) - 90) < 35
        p = 0.35 if side_view else 0.12
        if rng.random() < p:
            for _ in range(int(rng.integers(1, 4))):
                s0 = int(rng.integers(0, T))
                n = int(rng.integers(2, 12))
                pairs = [_SWAP_LEGS, _SWAP_ARMS, _SWAP_LEGS + _SWAP_ARMS][int(rng.integers(0, 3))]
                sl = slice(s0, min(T, s0 + n))
                for i, j in pairs:
                    lm[sl, [i, j]] = lm[sl, [j, i]]
                events["swap_frames"] += sl.stop - sl.start
    # --- dropouts: no person found ----------------------------------------------------------
    lost = np.zeros(T, bool)
    if em.dropouts and em.noise > 0:
        p = 0.25 if not lying else 0.45
        if rng.random() < p:
            for _ in range(int(rng.integers(1, 4))):
                s0 = int(rng.integers(0, T))
                lost[s0:s0 + int(rng.integers(1, 9))] = True
        # the detector needs most of the torso in view
        tx = lm[:, _TORSO, 0]
        ty = lm[:, _TORSO, 1]
        inside = ((tx > -0.02) & (tx < 1.02) & (ty > -0.02) & (ty < 1.02)).sum(1)
        lost |= inside < 3
    lm[lost] = np.nan
    events["lost_frames"] = int(lost.sum())
    return lm, events


def _ar1(rng, t, shape, tau):
    """Unit-variance AR(1) noise along time with time constant ``tau`` (irregular frames ok)."""
    T = shape[0]
    e = rng.normal(size=shape)
    out = np.empty(shape)
    out[0] = e[0]
    dt = np.diff(t, prepend=t[0])
    rho = np.exp(-np.maximum(dt, 1e-3) / tau)
    sq = np.sqrt(1 - rho ** 2)
    for i in range(1, T):
        out[i] = rho[i] * out[i - 1] + sq[i] * e[i]
    return out


def _lowpass(v, alpha: float):
    """Exponential smoothing with a fixed per-frame weight (mediapipe's visibility filter)."""
    if alpha >= 1.0:
        return v
    f = LowPassFilter(alpha, dtype=np.float64)
    return np.stack([f.apply(row) for row in v])


def one_euro(X, t, object_scale, min_cutoff=0.05, beta=80.0, derivate_cutoff=1.0):
    """mediapipe's landmark smoothing (the device's One-Euro filter) over a whole clip: values
    in pixels, speeds in object sizes per second, so still points are smoothed hard and fast
    ones pass through. ``X (T, N)``, ``object_scale (T,)`` in pixels."""
    f = OneEuroFilter(OneEuroParams(min_cutoff, beta, derivate_cutoff), dtype=np.float64,
                      microsecond_timestamps=False)
    X = np.asarray(X, dtype=np.float64)
    return np.stack([f.apply(X[i], float(t[i]), 1.0 / max(float(object_scale[i]), 1e-6)) for i in range(len(X))])
