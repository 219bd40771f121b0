"""Video files and image folders → landmark sequences through BlazePose.

Layouts (``ROOT`` is the folder given to ``formcheck-extract``):

- ``ROOT/<exercise>/<label>/*.mp4`` — one sequence per video (origin ``video``);
- ``ROOT/<exercise>/<label>/<clip>/*.jpg|png`` — one sequence per folder of frames, in
  natural file-name order, at ``image_fps`` (origin ``images``);
- a flat folder of videos (``ROOT/*.mp4``): the exercise comes from the file name when it
  starts with an exercise id (``squat_front.mp4`` → ``squat``), else it is ``""``.

``<exercise>`` is a canonical id or an AI-Hub Korean name (mapped onto the id). ``<label>`` is
``correct`` (every condition true), ``incorrect`` (some fault, which one unknown), or a
condition's name or key (``knees_in_line``, ``발과 무릎의 방향 일치``: that condition false,
the others unknown). Other labels are kept verbatim in ``label`` with nothing inferred.

Frames are decoded with OpenCV and run through the pose estimator in video mode (tracking
between consecutive frames); timestamps are ``frame index / fps``. A video that cannot be
opened, decodes no frame, or decodes clearly fewer frames than its header promises
(truncated) raises :class:`VideoDecodeError`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formcheck.device.exercises import EXERCISE_IDS, EXERCISES, exercise_id_from_korean
from formcheck.device.pose.landmarks import Pose, PoseEstimator, stack_poses
from formcheck.device.sequences import LandmarkSequence

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
DEFAULT_FPS = 30.0  # when a video's header has no usable rate


class VideoDecodeError(RuntimeError):
    """A video cannot be opened, is empty or is truncated."""


@dataclass(frozen=True)
class ClipLabels:
    exercise: str
    label: str
    conditions: list[str]
    condition_values: list[bool | None]
    correct: bool | None


def infer_exercise(name: str) -> str:
    """The exercise id a file name starts with (``squat_front.mp4`` → ``squat``), else ``""``.

    The id must be followed by a separator or the end of the stem, and the longest id wins,
    so ``side_lunge_2.mp4`` is ``side_lunge``, not anything shorter."""
    stem = Path(name).stem.lower()
    for ex in sorted(EXERCISE_IDS, key=len, reverse=True):
        if stem == ex or (stem.startswith(ex) and stem[len(ex)] in "_-. "):
            return ex
    return ""


def clip_labels(exercise: str, label: str) -> ClipLabels:
    """Conditions and the correct flag a folder label implies (see the module docstring)."""
    exercise = exercise_id_from_korean(exercise) if exercise else ""
    lab = label.strip()
    low = lab.lower()
    ex = EXERCISES.get(exercise)
    names = list(ex.condition_names) if ex else []
    if low == "correct":
        return ClipLabels(exercise, lab, names, [True] * len(names), True)
    if low == "incorrect":
        return ClipLabels(exercise, lab, names, [None] * len(names), False)
    if ex:
        for i, c in enumerate(ex.conditions):
            if lab == c.name or low == c.key:
                values: list[bool | None] = [None] * len(names)
                values[i] = False
                return ClipLabels(exercise, lab, names, values, False)
    if lab:
        log.debug("label %r of exercise %r is neither correct/incorrect nor a condition", lab, exercise)
    return ClipLabels(exercise, lab, names, [None] * len(names), None)


def labels_from_path(rel: str | os.PathLike, is_dir_clip: bool = False) -> ClipLabels:
    """Exercise and label from a clip's path relative to its input root.

    ``<exercise>/<label>/<clip>`` gives both; ``<exercise>/<clip>`` (a known exercise) the
    exercise; ``correct|incorrect/<clip>`` the label; otherwise the exercise is the one the
    clip's name starts with, if any."""
    parts = Path(rel).parts
    dirs = parts[:-1]
    if len(dirs) >= 2:
        return clip_labels(dirs[-2], dirs[-1])
    from_name = infer_exercise(parts[-1] if parts else "")
    if len(dirs) == 1:
        # One folder level: an exercise folder, a label folder, or just a folder of clips.
        if exercise_id_from_korean(dirs[0]) in EXERCISES:
            return clip_labels(dirs[0], "")
        if dirs[0].lower() in ("correct", "incorrect"):
            return clip_labels(from_name, dirs[0])
    return clip_labels(from_name, "")


