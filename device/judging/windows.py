"""Windows of per-frame features for the classifier (pure numpy, no I/O).

``sliding`` (the paper): features are resampled by timestamp onto an absolute grid of
``sample_rate`` Hz (multiples of ``1/rate`` seconds), so a 30 fps webcam and a 9 fps Pi feed the
model the same samples; a window is the last ``window`` samples. ``rep``: one detected rep,
from its start to its end time, resampled to ``window`` samples (tempo invariant).

A grid sample is valid only when both frames around it are valid and no more than
``max_gap_s`` apart; windows never contain an invalid sample.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .features import FeatureSpec


def _interp_at(tq, t, feats, valid, max_gap):
    """Linear interpolation of ``feats`` (T, F) at query times ``tq``; returns (X, ok)."""
    t = np.asarray(t, dtype=np.float64)
    tq = np.asarray(tq, dtype=np.float64)
    n = len(t)
    X = np.full((len(tq), feats.shape[1]), np.nan, dtype=np.float32)
    ok = np.zeros(len(tq), dtype=bool)
    if n == 0 or len(tq) == 0:
        return X, ok
    hi = np.clip(np.searchsorted(t, tq, side="left"), 0, n - 1)
    lo = np.clip(hi - 1, 0, n - 1)
    exact = t[hi] == tq
    lo = np.where(exact, hi, lo)
    inside = (tq >= t[0]) & (tq <= t[-1])
    span = t[hi] - t[lo]
    ok = inside & valid[lo] & valid[hi] & (span <= max_gap)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(span > 0, (tq - t[lo]) / np.where(span > 0, span, 1.0), 0.0)
    X = ((1 - w)[:, None] * feats[lo] + w[:, None] * feats[hi]).astype(np.float32)
    X[~ok] = np.nan
    return X, ok


def resample(t, feats, valid, rate: float, max_gap_s: float):
    """Resample a sequence onto the absolute ``rate`` Hz grid within its time span.

    Returns ``(grid_t (N,), X (N, F), ok (N,))``.
    """
    t = np.asarray(t, dtype=np.float64)
    if len(t) == 0:
        return np.zeros(0), np.zeros((0, feats.shape[1]), np.float32), np.zeros(0, bool)
    k0 = int(np.ceil(t[0] * rate - 1e-9))
    k1 = int(np.floor(t[-1] * rate + 1e-9))
    grid = np.arange(k0, k1 + 1, dtype=np.float64) / rate
    X, ok = _interp_at(grid, t, feats, np.asarray(valid, bool), max_gap_s + 1e-9)
    return grid, X, ok


def sliding_windows(t, feats, valid, spec: FeatureSpec, stride: int | None = None):
    """All sliding windows of a sequence: ``(windows (N, window, F), end_times (N,))``.

    A window ends at every ``stride``-th grid sample whose last ``window`` samples are valid.
    """
    stride = spec.stride if stride is None else stride
    grid, X, ok = resample(t, feats, valid, spec.sample_rate, spec.max_gap_s)
    W = spec.window
    F = feats.shape[1]
    if len(grid) < W:
        return np.zeros((0, W, F), np.float32), np.zeros(0)
    # run[i] = number of consecutive valid samples ending at i
    run = np.zeros(len(ok), dtype=np.int64)
    c = 0
    for i, o in enumerate(ok):
        c = c + 1 if o else 0
        run[i] = c
    ends = np.nonzero(run >= W)[0]
    ends = ends[(ends - (W - 1)) % stride == 0] if stride > 1 else ends
    if len(ends) == 0:
        return np.zeros((0, W, F), np.float32), np.zeros(0)
    idx = ends[:, None] - (W - 1) + np.arange(W)[None, :]
    return X[idx], grid[ends]


def rep_window(t, feats, valid, start: float, end: float, spec: FeatureSpec,
               min_coverage: float = 0.8):
    """One rep from ``start`` to ``end`` seconds resampled to ``spec.window`` samples.

    Invalid samples inside the rep are filled from their valid neighbours when at least
    ``min_coverage`` of the samples are valid; otherwise the rep gets no window (``None``).
    """
    if not end > start:
        return None
    tq = np.linspace(start, end, spec.window)
    # Reps are long: allow interpolating over the frame spacing of slow cameras too.
    X, ok = _interp_at(tq, t, feats, np.asarray(valid, bool), max(spec.max_gap_s, 1e-9))
    if ok.mean() < min_coverage or not ok.any():
        return None
    if not ok.all():
        good = np.nonzero(ok)[0]
        for j in range(X.shape[1]):
            X[:, j] = np.interp(np.arange(len(tq)), good, X[good, j])
    return X


class StreamWindower:
    """Online sliding windows: push frames as they come, get each new complete window.

    Produces exactly the windows :func:`sliding_windows` makes offline with ``stride=1``.
    """

    def __init__(self, spec: FeatureSpec):
        self.spec = spec
        self.reset()

    def reset(self) -> None:
        self._prev: tuple[float, np.ndarray, bool] | None = None
        self._next_k: int | None = None
        self._buf: deque[np.ndarray] = deque(maxlen=self.spec.window)

    def push(self, t: float, feat: np.ndarray, valid: bool) -> list[tuple[float, np.ndarray]]:
        """Add one frame; returns ``[(end_time, window (W, F)), ...]`` completed by it."""
        rate = self.spec.sample_rate
        out = []
        if self._prev is None:
            self._next_k = int(np.ceil(t * rate - 1e-9))
        else:
            pt, pf, pv = self._prev
            if t <= pt:  # out-of-order or duplicate timestamp: ignore the frame
                return out
        t_prev = self._prev[0] if self._prev else t
        while self._next_k / rate <= t + 1e-12:
            tq = self._next_k / rate
            self._next_k += 1
            if self._prev is None or tq == t:
                ok, x = valid, feat
            else:
                pt, pf, pv = self._prev
                span = t - pt
                ok = pv and valid and span <= self.spec.max_gap_s + 1e-9
                w = (tq - pt) / span
                x = ((1 - w) * pf + w * feat).astype(np.float32)
            if tq < t_prev:  # grid point before the previous frame (first frame only)
                continue
            if ok:
                self._buf.append(np.asarray(x, dtype=np.float32))
                if len(self._buf) == self.spec.window:
                    out.append((tq, np.stack(self._buf)))
            else:
                self._buf.clear()
        self._prev = (t, np.asarray(feat, dtype=np.float32), bool(valid))
        return out
