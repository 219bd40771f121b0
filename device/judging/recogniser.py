"""Which exercise is being done: an exponential vote over the recogniser's windows and the rule
for when it names a new exercise."""

from __future__ import annotations

import numpy as np

from ..exercises import EXERCISES, IDLE
from .ema import Ema
from .reps import OTHER

WINDOW_RATE_HZ = 15.0  # the recogniser's windows come at the sliding-window rate


class Recogniser:
    """The vote (``auto_window`` time constant) and the switch rule of a :class:`JudgeConfig`.

    Unless ``idle`` holds half of the vote, the vote is renormalised over the exercises (the
    pauses between reps are idle and must not dilute which exercise the reps are). Another
    exercise is named when it leads with ``auto_confidence`` and by ``auto_margin`` over the
    current one, after ``auto_first`` seconds of evidence for the first exercise and
    ``auto_window`` for a change. ``idle`` never names anything; ``other`` (none of the nine)
    is named like an exercise: its reps are counted on the dominant joint, never judged.
    """

    def __init__(self, labels, config):
        self.labels = list(labels)
        self.config = config
        self.vote = Ema(config.auto_window, first_step_s=1 / WINDOW_RATE_HZ)

    def reset(self) -> None:
        self.vote.reset()

    def add(self, windows: list[tuple[float, np.ndarray]]) -> None:
        for end, p in windows:
            self.vote.update(end, p)

    def _active_vote(self) -> np.ndarray | None:
        """The vote renormalised over the exercises; None while idle holds half of it."""
        ema = self.vote.value
        labels = self.labels
        if ema is None or len(ema) != len(labels):
            return None
        ema = np.array(ema, dtype=np.float64)
        if IDLE in labels:
            active = 1.0 - float(ema[labels.index(IDLE)])
            if active < 0.5:
                return None
            ema[labels.index(IDLE)] = 0.0
            ema /= max(active, 1e-9)
        return ema

    def leader(self) -> str | None:
        """The exercise (or ``other``) leading the vote now, sure or not; None while idle holds
        half of it."""
        ema = self._active_vote()
        if ema is None:
            return None
        cand = self.labels[int(np.argmax(ema))]
        return cand if cand in EXERCISES or cand == OTHER else None

    def decide(self, t: float, current: str | None, final: bool = False) -> tuple[str, float] | None:
        """``(exercise, confidence)`` when the vote names an exercise other than ``current``;
        ``final`` (end of stream): decide on the evidence there is."""
        labels = self.labels
        cfg = self.config
        need = cfg.auto_first if current is None else cfg.auto_window
        if not final and (self.vote.since is None or t - self.vote.since < need):
            return None
        ema = self._active_vote()
        if ema is None:
            return None
        best = int(np.argmax(ema))
        cand = labels[best]
        if cand == current or (cand not in EXERCISES and cand != OTHER):
            return None
        cur = float(ema[labels.index(current)]) if current in labels else 0.0
        if ema[best] < cfg.auto_confidence or ema[best] - cur < cfg.auto_margin:
            return None
        return cand, float(ema[best])
