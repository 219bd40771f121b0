"""What the setup page shows, handed from the station loop to the setup server without waiting.

The loop calls :meth:`SetupFeed.push` with every frame and pose (it keeps one copy at the
page's low frame rate and returns at once otherwise) and gives it the judge's events through
:meth:`SetupFeed.handle`. The server thread asks for :meth:`SetupFeed.status` and
:meth:`SetupFeed.latest`; framing, view and conditions are worked out there, never in the loop,
with the judge's own view estimate and condition definitions (small provider interfaces).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..events import ExerciseEvent, RepEvent, ResetEvent, StateEvent, StatsEvent
from ..exercises import EXERCISES, ROM
from ..judging.conditions import ConditionConfig
from ..judging.framing import FramingLimits, check_framing
from ..judging.measures import ALL_VIEWS, definitions
from ..judging.view import estimate_view
from ..pose.landmarks import Pose

log = logging.getLogger(__name__)

# Where a camera can be placed (the setup page's choices); the person may also show their back.
VIEWS = ("front", "oblique", "side")
VIEW_ORDER = (*VIEWS, "back")
VIEW_WINDOW_S = 2.0  # the view is estimated over the poses of the last seconds, like a rep


@dataclass(frozen=True)
class ViewEstimate:
    view: str  # "front", "oblique", "side", "back"; "" when it cannot be told
    facing: str = ""  # "left"/"right": the side of the body turned to the camera; "" square-on
    confidence: float = 0.0  # 0..1
    source: str = ""  # which estimator said it

    def to_dict(self) -> dict:
        return {"view": self.view, "facing": self.facing, "confidence": round(self.confidence, 2),
                "source": self.source}


class ViewProvider(Protocol):
    """The view of the body over recent poses (None: no person or no estimate)."""

    def __call__(self, poses: Sequence[Pose]) -> ViewEstimate | None: ...


@dataclass(frozen=True)
class ConditionView:
    """One condition of the chosen exercise under the current view."""

    key: str
    cue: str
    judgeable: bool
    views: tuple[str, ...]  # the views that can observe it
    reason: str = ""  # why not, when not judgeable

    def to_dict(self) -> dict:
        return {"key": self.key, "cue": self.cue, "judgeable": self.judgeable,
                "views": list(self.views), "reason": self.reason}


class ConditionsProvider(Protocol):
    """The chosen exercise's conditions and whether ``view`` can judge each."""

    def __call__(self, exercise: str, view: str) -> list[ConditionView]: ...


# ---- the judge's view estimate and condition definitions -------------------------------------

def judge_view(poses: Sequence[Pose]) -> ViewEstimate | None:
    """The judge's own view estimate (``judging.view``) over the given poses."""
    found = [p for p in poses if p is not None and p.landmarks is not None]
    if not found:
        return None
    v = estimate_view(np.stack([p.landmarks for p in found]), found[-1].image_size or None)
    if not v.view:
        return None
    return ViewEstimate(v.view, v.facing, float(v.confidence), "judge")


def judge_conditions_views(exercise: str, view: str, config: ConditionConfig | None = None) -> list[ConditionView]:
    """Which conditions of ``exercise`` a ``view`` can judge, as the judge decides them
    (``config``: the ``[conditions]`` section, default the shipped one): a condition a measure
    decides (or can fail) from the views its definition names (``judging.measures``); one a
    trusted model decides (``model_decides``) from those views, or any view without a measure;
    the range of an exercise without a trusted range measure from any view (the rep counter's
    depth); any other condition from no view (nothing judges it)."""
    ex = EXERCISES.get(exercise)
    if ex is None:
        return []
    cfg = config or ConditionConfig()
    defs = {d.key: d for d in definitions(exercise)}
    out = []
    for c in ex.conditions:
        cid = f"{exercise}.{c.key}"
        d = defs.get(c.key)
        by_measure = d is not None and (cid in cfg.measured or cid in cfg.fail_only)
        if by_measure or cid in cfg.model_decides:
            seen_from = d.views if d is not None else ALL_VIEWS
        elif c.key == ROM:
            seen_from = ALL_VIEWS  # the rep counter's depth against the person's typical range
        else:
            why = "the landmarks cannot see it" if cid in cfg.unseen else \
                "its model is not validated on real people"
            out.append(ConditionView(c.key, c.cue, False, (), f"not judged from any view: {why}"))
            continue
        views = tuple(v for v in VIEW_ORDER if v in seen_from)
        ok = bool(view) and view in views
        reason = "" if ok else (f"a {view} view cannot see it" if view else "the view is not known yet")
        out.append(ConditionView(c.key, c.cue, ok, views, reason))
    return out


