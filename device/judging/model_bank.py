"""The loaded models and what they are fed: one pose history, per-frame features computed once
per feature spec, sliding windows per model, and a ``predict`` that survives a failing model."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from .features import FeatureSpec, MissingFiller, frame_features
from .windows import StreamWindower, rep_window

log = logging.getLogger(__name__)


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
    def from_predictors(cls, items: Iterable[Predictor]) -> ModelSet:
        """Sort predictors by task and exercise."""
        ms = cls()
        for item in items:
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


def condition_fields(c: Any) -> tuple[str, str]:
    """(key, cue) of a bundle's condition record (object or dict)."""
    if isinstance(c, dict):
        return str(c.get("key") or c.get("name", "")), str(c.get("cue", ""))
    return str(getattr(c, "key", "") or getattr(c, "name", "")), str(getattr(c, "cue", ""))


def correct_index(m: Predictor) -> int:
    """The output column of P(correct) of a form model."""
    labels = list(getattr(m.bundle, "labels", ()) or ())
    return labels.index("correct") if "correct" in labels else -1


def feature_key(spec: FeatureSpec) -> FeatureSpec:
    """The part of a spec that decides per-frame features: models that differ only in how
    they window share one feature computation."""
    return replace(spec, window=FeatureSpec.window, window_mode=FeatureSpec.window_mode,
                   sample_rate=FeatureSpec.sample_rate, stride=FeatureSpec.stride)


@dataclass
class PoseFrame:
    """One frame of the pose history: the landmarks (None: nobody) and, per feature key, the
    frame's features and whether they are valid."""

    t: float
    landmarks: np.ndarray | None
    image_size: tuple[int, int] | None
    features: dict[FeatureSpec, tuple[np.ndarray, bool]] = field(default_factory=dict)


class FeaturePipe:
    """Missing-landmark filling and per-frame features for one feature key (causal: frames in
    time order)."""

    def __init__(self, key: FeatureSpec):
        self.key = key
        self.filler = MissingFiller(key)

    def step(self, frame: PoseFrame) -> tuple[np.ndarray, bool]:
        filled, valid = self.filler.step(frame.t, frame.landmarks)
        feat = frame_features(filled[None], self.key, frame.image_size)[0]
        return feat, valid and bool(np.isfinite(feat).all())


class ModelBank:
    """The models of a :class:`ModelSet`, the pose history they read (``history_s`` long) and a
    feature pipe per feature key in use (:meth:`use`)."""

    def __init__(self, models: ModelSet, history_s: float):
        self.models = models
        self.history_s = history_s
        self.history: deque[PoseFrame] = deque()
        self._pipes: dict[FeatureSpec, FeaturePipe] = {}
        self._failed: set[str] = set()

    def use(self, models: Iterable[Predictor]) -> None:
        """Compute features for these models from now on. A pipe still in use keeps its state;
        a new one starts afresh."""
        keys = {feature_key(m.spec) for m in models}
        self._pipes = {k: self._pipes.get(k) or FeaturePipe(k) for k in keys}

    def add(self, t: float, landmarks: np.ndarray | None, image_size: tuple[int, int] | None) -> PoseFrame:
        """Append a frame to the history, with its features for every key in use."""
        frame = PoseFrame(t, landmarks, image_size)
        for key, pipe in self._pipes.items():
            frame.features[key] = pipe.step(frame)
        self.history.append(frame)
        while self.history[0].t < t - self.history_s:
            self.history.popleft()
        return frame

    def features(self, frame: PoseFrame, key: FeatureSpec) -> tuple[np.ndarray, bool]:
        """A frame's features for ``key``; a pipe started after the frame was added computes
        them now (a replay of the history runs in time order)."""
        got = frame.features.get(key)
        if got is None:
            got = frame.features[key] = self._pipes[key].step(frame)
        return got

    def frames_since(self, t0: float) -> list[PoseFrame]:
        return [f for f in self.history if f.t >= t0]

    def rep_window(self, spec: FeatureSpec, start: float, end: float, min_coverage: float,
                   since: float = -np.inf) -> np.ndarray | None:
        """The rep ``[start, end]`` resampled to ``spec``'s window, from frames at or after
        ``since``; None when too few of its samples are valid."""
        key = feature_key(spec)
        rows = [(f.t, *f.features[key]) for f in self.history if f.t >= since and key in f.features]
        if not rows:
            return None
        t = np.array([r[0] for r in rows])
        feats = np.stack([r[1] for r in rows])
        valid = np.array([r[2] for r in rows])
        return rep_window(t, feats, valid, start, end, spec, min_coverage)

    def predict(self, m: Predictor, windows: np.ndarray) -> np.ndarray | None:
        """``(N, K)`` probabilities, or None when the model fails (logged once per model): a
        model fault must not stop judging."""
        try:
            out = np.asarray(m.predict(np.asarray(windows, dtype=np.float32)), dtype=np.float64)
            if out.ndim != 2 or out.shape[0] != len(windows) or not np.isfinite(out).all():
                raise ValueError(f"predict returned {out.shape} / non-finite values for {len(windows)} windows")
            return out
        except Exception as e:
            name = getattr(m.bundle, "name", getattr(m.bundle, "task", "model"))
            if name not in self._failed:
                self._failed.add(name)
                log.warning("model %s failed (%s: %s); its verdicts are skipped", name, type(e).__name__, e)
            return None


class SlidingModel:
    """A sliding-window model over the frames pushed to it: its new windows' probabilities,
    and those of the last ``keep_s`` seconds for a rep's verdict."""

    def __init__(self, model: Predictor, keep_s: float = 0.0):
        self.model = model
        self.keep_s = keep_s
        self._key = feature_key(model.spec)
        self._windower = StreamWindower(model.spec)
        self.scores: deque[tuple[float, np.ndarray]] = deque()

    def push(self, bank: ModelBank, frame: PoseFrame) -> list[tuple[float, np.ndarray]]:
        wins = self._windower.push(frame.t, *bank.features(frame, self._key))
        if not wins:
            return []
        probs = bank.predict(self.model, np.stack([w for _, w in wins]))
        if probs is None:
            return []
        new = list(zip([e for e, _ in wins], probs, strict=True))
        if self.keep_s:
            self.scores.extend(new)
            while self.scores and self.scores[0][0] < frame.t - self.keep_s:
                self.scores.popleft()
        return new

    def mean_over(self, start: float, end: float) -> np.ndarray | None:
        """Mean probabilities of the windows ending inside ``[start, end]``, from half a window
        after ``start`` (all of them for a rep shorter than that); None without any."""
        spec = self.model.spec
        half = (spec.window - 1) / spec.sample_rate / 2
        inside = [p for e, p in self.scores if start + half <= e <= end]
        if not inside:
            inside = [p for e, p in self.scores if start <= e <= end]
        if not inside:
            return None
        return np.mean(np.stack(inside), axis=0)
