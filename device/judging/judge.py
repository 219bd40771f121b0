"""The judge: from a stream of poses to what a person sees (pure numpy, no I/O).

Per frame (:meth:`Judge.update`):

1. **Person state** — ``no_person`` (no landmarks), ``step_into_view`` (someone, but the
   exercise's key joints are outside the image or below ``min_visibility`` on both sides),
   ``tracking``. A new state is announced (:class:`StateEvent`) only once the raw state has
   differed from the announced one for ``state_hold_s`` without interruption, and then as the
   state seen most during that time: a joint flickering around the visibility threshold never
   makes the LEDs flicker.
2. **Features and windows** for every loaded model of the current exercise (and the
   recogniser in auto mode), computed once per distinct :class:`FeatureSpec`: missing
   landmarks filled causally, per-frame features, then sliding windows
   (:class:`StreamWindower`) or, for ``rep`` models, a bounded history from which each rep's
   ``[start, end]`` is resampled (:func:`rep_window`).
3. **Reps** — the :class:`~formcheck.device.judging.reps.RepCounter` of the current exercise, fed the
   frames on which the person is tracked. One :class:`RepEvent` per rep, as soon as it ends.
4. **Exercise recognition** (auto mode) and **inactivity resets**.

The verdict of a rep:

- ``form`` model: ``score`` = P(correct) (a ``rep`` model on the rep's window; a ``sliding``
  model: the mean over the windows ending inside the rep, from half a window after its start,
  or all windows ending inside it when it is shorter than that); correct when
  ``score >= threshold``.
- ``conditions`` model: the same aggregation per condition; a condition fails when
  P(true) < ``threshold``.
- ``rom`` also fails when the rep counter found the rep shallower than ``full_depth`` of the
  person's typical range (``depth_rom``): a partial rep is called out even by a model that was
  never taught depth.
- ``correct`` is False when anything failed (form score or a condition), True when some model
  judged and nothing failed, None when nothing could be judged (no model loaded for the
  exercise, too few valid frames). Good and bad counts only count True and False; ``rep``
  counts every rep. ``score`` is the form score, else the weakest condition's P(true).

Sliding-window scores are also smoothed live (exponential, ``score_smoothing_s``) with
hysteresis (a verdict flips only past ``threshold ± score_hysteresis``) into :attr:`Judge.live`
for displays that show form between reps.

Exercise recognition (no exercise given, a recogniser loaded): the recogniser's per-window
probabilities are averaged exponentially over ``auto_window_s`` and, unless ``idle`` holds half
of them, renormalised over the nine exercises (the pauses between reps are idle and must not
dilute which exercise the reps are); the exercise switches when
another one leads with at least ``auto_confidence`` and ``auto_margin`` over the current one,
after ``auto_first_s`` of evidence for the first exercise and ``auto_window_s`` for a change,
never mid-rep; ``idle`` never switches anything. On an automatic switch the last
``auto_replay_s`` of frames are judged again as the new exercise, so the reps done while the
recogniser made up its mind count (their events carry the switch's time, their own
start/end). :meth:`Judge.finish` decides a pending first recognition at the end of a stream
(a clip shorter than the evidence time). A switch (or a button choice) emits
:class:`ExerciseEvent` and resets the counts (:class:`ResetEvent`, when there were any). A
button choice pins the exercise; :meth:`Judge.next_exercise` cycles through the nine and back
to auto when a recogniser is loaded, announced as ``ExerciseEvent(exercise="auto")``: nothing
is judged until the recogniser names the exercise.

Inactivity: while someone is in view, ``inactivity_reset_s`` without a rep resets the counts
(a new set); nobody in view for ``absence_reset_s`` does too (a new person). 0 disables either.

Nothing in a frame can make the judge raise: NaN or malformed landmarks count as missing, a
non-finite or out-of-order timestamp drops the frame, a model that raises is logged and gives
no verdict.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import numpy as np

from ..events import (
    NO_PERSON,
    STEP_INTO_VIEW,
    TRACKING,
    Event,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    StateEvent,
)
from ..exercises import EXERCISE_IDS, EXERCISES, IDLE, ROM
from .features import FeatureSpec, MissingFiller, frame_features
from ..pose.landmarks import NUM_LANDMARKS, Pose
from .reps import Rep, RepConfig, RepCounter, key_landmarks
from .windows import StreamWindower, rep_window

log = logging.getLogger(__name__)

AUTO = "auto"


# ---- configuration -------------------------------------------------------------------------

VERDICTS = ("conditions", "form", "both")


@dataclass(frozen=True)
class JudgeConfig:
    """How the judge turns poses into events. Times in seconds."""

    # person state
    state_hold_s: float = 0.5  # a new state must hold this long before it is announced
    min_visibility: float = 0.5  # a key joint below this visibility is not in view
    frame_margin: float = 0.02  # key joints must lie within [-margin, 1 + margin] of the image
    # resets
    inactivity_reset_s: float = 120.0  # someone in view, no rep for this long: counts reset (0: never)
    absence_reset_s: float = 30.0  # nobody in view for this long: counts reset (0: never)
    # verdicts
    # A condition fails when its model's P(true) is below this (0 = each bundle's own threshold,
    # 0.5). Below 0.5 on purpose: cue a fault only when the model is confident. On held-out
    # synthetic reps of unseen people (bench/verdicts.py), the shipped models at 0.35 pass 80% of
    # correct reps (46% at 0.5) and their cues are right 61% of the time (51%), catching 63% of
    # faulty reps (80%): a coach who nags on every rep is worse.
    condition_threshold: float = 0.35
    # Which model decides correct/incorrect when an exercise has both: "conditions" (a rep is
    # correct when every condition holds; the form model judges only exercises without a
    # conditions model), "form" (the binary form model decides; failed conditions only name the
    # cue of an incorrect rep) or "both" (incorrect when either says so).
    verdict: str = "conditions"
    depth_rom: bool = True  # a rep shallower than reps.full_depth of the typical fails ``rom``
    rep_min_coverage: float = 0.8  # a rep window needs this fraction of valid samples
    history_s: float = 30.0  # frames kept for rep windows (must exceed reps.max_rep_s)
    score_smoothing_s: float = 1.0  # time constant of the live sliding-window score
    score_hysteresis: float = 0.1  # the live verdict flips only past threshold +- this
    # exercise recognition
    auto_window_s: float = 2.5  # time constant of the recogniser's averaged probabilities
    # evidence needed for the first exercise (a change needs auto_window_s): the first second
    # or two of a person walking in or of BlazePose locking on can look like anything, and the
    # replay makes waiting free (the reps done meanwhile still count)
    auto_first_s: float = 2.5
    auto_confidence: float = 0.6  # averaged probability a new exercise needs to take over
    auto_margin: float = 0.2  # ...and its lead over the current exercise
    auto_replay_s: float = 10.0  # on a switch, the last this-many seconds are judged again as the
    #                              new exercise: reps done while the recogniser made up its mind count
    # rep counting
    reps: RepConfig = field(default_factory=RepConfig)

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"JudgeConfig.{name}: {why}")

        for name in ("state_hold_s", "inactivity_reset_s", "absence_reset_s", "frame_margin",
                     "score_hysteresis", "auto_margin", "auto_replay_s", "auto_first_s"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                bad(name, f"must be a number >= 0, got {v!r}")
        for name in ("score_smoothing_s", "auto_window_s"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                bad(name, f"must be a number > 0, got {v!r}")
        for name in ("min_visibility", "rep_min_coverage", "auto_confidence", "condition_threshold"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0 <= v <= 1):
                bad(name, f"must be within 0..1, got {v!r}")
        if self.verdict not in VERDICTS:
            bad("verdict", f"must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")
        if not isinstance(self.reps, RepConfig):
            bad("reps", f"must be a RepConfig, got {type(self.reps).__name__}")
        if self.history_s <= self.reps.max_rep_s:
            bad("history_s", f"must exceed reps.max_rep_s ({self.reps.max_rep_s})")
        if self.auto_replay_s > self.history_s:
            bad("auto_replay_s", f"must not exceed history_s ({self.history_s})")

    @classmethod
    def coerce(cls, obj: Any) -> JudgeConfig:
        """A JudgeConfig from ``None``, itself, a dict, or the station config's ``[judge]``
        section (``inactivity_reset``, ``min_rep``, ``max_rep``, ``auto_confidence``, ...)."""
        if obj is None:
            return cls()
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, dict):
            src = dict(obj)
        elif hasattr(obj, "__dataclass_fields__"):
            src = {f.name: getattr(obj, f.name) for f in fields(obj)}
        else:
            raise TypeError(f"judge config: expected a JudgeConfig, dict or dataclass, got {type(obj).__name__}")
        mine = {f.name for f in fields(cls)}
        rep_fields = {f.name for f in fields(RepConfig)}
        alias = {"inactivity_reset": "inactivity_reset_s", "absence_reset": "absence_reset_s",
                 "state_hold": "state_hold_s", "min_rep": "reps.min_rep_s", "max_rep": "reps.max_rep_s"}
        top: dict[str, Any] = {}
        rep: dict[str, Any] = {}
        for k, v in src.items():
            k = alias.get(k, k)
            if k.startswith("reps."):
                rep[k[5:]] = v
            elif k in mine and k != "reps":
                top[k] = v
            elif k in rep_fields:
                rep[k] = v
            elif k == "reps" and isinstance(v, RepConfig):
                top["reps"] = v
            else:
                raise ValueError(f"judge config key {k!r}: unknown")
        reps = replace(top.pop("reps", RepConfig()), **rep)
        history = max(top.pop("history_s", cls.history_s), reps.max_rep_s + 5.0)
        return cls(reps=reps, history_s=history, **top)


# ---- models --------------------------------------------------------------------------------

class Predictor(Protocol):
    """A loaded model (``classifier.Classifier`` or a test fake)."""

    spec: FeatureSpec
    bundle: Any  # .task, .exercise, .labels, .conditions, .threshold

    def predict(self, windows: np.ndarray) -> np.ndarray: ...


@dataclass
class ModelSet:
    """The models a judge may use: per exercise a ``form`` and/or ``conditions`` model, and one
    exercise ``recogniser``."""

    form: dict[str, Predictor] = field(default_factory=dict)
    conditions: dict[str, Predictor] = field(default_factory=dict)
    recogniser: Predictor | None = None

    @classmethod
    def from_predictors(cls, items: Iterable[Any]) -> ModelSet:
        """Sort predictors (or bundles, which get a LiteRT classifier) by task and exercise."""
        ms = cls()
        for item in items:
            if not hasattr(item, "predict"):
                from .classifier import Classifier  # only when real bundles are given

                item = Classifier(item)
            task = getattr(item.bundle, "task", "")
            ex = getattr(item.bundle, "exercise", "")
            if task == "exercise":
                ms.recogniser = item
            elif task in ("form", "conditions"):
                getattr(ms, task)[ex] = item
            else:
                log.warning("ignoring a model with unknown task %r", task)
        return ms

    def for_exercise(self, exercise: str | None) -> list[Predictor]:
        if exercise is None:
            return []
        return [m for m in (self.form.get(exercise), self.conditions.get(exercise)) if m is not None]


def _cond_fields(c: Any) -> tuple[str, str]:
    """(key, cue) of a condition record (object or dict)."""
    if isinstance(c, dict):
        return str(c.get("key") or c.get("name", "")), str(c.get("cue", ""))
    return str(getattr(c, "key", "") or getattr(c, "name", "")), str(getattr(c, "cue", ""))


@dataclass
class LiveVerdict:
    """The smoothed sliding-window verdict between reps (None until a sliding model spoke)."""

    score: float | None = None
    correct: bool | None = None
    failed: list[str] = field(default_factory=list)


# ---- per-spec feature pipelines ------------------------------------------------------------

def _feature_key(spec: FeatureSpec) -> FeatureSpec:
    """The part of a spec that decides per-frame features (windowing left at defaults): models
    that differ only in how they window share one feature computation."""
    return replace(spec, window=FeatureSpec.window, window_mode=FeatureSpec.window_mode,
                   sample_rate=FeatureSpec.sample_rate, stride=FeatureSpec.stride)


class _Pipe:
    """Missing-data filling, per-frame features (with a bounded history for rep windows) for one
    feature key, and a sliding windower per model spec that reads them."""

    def __init__(self, key: FeatureSpec, history_s: float):
        self.key = key
        self.history_s = history_s
        self.filler = MissingFiller(key)
        self.windowers: dict[FeatureSpec, StreamWindower] = {}
        self.hist: deque[tuple[float, np.ndarray, bool]] = deque()

    def push(self, t: float, lm: np.ndarray | None, image_size, sliding: Iterable[FeatureSpec]):
        """Add a frame; returns {spec: [(end_t, window), ...]} for the sliding specs."""
        filled, valid = self.filler.step(t, lm)
        feat = frame_features(filled[None], self.key, image_size)[0]
        valid = valid and bool(np.isfinite(feat).all())
        self.hist.append((t, feat, valid))
        while self.hist and self.hist[0][0] < t - self.history_s:
            self.hist.popleft()
        out = {}
        for spec in sliding:
            w = self.windowers.get(spec)
            if w is None:
                w = self.windowers[spec] = StreamWindower(spec)
            out[spec] = w.push(t, feat, valid)
        return out

    def rep_window(self, spec: FeatureSpec, start: float, end: float, min_coverage: float):
        if not self.hist:
            return None
        t = np.array([h[0] for h in self.hist])
        feats = np.stack([h[1] for h in self.hist])
        valid = np.array([h[2] for h in self.hist])
        return rep_window(t, feats, valid, start, end, spec, min_coverage)


class _Ema:
    """Exponential average over time with time constant ``tau``.

    ``first_step_s=None``: the first sample starts the average (it keeps that weight until
    later samples wash it out). With ``first_step_s`` the average is bias-corrected (a running
    weight beside the running sum): the first sample weighs like one sample ``first_step_s``
    after another, so the average is the exponentially weighted mean of what was seen — one
    early window (BlazePose locking on, a person walking in) cannot hold a third of the vote
    seconds later.
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


