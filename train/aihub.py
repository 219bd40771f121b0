"""AI-Hub fitness posture JSON ("피트니스 자세 이미지", dataset 231) → landmark sequences.

One label file is one clip: 16 frames (odd frame numbers 1, 3, ..., 31 of a 30 fps
recording), each seen by five cameras ``view1``..``view5``. Every view becomes its own
:class:`~formcheck.device.sequences.LandmarkSequence`, named by the camera letter that AI-Hub
uses in ``img_key`` paths:

======  ======  ===============
key     view    camera
======  ======  ===============
view1   ``A``   left 135°
view2   ``B``   left 45°
view3   ``C``   front
view4   ``D``   right 45°
view5   ``E``   right 135°
======  ======  ===============

Two modes:

**labels** (:func:`labels_sequences`, origin ``aihub-labels``): the 24 hand-labelled
keypoints are placed on the BlazePose 33-landmark layout, pixel coordinates divided by the
1920x1080 image size, visibility 1.0, z 0.0 (the labels are 2D; depth is unknown, so use
``coords="xy"`` features with this data). Keypoints are looked up by name (their order
varies between files). The mapping is :data:`KEYPOINT_TO_BLAZEPOSE`; AI-Hub's ``Palm`` goes
to BlazePose's ``index`` (the nearest hand point) and ``Foot`` to ``foot_index``. ``Neck``,
``Back`` and ``Waist`` have no BlazePose counterpart and are dropped. BlazePose points with
no AI-Hub counterpart (inner/outer eyes, mouth, pinky, thumb) are NaN. AI-Hub has no heel,
but the paper's 17 landmarks include both heels (29, 30): each heel is *derived* behind its
ankle along the foot line, ``heel = ankle + HEEL_FACTOR * (ankle - foot)``, and the sequence
says so in ``extra["derived"] = ["left_heel", "right_heel"]``.

**images** (:func:`image_sequences`, origin ``aihub-images``): BlazePose runs on the image
files that ``img_key`` names under a user-supplied images root, each view as one video-mode
sequence (the paper's way).

In both modes: ``exercise`` is the canonical id (``exercise_id_from_korean``; an exercise
formcheck does not know keeps its trimmed Korean name), ``conditions`` are the file's
condition names in file order (trimmed) plus formcheck's ``rom`` with value ``None`` for the
nine known exercises (AI-Hub never labels range of motion), ``correct`` is True when every
AI-Hub condition is true, ``group`` is the clip (file stem) so the five views of a clip stay
on one side of a split, and ``extra["active"]`` holds AI-Hub's per-frame ``active`` flag
(coordinates are labelled even on inactive frames).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formcheck.device.exercises import EXERCISES, ROM, exercise_id_from_korean
from formcheck.device.pose.landmarks import LM, NUM_LANDMARKS, Pose, PoseEstimator, stack_poses
from formcheck.device.sequences import LandmarkSequence

log = logging.getLogger(__name__)

IMAGE_SIZE: tuple[int, int] = (1920, 1080)  # (width, height) of every AI-Hub frame
FPS = 30.0  # recording rate; the labelled frames are every other frame of it
LABEL_FPS = FPS / 2  # rate of the labelled (and imaged) frames: 1, 3, 5, ...
VIEWS: dict[str, str] = {"view1": "A", "view2": "B", "view3": "C", "view4": "D", "view5": "E"}
CAMERAS: dict[str, str] = {"A": "left 135°", "B": "left 45°", "C": "front", "D": "right 45°",
                           "E": "right 135°"}

KEYPOINT_TO_BLAZEPOSE: dict[str, int] = {
    "Nose": LM["nose"],
    "Left Eye": LM["left_eye"], "Right Eye": LM["right_eye"],
    "Left Ear": LM["left_ear"], "Right Ear": LM["right_ear"],
    "Left Shoulder": LM["left_shoulder"], "Right Shoulder": LM["right_shoulder"],
    "Left Elbow": LM["left_elbow"], "Right Elbow": LM["right_elbow"],
    "Left Wrist": LM["left_wrist"], "Right Wrist": LM["right_wrist"],
    "Left Palm": LM["left_index"], "Right Palm": LM["right_index"],
    "Left Hip": LM["left_hip"], "Right Hip": LM["right_hip"],
    "Left Knee": LM["left_knee"], "Right Knee": LM["right_knee"],
    "Left Ankle": LM["left_ankle"], "Right Ankle": LM["right_ankle"],
    "Left Foot": LM["left_foot_index"], "Right Foot": LM["right_foot_index"],
}
DROPPED_KEYPOINTS: tuple[str, ...] = ("Neck", "Back", "Waist")
# The heel sits behind the ankle, opposite the toes. On an adult foot the heel's back is
# about a quarter of the ankle-to-toe distance behind the ankle's centre (seen from the side);
# close enough for the heel's role in the ankle/foot features, and marked as derived.
HEEL_FACTOR = 0.25
DERIVED_HEELS: tuple[tuple[str, str, str], ...] = (
    ("left_heel", "left_ankle", "left_foot_index"),
    ("right_heel", "right_ankle", "right_foot_index"),
)

MAX_PIXEL = 1e6  # keypoints are pixels of a 1920x1080 image; far outside it is not a coordinate
_FRAME_NO = re.compile(r"(\d+)\.[A-Za-z]+$")


class AihubFormatError(ValueError):
    """A label file does not follow the AI-Hub schema; names the file and the field."""

    def __init__(self, path: str | os.PathLike, field: str, problem: str):
        self.path = str(path)
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: field {field!r}: {problem}")


class NotAihubFileError(AihubFormatError):
    """A JSON document with none of AI-Hub's top-level fields: not a label file at all (a
    folder's notes or its own labels beside the videos), so nothing to extract from it."""


