"""Is a person there, and is every joint the exercise needs in view? Plus the debounce that
keeps a flickering joint from flickering the announced state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..events import NO_PERSON, STEP_INTO_VIEW, TRACKING, StateEvent
from .reps import key_landmarks

# The body part a landmark belongs to, as a person would be told ("feet out of frame").
_PART_RANGES = (("head", range(0, 11)), ("shoulders", (11, 12)), ("elbows", (13, 14)),
                ("hands", range(15, 23)), ("hips", (23, 24)), ("knees", (25, 26)),
                ("feet", range(27, 33)))
PART_OF: dict[int, str] = {i: name for name, ids in _PART_RANGES for i in ids}
PARTS: tuple[str, ...] = tuple(name for name, _ in _PART_RANGES)


@dataclass(frozen=True)
class Presence:
    """One frame's person state; ``missing`` names the body parts (head to feet) that keep it
    from ``tracking``, on the side of the body that is closest to being in view."""

    state: str
    missing: tuple[str, ...] = field(default=())


def assess(lm: np.ndarray | None, exercise: str | None, min_visibility: float,
           frame_margin: float) -> Presence:
    """The person state of one frame: the exercise's key joints, on at least one side of the
    body, visible (``>= min_visibility``) and within ``frame_margin`` of the image."""
    if lm is None:
        return Presence(NO_PERSON)
    m = frame_margin
    best: tuple[int, ...] | None = None
    for ids in key_landmarks(exercise):
        p = lm[list(ids)]
        ok = (np.isfinite(p[:, :2]).all(axis=1) & (p[:, 3] >= min_visibility)
              & (p[:, 0] >= -m) & (p[:, 0] <= 1 + m) & (p[:, 1] >= -m) & (p[:, 1] <= 1 + m))
        if ok.all():
            return Presence(TRACKING)
        gone = tuple(i for i, good in zip(ids, ok, strict=True) if not good)
        if best is None or len(gone) < len(best):
            best = gone
    names = {PART_OF[i] for i in best or ()}
    return Presence(STEP_INTO_VIEW, tuple(p for p in PARTS if p in names))


class PresenceDebounce:
    """Announces a new state only once the raw state has differed from the announced one for
    ``hold_s`` without interruption, and then as the state seen most in that time (ties: the
    latest)."""

    def __init__(self, hold_s: float):
        self.hold_s = hold_s
        self.state: str | None = None  # announced
        self.no_person_since: float | None = None
        self._away_since: float | None = None
        self._away_counts: Counter[str] = Counter()

    def update(self, t: float, raw: str) -> StateEvent | None:
        if raw == self.state:
            self._away_since = None
            self._away_counts.clear()
            return None
        if self._away_since is None:
            self._away_since = t
        self._away_counts[raw] += 1
        if t - self._away_since < self.hold_s:
            return None
        best = max(self._away_counts.values())
        new = raw if self._away_counts[raw] == best else self._away_counts.most_common(1)[0][0]
        prev, self.state = self.state, new
        self._away_since = None
        self._away_counts.clear()
        self.no_person_since = t if new == NO_PERSON else None
        return StateEvent(t=t, state=new, previous=prev)