# ---- the judge -----------------------------------------------------------------------------

class Judge:
    """See the module docstring. ``models``: a :class:`ModelSet`, or predictors/bundles to sort
    into one; ``exercise``: an id, or ``None``/``"auto"`` to recognise it."""

    def __init__(self, models: Any = None, exercise: str | None = None, config: Any = None):
        self.config = JudgeConfig.coerce(config)
        if models is None:
            models = ModelSet()
        self.models = models if isinstance(models, ModelSet) else ModelSet.from_predictors(models)
        if exercise == AUTO:
            exercise = None
        if exercise is not None and exercise not in EXERCISES:
            raise ValueError(f"exercise {exercise!r}: unknown; known: {', '.join(EXERCISE_IDS)} or auto")
        self.auto = exercise is None
        if self.auto and self.models.recogniser is None:
            log.warning("no exercise given and no recogniser loaded: nothing is judged until an "
                        "exercise is chosen")
        self.exercise: str | None = exercise
        self._pipes: dict[tuple[str, FeatureSpec], _Pipe] = {}  # (role "ex"/"rec", feature key)
        self._active: list[Predictor] = []
        self._counter: RepCounter | None = None
        self._t: float | None = None  # last frame time
        self._recent: deque[tuple[float, np.ndarray | None]] = deque()  # frames for a replay
        self._image_size: tuple[int, int] | None = None
        # person state
        self.state: str | None = None  # announced
        self._away_since: float | None = None
        self._away_counts: Counter[str] = Counter()
        self._no_person_since: float | None = None
        # recognition
        # recogniser windows come at the sliding-window rate (15 Hz)
        self._auto_ema = _Ema(self.config.auto_window_s, first_step_s=1 / 15)
        self._failures: set[str] = set()
        self._activate()
        self._clear_counts(self._t_or_zero())

    # ---- public controls -----------------------------------------------------------------
    def set_exercise(self, exercise: str | None, source: str = "button",
                     t: float | None = None) -> list[Event]:
        """Choose the exercise (pins it: auto recognition stops); ``None``/``"auto"`` goes back
        to auto recognition. Returns the events (ExerciseEvent, ResetEvent)."""
        if exercise == AUTO:
            exercise = None
        if exercise is not None and exercise not in EXERCISES:
            raise ValueError(f"exercise {exercise!r}: unknown; known: {', '.join(EXERCISE_IDS)}")
        t = self._t_or_zero() if t is None else t
        if exercise is None:
            if self.models.recogniser is None:
                raise ValueError("exercise 'auto': no exercise recogniser is loaded")
            if self.auto:
                return []
            # Nothing is judged until the recogniser names the exercise.
            prev, had = self.exercise, self.reps > 0
            self.auto, self.exercise = True, None
            self._auto_ema.reset()
            self._recent.clear()
            self._activate()
            self._clear_counts(t)
            events: list[Event] = [ExerciseEvent(t=t, exercise=AUTO, previous=prev, source=source)]
            return events + ([ResetEvent(t=t, reason="exercise")] if had else [])
        self.auto = False
        self._recent.clear()
        return self._switch(exercise, t, source, confidence=None)

    def next_exercise(self, t: float | None = None) -> list[Event]:
        """The button's short press: the next exercise in order; after the last, back to
        auto recognition when a recogniser is loaded (else to the first)."""
        cycle: list[str | None] = list(EXERCISE_IDS)
        if self.models.recogniser is not None:
            cycle.append(None)
        cur = None if self.auto else self.exercise
        i = cycle.index(cur) if cur in cycle else -1
        nxt = cycle[(i + 1) % len(cycle)]
        if nxt is None:
            return self.set_exercise(None, source="button", t=t)
        return self.set_exercise(nxt, source="button", t=t)

    def reset(self, reason: str = "button", t: float | None = None) -> list[Event]:
        """Counts back to zero (always announced: someone asked)."""
        t = self._t_or_zero() if t is None else t
        self._clear_counts(t)
        return [ResetEvent(t=t, reason=reason)]

    def finish(self) -> list[Event]:
        """End of stream. A rep still in progress never ended, so it is not reported; but in
        auto mode, an exercise the recogniser was still making up its mind about is decided
        with the evidence there is, and the recent frames are judged as it (a short clip)."""
        if not (self.auto and self.exercise is None and self._t is not None):
            return []
        events = self._recognise(self._t, final=True)
        if any(isinstance(e, ExerciseEvent) for e in events):
            events += self._replay(self._t)
        return events

    @property
    def counts(self) -> tuple[int, int, int]:
        """(good, bad, all reps) in the current set."""
        return self.good, self.bad, self.reps

    # ---- per frame -----------------------------------------------------------------------
    def update(self, pose: Pose) -> list[Event]:
        try:
            t = float(pose.t)
        except (TypeError, ValueError, AttributeError):
            return []
        if not math.isfinite(t) or (self._t is not None and t <= self._t):
            return []  # a frame from the past cannot be judged causally
        self._t = t
        lm = self._clean(getattr(pose, "landmarks", None))
        size = self._clean_size(getattr(pose, "image_size", None))
        if size is not None:
            self._image_size = size
        events: list[Event] = []

        if self.auto and self.models.recogniser is not None:
            self._recent.append((t, lm))
            while self._recent[0][0] < t - self.config.auto_replay_s:
                self._recent.popleft()

        raw = self._raw_state(lm)
        events += self._debounce(t, raw)
        switched = False
        if self.auto:
            self._push_features(t, lm if raw != NO_PERSON else None, "rec")
            ev = self._recognise(t)
            switched = any(isinstance(e, ExerciseEvent) for e in ev)
            events += ev
        if switched:
            events += self._replay(t)  # this frame included
        else:
            events += self._judge_frame(t, lm, raw)
        events += self._inactivity(t)
        return events

    def _judge_frame(self, t: float, lm: np.ndarray | None, raw: str, event_t: float | None = None) -> list[Event]:
        """Features, model windows and the rep counter of the current exercise for one frame."""
        person = lm if raw != NO_PERSON else None
        self._push_features(t, person, "ex")
        if self._counter is None:
            return []
        reps = self._counter.update(t, person, valid=raw == TRACKING, image_size=self._image_size)
        return [self._verdict(rep, event_t) for rep in reps]

    def _replay(self, t: float) -> list[Event]:
        """Judge the recent frames again as the newly recognised exercise."""
        events: list[Event] = []
        for tk, lm in self._recent:
            events += self._judge_frame(tk, lm, self._raw_state(lm), event_t=t)
        if events:
            log.info("%s: %d rep(s) done while recognising counted", self.exercise, len(events))
        return events

    # ---- input hygiene -------------------------------------------------------------------
    @staticmethod
    def _clean(lm: Any) -> np.ndarray | None:
        if lm is None:
            return None
        try:
            a = np.asarray(lm, dtype=np.float32)
        except (TypeError, ValueError):
            return None
        if a.shape != (NUM_LANDMARKS, 4):
            return None
        if not np.isfinite(a).all():
            a = a.copy()
            bad = ~np.isfinite(a[:, :2]).all(axis=1)
            a[bad, :3] = np.nan
            a[~np.isfinite(a[:, 3]) | bad, 3] = 0.0
            a[~np.isfinite(a[:, 2]), 2] = 0.0
        if not np.isfinite(a[:, :2]).any():
            return None
        return a

    @staticmethod
    def _clean_size(size: Any) -> tuple[int, int] | None:
        try:
            w, h = (int(v) for v in size)
        except (TypeError, ValueError):
            return None
        return (w, h) if w > 0 and h > 0 else None

    # ---- person state --------------------------------------------------------------------
    def _raw_state(self, lm: np.ndarray | None) -> str:
        if lm is None:
            return NO_PERSON
        m = self.config.frame_margin
        for ids in key_landmarks(self.exercise):
            p = lm[list(ids)]
            ok = (np.isfinite(p[:, :2]).all(axis=1) & (p[:, 3] >= self.config.min_visibility)
                  & (p[:, 0] >= -m) & (p[:, 0] <= 1 + m) & (p[:, 1] >= -m) & (p[:, 1] <= 1 + m))
            if ok.all():
                return TRACKING
        return STEP_INTO_VIEW

    def _debounce(self, t: float, raw: str) -> list[Event]:
        if raw == self.state:
            self._away_since = None
            self._away_counts.clear()
            return []
        if self._away_since is None:
            self._away_since = t
        self._away_counts[raw] += 1
        if t - self._away_since < self.config.state_hold_s:
            return []
        # The state seen most while away (ties: the latest).
        best = max(self._away_counts.values())
        new = raw if self._away_counts[raw] == best else self._away_counts.most_common(1)[0][0]
        prev, self.state = self.state, new
        self._away_since = None
        self._away_counts.clear()
        if new == NO_PERSON:
            self._no_person_since = t
        else:
            self._no_person_since = None
        return [StateEvent(t=t, state=new, previous=prev)]

    # ---- features, models ----------------------------------------------------------------
    def _activate(self) -> None:
        """Choose the models (and so the feature pipelines) the current mode needs."""
        active = self.models.for_exercise(self.exercise)
        rec = self.models.recogniser if self.auto else None
        # The exercise's pipelines start afresh with the exercise (and may be replayed into);
        # the recogniser's keep running across switches.
        for key in {_feature_key(m.spec) for m in active}:
            self._pipes[("ex", key)] = _Pipe(key, self.config.history_s)
        if rec is not None:
            key = ("rec", _feature_key(rec.spec))
            if key not in self._pipes or not any(m is rec for m in self._active):
                self._pipes[key] = _Pipe(key[1], self.config.history_s)
            active = [*active, rec]
        self._active = active
        self._sliding: dict[int, deque[tuple[float, np.ndarray]]] = {
            id(m): deque() for m in active if m.spec.window_mode == "sliding"}
        self._live_emas = {id(m): _Ema(self.config.score_smoothing_s) for m in active
                           if m is not self.models.recogniser}
        self._live_state: dict[int, np.ndarray] = {}
        self.live = LiveVerdict()
        self._recog_windows: list[tuple[float, np.ndarray]] = []
        self._counter = (RepCounter(self.exercise, self.config.reps, self._image_size)
                         if self.exercise else None)

    def _role(self, m: Predictor) -> str:
        return "rec" if m is self.models.recogniser and self.auto else "ex"

    def _push_features(self, t: float, lm: np.ndarray | None, role: str) -> None:
        models = [m for m in self._active if self._role(m) == role]
        new: dict[FeatureSpec, list] = {}
        for key in {_feature_key(m.spec) for m in models}:
            sliding = {m.spec for m in models if m.spec.window_mode == "sliding" and _feature_key(m.spec) == key}
            new.update(self._pipes[(role, key)].push(t, lm, self._image_size, sliding))
        keep = self.config.history_s
        for m in models:
            wins = new.get(m.spec) or []
            if m.spec.window_mode != "sliding" or not wins:
                continue
            probs = self._predict(m, np.stack([w for _, w in wins]))
            if probs is None:
                continue
            ends = [e for e, _ in wins]
            if role == "rec":
                self._recog_windows += list(zip(ends, probs, strict=True))
                continue
            q = self._sliding[id(m)]
            q.extend(zip(ends, probs, strict=True))
            while q and q[0][0] < t - keep:
                q.popleft()
            for e, p in zip(ends, probs, strict=True):
                self._update_live(m, e, p)

    def _predict(self, m: Predictor, windows: np.ndarray) -> np.ndarray | None:
        try:
            out = np.asarray(m.predict(np.asarray(windows, dtype=np.float32)), dtype=np.float64)
            if out.ndim != 2 or out.shape[0] != len(windows) or not np.isfinite(out).all():
                raise ValueError(f"predict returned {out.shape} / non-finite values for {len(windows)} windows")
            return out
        except Exception as e:  # a model fault must not stop judging
            name = getattr(m.bundle, "name", getattr(m.bundle, "task", "model"))
            if name not in self._failures:
                self._failures.add(name)
                log.warning("model %s failed (%s: %s); its verdicts are skipped", name, type(e).__name__, e)
            return None

    def _update_live(self, m: Predictor, t: float, p: np.ndarray) -> None:
        cfg = self.config
        ema = self._live_emas[id(m)].update(t, p)
        thr = float(getattr(m.bundle, "threshold", 0.5))
        prev = self._live_state.get(id(m))
        ok = ema >= thr if prev is None else np.where(
            prev, ema > thr - cfg.score_hysteresis, ema >= thr + cfg.score_hysteresis)
        self._live_state[id(m)] = ok
        form = self.models.form.get(self.exercise or "")
        conds = self.models.conditions.get(self.exercise or "")
        live = LiveVerdict()
        if form is not None and id(form) in self._live_state:
            live.score = float(self._live_emas[id(form)].value[self._correct_index(form)])
            live.correct = bool(self._live_state[id(form)][self._correct_index(form)])
        if conds is not None and id(conds) in self._live_state:
            okc = self._live_state[id(conds)]
            keys = [_cond_fields(c)[0] for c in conds.bundle.conditions]
            live.failed = [k for k, good in zip(keys, okc, strict=False) if not good]
            if live.correct is None:
                live.correct = not live.failed
            elif live.failed:
                live.correct = False
        self.live = live

    @staticmethod
    def _correct_index(m: Predictor) -> int:
        labels = list(getattr(m.bundle, "labels", ()) or ())
        return labels.index("correct") if "correct" in labels else -1

    # ---- recognition ---------------------------------------------------------------------
    def _recognise(self, t: float, final: bool = False) -> list[Event]:
        rec = self.models.recogniser
        wins, self._recog_windows = self._recog_windows, []
        if rec is None or not (wins or final):
            return []
        labels = list(rec.bundle.labels)
        for end, p in wins:
            self._auto_ema.update(end, p)
        ema = self._auto_ema.value
        if ema is None or len(ema) != len(labels):
            return []
        cfg = self.config
        # The first exercise is wanted quickly (a set starts at once); a change of exercise
        # needs the whole averaging time. At the end of a stream, what there is decides.
        need = cfg.auto_first_s if self.exercise is None else cfg.auto_window_s
        if not final and (self._auto_ema.since is None or t - self._auto_ema.since < need):
            return []  # not enough evidence yet
        # Which exercise, among the exercises: standing between reps is idle, and its share
        # must not dilute the exercise the reps are of. Mostly idle decides nothing.
        ema = np.array(ema, dtype=np.float64)
        if IDLE in labels:
            active = 1.0 - float(ema[labels.index(IDLE)])
            if active < 0.5:
                return []
            ema[labels.index(IDLE)] = 0.0
            ema /= max(active, 1e-9)
        best = int(np.argmax(ema))
        cand = labels[best]
        if cand == self.exercise or cand not in EXERCISES:
            return []
        cur = float(ema[labels.index(self.exercise)]) if self.exercise in labels else 0.0
        if ema[best] < cfg.auto_confidence or ema[best] - cur < cfg.auto_margin:
            return []
        if self._counter is not None and self._counter.active:
            return []  # never mid-rep
        return self._switch(cand, t, "auto", confidence=float(ema[best]))

    def _switch(self, exercise: str, t: float, source: str, confidence: float | None) -> list[Event]:
        if exercise == self.exercise:
            return []
        prev = self.exercise
        had = self.reps > 0
        self.exercise = exercise
        log.info("exercise: %s -> %s (%s%s)", prev, exercise, source,
                 f", p={confidence:.2f}" if confidence is not None else "")
        self._activate()
        self._clear_counts(t)
        events: list[Event] = [ExerciseEvent(t=t, exercise=exercise, previous=prev,
                                             confidence=confidence, source=source)]
        if had:
            events.append(ResetEvent(t=t, reason="exercise"))
        # The key joints changed with the exercise: judge the person state afresh.
        return events

    # ---- verdicts ------------------------------------------------------------------------
    def _verdict(self, rep: Rep, event_t: float | None = None) -> RepEvent:
        ex = self.exercise or rep.exercise
        failed: list[str] = []
        cues: list[str] = []
        score: float | None = None
        judged = False
        form_failed = False
        probs: dict[str, float] = {}

        conds = self.models.conditions.get(ex)
        form = self.models.form.get(ex)
        if conds is not None and self.config.verdict == "conditions":
            form = None  # the conditions decide; the form model is only a fallback
        if form is not None:
            p = self._rep_probs(form, rep)
            if p is not None:
                judged = True
                score = float(p[self._correct_index(form)])
                form_failed = score < float(form.bundle.threshold)
                probs["correct"] = round(score, 4)
        form_decides = self.config.verdict == "form" and score is not None
        if conds is not None:
            p = self._rep_probs(conds, rep)
            if p is not None:
                judged = True
                thr = self.config.condition_threshold or float(conds.bundle.threshold)
                records = [_cond_fields(c) for c in conds.bundle.conditions]
                if form_decides and not form_failed:
                    thr = 0.0  # the form model says correct: no model cue on a good rep
                elif form_decides and len(p) and min(p[: len(records)]) >= thr:
                    thr = float(np.min(p[: len(records)])) + 1e-9  # incorrect: name the likeliest fault
                for (key, cue), pk in zip(records, p, strict=False):
                    probs[key] = round(float(pk), 4)
                    if pk < thr:
                        failed.append(key)
                        cues.append(cue or self._cue(ex, key))
                if score is None and len(p):
                    score = float(np.min(p[: len(records)]))
        if self.config.depth_rom and not rep.full and ROM not in failed:
            failed.append(ROM)  # measured, not modelled: it holds whatever the models say
            cues.append(self._cue(ex, ROM))

        if form_failed or failed:
            correct: bool | None = False
        elif judged:
            correct = True
        else:
            correct = None
        self.reps += 1
        if correct is True:
            self.good += 1
        elif correct is False:
            self.bad += 1
        self._last_rep_t = rep.end_t
        return RepEvent(t=rep.end_t if event_t is None else event_t, exercise=ex, rep=self.reps, correct=correct,
                        score=None if score is None else round(score, 4), failed=failed, cues=cues,
                        good=self.good, bad=self.bad, start=rep.start_t, end=rep.end_t,
                        probs=probs, full_depth=bool(rep.full))

    def _rep_probs(self, m: Predictor, rep: Rep) -> np.ndarray | None:
        if m.spec.window_mode == "rep":
            pipe = self._pipes.get(("ex", _feature_key(m.spec)))
            w = pipe.rep_window(m.spec, rep.start_t, rep.end_t, self.config.rep_min_coverage) if pipe else None
            if w is None:
                return None
            out = self._predict(m, w[None])
            return None if out is None else out[0]
        q = self._sliding.get(id(m))
        if not q:
            return None
        half = (m.spec.window - 1) / m.spec.sample_rate / 2
        inside = [p for e, p in q if rep.start_t + half <= e <= rep.end_t]
        if not inside:
            inside = [p for e, p in q if rep.start_t <= e <= rep.end_t]
        if not inside:
            return None
        return np.mean(np.stack(inside), axis=0)

    @staticmethod
    def _cue(exercise: str, key: str) -> str:
        try:
            return EXERCISES[exercise].cue(key)
        except KeyError:
            return key

    # ---- counts and resets ---------------------------------------------------------------
    def _clear_counts(self, t: float) -> None:
        self.good = self.bad = self.reps = 0
        self._last_rep_t = t
        if self._counter is not None:
            self._counter.reset()

    def _inactivity(self, t: float) -> list[Event]:
        cfg = self.config
        if self.reps == 0:
            return []
        if self.state == NO_PERSON and self._no_person_since is not None:
            if cfg.absence_reset_s and t - self._no_person_since >= cfg.absence_reset_s:
                self._clear_counts(t)
                self._auto_ema.reset()
                return [ResetEvent(t=t, reason="no_person")]
        elif cfg.inactivity_reset_s and t - self._last_rep_t >= cfg.inactivity_reset_s:
            self._clear_counts(t)
            return [ResetEvent(t=t, reason="inactivity")]
        return []

    def _t_or_zero(self) -> float:
        return self._t if self._t is not None else 0.0
