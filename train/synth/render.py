"""Draw landmark sequences (synthetic or extracted from real video) as skeleton strips and GIFs.

A strip is a row of frames (one rep by default, so a squat's descent and ascent are side by
side); several rows stack into one image for comparing, say, a correct squat with one whose
knees cave in. Drawing uses the same normalised image coordinates a model sees (x scaled by
the aspect ratio so angles look right); points BlazePose is unsure of (low visibility) are
drawn faint, frames without a person are marked.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from formcheck.device.exercises import EXERCISES
from formcheck.device.pose.landmarks import EDGES
from formcheck.device.sequences import LandmarkSequence

log = logging.getLogger(__name__)

_HAND_EDGES = ((15, 17), (15, 19), (17, 19), (15, 21), (16, 18), (16, 20), (18, 20), (16, 22))
_FACE_EDGES = ((0, 2), (0, 5), (2, 7), (5, 8), (9, 10))
LEFT = {1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}
COL_LEFT = (230, 120, 30)
COL_RIGHT = (40, 110, 220)
COL_MID = (90, 90, 90)
BG = (250, 250, 247)


def _font(size: int = 12):
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


def _xy(seq: LandmarkSequence) -> np.ndarray:
    """Isotropic image coordinates (x scaled by width/height)."""
    xy = np.array(seq.landmarks[:, :, :2], dtype=np.float64)
    w, h = seq.image_size if seq.image_size and seq.image_size[0] > 0 else (1, 1)
    xy[..., 0] *= w / h
    return xy


def pick_frames(seq: LandmarkSequence, n: int = 8, rep: int | None = 0) -> list[int]:
    """Frames to show: ``n`` evenly over rep ``rep`` when reps are known, else over the clip."""
    T = len(seq.t)
    if rep is not None and seq.reps and rep < len(seq.reps):
        s, e = seq.reps[rep]
    else:
        s, e = 0, T - 1
    return sorted({round(float(v)) for v in np.linspace(s, e, n)})


def _color(i: int, j: int | None = None):
    if j is not None and (i in LEFT) != (j in LEFT):
        return COL_MID
    if i == 0:
        return COL_MID
    return COL_LEFT if i in LEFT else COL_RIGHT


def _fade(c, v):
    a = float(np.clip(0.25 + 0.75 * (v if np.isfinite(v) else 0), 0.25, 1.0))
    return tuple(int(BG[k] + (c[k] - BG[k]) * a) for k in range(3))


def draw_pose(draw: ImageDraw.ImageDraw, pts: np.ndarray, vis: np.ndarray, box, scale, origin,
              width: int = 3):
    """Draw one frame's skeleton into ``box`` (x0, y0, x1, y1) of the image."""
    x0, y0, _, _ = box

    def P(i):
        return (x0 + (pts[i, 0] - origin[0]) * scale, y0 + (pts[i, 1] - origin[1]) * scale)

    for i, j in (*_FACE_EDGES, *_HAND_EDGES, *EDGES):
        if np.isfinite(pts[[i, j]]).all():
            v = min(vis[i], vis[j])
            draw.line([P(i), P(j)], fill=_fade(_color(i, j), v), width=max(1, width - (1 if (i, j) in _HAND_EDGES else 0)))
    for i in range(len(pts)):
        if np.isfinite(pts[i]).all():
            x, y = P(i)
            r = 2 if i <= 10 or 17 <= i <= 22 else 3
            draw.ellipse([x - r, y - r, x + r, y + r], fill=_fade(_color(i), vis[i]))


def _layout(xy: np.ndarray, frames: list[int], cell: int, pad: float = 0.06):
    sub = xy[frames].reshape(-1, 2)
    sub = sub[np.isfinite(sub).all(1)]
    if len(sub) == 0:
        return 1.0, np.zeros(2)
    lo, hi = np.percentile(sub, 1, axis=0), np.percentile(sub, 99, axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-3)) * (1 + 2 * pad)
    scale = cell / span
    center = (lo + hi) / 2
    origin = center - span / 2
    return scale, origin


