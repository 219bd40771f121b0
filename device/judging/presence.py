"""Is a person there, and is every joint the exercise needs in view? Plus the debounce that
keeps a flickering joint from flickering the announced state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..events import NO_PERSON, STEP_INTO_VIEW, TRACKING, StateEvent
from .reps import BODY_PARTS, key_landmarks, missing_parts

# The body part a landmark belongs to, as a person would be told ("feet out of frame").
PART_OF: dict[int, str] = {i: name for name, sides in BODY_PARTS.items() for ids in sides for i in ids}
PARTS: tuple[str, ...] = tuple(BODY_PARTS)


@dataclass(frozen=True)
class Presence:
    """One frame's person state; ``missing`` names the body parts (head to feet) the exercise
    needs that are out of view: with ``tracking`` reps are counted all the same (the parts
    only keep some conditions from being judged), with ``step_into_view`` the joints the rep
    counter needs are among them."""

    state: str
    missing: tuple[str, ...] = field(default=())
    message: str = ""  # what a person is told: "feet out of frame — step back"


def assess(lm: np.ndarray | None, exercise: str | None, min_visibility: float,
           frame_margin: float) -> Presence:
    """The person state of one frame: ``tracking`` when the joints the exercise's reps are
    counted from (its moving joints), on at least one side of the body, are visible
    (``>= min_visibility``) and within ``frame_margin`` of the image; plus the needed parts out
    of view."""
    if lm is None:
        return Presence(NO_PERSON)
    m = frame_margin
    missing = missing_parts(exercise, lm, min_visibility, m)
    best: tuple[int, ...] | None = None
    for ids in key_landmarks(exercise):
        p = lm[list(ids)]
        ok = (np.isfinite(p[:, :2]).all(axis=1) & (p[:, 3] >= min_visibility)
              & (p[:, 0] >= -m) & (p[:, 0] <= 1 + m) & (p[:, 1] >= -m) & (p[:, 1] <= 1 + m))
        if ok.all():
            return Presence(TRACKING, missing, message(lm, missing, m))
        gone = tuple(i for i, good in zip(ids, ok, strict=True) if not good)
        if best is None or len(gone) < len(best):
            best = gone
    # (each part may be in view on one side while no side has them all: name that side's)
    names = set(missing) | {PART_OF[i] for i in best or ()}
    missing = tuple(p for p in PARTS if p in names)
    return Presence(STEP_INTO_VIEW, missing, message(lm, missing, m))


# Parts that go missing because the framing cuts them off: BlazePose often still places them
# inside the picture's edge, with a low visibility.
_EDGE_PARTS = frozenset({"head", "knees", "feet"})


def message(lm: np.ndarray, missing: tuple[str, ...], margin: float) -> str:
    """"feet out of frame — step back" when a missing part lies outside the picture (or was
    not found) or is one the framing cuts off (head, knees, feet); "hands not visible — face
    the camera" for arms inside the picture but hidden (behind the body in a side view)."""
    if not missing:
        return ""
    ids = [i for part in missing for side in BODY_PARTS[part] for i in side]
    p = lm[ids]
    with np.errstate(invalid="ignore"):
        outside = (~np.isfinite(p[:, :2]).all(axis=1) | (p[:, 0] < -margin) | (p[:, 0] > 1 + margin)
                   | (p[:, 1] < -margin) | (p[:, 1] > 1 + margin))
    names = " and ".join(missing) if len(missing) <= 2 else ", ".join(missing[:-1]) + " and " + missing[-1]
    if outside.any() or _EDGE_PARTS.intersection(missing):
        return f"{names} out of frame — step back"
    return f"{names} not visible — face the camera"


class PresenceDebounce:
    """Announces a new presence (state and missing parts) only once the raw one has differed
    from the announced one for ``hold_s`` without interruption, and then as the one seen most
    in that time (ties: the latest)."""

    def __init__(self, hold_s: float):
        self.hold_s = hold_s
        self.state: str | None = None  # announced
        self.announced: Presence | None = None
        self.no_person_since: float | None = None
        self._away_since: float | None = None
        self._away_counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self._latest: dict[tuple[str, tuple[str, ...]], Presence] = {}

    def update(self, t: float, presence: Presence | str) -> StateEvent | None:
        if isinstance(presence, str):
            presence = Presence(presence)
        raw = (presence.state, presence.missing)
        if self.announced is not None and raw == (self.announced.state, self.announced.missing):
            self._away_since = None
            self._away_counts.clear()
            return None
        if self._away_since is None:
            self._away_since = t
        self._away_counts[raw] += 1
        self._latest[raw] = presence
        if t - self._away_since < self.hold_s:
            return None
        best = max(self._away_counts.values())
        key = raw if self._away_counts[raw] == best else self._away_counts.most_common(1)[0][0]
        new = self._latest[key]
        prev, self.state, self.announced = self.state, new.state, new
        self._away_since = None
        self._away_counts.clear()
        self._latest.clear()
        if new.state != NO_PERSON:
            self.no_person_since = None
        elif prev != NO_PERSON:
            self.no_person_since = t
        return StateEvent(t=t, state=new.state, previous=prev, missing=list(new.missing), message=new.message)
