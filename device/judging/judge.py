"""The judge: from a stream of poses to what a person sees (pure numpy, no I/O).

Wiring of small parts: presence (is the person in view), the model bank (one pose history,
features once per spec, model calls), the recogniser (which exercise), the rep counter and the
pure :func:`~formcheck.device.judging.verdict.verdict`. How each decides is documented in its
module and in ``docs/judging.md``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from ..events import NO_PERSON, Event, ExerciseEvent, RepEvent, ResetEvent
from ..exercises import EXERCISE_IDS, EXERCISES, OTHER, ROM, cue_for
from ..pose.landmarks import Pose
from .conditions import UNSEEN, UNTRUSTED_REASON, ConditionConfig, ConditionVerdict, judge_conditions
from .judge_config import JudgeConfig
from .live import LiveScore, LiveVerdict
from .model_bank import (
    ModelBank,
    ModelSet,
    PoseFrame,
    Predictor,
    SlidingModel,
    condition_fields,
    correct_index,
)
from .presence import Presence, PresenceDebounce, assess
from .recogniser import Recogniser
from .reps import Rep, RepCounter
from .verdict import DEPTH, MEASURE, MODEL, FormScore, rounded, uses_form, verdict
from .view import UNKNOWN, View, estimate_view

log = logging.getLogger(__name__)

AUTO = "auto"

__all__ = ["AUTO", "Judge", "JudgeConfig", "LiveVerdict", "ModelSet", "Predictor"]


class Judge:
    """``models``: a :class:`ModelSet` or predictors to sort into one; ``exercise``: an id, or
    ``None``/``"auto"`` to recognise it. :meth:`update` takes each (clean) :class:`Pose` and
    returns the events it caused."""

    def __init__(self, models: ModelSet | Iterable[Predictor] | None = None,
                 exercise: str | None = None, config: JudgeConfig | None = None,
                 conditions: ConditionConfig | None = None):
        self.config = config if config is not None else JudgeConfig()
        self.conditions = conditions if conditions is not None else ConditionConfig()
        self.models = models if isinstance(models, ModelSet) else ModelSet.from_predictors(models or ())
        exercise = _check_exercise(exercise)
        self.auto = exercise is None
        if self.auto and self.models.recogniser is None:
            log.warning("no exercise given and no recogniser loaded: nothing is judged until an "
                        "exercise is chosen")
        self.exercise: str | None = exercise
        self.bank = ModelBank(self.models, self.config.history_s)
        self.debounce = PresenceDebounce(self.config.state_hold)
        self.presence = Presence(NO_PERSON)  # the latest frame's, before debouncing
        rec = self.models.recogniser
        self.recogniser = Recogniser(rec.bundle.labels, self.config) if rec is not None else None
        self._rec_stream: SlidingModel | None = None
        self._t: float | None = None  # last frame time
        self._image_size: tuple[int, int] | None = None
        self._auto_since = -math.inf  # frames before this are never re-judged
        self._done_t = -math.inf  # end of the last rep counted: frames up to it are claimed
        self._held: list[Rep] = []  # reps counted while the recogniser leaned elsewhere
        self._arrived_t = -math.inf  # the person last came into view
        self._seen_t = -math.inf  # last frame with a person
        self._activate(0.0)
        self._clear_counts(0.0)

    def use_models(self, models: ModelSet | Iterable[Predictor]) -> None:
        """Swap in reloaded models, keeping the exercise, the set's counts, the rep counter (a
        rep in progress is still counted) and the pose history."""
        self.models = models if isinstance(models, ModelSet) else ModelSet.from_predictors(models)
        self.bank.models = self.models
        rec = self.models.recogniser
        if rec is None:
            self.recogniser = None
        elif self.recogniser is None or list(self.recogniser.labels) != list(rec.bundle.labels):
            self.recogniser = Recogniser(rec.bundle.labels, self.config)
        self._rec_stream = None
        counter = self._counter
        self._activate(self._t_or_zero())
        if counter is not None and self.exercise:
            self._counter = counter

    @property
    def state(self) -> str | None:
        """The announced person state."""
        return self.debounce.state

    @property
    def live(self) -> LiveVerdict:
        """The smoothed sliding-window verdict between reps."""
        return self._live.verdict

    @property
    def counts(self) -> tuple[int, int, int]:
        """(good, bad, all reps) in the current set."""
        return self.good, self.bad, self.reps

    # ---- per frame -----------------------------------------------------------------------
    def update(self, pose: Pose) -> list[Event]:
        t = pose.t
        if not math.isfinite(t) or (self._t is not None and t <= self._t):
            return []  # a frame from the past cannot be judged causally
        self._t = t
        if pose.image_size[0] > 0 and pose.image_size[1] > 0:
            self._image_size = pose.image_size
        frame = self.bank.add(t, pose.landmarks, self._image_size)
        if pose.landmarks is not None:
            if t - self._seen_t > self.config.reps.max_gap_s:
                self._arrived_t = t  # back in view after a while: a new span begins
            self._seen_t = t
        self.presence = self._assess(frame)
        events: list[Event] = []
        if (ev := self.debounce.update(t, self.presence)) is not None:
            events.append(ev)
        switch = self._recognise(frame) if self.auto else []
        events += switch
        if switch:
            events += self._rejudge_recent(t)
        else:
            events += self._judge_frame(frame, self.presence)
        events += self._release(t)
        events += self._inactivity(t)
        return events

    def _assess(self, frame: PoseFrame) -> Presence:
        return assess(frame.landmarks, self.exercise, self.config.min_visibility, self.config.frame_margin)

    def _judge_frame(self, frame: PoseFrame, presence: Presence, event_t: float | None = None) -> list[Event]:
        """The current exercise's sliding models and rep counter on one frame."""
        for stream in self._sliding:
            for end, p in stream.push(self.bank, frame):
                self._live.update(stream.model, end, p)
        if self._counter is None:
            return []
        # Reps are counted with whatever is in view: a part out of frame is reported (presence),
        # never a reason to stop counting; the counter skips what it cannot see.
        reps = self._counter.update(frame.t, frame.landmarks, valid=presence.state != NO_PERSON,
                                    image_size=self._image_size)
        events: list[Event] = []
        for rep in reps:
            if self._doubted():
                # another exercise leads the recogniser's vote: held until it is named (then
                # the span is judged again as it) or the current one leads again (then sent)
                self._held.append(rep)
                continue
            events.append(self._rep_event(rep, event_t))
            self._done_t = rep.end_t
        return events

    def _doubted(self) -> bool:
        """Auto mode, and the recogniser's vote leans to another exercise than the current."""
        if not self.auto or self.recogniser is None:
            return False
        lead = self.recogniser.leader()
        return lead is not None and lead != self.exercise

    def _release(self, t: float, final: bool = False) -> list[Event]:
        """Held reps go out once the current exercise leads the vote again (or at the end)."""
        if not self._held or (self._doubted() and not final):
            return []
        events: list[Event] = [self._rep_event(rep, t) for rep in self._held]
        self._done_t = self._held[-1].end_t
        self._held.clear()
        return events

    def _rejudge_recent(self, t: float) -> list[Event]:
        """After an automatic switch: the last ``auto_replay`` seconds of the pose history judged
        again as the new exercise, so the reps done while the recogniser made up its mind count
        (their events carry the switch's time and their own start/end)."""
        # Only the span nothing has claimed yet: frames up to the end of the last rep counted (as
        # the previous exercise) and before the person last came into view are not re-judged, so
        # a switch re-attributes the buffered span exactly once.
        frames = self.bank.frames_since(max(t - self.config.auto_replay, self._auto_since, self._done_t,
                                            self._arrived_t))
        if frames:
            self._since = frames[0].t
        events: list[Event] = []
        for frame in frames:
            events += self._judge_frame(frame, self._assess(frame), event_t=t)
        if events:
            log.info("%s: %d rep(s) done while recognising counted", self.exercise, len(events))
        return events

    # ---- exercise ------------------------------------------------------------------------
    def _recognise(self, frame: PoseFrame | None, final: bool = False) -> list[Event]:
        """Feed the recogniser (``frame``) and apply its switch rule; never mid-rep."""
        if self.recogniser is None or self._rec_stream is None:
            return []
        windows = self._rec_stream.push(self.bank, frame) if frame is not None else []
        if not (windows or final):
            return []
        self.recogniser.add(windows)
        choice = self.recogniser.decide(self._t_or_zero(), self.exercise, final=final)
        if choice is None or (self._counter is not None and self._counter.active):
            return []
        exercise, confidence = choice
        return self._switch(exercise, self._t_or_zero(), "auto", confidence)

    def _switch(self, exercise: str, t: float, source: str, confidence: float | None) -> list[Event]:
        if exercise == self.exercise:
            return []
        prev, had = self.exercise, self.reps > 0
        self.exercise = exercise
        log.debug("exercise: %s -> %s (%s%s)", prev, exercise, source,
                 f", p={confidence:.2f}" if confidence is not None else "")
        self._activate(t)
        self._clear_counts(t)
        events: list[Event] = [ExerciseEvent(t=t, exercise=exercise, previous=prev,
                                             confidence=confidence, source=source)]
        return events + ([ResetEvent(t=t, reason="exercise")] if had else [])

    def _activate(self, t: float) -> None:
        """The models, sliding streams, live score and rep counter of the current mode."""
        models = self.models.for_exercise(self.exercise)
        rec = self.models.recogniser if self.auto else None
        self.bank.use([*models, *([rec] if rec is not None else [])])
        if rec is None:
            self._rec_stream = None
        elif self._rec_stream is None:
            self._rec_stream = SlidingModel(rec)
        keep = self.config.history_s
        self._sliding = [SlidingModel(m, keep) for m in models if m.spec.window_mode == "sliding"]
        ex = self.exercise or ""
        self._live = LiveScore(self.models.form.get(ex), self.models.conditions.get(ex),
                              self.config.score_smoothing, self.config.score_hysteresis)
        self._since = t  # rep windows read frames from here on
        self._counter = RepCounter(self.exercise, self.config.reps, self._image_size) if self.exercise else None

    # ---- verdicts ------------------------------------------------------------------------
    def _rep_event(self, rep: Rep, event_t: float | None = None) -> RepEvent:
        ex = self.exercise or rep.exercise
        cfg = self.config
        conds_model = self.models.conditions.get(ex)
        form_model = self.models.form.get(ex)
        form = None
        if form_model is not None and uses_form(cfg.verdict, conds_model is not None):
            p = self._rep_probs(form_model, rep)
            if p is not None:
                form = FormScore(float(p[correct_index(form_model)]), float(form_model.bundle.threshold))
        if ex == OTHER:  # none of the nine: counted, never judged
            view, conditions = UNKNOWN, []
        else:
            view, measured = self._measured_conditions(rep, ex)
            model = self._model_conditions(conds_model, rep, ex) if conds_model is not None else []
            conditions = merge_conditions(ex, measured, model)
            rom_id = f"{ex}.{ROM}"
            if cfg.depth_rom and rom_id not in self.conditions.measured and rom_id not in self.conditions.fail_only:
                # no trusted measure of this exercise's range: the rep counter's depth against the
                # person's own typical range (a partial rep among full ones); beside a model's rom, a
                # rep fails when either does. Where the measure exists but this view cannot see the
                # range, rom stays unjudged: the typical range of another view is no yardstick.
                depth = ConditionVerdict(key=ROM, judged=True, holds=bool(rep.full), value=float(rep.depth),
                                         threshold=cfg.reps.full_depth, source=DEPTH, cue=cue_for(ex, ROM))
                judged_rom = any(c.key == ROM and c.judged for c in conditions)
                conditions = ([*conditions, depth] if judged_rom
                              else [replace(depth, p=c.p) if c.key == ROM else c for c in conditions])
                if not any(c.key == ROM for c in conditions):
                    conditions.append(depth)
        v = verdict(conditions, form, cfg.verdict, confirm_sources=(MODEL, MEASURE))
        self.reps += 1
        self.good += v.correct is True
        self.bad += v.correct is False
        self._last_rep_t = rep.end_t
        return RepEvent(t=rep.end_t if event_t is None else event_t, exercise=ex, rep=self.reps,
                        correct=v.correct, score=None if v.score is None else round(v.score, 4),
                        failed=v.failed, cues=v.cues, good=self.good, bad=self.bad,
                        start=rep.start_t, end=rep.end_t, probs=v.probs, full_depth=bool(rep.full),
                        conditions=[rounded(c) for c in v.conditions], not_judged=v.not_judged,
                        view=view.to_dict() if view.view else {})

    def _measured_conditions(self, rep: Rep, ex: str) -> tuple[View, list[ConditionVerdict]]:
        """Every condition of the rep measured from its frames in the pose history, with the
        view of the body estimated from the same frames."""
        frames = [f for f in self.bank.frames_since(rep.start_t) if f.t <= rep.end_t]
        if not frames:
            return UNKNOWN, judge_conditions(ex, np.zeros(0), np.zeros((0, 33, 4)), config=self.conditions)
        t = np.array([f.t for f in frames])
        lm = np.full((len(frames), 33, 4), np.nan)
        for i, f in enumerate(frames):
            if f.landmarks is not None:
                lm[i] = f.landmarks
        size = next((f.image_size for f in reversed(frames) if f.image_size), self._image_size)
        view = estimate_view(lm, size)
        return view, judge_conditions(ex, t, lm, None, size, rep.start_t, rep.end_t, view, self.conditions)

    def _model_conditions(self, m: Predictor, rep: Rep, ex: str) -> list[ConditionVerdict]:
        """The conditions model's P(true) per condition: a condition fails below the threshold."""
        records = [condition_fields(c) for c in m.bundle.conditions]
        p = self._rep_probs(m, rep)
        if p is None:
            return [ConditionVerdict(key=k, judged=False, holds=None, source=MODEL, cue=cue or cue_for(ex, k),
                                     reason="no model verdict: too few valid frames, or the model failed")
                    for k, cue in records]
        thr = self.config.condition_threshold or float(m.bundle.threshold)
        out = []
        for (k, cue), pk in zip(records, p, strict=False):
            v = ConditionVerdict(key=k, judged=True, holds=bool(pk >= thr), p=float(pk), threshold=thr,
                                 source=MODEL, cue=cue or cue_for(ex, k))
            if not self.conditions.model_trusted(ex, k):  # not validated on real people: P(true) only
                v = replace(v, judged=False, holds=None, reason=UNTRUSTED_REASON)
            out.append(v)
        return out

    def _rep_probs(self, m: Predictor, rep: Rep) -> np.ndarray | None:
        """A model's probabilities for a rep: a rep model on the rep's window, a sliding model
        averaged over the windows inside it."""
        if m.spec.window_mode == "rep":
            w = self.bank.rep_window(m.spec, rep.start_t, rep.end_t, self.config.rep_min_coverage, self._since)
            if w is None:
                return None
            out = self.bank.predict(m, w[None])
            return None if out is None else out[0]
        stream = next((s for s in self._sliding if s.model is m), None)
        return None if stream is None else stream.mean_over(rep.start_t, rep.end_t)

    # ---- controls ------------------------------------------------------------------------
    def set_exercise(self, exercise: str | None, source: str = "button",
                     t: float | None = None) -> list[Event]:
        """Choose the exercise (pins it: recognition stops); ``None``/``"auto"`` goes back to
        recognition, and nothing is judged until the recogniser names the exercise."""
        exercise = _check_exercise(exercise)
        t = self._t_or_zero() if t is None else t
        self._auto_since = math.nextafter(t, math.inf)  # a choice is never re-judged away
        if exercise is not None:
            self.auto = False
            return self._switch(exercise, t, source, confidence=None)
        if self.recogniser is None:
            raise ValueError("exercise 'auto': no exercise recogniser is loaded")
        if self.auto:
            return []
        prev, had = self.exercise, self.reps > 0
        self.auto, self.exercise = True, None
        self.recogniser.reset()
        self._activate(t)
        self._clear_counts(t)
        events: list[Event] = [ExerciseEvent(t=t, exercise=AUTO, previous=prev, source=source)]
        return events + ([ResetEvent(t=t, reason="exercise")] if had else [])

    def next_exercise(self, t: float | None = None) -> list[Event]:
        """The button's short press: the next exercise in order; after the last, back to
        recognition when a recogniser is loaded (else to the first)."""
        cycle: list[str | None] = list(EXERCISE_IDS)
        if self.recogniser is not None:
            cycle.append(None)
        cur = None if self.auto else self.exercise
        i = cycle.index(cur) if cur in cycle else -1
        return self.set_exercise(cycle[(i + 1) % len(cycle)], source="button", t=t)

    def reset(self, reason: str = "button", t: float | None = None) -> list[Event]:
        """Counts back to zero (always announced: someone asked)."""
        t = self._t_or_zero() if t is None else t
        self._clear_counts(t)
        return [ResetEvent(t=t, reason=reason)]

    def finish(self) -> list[Event]:
        """End of stream: a rep in progress never ended and is not reported, but an exercise
        the recogniser was still making up its mind about is decided on the evidence there is,
        and the recent frames are judged as it (a clip shorter than ``auto_first``); a pull from
        the floor already back at rest counts (:meth:`RepCounter.finish`)."""
        events: list[Event] = []
        if self.auto and self.exercise is None and self._t is not None:
            events += self._recognise(None, final=True)
            events += self._rejudge_recent(self._t) if events else []
        events += self._release(self._t_or_zero(), final=True)
        if self._counter is not None:  # a deadlift pull cut at the lockout
            events += [self._rep_event(rep) for rep in self._counter.finish()]
        return events

    # ---- counts and resets ---------------------------------------------------------------
    def _clear_counts(self, t: float) -> None:
        self.good = self.bad = self.reps = 0
        self._held.clear()  # (a switch judges their span again as the new exercise)
        self._last_rep_t = t
        if self._counter is not None:
            self._counter.reset()

    def _inactivity(self, t: float) -> list[Event]:
        """A new set after ``inactivity_reset`` without a rep, a new person after
        ``absence_reset`` with nobody in view (0 disables either)."""
        cfg = self.config
        if self.reps == 0:
            return []
        since = self.debounce.no_person_since
        if self.state == NO_PERSON and since is not None:
            if cfg.absence_reset and t - since >= cfg.absence_reset:
                self._clear_counts(t)
                if self.recogniser is not None:
                    self.recogniser.reset()
                return [ResetEvent(t=t, reason="no_person")]
        elif cfg.inactivity_reset and t - self._last_rep_t >= cfg.inactivity_reset:
            self._clear_counts(t)
            return [ResetEvent(t=t, reason="inactivity")]
        return []

    def _t_or_zero(self) -> float:
        return self._t if self._t is not None else 0.0