def strip_image(seq: LandmarkSequence, frames: list[int] | None = None, n: int = 8, cell: int = 180,
                label: str | None = None, rep: int | None = 0) -> Image.Image:
    """One row: the chosen frames side by side on a shared scale, with a label on the left."""
    frames = frames if frames is not None else pick_frames(seq, n, rep)
    xy = _xy(seq)
    vis = np.nan_to_num(seq.landmarks[:, :, 3], nan=0.0)
    scale, origin = _layout(xy, frames, cell)
    label_w = 190 if label is not None else 0
    img = Image.new("RGB", (label_w + cell * len(frames), cell + 18), BG)
    d = ImageDraw.Draw(img)
    font = _font(11)
    for k, f in enumerate(frames):
        x0 = label_w + k * cell
        d.rectangle([x0, 0, x0 + cell - 1, cell - 1], outline=(215, 215, 210))
        if not np.isfinite(xy[f]).all():
            d.text((x0 + 8, cell / 2), "no person", fill=(160, 40, 40), font=font)
        else:
            draw_pose(d, xy[f], vis[f], (x0, 0, x0 + cell, cell), scale, origin)
        d.text((x0 + 4, cell + 2), f"#{f}  {seq.t[f]:.2f}s", fill=(90, 90, 90), font=font)
    if label is not None:
        y = 4
        for line in label.split("\n"):
            d.text((6, y), line, fill=(30, 30, 30), font=font)
            y += 14
    return img


def describe(seq: LandmarkSequence) -> str:
    """A short label: exercise, camera, timing and the failed conditions (ASCII keys: the
    default font has no Hangul)."""
    ex = EXERCISES.get(seq.exercise)
    keys = {c.name: c.key for c in ex.conditions} if ex else {}
    bad = [keys.get(c, c) for c, v in zip(seq.conditions, seq.condition_values, strict=False) if v is False]
    cam = seq.extra.get("camera", {}) if isinstance(seq.extra, dict) else {}
    lines = [seq.exercise or "?", f"view {seq.view or '?'} {cam.get('azimuth_deg', '')}",
             f"{seq.fps:g} fps, {len(seq.reps)} reps"]
    if seq.correct is True:
        lines.append("correct")
    for c in bad[:4]:
        lines.append("FAULT " + c[:22])
    return "\n".join(lines)


def render_strip(seqs, path, n: int = 8, cell: int = 180, labels=None, rep: int | None = 0) -> Path:
    """Write a PNG with one strip per sequence (stacked). Returns the path."""
    if isinstance(seqs, LandmarkSequence):
        seqs = [seqs]
    labels = labels or [describe(s) for s in seqs]
    rows = [strip_image(s, n=n, cell=cell, label=lab, rep=rep) for s, lab in zip(seqs, labels, strict=True)]
    W = max(r.width for r in rows)
    img = Image.new("RGB", (W, sum(r.height for r in rows)), BG)
    y = 0
    for r in rows:
        img.paste(r, (0, y))
        y += r.height
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def render_gif(seq: LandmarkSequence, path, size: int = 360, max_frames: int = 400, speed: float = 1.0) -> Path:
    """Write an animated GIF of the whole sequence at its own timing (``speed`` x real time)."""
    T = len(seq.t)
    step = max(1, int(np.ceil(T / max_frames)))
    frames = list(range(0, T, step))
    xy = _xy(seq)
    vis = np.nan_to_num(seq.landmarks[:, :, 3], nan=0.0)
    scale, origin = _layout(xy, frames, size)
    font = _font(12)
    rep_at = np.zeros(T, dtype=int)
    for k, (s, e) in enumerate(seq.reps):
        rep_at[s:e + 1] = k + 1
    images = []
    for f in frames:
        img = Image.new("RGB", (size, size + 20), BG)
        d = ImageDraw.Draw(img)
        if np.isfinite(xy[f]).all():
            draw_pose(d, xy[f], vis[f], (0, 0, size, size), scale, origin)
        else:
            d.text((10, size / 2), "no person", fill=(160, 40, 40), font=font)
        txt = f"{seq.exercise} {seq.t[f]:5.2f}s" + (f"  rep {rep_at[f]}" if rep_at[f] else "")
        d.text((6, size + 3), txt, fill=(40, 40, 40), font=font)
        images.append(img)
    dts = np.diff(seq.t[frames], append=seq.t[frames][-1] + (seq.t[-1] - seq.t[0]) / max(len(frames), 1))
    durations = [int(max(20, 1000 * dt / speed)) for dt in dts]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False)
    return path


def render(seqs, path, **kw) -> Path:
    """By extension: ``.gif`` animates the first sequence, anything else writes a PNG strip."""
    path = Path(path)
    if isinstance(seqs, LandmarkSequence):
        seqs = [seqs]
    if not seqs:
        raise ValueError("nothing to render: no sequences")
    if path.suffix.lower() == ".gif":
        return render_gif(seqs[0], path, **{k: v for k, v in kw.items() if k in ("size", "max_frames", "speed")})
    return render_strip(seqs, path, **{k: v for k, v in kw.items() if k in ("n", "cell", "labels", "rep")})
