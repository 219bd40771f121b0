"""An exponential average over irregular time steps."""

from __future__ import annotations

import math

import numpy as np


class Ema:
    """Exponential average over time with time constant ``tau``.

    ``first_step_s=None``: the first sample starts the average. With ``first_step_s`` the
    average is bias-corrected: the first sample weighs like one sample ``first_step_s`` after
    another, so one early sample cannot hold a large share of the average seconds later.
    """

    def __init__(self, tau: float, first_step_s: float | None = None):
        self.tau = tau
        self.first_step_s = first_step_s
        self.value: np.ndarray | None = None
        self.t: float | None = None
        self.since: float | None = None
        self._sum: np.ndarray | None = None
        self._weight = 1.0

    def update(self, t: float, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._sum is None or self.t is None or self._sum.shape != x.shape:
            self._weight = 1.0 if self.first_step_s is None else 1.0 - math.exp(-self.first_step_s / self.tau)
            self._sum, self.since = self._weight * x, t
        else:
            a = 1.0 - math.exp(-max(t - self.t, 0.0) / self.tau)
            self._sum = (1 - a) * self._sum + a * x
            self._weight = (1 - a) * self._weight + a
        self.value = self._sum / self._weight
        self.t = t
        return self.value

    def reset(self) -> None:
        self.value = self.t = self.since = self._sum = None
        self._weight = 1.0
