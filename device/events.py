"""What the station tells the world: typed event records, shared by every output.

The judge emits these; outputs (LEDs, buzzer, display, JSON lines, MQTT) consume them. Each has
``to_dict()`` with an ``event`` field naming its kind, which is the JSON-lines/MQTT payload.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import ClassVar

# Person states, in the order a person meets them.
NO_PERSON = "no_person"  # nobody in the frame
STEP_INTO_VIEW = "step_into_view"  # someone, but key joints are out of frame / not visible
TRACKING = "tracking"  # a whole person, being judged
STATES = (NO_PERSON, STEP_INTO_VIEW, TRACKING)


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    t: float  # seconds (the frame's timestamp)

    def to_dict(self) -> dict:
        # Non-finite floats become null: strict JSON readers (jq, browsers) reject NaN.
        return {"event": self.kind, **{k: _finite(v) for k, v in asdict(self).items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


@dataclass
class RepEvent(Event):
    """One finished rep and its verdict."""

    kind: ClassVar[str] = "rep"
    exercise: str = ""
    rep: int = 0  # 1-based count of reps (good + bad) in this set
    correct: bool | None = None  # None: no model verdict (e.g. too few valid frames)
    score: float | None = None  # model probability that the rep is correct
    failed: list[str] = field(default_factory=list)  # condition keys judged false
    cues: list[str] = field(default_factory=list)  # English cues for the failed conditions
    good: int = 0  # running counts
    bad: int = 0
    start: float = 0.0
    end: float = 0.0
    # the models' probabilities behind the verdict: P(true) per condition key, and P(correct)
    # under "correct" when a form model ran (dashboards show confidence; offline evaluation
    # re-thresholds them); full_depth: the rep counter found the rep full range
    probs: dict[str, float] = field(default_factory=dict)
    full_depth: bool | None = None
    # every condition's record (ConditionVerdict.to_dict()), and the keys nothing could judge
    conditions: list[dict] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)
    # the camera's view of the body over the rep (view, facing, yaw, confidence); {} when unknown
    view: dict = field(default_factory=dict)
    # running degraded (station.allow_degraded): each model that is broken or missing, and why
    degraded: list[str] = field(default_factory=list)


@dataclass
class StateEvent(Event):
    kind: ClassVar[str] = "state"
    state: str = NO_PERSON
    previous: str | None = None  # the previously announced state (may equal ``state``)
    # body parts the exercise needs that are out of view, and what a person is told about them
    # ("feet out of frame — step back"); reps are counted while tracking all the same
    missing: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class ExerciseEvent(Event):
    """The exercise being judged changed (auto-recognised, button, config)."""

    kind: ClassVar[str] = "exercise"
    exercise: str = ""
    previous: str | None = None
    confidence: float | None = None
    source: str = "auto"  # auto | button | config


@dataclass
class ResetEvent(Event):
    """Counts went back to zero (long button press, inactivity, exercise change)."""

    kind: ClassVar[str] = "reset"
    reason: str = ""


@dataclass
class CameraEvent(Event):
    """A live camera or stream stopped delivering frames (``lost``) or delivers again (``back``).

    While it is lost the judge sees nobody: a rep in progress is not counted, and an outage
    longer than ``judge.absence_reset`` resets the counts as an empty gym corner does."""

    kind: ClassVar[str] = "camera"
    state: str = "lost"  # lost | back
    reason: str = ""  # why it was lost (the capture error), or how long it was away
    reconnects: int = 0  # times the camera came back (total)
    outage_s: float | None = None  # on "back": seconds without frames


@dataclass
class StatsEvent(Event):
    kind: ClassVar[str] = "stats"
    fps: float = 0.0  # frames processed per second over the last period
    camera_fps: float = 0.0  # frames delivered by the source
    dropped: int = 0  # frames the source dropped because the pipeline was busy (total)
    pose_ms: float = 0.0  # median pose time over the period
    rss_mb: float = 0.0
    frames: int = 0  # processed frames (total)
    good: int = 0
    bad: int = 0
    camera: str = ""  # live sources: "ok" or "lost" ("" for files and clips)
    reconnects: int = 0  # times a lost camera came back (total)


@dataclass
class SetupEvent(Event):
    """The setup page opened (with its address) or closed. The one-time PIN is for the
    display only: it is never part of the event's JSON (MQTT, JSON lines)."""

    kind: ClassVar[str] = "setup"
    open: bool = False
    url: str = ""
    closes_in: float = 0.0  # seconds
    reason: str = ""  # why it closed
    pin: str = field(default="", repr=False)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.pop("pin", None)
        return d


EVENT_TYPES = {cls.kind: cls for cls in (RepEvent, StateEvent, ExerciseEvent, ResetEvent, CameraEvent,
                                         StatsEvent, SetupEvent)}


def event_from_dict(d: dict) -> Event:
    d = dict(d)
    cls = EVENT_TYPES[d.pop("event")]
    return cls(**d)
