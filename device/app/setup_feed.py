"""What the setup page shows, handed from the station loop to the setup server without waiting.

The loop calls :meth:`SetupFeed.push` with every frame and pose (it keeps one copy at the
page's low frame rate and returns at once otherwise) and gives it the judge's events through
:meth:`SetupFeed.handle` (it is an output like the LEDs). The server thread asks for
:meth:`SetupFeed.status` and :meth:`SetupFeed.frame`; framing, view and conditions are worked
out there, never in the loop. The estimated view and each exercise's judgeable conditions come
from providers (small interfaces), so the judge's own view and measure code can plug in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..events import ExerciseEvent, RepEvent, ResetEvent, StateEvent, StatsEvent
from ..exercises import EXERCISES
from ..judging.framing import FramingLimits, check_framing
from ..pose.landmarks import LM, Pose

log = logging.getLogger(__name__)

VIEWS = ("front", "oblique", "side")


@dataclass(frozen=True)
class ViewEstimate:
    view: str  # "front", "oblique", "side"; "" when it cannot be told
    facing: str = ""  # "left"/"right": the side of the body turned to the camera; "" from the front
    confidence: float = 0.0  # 0..1
    source: str = ""  # which estimator said it

    def to_dict(self) -> dict:
        return {"view": self.view, "facing": self.facing, "confidence": round(self.confidence, 2),
                "source": self.source}


class ViewProvider(Protocol):
    """The view of the body in one pose (None: no person or no estimate)."""

    def __call__(self, pose: Pose) -> ViewEstimate | None: ...


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


# ---- placeholder providers (the judge's view and measure modules replace these) -------------

YAW_FRONT_DEG = 30.0  # shoulder/hip line within this of the image plane: front
YAW_SIDE_DEG = 60.0  # beyond this: side; between: oblique


def shoulder_yaw_view(pose: Pose) -> ViewEstimate | None:
    """The view from the yaw of the shoulder and hip lines in BlazePose's world landmarks (or
    its relative depth when world landmarks are absent)."""
    if pose is None or pose.landmarks is None:
        return None
    world = pose.extra.get("world") if isinstance(pose.extra, dict) else None
    pts = np.asarray(world if world is not None else pose.landmarks, dtype=np.float64)
    w, h = pose.image_size if world is None and all(pose.image_size) else (1, 1)
    scale = np.array([w, h, w], np.float64)  # BlazePose's z is in the scale of x
    ids = [LM["left_shoulder"], LM["right_shoulder"], LM["left_hip"], LM["right_hip"]]
    p = pts[ids, :3] * scale
    if not np.isfinite(p).all():
        return None
    v = (p[0] - p[1]) + (p[2] - p[3])  # left minus right, shoulders and hips
    yaw = abs(np.degrees(np.arctan2(v[2], v[0])))
    yaw = min(yaw, 180.0 - yaw)  # facing away looks the same to the checks
    if yaw < YAW_FRONT_DEG:
        view, conf = "front", 1 - yaw / YAW_FRONT_DEG / 2
    elif yaw > YAW_SIDE_DEG:
        view, conf = "side", 0.5 + (yaw - YAW_SIDE_DEG) / (90 - YAW_SIDE_DEG) / 2
    else:
        view, conf = "oblique", 1 - abs(yaw - 45.0) / 30.0
    # Smaller z is nearer the camera: the nearer shoulder names the side turned to it.
    facing = "" if view == "front" else ("left" if v[2] < 0 else "right")
    return ViewEstimate(view, facing, float(np.clip(conf, 0, 1)), "shoulder yaw")


# Views that can observe each condition key (shared keys mean the same movement across
# exercises), and what the person would call it in a suggestion.
_ALL = VIEWS
_FRONTAL = ("front", "oblique")  # movement across the body: knees caving in, arms out to the side
_SAGITTAL = ("side", "oblique")  # movement front to back: depth, back angle, heels
CONDITION_VIEWS: dict[str, tuple[tuple[str, ...], str]] = {
    "back_neutral": (_SAGITTAL, "the back"),
    "head_forward": (_SAGITTAL, "the head"),
    "look_forward": (_ALL, "the head"),
    "head_down": (_SAGITTAL, "the head"),
    "knees_in_line": (_FRONTAL, "knees"),
    "knees_over_toes": (_FRONTAL, "knees"),
    "torso_foot_knee": (_FRONTAL, "knees"),
    "heels_down": (_SAGITTAL, "heels"),
    "feet_flat": (_SAGITTAL, "heels"),
    "elbows_still": (_SAGITTAL, "elbows"),
    "wrists_neutral": (_SAGITTAL, "wrists"),
    "wrists_fixed": (_SAGITTAL, "wrists"),
    "tension_down": (_ALL, "tempo"),
    "control_down": (_ALL, "tempo"),
    "no_shrug": (_FRONTAL, "shoulders"),
    "shoulders_set": (_FRONTAL, "shoulders"),
    "bar_close": (_SAGITTAL, "the bar path"),
    "hips_knees_together": (_SAGITTAL, "hips and knees"),
    "knee_high": (_SAGITTAL, "knee height"),
    "lower_back_down": (_SAGITTAL, "the lower back"),
    "knee_angle_fixed": (_SAGITTAL, "knee angle"),
    "forearms_vertical": (_ALL, "forearms"),
    "no_leg_drive": (_ALL, "knees"),
    "knee_elbow_close": (_FRONTAL, "knee and elbow"),
    "knee_at_side": (_FRONTAL, "the knee"),
    "hands_behind_head": (_ALL, "hands"),
    "working_knee_90": (_FRONTAL, "knee angle"),
    "other_leg": (_FRONTAL, "the other leg"),
    "no_lean": (_ALL, "the trunk"),
    "no_knee_bounce": (_ALL, "knees"),
    "elbow_angle_fixed": (_FRONTAL, "elbows"),
    "no_torso_swing": (_SAGITTAL, "the trunk"),
}
# Full range of motion is seen in the plane the exercise moves in.
ROM_VIEWS: dict[str, tuple[tuple[str, ...], str]] = {
    "squat": (_SAGITTAL, "depth"), "deadlift": (_SAGITTAL, "lockout"),
    "barbell_curl": (_SAGITTAL, "range"), "overhead_press": (_ALL, "lockout"),
    "knee_up": (_SAGITTAL, "knee height"), "leg_raise": (_SAGITTAL, "range"),
    "side_crunch": (_FRONTAL, "range"), "side_lunge": (_FRONTAL, "depth"),
    "side_raise": (_FRONTAL, "arm height"),
}
_VIEW_PHRASE = {"front": "face the camera", "oblique": "turn the camera 45°",
                "side": "turn the camera to your side (90°)"}


def _views_of(exercise: str, key: str) -> tuple[tuple[str, ...], str]:
    if key == "rom":
        return ROM_VIEWS.get(exercise, (_ALL, "range"))
    return CONDITION_VIEWS.get(key, (_ALL, key.replace("_", " ")))


def placeholder_conditions(exercise: str, view: str) -> list[ConditionView]:
    """Which conditions of ``exercise`` a ``view`` can judge, from the table above."""
    ex = EXERCISES.get(exercise)
    if ex is None:
        return []
    out = []
    for c in ex.conditions:
        views, _ = _views_of(exercise, c.key)
        ok = view in views
        reason = "" if ok else (f"a {view} view cannot see it" if view else "the view is not known yet")
        out.append(ConditionView(c.key, c.cue, ok, views, reason))
    return out


def suggestion(exercise: str, view: str, conditions: list[ConditionView]) -> str:
    """One line: the view that would judge the most of the conditions this view cannot, and
    what it would add ("turn the camera 45° to see depth and knees"); "" when all are judged."""
    missing = [c for c in conditions if not c.judgeable]
    if not missing or not view:
        return ""
    best = max(VIEWS, key=lambda v: (sum(v in c.views for c in conditions), v == "oblique"))
    if best == view:
        return ""
    gained: list[str] = []
    for c in missing:
        if best in c.views:
            what = _views_of(exercise, c.key)[1]
            if what not in gained:
                gained.append(what)
    if not gained:
        return ""
    what = gained[0] if len(gained) == 1 else ", ".join(gained[:-1]) + " and " + gained[-1]
    return f"{_VIEW_PHRASE[best]} to see {what}"


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
        self.view_provider: ViewProvider = view_provider or shoulder_yaw_view
        self.conditions_provider: ConditionsProvider = conditions_provider or placeholder_conditions
        self.limits = limits or FramingLimits()
        self.placement = dict(placement or {})
        self.clock = clock
        self.enabled = False  # the server turns it on while open: no frame kept otherwise
        self._due = -1e18
        self._latest: tuple[int, np.ndarray | None, Pose] | None = None  # replaced whole: no lock needed
        self._seq = 0
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
        self._latest = (self._seq, frame, pose)
        return True

    def handle(self, event: Any) -> None:
        """Take the judge's events (an output like the others)."""
        if isinstance(event, RepEvent):
            self.exercise = event.exercise or self.exercise
            self.reps, self.good, self.bad = event.rep, event.good, event.bad
            self.last = {"rep": event.rep, "correct": event.correct, "cues": list(event.cues),
                         "failed": list(event.failed)}
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
            view = self.view_provider(pose)
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
