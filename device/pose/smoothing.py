"""Temporal landmark smoothing (pure numpy): One-Euro and low-pass filters.

These mirror mediapipe's pose landmark filtering (``pose_landmark_filtering.pbtxt``,
``one_euro_filter.cc``, ``low_pass_filter.cc``) so that the ``litert`` pose backend jitters and
lags exactly as much as the ``mediapipe`` one:

- coordinates are filtered in pixels (x·W, y·H, z·W), each axis of each landmark on its own;
- the speed that opens the One-Euro cutoff is divided by the object's size in pixels, so a
  person far from the camera is smoothed like a person close to it;
- visibility gets a plain exponential low-pass (alpha 0.1).

The filters are vectorised: one call filters every landmark of a frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class LowPassFilter:
    """Exponential smoothing ``y = a·x + (1-a)·y_prev``; the first sample passes through.

    Values are kept in float32 and mixed in float64, as mediapipe's ``LowPassFilter`` does
    (``alpha_ * value`` in float, ``(1.0 - alpha_) * stored_value_`` in double).
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha
        self.raw: np.ndarray | None = None  # last unfiltered input
        self.value: np.ndarray | None = None  # last output

    def reset(self) -> None:
        self.raw = None
        self.value = None

    def apply(self, x: np.ndarray, alpha: float | np.ndarray | None = None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        a = np.asarray(self.alpha if alpha is None else alpha, dtype=np.float32)
        if self.value is None:
            out = x.copy()
        else:
            mixed = (a * x).astype(np.float64) + (1.0 - a.astype(np.float64)) * self.value
            out = mixed.astype(np.float32)
        self.raw = x
        self.value = out
        return out


@dataclass(frozen=True)
class OneEuroParams:
    """One-Euro filter settings; ``frequency`` is only used until two timestamps are seen."""

    min_cutoff: float = 1.0
    beta: float = 0.0
    derivate_cutoff: float = 1.0
    frequency: float = 30.0

    def __post_init__(self):
        for name in ("min_cutoff", "derivate_cutoff", "frequency"):
            if not getattr(self, name) > 0:
                raise ValueError(f"OneEuroParams.{name} must be > 0, got {getattr(self, name)!r}")
        if self.beta < 0:
            raise ValueError(f"OneEuroParams.beta must be >= 0, got {self.beta!r}")


# mediapipe's pose settings (0.10.x): visible landmarks, and the heavier-smoothed auxiliary
# landmarks that place the next frame's crop.
POSE_LANDMARKS = OneEuroParams(min_cutoff=0.05, beta=80.0, derivate_cutoff=1.0)
POSE_AUXILIARY = OneEuroParams(min_cutoff=0.01, beta=10.0, derivate_cutoff=1.0)
# World landmarks (metres): filtered as they are, no pixel units and no object-size scaling.
POSE_WORLD = OneEuroParams(min_cutoff=0.1, beta=40.0, derivate_cutoff=1.0)
VISIBILITY_ALPHA = 0.1


def _alpha(cutoff: float | np.ndarray, frequency: float) -> float | np.ndarray:
    te = 1.0 / frequency
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / te)


class OneEuroFilter:
    """The One-Euro filter (Casiez et al. 2012) over an array of values filtered elementwise.

    ``apply(values, t, value_scale)``: ``t`` in seconds (kept to the microsecond, like
    mediapipe's packet timestamps); ``value_scale`` multiplies the speed before it opens the
    cutoff (mediapipe passes 1/object size). A timestamp that does not move forward returns the
    input unfiltered and leaves the state alone, as mediapipe does.
    """

    def __init__(self, params: OneEuroParams = OneEuroParams()):
        self.params = params
        self.frequency = params.frequency
        self._x = LowPassFilter()
        self._dx = LowPassFilter()
        self._last_us: int | None = None

    def reset(self) -> None:
        self.frequency = self.params.frequency
        self._x.reset()
        self._dx.reset()
        self._last_us = None

    def apply(self, values: np.ndarray, t: float, value_scale: float = 1.0) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32)
        us = round(t * 1e6)
        if self._last_us is not None:
            if us <= self._last_us:
                return values.copy()
            self.frequency = 1.0 / ((us - self._last_us) * 1000 * 1e-9)
        self._last_us = us
        p = self.params
        if self._x.raw is None:
            dvalue = np.zeros(values.shape, dtype=np.float64)
        else:
            dvalue = ((values.astype(np.float64) - self._x.raw) * float(value_scale)
                      * self.frequency)
        edvalue = self._dx.apply(dvalue, _alpha(p.derivate_cutoff, self.frequency))
        cutoff = p.min_cutoff + p.beta * np.abs(edvalue.astype(np.float64))
        return self._x.apply(values, _alpha(cutoff, self.frequency))


class LandmarkSmoother:
    """Smooths normalised landmarks ``(N, >=3)``: x, y, z with a One-Euro filter in pixel units
    and, when ``visibility`` is set, column 3 with a low-pass filter.

    ``object_scale`` (pixels) normalises the speed; below ``min_object_scale`` the frame is
    returned as is (mediapipe's guard against a degenerate, point-sized person).
    """

    def __init__(self, params: OneEuroParams = POSE_LANDMARKS, visibility: bool = True,
                 visibility_alpha: float = VISIBILITY_ALPHA, min_object_scale: float = 1e-6):
        self.coords = OneEuroFilter(params)
        self.visibility = LowPassFilter(visibility_alpha) if visibility else None
        self.min_object_scale = min_object_scale

    def reset(self) -> None:
        self.coords.reset()
        if self.visibility is not None:
            self.visibility.reset()

    def apply(self, landmarks: np.ndarray, t: float, image_size: tuple[int, int],
              object_scale: float) -> np.ndarray:
        lm = np.array(landmarks, dtype=np.float32, copy=True)
        if self.visibility is not None and lm.shape[1] > 3:
            lm[:, 3] = self.visibility.apply(lm[:, 3])
        scale = np.float32(object_scale)
        if not scale >= self.min_object_scale:
            return lm
        w, h = image_size
        px = np.array([w, h, w], dtype=np.float32)
        value_scale = np.float32(1.0) / scale
        lm[:, :3] = self.coords.apply(lm[:, :3] * px, t, value_scale) / px
        return lm