def _natural_key(p: Path):
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", p.name)]


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The frames of an image-folder clip, in natural name order (frame_2 before frame_10)."""
    return sorted((p for p in Path(folder).iterdir()
                   if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith(".")),
                  key=_natural_key)


def _sequence(poses, **fields) -> LandmarkSequence:
    t, lm = stack_poses(poses)
    return LandmarkSequence(t=t, landmarks=lm, **fields)


def video_sequence(path: str | os.PathLike, estimator: PoseEstimator, *, labels: ClipLabels,
                   group: str, max_frames: int | None = None) -> LandmarkSequence:
    """Run ``estimator`` over every frame of a video (or its first ``max_frames``)."""
    import cv2

    path = Path(path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoDecodeError(f"{path}: cannot open (not a video, unsupported codec, or cut "
                                   "before its header)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        header_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        extra: dict = {}
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            log.warning("%s: no usable frame rate in the header (%r); assuming %g fps", path, fps, DEFAULT_FPS)
            extra["fps_assumed"] = True
            fps = DEFAULT_FPS
        estimator.reset()
        poses, size = [], (0, 0)
        while max_frames is None or len(poses) < max_frames:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            size = (bgr.shape[1], bgr.shape[0])
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            poses.append(estimator.estimate(rgb, len(poses) / fps))
    finally:
        cap.release()
    n = len(poses)
    if n == 0:
        raise VideoDecodeError(f"{path}: no frame could be decoded (empty or damaged video)")
    # Headers may be off by a frame or two; a real cut loses far more.
    expected = header_frames if max_frames is None else min(header_frames, max_frames)
    if header_frames > 0 and n < expected - max(2, 0.01 * expected):
        raise VideoDecodeError(f"{path}: truncated or damaged: decoded {n} of the {header_frames} "
                               "frames its header lists")
    if max_frames is not None and n >= max_frames:
        extra["max_frames"] = max_frames
    extra["header_frames"] = header_frames
    return _sequence(poses, id=group, exercise=labels.exercise, conditions=labels.conditions,
                     condition_values=labels.condition_values, correct=labels.correct,
                     label=labels.label, source=str(path), origin="video", group=group,
                     image_size=size, fps=fps, extra=extra)


def image_folder_sequence(folder: str | os.PathLike, estimator: PoseEstimator, *, labels: ClipLabels,
                          group: str, fps: float = DEFAULT_FPS,
                          max_frames: int | None = None) -> LandmarkSequence:
    """Run ``estimator`` over a folder of frames (one clip, video mode)."""
    from .aihub import read_image_rgb

    folder = Path(folder)
    files = image_files(folder)[:max_frames]
    if not files:
        raise VideoDecodeError(f"{folder}: no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    estimator.reset()
    poses, size, bad = [], (0, 0), []
    for i, f in enumerate(files):
        img = read_image_rgb(f)
        if img is None:
            bad.append(f.name)
            poses.append(Pose.none(i / fps))
            continue
        if size != (0, 0) and size != (img.shape[1], img.shape[0]):
            log.warning("%s: %s is %dx%d, the clip's first frame %dx%d", folder, f.name,
                        img.shape[1], img.shape[0], *size)
        size = size if size != (0, 0) else (img.shape[1], img.shape[0])
        poses.append(estimator.estimate(img, i / fps))
    if len(bad) == len(files):
        raise VideoDecodeError(f"{folder}: none of its {len(files)} images could be decoded")
    if bad:
        log.warning("%s: %d unreadable images (first: %s)", folder, len(bad), bad[0])
    return _sequence(poses, id=group, exercise=labels.exercise, conditions=labels.conditions,
                     condition_values=labels.condition_values, correct=labels.correct,
                     label=labels.label, source=str(folder), origin="images", group=group,
                     image_size=size, fps=fps,
                     extra={"unreadable_images": len(bad), "frame_files": [f.name for f in files]})