def _check_exercise(exercise: str | None) -> str | None:
    if exercise == AUTO:
        return None
    if exercise is not None and exercise not in EXERCISES and exercise != OTHER:
        raise ValueError(f"exercise {exercise!r}: unknown; known: {', '.join(EXERCISE_IDS)}, {OTHER} or auto")
    return exercise


def merge_conditions(exercise: str, measured: list[ConditionVerdict],
                     model: list[ConditionVerdict]) -> list[ConditionVerdict]:
    """One verdict per condition: the measure's where it judged (with the model's P(true)
    attached when a model spoke); not judged where the rep's view or visible joints cannot
    observe it (``UNSEEN``: a model would only guess; its P(true) is attached for the record);
    else the model's where it judged (it is in ``conditions.model_decides``), else not judged
    with the measure's and the model's reasons (and the model's P(true), for the record).
    Keys in the exercise's order, then any others the model has."""
    by_measure = {c.key: c for c in measured}
    by_model = {c.key: c for c in model}
    keys = [c.key for c in EXERCISES[exercise].conditions] if exercise in EXERCISES else []
    keys += [k for k in [*by_measure, *by_model] if k not in keys]
    out = []
    for k in keys:
        m, p = by_measure.get(k), by_model.get(k)
        if m is not None and (m.judged or m.source == UNSEEN):
            out.append(replace(m, p=p.p) if p is not None and p.p is not None else m)
        elif p is not None and p.judged:
            out.append(p)
        elif m is not None or p is not None:
            base = m if m is not None else p
            reasons = [c.reason for c in (m, p) if c is not None and c.reason]
            out.append(replace(base, reason="; ".join(dict.fromkeys(reasons)),
                               p=p.p if p is not None and p.p is not None else base.p))
    return out