# What a condition lets a person see, in a suggestion ("turn the camera 45° to see elbows").
WHAT = {
    "back_neutral": "the back", "head_forward": "the head", "look_forward": "the head",
    "head_down": "the head", "knees_in_line": "knees", "knees_over_toes": "knees",
    "torso_foot_knee": "knees", "heels_down": "heels", "feet_flat": "heels",
    "elbows_still": "elbows", "wrists_neutral": "wrists", "wrists_fixed": "wrists",
    "no_shrug": "shoulders", "shoulders_set": "shoulders", "bar_close": "the bar path",
    "hips_knees_together": "hips and knees", "knee_high": "knee height",
    "lower_back_down": "the lower back", "knee_angle_fixed": "knee angle", "forearms_vertical": "forearms",
    "no_leg_drive": "leg drive", "knee_elbow_close": "knee and elbow", "knee_at_side": "the knee",
    "hands_behind_head": "hands", "working_knee_90": "knee angle", "other_leg": "the other leg",
    "no_lean": "the trunk", "no_knee_bounce": "knees", "elbow_angle_fixed": "elbows",
    "no_torso_swing": "the trunk", "tension_down": "tempo", "control_down": "tempo",
}
_VIEW_PHRASE = {"front": "face the camera", "oblique": "turn the camera 45°",
                "side": "turn the camera to your side (90°)"}


def _what(exercise: str, key: str) -> str:
    if key == ROM:
        # the measure's own name for the range where it has one ("depth", "lockout")
        d = next((d for d in definitions(exercise) if d.key == ROM), None)
        head = d.quantity.split(":", 1)[0] if d is not None and ":" in d.quantity else ""
        return head or "the range of motion"
    return WHAT.get(key, key.replace("_", " "))


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def suggestion(exercise: str, view: str, conditions: list[ConditionView]) -> str:
    """One line: the camera placement that would judge what this view cannot, and what it would
    cost ("turn the camera 45° to see the back"); "" when every condition is judged."""
    missing = [c for c in conditions if not c.judgeable]
    if not missing or not view:
        return ""
    here = {c.key for c in conditions if c.judgeable}

    def score(v):
        there = {c.key for c in conditions if v in c.views}
        return len(there - here) - len(here - there), len(there - here), v == "oblique"

    helpful = [v for v in VIEWS if v != view and any(v in c.views for c in missing)]
    if not helpful:
        return ""
    best = max(helpful, key=score)
    gained = [c for c in missing if best in c.views]
    what = _join(list(dict.fromkeys(_what(exercise, c.key) for c in gained)))
    lost = [c for c in conditions if c.judgeable and best not in c.views]
    if not lost:
        return f"{_VIEW_PHRASE[best]} to see {what}"
    instead = _join(list(dict.fromkeys(_what(exercise, c.key) for c in lost)))
    return f"no single view sees them all: {_VIEW_PHRASE[best]} to see {what} instead of {instead}"


# ---- the feed -------------------------------------------------------------------------------

