"""Small maths for the generator: rotations, keyframe easing, band-limited noise, named random
streams (so one draw never shifts another)."""

from __future__ import annotations

import math
import zlib

import numpy as np

DEG = math.pi / 180.0


def _rot(axis: int, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros((*a.shape, 3, 3))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    R[..., axis, axis] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    if axis == 1:  # about y: x' = x c + z s
        R[..., i, j] = s
        R[..., j, i] = -s
    else:
        R[..., i, j] = -s
        R[..., j, i] = s
    return R


def rx(a):
    """Rotation about x; +a turns +y towards +z (the trunk bends forward)."""
    return _rot(0, a)


def ry(a):
    """Rotation about y (vertical); +a turns +z towards +x (the person's left)."""
    return _rot(1, a)


def rz(a):
    """Rotation about z; +a turns +x towards +y."""
    return _rot(2, a)


def mm(*Rs):
    out = Rs[0]
    for R in Rs[1:]:
        out = np.matmul(out, R)
    return out


def ap(R, v):
    """Apply per-frame rotations ``(T,3,3)`` to a vector ``(3,)`` or vectors ``(T,3)``."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 1:
        return np.einsum("tij,j->ti", R, v)
    return np.einsum("tij,tj->ti", R, v)


def mirror(R, sigma: int):
    """Conjugate by the left/right reflection: the right side's rotation from the left's."""
    if sigma > 0:
        return R
    R = R.copy()
    R[..., 0, 1:] *= -1
    R[..., 1:, 0] *= -1
    return R


def unit(v, fallback=None):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    out = v / np.maximum(n, 1e-12)
    if fallback is not None:
        bad = n[..., 0] < 1e-9
        if np.any(bad):
            out[bad] = np.broadcast_to(fallback, out.shape)[bad]
    return out


def min_jerk(w):
    return w * w * w * (10.0 - 15.0 * w + 6.0 * w * w)


def keyframes(t, times, values, easing=min_jerk):
    """Smoothly interpolate keyframes ``(times[k], values[k])`` at ``t`` (zero velocity at keys)."""
    t = np.asarray(t, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if len(times) == 1:
        return np.broadcast_to(values[0], t.shape + values.shape[1:]).copy()
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    t0, t1 = times[idx], times[idx + 1]
    w = np.clip((t - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)
    w = easing(w)
    v0, v1 = values[idx], values[idx + 1]
    if values.ndim > 1:
        w = w.reshape(w.shape + (1,) * (values.ndim - 1))
    return v0 + (v1 - v0) * w


def smooth_noise(rng, t, sigma, fmax=0.6, fmin=0.05, n=4, shape=()):
    """Band-limited random drift (a sum of random sinusoids): sway, breathing, wander."""
    t = np.asarray(t, dtype=np.float64)
    f = rng.uniform(fmin, fmax, (n, *shape))
    ph = rng.uniform(0, 2 * np.pi, (n, *shape))
    amp = rng.normal(0, 1, (n, *shape))
    tt = t.reshape((1, -1) + (1,) * len(shape))
    s = (amp[:, None] * np.sin(2 * np.pi * f[:, None] * tt + ph[:, None])).sum(0)
    return sigma * s / math.sqrt(n / 2)


def bump(t, center, width):
    """A smooth 0..1..0 bump of total ``width`` seconds centred at ``center``."""
    x = np.clip((np.asarray(t) - center) / max(width, 1e-6) + 0.5, 0.0, 1.0)
    return np.sin(np.pi * x) ** 2


def named_stream(ss: np.random.SeedSequence, name: str) -> np.random.Generator:
    """A named child stream: independent of how many other streams were drawn before it."""
    key = zlib.crc32(name.encode())
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, key)))


def lagged(t, x, dt: float):
    """``x`` delayed by ``dt`` seconds (negative: ahead): one arm leading the other."""
    return np.interp(t - dt, t, x)


def weighted_choice(rng, weighted):
    """One value of ``[(value, weight), ...]``."""
    vals, w = zip(*weighted, strict=True)
    return vals[int(rng.choice(len(vals), p=np.array(w) / sum(w)))]