@dataclass
class AihubClip:
    """One parsed, validated label file (pixel coordinates, not yet mapped)."""

    path: Path
    key: str  # type code, e.g. "033"
    exercise_korean: str  # trimmed
    exercise: str  # canonical id, or the trimmed Korean name when unknown
    conditions: list[str]  # AI-Hub condition names, file order, trimmed
    condition_values: list[bool]
    active: np.ndarray  # (F,) bool
    # per view letter: (F, K, 2) float pixel x, y in the order of KEYPOINT_TO_BLAZEPOSE
    pixels: dict[str, np.ndarray]
    img_keys: dict[str, list[str]]  # per view letter
    frame_numbers: dict[str, np.ndarray]  # per view letter, (F,) int

    @property
    def group(self) -> str:
        return self.path.stem

    @property
    def correct(self) -> bool:
        return all(self.condition_values)

    def timestamps(self, view: str) -> np.ndarray:
        """Seconds from the clip's first recorded frame (frame 1 is t = 0)."""
        return (self.frame_numbers[view] - 1) / FPS


def _type_name(v) -> str:
    return "null" if v is None else type(v).__name__


def load_clip(path: str | os.PathLike) -> AihubClip:
    """Read and validate one AI-Hub label file; raises :class:`AihubFormatError`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AihubFormatError(path, "<file>", f"cannot read: {e}") from e
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise AihubFormatError(path, "<file>", f"not UTF-8 text: {e}") from e
    except ValueError as e:  # JSONDecodeError, or a number past Python's int-parsing limit
        raise AihubFormatError(path, "<file>", f"invalid JSON: {e}") from e
    return parse_clip(doc, path)


def parse_clip(doc, path: str | os.PathLike = "<memory>") -> AihubClip:
    """Validate a decoded label document (see :func:`load_clip`)."""
    path = Path(path)

    def bad(field: str, problem: str):
        raise AihubFormatError(path, field, problem)

    def need(obj, key: str, kind, where: str):
        if not isinstance(obj, dict) or key not in obj:
            bad(where, "missing")
        v = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python: a number field must not accept true/false
        if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
            names = "/".join(k.__name__ for k in kinds)
            bad(where, f"expected {names}, got {_type_name(v)} {v!r:.60}")
        return v

    if not isinstance(doc, dict):
        bad("<root>", f"expected an object, got {_type_name(doc)}")
    if "type_info" not in doc and "frames" not in doc:
        raise NotAihubFileError(path, "<root>", "not an AI-Hub label file (neither type_info nor frames)")
    ti = need(doc, "type_info", dict, "type_info")
    key = need(ti, "key", (str, int), "type_info.key")
    if "type" in doc and str(doc["type"]) != str(key):
        log.warning("%s: type %r differs from type_info.key %r; using type_info.key", path,
                    doc["type"], key)
    korean = need(ti, "exercise", str, "type_info.exercise").strip()
    if not korean:
        bad("type_info.exercise", "empty exercise name")
    conds = need(ti, "conditions", list, "type_info.conditions")
    if not conds:
        bad("type_info.conditions", "empty list")
    names, values = [], []
    for i, c in enumerate(conds):
        names.append(need(c, "condition", str, f"type_info.conditions[{i}].condition").strip())
        values.append(need(c, "value", bool, f"type_info.conditions[{i}].value"))
    exercise = exercise_id_from_korean(korean)
    if exercise in EXERCISES:
        expected = [c.name for c in EXERCISES[exercise].aihub_conditions]
        if names != expected:
            log.warning("%s: conditions %s differ from %s's known list %s", path, names,
                        exercise, expected)

    frames = need(doc, "frames", list, "frames")
    if not frames:
        bad("frames", "no frames")
    kp_names = list(KEYPOINT_TO_BLAZEPOSE)
    pixels = {v: np.zeros((len(frames), len(kp_names), 2)) for v in VIEWS.values()}
    img_keys: dict[str, list[str]] = {v: [] for v in VIEWS.values()}
    numbers = {v: np.zeros(len(frames), dtype=np.int64) for v in VIEWS.values()}
    active = np.zeros(len(frames), dtype=bool)
    for fi, frame in enumerate(frames):
        if not isinstance(frame, dict):
            bad(f"frames[{fi}]", f"expected an object, got {_type_name(frame)}")
        for vkey, letter in VIEWS.items():
            where = f"frames[{fi}].{vkey}"
            view = need(frame, vkey, dict, where)
            pts = need(view, "pts", dict, f"{where}.pts")
            for ki, name in enumerate(kp_names):
                pt = need(pts, name, dict, f"{where}.pts.{name}")
                for ci, axis in enumerate("xy"):
                    v = need(pt, axis, (int, float), f"{where}.pts.{name}.{axis}")
                    if not abs(v) < MAX_PIXEL:  # also NaN, and integers beyond any float
                        bad(f"{where}.pts.{name}.{axis}", f"pixel coordinate {v!r:.40} out of range")
                    pixels[letter][fi, ki, ci] = v
            act = need(view, "active", (str, bool), f"{where}.active")
            if isinstance(act, str):
                if act.strip().lower() not in ("yes", "no"):
                    bad(f"{where}.active", f"expected 'Yes' or 'No', got {act!r}")
                act = act.strip().lower() == "yes"
            active[fi] = active[fi] or act  # the same for all views of a frame in real files
            ik = need(view, "img_key", str, f"{where}.img_key")
            m = _FRAME_NO.search(ik)
            if not m:
                bad(f"{where}.img_key", f"no frame number before the extension in {ik!r}")
            img_keys[letter].append(ik)
            if len(m.group(1)) > 9:
                bad(f"{where}.img_key", f"frame number {m.group(1)[:20]}… out of range")
            numbers[letter][fi] = int(m.group(1))
    for letter, n in numbers.items():
        if len(n) > 1 and not (np.diff(n) > 0).all():
            vkey = next(k for k, v in VIEWS.items() if v == letter)
            i = int(np.argmin(np.diff(n) > 0)) + 1
            bad(f"frames[{i}].{vkey}.img_key", f"frame number {n[i]} does not follow {n[i - 1]}")
    if not np.isfinite(np.stack(list(pixels.values()))).all():
        bad("frames", "non-finite keypoint coordinate")
    return AihubClip(path=path, key=str(key), exercise_korean=korean, exercise=exercise,
                     conditions=names, condition_values=values, active=active, pixels=pixels,
                     img_keys=img_keys, frame_numbers=numbers)


def _labels(clip: AihubClip) -> tuple[list[str], list[bool | None]]:
    names, values = list(clip.conditions), list(clip.condition_values)
    if clip.exercise in EXERCISES:
        names.append(ROM)
        values.append(None)  # AI-Hub never judges range of motion: unknown, not true
    return names, values


def _base_fields(clip: AihubClip, letter: str, origin: str) -> dict:
    names, values = _labels(clip)
    vkey = next(k for k, v in VIEWS.items() if v == letter)
    return dict(
        id=f"{clip.group}/{letter}", exercise=clip.exercise, conditions=names,
        condition_values=values, correct=clip.correct, label="correct" if clip.correct else "incorrect",
        source=str(clip.path), origin=origin, view=letter, group=clip.group, fps=LABEL_FPS,
        extra={"aihub_key": clip.key, "aihub_exercise": clip.exercise_korean, "view_key": vkey,
               "camera": CAMERAS[letter], "active": clip.active.tolist(),
               "frame_numbers": clip.frame_numbers[letter].tolist()},
    )


def map_keypoints(pixels: np.ndarray, image_size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """``(F, K, 2)`` AI-Hub pixels (in :data:`KEYPOINT_TO_BLAZEPOSE` order) → ``(F, 33, 4)``
    BlazePose layout, heels derived, unmapped points NaN."""
    f = len(pixels)
    lm = np.full((f, NUM_LANDMARKS, 4), np.nan, dtype=np.float32)
    idx = np.array(list(KEYPOINT_TO_BLAZEPOSE.values()))
    w, h = image_size
    lm[:, idx, 0] = pixels[:, :, 0] / w
    lm[:, idx, 1] = pixels[:, :, 1] / h
    lm[:, idx, 2] = 0.0
    lm[:, idx, 3] = 1.0
    for heel, ankle, foot in DERIVED_HEELS:
        a, t = lm[:, LM[ankle], :2], lm[:, LM[foot], :2]
        lm[:, LM[heel], :2] = a + HEEL_FACTOR * (a - t)
        lm[:, LM[heel], 2] = 0.0
        lm[:, LM[heel], 3] = 1.0
    return lm


def labels_sequences(clip: AihubClip) -> list[LandmarkSequence]:
    """The five views of a clip from its labelled keypoints (no images needed)."""
    out = []
    for letter in VIEWS.values():
        fields = _base_fields(clip, letter, "aihub-labels")
        fields["extra"]["derived"] = [h for h, _, _ in DERIVED_HEELS]
        out.append(LandmarkSequence(t=clip.timestamps(letter), landmarks=map_keypoints(clip.pixels[letter]),
                                    image_size=IMAGE_SIZE, **fields))
    return out


def find_image(images_root: Path, img_key: str) -> Path | None:
    """The image ``img_key`` names under ``images_root``: the full relative path first, then
    shorter suffixes of it (users unpack the image archives at different depths)."""
    parts = Path(img_key).parts
    for i in range(len(parts)):
        p = images_root.joinpath(*parts[i:])
        if p.is_file():
            return p
    return None


def read_image_rgb(path: Path) -> np.ndarray | None:
    import cv2

    # imdecode(fromfile) rather than imread: Korean path names work on every platform
    buf = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def image_sequences(clip: AihubClip, images_root: str | os.PathLike,
                    estimator: PoseEstimator) -> list[LandmarkSequence]:
    """The five views of a clip through BlazePose on its images (video mode per view).

    A missing or unreadable image gives a NaN frame (counted in ``extra["missing_images"]``);
    a view with none of its images present raises :class:`FileNotFoundError`.
    """
    root = Path(images_root)
    out = []
    for letter in VIEWS.values():
        fields = _base_fields(clip, letter, "aihub-images")
        t = clip.timestamps(letter)
        estimator.reset()  # unrelated to the previous view: no tracking across it
        poses, missing, size = [], [], (0, 0)
        for ti, key in zip(t, clip.img_keys[letter], strict=True):
            p = find_image(root, key)
            img = read_image_rgb(p) if p is not None else None
            if img is None:
                missing.append(key)
                poses.append(Pose.none(float(ti)))
                continue
            size = (img.shape[1], img.shape[0])
            poses.append(estimator.estimate(img, float(ti)))
        if len(missing) == len(poses):
            raise FileNotFoundError(f"{clip.path}: view {letter}: none of its {len(poses)} images "
                                    f"found under {root} (first: {missing[0]})")
        if missing:
            log.warning("%s view %s: %d of %d images missing or unreadable (first: %s)",
                        clip.path, letter, len(missing), len(poses), missing[0])
        ts, lm = stack_poses(poses)
        fields["extra"]["missing_images"] = len(missing)
        fields["extra"]["images_root"] = str(root)
        out.append(LandmarkSequence(t=ts, landmarks=lm, image_size=size, **fields))
    return out


def load_sequences(path: str | os.PathLike, images_root: str | os.PathLike | None = None,
                   estimator: PoseEstimator | None = None) -> list[LandmarkSequence]:
    """One label file → its five view sequences (labels mode, or images mode when
    ``images_root`` is given, which needs ``estimator``)."""
    clip = load_clip(path)
    if images_root is None:
        return labels_sequences(clip)
    if estimator is None:
        raise ValueError("images mode needs a pose estimator")
    return image_sequences(clip, images_root, estimator)