class SetupFeed:
    """Latest frame, pose and judge state for the setup page. ``push`` and ``handle`` are for
    the station loop (constant time, no waiting); ``status`` and ``frame`` for the server."""

    name = "setup"

    def __init__(self, frame_rate: float = 4.0, *, view_provider: ViewProvider | None = None,
                 conditions_provider: ConditionsProvider | None = None,
                 limits: FramingLimits | None = None, placement: dict | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.period = 1.0 / frame_rate
        self.view_provider: ViewProvider = view_provider or judge_view
        self.conditions_provider: ConditionsProvider = conditions_provider or judge_conditions_views
        self.limits = limits or FramingLimits()
        self.placement = dict(placement or {})
        self.clock = clock
        self.enabled = False  # the server turns it on while open: no frame kept otherwise
        self._due = -1e18
        self._latest: tuple[int, np.ndarray | None, Pose] | None = None  # replaced whole: no lock needed
        self._seq = 0
        self._recent: deque[Pose] = deque(maxlen=max(1, round(VIEW_WINDOW_S * frame_rate)))
        self._lock = threading.Lock()  # server side only: the derived-status cache
        self._cache: tuple[int, dict] | None = None
        # judge state, from events
        self.exercise = self.placement.get("exercise", "auto")
        self.state = ""
        self.reps = self.good = self.bad = 0
        self.last: dict | None = None
        self.fps: float | None = None

    # ---- the station side -------------------------------------------------------------
    def push(self, frame_rgb: np.ndarray | None, pose: Pose) -> bool:
        """Offer one frame and its pose; kept (copied) only when the page's next frame is due.
        ``frame_rgb`` is None for a landmark clip: the page then shows the skeleton alone."""
        if not self.enabled:
            return False
        now = self.clock()
        if now < self._due:
            return False
        # Anchored to the schedule (a 30 fps loop gives 4 of 4 fps), restarted after a pause.
        self._due = self._due + self.period if now - self._due < self.period else now + self.period
        self._seq += 1
        frame = None if frame_rgb is None else np.array(frame_rgb, dtype=np.uint8, copy=True)
        self._recent.append(pose)
        self._latest = (self._seq, frame, pose)
        return True

    def handle(self, event: Any) -> None:
        """Take the judge's events (an output like the others)."""
        if isinstance(event, RepEvent):
            self.exercise = event.exercise or self.exercise
            self.reps, self.good, self.bad = event.rep, event.good, event.bad
            self.last = {"rep": event.rep, "correct": event.correct, "cues": list(event.cues),
                         "failed": list(event.failed), "not_judged": list(event.not_judged),
                         "view": dict(event.view)}
        elif isinstance(event, StateEvent):
            self.state = event.state
        elif isinstance(event, ExerciseEvent):
            self.exercise = event.exercise
        elif isinstance(event, ResetEvent):
            self.reps = self.good = self.bad = 0
            self.last = None
        elif isinstance(event, StatsEvent):
            self.fps = event.fps

    def close(self) -> None:
        self.enabled = False
        self._latest = None
        self._recent.clear()

    # ---- the server side --------------------------------------------------------------
    def latest(self) -> tuple[int, np.ndarray | None, Pose] | None:
        return self._latest

    def status(self) -> dict:
        """Everything the page shows but the picture; JSON-ready."""
        latest = self._latest
        seq = latest[0] if latest else 0
        with self._lock:
            if self._cache is None or self._cache[0] != seq:
                self._cache = (seq, self._derive(latest))
            derived = self._cache[1]
        return {**derived, "exercise": self.exercise, "state": self.state, "reps": self.reps,
                "good": self.good, "bad": self.bad, "last": self.last, "fps": self.fps,
                "placement": dict(self.placement), **self._conditions(derived)}

    def _derive(self, latest) -> dict:
        if latest is None:
            return {"seq": 0, "framing": None, "view": None}
        seq, frame, pose = latest
        try:
            framing = check_framing(pose, frame, self.limits).to_dict()
        except Exception:
            log.exception("framing check failed")
            framing = None
        try:
            view = self.view_provider(list(self._recent))
        except Exception:
            log.exception("view estimate failed")
            view = None
        return {"seq": seq, "framing": framing, "view": view.to_dict() if view else None}

    def _conditions(self, derived: dict) -> dict:
        view = (derived.get("view") or {}).get("view", "") or (
            self.placement.get("view", "") if self.placement.get("view") in VIEWS else "")
        ex = self.exercise
        if ex not in EXERCISES:
            return {"conditions": [], "suggestion": "choose an exercise to see what this view can judge"}
        try:
            conds = self.conditions_provider(ex, view)
            return {"conditions": [c.to_dict() for c in conds], "suggestion": suggestion(ex, view, conds)}
        except Exception:
            log.exception("conditions for %s failed", ex)
            return {"conditions": [], "suggestion": ""}
