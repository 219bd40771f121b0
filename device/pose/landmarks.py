"""The pose boundary: the BlazePose 33-landmark record and the estimator interface.

Every backend (``mediapipe``, ``litert``) returns the same :class:`Pose`, so that
features, windows and judging never know which one ran. Backends register themselves in
:data:`BACKENDS` and are created by name with :func:`create_estimator`; the heavy imports
(mediapipe, LiteRT) happen only when a backend is created.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import PoseError

# BlazePose GHUM 33-landmark topology (MediaPipe's order).
LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
NUM_LANDMARKS = 33
LM = {name: i for i, name in enumerate(LANDMARK_NAMES)}

# The paper's 17 landmarks: nose, shoulders/elbows/wrists, hips/knees/ankles/heels/feet.
PAPER_LANDMARKS: tuple[int, ...] = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32)

# Left/right mirror of the 33 indices (for flipping augmentations and mirrored views).
MIRROR: tuple[int, ...] = (0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19,
                           22, 21, 24, 23, 26, 25, 28, 27, 30, 29, 32, 31)

# Skeleton edges for drawing.
EDGES: tuple[tuple[int, int], ...] = (
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24),
    (23, 25), (25, 27), (27, 29), (29, 31), (27, 31), (24, 26), (26, 28), (28, 30), (30, 32),
    (28, 32), (0, 11), (0, 12),
)


@dataclass
class Pose:
    """One frame's pose, validated where it is made: later stages trust it.

    ``landmarks`` is ``(33, 4)`` float32: x, y in normalised image coordinates (0..1, may fall
    outside when a joint is out of frame), z in the same scale as x (BlazePose's relative
    depth, hips at 0), and visibility in 0..1; ``None`` when no person was found. On
    construction a wrong shape becomes "no person", a joint with non-finite x/y becomes missing
    (NaN, visibility 0), a non-finite depth or visibility 0, and a pose without any finite
    joint no person.
    ``world`` is the model's 3D world landmarks ``(33, 4)`` float32 (x, y, z in metres, origin
    between the hips, image axes; visibility) when the backend gives them, else ``None``.
    """

    t: float
    landmarks: np.ndarray | None
    image_size: tuple[int, int] = (0, 0)  # (width, height) in pixels; (0, 0): unknown
    score: float = 0.0  # the backend's presence score for the person, 0 when none
    extra: dict = field(default_factory=dict)
    world: np.ndarray | None = None

    def __post_init__(self):
        try:
            self.t = float(self.t)
        except (TypeError, ValueError, OverflowError):
            self.t = math.nan  # a frame without a usable time is never judged
        self.landmarks = clean_landmarks(self.landmarks)
        self.image_size = _clean_size(self.image_size)
        try:
            score = float(self.score)
        except (TypeError, ValueError, OverflowError):
            score = 0.0
        self.score = score if math.isfinite(score) else 0.0

    @property
    def person(self) -> bool:
        return self.landmarks is not None

    @classmethod
    def none(cls, t: float, image_size: tuple[int, int] = (0, 0)) -> Pose:
        return cls(t=t, landmarks=None, image_size=image_size, score=0.0)


def clean_landmarks(lm) -> np.ndarray | None:
    """Landmarks a backend produced, made safe to judge (see :class:`Pose`); a clean float32
    array is returned as it is."""
    if lm is None:
        return None
    try:
        a = np.asarray(lm, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        return None
    if a.shape != (NUM_LANDMARKS, 4):
        return None
    finite = np.isfinite(a[:, :2]).all(axis=1)
    if finite.all() and np.isfinite(a[:, 2:]).all():
        return a
    if not finite.any():
        return None
    a = a.copy()
    # A bad depth or visibility alone does not lose a joint; bad x/y does.
    a[:, 2] = np.where(np.isfinite(a[:, 2]), a[:, 2], 0.0)
    a[:, 3] = np.where(np.isfinite(a[:, 3]), a[:, 3], 0.0)
    a[~finite, :3] = np.nan
    a[~finite, 3] = 0.0
    return a


def _clean_size(size) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError, OverflowError):
        return (0, 0)
    return (w, h) if w > 0 and h > 0 else (0, 0)


@runtime_checkable
class PoseEstimator(Protocol):
    """Turns an RGB ``uint8`` ``(H, W, 3)`` frame into a :class:`Pose`.

    Estimators may keep state between calls (tracking); :meth:`reset` forgets it (call it
    between unrelated clips). ``close`` releases native resources.
    """

    name: str

    def estimate(self, frame_rgb: np.ndarray, t: float) -> Pose: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


# backend name -> "module:factory"; factories take keyword options.
BACKENDS: dict[str, str] = {
    "mediapipe": "formcheck.device.pose.mediapipe_backend:MediapipePose",
    "litert": "formcheck.device.pose.litert_backend:LitertPose",
}


def create_estimator(backend: str = "litert", **options) -> PoseEstimator:
    """Create a pose estimator by backend name, passing ``options`` to its constructor."""
    try:
        target = BACKENDS[backend]
    except KeyError:
        raise PoseError(
            f"unknown pose backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        ) from None
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**options)


def pipeline_depth(estimator: PoseEstimator) -> int:
    """Frames ``estimator`` keeps in flight: its ``pipeline`` when it has ``submit`` /
    ``collect`` (the litert backend with ``pipeline = 2``), else 1 (one frame at a time)."""
    if not hasattr(estimator, "submit"):
        return 1
    return int(getattr(estimator, "pipeline", 1) or 1)


class PoseFeeder:
    """Frames pushed into one estimator, poses out in order. An estimator with a pipeline
    (:func:`pipeline_depth` > 1) keeps that many frames in flight; any other goes one frame at
    a time. Several feeders step several estimators through the same frames (benchmarks)."""

    def __init__(self, estimator: PoseEstimator):
        self.estimator = estimator
        self.depth = pipeline_depth(estimator)

    def feed(self, frame: np.ndarray, t: float) -> list[Pose]:
        """Push a frame; the poses now done (none while the pipeline fills)."""
        est = self.estimator
        if self.depth <= 1:
            return [est.estimate(frame, t)]
        done = [est.collect()] if est.in_flight >= self.depth else []
        est.submit(frame, t)
        return done

    def drain(self) -> list[Pose]:
        """The poses of every frame still in flight."""
        done = []
        while self.depth > 1 and self.estimator.in_flight:
            done.append(self.estimator.collect())
        return done


def estimate_all(estimator: PoseEstimator, frames: Iterable[tuple[np.ndarray, float]]) -> Iterator[Pose]:
    """The pose of every ``(frame, t)``, in order (through a :class:`PoseFeeder`). A consumer
    that stops early leaves nothing in flight."""
    feeder = PoseFeeder(estimator)
    try:
        for frame, t in frames:
            yield from feeder.feed(frame, t)
        yield from feeder.drain()
    finally:
        feeder.drain()


def stack_poses(poses: list[Pose]) -> tuple[np.ndarray, np.ndarray]:
    """Stack poses into ``(t (T,), landmarks (T, 33, 4))``; frames without a person are NaN."""
    t = np.array([p.t for p in poses], dtype=np.float64)
    lm = np.full((len(poses), NUM_LANDMARKS, 4), np.nan, dtype=np.float32)
    for i, p in enumerate(poses):
        if p.landmarks is not None:
            lm[i] = p.landmarks
    return t, lm
