"""Cameras: the AI-Hub views and the side/back views people film from, framing, projection."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The five AI-Hub cameras (A..E) by azimuth, plus the side and back views real users film from.
AIHUB_VIEWS: dict[str, float] = {
    "left-135": 135.0, "left-45": 45.0, "front": 0.0, "right-45": -45.0, "right-135": -135.0,
}
EXTRA_VIEWS: dict[str, float] = {"left-90": 90.0, "right-90": -90.0, "back": 180.0}
ALL_VIEWS: dict[str, float] = {**AIHUB_VIEWS, **EXTRA_VIEWS}


IMAGE_SIZES = [((1920, 1080), 0.3), ((1280, 720), 0.25), ((640, 480), 0.15), ((640, 360), 0.05),
               ((720, 1280), 0.1), ((1080, 1920), 0.07), ((960, 720), 0.04), ((1080, 1080), 0.04)]
FPS_CHOICES = [(8, 0.08), (10, 0.1), (12, 0.08), (15, 0.2), (20, 0.08), (24, 0.08), (25, 0.08), (30, 0.3)]


@dataclass
class Camera:
    view: str
    azimuth: float  # degrees, 0 = in front of the person
    elevation: float
    distance: float
    height: float
    hfov: float
    roll: float
    image_size: tuple[int, int]
    pos: np.ndarray
    basis: np.ndarray  # rows: right, up, forward
    f: float  # focal length in pixels
    k1: float = 0.0  # radial lens distortion (negative: barrel, as on wide webcams)

    def meta(self) -> dict:
        return {"view": self.view, "azimuth_deg": round(self.azimuth, 2), "elevation_deg": round(self.elevation, 2),
                "distance_m": round(self.distance, 3), "height_m": round(self.height, 3),
                "hfov_deg": round(self.hfov, 2), "roll_deg": round(self.roll, 2), "k1": round(self.k1, 4)}


def sample_view(rng) -> tuple[str, float]:
    """A view: the five AI-Hub cameras (most), pure side views, and now and then anywhere."""
    u = rng.random()
    if u < 0.68:
        name = str(rng.choice(list(AIHUB_VIEWS)))
        return name, AIHUB_VIEWS[name] + rng.uniform(-10, 10)
    if u < 0.93:
        name = "left-90" if rng.random() < 0.5 else "right-90"
        return name, ALL_VIEWS[name] + rng.uniform(-10, 10)
    az = rng.uniform(-180, 180)
    return nearest_view(az), az


def nearest_view(azimuth: float) -> str:
    return min(ALL_VIEWS, key=lambda k: abs((ALL_VIEWS[k] - azimuth + 180) % 360 - 180))


def _basis(pos, target, roll):
    fwd = target - pos
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right = right / max(np.linalg.norm(right), 1e-9)
    up = np.cross(right, fwd)
    c, s = math.cos(roll), math.sin(roll)
    r2 = c * right + s * up
    u2 = -s * right + c * up
    return np.stack([r2, u2, fwd])


def project(cam: Camera, P: np.ndarray):
    """Pixel coordinates ``(…, 2)`` and camera depth ``(…)`` of world points ``P (…, 3)``."""
    d = P - cam.pos
    c = d @ cam.basis.T
    depth = np.maximum(c[..., 2], 1e-3)
    W, Hh = cam.image_size
    xn, yn = c[..., 0] / depth, c[..., 1] / depth
    if cam.k1:
        k = 1.0 + cam.k1 * (xn * xn + yn * yn) * (cam.f / (W / 2)) ** 2
        xn, yn = xn * k, yn * k
    u = W / 2 + cam.f * xn
    v = Hh / 2 - cam.f * yn
    return np.stack([u, v], -1), depth


def sample_camera(rng, points: np.ndarray, *, view: str | None = None, azimuth: float | None = None,
                  image_size=None, lying: bool = False) -> Camera:
    """Place a camera so the person's whole motion is framed (sometimes cropped on purpose)."""
    v_name, v_az = sample_view(rng)  # drawn whatever is asked, to keep the other draws fixed
    jitter = rng.uniform(-6, 6)
    if view is not None and view not in ALL_VIEWS:
        raise ValueError(f"view {view!r}: choose one of {', '.join(ALL_VIEWS)}")
    if view is None and azimuth is None:
        view, azimuth = v_name, v_az
    elif azimuth is None:
        azimuth = ALL_VIEWS[view] + jitter
    elif view is None:
        view = nearest_view(azimuth)
    if image_size is None:
        sizes, w = zip(*IMAGE_SIZES, strict=True)
        image_size = sizes[int(rng.choice(len(sizes), p=np.array(w) / sum(w)))]
    W, Hh = image_size
    portrait = Hh > W
    hfov = rng.uniform(48, 78) if not portrait else rng.uniform(38, 62)
    f = (W / 2) / math.tan(math.radians(hfov) / 2)
    cam_h = rng.uniform(0.35, 1.9) if not lying else rng.uniform(0.5, 2.2)
    roll = math.radians(rng.normal(0, 1.5))
    crop = rng.random() < 0.12
    fill = rng.uniform(1.02, 1.3) if crop else rng.uniform(0.45, 0.92)
    crop_dir = rng.choice([1.0, 1.0, -1.0])  # cut the feet (usually) or the head
    off = rng.uniform(-1, 1, 2)
    k1 = rng.uniform(-0.12, 0.03) if rng.random() < 0.5 else 0.0
    pts = points.reshape(-1, 3)[:: max(1, len(points.reshape(-1, 3)) // 800)]
    lo, hi = pts.min(0), pts.max(0)
    target = (lo + hi) / 2
    az = math.radians(azimuth)
    dirh = np.array([math.sin(az), 0.0, math.cos(az)])
    lat = np.cross([0.0, 1.0, 0.0], dirh)

    def place(horiz, tgt):
        pos = tgt + horiz * dirh
        pos[1] = cam_h
        return Camera(view, float(azimuth), 0.0, horiz, cam_h, hfov, math.degrees(roll), (W, Hh), pos,
                      _basis(pos, tgt, roll), f, k1)

    # distance (horizontal) so the motion's extent fills ``fill`` of the frame; people film
    # from at least ~1.8 m (closer, and perspective distorts the body more than any real clip)
    horiz = 3.5
    for _ in range(4):
        uv, _ = project(place(horiz, target), pts)
        ext = max((uv[:, 1].max() - uv[:, 1].min()) / Hh, (uv[:, 0].max() - uv[:, 0].min()) / W / 0.95)
        horiz = float(np.clip(horiz * ext / fill, 1.8, 12.0))
    # frame the subject off-centre a little; cropped clips lose the feet (or the head)
    span_y = hi[1] - lo[1]
    tgt = target.copy()
    if crop:
        tgt[1] += crop_dir * (fill - 1.0) * span_y * 0.6
    else:
        slack = max(0.0, 1.0 - fill)
        tgt[1] += off[0] * slack * span_y * 0.35
        tgt = tgt + lat * off[1] * slack * span_y * 0.4 * (W / Hh)
    cam = place(horiz, tgt)
    # the detector needs the torso: step back until it is in view (nearly) all the time
    torso = points[:, [11, 12, 23, 24]].reshape(-1, 3)
    for _ in range(10):
        uv, _ = project(cam, torso)
        inside = ((uv[:, 0] > 0) & (uv[:, 0] < W) & (uv[:, 1] > 0) & (uv[:, 1] < Hh)).reshape(-1, 4).all(1)
        if inside.mean() >= 0.97:
            break
        horiz *= 1.2
        cam = place(horiz, tgt)
    pos = cam.pos
    elev = math.degrees(math.asin(float(np.clip((cam_h - tgt[1]) / max(np.linalg.norm(pos - tgt), 1e-6), -1, 1))))
    cam.elevation = elev
    cam.distance = float(np.linalg.norm(pos - tgt))
    return cam
